"""Batch use: one object that keeps its ONNX sessions and runs detect -> landmarks -> align."""
from __future__ import annotations

import numpy as np

from .detect import Detector, make_detector
from .ffhq import DEFAULT_WARP, Aligned, align, warp_name
from .imageio import ImageInput, load_image, pixels
from .landmarks import Landmarker, make_landmarker
from .types import Face


class FaceAligner:
    """Reusable detector (+ optional 68-point model) and FFHQ-family alignment.

    Sessions are created once; ``threads`` and ``providers`` go to onnxruntime (CUDA is
    used when onnxruntime-gpu is installed and no providers are given).
    """

    def __init__(
        self,
        detector: Detector | str = "retinaface_mnet025",
        landmarks: Landmarker | str | None = None,
        *,
        size: int = 1024,
        recipe: str = "ffhq",
        warp: str = DEFAULT_WARP,
        threads: int | None = None,
        providers: list[str] | None = None,
        detector_kwargs: dict | None = None,
        mode: str | None = None,
    ) -> None:
        kw = dict(threads=threads, providers=providers, **(detector_kwargs or {}))
        self.detector = make_detector(detector, **kw) if isinstance(detector, str) else detector
        self.landmarker = make_landmarker(landmarks, threads=threads, providers=providers) if isinstance(landmarks, str) else landmarks
        self.size, self.recipe, self.warp = size, recipe, warp_name(warp, mode)

    def detect(self, image: ImageInput) -> list[Face]:
        rgb = pixels(load_image(image))
        faces = self.detector.detect(rgb)
        if self.landmarker is not None:
            faces = [self.landmarker(rgb, f) for f in faces]
        return faces

    def align(self, image: ImageInput, face: Face) -> Aligned:
        return self.align_points(image, face.points)

    def align_points(self, image: ImageInput, points: np.ndarray) -> Aligned:
        """Align from given points (4, 5 or 68: e.g. a dataset's own landmarks), with this aligner's recipe."""
        return align(image, points, self.size, self.recipe, self.warp)

    def __call__(self, image: ImageInput, max_faces: int | None = 1) -> list[tuple[Face, Aligned]]:
        """Detect, then align the best ``max_faces`` faces (all when None)."""
        img = load_image(image)
        faces = self.detect(img)[: max_faces if max_faces else None]
        return [(f, self.align(img, f)) for f in faces]
