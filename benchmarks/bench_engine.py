"""The same N records through the local build and through Ray on this machine.

KaoKore-style records (256 px face crops, as KaoKore serves them) from a local HTTP server, built at
256 px (`aligned`, cascade + face mesh). Each engine runs in its own process with its own caches,
so nothing is shared; the local build is the baseline measured in the same run. Figures: img/s,
start-up (for Ray: ray.init + actor start until the first row), and the peak RSS of the process
tree (driver + Ray workers), sampled every 0.5 s. Engines: ``local``, ``local2`` (``--num-proc 2``),
``ray``; ``--baseline-tree DIR`` runs the local engines on another checkout too, interleaved.

    python benchmarks/bench_engine.py -n 1000 3000
    python benchmarks/bench_engine.py -n 600 --engines local,local2 --baseline-tree /tmp/old
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time, resource
from artface.builders import load_builder
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
b = load_builder("kaokore", "aligned", source=args["src"], size=256, cache_dir=args["hf"], workers=2)
if args["engine"] == "ray":
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    t_init = time.perf_counter() - t0
    rep = b.build(engine="ray").build.report
else:
    t_init = 0.0
    rep = b.build(num_proc=2 if args["engine"] == "local2" else None).build.report
dt = time.perf_counter() - t0
print("RESULT" + json.dumps({"written": rep["written"], "seconds": dt, "init": t_init}))
"""


def serve(n: int) -> tuple[object, str]:
    from artface.testing.http_server import FixtureServer
    from artface.testing.images import astronaut_face_crop

    server = FixtureServer().start()
    crops = [astronaut_face_crop(i) for i in range(32)]
    urls, labels = [], ["image,gender,status,set"]
    for i in range(n):
        urls.append(server.add(f"/iiif/img{i}.tif/0,0,256,256/256,256/0/default.jpg", crops[i % 32]))
        labels.append(f"{i:08d}.jpg,{i % 2},{i % 4},train")
    server.add("/m/urls.txt", "\n".join(urls).encode())
    server.add("/m/labels.csv", "\n".join(labels).encode())
    server.add("/m/original_tags.txt", b"")
    return server, server.url + "/m"


def session_rss(sid: int) -> int:
    """Summed RSS of every process in session ``sid`` (the driver and the Ray processes it started)."""
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid:  # field 6 of /proc/pid/stat: session id
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def run(engine: str, src: str, tmp: Path, tree: Path | None = None) -> dict:
    tag = f"{engine}-{'base' if tree else 'this'}"
    env = dict(os.environ, ARTFACE_CACHE=str(tmp / f"cache-{tag}"), ARTFACE_OUT=str(tmp / f"out-{tag}"),
               ARTFACE_ALLOW_PRIVATE_HOSTS="1", **({"PYTHONPATH": str(tree)} if tree else {}))
    arg = json.dumps({"engine": engine, "src": src, "hf": str(tmp / f"hf-{tag}")})
    proc = subprocess.Popen([sys.executable, "-c", CHILD, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, session_rss(proc.pid))
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(err[-3000:])
    return {**json.loads(out.split("RESULT", 1)[1]), "rss": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--engines", default="local,ray", help="of local, local2 (--num-proc 2), ray; the first is the baseline")
    ap.add_argument("--baseline-tree", type=Path, default=None, help="another checkout: its local engines run too")
    args = ap.parse_args()
    engines = args.engines.split(",")
    runs = [(e, None) for e in engines] + [(e, args.baseline_tree) for e in engines if args.baseline_tree and e != "ray"]
    print(f"cpu cores: {os.cpu_count()}; aligned 256 px, cascade + face_mesh, images from a local HTTP server")
    for n in args.n:
        server, src = serve(n)
        with tempfile.TemporaryDirectory() as tmp:
            results = {(e, t): run(e, src, Path(tmp), t) for e, t in runs}
        server.stop()
        first = results[runs[0]]
        base_rate = first["written"] / first["seconds"]
        for (engine, tree), r in results.items():
            rate = r["written"] / r["seconds"]
            init = f", ray.init {r['init']:.1f} s" if engine == "ray" else ""
            print(f"N={n} {engine:6s} {'baseline' if tree else 'this':8s} {rate:6.1f} img/s = {rate / base_rate:.2f}x "
                  f"({r['seconds']:.1f} s{init}, peak RSS of the process tree {r['rss'] / 2**20:.0f} MiB)", flush=True)


if __name__ == "__main__":
    main()
