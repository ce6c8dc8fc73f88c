"""Export a finished build as webdataset tar shards, an imagefolder, or parquet shards.

Webdataset samples are ``<key>.<ext>`` (the image bytes as built), ``<key>.json`` (every other
column; ClassLabels as ids and names) and ``<key>.txt`` (the first caption); ``webdataset`` and
``datasets.load_dataset("webdataset", ...)`` read them. Each shard gets ``<shard>_stats.json``
(samples, bytes, seconds, img/s) and each split a stats line with its build's success rate, as
img2dataset users expect.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import datasets
from PIL import Image

from .errors import ArtfaceError
from .paths import safe_name
from .build import Build

FORMATS = ("webdataset", "imagefolder", "parquet")


def _key(rid: str) -> str:
    """A webdataset key: no dots (webdataset splits the key at the first one) and no slashes."""
    return safe_name(rid).replace(".", "_")


def _ext(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as im:
        return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(im.format or "", (im.format or "bin").lower())


def _meta(row: dict, features: datasets.Features) -> dict:
    out = {}
    for k, v in row.items():
        f = features.get(k)
        if isinstance(f, datasets.Image):
            continue
        out[k] = v
        if isinstance(f, datasets.ClassLabel) and isinstance(v, int) and v >= 0:
            out[f"{k}_name"] = f.int2str(v)
    return out


def export(build: Build, fmt: str, out: str | Path, samples_per_shard: int = 1000) -> dict:
    """Write a finished build to ``out`` in ``fmt``; returns the stats written. Reads the build's
    files only: nothing is fetched or detected again."""
    if fmt not in FORMATS:
        raise ArtfaceError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    report = build.report
    dsd = build.datasets()
    name, config = build.dataset_name, build.config_name
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    image_cols = [k for k, f in build.features.items() if isinstance(f, datasets.Image)]
    if fmt == "imagefolder" and "image" not in image_cols:
        raise ArtfaceError(f"{name}/{config} holds no pixels: imagefolder needs an original or aligned config")
    stats: dict = {"dataset": name, "config": config, "format": fmt, "splits": {}, "shards": []}
    for split, ds in dsd.items():
        s = report["splits"].get(split, {})
        stats["splits"][split] = {"samples": len(ds), "records": s.get("total", len(ds)),
                                  "success_rate": round(len(ds) / max(1, s.get("total", len(ds))), 4),
                                  "failed_by_reason": s.get("failed_by_reason", {})}
        raw = ds.cast_column("image", datasets.Image(decode=False)) if "image" in image_cols else ds
        for c in image_cols:
            if c != "image":
                raw = raw.cast_column(c, datasets.Image(decode=False))
        if fmt == "parquet":
            from .publish import write_shards

            paths, _ = write_shards(ds, out, ".", split, "500MB")
            stats["shards"] += [{"shard": p, "samples": len(ds)} for p in paths]
            continue
        if fmt == "imagefolder":
            (out / split).mkdir(exist_ok=True)
            with open(out / split / "metadata.jsonl", "w", encoding="utf-8") as meta:
                for row in raw:
                    name = f"{_key(row['id'])}.{_ext(row['image']['bytes'])}"
                    (out / split / name).write_bytes(row["image"]["bytes"])
                    meta.write(json.dumps({"file_name": name, **_meta(row, ds.features)}, ensure_ascii=False) + "\n")
            continue
        n_shards = max(1, -(-len(raw) // samples_per_shard))
        for i in range(n_shards):
            t0 = time.perf_counter()
            name = f"{split}-{i:05d}.tar"
            part = raw.select(range(i * samples_per_shard, min(len(raw), (i + 1) * samples_per_shard)))
            nbytes = 0
            with tarfile.open(out / name, "w") as tar:
                for row in part:
                    key = _key(row["id"])
                    files = {f"{key}.json": json.dumps(_meta(row, ds.features), ensure_ascii=False).encode()}
                    if row.get("captions"):
                        files[f"{key}.txt"] = row["captions"][0].encode()
                    for c in image_cols:
                        if row.get(c) and row[c].get("bytes"):
                            suffix = "" if c == "image" else f".{c}"
                            files[f"{key}{suffix}.{_ext(row[c]['bytes'])}"] = row[c]["bytes"]
                    for fname, data in files.items():
                        info = tarfile.TarInfo(fname)
                        info.size, info.mtime, info.mode = len(data), 0, 0o644
                        tar.addfile(info, io.BytesIO(data))
                        nbytes += len(data)
            dt = time.perf_counter() - t0
            shard = {"shard": name, "samples": len(part), "bytes": nbytes, "seconds": round(dt, 3),
                     "img_per_s": round(len(part) / dt, 1) if dt else None}
            (out / f"{split}-{i:05d}_stats.json").write_text(json.dumps(shard, indent=1))
            stats["shards"].append(shard)
    (out / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False))
    return stats
