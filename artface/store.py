"""Per-record outcomes on disk: what makes builds resumable and failures reportable.

Every record of a build ends here as written (its geometry, provenance and image-valued columns)
or as a ``Failure``. Outcomes are keyed by ``Record.key()`` (id, where the bytes come from, the
expected checksum, the given geometry) under a folder named by the config's pixel fingerprint,
so a re-run reuses finished rows, retries failures, and never serves one source's pixels for
another source's record with the same id. Works across ``num_proc`` processes.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from .diskcache import DiskCache
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


class WorkStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.cache = DiskCache(root)
        self.root = self.cache.root

    def load(self, rec: Record) -> Outcome | None:
        key = rec.key()
        meta = self.cache.get(key, ".ok.json")
        if meta is None:
            return None
        m = json.loads(meta)
        blobs = {}
        for name in m["blobs"]:
            data = self.cache.get(key, f".{name}.bin")
            if data is None:
                return None  # a blob went missing (cleaned cache): rebuild the record
            blobs[name] = data
        return Outcome(m["geometry"], blobs, m.get("points_source"), m.get("detector_sha256"), tuple(m.get("reread", ())))

    def save(self, rec: Record, out: Outcome) -> None:
        key = rec.key()
        stored = {k: v for k, v in out.blobs.items() if k not in out.reread}
        for name, data in stored.items():
            self.cache.put(key, data, f".{name}.bin")
        meta = {"id": rec.id, "geometry": out.geometry, "blobs": sorted(stored), "points_source": out.points_source,
                "detector_sha256": out.detector_sha256, "reread": list(out.reread)}
        self.cache.put(key, json.dumps(meta, ensure_ascii=False).encode(), ".ok.json")
        self.cache.delete(key, ".fail.json")
        self.cache.delete(key, ".attempts")

    def save_failure(self, rec: Record, failure: Failure) -> None:
        self.cache.put(rec.key(), json.dumps(asdict(failure), ensure_ascii=False).encode(), ".fail.json")
        self.cache.delete(rec.key(), ".attempts")

    def begin(self, rec: Record) -> int:
        """Note that work on ``rec`` starts; returns how many earlier starts never ended (the process
        died while working on it: a native crash, a kill)."""
        path = self.cache.path(rec.key(), ".attempts")
        try:
            n = int(path.read_bytes() or b"0")
        except (FileNotFoundError, ValueError):
            n = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(str(n + 1).encode())  # a counter: a torn write reads as 0, which only allows one more try
        return n

    def forget_attempts(self, rec: Record) -> None:
        self.cache.delete(rec.key(), ".attempts")

    def failure(self, rec: Record) -> Failure | None:
        data = self.cache.get(rec.key(), ".fail.json")
        return None if data is None else Failure(**json.loads(data))

    def kept_failure(self, rec: Record, retry_failed: bool = False) -> Failure | None:
        """The stored failure of ``rec`` when the re-run policy (``failures.redo``) keeps it, else None."""
        fail = self.failure(rec)
        return fail if fail is not None and not redo(fail.reason, retry_failed) else None

    def state(self, rec: Record) -> tuple[str, dict | None]:
        """("written", provenance) | ("failed", failure dict) | ("pending", None), without reading blobs."""
        key = rec.key()
        meta = self.cache.get(key, ".ok.json")
        if meta is not None:
            m = json.loads(meta)
            return "written", {"points_source": m.get("points_source"), "detector_sha256": m.get("detector_sha256")}
        fail = self.cache.get(key, ".fail.json")
        if fail is not None:
            return "failed", json.loads(fail)
        return "pending", None
