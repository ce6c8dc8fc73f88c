"""Per-request cost of the fetch stage against a plain HTTP client, on a local server.

N small image bodies (default 2,000 x 20 kB) from a 127.0.0.1 server: a plain ``httpx.Client``
loop (the floor for this client), artface's ``Fetcher`` without and with its disk cache (what a
build does: the body is written once), one request at a time, and ``fetch_many`` with 8 in
flight. ms per request and the ratio to the plain client, measured in the same run. With
``--baseline-tree DIR`` the Fetcher rows run on that checkout's code too (a subprocess).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx  # the package artface uses (pyproject: httpx2)

from artface.testing.http_server import FixtureServer

PROBE = """
import json, sys, tempfile, time
from artface.fetch import Fetcher, FetchConfig
urls = json.loads(sys.argv[1])
out = {}
with tempfile.TemporaryDirectory() as tmp:
    for label, cfg in (("Fetcher, no cache", FetchConfig(retries=0, allow_private_hosts=True)),
                       ("Fetcher + disk cache", FetchConfig(retries=0, allow_private_hosts=True, cache_dir=tmp)),
                       ("fetch_many x8 + cache", FetchConfig(retries=0, allow_private_hosts=True, cache_dir=tmp + "/m", concurrency=8))):
        with Fetcher(cfg) as f:
            f.fetch(urls[0])
            t0 = time.perf_counter()
            if label.startswith("fetch_many"):
                ok = sum(r.ok for r in f.fetch_many(urls))
            else:
                ok = sum(f.fetch(u).ok for u in urls)
            out[label] = ((time.perf_counter() - t0) / len(urls) * 1e3, ok)
print("RESULT" + json.dumps(out))
"""


def fetcher_rows(tree: Path, urls: list[str]) -> dict[str, tuple[float, int]]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(urls)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.split("RESULT", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--baseline-tree", type=Path, default=None)
    args = ap.parse_args()
    server = FixtureServer().start()
    body = os.urandom(20_000)
    urls = [server.add(f"/img/{i}.jpg", body) for i in range(args.n)]
    try:
        with httpx.Client() as c:
            c.get(urls[0])
            t0 = time.perf_counter()
            ok = sum(c.get(u).status_code == 200 for u in urls)
            plain = (time.perf_counter() - t0) / args.n * 1e3
        print(f"{args.n} requests of {len(body):,} bytes, 127.0.0.1; plain httpx.Client: {plain:.3f} ms/request ({ok} ok)")
        here = Path(__file__).resolve().parents[1]
        trees = {"this": here, **({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})}
        for label, tree in trees.items():
            for row, (ms, n_ok) in fetcher_rows(tree, urls).items():
                print(f"  {label:8s} {row:24s} {ms:6.3f} ms/request  {ms / plain:5.2f}x plain  ({n_ok} ok)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
