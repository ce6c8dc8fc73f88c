"""Detection and alignment speed on this machine, with ratios measured in the same run.

Prints: detections/s of the default detector at 512 and 1024 px inputs; reference- and
fast-mode aligns/s at 1024 and 256 output; fast/reference speed ratio; PSNR between them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image
from skimage import data

from artface_align import RetinaFaceDetector, align


def rate(fn, min_time: float = 2.0, min_runs: int = 3) -> float:
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < min_runs or time.perf_counter() - t0 < min_time:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def psnr(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()
    astro = data.astronaut()
    det = RetinaFaceDetector()
    print(f"default detector: {det.name} sha256 {det.model_sha256[:16]}... (views {det.views})")
    for side in (512, 1024):
        img = np.asarray(Image.fromarray(astro).resize((side, side), Image.BICUBIC))
        print(f"detect {side:4d}px: {rate(lambda: det.detect(img), args.min_time):7.1f} detections/s")
    # align from a 2048 px source so the 1024 output is not an upscale
    src = Image.fromarray(astro).resize((2048, 2048), Image.BICUBIC)
    kps = det.detect(np.asarray(src))[0].kps5
    for size in (1024, 256):
        ref = rate(lambda: align(src, kps, size, warp="reference"), args.min_time)
        fast = rate(lambda: align(src, kps, size, warp="fast"), args.min_time)
        q = psnr(align(src, kps, size, warp="reference").image, align(src, kps, size, warp="fast").image)
        print(f"align {size:4d}: reference {ref:6.2f}/s  fast {fast:7.1f}/s  ratio {fast / ref:6.1f}x  PSNR {q:5.1f} dB")
    # PSNR on the native 512 px photo too (more detail per output pixel than the upscale)
    kps = det.detect(astro)[0].kps5
    for size in (1024, 256):
        q = psnr(align(astro, kps, size, warp="reference").image, align(astro, kps, size, warp="fast").image)
        print(f"PSNR fast vs reference, native 512 px source, output {size}: {q:5.1f} dB")


if __name__ == "__main__":
    main()
