"""dlib's 68-point predictor (the optional [dlib] extra), on the real astronaut photo."""
import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

from artface_align import DlibLandmarker, FaceAligner, detect_faces, ffhq_points


def test_dlib_68_points_agree_with_the_detector(astronaut):
    face = detect_faces(astronaut)[0]
    DlibLandmarker()(astronaut, face)
    assert face.landmarks68.shape == (68, 2)
    eyes_mouth = ffhq_points(face.landmarks68)
    # 68-point eye centres / mouth corners land within a few pixels of RetinaFace's key points
    np.testing.assert_allclose(eyes_mouth, face.kps5[[0, 1, 3, 4]], atol=5)
    x0, y0, x1, y1 = face.bbox
    assert (face.landmarks68[:, 0] > x0 - 20).all() and (face.landmarks68[:, 0] < x1 + 20).all()


def test_face_aligner_with_dlib_aligns_on_68_points(astronaut):
    [(face, aligned)] = FaceAligner(landmarks="dlib68", size=128, warp="fast")(astronaut)
    assert face.landmarks68 is not None and aligned.image.size == (128, 128)
    (lx, ly), (rx, ry) = aligned.map_points(ffhq_points(face.landmarks68)[:2])
    assert abs(ly - ry) < 1.5 and lx < 64 < rx
