"""Does a URL-only build's memory grow with the record count? KaoKore-format and AAHQ-format metadata
of N synthetic records (local files), `artface build NAME --config urls` in a fresh process each, its
peak RSS (VmHWM) and wall time; per-record figures so that 10k, 100k and 1M compare directly.

    python benchmarks/bench_records.py                      # 10k, 100k
    python benchmarks/bench_records.py --counts 10000,100000,1000000 --datasets kaokore
    python benchmarks/bench_records.py --baseline-tree /tmp/old   # the same runs with another checkout, interleaved
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

HERE = Path(__file__).resolve().parents[1]
DIRECTIONS = ["左", "右", "前", "後"]


def kaokore_source(folder: Path, n: int) -> None:
    """urls.txt, labels.csv, original_tags.txt as upstream lays them out (v1.0 layout: dataset/)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "urls.txt", "w") as u, open(folder / "labels.csv", "w") as lab, \
            open(folder / "original_tags.txt", "w") as t:
        lab.write("image,gender,status,set\n")
        for i in range(n):
            u.write(f"https://iiif.example.org/iiif/{i // 50:06d}.tif/{i % 7},{i % 11},200,200/256,256/0/default.jpg\n")
            split = ("train", "dev", "test")[i % 10 // 8] if i % 10 < 9 else "test"
            lab.write(f"{i:08d}.jpg,{i % 2},{i % 4},{split}\n")
            t.write(f"{i:08d}.jpg:タグ=;京都大学貴重資料デジタルアーカイブレコードID=RB{i // 50:08d};制作年=;原典=病草子;"
                    f"向き={DIRECTIONS[i % 4]};性別=女;所蔵=京都大学;身分=貴族\n")


def aahq_source(folder: Path, n: int) -> None:
    """AAHQ-dataset.json: {name: {image_url, raw_name, landmarks}} as upstream ships it."""
    folder.mkdir(parents=True, exist_ok=True)
    marks = {"eye_left": [264.8, 140.8], "eye_right": [307.4, 143.4], "mouth_left": [262.5, 178.1],
             "mouth_right": [304.2, 180.6]}
    with open(folder / "AAHQ-dataset.json", "w") as f:
        f.write("{")
        for i in range(n):
            item = {"image_url": f"https://cdna.artstation.com/p/assets/images/images/{i:09d}/large/x.jpg?15",
                    "raw_name": f"{i:09d}_large_x.jpg", "landmarks": marks}
            f.write(("," if i else "") + json.dumps(f"{i:06d}.png") + ":" + json.dumps(item))
        f.write("}")


SOURCES = {"kaokore": kaokore_source, "aahq": aahq_source}

CHILD = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from artface.cli import main
rc = main(["build", sys.argv[1], "--config", "urls", "--source", sys.argv[2]])
wall = time.perf_counter() - t0
hwm = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
print(json.dumps({"rc": rc, "wall": wall, "peak": hwm}))
"""


def run(tree: Path, dataset: str, src: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "ARTFACE_OUT": str(out), "ARTFACE_CACHE": str(out / "cache"),
           "HF_DATASETS_CACHE": str(out / "hf")}
    res = subprocess.run([sys.executable, "-c", CHILD, dataset, str(src)], capture_output=True, text=True, env=env,
                         cwd=tree)
    if res.returncode != 0 or not res.stdout.strip():
        raise SystemExit(f"{tree} {dataset}: {res.stderr[-1500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10000,100000")
    ap.add_argument("--datasets", default="kaokore,aahq")
    ap.add_argument("--baseline-tree", type=Path, default=None, help="another checkout, run interleaved as the baseline")
    args = ap.parse_args()
    trees = [("this", HERE)] + ([("baseline", args.baseline_tree)] if args.baseline_tree else [])
    print(f"{'dataset':8s} {'records':>9s} {'tree':8s} {'wall s':>8s} {'ms/rec':>7s} {'peak MiB':>9s} {'B/rec':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            for n in map(int, args.counts.split(",")):
                src = Path(tmp) / f"{dataset}-{n}"
                t0 = time.perf_counter()
                SOURCES[dataset](src, n)
                made = time.perf_counter() - t0
                for name, tree in trees:
                    r = run(tree, dataset, src, Path(tmp) / f"out-{name}-{dataset}-{n}")
                    print(f"{dataset:8s} {n:9,d} {name:8s} {r['wall']:8.1f} {1000 * r['wall'] / n:7.3f} "
                          f"{r['peak'] / 2**20:9.0f} {r['peak'] / n:7.0f}", flush=True)
                print(f"{'':8s} {'':9s} (metadata written in {made:.1f} s)")


if __name__ == "__main__":
    main()
