"""Per-record outcomes on disk: what makes builds resumable and failures reportable.

Every record of a build ends here as ``ok`` (its row, and image bytes) or as a failure
(stage, reason, detail). The store is keyed by record id under a directory that depends on
every option that changes pixels, so a re-run reuses finished rows, retries failures, and
works across the processes of ``num_proc`` builds.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Failure:
    id: str
    stage: str  # fetch | verify | decode | detect | align
    reason: str  # http_404, timeout, truncated, corrupt_image, checksum_mismatch, no_face, ...
    detail: str = ""
    url: str | None = None


class WorkStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _base(self, rid: str) -> Path:
        h = hashlib.sha256(rid.encode()).hexdigest()
        return self.root / h[:2] / h

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def load_ok(self, rid: str) -> tuple[dict, bytes | None] | None:
        base = self._base(rid)
        meta = base.with_suffix(".ok.json")
        if not meta.is_file():
            return None
        row = json.loads(meta.read_text())
        img = base.with_suffix(".img")
        return row, (img.read_bytes() if img.is_file() else None)

    def save_ok(self, rid: str, row: dict, image: bytes | None) -> None:
        base = self._base(rid)
        if image is not None:
            self._write(base.with_suffix(".img"), image)
        self._write(base.with_suffix(".ok.json"), json.dumps(row, ensure_ascii=False).encode())
        base.with_suffix(".fail.json").unlink(missing_ok=True)

    def save_failure(self, failure: Failure) -> None:
        self._write(self._base(failure.id).with_suffix(".fail.json"), json.dumps(asdict(failure), ensure_ascii=False).encode())

    def failure(self, rid: str) -> Failure | None:
        p = self._base(rid).with_suffix(".fail.json")
        return Failure(**json.loads(p.read_text())) if p.is_file() else None

    def report(self, ids: list[str]) -> dict:
        """Counts for these record ids: written, failed by reason, the failures, and pending."""
        failures, written, pending = [], 0, 0
        for rid in ids:
            base = self._base(rid)
            if base.with_suffix(".ok.json").is_file():
                written += 1
            elif (f := self.failure(rid)) is not None:
                failures.append(asdict(f))
            else:
                pending += 1
        return {
            "total": len(ids),
            "written": written,
            "failed": len(failures),
            "pending": pending,
            "failed_by_reason": dict(Counter(f["reason"] for f in failures).most_common()),
            "failures": failures,
        }
