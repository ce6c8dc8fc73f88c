"""Command line: artface demo | build | publish | validate | doctor."""
from __future__ import annotations

import argparse
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    res = run_demo(args.out, size=args.size, mode=args.mode)
    f = res["faces"][0]
    print(f"detector {res['detector']} (sha256 {res['detector_sha256'][:12]}...): {len(res['faces'])} face(s)")
    print(f"best face: score {f['det_score']:.3f}, box {[round(v, 1) for v in f['bbox']]}")
    for name, path in res["paths"].items():
        print(f"wrote {name:15s} {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artface", description="Art-face datasets for the Hugging Face ecosystem.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="detect + align the astronaut photo that scikit-image ships (offline)")
    d.add_argument("--out", default="artface-out/demo")
    d.add_argument("--size", type=int, default=1024)
    d.add_argument("--mode", choices=["reference", "fast"], default="reference")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
