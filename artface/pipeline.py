"""Pixel stages for one build: fetch -> verify -> decode -> detect -> align -> encode -> row.

``Pipeline.rows(records)`` yields ``(record, row)`` in record order; rows of records that
failed are not yielded but saved as failures in the WorkStore (and counted in the report).
Finished rows come from the store, so re-runs only redo what failed. Stage timings are kept
for the benchmark.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from artface_align import FaceAligner, ImageDecodeError, align, load_image
from artface_align.detect import make_detector
from artface_align.landmarks import make_landmarker

from .fetch import Fetcher, FetchResult, ordered_map, url_scheme
from .records import Record
from .store import Failure, WorkStore


@dataclass
class PixelOptions:
    kind: str  # "original" | "aligned"
    size: int = 1024
    mode: str = "fast"
    recipe: str = "ffhq"
    detector: str = "retinaface_mnet025"
    landmarks: str | None = None
    image_format: str = "png"
    workers: int = 2

    def fingerprint(self, extra: str = "") -> str:
        key = f"{self.kind}|{self.size}|{self.mode}|{self.recipe}|{self.detector}|{self.landmarks}|{self.image_format}|{extra}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class _Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, stage: str, t0: float) -> float:
        t1 = time.perf_counter()
        with self._lock:
            self.seconds[stage] += t1 - t0
        return t1


def encode_image(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=3)
    elif fmt in ("jpeg", "jpg"):
        img.save(buf, "JPEG", quality=95)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=95)
    else:
        raise ValueError(f"image_format must be png, jpeg or webp, got {fmt!r}")
    return buf.getvalue()


class Pipeline:
    def __init__(self, opts: PixelOptions, fetcher: Fetcher, store: WorkStore, finish=None) -> None:
        self.opts, self.fetcher, self.store = opts, fetcher, store
        self.finish = finish  # optional image -> image step after alignment (e.g. a dataset's blur)
        self.timings = _Timings()
        self._aligner: FaceAligner | None = None
        self._aligner_lock = threading.Lock()

    @property
    def aligner(self) -> FaceAligner:
        """Created on first use, in the process that uses it (sessions are not picklable)."""
        with self._aligner_lock:
            if self._aligner is None:
                threads = max(1, (os.cpu_count() or 1) // max(1, self.opts.workers))
                det = make_detector(self.opts.detector, threads=threads)
                lmk = make_landmarker(self.opts.landmarks) if self.opts.landmarks else None
                self._aligner = FaceAligner(det, lmk, size=self.opts.size, recipe=self.opts.recipe, mode=self.opts.mode)
            return self._aligner

    # ---------------------------------------------------------------------------------------
    def rows(self, records: Iterable[Record]) -> Iterator[tuple[Record, dict, bytes]]:
        todo = []
        for rec in records:
            cached = self.store.load_ok(rec.id)
            if cached is not None and cached[1] is None and self._local_original(rec):
                cached = (cached[0], Path(rec.image_url).read_bytes())  # type: ignore[arg-type]
            if cached is not None and cached[1] is not None:
                # flush work queued before this record so output order stays the record order
                yield from self._run(todo)
                todo = []
                yield rec, cached[0], cached[1]
            else:
                todo.append(rec)
        yield from self._run(todo)

    def _run(self, records: list[Record]) -> Iterator[tuple[Record, dict, bytes]]:
        if not records:
            return
        fetched = ordered_map(self._fetch, records, workers=self.fetcher.config.concurrency)
        for rec, out in ordered_map(self._process, fetched, workers=self.opts.workers, window=self.opts.workers * 2):
            if isinstance(out, Failure):
                self.store.save_failure(out)
                continue
            row, image = out
            # a local original is not copied into the store: re-runs read it from its place
            self.store.save_ok(rec.id, row, None if self._local_original(rec) else image)
            yield rec, row, image

    def _local_original(self, rec: Record) -> bool:
        return self.opts.kind == "original" and bool(rec.image_url) and url_scheme(rec.image_url) in ("", "file") \
            and not str(rec.image_url).startswith("file:") and Path(rec.image_url).is_file()

    def _fetch(self, rec: Record) -> tuple[Record, FetchResult | None]:
        if rec.data is not None:
            return rec, FetchResult(rec.image_url or rec.id, "ok", rec.data)
        if not rec.image_url:
            return rec, None
        t0 = time.perf_counter()
        res = self.fetcher.fetch(rec.image_url)
        self.timings.add("fetch", t0)
        return rec, res

    def _process(self, item: tuple[Record, FetchResult | None]) -> tuple[Record, tuple[dict, bytes] | Failure]:
        rec, res = item
        try:
            return rec, self._process_one(rec, res)
        except Exception as exc:  # noqa: BLE001 - one record's surprise must not end the build
            return rec, Failure(rec.id, "process", "error", f"{type(exc).__name__}: {exc}", rec.image_url)

    def _process_one(self, rec: Record, res: FetchResult | None) -> tuple[dict, bytes] | Failure:
        if res is None:
            return Failure(rec.id, "fetch", "no_image_url", "the record has no image URL or path")
        if not res.ok:
            detail = res.detail or (f"HTTP {res.http_status}" if res.http_status else "")
            return Failure(rec.id, "fetch", res.status, f"{detail} after {res.attempts} attempt(s)".strip(), rec.image_url)
        data = res.data or b""
        if rec.md5 and hashlib.md5(data).hexdigest() != rec.md5:  # noqa: S324 - upstream checksum
            return Failure(rec.id, "verify", "checksum_mismatch", f"md5 {hashlib.md5(data).hexdigest()} != {rec.md5}", rec.image_url)  # noqa: S324
        t0 = time.perf_counter()
        try:
            img = load_image(data, name=f"record {rec.id}")
        except ImageDecodeError as exc:
            return Failure(rec.id, "decode", "corrupt_image", str(exc), rec.image_url)
        t0 = self.timings.add("decode", t0)
        geometry = {"width": img.width, "height": img.height, "bbox": None, "det_score": None, "kps5": None, "landmarks68": None}
        if self.opts.kind == "original":
            geometry.update(given_geometry(rec.points, rec.bbox))
            return geometry, data
        if rec.points is not None:
            points = np.asarray(rec.points, dtype=np.float64)
            geometry.update(given_geometry(rec.points, rec.bbox))
        else:
            faces = self.aligner.detect(img)
            t0 = self.timings.add("detect", t0)
            if not faces:
                return Failure(rec.id, "detect", "no_face", f"{self.opts.detector} found no face in {img.width}x{img.height}", rec.image_url)
            face = faces[0]
            geometry.update(face.to_dict())
            points = face.landmarks68 if face.landmarks68 is not None else face.kps5
        try:
            aligned = align(img, points, self.opts.size, self.opts.recipe, self.opts.mode)
        except ValueError as exc:
            return Failure(rec.id, "align", "bad_points", str(exc), rec.image_url)
        t0 = self.timings.add("align", t0)
        final = self.finish(aligned.image) if self.finish else aligned.image
        out = encode_image(final, self.opts.image_format)
        self.timings.add("encode", t0)
        return geometry, out


def given_geometry(points: list | None, bbox: list | None = None) -> dict:
    """Geometry columns from dataset-provided landmarks (68 -> landmarks68 + kps5; 5 -> kps5)."""
    out: dict = {"bbox": list(bbox)} if bbox is not None else {}
    if points is None:
        return out
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) == 68:
        out["landmarks68"] = p.tolist()
        out["kps5"] = np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]]).tolist()
    elif len(p) == 5:
        out["kps5"] = p.tolist()
    return out
