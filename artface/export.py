"""Export a finished build as webdataset tar shards, an imagefolder, or parquet shards.

Reads the build's files only (``artface.build.Build``): nothing is fetched or detected again.

* Keys are ``<position in the split, 8 digits>-<the id's safe characters>``: unique by construction
  (two ids that differ only in ``.``, ``/`` or past the length limit still get two keys) and safe as
  a webdataset key (no dot) and a file name. The row's own ``id`` is in its JSON.
* Webdataset samples (written with ``webdataset.TarWriter``) are ``<key>.<ext>`` (the image bytes as
  built; ``<key>.<column>.<ext>`` for other image columns), ``<key>.json`` (every other column;
  ClassLabels as ids plus ``<column>_name``) and ``<key>.txt`` (the first caption).
* The folder is replaced whole (staged beside it, then swapped in), so a re-export never leaves old
  shards next to new ones; a folder that is not an artface export is never replaced.
* Column types come from the build's features: ``README.md`` declares them, so
  ``datasets.load_dataset(<folder>)`` reads exactly those types (no inference from the first rows).
* Statistics (img2dataset's per-shard ``<shard>_stats.json`` and ``stats.json``) live in ``__stats__/``,
  where neither webdataset's brace patterns nor ``datasets``' data-file patterns take them.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import time
import uuid
from pathlib import Path

import datasets
from PIL import Image

from .build import Build
from .errors import ArtfaceError
from .swap import replace_dir

FORMATS = ("webdataset", "imagefolder", "parquet")
STATS = "__stats__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sample_key(position: int, rid: str) -> str:
    """Unique per split by construction (the position), readable (the id's safe characters, no dot)."""
    slug = _UNSAFE.sub("_", str(rid)).strip("_")[:64]
    return f"{position:08d}-{slug}" if slug else f"{position:08d}"


def _ext(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as im:
        return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(im.format or "", (im.format or "bin").lower())


def meta_features(features: datasets.Features) -> datasets.Features:
    """The JSON's columns: every non-image column as built, plus ``<ClassLabel>_name`` strings."""
    out = {}
    for k, f in features.items():
        if isinstance(f, datasets.Image):
            continue
        out[k] = f
        if isinstance(f, datasets.ClassLabel):
            out[f"{k}_name"] = datasets.Value("string")
    return datasets.Features(out)


def _meta(row: dict, features: datasets.Features) -> dict:
    out = {}
    for k, v in row.items():
        f = features.get(k)
        if isinstance(f, datasets.Image):
            continue
        out[k] = v
        if isinstance(f, datasets.ClassLabel):
            out[f"{k}_name"] = f.int2str(v) if isinstance(v, int) and v >= 0 else None
    return out


def _readme(features: datasets.Features, splits: dict[str, list[str]]) -> str:
    """YAML that makes ``datasets.load_dataset(<export folder>)`` read the files with the build's types."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData()
    DatasetInfosDict({"default": datasets.DatasetInfo(features=features)}).to_dataset_card_data(data)
    MetadataConfigs({"default": {"data_files": [{"split": s, "path": f} for s, f in splits.items() if f]}}
                    ).to_dataset_card_data(data)
    return f"---\n{data.to_yaml()}\n---\n\nAn artface export: `datasets.load_dataset(\"<this folder>\")` reads it.\n"


def _check_target(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ArtfaceError(f"{out} is not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / STATS / "stats.json").is_file():
        raise ArtfaceError(f"{out} holds files that are not an artface export: choose an empty or new folder for --out")


def export(build: Build, fmt: str, out: str | Path, samples_per_shard: int = 1000) -> dict:
    """Write a finished build to ``out`` in ``fmt``, replacing ``out`` whole; returns the stats written."""
    if fmt not in FORMATS:
        raise ArtfaceError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out).absolute()
    _check_target(out)
    features = build.features
    image_cols = [k for k, f in features.items() if isinstance(f, datasets.Image)]
    name, config = build.dataset_name, build.config_name
    if fmt == "imagefolder" and "image" not in image_cols:
        raise ArtfaceError(f"{name}/{config} holds no pixels: imagefolder needs an original or aligned config")
    staging = out.parent / f".{out.name}.export-{uuid.uuid4().hex[:8]}"
    (staging / STATS).mkdir(parents=True)
    try:
        stats = _write(build, fmt, staging, samples_per_shard, image_cols)
        replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stats


def _write(build: Build, fmt: str, folder: Path, samples_per_shard: int, image_cols: list[str]) -> dict:
    features = build.features
    report = build.report
    stats: dict = {"dataset": build.dataset_name, "config": build.config_name, "format": fmt, "splits": {}, "shards": []}
    files: dict[str, list[str]] = {}
    readme_features = None
    for split in build.splits:
        ds = build.dataset(split)
        s = report.get("splits", {}).get(split, {})
        total = s.get("total", len(ds))
        stats["splits"][split] = {"samples": len(ds), "records": total, "success_rate": round(len(ds) / max(1, total), 4),
                                  "failed_by_reason": s.get("failed_by_reason", {})}
        if not len(ds):
            continue
        if fmt == "parquet":
            from .publish import write_shards

            paths, _ = write_shards(ds, folder, ".", split, "500MB")
            files[split] = [Path(p).name for p in paths]
            stats["shards"] += [{"shard": Path(p).name, "samples": len(ds)} for p in paths]
            readme_features = features
            continue
        raw = ds
        for c in image_cols:
            raw = raw.cast_column(c, datasets.Image(decode=False))
        if fmt == "imagefolder":  # metadata as parquet: typed as built, the same in every split
            (folder / split).mkdir()
            meta = []
            for i, row in enumerate(raw):
                if not (row.get("image") or {}).get("bytes"):
                    continue
                fname = f"{sample_key(i, row['id'])}.{_ext(row['image']['bytes'])}"
                (folder / split / fname).write_bytes(row["image"]["bytes"])
                meta.append({"file_name": fname, **_meta(row, features)})
            typed = datasets.Features({"file_name": datasets.Value("string"), **meta_features(features)})
            datasets.Dataset.from_list(meta, features=typed).to_parquet(str(folder / split / "metadata.parquet"))
            files[split] = [f"{split}/*"]
            readme_features = datasets.Features({"image": datasets.Image(), **meta_features(features)})
            continue
        stats["shards"] += _write_tars(raw, split, folder, samples_per_shard, image_cols, features)
        files[split] = [f"{split}-*.tar"]
    if fmt == "webdataset":
        readme_features = _wds_features(build, image_cols)
    (folder / "README.md").write_text(_readme(readme_features or features, files), encoding="utf-8")
    (folder / STATS / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False))
    return stats


def _wds_features(build: Build, image_cols: list[str]) -> datasets.Features:
    """What the webdataset reader yields per sample, typed as built."""
    exts = {}
    for split in build.splits:  # the image extension each image column was written with
        ds = build.dataset(split)
        if len(ds):
            first = ds.cast_column(image_cols[0], datasets.Image(decode=False))[0] if image_cols else {}
            for c in image_cols:
                data = (first.get(c) or {}).get("bytes")
                if data:
                    exts[c] = _ext(data)
            break
    out = {"__key__": datasets.Value("string"), "__url__": datasets.Value("string")}
    for c in image_cols:
        out[f"{'' if c == 'image' else c + '.'}{exts.get(c, 'jpg')}"] = datasets.Image()
    out["json"] = meta_features(build.features)
    out["txt"] = datasets.Value("string")
    return datasets.Features(out)


def _write_tars(raw: datasets.Dataset, split: str, folder: Path, per_shard: int, image_cols: list[str],
                features: datasets.Features) -> list[dict]:
    import webdataset as wds

    shards = []
    n_shards = max(1, -(-len(raw) // per_shard))
    for s in range(n_shards):
        t0 = time.perf_counter()
        name = f"{split}-{s:05d}.tar"
        start, stop = s * per_shard, min(len(raw), (s + 1) * per_shard)
        nbytes = 0
        with wds.TarWriter(str(folder / name)) as sink:
            for i, row in zip(range(start, stop), raw.select(range(start, stop))):
                sample = {"__key__": sample_key(i, row["id"]),
                          "json": json.dumps(_meta(row, features), ensure_ascii=False).encode()}
                if row.get("captions"):
                    sample["txt"] = row["captions"][0].encode()
                for c in image_cols:
                    data = (row.get(c) or {}).get("bytes")
                    if data:
                        sample[f"{'' if c == 'image' else c + '.'}{_ext(data)}"] = data
                nbytes += sum(len(v) for k, v in sample.items() if k != "__key__")
                sink.write(sample)
        dt = time.perf_counter() - t0
        shard = {"shard": name, "samples": stop - start, "bytes": nbytes, "seconds": round(dt, 3),
                 "img_per_s": round((stop - start) / dt, 1) if dt else None}
        (folder / STATS / f"{split}-{s:05d}_stats.json").write_text(json.dumps(shard, indent=1))
        shards.append(shard)
    return shards
