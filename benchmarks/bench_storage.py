"""Bytes on disk per build: how many copies of each image a build keeps.

A KaoKore `original` build (the images as served) and an `aligned` build (256 px) of N records
(default 500) from a local HTTP server, then the bytes in the fetch cache, the work store (outcomes,
for resuming) and the finished build, and their sum per byte of output. With `--baseline-tree DIR`
(another checkout, e.g. a `git worktree` of an older commit) the same builds run on that code too,
in the same run. Each is measured again after `artface cache clean kaokore --downloads` (where the
checkout has it): the downloads the finished build no longer needs removed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from artface.testing.http_server import FixtureServer
from bench_build import serve


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_tree(tree: Path, src: str, work: Path, config: str) -> dict[str, int]:
    env = dict(os.environ, PYTHONPATH=str(tree), ARTFACE_CACHE=str(work / "cache"), ARTFACE_OUT=str(work / "out"),
               HF_DATASETS_CACHE=str(work / "hf"), ARTFACE_ALLOW_PRIVATE_HOSTS="1")
    extra = ["--set", "size=256"] if config == "aligned" else []
    res = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", config, "--source", src, *extra],
                         env=env, cwd=work, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{tree}: build failed: {res.stderr.strip()[-500:]}")
    return sizes(work)


def sizes(work: Path) -> dict[str, int]:
    cache = work / "cache"
    return {"fetch cache": size(cache / "fetch"), "work store": size(cache) - size(cache / "fetch") - size(cache / "models"),
            "finished build": size(work / "out")}


def drop_downloads(tree: Path, work: Path) -> dict[str, int] | None:
    """``artface cache clean kaokore --downloads`` (None where that checkout has no such option)."""
    env = dict(os.environ, PYTHONPATH=str(tree), ARTFACE_CACHE=str(work / "cache"), ARTFACE_OUT=str(work / "out"))
    res = subprocess.run([sys.executable, "-m", "artface.cli", "cache", "clean", "kaokore", "--downloads"], env=env,
                         cwd=work, capture_output=True, text=True)
    return sizes(work) if res.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--baseline-tree", type=Path, default=None, help="another artface checkout to compare with")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    trees = {"this": here, **({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})}
    server = FixtureServer().start()
    try:
        src = serve(server, args.n)
        for config in ("original", "aligned"):
            for label, tree in trees.items():
                with tempfile.TemporaryDirectory() as tmp:
                    got = run_tree(tree, src, Path(tmp), config)
                    dropped = drop_downloads(tree, Path(tmp))
                for what, sizes_ in ((label, got), (f"{label}, --downloads dropped", dropped)):
                    if sizes_ is None:
                        continue
                    total = sum(sizes_.values())
                    parts = ", ".join(f"{k} {v / 2**20:6.1f} MiB" for k, v in sizes_.items())
                    print(f"{config:8s} {what:28s} {args.n} records: {parts}; "
                          f"{total / sizes_['finished build']:.2f} bytes on disk per byte of output")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
