"""Fixture images made from the real face photo that scikit-image ships."""
from __future__ import annotations

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
