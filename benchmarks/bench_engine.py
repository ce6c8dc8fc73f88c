"""The same N records through the local build and through Ray on this machine.

KaoKore-style records (256 px face crops, as KaoKore serves them) from a local HTTP server, built at
256 px (`aligned`, cascade + face mesh). Each engine runs in its own process with its own caches,
so nothing is shared; the local build is the baseline measured in the same run. Figures: img/s,
start-up (for Ray: ray.init + actor start until the first row), and the peak RSS of the process
tree (driver + Ray workers), sampled every 0.5 s.
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
    rep = b.build().build.report
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


def run(engine: str, src: str, tmp: Path) -> dict:
    env = dict(os.environ, ARTFACE_CACHE=str(tmp / f"cache-{engine}"), ARTFACE_OUT=str(tmp / f"out-{engine}"),
               ARTFACE_ALLOW_PRIVATE_HOSTS="1")
    arg = json.dumps({"engine": engine, "src": src, "hf": str(tmp / f"hf-{engine}")})
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
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, nargs="+", default=[1000, 5000])
    args = ap.parse_args()
    print(f"cpu cores: {os.cpu_count()}; aligned 256 px, cascade + face_mesh, images from a local HTTP server")
    for n in args.n:
        server, src = serve(n)
        with tempfile.TemporaryDirectory() as tmp:
            local = run("local", src, Path(tmp))
            ray = run("ray", src, Path(tmp))
        server.stop()
        lr, rr = local["written"] / local["seconds"], ray["written"] / ray["seconds"]
        print(f"N={n}: local {lr:6.1f} img/s ({local['seconds']:.1f} s, peak RSS {local['rss'] / 2**20:.0f} MiB)  |  "
              f"ray {rr:6.1f} img/s = {rr / lr:.2f}x ({ray['seconds']:.1f} s, ray.init {ray['init']:.1f} s, "
              f"peak RSS of driver + workers {ray['rss'] / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
