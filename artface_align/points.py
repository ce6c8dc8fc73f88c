"""Point layouts and the reductions between them, in one place (the library, artface's columns
and the face mesh all use these): 68 iBUG landmarks, 5 key points (``kps5``: eyes, nose tip,
mouth corners, viewer's left first), the 4 FFHQ points (eyes, mouth corners) and the 468-point
MediaPipe face mesh."""
from __future__ import annotations

import numpy as np

EYE_LEFT_68, EYE_RIGHT_68, NOSE_TIP_68, MOUTH_LEFT_68, MOUTH_RIGHT_68 = slice(36, 42), slice(42, 48), 30, 48, 54
MESH_EYE_VIEWER_LEFT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
MESH_EYE_VIEWER_RIGHT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
MESH_NOSE_TIP, MESH_MOUTH_LEFT, MESH_MOUTH_RIGHT = 1, 61, 291


def as_points(points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def kps5_from_68(points) -> np.ndarray:
    """(5, 2) eye centres, nose tip, mouth corners from 68 iBUG landmarks."""
    p = as_points(points)
    return np.stack([p[EYE_LEFT_68].mean(0), p[EYE_RIGHT_68].mean(0), p[NOSE_TIP_68], p[MOUTH_LEFT_68], p[MOUTH_RIGHT_68]])


def kps5_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres (the mean of each eye's ring), nose tip, mouth corners from the 468-point mesh."""
    return np.stack([mesh_eyes(mesh)[0], mesh_eyes(mesh)[1], mesh[MESH_NOSE_TIP], mesh[MESH_MOUTH_LEFT], mesh[MESH_MOUTH_RIGHT]])


def mesh_eyes(mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mesh[list(MESH_EYE_VIEWER_LEFT)].mean(0), mesh[list(MESH_EYE_VIEWER_RIGHT)].mean(0)


def ffhq_points(points) -> np.ndarray:
    """(4, 2) eye_left, eye_right, mouth_left, mouth_right from 4, 5 (kps5) or 68 points."""
    p = as_points(points)
    if len(p) == 68:
        return kps5_from_68(p)[[0, 1, 3, 4]]
    if len(p) == 5:
        return p[[0, 1, 3, 4]]
    if len(p) == 4:
        return p
    raise ValueError(f"need 4 FFHQ points, 5 key points or 68 landmarks, got {len(p)} points")
