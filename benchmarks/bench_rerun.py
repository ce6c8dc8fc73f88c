"""What reading a finished build costs: requests and seconds of a re-run, a publish and an export.

A KaoKore `aligned` build of N records (default 1,000) from a local HTTP server, 5 % of the image
URLs dead (404) and 2 % of the images faceless (blank), built once with `artface build`; then the
same `artface build` again, again with `--retry-failed` (the failed records are tried again, the written
ones read back from where their images are kept), `artface publish --mode urls` to a folder and `artface export
--format webdataset`, each counted in HTTP requests on the server (metadata and images) and
seconds. With `--baseline-tree DIR` (another checkout of artface, e.g. a `git worktree` of an older
commit) the same commands run on that code too, in the same run, and the ratios are printed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from artface.testing.http_server import FixtureServer
from artface.testing.images import blank
from bench_build import image_path, serve as serve_crops


def serve(server: FixtureServer, n: int) -> str:
    """bench_build's KaoKore-style server, with 5 % of the image URLs dead and 2 % of the images faceless."""
    src = serve_crops(server, n)
    for i in range(n):
        path = image_path(i)
        if i % 20 == 7:
            server.add(path, kind="status", status=404)
        elif i % 50 == 11:
            server.add(path, blank())
    return src


def run_tree(tree: Path, server: FixtureServer, src: str, work: Path) -> dict[str, tuple[int, float]]:
    env = dict(os.environ, PYTHONPATH=str(tree), ARTFACE_CACHE=str(work / "cache"), ARTFACE_OUT=str(work / "out"),
               HF_DATASETS_CACHE=str(work / "hf"), ARTFACE_ALLOW_PRIVATE_HOSTS="1")
    common = ["kaokore", "--config", "aligned", "--source", src, "--set", "fetch_retries=0"]
    steps = {
        "first build": ["build", *common],
        "re-run (same command)": ["build", *common],
        "re-run --retry-failed": ["build", *common, "--retry-failed"],  # the failures again, the rest read back
        "publish --mode urls": ["publish", *common, "--mode", "urls", "--to", str(work / "hub")],
        "export webdataset": ["export", *common, "--format", "webdataset", "--out", str(work / "wds")],
    }
    out = {}
    for name, args in steps.items():
        before = len(server.log)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "artface.cli", *args], env=env, cwd=work, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"{tree}: {name} failed: {res.stderr.strip()[-500:]}")
        out[name] = (len(server.log) - before, dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--baseline-tree", type=Path, default=None, help="another artface checkout to compare with")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    trees = {"this": here, **({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})}
    results = {}
    for label, tree in trees.items():
        server = FixtureServer().start()
        src = serve(server, args.n)
        with tempfile.TemporaryDirectory() as tmp:
            results[label] = run_tree(tree, server, src, Path(tmp))
        server.stop()
    print(f"KaoKore aligned, {args.n} records (5% 404, 2% faceless), cpu cores {os.cpu_count()}")
    print(f"{'step':24s} " + "  ".join(f"{label + ' requests':>18s} {label + ' s':>10s}" for label in results))
    for step in results["this"]:
        cells = "  ".join(f"{results[label][step][0]:18d} {results[label][step][1]:10.2f}" for label in results)
        ratio = ""
        if "baseline" in results:
            b, t = results["baseline"][step][1], results["this"][step][1]
            ratio = f"   time this/baseline {t / b:.2f}x"
        print(f"{step:24s} {cells}{ratio}")


if __name__ == "__main__":
    main()
