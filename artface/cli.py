"""Command line: artface demo | list | info | build | show | publish | export | dedup | validate | cache | doctor.

Errors artface raises on purpose (``artface.errors.ArtfaceError``) print one line and exit with
their code; anything else prints one line too and keeps its traceback for ``--debug``.
Exit codes: 0 done, 1 error (or every record failed), 2 refused / unknown name / bad usage,
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .licenses import MODES, OLD_MODES

EXAMPLES = """examples:
  artface list
  artface info kaokore
  artface build kaokore --config aligned --set size=256 --num-proc 2
  artface build metfaces --config aligned --source ~/metfaces/
  artface show kaokore --config aligned --set size=256          # look before you publish
  artface publish kaokore --config urls --to hf://datasets/my-org/kaokore --dry-run
  artface export kaokore --config aligned --set size=256 --format webdataset --out shards/
  artface cache clean kaokore

exit codes: 0 done; 1 error, or every record failed; 2 refused, unknown name or bad usage; 130 interrupted.
Run any command with --debug for a traceback."""


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _options(args: argparse.Namespace) -> dict:
    """``--set key=value`` pairs (the config parses each value by its field's type) + shortcuts."""
    out = {}
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects key=value, got {pair!r}")
        out[key.strip()] = value
    if getattr(args, "source", None):
        out["source"] = args.source
    if getattr(args, "max_records", None) is not None:
        out["max_records"] = args.max_records
    if getattr(args, "only", None):
        out["members"] = args.only
    return out


# -- commands ---------------------------------------------------------------------------------
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    res = run_demo(args.out, size=args.size, warp=args.warp)
    f = res["faces"][0]
    print(f"detector {res['detector']} (sha256 {res['detector_sha256'][:12]}...): {len(res['faces'])} face(s)")
    print(f"best face: score {f['det_score']:.3f}, box {[round(v, 1) for v in f['bbox']]}")
    for name, path in res["paths"].items():
        print(f"wrote {name:15s} {path}")
    return 0


def datasets_table() -> str:
    """The README's dataset table, from each dataset folder (its card's first paragraph, configs, policy)."""
    from .builders import builder_class, names

    rows = ["| name | what | configs | license (Hub id) | public publishing |", "|---|---|---|---|---|"]
    for name in names():
        cls = builder_class(name)
        p = cls.POLICY
        modes = ", ".join(p.public_modes) or "none (local builds only)"
        modes += " (gated: non-commercial)" if p.gated and p.public_modes else ""
        configs = ", ".join(f"`{c.name}`" for c in cls.BUILDER_CONFIGS)
        rows.append(f"| `{name}` | {cls.DESCRIPTION} | {configs} | `{p.hub_license}` | {modes} |")
    return "\n".join(rows)


def _cmd_list(args: argparse.Namespace) -> int:
    from .builders import builder_class, names

    if args.markdown:
        print(datasets_table())
        return 0
    print(f"{'dataset':14s} {'configs':34s} {'license':18s} public publishing")
    for name in names():
        cls = builder_class(name)
        configs = ", ".join(f"{c.name}" for c in cls.BUILDER_CONFIGS)
        modes = ", ".join(cls.POLICY.public_modes) or "none (local builds only)"
        print(f"{name:14s} {configs:34s} {cls.POLICY.hub_license:18s} {modes}")
    print("\n`artface info NAME` for a dataset's configs, options and where to get its data.")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    from .builders import builder_class

    cls = builder_class(args.name)
    p = cls.POLICY
    print(f"{cls.DATASET_NAME}: {cls.PRETTY_NAME}\n  {cls.DESCRIPTION}\n  homepage: {cls.HOMEPAGE}")
    print(f"  license: {p.hub_license}; public publishing: {', '.join(p.public_modes) or 'none'} ({p.reason})")
    src = cls.SOURCE
    print(f"  source: {'manual download, ' if src.manual else ''}{src.hint}" + (f"; default {src.default}" if src.default else ""))
    print("configs:")
    defaults = cls.BUILDER_CONFIG_CLASS()
    for c in cls.BUILDER_CONFIGS:
        changed = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)
                   if f.name not in ("name", "description", "kind") and getattr(c, f.name) != getattr(defaults, f.name)}
        extra = "".join(f" {k}={v}" for k, v in changed.items())
        print(f"  {c.name:10s} {c.kind:9s}{' (default)' if c.name == cls.DEFAULT_CONFIG_NAME else ''} {c.description}{extra}")
    print("options (--set key=value):")
    for f in dataclasses.fields(cls.BUILDER_CONFIG_CLASS):
        if f.name in ("name", "version", "data_dir", "data_files", "description", "kind"):
            continue
        typ = str(f.type).replace("typing.", "")
        print(f"  {f.name:16s} {typ:12s} default {getattr(defaults, f.name)!r:24s} {cls.OPTION_HELP.get(f.name, '')}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from .builders import load_builder

    builder = load_builder(args.name, args.config, cache_dir=args.cache_dir, **_options(args))
    out = args.out or str(builder.default_output_dir())
    from .cache import human

    from .build import run_build
    from .kinds import kind as kind_of

    c = builder.config
    k = kind_of(c.kind)

    def announce() -> None:  # called once the records are known (not for a finished build)
        records = builder.records()
        order = {s: i for i, s in enumerate(builder.split_order())}
        splits = dict(sorted(records.splits().items(), key=lambda kv: order.get(kv[0], 99))) if len(records) else {}
        estimate = ""
        if k.aligns:  # bytes per aligned image, measured on faces (benchmarks/bench_formats.py)
            per = {"png": 0.4, "jpeg": 0.1, "webp": 0.04}[c.image_format] * c.size * c.size * 3
            estimate = f"; about {human(len(records) * per)} of {c.size} px {c.image_format}"
        if builder.COMPOSITE:  # the union: its members were built first
            print(f"{builder.DATASET_NAME}/{c.name}: members {', '.join(c.members)} -> {out}")
        else:
            bad = f", {len(builder.invalid):,} cannot become rows" if builder.invalid else ""
            print(f"{builder.DATASET_NAME}/{c.name}: {len(records):,} records "
                  f"({', '.join(f'{s} {n:,}' for s, n in splits.items())}){bad}{estimate} -> {out}")
        if args.num_proc and args.num_proc > 1 and max(splits.values(), default=0) < args.num_proc:
            print(f"note: --num-proc {args.num_proc} but no split has that many records: fewer processes will run")

    _quiet_datasets()
    builder.progress = True
    builder.on_records = announce
    t0 = time.perf_counter()
    engine_options = ({"address": args.address, "actors": args.actors, "gpus_per_actor": args.gpus_per_actor}
                      if args.engine == "ray" else {})
    res = run_build(builder, out, num_proc=args.num_proc, engine=args.engine, retry_failed=args.retry_failed,
                    refresh=args.refresh, **engine_options)
    rep = res.build.report
    dt = time.perf_counter() - t0
    if not res.redone:
        redo_hint = " (--retry-failed tries the permanent failures again, --refresh reads upstream again)" if rep["failed"] else ""
        print(f"{builder.DATASET_NAME}/{c.name}: {res.note}: {rep['written']} written, {rep['failed']} failed, "
              f"of {rep['total']} records{redo_hint}")
        _drop_downloads(args, res.build)
        print(f"output: {res.build.folder}  (report: {res.build.folder}/artface_report.json)")
        return 1 if rep["total"] and not rep["written"] else 0
    rate = f", {rep['written'] / dt:.1f} img/s" if k.fetches and dt > 0 else ""
    print(f"\n{builder.DATASET_NAME}/{c.name}: {rep['written']} written, {rep['failed']} failed, of {rep['total']} records "
          f"in {dt:.1f} s{rate}")
    if res.kept:
        print(f"kept from the last run (not retried; --retry-failed to try them again): {dict(res.kept)}")
    for col, vals in rep.get("by_label", {}).items():  # what the failures (and crops) take from each label
        if any(n.get("failed") or n.get("kept as crop") for n in vals.values()):
            cells = ", ".join(f"{v} {n.get('written', 0)}/{n.get('kept as crop', 0)}/{n.get('failed', 0)}"
                              for v, n in vals.items())
            print(f"  by {col} (written/kept as crop/failed): {cells}")
    for split, s in rep.get("splits", {}).items():
        print(f"  {split:11s} {s['written']:6d} written  {s['failed']:5d} failed  {s['failed_by_reason'] or ''}")
    if rep["failed"]:
        print(f"failures by reason: {rep['failed_by_reason']}: {rep['advice']}")
    if rep.get("skipped"):
        print(f"skipped at the source (not records): {rep['skipped']}")
    _drop_downloads(args, res.build)
    print(f"output: {out}  (report: {out}/artface_report.json)")
    return 1 if rep["total"] and not rep["written"] else 0


def _drop_downloads(args: argparse.Namespace, build) -> None:
    """--drop-downloads: the fetch cache's copies of the images the build's rows hold go."""
    if args.drop_downloads:
        from .cache import drop_build_downloads, human

        freed, files = drop_build_downloads(build)
        print(f"removed {files:,} downloads ({human(freed)}) the build no longer needs: its rows hold the images")


def _quiet_datasets() -> None:
    """artface's own bar (records, ETA, failures) replaces datasets' example counter."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def _cmd_publish(args: argparse.Namespace) -> int:
    from .publish import publish

    _quiet_datasets()
    if args.mode in OLD_MODES:
        print(f"note: --mode {args.mode} is now --mode {OLD_MODES[args.mode]} (the old word is read until the next release)",
              file=sys.stderr)
        args.mode = OLD_MODES[args.mode]
    res = publish(args.name, args.config, args.mode, to=args.to, private=args.private, max_shard_size=args.max_shard_size,
                  make_private=args.make_private, dry_run=args.dry_run, create_pr=args.create_pr, revision=args.revision,
                  commit_message=args.commit_message, num_proc=args.num_proc, replace=args.replace, **_options(args))
    if res.dry_run:
        print(f"dry run: {args.name}/{res.config} ({args.mode}) would go to {res.destination}; nothing was written or uploaded")
        print("\n".join(res.change.lines()))
        if res.needs_replace:
            print(f"note: this replaces {res.needs_replace}; the real publish needs --replace")
        print("files staged:\n" + "\n".join(f"  {f}" for f in res.files))
        print("README.md:\n" + res.readme)
        return 0
    print(f"{args.name}/{res.config} ({args.mode}) -> {res.destination}: rows {res.rows}")
    if not res.changed:
        print("no change: the destination already holds this content")
    else:
        print("\n".join(res.change.lines()))
    if res.url and res.changed:
        print(f"{'pull request' if args.create_pr else 'commit' if res.commit else 'folder'}: {res.url}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .builders import load_builder
    from .export import export

    _quiet_datasets()
    from .build import Build

    builder = load_builder(args.name, args.config, **_options(args))
    stats = export(Build.find(builder), args.format, args.out, samples_per_shard=args.samples_per_shard)
    for split, s in stats["splits"].items():
        print(f"  {split:11s} {s['samples']:6d} samples of {s['records']} records ({s['success_rate']:.1%})")
    print(f"{args.format}: {len(stats['shards'])} shard(s) in {args.out} (statistics in {args.out}/__stats__/)")
    return 0


def _cmd_dedup(args: argparse.Namespace) -> int:
    from .builders import load_builder
    from .dedup import dedup

    _quiet_datasets()
    sources = dict(s.split("=", 1) for s in args.source if "=" in s)
    plain = [s for s in args.source if "=" not in s]
    from .build import Build

    builds: dict[Path, Build] = {}
    for name in args.names:
        opts = _options(argparse.Namespace(set=args.set, source=sources.get(name) or (plain[0] if plain else None),
                                           max_records=args.max_records))
        b = Build.find(load_builder(name, args.config, **opts))
        builds.setdefault(b.folder, b)  # a dataset named twice is read once
    summary = dedup(list(builds.values()), Path(args.out), threshold=args.threshold, progress=True)
    print(json.dumps(summary, indent=1))
    print(f"pairs: {args.out}/duplicates.parquet, groups: {args.out}/groups.parquet, closest pairs: {args.out}/contact_sheet.png")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .build import Build
    from .builders import load_builder
    from .show import show

    _quiet_datasets()
    build = Build.open(args.build) if args.build else Build.find(load_builder(args.name, args.config, **_options(args)))
    index = show(build, args.out, dedup=args.dedup)
    print(f"{build.dataset_name}/{build.config_name}: {index}")
    if args.serve:
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.parent))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
            print(f"serving on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C to stop)", flush=True)
            httpd.serve_forever()
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate

    problems = validate(args.dest, revision=args.revision)
    for p in problems:
        print(f"problem: {p}")
    print(f"{args.dest}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .builders import canonical_name
    from .cache import clean, human, usage

    if args.action == "clean" and args.downloads:
        from .cache import drop_downloads

        freed, files = drop_downloads([canonical_name(n) for n in args.names])
        print(f"removed {files:,} downloads ({human(freed)}) that finished builds no longer need")
        return 0
    if args.action == "clean":
        from .cache import cleanable

        names = [canonical_name(n) for n in args.names]
        if not names and not args.all:
            raise SystemExit("error: name the datasets to clean, or pass --all")
        fetch, builds = args.fetch or args.all, args.builds or args.all
        ours, left = cleanable(names, fetch=fetch, builds=builds)
        for p in left:
            print(f"left {p}: not made by artface (no marker) or reached through a link")
        if not ours:
            print("nothing to remove")
            return 0
        if builds and not args.yes:
            print("would remove:\n" + "\n".join(f"  {p}" for p in ours))
            if not sys.stdin.isatty() or input("remove these, finished builds included? [y/N] ").strip().lower() != "y":
                print("nothing removed (pass --yes to remove without asking)")
                return 1
        removed = clean(names, fetch=fetch, builds=builds)
        print("\n".join(f"removed {p}" for p in removed))
        return 0
    total = 0
    rows = usage()
    for what, path, nbytes, nfiles in rows:
        total += nbytes
        print(f"{what:30s} {human(nbytes):>10s} {nfiles:8,d} files  {path}")
    print(f"{'total':30s} {human(total):>10s}")
    if rows[0][2]:
        print(f"finished builds hold their own images: `artface cache clean [NAME] --downloads` removes the downloads "
              f"they no longer need, `--fetch` all {human(rows[0][2])} (a build with other options downloads again)")
    return 0


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


# -- parser -----------------------------------------------------------------------------------
def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="dataset (case-insensitive; `artface list`)")
    p.add_argument("--config", default=None, help="config of the dataset (`artface info NAME`); default: the dataset's default")
    p.add_argument("--source", default=None, help="upstream: a local folder or file, or an http(s) URL (default: upstream)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config option, e.g. size=512 (repeatable; `artface info NAME` lists them)")
    p.add_argument("--max-records", type=int, default=None, help="per split: a sample, for trials")
    p.add_argument("--only", default=None, metavar="NAME,NAME", help="all: the member datasets of the union")


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = argparse.ArgumentParser(prog="artface", description="Art-face datasets for the Hugging Face ecosystem.",
                                epilog=EXAMPLES, formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"artface {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help: str, func) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, epilog=EXAMPLES, formatter_class=_Help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        sp.set_defaults(func=func)
        return sp

    d = cmd("demo", "detect and align the astronaut photo that scikit-image ships (offline)", _cmd_demo)
    d.add_argument("--out", default="artface-out/demo", help="output folder")
    d.add_argument("--size", type=int, default=1024, help="aligned size in pixels")
    d.add_argument("--warp", choices=["fast", "reference"], default="fast", help="alignment warp")

    ls = cmd("list", "the datasets, their configs, licenses and what may be published", _cmd_list)
    ls.add_argument("--markdown", action="store_true", help="the README's table (generated from the dataset folders)")
    i = cmd("info", "a dataset's configs, every option (type, default, meaning) and where to get its data", _cmd_info)
    i.add_argument("name", help="dataset (case-insensitive)")

    b = cmd("build", "build a dataset config (resumable; failures counted and reported)", _cmd_build)
    _dataset_args(b)
    b.add_argument("--out", default=None, help="output folder (default: artface-out/NAME/<config id>, keyed by the options)")
    b.add_argument("--num-proc", type=int, default=None, help="processes (each split is cut into at least this many shards)")
    b.add_argument("--cache-dir", default=None, help="datasets cache dir")
    b.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (threads, --num-proc processes) or ray (an actor pool on a Ray cluster; pip install 'artface[ray]')")
    b.add_argument("--address", default=None, help="ray: the cluster to join (e.g. ray://head:10001; default: a local one)")
    b.add_argument("--actors", type=int, default=None, help="ray: actors, one detector session each (default: the cluster's CPUs)")
    b.add_argument("--gpus-per-actor", type=float, default=0.0, help="ray: GPUs per actor (with onnxruntime-gpu)")
    b.add_argument("--drop-downloads", action="store_true",
                   help="once built, remove the fetch cache's copies of the images its rows hold, so each image is on "
                        "disk once (as `artface cache clean NAME --downloads`; a build with other options downloads them again)")
    b.add_argument("--retry-failed", action="store_true",
                   help="try the permanent failures of the last run again too (404, no_face, ...; retryable ones always are)")
    b.add_argument("--refresh", action="store_true",
                   help="read upstream metadata again even when the finished build has nothing to redo")

    pb = cmd("publish", "write Hub-ready parquet shards + card to a folder or hf://datasets/ORG/NAME", _cmd_publish)
    _dataset_args(pb)
    pb.add_argument("--mode", choices=[*MODES, *OLD_MODES], default="urls", metavar="{" + ",".join(MODES) + "}",
                    help="urls (rows link each image; no image data) or pixels (rows carry the images)")
    pb.add_argument("--to", default=None, help="folder (default artface-hub/NAME) or hf://datasets/ORG/NAME")
    pb.add_argument("--private", action="store_true", help="allowed for modes the license permits only privately")
    pb.add_argument("--make-private", action="store_true",
                    help="with --private onto an existing public Hub repo: turn it private before anything is uploaded")
    pb.add_argument("--max-shard-size", default="500MB", help="largest parquet shard")
    pb.add_argument("--num-proc", type=int, default=None, help="processes for the build")
    pb.add_argument("--dry-run", action="store_true",
                    help="stage and compare: rows, bytes and files added/changed/removed per config, and the card; write nothing")
    pb.add_argument("--create-pr", action="store_true", help="Hub: open a pull request instead of committing to the branch")
    pb.add_argument("--revision", default=None, help="Hub: the branch to commit to (created from main if missing)")
    pb.add_argument("--commit-message", default=None, help="Hub: the commit message")
    pb.add_argument("--replace", action="store_true",
                    help="allow replacing a published config by a sample or by fewer rows (refused otherwise)")

    e = cmd("export", "export a finished build as webdataset tar shards, an imagefolder or parquet", _cmd_export)
    _dataset_args(e)
    e.add_argument("--format", choices=["webdataset", "imagefolder", "parquet"], default="webdataset", help="output format")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--samples-per-shard", type=int, default=1000, help="webdataset: samples per tar shard")

    dd = cmd("dedup", "near-duplicates within and across datasets (perceptual hashes; pairs, groups, leakage, contact sheet)",
             _cmd_dedup)
    dd.add_argument("names", nargs="+", help="datasets")
    dd.add_argument("--config", default="aligned", help="a pixel config of each dataset (aligned faces by default)")
    dd.add_argument("--source", action="append", default=[], metavar="[NAME=]SOURCE", help="upstream per dataset")
    dd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config option for every dataset")
    dd.add_argument("--max-records", type=int, default=None, help="per split: a sample")
    dd.add_argument("--threshold", type=int, default=32, help="max distance (bits of 128) of a pair (benchmarks/bench_dedup.py); at about 16 and under, "
                    "a multi-index search finds the same pairs faster")
    dd.add_argument("--out", required=True, help="report folder")

    sh = cmd("show", "a page to look at a finished build before publishing: summary, gallery with landmarks, "
                     "failures, label and quality plots (self-contained, offline)", _cmd_show)
    _dataset_args(sh)
    sh.add_argument("--build", default=None, metavar="FOLDER", help="a build folder to show (instead of NAME's options)")
    sh.add_argument("--out", default=None, help="page folder (default: <build folder>/show)")
    sh.add_argument("--dedup", default=None, metavar="DIR", help="an `artface dedup --out` folder: show its closest pairs")
    sh.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1 and print the URL")
    sh.add_argument("--port", type=int, default=0, help="--serve: the port (default: any free one)")

    v = cmd("validate", "check a published folder or repo as the Hub would read it", _cmd_validate)
    v.add_argument("dest", help="folder or hf://datasets/ORG/NAME")
    v.add_argument("--revision", default=None, help="Hub: the branch, tag, commit or refs/pr/N to check (default main)")

    c = cmd("cache", "show what artface keeps on disk (fetch cache, work store, builds), or clean it", _cmd_cache)
    c.add_argument("action", nargs="?", choices=["show", "clean"], default="show", help="show sizes, or clean")
    c.add_argument("names", nargs="*", help="clean: the datasets whose work store to remove")
    c.add_argument("--fetch", action="store_true", help="clean: the fetch cache too")
    c.add_argument("--downloads", action="store_true",
                   help="clean: only the downloads that NAME's finished builds no longer need (their rows hold the images)")
    c.add_argument("--builds", action="store_true", help="clean: the finished builds too")
    c.add_argument("--all", action="store_true", help="clean: everything")
    c.add_argument("--yes", action="store_true", help="clean: remove finished builds without asking")

    cmd("doctor", "installed packages, onnxruntime providers, where each model resolves", _cmd_doctor)
    return p


def _one_line(exc: BaseException) -> str:
    """The error as one line: artface's own say it all; others get their type in front."""
    from .errors import ArtfaceError

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if type(exc).__name__ == "LocalTokenNotFoundError" or status == 401:
        return "the Hub found no valid token: run `hf auth login` or set HF_TOKEN"
    if isinstance(exc, PermissionError) and getattr(exc, "filename", None):
        return f"cannot write {exc.filename}: permission denied"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, ArtfaceError) else f"{type(exc).__name__}: {text}"


def _interrupted() -> int:
    print("\ninterrupted: finished records are kept; run the same command again to resume", file=sys.stderr)
    return 130


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def main(argv: list[str] | None = None) -> int:
    from .errors import ArtfaceError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "cache" and not any(e.startswith("-") for e in extra):
        args.names = [*args.names, *extra]  # `cache clean --builds kaokore`: names after the flags
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return _interrupted()
    except ArtfaceError as exc:
        if args.debug:
            raise
        kind = "refused" if exc.exit_code == 2 and type(exc).__name__ == "PublishRefused" else "error"
        print(f"{kind}: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - one line for the user; --debug shows the traceback
        if _caused_by_ctrl_c(exc):  # a process pool hides the Ctrl-C behind its own error (num_proc)
            return _interrupted()
        if args.debug:
            raise
        print(f"error: {_one_line(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
