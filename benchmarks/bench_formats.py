"""Aligned-face encodings: bytes per image, encode/decode ms and PSNR for png, jpeg and webp.

Faces: the astronaut photo aligned (FFHQ recipe) from 16 crops at 256 and 1024 px. The baseline
is PNG (lossless) measured in the same run; ratios are against it.
"""
from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from artface.pipeline import encode_image
from artface.testing.images import astronaut_face_crop
from artface_align import FaceAligner


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    for size in (256, 1024):
        aligner = FaceAligner(size=size, warp="fast")
        faces = []
        for i in range(16):
            res = aligner(Image.open(io.BytesIO(astronaut_face_crop(i, size=512))))
            faces.append(res[0][1].image)
        rows = {}
        for fmt, q in (("png", None), ("jpeg", 90), ("jpeg", 95), ("webp", 90)):
            t0 = time.perf_counter()
            blobs = [encode_image(f, fmt, q or 90) for f in faces]
            enc = (time.perf_counter() - t0) / len(faces) * 1e3
            t0 = time.perf_counter()
            decoded = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]
            dec = (time.perf_counter() - t0) / len(faces) * 1e3
            p = np.mean([psnr(np.asarray(f), d) for f, d in zip(faces, decoded)])
            rows[f"{fmt}{'' if q is None else f' q{q}'}"] = (np.mean([len(b) for b in blobs]), enc, dec, p)
        base = rows["png"]
        print(f"size {size}: bytes/img, encode ms, decode ms, PSNR dB (ratios vs png)")
        for name, (nb, enc, dec, p) in rows.items():
            print(f"  {name:8s} {nb / 1024:7.1f} KB ({nb / base[0]:.2f}x)  enc {enc:6.1f} ms ({enc / base[1]:.2f}x)  "
                  f"dec {dec:6.1f} ms ({dec / base[2]:.2f}x)  PSNR {p:5.1f}")


if __name__ == "__main__":
    main()
