"""Publisher: a builder's output -> a Hub dataset repo laid out as ``push_to_hub`` lays it out.

``publish()`` checks the license policy, builds (or reuses) the config, writes parquet shards
(``<config>/<split>-NNNNN-of-NNNNN.parquet``, ``data/`` for the default config), a preview
image, ``artface.json`` (build records of every published config) and README.md, then puts
them in a local folder or pushes them to ``hf://datasets/<org>/<name>`` in one atomic commit.
URL-only shards never hold pixels and keep URLs as plain strings, so readers need no artface.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
from datasets.utils.py_utils import convert_file_size_to_int

from artface_align.models import sha256_file

from . import __version__
from .builders import builder_class, load_builder
from .cards import card_data, render_card
from .errors import ArtfaceError
from .licenses import PublishRefused, check_publish
from .build import Build, run_build
from .kinds import kind as kind_of
from .schema import GEOMETRY, QUALITY
from .swap import remove_orphans, replace_dir

log = logging.getLogger(__name__)
MODES = ("urls", "processed")
HUB_PREFIX = "hf://datasets/"
META_NAME = "artface.json"


class PublishEmpty(ArtfaceError, ValueError):
    """The config built no rows: there is nothing to publish."""


@dataclass
class PublishResult:
    destination: str
    config: str
    files: list[str]
    commit: str | None = None  # Hub commit id, None for folders or when nothing changed
    changed: bool = True
    rows: dict[str, int] = field(default_factory=dict)
    url: str | None = None  # the commit or pull request on the Hub, the folder otherwise
    readme: str = ""
    dry_run: bool = False


def nice_shard_count(needed: int) -> int:
    """1, or a multiple of 8 (divides by world sizes 1, 2, 4, 8) so split_dataset_by_node can split by files."""
    return 1 if needed <= 1 else 8 * -(-needed // 8)


def write_shards(ds: datasets.Dataset, folder: Path, data_dir: str, split: str, max_shard_size: int | str) -> tuple[list[str], int]:
    """Parquet shards with datasets' row-group sizing; returns their repo paths and total bytes."""
    nbytes = ds._estimate_nbytes()
    by_size = get_writer_batch_size_from_data_size(len(ds), nbytes) if len(ds) else 1  # ~100 MB row groups
    batch = min(get_writer_batch_size_from_features(ds.features) or by_size, by_size)
    n = min(max(1, len(ds)), nice_shard_count(int(nbytes / convert_file_size_to_int(max_shard_size)) + 1))
    paths = []
    for i in range(n):
        rel = f"{data_dir}/{split}-{i:05d}-of-{n:05d}.parquet"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        ds.shard(num_shards=n, index=i, contiguous=True).to_parquet(str(folder / rel), batch_size=batch)
        paths.append(rel)
    return paths, nbytes


def preview_image(ds: datasets.Dataset, aligned: bool, n: int = 8) -> tuple[object, bool]:
    """A grid of a few faces with exactly the published landmarks of each image drawn on it (for
    aligned configs the ``*_aligned`` columns, in the aligned image's pixels). Pixel configs only:
    a URL-only repo has no pixels to show, and drawing its points on blank cells would show nothing true."""
    from artface_align.draw import draw_points, grid

    cells, drew = [], False
    for row in ds.select(range(min(n, len(ds)))):
        if row["image"] is None:  # a union row whose member publishes no pixels
            continue
        img = row["image"].convert("RGB")
        pts = (row.get("landmarks68_aligned") or row.get("kps5_aligned")) if aligned else \
            (row.get("landmarks68") or row.get("kps5"))
        cells.append(draw_points(img, np.asarray(pts)) if pts is not None else img)
        drew = drew or pts is not None
    return (grid(cells, cell=192, cols=4) if cells else None), drew


def drop_empty_columns(dsd: datasets.DatasetDict, candidates: tuple[str, ...]) -> tuple[datasets.DatasetDict, list[str]]:
    """Columns among ``candidates`` that are null in every row of every split are not published."""
    def is_empty(ds: datasets.Dataset, col: str) -> bool:
        return col in ds.column_names and ds.data.column(col).null_count == ds.data.num_rows

    empty = [c for c in candidates if all(is_empty(ds, c) for ds in dsd.values())]
    return (datasets.DatasetDict({s: ds.remove_columns(empty) for s, ds in dsd.items()}) if empty else dsd), empty


def _read_existing_meta(dest: str) -> dict:
    try:
        if dest.startswith(HUB_PREFIX):
            from huggingface_hub import HfFileSystem

            fs = HfFileSystem()
            path = f"datasets/{dest[len(HUB_PREFIX):]}/{META_NAME}"
            return json.loads(fs.read_bytes(path)) if fs.exists(path) else {}
        p = Path(dest) / META_NAME
        return json.loads(p.read_text()) if p.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s at %s: %s", META_NAME, dest, exc)
        return {}


def union_members_table(report: dict, with_pixels: list[str]) -> str:
    """Per member of a union: license, attribution, rows, and whether its rows carry pixels."""
    rows = ["| member | license | rows | pixels | attribution |", "|---|---|---|---|---|"]
    for m, counts in report.get("members", {}).items():
        p = builder_class(m).POLICY
        lic = p.hub_license + (f" ({p.license_name})" if p.hub_license == "other" else "")
        rows.append(f"| `{m}` | {lic} | {counts['written']:,} | {'yes' if m in with_pixels else 'no (URL-only by its policy)'} "
                    f"| {p.attribution} |")
    return "\n".join(rows)


def quality_quantiles(dsd: datasets.DatasetDict) -> dict[str, list[float]]:
    """5th, 50th and 95th percentiles of each quality column over all splits (for the card)."""
    out = {}
    for col in QUALITY:
        values = [v for ds in dsd.values() if col in ds.column_names for v in ds.data.column(col).to_pylist() if v is not None]
        if values:
            out[col] = [round(float(q), 3) for q in np.percentile(values, [5, 50, 95])]
    return out


def default_config(entries: dict[str, dict], previous: str | None, policy) -> str:
    """The repo opens on a pixel config when one is published (the license allowed it), else on
    the config it opened on before, else the first."""
    pixels = [n for n, e in entries.items() if e["mode"] == "processed"]
    if pixels:
        return previous if previous in pixels else pixels[0]
    return previous if previous in entries else next(iter(entries))


def stage(name: str, config: str | None, mode: str, dest: str, private: bool, max_shard_size: int | str,
          out: Path, num_proc: int | None = None, gated: bool = False, **options) -> tuple[str, dict]:
    """Build (or reuse) the config and write everything the repo needs into ``out``; returns the
    Hub config name and its entry."""
    cls = builder_class(name)
    check_publish(cls.POLICY, mode, private)
    builder = load_builder(name, config, **options)
    k = kind_of(builder.config.kind)
    kind = k.name
    if mode == "processed" and not k.pixels:
        raise ValueError(f"{name}: mode 'processed' needs a config with pixels (original or aligned), not {builder.config.name!r}")
    # a finished build is published as it is (no request); only a missing one is built first
    build = Build.try_open(builder.default_output_dir()) or run_build(builder, num_proc=num_proc).build
    report = build.report
    if not report["written"]:
        raise PublishEmpty(f"{name}/{builder.config.name}: no rows to publish: all {report['total']} records failed "
                           f"({report['failed_by_reason']}); {report['advice']}")
    dsd = build.datasets()
    members_table = ""
    if hasattr(cls, "check_members"):  # a union: each member's policy, row by row
        keep = cls.check_members(builder.config.members, mode, private)
        names = next(iter(dsd.values())).features["dataset"].names
        if mode == "processed":
            drop = {names.index(m) for m in builder.config.members if m not in keep}
            dsd = datasets.DatasetDict({s: ds.map(lambda r: {"image": None} if r["dataset"] in drop else {},
                                                  features=ds.features) for s, ds in dsd.items()})
        members_table = union_members_table(report, keep if mode == "processed" else [])
    if mode == "processed" and "image" in next(iter(dsd.values())).column_names:  # the repo opens on pixels
        dsd = datasets.DatasetDict(sorted(dsd.items(), key=lambda kv: kv[1].data.column("image").null_count == len(kv[1])))
    if mode == "urls" and "image" in next(iter(dsd.values())).column_names:
        dsd = datasets.DatasetDict({s: ds.remove_columns("image") for s, ds in dsd.items()})
    if mode == "urls":  # URL-only means URLs: a row that names no image would publish nothing of it
        missing = sum(ds.data.column("image_url").null_count for ds in dsd.values())
        if missing:
            total = sum(len(ds) for ds in dsd.values())
            raise PublishRefused(f"{name}/{builder.config.name}: {missing} of {total} rows have no public http(s) image_url, "
                                 f"so a URL-only publish would not say where their images are. Publish a config whose "
                                 f"source has image URLs, or with --mode processed where the license allows it.")
    dsd, dropped = drop_empty_columns(dsd, GEOMETRY)
    hub_config = builder.config.name if (mode == "processed" or not k.pixels) else f"{builder.config.name}-urls"
    existing = _read_existing_meta(dest)
    entries = dict(existing.get("configs", {}))
    splits, split_bytes, files, download_size = {}, {}, [], 0
    for split, ds in dsd.items():
        paths, nbytes = write_shards(ds, out, hub_config, split, max_shard_size)
        files += paths
        splits[split], split_bytes[split] = len(ds), nbytes
        download_size += sum((out / p).stat().st_size for p in paths)
    first = next(iter(dsd.values()))
    quality = quality_quantiles(dsd)
    preview_rel, preview_points = None, False
    chart_files: list[str] = []
    if mode == "processed":  # pictures of the data only where the data's pixels are published too
        from . import charts

        (out / "assets").mkdir(exist_ok=True)
        drawn = [(f"assets/{hub_config}-labels-{i}.png", img) for i, (_, img) in enumerate(charts.label_charts(build))]
        q = charts.quality_chart(build, QUALITY)
        drawn += [(f"assets/{hub_config}-quality.png", q)] if q is not None else []
        for rel, img in drawn:
            img.save(out / rel, optimize=False)
            chart_files.append(rel)
            files.append(rel)
        prov = report["provenance"]
        with_pixels = next((ds for ds in dsd.values() if ds.data.column("image").null_count < len(ds)), first)
        preview, preview_points = preview_image(with_pixels, k.aligns)
        if preview is not None:
            preview_rel = f"assets/{hub_config}-preview.png"
            (out / "assets").mkdir(exist_ok=True)
            preview.save(out / preview_rel, optimize=False)
            files.append(preview_rel)
    prov = report["provenance"]
    points = prov.get("points", {})
    entries[hub_config] = {
        "mode": mode,
        "builder_config": builder.config.name,
        "description": builder.config.description or "",
        "kind": kind,
        "data_dir": hub_config,
        "splits": splits,
        "split_bytes": split_bytes,
        "download_size": download_size,
        "features": first.features.to_dict(),
        "dropped_columns": dropped,
        "quality": quality,
        "members_table": members_table,
        "preview": preview_rel,
        "preview_points": preview_rel is not None and preview_points,
        "charts": chart_files,
        "build": {
            "artface_version": __version__,
            "built_at": report.get("built_at") or _dt.date.today().isoformat(),
            "detector": (None if not k.detects or set(points) <= {"upstream"}
                         else ", ".join(f"{k} ({n} faces)" for k, n in points.items())),
            "detector_models": prov.get("detector_models", {}),
            "recipe": prov.get("recipe"),
            "size": prov.get("size"),
            "warp": prov.get("warp"),
            "image_format": prov.get("image_format"),
            "source": prov.get("source"),
            "sample_of": prov.get("sample_of"),
            "sample": bool(prov.get("sample")),
            "max_records": prov.get("max_records"),
            "total": report["total"],
            "failed": report["failed"],
            "failed_by_reason": report["failed_by_reason"],
            "skipped": report.get("skipped", {}),
            "by_label": report.get("by_label", {}),
        },
    }
    policy = builder.repo_policy()
    default = default_config(entries, existing.get("default"), policy)
    repo_id = dest[len(HUB_PREFIX):].strip("/") if dest.startswith(HUB_PREFIX) else f"<your-org>/{Path(dest).name}"
    meta = cls.card_meta()
    data = card_data(policy, meta, entries, default, gated)
    pixel_config = next((c.name for c in cls.BUILDER_CONFIGS if kind_of(c.kind).aligns),
                        next((c.name for c in cls.BUILDER_CONFIGS if kind_of(c.kind).pixels), builder.config.name))
    private_only = private and mode not in policy.public_modes  # allowed only because the repo is private
    readme = render_card(cls.FOLDER, policy, data, entries, default, cls.citation(), cls.FIELD_DOCS, repo_id, name,
                         dict(cls.PAPERS), gated, pixel_config, private_only)
    (out / "README.md").write_text(readme)
    (out / META_NAME).write_text(json.dumps({"dataset": name, "default": default, "configs": entries}, indent=1, ensure_ascii=False))
    return hub_config, entries[hub_config]


def _git_blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def _same_tree(a: Path, b: Path) -> bool:
    files = lambda root: {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}  # noqa: E731
    fa, fb = files(a), files(b) if b.is_dir() else {}
    return fa.keys() == fb.keys() and all(sha256_file(fa[k]) == sha256_file(fb[k]) for k in fa)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _put_local(staged: Path, dest: Path, data_dir: str) -> bool:
    """Sync the staged repo into ``dest``; returns whether anything changed.

    The whole folder changes at one instant: the new tree is made beside it (unchanged files
    hard-linked, the config's shard folder and changed files new) and swapped in with one atomic
    exchange, so a reader finds the old repo or the new one, never a mix or none. A leftover of a
    crash (``.<name>.artface-new``) is removed by the next run."""
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    new = dest.parent / f".{dest.name}.artface-new"
    shutil.rmtree(new, ignore_errors=True)
    if dest.is_dir():
        shutil.copytree(dest, new, copy_function=_link_or_copy)
    else:
        new.mkdir()
    shutil.rmtree(new / data_dir, ignore_errors=True)
    for path in staged.rglob("*"):
        if path.is_file():
            target = new / path.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # never write through a hard link into the old tree
            shutil.copyfile(path, target)
    if dest.is_dir() and _same_tree(new, dest):
        shutil.rmtree(new)
        return False
    replace_dir(new, dest)
    return True


def prepare_hub_repo(repo_id: str, private: bool, gated: bool, make_private: bool = False) -> None:
    """Visibility and gating, checked or set before any data is built or committed (and again on a
    "no change" re-publish): a new repo is created private/gated first; ``private`` onto an existing
    public repo is refused unless ``make_private`` turns it private first."""
    from huggingface_hub import HfApi

    api = HfApi()  # endpoint and token from the environment / login; never printed
    if not api.repo_exists(repo_id, repo_type="dataset"):
        api.create_repo(repo_id, repo_type="dataset", private=private)
    info = api.dataset_info(repo_id)
    if private and not info.private:
        if not make_private:
            raise PublishRefused(f"{repo_id} exists and is public: a --private publish would make its data public. "
                                 f"Pass --make-private to turn the repo private first, or publish to another repo.")
        api.update_repo_settings(repo_id, private=True, repo_type="dataset")
    if gated and not info.gated:
        api.update_repo_settings(repo_id, gated="auto", repo_type="dataset")


def _push_hub(staged: Path, repo_id: str, data_dir: str, message: str, revision: str | None = None,
              create_pr: bool = False) -> tuple[str | None, bool, str | None]:
    """One commit with the files whose content changed (the repo was prepared before); returns
    (commit id, changed, URL of the commit or pull request)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi()
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    remote = {}
    for item in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, revision=revision):
        if hasattr(item, "blob_id"):
            remote[item.path] = item
    ops = []
    local = {p.relative_to(staged).as_posix(): p for p in staged.rglob("*") if p.is_file()}
    for rel, path in sorted(local.items()):
        r = remote.get(rel)
        if r is not None:
            same = (r.lfs.sha256 == sha256_file(path)) if r.lfs else (r.blob_id == _git_blob_sha1(path))
            if same:
                continue
        ops.append(CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)))
    ops += [CommitOperationDelete(path_in_repo=rel) for rel in remote if rel.startswith(f"{data_dir}/") and rel not in local]
    if not ops:
        return None, False, None
    info = api.create_commit(repo_id, operations=ops, commit_message=message, repo_type="dataset", revision=revision,
                             create_pr=create_pr)
    return info.oid, True, info.pr_url or info.commit_url


STAGING_PREFIX = "artface-publish-"


def publish(name: str, config: str | None = None, mode: str = "urls", to: str | None = None, private: bool = False,
            max_shard_size: int | str = "500MB", make_private: bool = False, dry_run: bool = False,
            create_pr: bool = False, revision: str | None = None, commit_message: str | None = None,
            num_proc: int | None = None, **options) -> PublishResult:
    """Publish a dataset config as URL-only or processed shards with a license-aware card.

    ``to``: a folder (default ``./artface-hub/<name>``) or ``hf://datasets/<org>/<name>``. Refused
    (``PublishRefused``) when the license policy does not allow ``mode`` (publicly, or with ``private``).
    A finished build with the same options is reused (``artface build`` writes to the same folder).
    ``dry_run``: build and stage, return the file list and the card, write and upload nothing.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    dest = to or f"artface-hub/{name}"
    cls = builder_class(name)
    check_publish(cls.POLICY, mode, private)  # before any work
    probe = load_builder(name, config, **options)  # options checked before any network or disk work
    if hasattr(cls, "check_members"):
        cls.check_members(probe.config.members, mode, private)  # a member that blocks the mode says so now
    policy = probe.repo_policy()  # a union's: the strictest member's terms
    repo_id = dest[len(HUB_PREFIX):].strip("/") if dest.startswith(HUB_PREFIX) else None
    hub_only = [flag for flag, on in (("--create-pr", create_pr), ("--revision", revision), ("--make-private", make_private),
                                      ("--commit-message", commit_message)) if on]
    if hub_only and not repo_id:
        raise ArtfaceError(f"{', '.join(hub_only)} only apply to a Hub destination (--to hf://datasets/ORG/NAME), "
                           f"not to the folder {dest}")
    if repo_id and not dry_run:  # token, destination, visibility and gating before anything is built
        prepare_hub_repo(repo_id, private, policy.gated, make_private)
    gated = bool(repo_id) and policy.gated
    remove_orphans(Path(tempfile.gettempdir()), STAGING_PREFIX)  # staging of publishes that were killed
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        staged = Path(tmp)
        hub_config, entry = stage(name, config, mode, dest, private, max_shard_size, staged, num_proc=num_proc, gated=gated,
                                  **options)
        files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        readme = (staged / "README.md").read_text()
        commit, url = None, None
        if dry_run:
            changed = False
        elif repo_id:
            message = commit_message or f"artface publish {name}/{hub_config} ({mode})"
            commit, changed, url = _push_hub(staged, repo_id, entry["data_dir"], message, revision, create_pr)
        else:
            changed = _put_local(staged, Path(dest), entry["data_dir"])
            url = Path(dest).absolute().as_uri()
    return PublishResult(dest, hub_config, files, commit, changed, entry["splits"], url, readme, dry_run)
