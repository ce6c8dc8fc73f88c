"""MediaPipe's BlazeFace (short range) detector and 468-point face mesh, run with LiteRT.

The ``.tflite`` files come from the ``mediapipe==0.10.21`` wheel (Apache-2.0; later wheels ship
none, and that wheel pins numpy<2), fetched and sha256-checked by ``artface_align.models``; the
``ai-edge-litert`` interpreter runs them with numpy 2. Decoding is done here: SSD anchors for
BlazeFace, the rotated face crop and its inverse for the mesh.
"""
from __future__ import annotations

import math
import threading
from functools import lru_cache

import cv2
import numpy as np

from .errors import MissingDependencyError
from .models import resolve
from .points import kps5_from_mesh, mesh_eyes
from .types import Face

# face mesh indices (the subject's right eye appears on the viewer's left)


def _interpreter(name: str, model_path: str | None, threads: int | None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise MissingDependencyError("BlazeFace and the face mesh need ai-edge-litert: pip install ai-edge-litert") from exc
    resolved = resolve(name, model_path)
    it = Interpreter(model_content=resolved.load_bytes(), num_threads=threads or 1)
    it.allocate_tensors()
    return it, resolved


class _Runner:
    """One LiteRT interpreter, used by one thread at a time (interpreters are not thread-safe)."""

    def __init__(self, name: str, model_path: str | None, threads: int | None) -> None:
        self.it, resolved = _interpreter(name, model_path, threads)
        self.model_sha256 = resolved.sha256
        self._in = self.it.get_input_details()[0]["index"]
        self._out = [d["index"] for d in self.it.get_output_details()]
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            self.it.set_tensor(self._in, x)
            self.it.invoke()
            return [self.it.get_tensor(i).copy() for i in self._out]


@lru_cache(maxsize=1)
def _blazeface_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] of the short-range model (strides 8, 16, 16, 16; 2 anchors
    per cell per layer, layers of one stride merged)."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = 128 // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) / n, (ys.ravel() + 0.5) / n], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float64)


def _letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The image scaled to fit ``size`` x ``size`` (up or down), centred on black; returns it and
    (scale, pad_x, pad_y) to map network pixels back."""
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = small
    return canvas, s, px, py


class BlazeFaceDetector:
    """BlazeFace short range: fast, made for faces that fill much of the picture (crops, portraits).

    It gives eyes, nose tip and mouth centre (no mouth corners): ``kps5``'s mouth corners are put
    at the mouth centre +/- 0.4 of the eye vector, which keeps the FFHQ recipe's mouth average exact;
    run the face mesh (``landmarks="face_mesh"``) for measured corners.
    """

    name = "blazeface_short"

    def __init__(self, model_path: str | None = None, *, score_threshold: float = 0.5, nms_threshold: float = 0.3,
                 threads: int | None = None, providers: list[str] | None = None) -> None:
        self.runner = _Runner(self.name, model_path, threads)
        self.model_sha256 = self.runner.model_sha256
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        from .boxes import nms

        canvas, s, px, py = _letterbox(rgb, 128)
        x = (canvas.astype(np.float32) / 127.5 - 1.0)[None]
        raw = {o.shape[-1]: o[0] for o in self.runner(x)}
        reg, cls = raw[16].astype(np.float64), raw[1][:, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(cls, -100, 100)))
        idx = np.nonzero(scores > self.score_threshold)[0]
        if idx.size == 0:
            return []
        anchors = _blazeface_anchors()[idx] * 128
        r = reg[idx]
        centre, size = anchors + r[:, :2], r[:, 2:4]
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        kps = anchors[:, None, :] + r[:, 4:16].reshape(-1, 6, 2)
        keep = nms(boxes, scores[idx], self.nms_threshold)
        back = lambda p: (p - [px, py]) / s  # noqa: E731 - network pixels -> source pixels
        faces = []
        for k in keep:
            eye_l, eye_r, nose, mouth = (back(kps[k, i]) for i in range(4))
            half = 0.4 * (eye_r - eye_l)
            kps5 = np.stack([eye_l, eye_r, nose, mouth - half, mouth + half])
            faces.append(Face(back(boxes[k].reshape(2, 2)).reshape(4), scores[idx][k], kps5,
                              extra={"detector": self.name, "detector_sha256": self.model_sha256}))
        return faces


class FaceMeshLandmarker:
    """MediaPipe's 468-point face mesh, reduced to the FFHQ points: eye centres (means of the eye
    contours), nose tip, mouth corners. Two passes, as MediaPipe tracks faces: a crop around the
    detected box (eyes level, ``scale`` x its long side), then one around the first mesh. The crop
    decides the accuracy: measured in benchmarks/bench_detect.py (scale 1.25 and a second pass were
    best). A face found in a blurred view (``extra["smooth_sigma"]``: a drawing of thin lines) is
    meshed blurred alike. ``face.extra["mesh468"]`` keeps all points in source pixels,
    ``mesh468_depth`` their depth (the model's relative z, in source pixels: larger is farther)."""

    name = "face_mesh"

    def __init__(self, model_path: str | None = None, *, threads: int | None = None, providers: list[str] | None = None,
                 scale: float = 1.25, passes: int = 2) -> None:
        self.runner = _Runner(self.name, model_path, threads)
        self.model_sha256 = self.runner.model_sha256
        self.scale, self.passes = scale, passes

    def _mesh(self, rgb: np.ndarray, box: np.ndarray, eye_l: np.ndarray, eye_r: np.ndarray,
              sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:
        angle = math.degrees(math.atan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
        centre = (box[:2] + box[2:]) / 2
        side = self.scale * max(box[2] - box[0], box[3] - box[1])
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 192.0 / side)
        m[:, 2] += 96.0 - centre  # the face centre to the crop centre
        crop = cv2.warpAffine(rgb, m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if sigma > 0:  # the detector's blur (source pixels), at the crop's scale
            crop = cv2.GaussianBlur(crop, (0, 0), sigma * 192.0 / side)
        outs = self.runner((crop.astype(np.float32) / 255.0)[None])
        mesh = next(o for o in outs if o.size == 1404).reshape(468, 3).astype(np.float64)
        flag = float(next(o for o in outs if o.size == 1).ravel()[0])
        inv = cv2.invertAffineTransform(m)
        return mesh[:, :2] @ inv[:, :2].T + inv[:, 2], mesh[:, 2] * side / 192.0, flag

    def __call__(self, rgb: np.ndarray, face: Face) -> Face:
        box, eye_l, eye_r = face.bbox, face.kps5[0], face.kps5[1]
        for _ in range(self.passes):
            pts, depth, flag = self._mesh(rgb, box, eye_l, eye_r, face.extra.get("smooth_sigma", 0.0))
            box = np.concatenate([pts.min(0), pts.max(0)])
            eye_l, eye_r = mesh_eyes(pts)
        face.kps5 = kps5_from_mesh(pts)
        face.extra.update(mesh468=pts, mesh468_depth=depth, mesh_score=1.0 / (1.0 + math.exp(-flag)),
                          landmarks=self.name, landmarks_sha256=self.model_sha256)
        return face
