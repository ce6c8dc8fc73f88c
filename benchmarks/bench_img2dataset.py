"""Fetch + write against img2dataset, side by side on one local image server: N URLs of JPEGs
(256-1,024 px), artface `build kaokore --config original` (the images as served, into the build) vs
`img2dataset --resize_mode no` (files output, one process, 16 threads: artface's fetch concurrency).
Runs are interleaved, each tool in a fresh process; the per-image cost after start-up is
(wall at N - wall at the small count) / (N - small count), so both tools' start-up cancels out.

img2dataset is not an artface dependency: give the python of an environment that has it.

    python -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset
    python benchmarks/bench_img2dataset.py --img2dataset-python /tmp/i2d/bin/python --counts 1000,10000 --repeat 2
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from artface.testing.http_server import FixtureServer

HERE = Path(__file__).resolve().parents[1]


def jpegs(k: int = 24) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(k):
        side = int(256 + (1024 - 256) * i / (k - 1))
        base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((side, side), Image.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def source(server: FixtureServer, folder: Path, n: int, bodies: list[bytes]) -> Path:
    """KaoKore-format metadata for artface, and the same URLs as a plain list for img2dataset."""
    folder.mkdir(parents=True)
    urls = [server.add(f"/img/{folder.name}/{i}.jpg", bodies[i % len(bodies)]) for i in range(n)]
    (folder / "urls.txt").write_text("\n".join(urls) + "\n")
    (folder / "labels.csv").write_text("image,gender,status,set\n" + "".join(f"{i:08d}.jpg,0,0,train\n" for i in range(n)))
    (folder / "original_tags.txt").write_text("".join(f"{i:08d}.jpg:向き=前\n" for i in range(n)))
    return folder


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}...: {res.stderr[-1500:]}")
    return wall


def run_artface(src: Path, out: Path, tree: Path = HERE) -> float:
    env = {**os.environ, "ARTFACE_ALLOW_PRIVATE_HOSTS": "1", "ARTFACE_OUT": str(out), "ARTFACE_CACHE": str(out / "cache"),
           "HF_DATASETS_CACHE": str(out / "hf"), "PYTHONPATH": str(tree)}
    return timed([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "original", "--source", str(src)], env)


def run_img2dataset(python: str, src: Path, out: Path) -> float:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled"}
    return timed([str(Path(python).parent / "img2dataset"), "--url_list", str(src / "urls.txt"), "--input_format", "txt",
                  "--output_folder", str(out), "--output_format", "files", "--resize_mode", "no",
                  "--processes_count", "1", "--thread_count", "16", "--enable_wandb", "False"], env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--img2dataset-python", default=None,
                    help="python of an environment with img2dataset (default: the one whose img2dataset is on PATH)")
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="another artface checkout, run interleaved as 'baseline' (before/after in one run)")
    args = ap.parse_args()
    if args.img2dataset_python is None:
        found = shutil.which("img2dataset")
        if found is None:
            print("skipped: no img2dataset here (see this file's docstring to install it beside artface)")
            return
        args.img2dataset_python = str(Path(found).parent / "python")
    small, big = map(int, args.counts.split(","))
    server = FixtureServer().start()
    bodies = jpegs()
    walls: dict[tuple[str, int], list[float]] = {}
    tools = ("artface", "img2dataset") + (("baseline",) if args.baseline_tree else ())
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for n in (small, big):
                src = source(server, Path(tmp) / f"src-{rep}-{n}", n, bodies)
                for tool in tools if rep % 2 == 0 else tools[::-1]:
                    out = Path(tmp) / f"out-{tool}-{rep}-{n}"
                    wall = (run_img2dataset(args.img2dataset_python, src, out) if tool == "img2dataset" else
                            run_artface(src, out, HERE if tool == "artface" else args.baseline_tree))
                    walls.setdefault((tool, n), []).append(wall)
                    print(f"run {rep}: {tool:12s} {n:7,d} URLs {wall:7.1f} s", flush=True)
    print(f"\n{'tool':12s} {'wall ' + str(small):>12s} {'wall ' + str(big):>12s} {'ms/img after start-up':>22s}")
    per = {}
    for tool in tools:
        a, b = statistics.median(walls[(tool, small)]), statistics.median(walls[(tool, big)])
        per[tool] = 1000 * (b - a) / (big - small)
        print(f"{tool:12s} {a:12.1f} {b:12.1f} {per[tool]:22.2f}")
    print(f"artface / img2dataset per image after start-up: {per['artface'] / per['img2dataset']:.2f}x; "
          f"at {big:,} URLs: {statistics.median(walls[('artface', big)]) / statistics.median(walls[('img2dataset', big)]):.2f}x")
    if args.baseline_tree:
        print(f"baseline / img2dataset per image after start-up: {per['baseline'] / per['img2dataset']:.2f}x")
    server.stop()


if __name__ == "__main__":
    main()
