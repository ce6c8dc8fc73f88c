"""Near-duplicate detection: threshold choice, hashes per second, search time.

Planted duplicates: 15 distinct pictures (scikit-image's astronaut, camera man, coffee, cat,
rocket, ... cut to 256 px squares) and five altered copies of each (JPEG q40, resized to half and
back, recoloured to sepia, 4% cropped off and resized, mirrored). Recall = altered copies found
next to their original; false pairs = pairs of different pictures, per threshold. The baseline for
search speed is the numpy search the compiled kernel replaced, on the same hashes in the same run;
the multi-index search is timed against the exhaustive kernel for thresholds 8-32, on spread-out and
on clustered hashes (``--sizes 1000000``: the million-hash figures, about 5 min for the exhaustive run).
"""
from __future__ import annotations

import argparse
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageOps
from skimage import data

from artface.dedup import image_hashes
from artface import multi_index
from artface.hamming_search import exhaustive_pairs, pairs_within
from artface.testing.hamming import numpy_pairs_within
from artface.testing.images import sepia


def pictures() -> list[Image.Image]:
    names = ["astronaut", "camera", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
             "retina", "coins", "page", "text", "brick", "grass", "gravel", "moon"]
    out = []
    for n in names:
        a = getattr(data, n)()
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]
        s = min(a.shape[:2])
        out.append(Image.fromarray(np.ascontiguousarray(a[:s, :s])).resize((256, 256), Image.LANCZOS))
    return out


def altered(im: Image.Image) -> list[Image.Image]:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=40)
    w = im.width
    return [Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), im.resize((w // 2, w // 2)).resize((w, w)),
            sepia(im), im.crop((5, 5, w - 5, w - 5)).resize((w, w)), ImageOps.mirror(im)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000],
                    help="more hash counts to time the kernel alone on (1000000: about 5 min here)")
    args = ap.parse_args()
    base = pictures()
    imgs, owner = [], []
    for k, im in enumerate(base):
        for v in [im, *altered(im)]:
            imgs.append(v)
            owner.append(k)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        h = np.stack(list(pool.map(image_hashes, imgs)))
    rate = len(imgs) / (time.perf_counter() - t0)
    owner = np.array(owner)
    planted = sum(len(altered(base[0])) for _ in base)
    print(f"{len(base)} distinct pictures, {planted} planted copies; hashing {rate:.0f} img/s on {os.cpu_count()} cores "
          "(pHash + dHash, and of the mirror)")
    for t in (8, 12, 16, 20, 24, 28, 32, 40):
        i, j, _ = pairs_within(h, t)
        same = owner[i] == owner[j]
        found = {(int(a), int(b)) for a, b in zip(i[same], j[same])}
        recall = sum(1 for k in range(len(base)) for v in range(1, 6) if (k * 6, k * 6 + v) in found) / planted
        print(f"  threshold {t:2d}: recall {recall:.0%} of planted copies, false pairs {int((~same).sum())}")
    i, j, d = pairs_within(h, 128)
    distinct = owner[i] != owner[j]
    copies = ~distinct
    print(f"  closest distinct pictures: {int(d[distinct].min())} bits; farthest planted copy: {int(d[copies].max())} bits "
          f"(of 128)")
    dist = {(int(a), int(b)): int(x) for a, b, x in zip(i, j, d)}
    kinds = ("JPEG q40", "half size and back", "sepia", "4% crop", "mirror")  # altered()'s order
    print("  distance of each alteration to its original, median / max over the pictures: " + ", ".join(
        f"{kind} {int(np.median(ds))}/{max(ds)}" for v, kind in enumerate(kinds, 1)
        for ds in [[dist[(k * 6, k * 6 + v)] for k in range(len(base))]]))
    rng = np.random.default_rng(0)
    print("exact search (threshold 28), compiled kernel vs the numpy search it replaced, same hashes, same run:")
    for n in (10_000, 50_000):
        fake = rng.integers(0, 2**63, size=(n, 4), dtype=np.int64).astype(np.uint64)
        exhaustive_pairs(fake[:100], 28)  # compiled (or loaded from numba's cache) before the clock starts
        t0 = time.perf_counter()
        got = exhaustive_pairs(fake, 28)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        want = numpy_pairs_within(fake, 28)
        dt_np = time.perf_counter() - t0
        same = list(zip(*(x.tolist() for x in got))) == want
        print(f"  {n:>9,} hashes: kernel {dt:6.2f} s ({n * (n - 1) / 2 / dt / 1e6:5.0f} M pairs/s), numpy {dt_np:6.2f} s "
              f"({n * (n - 1) / 2 / dt_np / 1e6:4.0f} M pairs/s): {dt_np / dt:.1f}x, pairs identical: {same}")
    exhaustive_s = {}
    for n in args.sizes:
        fake = rng.integers(0, 2**63, size=(n, 4), dtype=np.int64).astype(np.uint64)
        t0 = time.perf_counter()
        exhaustive_pairs(fake, 28)
        dt = exhaustive_s[n] = time.perf_counter() - t0
        print(f"  {n:>9,} hashes: kernel {dt:6.1f} s ({n * (n - 1) / 2 / dt / 1e6:5.0f} M pairs/s)")
    print("multi-index search vs the exhaustive kernel, same hashes, same run (uniform random hashes: the index's "
          "best case; clustered ones crowd its buckets, and its plan, measured on them, says so):")
    for n in sorted({50_000, *args.sizes}):
        fake = rng.integers(0, 2**63, size=(n, 4), dtype=np.int64).astype(np.uint64)
        fake[n - n // 100:] = fake[:n // 100] ^ np.uint64(0b1011)  # 1% near copies, 3 bits apart
        if n not in exhaustive_s:
            t0 = time.perf_counter()
            exhaustive_pairs(fake, 28)
            exhaustive_s[n] = time.perf_counter() - t0
        for t in (8, 12, 16, 20, 32):
            t0 = time.perf_counter()
            plan = multi_index.plan(fake, t)
            dt_plan = time.perf_counter() - t0
            if not plan.pays:
                print(f"  {n:>9,} hashes, threshold {t:2d}: plan {dt_plan:.2f} s says the index visits more than every pair "
                      f"({plan.cost / (n / 2):.1f}x): exhaustive, {exhaustive_s[n]:.1f} s")
                continue
            t0 = time.perf_counter()
            got = multi_index.pairs_within(fake, t, chunks=plan.chunks)
            dt = time.perf_counter() - t0
            same = ""
            if n <= 100_000:
                want = exhaustive_pairs(fake, t)
                same = f", pairs identical: {all(np.array_equal(a, b) for a, b in zip(got, want))}"
            print(f"  {n:>9,} hashes, threshold {t:2d}: index {dt + dt_plan:6.2f} s ({plan.chunks} chunks, "
                  f"{plan.sub_radius} bits around each, tables {plan.table_bytes / 2**20:.0f} MiB; plan {dt_plan:.2f} s), exhaustive {exhaustive_s[n]:6.1f} s: "
                  f"{exhaustive_s[n] / (dt + dt_plan):5.1f}x, {len(got[0]):,} pairs{same}")
    clustered_run(rng)


def clustered(n: int, centres: int, max_flips: int, rng: np.random.Generator) -> np.ndarray:
    """Hashes in clusters: each row a random centre with up to ``max_flips`` of its 128 bits flipped
    (pictures of one kind; aligned faces share their layout)."""
    c = rng.integers(0, 2**63, size=(centres, 4), dtype=np.int64).astype(np.uint64)
    h = c[rng.integers(0, centres, n)].copy()
    flips = rng.integers(0, max_flips, n)
    for b in range(max_flips):
        bit = rng.integers(0, 128, n)
        for word, sel in ((0, (flips > b) & (bit < 64)), (1, (flips > b) & (bit >= 64))):
            h[sel, word] ^= np.uint64(1) << (bit[sel] % 64).astype(np.uint64)
    return h


def clustered_run(rng: np.random.Generator, n: int = 200_000) -> None:
    print(f"clustered hashes ({n:,}): the plan's choice against the exhaustive kernel, same hashes, same run:")
    for centres, max_flips in ((20_000, 30), (2_000, 40), (200, 20)):
        h = clustered(n, centres, max_flips, rng)
        for t in (8, 16):
            t0 = time.perf_counter()
            want = exhaustive_pairs(h, t)
            dt_ex = time.perf_counter() - t0
            t0 = time.perf_counter()
            plan = multi_index.plan(h, t)
            got = multi_index.pairs_within(h, t, chunks=plan.chunks)
            dt = time.perf_counter() - t0
            same = all(np.array_equal(a, b) for a, b in zip(got, want))
            print(f"  {centres:>6,} centres, up to {max_flips} bits flipped, threshold {t:2d}: {len(want[0]):>11,} pairs; "
                  f"index {dt:6.1f} s (plan: {plan.cost / (n / 2):.2f}x the exhaustive cost, "
                  f"{'chosen' if plan.pays else 'not chosen'}), exhaustive {dt_ex:6.1f} s, pairs identical: {same}")


if __name__ == "__main__":
    main()
