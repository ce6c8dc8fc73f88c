"""Command line: artface demo | build | publish | validate | doctor."""
from __future__ import annotations

import argparse
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    res = run_demo(args.out, size=args.size, warp=args.warp)
    f = res["faces"][0]
    print(f"detector {res['detector']} (sha256 {res['detector_sha256'][:12]}...): {len(res['faces'])} face(s)")
    print(f"best face: score {f['det_score']:.3f}, box {[round(v, 1) for v in f['bbox']]}")
    for name, path in res["paths"].items():
        print(f"wrote {name:15s} {path}")
    return 0


def _parse_options(pairs: list[str]) -> dict:
    """``key=value`` pairs for config options; the config parses each value by its field's type."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def _cmd_build(args: argparse.Namespace) -> int:
    from .builders import load_builder

    options = _parse_options(args.set)
    if args.source:
        options["source"] = args.source
    if args.max_records is not None:
        options["max_records"] = args.max_records
    builder = load_builder(args.name, args.config, cache_dir=args.cache_dir, **options)
    out = args.out or str(builder.default_output_dir())
    builder.download_and_prepare(output_dir=out, num_proc=args.num_proc)
    rep = builder.report()
    print(f"\n{args.name}/{builder.config.name}: {rep['written']} written, {rep['failed']} failed, of {rep['total']} records")
    for split, s in rep.get("splits", {}).items():
        print(f"  {split:11s} {s['written']:6d} written  {s['failed']:5d} failed  {s['failed_by_reason'] or ''}")
    if rep["failed"]:
        print(f"failures by reason: {rep['failed_by_reason']}: {rep['advice']}")
    print(f"output: {out}  (report: {out}/artface_report.json)")
    return 1 if rep["total"] and not rep["written"] else 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from .licenses import PublishRefused
    from .publish import PublishEmpty, publish

    options = _parse_options(args.set)
    if args.source:
        options["source"] = args.source
    if args.max_records is not None:
        options["max_records"] = args.max_records
    try:
        res = publish(args.name, args.config, args.mode, to=args.to, private=args.private, max_shard_size=args.max_shard_size,
                      make_private=args.make_private, dry_run=args.dry_run, create_pr=args.create_pr, revision=args.revision,
                      commit_message=args.commit_message, num_proc=args.num_proc, **options)
    except PublishRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except PublishEmpty as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if res.dry_run:
        print(f"dry run: {args.name}/{res.config} ({args.mode}) would go to {res.destination}; nothing was written or uploaded")
        print("files:\n" + "\n".join(f"  {f}" for f in res.files))
        print("README.md:\n" + res.readme)
        return 0
    print(f"{args.name}/{res.config} ({args.mode}) -> {res.destination}: rows {res.rows}")
    print("no change: the destination already holds this content" if not res.changed else f"{len(res.files)} files written")
    if res.url and res.changed:
        print(f"{'pull request' if args.create_pr else 'commit' if res.commit else 'folder'}: {res.url}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate

    problems = validate(args.dest)
    for p in problems:
        print(f"problem: {p}")
    print(f"{args.dest}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    """What is installed, which execution providers onnxruntime offers, and where each model resolves."""
    import importlib.metadata as md

    import onnxruntime

    from artface_align.errors import ArtfaceAlignError
    from artface_align.models import REGISTRY, resolve

    for pkg in ("artface", "datasets", "huggingface_hub", "onnxruntime", "onnxruntime-gpu", "insightface", "dlib-bin", "pillow"):
        try:
            print(f"{pkg:16s} {md.version(pkg)}")
        except md.PackageNotFoundError:
            print(f"{pkg:16s} not installed")
    print(f"onnxruntime providers: {', '.join(onnxruntime.get_available_providers())}")
    for name in REGISTRY:
        try:
            r = resolve(name)
            print(f"model {name:20s} OK   {r.origin} (sha256 {r.sha256[:12]}...)")
        except ArtfaceAlignError as exc:
            print(f"model {name:20s} --   {str(exc).split('. Looked in')[0]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artface", description="Art-face datasets for the Hugging Face ecosystem.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="detect + align the astronaut photo that scikit-image ships (offline)")
    d.add_argument("--out", default="artface-out/demo")
    d.add_argument("--size", type=int, default=1024)
    d.add_argument("--warp", choices=["fast", "reference"], default="fast", help="alignment warp (default: fast)")
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

    pb = sub.add_parser("publish", help="write Hub-ready parquet shards + card to a folder or hf://datasets/ORG/NAME")
    pb.add_argument("name")
    pb.add_argument("--config", default=None)
    pb.add_argument("--mode", choices=["urls", "processed"], default="urls")
    pb.add_argument("--to", default=None, help="folder (default artface-hub/NAME) or hf://datasets/ORG/NAME")
    pb.add_argument("--private", action="store_true", help="allowed for modes the license permits only privately")
    pb.add_argument("--make-private", action="store_true",
                    help="with --private onto an existing public Hub repo: turn it private before anything is uploaded")
    pb.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (default 500MB)")
    pb.add_argument("--source", default=None, help="upstream: local folder/file or http(s) URL (default: the dataset's upstream)")
    pb.add_argument("--max-records", type=int, default=None, help="per split: publish a sample (the card says so)")
    pb.add_argument("--num-proc", type=int, default=None, help="processes for the build")
    pb.add_argument("--dry-run", action="store_true", help="build and stage, print the file list and the card; write nothing")
    pb.add_argument("--create-pr", action="store_true", help="Hub: open a pull request instead of committing to the branch")
    pb.add_argument("--revision", default=None, help="Hub: the branch to commit to (created from main if missing)")
    pb.add_argument("--commit-message", default=None, help="Hub: the commit message")
    pb.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    pb.set_defaults(func=_cmd_publish)

    doc = sub.add_parser("doctor", help="installed packages, onnxruntime providers, where each model resolves")
    doc.set_defaults(func=_cmd_doctor)

    v = sub.add_parser("validate", help="check a published folder or repo as the Hub would read it")
    v.add_argument("dest")
    v.set_defaults(func=_cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
