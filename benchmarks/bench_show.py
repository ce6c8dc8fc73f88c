"""`artface show` cost: seconds and page size for an N-row build (default 10,000 KaoKore-style rows).

Builds KaoKore `original` (256 px JPEG crops from a local HTTP server, 5 % of them dead) so that the
build itself is quick, then times `show` and reports the folder's size (thumbnails, data, charts).
A baseline in the same run: reading every row's image bytes from the build (what any page must do).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import datasets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--config", default="original")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ARTFACE_CACHE=str(Path(tmp) / "c"), ARTFACE_OUT=str(Path(tmp) / "o"),
                          HF_DATASETS_CACHE=str(Path(tmp) / "h"), ARTFACE_ALLOW_PRIVATE_HOSTS="1")
        from bench_rerun import serve

        from artface.builders import load_builder
        from artface.show import show
        from artface.testing.http_server import FixtureServer

        datasets.disable_progress_bars()
        server = FixtureServer().start()
        src = serve(server, args.n)
        t0 = time.perf_counter()
        build = load_builder("kaokore", args.config, source=src, fetch_retries=0).build().build
        t_build = time.perf_counter() - t0
        server.stop()
        t0 = time.perf_counter()
        for s in build.splits:
            ds = build.dataset(s).cast_column("image", datasets.Image(decode=False))
            sum(len(r["image"]["bytes"]) for r in ds)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = show(build)
        t_show = time.perf_counter() - t0
        files = [p for p in index.parent.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        data = (index.parent / "data.js").stat().st_size
    print(f"{args.config}: {build.num_rows():,} rows ({build.report['failed']} failed); build {t_build:.1f} s")
    print(f"baseline: read every image from the build: {t_read:.2f} s")
    print(f"artface show: {t_show:.1f} s = {t_show / t_read:.1f}x the baseline; page folder {size / 2**20:.1f} MiB "
          f"in {len(files):,} files (data.js {data / 2**20:.2f} MiB; thumbnails lazy-loaded, gallery rendered 200 at a time)")


if __name__ == "__main__":
    main()
