"""Per-record outcomes on disk: what makes builds resumable and failures reportable.

Every record of a build ends here as written (its geometry, provenance and image-valued columns)
or as a ``Failure``. Outcomes are keyed by ``Record.key()`` (id, where the bytes come from, the
expected checksum, the given geometry) under a folder named by the config's pixel fingerprint,
so a re-run reuses finished rows, retries failures, and never serves one source's pixels for
another source's record with the same id. Works across ``num_proc`` processes.

A finished build's rows hold its images: once a build is finished, the store drops its own copies
of them and keeps the outcome alone, naming the build in ``builds.tsv`` (``build.hand_over``); a
re-run reads a finished record's images back from the row that holds them (``build.HeldImages``,
``artface.row_keys``). So an aligned image is on disk once, in the build, and a store only holds
the images of a build in progress.

A record's start is one line appended to its process's journal (``attempts/<pid>-*.log``), not a
file per record: files are what cost here (~0.1 ms each to create on ext4). A journal left by a
dead process names the records it never finished; the next process to start work counts those as
crashes (``begin``), so that a record that kills every process working on it ends as a failure.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .diskcache import DiskCache, atomic_write, pid_alive, remove_files, sha256_hex
from .failures import Failure, redo
from .records import Record


@dataclass
class Outcome:
    """What the pipeline made of one record (the row adds the record's own columns)."""

    geometry: dict
    blobs: dict[str, bytes] = field(default_factory=dict)  # image-valued columns: image, mask, sketch, ...
    points_source: str | None = None  # "upstream", or the detector that found the face
    detector_sha256: str | None = None
    reread: tuple[str, ...] = ()  # blobs not stored: read again from the record's file or the fetch cache
    missing: tuple[str, ...] = ()  # blobs the store no longer has (handed over to a finished build): read back there


class WorkStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.cache = DiskCache(root)
        self.root = self.cache.root
        self._journal: tuple[int, int] | None = None  # (pid, fd) of this process's journal
        self._crashes: dict[str, int] = {}  # record key digest -> starts that never ended
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_journal": None, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def load(self, rec: Record) -> Outcome | None:
        key = rec.key()
        m = self._json(key, ".ok.json")
        if m is None:
            return None
        blobs, missing = {}, []
        for name in m["blobs"]:
            data = self.cache.get(key, f".{name}.bin")
            if data is None:
                missing.append(name)  # handed over to a finished build (or removed): the caller reads it back
            else:
                blobs[name] = data
        return Outcome(m["geometry"], blobs, m.get("points_source"), m.get("detector_sha256"), tuple(m.get("reread", ())),
                       tuple(missing))

    def save(self, rec: Record, out: Outcome) -> None:
        key = rec.key()
        stored = {k: v for k, v in out.blobs.items() if k not in out.reread}
        for name, data in stored.items():
            self.cache.put(key, data, f".{name}.bin")
        meta = {"id": rec.id, "geometry": out.geometry, "blobs": sorted(stored), "points_source": out.points_source,
                "detector_sha256": out.detector_sha256, "reread": list(out.reread)}
        self.cache.put_checked(key, json.dumps(meta, ensure_ascii=False).encode(), ".ok.json")
        # no stored failure to remove: a failed record is worked on again only after forget_attempts

    # -- images held by finished builds (build.hand_over, build.HeldImages) ----------------------
    def add_holder(self, folder: Path) -> None:
        """Name ``folder`` (a finished build) first among the builds whose rows hold this store's images;
        folders that are gone are dropped from the list."""
        folder = str(Path(folder).absolute())
        with self._locked(self.root) as root:
            others = [h for h in _read_lines(root / HOLDERS) if h != folder and Path(h).is_dir()]
            atomic_write(root / HOLDERS, "".join(f"{h}\n" for h in [folder, *others]).encode())

    def holders(self) -> tuple[int | None, list[str]]:
        """(a stamp that changes with the list, the folders of builds holding this store's images)."""
        path = self.root / HOLDERS
        try:
            return path.stat().st_mtime_ns, _read_lines(path)
        except FileNotFoundError:
            return None, []

    def drop_images(self, digests: Iterable[str], names: list[str]) -> int:
        """Remove the stored images ``names`` of the records with these key digests; returns the bytes freed."""
        return remove_files(self.cache.digest_path(d, f".{n}.bin") for d in digests for n in names)[0]

    def save_failure(self, rec: Record, failure: Failure) -> None:
        self.cache.put_checked(rec.key(), json.dumps(asdict(failure), ensure_ascii=False).encode(), ".fail.json")

    def _json(self, key: str, suffix: str) -> dict | None:
        """A stored outcome or failure; a torn one (the process died while writing it) reads as none."""
        data = self.cache.get(key, suffix)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def begin(self, rec: Record) -> int:
        """Note that work on ``rec`` starts (a line in this process's journal); returns how many earlier
        starts never ended (a process died while working on it: a native crash, a kill)."""
        digest = sha256_hex(rec.key())
        os.write(self._journal_fd(), f"{digest}\n".encode())  # O_APPEND: one write, whole, from any thread
        return self._crashes.get(digest, 0)

    def forget_attempts(self, rec: Record) -> None:
        """``rec`` is tried again on purpose: its stored failure no longer stands, and its crashes start
        from zero (a crash while it is retried then counts, as there is no outcome to say it ended)."""
        self.cache.delete(rec.key(), ".fail.json")
        digest = sha256_hex(rec.key())
        if self._crashes.pop(digest, None) is not None:
            with self._locked_attempts() as folder:
                counts = _read_counts(folder)
                counts.pop(digest, None)
                _write_counts(folder, counts)

    # -- the journals --------------------------------------------------------------------------------
    def _journal_fd(self) -> int:
        if self._journal is None or self._journal[0] != os.getpid():  # a forked or unpickled copy opens its own
            with self._lock:
                if self._journal is None or self._journal[0] != os.getpid():
                    self._crashes = self._count_crashes()
                    path = self.root / "attempts" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.log"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    atexit.register(_close_journal, fd, str(path), os.getpid())
                    self._journal = (os.getpid(), fd)
        return self._journal[1]

    def _locked_attempts(self):
        return self._locked(self.root / "attempts")

    @staticmethod
    def _locked(folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        return _FolderLock(folder)

    def _count_crashes(self) -> dict[str, int]:
        """Fold the journals of dead processes into ``crashes.tsv``: a record one of them started and
        that has no outcome is one crash more. Counts of records that since ended are dropped."""
        with self._locked_attempts() as folder:
            counts = _read_counts(folder)
            for log in folder.glob("*.log"):
                pid = log.name.split("-", 1)[0]
                if pid.isdigit() and pid_alive(int(pid)):
                    continue
                for digest in set(log.read_text(errors="replace").split()):
                    counts[digest] = counts.get(digest, 0) + 1
                log.unlink(missing_ok=True)
            counts = {d: n for d, n in counts.items() if not self._ended(d)}
            _write_counts(folder, counts)
            return counts

    def _ended(self, digest: str) -> bool:
        return any(self.cache.digest_path(digest, suffix).is_file() for suffix in (".ok.json", ".fail.json"))

    def failure(self, rec: Record) -> Failure | None:
        data = self._json(rec.key(), ".fail.json")
        return None if data is None else Failure(**data)

    def kept_failure(self, rec: Record, retry_failed: bool = False) -> Failure | None:
        """The stored failure of ``rec`` when the re-run policy (``failures.redo``) keeps it, else None."""
        fail = self.failure(rec)
        return fail if fail is not None and not redo(fail.reason, retry_failed) else None

    def state(self, rec: Record) -> tuple[str, dict | None]:
        """("written", provenance) | ("failed", failure dict) | ("pending", None), without reading blobs."""
        key = rec.key()
        m = self._json(key, ".ok.json")
        if m is not None:
            return "written", {"points_source": m.get("points_source"), "detector_sha256": m.get("detector_sha256")}
        fail = self._json(key, ".fail.json")
        return ("failed", fail) if fail is not None else ("pending", None)


COUNTS = "crashes.tsv"  # in attempts/: record key digest <TAB> starts that never ended
HOLDERS = "builds.tsv"  # finished builds whose rows hold this store's images, a folder a line, newest first


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


class _FolderLock:
    """An exclusive lock on a folder (flock on its ``.lock``): one process folds journals at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Path:
        self._fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self.folder

    def __exit__(self, *exc) -> None:
        os.close(self._fd)  # releases the lock


def _read_counts(folder: Path) -> dict[str, int]:
    counts = {}
    try:
        for line in (folder / COUNTS).read_text().splitlines():
            digest, _, n = line.partition("\t")
            if n.isdigit():
                counts[digest] = int(n)
    except FileNotFoundError:
        pass
    return counts


def _write_counts(folder: Path, counts: dict[str, int]) -> None:
    atomic_write(folder / COUNTS, "".join(f"{d}\t{n}\n" for d, n in counts.items()).encode())


def _close_journal(fd: int, path: str, owner: int) -> None:
    """At a clean exit (an interrupt included) this process crashed on nothing: its journal goes."""
    if os.getpid() == owner:
        try:
            os.close(fd)
            os.unlink(path)
        except OSError:
            pass
