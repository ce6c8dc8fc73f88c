"""Which record each row of a build was made from, so that the build's rows hold its images once.

A build that fetches keeps ``row_keys/<split>.bin`` beside its rows: the sha256 of each row's
``Record.key()`` (the name the work store gives the record's files), 32 bytes a row, in row order.
With it, a finished build's rows are where its images live: the work store drops its own copies
(``build.hand_over``) and a re-run takes a finished record's images from the row that holds
them (``build.HeldImages``), found by digest, not by position, so records added, removed or reordered
upstream never take another record's row.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .diskcache import sha256_hex
from .records import Record

FOLDER = "row_keys"
WIDTH = 32  # bytes of one digest


def digest(rec: Record) -> str:
    """A record's digest as the work store names its files."""
    return sha256_hex(rec.key())


class RowKeysWriter:
    """Collects the digests of the written records, split by split in record order (the rows' order)."""

    def __init__(self) -> None:
        self._by_split: dict[str, bytearray] = {}

    def add(self, rec: Record) -> None:
        self._by_split.setdefault(rec.split, bytearray()).extend(bytes.fromhex(digest(rec)))

    def write(self, folder: Path, rows: dict[str, int]) -> list[str]:
        """Write each split whose digests match its row count (else the split keeps no index: its
        images stay in the work store); returns the splits written."""
        done = []
        for split, data in self._by_split.items():
            if len(data) // WIDTH == rows.get(split, -1):
                (folder / FOLDER).mkdir(exist_ok=True)
                (folder / FOLDER / f"{split}.bin").write_bytes(bytes(data))
                done.append(split)
        return done


class RowKeys:
    """A build's row keys, searched by digest: per split, the first 8 bytes sorted (16 bytes a row in
    memory, loaded on first use); the file itself is memory-mapped."""

    def __init__(self, folder: Path, rows: dict[str, int]) -> None:
        self.folder = folder
        self.rows = rows  # split -> rows the build has: a file of any other length is no index
        self.splits = list(rows)
        self._index: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        self._lock = threading.Lock()

    def _load(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        with self._lock:
            if split not in self._index:
                path = self.folder / FOLDER / f"{split}.bin"
                if split not in self.rows or not path.is_file() or not self.rows[split] \
                        or path.stat().st_size != self.rows[split] * WIDTH:
                    self._index[split] = None  # no rows, or no keys: nothing is found there
                else:
                    rows = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, WIDTH)
                    prefix = rows[:, :8].copy().view(">u8").ravel()
                    order = np.argsort(prefix, kind="stable")
                    self._index[split] = (rows, prefix[order], order)
            return self._index[split]

    def find(self, split: str, digest_hex: str) -> int | None:
        """The row of ``split`` made from the record with this digest, or None."""
        index = self._load(split)
        if index is None:
            return None
        rows, prefixes, order = index
        want = bytes.fromhex(digest_hex)
        prefix = int.from_bytes(want[:8], "big")
        i = int(np.searchsorted(prefixes, prefix))
        while i < len(prefixes) and prefixes[i] == prefix:  # the full digest decides
            row = int(order[i])
            if rows[row].tobytes() == want:
                return row
            i += 1
        return None

    def digests(self) -> Iterator[str]:
        """Every row's digest, split by split."""
        for split in self.splits:
            index = self._load(split)
            if index is not None:
                for row in index[0]:
                    yield row.tobytes().hex()
