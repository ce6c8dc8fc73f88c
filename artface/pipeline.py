"""Pixel stages for one build: fetch -> verify -> decode -> detect -> align -> [dataset stages] -> encode.

Every per-record step is a named ``Stage``; a stage that cannot go on raises
``RecordFailure(reason, detail)`` and the record ends as a ``Failure`` of that stage (any other
exception too, as reason ``error``): one record never stops a build. ``Pipeline.rows(records)``
yields ``(record, Outcome)`` in record order; outcomes (and failures) are saved in the WorkStore,
so a re-run redoes what the re-run policy (``failures.redo``) says: pending records and retryable
failures; permanent ones (404, no_face, ...) only with ``retry_failed``. Stage timings are kept for the benchmark.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageOps

from artface_align import FaceAligner, ImageDecodeError, load_image
from artface_align.errors import ArtfaceAlignError
from artface_align.imageio import pixels
from artface_align.detect import make_detector
from artface_align.ffhq import DEFAULT_WARP
from artface_align.landmarks import make_landmarker

from .build import HeldImages
from .errors import ArtfaceError
from .failures import Failure, RecordFailure, reason_info, redo
from .fetch import Fetcher, ordered_map
from .kinds import kind as kind_of
from .locations import read_local
from .quality import blur
from .records import Record
from .schema import empty_geometry, given_geometry
from .store import Outcome, WorkStore

IMAGE_FORMATS = ("png", "jpeg", "webp")
MAX_CRASHES = 3  # a record whose processing killed its process this often ends as worker_crash


class SetupError(ArtfaceError):
    """What a build needs before its first record is missing (a model file, a package)."""


@dataclass
class PixelOptions:
    """What the pipeline does to pixels (all of it is in the config's pixel fingerprint)."""

    kind: str  # "detected" | "original" | "aligned"
    size: int = 1024
    warp: str = DEFAULT_WARP
    recipe: str = "ffhq"
    detector: str = "retinaface_mnet025"
    landmarks: str | None = None
    image_format: str = "jpeg"
    image_quality: int = 95
    on_no_face: str = "drop"  # drop: a no_face failure | crop: keep the whole crop, resized and centred


ON_NO_FACE = ("drop", "crop")
CROP = "crop"  # the landmarks_source of a record kept whole because no face was found (or upstream says back of head)


@dataclass
class RunOptions:
    """How fast, and within what memory: never part of any identity."""

    workers: int = 2  # detect/align threads per process
    threads: int | None = None  # ONNX intra-op threads per session (default: cores / (workers * processes))
    max_pixels: int = 50_000_000  # larger images are refused from their header, before any pixel is decoded
    big_pixels: int = 12_000_000  # images over this are processed one at a time (bounds peak memory)
    retry_failed: bool = False  # redo permanent failures too (``failures.redo``)
    processes: int = 1  # processes building at once on this machine (--num-proc): they share its cores

    def native_threads(self) -> int:
        """Threads of one ONNX session: the machine's cores shared among every worker of every process
        (16 cores, 4 processes of 2 workers: 2 each, not 8 each). Workers are not cut: a worker waits
        on Python between native calls, and two per process kept both cores busy here (bench_engine:
        2 processes of 1 worker 39.0 img/s, of 2 workers 44.2)."""
        return self.threads or max(1, (os.cpu_count() or 1) // (max(1, self.workers) * max(1, self.processes)))


@dataclass
class Work:
    """One record in flight between stages."""

    rec: Record
    data: bytes | None = None
    image: Image.Image | None = None
    points: np.ndarray | None = None
    geometry: dict = field(default_factory=empty_geometry)
    blobs: dict[str, bytes] = field(default_factory=dict)
    points_source: str | None = None
    detector_sha256: str | None = None
    reread: tuple[str, ...] = ()
    holds_big: bool = False  # holds the pipeline's one big-image slot

    def outcome(self) -> Outcome:
        return Outcome(self.geometry, self.blobs, self.points_source, self.detector_sha256, self.reread)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Work], None]


class _Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds


def encode_image(img: Image.Image, fmt: str, quality: int = 90) -> bytes:
    """PNG (lossless, fast zlib level), JPEG (4:4:4 chroma, so faces keep their colour edges) or WebP.

    RGB JPEG and PNG go through OpenCV, which encodes with the GIL released (Pillow holds it when
    writing to memory, which serialises a build's workers); its JPEG bytes are Pillow's, byte for
    byte (the same libjpeg-turbo settings; test), its PNG the same pixels."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
    if img.mode == "RGB" and fmt in ("jpeg", "png"):
        params = ([cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
                  if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3])
        ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(pixels(img), cv2.COLOR_RGB2BGR), params)
        if ok:
            return buf.tobytes()
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=3)
    elif fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality, subsampling=0)
    else:
        img.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


RUN_CHUNK = 1024  # records queued for fetch + process at a time: bounds memory; a chunk's tail costs < 1 %


class Pipeline:
    def __init__(self, opts: PixelOptions, fetcher: Fetcher, store: WorkStore | None, extra: Iterable[Stage] = (),
                 run: RunOptions | None = None) -> None:
        self.opts, self.fetcher, self.store = opts, fetcher, store
        self.run_opts = run or RunOptions()
        self.timings = _Timings()
        self._aligner: FaceAligner | None = None
        self._aligner_lock = threading.Lock()
        self._held: HeldImages | None = None
        self._big = threading.Lock()  # one image over big_pixels in flight at a time
        core = [Stage("verify", self._verify), Stage("decode", self._decode)]
        k = kind_of(opts.kind)
        if k.detects:
            core.append(Stage("detect", self._detect))
        if k.aligns:
            core.append(Stage("align", self._align))
        self.stages: list[Stage] = [*core, *extra, Stage("encode", self._encode)]

    def prepare(self) -> None:
        """Set-up before the first record: the detector's and landmark model's files resolve (and
        sessions open) here, so a missing model is one error for the build, never a failure per record."""
        if kind_of(self.opts.kind).detects:
            try:
                self.aligner
            except ArtfaceAlignError as exc:
                raise SetupError(f"{self.opts.detector}{'+' + self.opts.landmarks if self.opts.landmarks else ''}: "
                                 f"{exc}") from None

    def close(self) -> None:
        """Release the HTTP client and the model sessions now, not when the garbage collector gets to
        them: a Pipeline is a reference cycle (its stages are its bound methods), and an ONNX session
        left as garbage in a process that then forks is freed by the child's collector, where
        destroying its thread pool waits forever for threads the child does not have (a --num-proc
        build's workers hung so)."""
        self.fetcher.close()
        with self._aligner_lock:
            self._aligner = None

    @property
    def aligner(self) -> FaceAligner:
        """Created on first use, in the process that uses it (sessions are not picklable)."""
        with self._aligner_lock:
            if self._aligner is None:
                o, threads = self.opts, self.run_opts.native_threads()
                det = make_detector(o.detector, threads=threads)
                lmk = make_landmarker(o.landmarks) if o.landmarks else None
                self._aligner = FaceAligner(det, lmk, size=o.size, recipe=o.recipe, warp=o.warp)
            return self._aligner

    # -- driving -----------------------------------------------------------------------------
    def rows(self, records: Iterable[Record], on_done: Callable[[Record, Failure | None], None] | None = None
             ) -> Iterator[tuple[Record, Outcome]]:
        """Outcomes of the records that could be built, in record order; ``on_done`` hears of every
        record as it ends (None: written, else its Failure), e.g. for a progress bar."""
        for rec, out in self.process(records):
            if on_done is not None:
                on_done(rec, out if isinstance(out, Failure) else None)
            if not isinstance(out, Failure):
                yield rec, out

    def process(self, records: Iterable[Record]) -> Iterator[tuple[Record, Outcome | Failure]]:
        """The map step, public for engines (Ray, a plain loop): every record's outcome or failure,
        in record order. With a work store, finished records come from it and new outcomes go to it."""
        todo: list[Record] = []
        for rec in records:
            done = self._load(rec)
            if done is None and self.store is not None:
                fail = self.store.failure(rec)
                if fail is not None and not redo(fail.reason, self.run_opts.retry_failed):
                    done = fail  # permanent: not tried again
                elif fail is not None:
                    self.store.forget_attempts(rec)  # tried again on purpose: a fresh count of crashes
            if done is not None:
                yield from self._run(todo)  # work queued before it first: output keeps record order
                todo = []
                yield rec, done
            else:
                todo.append(rec)
                if len(todo) >= RUN_CHUNK:  # records are read as they are worked on, never all at once
                    yield from self._run(todo)
                    todo = []
        yield from self._run(todo)

    def _load(self, rec: Record) -> Outcome | None:
        """A finished record's outcome with every image: those the store keeps, originals read again
        (the user's file, the fetch cache), the rest read back from the finished build that holds them."""
        if self.store is None:
            return None
        out = self.store.load(rec)
        if out is None:
            return None
        for name in (*out.reread, *out.missing):
            data = self._original(rec) if name in out.reread else None
            data = data if data is not None else self.held.get(rec, name)
            if data is None:
                return None  # removed everywhere: the record is built again
            out.blobs[name] = data
        out.missing = ()
        return out

    def _original(self, rec: Record) -> bytes | None:
        loc = rec.fetch
        if loc is None:
            return None
        if loc.via == "url":
            return self.fetcher.cache.get(loc.target) if self.fetcher.cache is not None else None
        try:  # a local original: the record key holds its size and mtime
            return read_local(loc)
        except RecordFailure:
            return None

    @property
    def held(self) -> HeldImages:
        """Images of this store that finished builds hold (made on first use, in the process that uses it)."""
        if self._held is None:
            self._held = HeldImages(self.store)  # type: ignore[arg-type]
        return self._held

    def _run(self, records: list[Record]) -> Iterator[tuple[Record, Outcome]]:
        if not records:
            return
        fetched = ordered_map(self._fetch, records, workers=self.fetcher.config.concurrency)
        for rec, out in ordered_map(self._process, fetched, workers=self.run_opts.workers, window=self.run_opts.workers * 2):
            if self.store is not None:
                if isinstance(out, Failure):
                    self.store.save_failure(rec, out)
                else:
                    self.store.save(rec, out)
            yield rec, out

    def _fetch(self, rec: Record) -> tuple[Work, Failure | None]:
        work = Work(rec)
        t0 = time.perf_counter()
        try:
            loc = rec.fetch
            if loc is None:
                raise RecordFailure("no_image", "the record names no image")
            if loc.via == "url":
                res = self.fetcher.fetch(loc.target)
                if not res.ok:
                    raise RecordFailure(res.status, f"{res.detail} after {res.attempts} attempt(s)".strip())
                work.data = res.data
            else:
                work.data = read_local(loc)
        except RecordFailure as exc:
            return work, self._failure(rec, "fetch", exc.reason, exc.detail)
        except Exception as exc:  # noqa: BLE001 - one record's surprise must not end the build
            return work, self._failure(rec, "fetch", "error", f"{type(exc).__name__}: {exc}")
        finally:
            self.timings.add("fetch", time.perf_counter() - t0)
        return work, None

    def _process(self, item: tuple[Work, Failure | None]) -> tuple[Record, Outcome | Failure]:
        work, failed = item
        if failed is not None:
            return work.rec, failed
        if self.store is not None:  # a record that killed the process MAX_CRASHES times is a failure, not a loop
            crashed = self.store.begin(work.rec)
            if crashed >= MAX_CRASHES:
                work.image = work.data = None
                return work.rec, self._failure(work.rec, "process", "worker_crash",
                                               f"the process died {crashed} times while working on this record")
        try:
            for stage in self.stages:
                t0 = time.perf_counter()
                try:
                    stage.run(work)
                except RecordFailure as exc:
                    return work.rec, self._failure(work.rec, stage.name, exc.reason, exc.detail)
                except Exception as exc:  # noqa: BLE001 - one record's surprise must not end the build
                    return work.rec, self._failure(work.rec, stage.name, "error", f"{type(exc).__name__}: {exc}")
                finally:
                    self.timings.add(stage.name, time.perf_counter() - t0)
            return work.rec, work.outcome()
        finally:
            work.image = work.data = None
            if work.holds_big:
                self._big.release()

    @staticmethod
    def _failure(rec: Record, stage: str, reason: str, detail: str) -> Failure:
        reason_info(reason)  # an unknown reason reads as "error" in reports; keep it visible here
        return Failure(rec.id, stage, reason, detail, rec.image_url)

    # -- the stages ----------------------------------------------------------------------------
    def _verify(self, w: Work) -> None:
        if w.rec.md5:
            got = hashlib.md5(w.data or b"").hexdigest()  # noqa: S324 - upstream's checksum
            if got != w.rec.md5:
                raise RecordFailure("checksum_mismatch", f"md5 {got} != {w.rec.md5}")

    def _decode(self, w: Work) -> None:
        """Size from the header first: over ``max_pixels`` is refused before decoding, over
        ``big_pixels`` waits for the one big-image slot, so workers never decode two at once."""
        name = f"record {w.rec.id}"
        r = self.run_opts
        try:
            with Image.open(io.BytesIO(w.data or b"")) as head:
                pixels = head.width * head.height
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            pixels = 0  # load_image says what is wrong with it
        if pixels > r.max_pixels:
            raise RecordFailure("image_too_large", f"{name}: {pixels:,} pixels > max_pixels {r.max_pixels:,} (from the header)")
        if pixels > r.big_pixels:
            self._big.acquire()
            w.holds_big = True
        try:
            w.image = load_image(w.data or b"", name=name, max_pixels=r.max_pixels)
        except ImageDecodeError as exc:
            if w.rec.fetch is not None and w.rec.fetch.via == "url":
                self.fetcher.evict(w.rec.fetch.target)  # an error page is never kept as the image
            reason = "image_too_large" if "exceeds the limit" in str(exc) or "decompression bomb" in str(exc) else "corrupt_image"
            raise RecordFailure(reason, str(exc)) from None
        w.geometry.update(width=w.image.width, height=w.image.height)
        if not kind_of(self.opts.kind).detects:  # original: the points upstream gives, if any
            w.geometry.update(given_geometry(w.rec.points, w.rec.bbox))
            w.points_source = "upstream" if w.rec.points is not None else None

    def _detect(self, w: Work) -> None:
        if w.rec.face == "back" and self.opts.on_no_face == CROP:  # upstream: the back of a head, nothing to find
            return self._keep_crop(w)
        if w.rec.points is not None:
            w.points = np.asarray(w.rec.points, dtype=np.float64)
            w.geometry.update(given_geometry(w.rec.points, w.rec.bbox))
            w.points_source = w.geometry["landmarks_source"] = "upstream"
            return
        assert w.image is not None
        faces = self.aligner.detect(w.image)
        if not faces:
            if self.opts.on_no_face == CROP:
                return self._keep_crop(w)
            raise RecordFailure("no_face", f"{self.opts.detector} found no face in {w.image.width}x{w.image.height}")
        face = faces[0]
        w.geometry.update(face.to_dict())
        w.points = face.points
        found_by = face.extra.get("detector", self.opts.detector)  # a cascade says which of its detectors
        w.points_source = f"{found_by}+{face.extra['landmarks']}" if face.extra.get("landmarks") else found_by
        w.geometry["landmarks_source"] = w.points_source
        w.detector_sha256 = face.extra.get("detector_sha256", self.aligner.detector.model_sha256)

    def _keep_crop(self, w: Work) -> None:
        """The record is a face crop whose face was not found: kept whole (``on_no_face=crop``), no geometry."""
        w.points = None
        w.points_source = w.geometry["landmarks_source"] = CROP

    def _align(self, w: Work) -> None:
        assert w.image is not None
        if w.points_source == CROP:  # resized to size and centred, as it is
            w.image = ImageOps.pad(w.image.convert("RGB"), (self.opts.size, self.opts.size), Image.LANCZOS)
            w.geometry["blur"] = blur(w.image)
            return
        try:
            res = self.aligner.align_points(w.image, w.points)
        except ValueError as exc:
            raise RecordFailure("bad_points", str(exc)) from None
        w.image = res.image
        w.geometry["transform"] = res.matrix.tolist()  # the points in the published image's own pixels:
        for src, dst in (("kps5", "kps5_aligned"), ("landmarks68", "landmarks68_aligned")):
            if w.geometry.get(src) is not None:
                w.geometry[dst] = res.map_points(np.asarray(w.geometry[src])).tolist()
        w.geometry["blur"] = blur(w.image)

    def _encode(self, w: Work) -> None:
        k = kind_of(self.opts.kind)
        if not k.pixels:
            return  # geometry only: no pixels are kept
        if not k.aligns:  # the original bytes, as fetched
            w.blobs["image"] = w.data or b""
            loc = w.rec.fetch
            if loc is not None and (loc.is_local or (loc.via == "url" and self.fetcher.cache is not None)):
                w.reread = ("image",)  # one copy: the user's own file, or the fetch cache's body, is not copied again
        else:
            assert w.image is not None
            w.blobs["image"] = encode_image(w.image, self.opts.image_format, self.opts.image_quality)
