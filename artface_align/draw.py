"""Preview drawings: boxes and points on an image (used by the demo and dataset cards)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .types import Face

KPS_COLOURS = [(255, 0, 0), (255, 220, 0), (255, 0, 255), (0, 200, 0), (0, 120, 255)]


def draw_faces(image: Image.Image, faces: Sequence[Face]) -> Image.Image:
    """A copy of ``image`` with each face's box, score, 5 key points and 68 landmarks."""
    out = image.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    r = max(2, round(max(out.size) / 300))
    for f in faces:
        d.rectangle(f.bbox.tolist(), outline=(0, 255, 0), width=r)
        d.text((f.bbox[0] + r, f.bbox[1] + r), f"{f.score:.2f}", fill=(0, 255, 0))
        if f.landmarks68 is not None:
            for x, y in f.landmarks68:
                d.ellipse([x - r / 2, y - r / 2, x + r / 2, y + r / 2], fill=(0, 255, 255))
        for (x, y), c in zip(f.kps5, KPS_COLOURS):
            d.ellipse([x - r, y - r, x + r, y + r], fill=c)
    return out


def draw_points(image: Image.Image, points: np.ndarray, colour=(0, 255, 255)) -> Image.Image:
    out = image.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    r = max(2, round(max(out.size) / 300))
    for x, y in np.asarray(points).reshape(-1, 2):
        d.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return out


def grid(images: Sequence[Image.Image], cell: int = 256, cols: int = 4) -> Image.Image:
    """Tile images into one preview grid."""
    rows = max(1, -(-len(images) // cols))
    canvas = Image.new("RGB", (cols * cell, rows * cell), (255, 255, 255))
    for i, im in enumerate(images):
        canvas.paste(im.convert("RGB").resize((cell, cell)), ((i % cols) * cell, (i // cols) * cell))
    return canvas
