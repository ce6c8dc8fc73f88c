"""Aligned builds at 256 px against their stages' floor, on inputs that make the warp pad.

Inputs: N records cycling through 24 distinct JPEGs of 256-1,024 px in which the astronaut's face
fills the frame (tight crops, as KaoKore's and WikiArt's crops are), so the FFHQ quad leaves the
image and the padding blend runs. A local HTTP server in its own process serves them, so its CPU
is not counted.

Runs, in this process:
- ``kaokore original``: fetch + write only, the I/O baseline;
- ``kaokore aligned`` (cascade + face mesh, as the config ships), then again resumed from the work store;
- ``aahq aligned`` from upstream points (no detection), the points being the faces' own.

The floor: the same stages with the same libraries called from one thread on bytes in memory (decode
with ``load_image``, ``FaceAligner.detect``, ``align_points``, ``blur``, ``encode_image``): no fetch,
no store, no shards, no workers, measured just before and just after each build it is compared with.
Figures: img/s, CPU-ms per image (this process's CPU time / images) and its ratio to the floor's
CPU-ms per image (OpenCV threads some stages, so the floor's CPU is ~1.2x its wall time: CPU is
compared with CPU); the build's share of compute time per stage.

    python benchmarks/bench_build.py -n 600
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import signal
import tempfile
import time
from pathlib import Path

import numpy as np

from artface.builders import load_builder
from artface.pipeline import encode_image
from artface.quality import blur
from artface.testing.http_server import FixtureServer
from artface.testing.images import tight_crop
from artface_align import FaceAligner, load_image
from artface_align.detect import make_detector
from artface_align.landmarks import make_landmarker

SIDES = (150, 190, 230, 270)  # px of the 512 px photo around her face: 150 is cut at the chin and brow
OUTS = (256, 384, 512, 640, 768, 1024)


def inputs() -> list[bytes]:
    """24 tight crops of mixed sizes, JPEG q90, as an upstream would serve them."""
    out = []
    for side in SIDES:
        for size in OUTS:
            buf = io.BytesIO()
            tight_crop(side, size).save(buf, "JPEG", quality=90)
            out.append(buf.getvalue())
    return out


def serve_forked(server: FixtureServer) -> int:
    """Serve the registered routes from a child process; returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            server.httpd.serve_forever()
        finally:
            os._exit(0)
    return pid


def image_path(i: int) -> str:
    """The server path of record ``i``'s image (other benchmarks replace some with failures)."""
    return f"/iiif/img{i}.tif/full/full/0/default.jpg"


def serve(server: FixtureServer, n: int) -> str:
    """A KaoKore source of ``n`` records over the mixed-size tight crops; returns the source URL."""
    return kaokore_source(server, inputs(), n)


def kaokore_source(server: FixtureServer, images: list[bytes], n: int) -> str:
    urls, labels = [], ["image,gender,status,set"]
    for i in range(n):
        urls.append(server.add(image_path(i), images[i % len(images)]))
        labels.append(f"{i:08d}.jpg,{i % 2},{i % 4},train")
    server.add("/m/urls.txt", "\n".join(urls).encode())
    server.add("/m/labels.csv", "\n".join(labels).encode())
    server.add("/m/original_tags.txt", b"")
    return server.url + "/m"


def aahq_source(server: FixtureServer, images: list[bytes], points: list[np.ndarray], n: int, folder: Path) -> str:
    names = ("eye_left", "eye_right", "mouth_left", "mouth_right")
    items = {}
    for i in range(n):
        k = i % len(images)
        url = server.add(f"/aahq/{i:06d}.jpg", images[k])
        p = points[k][[0, 1, 3, 4]]  # the 5 points' eyes and mouth corners
        items[f"{i:06d}.png"] = {"image_url": url, "raw_name": f"{i:06d}.jpg",
                                 "landmarks": {nm: [round(float(x), 2), round(float(y), 2)] for nm, (x, y) in zip(names, p)}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "AAHQ-dataset.json").write_text(json.dumps(items))
    return str(folder)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build(dataset: str, config: str, src: str, hf: Path, floor: Floor | None = None, **kw) -> dict:
    b = load_builder(dataset, config, source=src, cache_dir=str(hf), **kw)
    before = floor.ms() if floor else None
    wall_before = floor.wall_ms if floor else None
    c0, t0 = cpu(), time.perf_counter()
    b.download_and_prepare()
    dt, dc = time.perf_counter() - t0, cpu() - c0
    after = floor.ms() if floor else None
    wall = (wall_before + floor.wall_ms) / 2 if floor else None
    rep = b.report()
    timings = dict(b.pipeline.timings.seconds) if b.pipeline else {}
    return {"seconds": dt, "cpu": dc, "written": rep["written"], "failed": rep.get("failed", 0), "timings": timings,
            "floor": (before + after) / 2 if floor else None, "floors": (before, after), "floor_wall": wall}


class Floor:
    """decode -> [detect + mesh] -> align -> blur -> encode, in one thread on bytes in memory, with the
    build's own options; detection runs where no points are given. ``ms()`` is measured anew each time
    (this VM's speed drifts by tens of % within minutes: each build is compared with the floor measured
    just before and just after it)."""

    def __init__(self, images: list[bytes], opts, points: list[np.ndarray] | None, repeats: int) -> None:
        detect = points is None
        self.aligner = FaceAligner(make_detector(opts.detector, threads=1),
                                   make_landmarker(opts.landmarks, threads=1) if detect and opts.landmarks else None,
                                   size=opts.size, recipe=opts.recipe, warp=opts.warp)
        self.images, self.opts, self.repeats = images, opts, repeats
        self.points = points or [self.aligner.detect(load_image(data))[0].points for data in images]
        self.detect = detect
        self.ms()  # warm-up: sessions, caches

    def one(self, data: bytes, pts: np.ndarray) -> None:
        img = load_image(data)
        if self.detect:
            pts = self.aligner.detect(img)[0].points
        res = self.aligner.align_points(img, pts)
        blur(res.image)
        encode_image(res.image, self.opts.image_format, self.opts.image_quality)

    def ms(self) -> float:
        """CPU-ms per image, as the build's are counted: the stages are called from one thread, but
        OpenCV runs some of them on its own threads (here ~1.2x the wall time), so CPU is compared
        with CPU, not with wall time."""
        c0, t0 = cpu(), time.perf_counter()
        for _ in range(self.repeats):
            for data, pts in zip(self.images, self.points):
                self.one(data, pts)
        n = self.repeats * len(self.images)
        self.wall_ms = (time.perf_counter() - t0) * 1e3 / n  # kept for the line: the old, stricter ratio
        return (cpu() - c0) * 1e3 / n


def line(name: str, r: dict, base: dict | None = None) -> str:
    rate = r["written"] / r["seconds"]
    cpu_ms = r["cpu"] * 1e3 / max(1, r["written"])
    s = f"{name:26s} {rate:6.1f} img/s {cpu_ms:6.1f} CPU-ms/img  wall {r['seconds']:5.1f} s  written {r['written']}"
    if r["failed"]:
        s += f" (failed {r['failed']})"
    if r["floor"]:
        s += (f"  CPU = {cpu_ms / r['floor']:.2f}x the floor's ({r['floors'][0]:.1f} CPU-ms/img before, "
              f"{r['floors'][1]:.1f} after; {cpu_ms / r['floor_wall']:.2f}x its wall ms)")
    if base:
        s += f"  rate = {rate / (base['written'] / base['seconds']):.2f}x the I/O baseline's"
    return s


def shares(r: dict) -> str:
    compute = {k: v for k, v in r["timings"].items() if k != "fetch"}
    total = sum(compute.values()) or 1.0
    return ", ".join(f"{k} {v / total:5.1%}" for k, v in sorted(compute.items(), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--floor-repeats", type=int, default=4)
    args = ap.parse_args()
    os.environ["ARTFACE_ALLOW_PRIVATE_HOSTS"] = "1"  # the benchmark's upstream is a 127.0.0.1 server
    images = inputs()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        kw = {"size": 256, "workers": args.workers}
        k_opts = load_builder("kaokore", "aligned", source=str(tmp), cache_dir=str(tmp / "p1"), **kw).pixel_options()
        a_opts = load_builder("aahq", "aligned", source=str(tmp), cache_dir=str(tmp / "p2"), **kw).pixel_options()
        k_floor = Floor(images, k_opts, None, args.floor_repeats)
        a_floor = Floor(images, a_opts, k_floor.points, args.floor_repeats)  # the faces' own points as upstream's
        server = FixtureServer()
        kaokore = kaokore_source(server, images, args.n)
        aahq = aahq_source(server, images, k_floor.points, args.n, tmp / "aahq")
        pid = serve_forked(server)  # after every route exists: the child serves a copy
        try:
            os.environ["ARTFACE_CACHE"] = str(tmp / "cache-original")
            base = build("kaokore", "original", kaokore, tmp / "hf-original")
            os.environ["ARTFACE_CACHE"] = str(tmp / "cache-aligned")
            k = build("kaokore", "aligned", kaokore, tmp / "hf-aligned", k_floor, **kw)
            again = build("kaokore", "aligned", kaokore, tmp / "hf-again", **kw)  # resumed: all from the work store
            os.environ["ARTFACE_CACHE"] = str(tmp / "cache-aahq")
            a = build("aahq", "aligned", aahq, tmp / "hf-aahq", a_floor, **kw)
        finally:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    print(f"cpu cores: {os.cpu_count()}, records: {args.n} over {len(images)} tight crops of {min(OUTS)}-{max(OUTS)} px, "
          f"workers: {args.workers}, output 256 px {k_opts.image_format}")
    print(f"floor, one thread, bytes in memory: kaokore = decode, {k_opts.detector} + {k_opts.landmarks}, align, blur, "
          f"encode; aahq = decode, align from its points, blur, encode")
    print(line("kaokore original (I/O)", base))
    print(line("kaokore aligned", k, base))
    print(line("kaokore aligned, resumed", again))
    print(line("aahq aligned (upstream pts)", a, base))
    print(f"share of compute time, kaokore aligned: {shares(k)}")
    print(f"share of compute time, aahq aligned: {shares(a)}")


if __name__ == "__main__":
    main()
