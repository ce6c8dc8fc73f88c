import numpy as np
import pytest
from PIL import Image

from artface_align import align, align_face, detect_faces, face_quad, ffhq_points, transform_points


def psnr(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def test_ffhq_points_from_5_and_68():
    kps = np.arange(10, dtype=float).reshape(5, 2)
    np.testing.assert_array_equal(ffhq_points(kps), kps[[0, 1, 3, 4]])
    lm = np.zeros((68, 2))
    lm[36:42] = [10, 20]
    lm[42:48] = [30, 20]
    lm[48], lm[54] = [12, 40], [28, 40]
    np.testing.assert_array_equal(ffhq_points(lm), [[10, 20], [30, 20], [12, 40], [28, 40]])
    with pytest.raises(ValueError, match="got 3 points"):
        ffhq_points(np.zeros((3, 2)))


def test_degenerate_points_clear_error(astronaut):
    with pytest.raises(ValueError, match="degenerate"):
        align(astronaut, np.zeros((4, 2)), 64)


def test_quad_matches_recipe_by_hand():
    # eyes 40 px apart on y=100, mouth 48 px below: x = e - rot90(m) = (40, 0) + (48, 0)... normalised
    pts = np.array([[80.0, 100], [120, 100], [85, 148], [115, 148]])
    quad, qsize = face_quad(pts)
    # |eye_to_eye| * 2 = 80 ; |eye_to_mouth| * 1.8 = 86.4 -> x has length 86.4, quad side 172.8
    assert qsize == pytest.approx(172.8)
    c = np.array([100, 100 + 4.8])
    np.testing.assert_allclose(quad, [c + [-86.4, -86.4], c + [-86.4, 86.4], c + [86.4, 86.4], c + [86.4, -86.4]])


def test_transform_sends_quad_to_output_square(astronaut):
    f = detect_faces(astronaut)[0]
    a = align(astronaut, f.kps5, 256)
    corners = transform_points(a.matrix, a.quad)
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]], atol=1e-6)


@pytest.mark.parametrize("mode", ["reference", "fast"])
def test_synthetic_face_eyes_land_on_canonical_positions(mode):
    # A symmetric frontal "face" drawn as dots; eye_to_eye is perpendicular to eye_to_mouth,
    # so the recipe puts the eyes on one horizontal line at known positions.
    img = Image.new("RGB", (400, 400), (90, 90, 90))
    pts = np.array([[170.0, 180], [230, 180], [178, 250], [222, 250]])
    arr = np.asarray(img).copy()
    yy, xx = np.mgrid[:400, :400]
    for x, y in pts:
        arr[(xx - x) ** 2 + (yy - y) ** 2 <= 16] = 255
    size = 256
    a = align(arr, pts, size, warp=mode)
    # expected: qsize = max(2*60, 1.8*70) = 126 -> 2|x| = 252; eyes at centre -+ 30/252*256, up by 7/252*256
    scale = size / 252.0
    expect = np.array([[128 - 30 * scale, 128 - 7 * scale], [128 + 30 * scale, 128 - 7 * scale]]) - 0.5
    np.testing.assert_allclose(a.map_points(pts[:2]), expect, atol=1e-6)
    # the dots really are there in the pixels: brightness centroid of each eye blob
    out = np.asarray(a.image, float).mean(axis=2)
    for ex, ey in expect:
        x0, y0 = int(ex) - 8, int(ey) - 8
        win = out[y0 : y0 + 17, x0 : x0 + 17] - 90
        win[win < 20] = 0
        cy, cx = np.argwhere(win > 0).mean(axis=0) if win.any() else (np.nan, np.nan)
        wy, wx = np.mgrid[:17, :17]
        cx = (win * wx).sum() / win.sum() + x0
        cy = (win * wy).sum() / win.sum() + y0
        assert abs(cx - ex) < 1.0 and abs(cy - ey) < 1.0


def test_aligned_astronaut_eyes_are_level(astronaut):
    f = detect_faces(astronaut)[0]
    a = align(astronaut, f.kps5, 256, warp="reference")
    again = detect_faces(a.image)
    assert len(again) == 1
    le, re = again[0].kps5[:2]
    assert abs(le[1] - re[1]) < 2.0  # eyes on a horizontal line (within two pixels at 256)
    np.testing.assert_allclose(again[0].kps5[:2], a.map_points(f.kps5[:2]), atol=4.0)


@pytest.mark.parametrize("size", [256, 1024])
def test_fast_mode_agrees_with_reference(astronaut, size):
    # 40 dB = RMS error of 2.5 grey levels: invisible, and the target the benchmark reports.
    f = detect_faces(astronaut)[0]
    ref = align_face(astronaut, f.kps5, size, warp="reference")
    fast = align_face(astronaut, f.kps5, size, warp="fast")
    assert ref.size == fast.size == (size, size)
    assert psnr(ref, fast) > 40.0


def test_fast_mode_agrees_when_face_leaves_the_image(astronaut):
    # crop so the face quad sticks out of the left and top edges: padding + blur blend kicks in
    f = detect_faces(astronaut)[0]
    crop = astronaut[90:, 190:]
    pts = f.kps5 - [190, 90]
    ref = align_face(crop, pts, 256, warp="reference")
    fast = align_face(crop, pts, 256, warp="fast")
    assert psnr(ref, fast) > 32.0


@pytest.mark.parametrize("side, source", [(150, 256), (190, 640), (230, 1024)])
def test_fast_mode_agrees_on_face_filling_crops(side, source):
    # KaoKore-like crops: the quad leaves the image on every side, so the blend runs; at 256 the fast
    # warp blends after area-averaging its 2x oversampled warp (bench_align: 43.9 dB mean, 41.0 min)
    from artface.testing.images import tight_crop

    img = tight_crop(side, source)
    pts = detect_faces(img)[0].kps5
    assert psnr(align_face(img, pts, 256, warp="reference"), align_face(img, pts, 256, warp="fast")) > 38.0


def test_68_point_input_aligns_like_its_4_points(astronaut):
    f = detect_faces(astronaut)[0]
    le, re, _, ml, mr = f.kps5
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48], lm[48], lm[54] = le, re, ml, mr
    a = np.asarray(align_face(astronaut, lm, 128))
    b = np.asarray(align_face(astronaut, f.kps5, 128))
    np.testing.assert_array_equal(a, b)


def test_metfaces_recipe_supersamples_output_times_four(astronaut):
    f = detect_faces(astronaut)[0]
    out = align_face(astronaut, f.kps5, 200, recipe="metfaces")
    assert out.size == (200, 200)


def test_bad_warp_and_size(astronaut):
    pts = detect_faces(astronaut)[0].kps5
    with pytest.raises(ValueError, match="warp must be 'reference' or 'fast'"):
        align(astronaut, pts, 64, warp="nope")
    with pytest.raises(ValueError, match="size"):
        align(astronaut, pts, 0)


def test_mode_is_the_old_spelling_of_warp(astronaut):
    """One word, one meaning: the warp is ``warp=``; ``mode=`` still works for one release, with a warning."""
    import warnings

    from artface_align import FaceAligner

    f = detect_faces(astronaut)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = align(astronaut, f.kps5, 64, mode="reference")
        aligner = FaceAligner(size=64, mode="reference")
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert aligner.warp == "reference"
    np.testing.assert_array_equal(np.asarray(old.image), np.asarray(align(astronaut, f.kps5, 64, warp="reference").image))
