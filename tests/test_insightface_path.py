"""SCRFD and 1k3d68 through insightface's model_zoo, with tiny graphs built by onnx.helper."""
import numpy as np
import pytest

pytest.importorskip("insightface")
pytest.importorskip("onnx")

from artface_align import ChecksumMismatchError, FaceAligner, InsightFaceDetector, InsightFaceLandmarker, align
from artface_align.errors import ArtfaceAlignError

from .onnx_graphs import SCRFD_BOX_DIST, SCRFD_KPS_OFFSETS, canonical_68, make_landmark_1k3d68, make_scrfd


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    return {"scrfd": make_scrfd(d / "tiny_scrfd.onnx"), "lmk": make_landmark_1k3d68(d / "tiny_1k3d68.onnx")}


def _block_image(h: int, w: int, x: int, y: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[y : y + 16, x : x + 16] = 255
    return img


@pytest.mark.parametrize("shape", [(320, 320), (240, 480), (480, 200)])
def test_scrfd_detects_the_block_in_source_pixels(graphs, shape):
    h, w = shape
    det = InsightFaceDetector("scrfd_tiny", graphs["scrfd"], input_size=(640, 640), threads=1)
    x, y = 96, 120
    faces = det.detect(_block_image(h, w, x, y))
    assert faces, "the bright block is a face for this graph"
    for f in faces:  # every anchor that fired lies on the 16 px block (mapped back through the letterbox)
        centre = (f.bbox[:2] + f.bbox[2:]) / 2
        assert x - 1 <= centre[0] <= x + 17 and y - 1 <= centre[1] <= y + 17
    f = faces[0]
    centre = (f.bbox[:2] + f.bbox[2:]) / 2
    scale = 640 / max(h, w)
    stride = 8 / scale  # one stride in source pixels
    np.testing.assert_allclose(f.bbox[2] - f.bbox[0], 2 * SCRFD_BOX_DIST * stride, rtol=0.02)
    np.testing.assert_allclose(f.kps5, centre + SCRFD_KPS_OFFSETS * stride, atol=0.05 * stride + 0.5)


def test_scrfd_no_block_no_face(graphs):
    det = InsightFaceDetector("scrfd_tiny", graphs["scrfd"], threads=1)
    assert det.detect(np.zeros((256, 256, 3), np.uint8)) == []


def test_registry_name_with_a_foreign_file_fails_its_checksum(graphs):
    with pytest.raises(ChecksumMismatchError, match="scrfd_10g"):
        InsightFaceDetector("scrfd_10g", graphs["scrfd"])


def test_landmark_graph_is_not_accepted_as_a_detector(graphs):
    with pytest.raises(ArtfaceAlignError, match="not an SCRFD detector"):
        InsightFaceDetector("scrfd_tiny", graphs["lmk"])


def test_1k3d68_landmarks_land_where_the_graph_puts_them(graphs):
    det = InsightFaceDetector("scrfd_tiny", graphs["scrfd"], threads=1)
    lmk = InsightFaceLandmarker("lmk_tiny", graphs["lmk"], threads=1)
    img = _block_image(320, 320, 160, 160)
    face = det.detect(img)[0]
    lmk(img, face)
    assert face.landmarks68 is not None and face.landmarks68.shape == (68, 2)
    # insightface crops a square of 1.5 * max(w, h) around the box centre; [-1, 1] spans it
    centre = (face.bbox[:2] + face.bbox[2:]) / 2
    half = 1.5 * max(face.width, face.height) / 2
    np.testing.assert_allclose(face.landmarks68, centre + canonical_68() * half, atol=0.6)


def test_face_aligner_uses_68_points_when_a_landmark_model_is_given(graphs):
    det = InsightFaceDetector("scrfd_tiny", graphs["scrfd"], threads=1)
    lmk = InsightFaceLandmarker("lmk_tiny", graphs["lmk"], threads=1)
    aligner = FaceAligner(det, lmk, size=64, warp="fast")
    img = _block_image(320, 320, 160, 160)
    [(face, aligned)] = aligner(img)
    expected = align(img, face.landmarks68, 64, warp="fast")
    np.testing.assert_array_equal(np.asarray(aligned.image), np.asarray(expected.image))
