import io

import numpy as np
import pytest
from PIL import Image

from artface_align import Face, detect_faces


def _check_face_geometry(face: Face) -> None:
    x0, y0, x1, y1 = face.bbox
    for x, y in face.kps5:
        assert x0 <= x <= x1 and y0 <= y <= y1, "key point outside the box"
    le, re, nose, ml, mr = face.kps5
    assert le[0] < re[0] and ml[0] < mr[0], "left/right order is the viewer's"
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1]), "eyes above nose above mouth"


def test_astronaut_has_exactly_one_face(astronaut, detector):
    faces = detect_faces(astronaut, detector)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.9
    _check_face_geometry(f)
    assert 60 < f.width < 160 and 80 < f.height < 180  # her face is ~100 px wide at 512


def test_points_are_floats_not_rounded(astronaut, detector):
    f = detect_faces(astronaut, detector)[0]
    assert not np.allclose(f.kps5, np.round(f.kps5))


def test_exif_rotated_file_gives_the_same_points(astronaut, detector, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CW to view": the stored pixels are rotated 90 CCW... PIL undoes it
    stored = Image.fromarray(astronaut).transpose(Image.Transpose.ROTATE_270)
    path = tmp_path / "exif8.png"
    stored.save(path, exif=exif)
    upright = detect_faces(astronaut, detector)[0]
    rotated = detect_faces(path, detector)
    assert len(rotated) == 1
    np.testing.assert_allclose(rotated[0].kps5, upright.kps5, atol=1.0)


def test_mirrored_input_gives_mirrored_points(astronaut, detector):
    w = astronaut.shape[1]
    a = detect_faces(astronaut, detector)[0]
    b = detect_faces(np.ascontiguousarray(astronaut[:, ::-1]), detector)
    assert len(b) == 1
    mirrored = np.column_stack([w - 1 - b[0].kps5[:, 0], b[0].kps5[:, 1]])[[1, 0, 2, 4, 3]]
    _check_face_geometry(b[0])
    np.testing.assert_allclose(mirrored, a.kps5, atol=3.0)


def test_no_face_gives_empty_list(detector):
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((300, 400, 3), 128, np.uint8), detector) == []
    assert detect_faces(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), detector) == []


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_modes_still_find_the_face(astronaut, detector, mode):
    img = Image.fromarray(astronaut).convert(mode)
    faces = detect_faces(img, detector)
    assert len(faces) == 1
    _check_face_geometry(faces[0])


def test_large_image_maps_back_to_source_pixels(astronaut, detector):
    import cv2

    big = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.BICUBIC))
    faces = detect_faces(big, detector)  # the detector runs at <= 640 px and maps back
    assert len(faces) == 1
    seen = cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA)  # what the network saw
    small = detect_faces(seen, detector)[0]
    np.testing.assert_allclose(faces[0].kps5, (small.kps5 + 0.5) * 3.2 - 0.5, atol=1e-3)
    np.testing.assert_allclose(faces[0].bbox, (small.bbox + 0.5) * 3.2 - 0.5, atol=1e-3)


def test_bytes_and_path_inputs(astronaut, detector, tmp_path):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    (tmp_path / "a.png").write_bytes(buf.getvalue())
    a = detect_faces(buf.getvalue(), detector)[0]
    b = detect_faces(tmp_path / "a.png", detector)[0]
    np.testing.assert_allclose(a.kps5, b.kps5)


def test_default_detector_is_offline_retinaface(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1


def test_a_thin_strip_is_not_padded_into_gigabytes():
    """The padded view of a 2 x 40,000 px strip: padded before it is brought down it would be
    20,002 x 60,000 px (3.6 GB); the detector's process stays small."""
    import subprocess
    import sys

    code = ("import numpy as np, resource\n"
            "from artface_align.detect import RetinaFaceDetector\n"
            "strip = np.full((2, 40000, 3), 200, np.uint8)\n"
            "assert RetinaFaceDetector().detect(strip) == []\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    peak_kib = int(res.stdout.split()[-1])
    assert peak_kib < 1 << 20, f"peak RSS {peak_kib >> 10} MiB"
