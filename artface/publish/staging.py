"""Staging: a finished build -> the files one config adds to a repo, and the card inputs.

``stage_config`` writes the config's parquet shards (``<config>/<split>-NNNNN-of-NNNNN.parquet``),
its preview and charts (pixel publishes only) into a folder and returns its ``artface.json`` entry;
``write_card`` writes README.md and ``artface.json`` from the entries the destination already has
plus this one (re-run on a commit conflict, since another publish may have added a config).
``config_files`` names every file a config owns in a repo, so stale ones are removed.
URL-only shards never hold pixels and keep URLs as plain strings, so readers need no artface.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
from datasets.utils.py_utils import convert_file_size_to_int

from .._version import __version__
from ..build import Build, run_build
from ..builders import builder_class, load_builder
from ..builders._base import ArtfaceBuilder
from ..cards import card_data, render_card
from ..errors import ArtfaceError
from ..kinds import kind as kind_of
from ..licenses import PublishRefused, check_publish, publish_mode
from ..schema import GEOMETRY, QUALITY

META_NAME = "artface.json"


def config_files(hub_config: str) -> list[str]:
    """Glob patterns (fnmatch, as ``delete_patterns``) of every file a config owns in a repo: its
    shards and its pictures. A re-publish replaces exactly these; other configs' files stay."""
    return [f"{hub_config}/*", f"assets/{hub_config}-preview.png", f"assets/{hub_config}-quality.png",
            f"assets/{hub_config}-labels-*.png"]


class PublishEmpty(ArtfaceError, ValueError):
    """The config built no rows: there is nothing to publish."""


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
    pixels = [n for n, e in entries.items() if e["mode"] == "pixels"]
    if pixels:
        return previous if previous in pixels else pixels[0]
    return previous if previous in entries else next(iter(entries))


@dataclass
class Staged:
    """One config's files, written into ``folder``, and what its card needs beside the repo's other entries."""
    folder: Path
    dataset: str
    hub_config: str
    mode: str
    entry: dict
    builder: ArtfaceBuilder
    private: bool
    gated: bool

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())


def stage_config(name: str, config: str | None, mode: str, private: bool, max_shard_size: int | str, out: Path,
                 num_proc: int | None = None, gated: bool = False, **options) -> Staged:
    """Read (or make) the config's finished build and write the files it adds to a repo into ``out``."""
    check_publish(builder_class(name).POLICY, mode, private)
    builder = load_builder(name, config, **options)
    k = kind_of(builder.config.kind)
    if mode == "pixels" and not k.pixels:
        raise ArtfaceError(f"{name}: mode 'pixels' needs a config with pixels (original or aligned), "
                           f"not {builder.config.name!r}")
    # a finished build is published as it is (no request); only a missing one is built first
    build = Build.try_open(builder.default_output_dir()) or run_build(builder, num_proc=num_proc).build
    report = build.report
    if not report["written"]:
        raise PublishEmpty(f"{name}/{builder.config.name}: no rows to publish: all {report['total']} records failed "
                           f"({report['failed_by_reason']}); {report['advice']}")
    dsd = build.datasets()
    members_table = ""
    keep = builder.members_with_pixels(mode, private)  # a union: each member's policy, row by row
    if keep is not None:
        names = next(iter(dsd.values())).features["dataset"].names
        if mode == "pixels":
            drop = {names.index(m) for m in builder.config.members if m not in keep}
            dsd = datasets.DatasetDict({s: ds.map(lambda r: {"image": None} if r["dataset"] in drop else {},
                                                  features=ds.features) for s, ds in dsd.items()})
        members_table = union_members_table(report, keep if mode == "pixels" else [])
    if mode == "pixels" and "image" in next(iter(dsd.values())).column_names:  # the repo opens on pixels
        dsd = datasets.DatasetDict(sorted(dsd.items(), key=lambda kv: kv[1].data.column("image").null_count == len(kv[1])))
    if mode == "urls" and "image" in next(iter(dsd.values())).column_names:
        dsd = datasets.DatasetDict({s: ds.remove_columns("image") for s, ds in dsd.items()})
    if mode == "urls":  # URL-only means URLs: a row that names no image would publish nothing of it
        missing = sum(ds.data.column("image_url").null_count for ds in dsd.values())
        if missing:
            total = sum(len(ds) for ds in dsd.values())
            raise PublishRefused(f"{name}/{builder.config.name}: {missing} of {total} rows have no public http(s) image_url, "
                                 f"so a URL-only publish would not say where their images are. Publish a config whose "
                                 f"source has image URLs, or with --mode pixels where the license allows it.")
    dsd, dropped = drop_empty_columns(dsd, GEOMETRY)
    hub_config = builder.config.name if (mode == "pixels" or not k.pixels) else f"{builder.config.name}-urls"
    splits, split_bytes, download_size = {}, {}, 0
    for split, ds in dsd.items():
        paths, nbytes = write_shards(ds, out, hub_config, split, max_shard_size)
        splits[split], split_bytes[split] = len(ds), nbytes
        download_size += sum((out / p).stat().st_size for p in paths)
    first = next(iter(dsd.values()))
    preview_rel, preview_points, chart_files = None, False, []
    if mode == "pixels":  # pictures of the data only where the data's pixels are published too
        from .. import charts

        (out / "assets").mkdir(exist_ok=True)
        drawn = [(f"assets/{hub_config}-labels-{i}.png", img) for i, (_, img) in enumerate(charts.label_charts(build))]
        q = charts.quality_chart(build, QUALITY)
        drawn += [(f"assets/{hub_config}-quality.png", q)] if q is not None else []
        with_pixels = next((ds for ds in dsd.values() if ds.data.column("image").null_count < len(ds)), first)
        preview, preview_points = preview_image(with_pixels, k.aligns)
        if preview is not None:
            preview_rel = f"assets/{hub_config}-preview.png"
            drawn.append((preview_rel, preview))
        for rel, img in drawn:
            img.save(out / rel, optimize=False)
        chart_files = [rel for rel, _ in drawn if rel != preview_rel]
    prov = report["provenance"]
    points = prov.get("points", {})
    entry = {
        "mode": mode,
        "builder_config": builder.config.name,
        "description": builder.config.description or "",
        "kind": k.name,
        "data_dir": hub_config,
        "splits": splits,
        "split_bytes": split_bytes,
        "download_size": download_size,
        "features": first.features.to_dict(),
        "dropped_columns": dropped,
        "quality": quality_quantiles(dsd),
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
            "source_facts": prov.get("source_facts", {}),
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
    return Staged(out, name, hub_config, mode, entry, builder, private, gated)


def write_card(staged: Staged, existing: dict, repo_id: str) -> str:
    """README.md and ``artface.json`` for the repo as it will be: ``existing`` (the destination's
    ``artface.json``) with this config's entry put in. Returns the README text."""
    cls, builder = type(staged.builder), staged.builder
    entries = {n: {**e, "mode": publish_mode(e["mode"])} for n, e in existing.get("configs", {}).items()}
    entries[staged.hub_config] = staged.entry
    policy = builder.repo_policy()
    default = default_config(entries, existing.get("default"), policy)
    data = card_data(policy, cls.card_meta(), entries, default, staged.gated)
    pixel_config = next((c.name for c in cls.BUILDER_CONFIGS if kind_of(c.kind).aligns),
                        next((c.name for c in cls.BUILDER_CONFIGS if kind_of(c.kind).pixels), builder.config.name))
    private_only = staged.private and staged.mode not in policy.public_modes  # allowed only because the repo is private
    readme = render_card(cls.FOLDER, policy, data, entries, default, cls.citation(), cls.FIELD_DOCS, repo_id,
                         staged.dataset, dict(cls.PAPERS), staged.gated, pixel_config, private_only)
    (staged.folder / "README.md").write_text(readme)
    (staged.folder / META_NAME).write_text(json.dumps({"dataset": staged.dataset, "default": default, "configs": entries},
                                                      indent=1, ensure_ascii=False))
    return readme
