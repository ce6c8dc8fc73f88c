"""Detection and alignment speed on this machine, with ratios measured in the same run.

Prints: detections/s of the default detector at 512 and 1024 px inputs; reference- and
fast-warp aligns/s at 1024 and 256 output; fast/reference speed ratio; PSNR between them; and
tight face crops (the quad leaves the image, so the recipe's padding blend runs), where the fast
warp's blend at the output resolution is compared with the blend on the padded source crop
(the previous fast path) and with the reference, in ms per face and PSNR.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image
from skimage import data

from artface_align import RetinaFaceDetector, align
from artface_align.ffhq import RECIPES, _align_fast, face_quad, load_image


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
    tight_crops(astro, kps, args.min_time)


def tight_crops(astro: np.ndarray, kps: np.ndarray, min_time: float) -> None:
    """Face-filling crops at 1x, 3x and 6x (120-1,380 px): the padding blend runs on every one."""
    cases = []
    for x0, y0, x1, y1 in [(170, 40, 290, 190), (150, 30, 300, 200), (185, 60, 270, 175), (120, 0, 330, 230)]:
        crop = astro[y0:y1, x0:x1]
        for scale in (1, 3, 6):
            img = load_image(Image.fromarray(crop).resize((crop.shape[1] * scale, crop.shape[0] * scale), Image.BICUBIC))
            pts = (kps - [x0, y0]) * scale + (scale - 1) / 2
            cases.append((img, *face_quad(pts, True), pts))
    rec = RECIPES["ffhq"]
    for size in (256, 1024):
        ms, q = {}, {}
        for name, in_output in (("blend on the padded source (before)", False), ("blend at output resolution", True)):
            ms[name] = 1000 / rate(lambda: [_align_fast(img, quad, qsize, size, rec, blend_in_output=in_output)
                                            for img, quad, qsize, _ in cases], min_time) / len(cases)
            q[name] = [psnr(align(img, pts, size, warp="reference").image,
                            _align_fast(img, quad, qsize, size, rec, blend_in_output=in_output).image)
                       for img, quad, qsize, pts in cases]
        for name in ms:
            print(f"tight crops -> {size:4d}: {name:36s} {ms[name]:6.1f} ms/face  PSNR vs reference "
                  f"{np.mean(q[name]):5.1f} dB (min {min(q[name]):5.1f})")
        before, after = ms
        print(f"tight crops -> {size:4d}: speed-up {ms[before] / ms[after]:4.2f}x")


if __name__ == "__main__":
    main()
