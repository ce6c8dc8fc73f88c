"""Records kept on disk as they are read, so that a build's memory does not grow with its record count.

A reader yields ``Record``s one by one; ``RecordSpool`` writes each (pickled) to one file and keeps
only its offset (8 bytes) and its split's index. It is a read-only sequence: ``len``, iteration in
record order, ``spool[i]``, and ``split_range(split, start, stop)`` for the shards ``datasets``
hands to each writer process (a forked worker reopens the file by its path). The file is removed when
the spool that made it is collected or the process exits; files of dead processes (spools, and
the copies of downloaded metadata that ``Source.open_file`` keeps here) are removed by the next
spool made in the same folder.
"""
from __future__ import annotations

import os
import pickle
import re
import uuid
import weakref
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path

from .diskcache import pid_alive
from .records import Record

_NAME = re.compile(r"^(?:records|metadata)-(\d+)-[0-9a-z_]+\.(?:spool|tmp)$")  # spools, downloaded metadata


def _remove_orphans(folder: Path) -> None:
    for p in folder.glob("*-*-*"):
        m = _NAME.match(p.name)
        if m and not pid_alive(int(m[1])):
            p.unlink(missing_ok=True)


class RecordSpool(Sequence[Record]):
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_orphans(folder)
        self.path = folder / f"records-{os.getpid()}-{uuid.uuid4().hex[:12]}.spool"
        self._out = open(self.path, "wb")  # noqa: SIM115 - closed by close(); kept open while records arrive
        self._offsets = array("q")  # start of record i in the file
        self._splits: dict[str, array] = {}  # split -> positions of its records, in record order
        self._reader = None
        self._finalizer = weakref.finalize(self, _cleanup, str(self.path), os.getpid())

    # -- writing --------------------------------------------------------------------------------
    def append(self, rec: Record) -> None:
        data = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
        self._offsets.append(self._out.tell())
        self._out.write(len(data).to_bytes(4, "little"))
        self._out.write(data)
        self._splits.setdefault(rec.split, array("q")).append(len(self._offsets) - 1)

    def close(self) -> RecordSpool:
        """No more records: the spool becomes readable."""
        if self._out is not None:
            self._out.close()
            self._out = None
        return self

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._offsets)

    def _read_at(self, offset: int) -> Record:
        if self._reader is None:
            self._reader = open(self.path, "rb")  # noqa: SIM115 - one handle per process, reused
        f = self._reader
        f.seek(offset)
        n = int.from_bytes(f.read(4), "little")
        return pickle.loads(f.read(n))

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._read_at(self._offsets[i])

    def __iter__(self) -> Iterator[Record]:
        if not len(self):
            return
        with open(self.path, "rb", buffering=1 << 20) as f:
            for _ in range(len(self)):
                n = int.from_bytes(f.read(4), "little")
                yield pickle.loads(f.read(n))

    def splits(self) -> dict[str, int]:
        """Records per split, in the order splits first appear."""
        return {s: len(v) for s, v in self._splits.items()}

    def split_range(self, split: str, start: int, stop: int) -> Iterator[Record]:
        """Records ``start:stop`` of ``split`` (as numbered within the split)."""
        for pos in self._splits.get(split, array("q"))[start:stop]:
            yield self._read_at(self._offsets[pos])

    # -- pickling (datasets hands the builder to its writer processes) ----------------------------
    def __getstate__(self) -> dict:
        if self._out is not None:
            self._out.flush()
        return {"path": self.path, "offsets": self._offsets, "splits": self._splits}

    def __setstate__(self, state: dict) -> None:
        self.path, self._offsets, self._splits = state["path"], state["offsets"], state["splits"]
        self._out, self._reader = None, None
        self._finalizer = None  # a copy never removes the file: its maker does


def _cleanup(path: str, owner: int) -> None:
    if os.getpid() == owner:
        try:
            os.unlink(path)
        except OSError:
            pass
