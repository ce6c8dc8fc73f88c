"""Per-face measures for filtering (FFHQ and MetFaces pruned their sets by such measures).

From the points (any config that has them): eye distance and face box size in source pixels,
roll (the eye line's angle) and a yaw estimate (where the nose tip sits between the eyes, in the
face's own frame: 0 frontal, +/-90 profile; an estimate from 2-D points, not a 3-D pose). From the
pixels (aligned configs): blur, the variance of the Laplacian of the aligned face's grey levels
(lower is blurrier), measured at 256 px so that sizes compare.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image


def point_measures(kps5: list | None, bbox: list | None) -> dict:
    out: dict = {"eye_distance": None, "face_size": None, "roll": None, "yaw": None}
    if bbox is not None:
        b = np.asarray(bbox, float)
        out["face_size"] = float(max(b[2] - b[0], b[3] - b[1]))
    if kps5 is None:
        return out
    p = np.asarray(kps5, float)
    eye_l, eye_r, nose = p[0], p[1], p[2]
    v = eye_r - eye_l
    d = float(np.hypot(*v))
    if d <= 0:
        return out
    out["eye_distance"] = d
    out["roll"] = math.degrees(math.atan2(v[1], v[0]))
    u = v / d  # the face's own x axis
    offset = float(np.dot(nose - (eye_l + eye_r) / 2, u))
    out["yaw"] = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * offset / d))))
    return out


def blur(img: Image.Image) -> float:
    grey = np.asarray(img.convert("L").resize((256, 256), Image.BILINEAR), dtype=np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
