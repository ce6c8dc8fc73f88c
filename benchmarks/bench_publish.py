"""Publishing speed: MB/s writing parquet shards, and streaming read img/s from the published folder.

Data: N KaoKore-format records with 256 px JPEG crops served by a local HTTP server, built as
`original` (pixels), published privately (mode pixels) to a temp folder. Baselines measured in the
same run: copying the same bytes with shutil (disk speed), and iterating the builder's own
Arrow output with images decoded.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import datasets

from artface.builders import load_builder
from artface.publish import write_shards
from artface.testing.http_server import FixtureServer

from bench_build import serve  # noqa: E402  (same folder)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    os.environ["ARTFACE_ALLOW_PRIVATE_HOSTS"] = "1"  # the benchmark's upstream is a 127.0.0.1 server
    server = FixtureServer().start()
    src = serve(server, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["ARTFACE_CACHE"] = str(tmp / "cache")
        b = load_builder("kaokore", "original", source=src, cache_dir=str(tmp / "hf"))
        b.download_and_prepare()
        ds = b.as_dataset(split="train")
        out = tmp / "pub"
        t0 = time.perf_counter()
        paths, nbytes = write_shards(ds, out, "data", "train", "100MB")
        wt = time.perf_counter() - t0
        size = sum((out / p).stat().st_size for p in paths)
        t0 = time.perf_counter()
        for p in paths:
            shutil.copyfile(out / p, tmp / "copy.parquet")
        ct = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = sum(1 for r in datasets.load_dataset(str(out), split="train", streaming=True) if r["image"].load() is not None)
        st = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = sum(1 for r in ds if r["image"].load() is not None)
        at = time.perf_counter() - t0
    server.stop()
    print(f"rows {len(ds)}, shards {len(paths)}, parquet {size / 2**20:.1f} MB (arrow estimate {nbytes / 2**20:.1f} MB)")
    print(f"write shards: {size / 2**20 / wt:7.1f} MB/s  (disk copy of the same files: {size / 2**20 / ct:7.1f} MB/s, ratio {wt / ct:.1f}x slower)")
    print(f"streaming read from the published folder: {n / st:7.1f} img/s (decoded)")
    print(f"baseline: builder's Arrow output, decoded: {m / at:7.1f} img/s; streaming/arrow ratio {(n / st) / (m / at):.2f}")


if __name__ == "__main__":
    main()
