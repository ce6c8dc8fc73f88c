"""The one record every stage passes on: a detected face in source-image pixels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Order of the five key points, from the viewer's point of view: "left eye" is the eye
#: on the left of the picture (the subject's right eye). RetinaFace, SCRFD and the
#: iBUG 68-point scheme all use this order.
KPS5_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class Face:
    """A face in source pixels (pixel centres at integer coordinates).

    bbox: [x0, y0, x1, y1]; kps5: (5, 2) in KPS5_NAMES order; landmarks68: (68, 2) iBUG
    points when a 68-point model ran, else None.
    """

    bbox: np.ndarray
    score: float
    kps5: np.ndarray
    landmarks68: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bbox = np.asarray(self.bbox, dtype=np.float64).reshape(4)
        self.kps5 = np.asarray(self.kps5, dtype=np.float64).reshape(5, 2)
        if self.landmarks68 is not None:
            self.landmarks68 = np.asarray(self.landmarks68, dtype=np.float64).reshape(68, 2)
        self.score = float(self.score)

    @property
    def points(self) -> np.ndarray:
        """The points an alignment uses: the 68 landmarks when a landmark model ran, else kps5."""
        return self.landmarks68 if self.landmarks68 is not None else self.kps5

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    def to_dict(self) -> dict:
        """Plain lists (JSON/Arrow friendly)."""
        return {
            "bbox": self.bbox.tolist(),
            "det_score": self.score,
            "kps5": self.kps5.tolist(),
            "landmarks68": None if self.landmarks68 is None else self.landmarks68.tolist(),
        }
