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


def _parse_options(pairs: list[str]) -> dict:
    """``key=value`` pairs for config options; values parsed as JSON when they can be."""
    import json

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _cmd_build(args: argparse.Namespace) -> int:
    from .builders import load_builder

    options = _parse_options(args.set)
    if args.source:
        options["source"] = args.source
    if args.max_records is not None:
        options["max_records"] = args.max_records
    builder = load_builder(args.name, args.config, cache_dir=args.cache_dir, **options)
    out = args.out or f"artface-out/{args.name}/{builder.config.name}"
    builder.download_and_prepare(output_dir=out, num_proc=args.num_proc)
    rep = builder.report()
    print(f"\n{args.name}/{builder.config.name}: {rep['written']} written, {rep['failed']} failed, of {rep['total']} records")
    for split, s in rep.get("splits", {}).items():
        print(f"  {split:11s} {s['written']:6d} written  {s['failed']:5d} failed  {s['failed_by_reason'] or ''}")
    if rep["failed"]:
        print(f"failures by reason: {rep['failed_by_reason']}; run the same command again to retry them")
    print(f"output: {out}  (report: {out}/artface_report.json)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artface", description="Art-face datasets for the Hugging Face ecosystem.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="detect + align the astronaut photo that scikit-image ships (offline)")
    d.add_argument("--out", default="artface-out/demo")
    d.add_argument("--size", type=int, default=1024)
    d.add_argument("--mode", choices=["reference", "fast"], default="reference")
    d.set_defaults(func=_cmd_demo)

    b = sub.add_parser("build", help="build a dataset config with its builder (resumable; failures reported)")
    b.add_argument("name", help="dataset: kaokore, metfaces, ...")
    b.add_argument("--config", default=None, help="urls | original | aligned")
    b.add_argument("--source", default=None, help="upstream metadata folder or URL (default: upstream)")
    b.add_argument("--out", default=None, help="output folder (default artface-out/NAME/CONFIG)")
    b.add_argument("--num-proc", type=int, default=None)
    b.add_argument("--max-records", type=int, default=None, help="per split, for a trial run")
    b.add_argument("--cache-dir", default=None, help="datasets cache dir")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config option, e.g. size=512")
    b.set_defaults(func=_cmd_build)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
