"""Landmark models: the MediaPipe face mesh (``face_mesh``, offline, ``litert.py``), insightface
1k3d68 / 2d106det (ONNX, ``insight.py``) and dlib's 68 points (optional extra).

A landmarker refines a detected Face in place (``face.landmarks68``), so alignment can use
the dataset recipes' 68-point definition of eye centres and mouth corners.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .errors import MissingDependencyError
from .insight import insightface_model
from .types import Face


class Landmarker(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray, face: Face) -> Face:
        """Return ``face`` with landmarks filled in."""


class InsightFaceLandmarker:
    """insightface landmark models: 1k3d68 gives 68 points; 2d106det gives 106 (kept in face.extra)."""

    def __init__(
        self,
        model: str = "1k3d68",
        model_path: str | None = None,
        *,
        threads: int | None = None,
        providers: list[str] | None = None,
        allow_download: bool | None = None,
    ) -> None:
        net, resolved = insightface_model(model, model_path, "landmark", threads, providers, allow_download)
        self.net = net
        self.name = model
        self.model_sha256 = resolved.sha256
        self.num_points = int(net.lmk_num)

    def __call__(self, rgb: np.ndarray, face: Face) -> Face:
        from insightface.app.common import Face as IFace

        pts = self.net.get(np.ascontiguousarray(rgb[..., ::-1]), IFace(bbox=face.bbox.astype(np.float32)))
        pts = np.asarray(pts)[:, :2]
        if self.num_points == 68:
            face.landmarks68 = pts
        else:
            face.extra[f"landmarks{self.num_points}"] = pts
        return face


class DlibLandmarker:
    """dlib's 68-point shape predictor (``pip install 'artface[dlib]'``)."""

    name = "dlib68"

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models
        except ImportError as exc:
            raise MissingDependencyError("dlib landmarks need the 'dlib' extra: pip install 'artface[dlib]'") from exc
        self._dlib = dlib
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.model_sha256 = ""

    def __call__(self, rgb: np.ndarray, face: Face) -> Face:
        x0, y0, x1, y1 = (int(round(v)) for v in face.bbox)
        shape = self.predictor(np.ascontiguousarray(rgb), self._dlib.rectangle(x0, y0, x1, y1))
        face.landmarks68 = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        return face


def make_landmarker(name: str, **kwargs) -> Landmarker:
    """Landmark model by name: "face_mesh" (MediaPipe, offline), "dlib68", or an insightface one
    ("1k3d68", "2d106det")."""
    if name == "face_mesh":
        from .litert import FaceMeshLandmarker

        return FaceMeshLandmarker(**kwargs)
    if name == "dlib68":
        return DlibLandmarker()  # dlib runs on the CPU: session options do not apply
    return InsightFaceLandmarker(name, **kwargs)
