"""The one on-disk cache helper: sha256-keyed files written atomically.

Serves the fetch cache (bodies by URL) and the work store (outcomes by record key); a reader
never sees half a file, whichever process or thread wrote it.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.
    The temporary name is unique per process and thread (one thread writes one file at a time), so
    no random name is searched for; the folder is made only when it is missing (a hot path: several
    files per record)."""
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_new(path: str | Path, data: bytes) -> None:
    """Create or truncate ``path`` and write ``data``; its folder is made only when missing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (files named after a dead process may be taken over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


MARKER = ".artface"  # in every cache folder artface makes: `artface cache clean` removes only folders that have it


def mark(folder: Path) -> None:
    """Say that artface made ``folder`` (so that cleaning may remove it)."""
    if not (folder / MARKER).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("made by artface; `artface cache clean` may remove this folder\n")


class DiskCache:
    """Files under ``root`` named by the sha256 of a key, one file per (key, suffix)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._marked = False

    def path(self, key: str, suffix: str = "") -> Path:
        return self.digest_path(sha256_hex(key), suffix)

    def digest_path(self, digest: str, suffix: str = "") -> Path:
        """The file of a key known by its sha256 (as a journal names it)."""
        return self.root / digest[:2] / f"{digest}{suffix}"

    def get(self, key: str, suffix: str = "") -> bytes | None:
        try:
            return self.path(key, suffix).read_bytes()
        except FileNotFoundError:
            return None

    def has(self, key: str, suffix: str = "") -> bool:
        return self.path(key, suffix).is_file()

    def put(self, key: str, data: bytes, suffix: str = "") -> None:
        if not self._marked:
            mark(self.root)
            self._marked = True
        atomic_write(self.path(key, suffix), data)

    def put_checked(self, key: str, data: bytes, suffix: str = "") -> None:
        """Write a file whose reader can tell a torn one (JSON: a proper prefix never parses) in place:
        one file created, where ``put`` creates two (the temporary and the rename)."""
        if not self._marked:
            mark(self.root)
            self._marked = True
        write_new(self.path(key, suffix), data)

    def delete(self, key: str, suffix: str = "") -> None:
        self.path(key, suffix).unlink(missing_ok=True)


def cache_root() -> Path:
    """artface's cache folder: ``$ARTFACE_CACHE``, default ``~/.cache/artface`` (fetch/ and work/)."""
    return Path(os.environ.get("ARTFACE_CACHE", Path.home() / ".cache" / "artface"))


def fetch_cache_dir() -> Path:
    """Where downloaded bodies are kept, by URL (every fetcher and reader of it asks here)."""
    return cache_root() / "fetch"


def remove_files(paths: Iterable[Path]) -> tuple[int, int]:
    """Remove these files (those already gone are skipped); returns (bytes, files) removed."""
    freed = files = 0
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        freed, files = freed + size, files + 1
    return freed, files


def output_root() -> Path:
    """Where finished builds go: ``$ARTFACE_OUT``, default ``./artface-out``."""
    return Path(os.environ.get("ARTFACE_OUT", "artface-out"))
