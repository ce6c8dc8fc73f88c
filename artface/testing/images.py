"""Fixture images made from the real face photo that scikit-image ships."""
from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image


def astronaut_face_crop(seed: int, size: int = 256, fmt: str = "JPEG") -> bytes:
    """The astronaut's face at a seed-dependent position and scale, as encoded bytes."""
    from skimage import data

    rng = np.random.default_rng(seed)
    img = Image.fromarray(data.astronaut())
    # her face spans about x 178-273, y 57-177 in the 512 px photo
    side = int(rng.integers(170, 260))
    cx, cy = 225 + int(rng.integers(-20, 20)), 120 + int(rng.integers(-15, 15))
    box = (cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
    crop = img.crop(box).resize((size, size), Image.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


def blank(size: int = 256, fmt: str = "JPEG") -> bytes:
    """A picture with no face in it."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 180, 150)).save(buf, fmt)
    return buf.getvalue()


# Where the astronaut's key points are in the 512 px photo (RetinaFace-mnet0.25, rounded).
ASTRONAUT_KPS5 = np.array([[204.8, 100.8], [247.4, 103.4], [223.6, 129.2], [202.5, 138.1], [244.2, 140.6]])


def astronaut_scene(scale: float, offset: tuple[int, int], canvas: tuple[int, int], fmt: str = "PNG") -> bytes:
    """The astronaut photo scaled and pasted on a grey canvas (a stand-in for a painting)."""
    from skimage import data

    img = Image.fromarray(data.astronaut())
    img = img.resize((round(512 * scale), round(512 * scale)), Image.LANCZOS)
    out = Image.new("RGB", canvas, (120, 110, 100))
    out.paste(img, offset)
    buf = io.BytesIO()
    out.save(buf, fmt)
    return buf.getvalue()


def synthetic_68(kps5: np.ndarray) -> np.ndarray:
    """68 iBUG-ordered points consistent with five key points (eyes, nose, mouth corners)."""
    le, re, nose, ml, mr = np.asarray(kps5, dtype=float)
    eye_r = np.linalg.norm(re - le) * 0.18
    ang = np.linspace(np.pi, -np.pi, 6, endpoint=False)
    ring = np.column_stack([np.cos(ang), 0.45 * np.sin(ang)]) * eye_r
    pts = np.zeros((68, 2))
    pts[36:42], pts[42:48] = le + ring, re + ring
    t = np.linspace(0, 1, 7)[:, None]
    pts[48:55] = ml + (mr - ml) * t  # 48 and 54 are the corners
    pts[55:60] = (ml + (mr - ml) * np.linspace(1, 0, 7)[1:6, None]) + [0, 4]
    pts[60:68] = ml + (mr - ml) * np.linspace(0.1, 0.9, 8)[:, None]
    pts[27:36] = nose + (nose - (le + re) / 2) * np.linspace(-1, 0.2, 9)[:, None]
    centre, half = (le + re) / 2, np.linalg.norm(re - le)
    a = np.linspace(np.pi, 0, 17)
    pts[0:17] = centre + np.column_stack([np.cos(a) * half * 1.1, np.sin(a) * half * 1.6])
    pts[17:22] = le + [-eye_r, -eye_r * 2] + np.linspace(0, 1, 5)[:, None] * [eye_r * 2, 0]
    pts[22:27] = re + [-eye_r, -eye_r * 2] + np.linspace(0, 1, 5)[:, None] * [eye_r * 2, 0]
    return pts


# -- art-like variants of the real photo (detection tests and benchmarks/bench_detect.py) -----------

def tight_crop(side: int, out: int) -> Image.Image:
    """The astronaut's face filling a ``side`` px square, resized to ``out`` px (the KaoKore case)."""
    from skimage import data

    img = Image.fromarray(data.astronaut())
    cx, cy = 225, 117
    return img.crop((cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)).resize((out, out), Image.LANCZOS)


def sepia(im: Image.Image) -> Image.Image:
    g = np.asarray(im.convert("L"), float)
    return Image.fromarray(np.clip(np.stack([g * 1.07, g * 0.74, g * 0.43], -1), 0, 255).astype(np.uint8))


def line_art(im: Image.Image) -> Image.Image:
    import cv2

    return Image.fromarray(255 - cv2.Canny(np.asarray(im.convert("L")), 60, 140)).convert("RGB")


def flat_paint(im: Image.Image) -> Image.Image:
    """Posterised and smoothed, like the flat colours of a picture scroll."""
    from PIL import ImageFilter, ImageOps

    return ImageOps.posterize(im.convert("RGB").filter(ImageFilter.MedianFilter(5)), 3)


def half_hidden(im: Image.Image) -> Image.Image:
    """A crude side view: the far side of the face replaced by its mean colour."""
    a = np.asarray(im.convert("RGB")).copy()
    w = a.shape[1]
    a[:, int(w * 0.62):] = a[:, int(w * 0.62):].mean((0, 1))
    return Image.fromarray(a)


ART_STYLES = {"photo": lambda x: x.convert("RGB"), "sepia": sepia, "line": line_art, "flat": flat_paint,
              "profile": half_hidden}


@functools.lru_cache(maxsize=1)
def _astronaut_mesh() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face mesh (468 points, source pixels) and its depth, found once."""
    from skimage import data

    from artface_align.detect import make_detector
    from artface_align.landmarks import make_landmarker

    rgb = data.astronaut()
    face = make_landmarker("face_mesh")(rgb, make_detector("cascade").detect(rgb)[0])
    return face.extra["mesh468"], face.extra["mesh468_depth"]


def turned_astronaut(yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo with her face turned ``yaw`` degrees about the vertical axis (positive:
    her nose towards the viewer's right), and her 5 key points in it. Her face mesh is turned in 3-D
    and the photo warped piecewise-affinely onto the turned mesh (points hidden by nearer ones do not
    steer it; hair and background stay): a stand-in for three-quarter views, credible up to ~30
    degrees, crude beyond. The points are the turned mesh's (``kps5_from_mesh``)."""
    from skimage import data
    from skimage.transform import PiecewiseAffineTransform, warp

    from artface_align.points import kps5_from_mesh

    rgb = data.astronaut()
    mesh, depth = _astronaut_mesh()
    pts = np.column_stack([mesh, depth])
    centre = pts.mean(0)
    t = np.radians(-yaw)
    q = pts - centre
    x = q[:, 0] * np.cos(t) + q[:, 2] * np.sin(t)
    z = -q[:, 0] * np.sin(t) + q[:, 2] * np.cos(t)
    turned = np.column_stack([x + centre[0], q[:, 1] + centre[1]])
    size = float(np.ptp(turned, axis=0).max())
    near = ((turned[:, None, :] - turned[None, :, :]) ** 2).sum(-1) < (0.03 * size) ** 2
    hidden = (near & (z[None, :] < z[:, None] - 0.02 * size)).any(1)  # a nearer point covers it
    radius = 1.9 * float(np.abs(mesh - mesh.mean(0)).max())
    ring = np.array([[centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)]
                     for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)])
    h, w = rgb.shape[:2]
    border = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [w / 2, 0], [w / 2, h - 1], [0, h / 2], [w - 1, h / 2]])
    dst, src = np.vstack([turned[~hidden], ring, border]), np.vstack([mesh[~hidden], ring, border])  # output -> input
    if hasattr(PiecewiseAffineTransform, "from_estimate"):  # scikit-image >= 0.26
        tf = PiecewiseAffineTransform.from_estimate(dst, src)
    else:
        tf = PiecewiseAffineTransform()
        tf.estimate(dst, src)
    out = warp(rgb, tf, output_shape=(h, w), preserve_range=True).astype(np.uint8)
    return out, kps5_from_mesh(turned)
