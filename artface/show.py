"""`artface show`: look at a finished build before publishing it, in a browser, with no server and
no network.

Writes one self-contained folder (default ``<build>/show/``): ``index.html`` (plain HTML, CSS and JS,
no build step), ``data.js`` (summary, gallery rows, failures, near-duplicates), ``details/NNNN.js``
(every column of each row, loaded when a row is opened), ``thumbs/`` (the faces as published, with
their landmarks drawn in that image's frame) and ``charts/`` (label counts written vs failed vs kept
as crop, quality and source-size histograms: ``artface.charts``, the code the cards use). URL-only
configs show thumbnails only where the local fetch cache holds the image; the page never loads
anything from the network. Third-party text reaches the page as data and is put in with
``textContent``, never as markup.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import numpy as np
from PIL import Image, ImageDraw

from . import charts
from .build import Build
from .diskcache import DiskCache, fetch_cache_dir
from .failures import reason_info
from .schema import QUALITY
from .swap import replace_dir

THUMB = 160
PAGE = Path(__file__).parent / "show_page"
DETAILS_CHUNK = 500


def _points_in_frame(row: dict, build: Build) -> np.ndarray | None:
    """The row's landmarks in the pixels of the image the row holds: the ``*_aligned`` columns for
    aligned configs (what a ``datasets`` user draws), the source points otherwise."""
    pts = (row.get("landmarks68_aligned") or row.get("kps5_aligned")) if build.kind.aligns else \
        (row.get("landmarks68") or row.get("kps5"))
    return None if pts is None else np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _thumb(data: bytes, size: int, pts: np.ndarray | None = None) -> bytes | None:
    """A JPEG thumbnail (long side ``size``) with ``pts`` (pixels of the full image) drawn; None
    when the bytes are no image."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            full = im.size
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            img = im.convert("RGB")
            img.thumbnail((size, size))
    except Exception:  # noqa: BLE001 - a failure's body may be anything
        return None
    if pts is not None:
        sx, sy = img.width / full[0], img.height / full[1]
        d = ImageDraw.Draw(img)
        for x, y in pts:
            d.ellipse([x * sx - 2, y * sy - 2, x * sx + 2, y * sy + 2], fill=(0, 255, 255), outline=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _plain(value):
    """A column value as JSON (floats rounded; bytes never)."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not isinstance(v, bytes)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _js(name: str, value) -> str:
    """A script that sets ``window.<name>``: JSON with ``</`` escaped, so no string can end the script."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"window.{name} = {text};\n"


def show(build: Build, out: str | os.PathLike | None = None, dedup: str | os.PathLike | None = None,
         thumb: int = THUMB, workers: int = 4) -> Path:
    """Write the page of ``build`` to ``out`` (default ``<build>/show``), whole; returns ``index.html``."""
    out = Path(out or build.folder / "show").absolute()
    staging = out.parent / f".{out.name}.show-{uuid.uuid4().hex[:8]}"
    (staging / "thumbs").mkdir(parents=True)
    (staging / "details").mkdir()
    (staging / "charts").mkdir()
    try:
        data = _write(build, staging, Path(dedup) if dedup else None, thumb, workers)
        (staging / "data.js").write_text(_js("ARTFACE", data), encoding="utf-8")
        shutil.copyfile(PAGE / "index.html", staging / "index.html")
        replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def _write(build: Build, folder: Path, dedup: Path | None, thumb: int, workers: int) -> dict:
    labels = charts.label_columns(build)
    fetch_cache = DiskCache(fetch_cache_dir())
    rows, details, jobs = [], [], []
    for split in build.splits:
        if not build.num_rows(split):
            continue
        ds = build.dataset(split)
        image_cols = [k for k, f in ds.features.items() if isinstance(f, datasets.Image)]
        for c in image_cols:
            ds = ds.cast_column(c, datasets.Image(decode=False))
        for row in ds:
            i = len(rows)
            data = (row.get("image") or {}).get("bytes") if "image" in image_cols else None
            if data is None and row.get("image_url"):
                data = fetch_cache.get(row["image_url"])  # URL-only: only what this machine already fetched
            if data is not None:
                jobs.append((i, data, _points_in_frame(row, build)))
            caps = row.get("captions") or []
            rows.append({
                "i": i, "id": row["id"], "split": split, "caption": caps[0] if caps else "",
                "labels": {k: charts.label_name(names, row.get(k)) for k, names in labels.items() if k in row},
                "src": row.get("landmarks_source") or "none",
                "q": {k: _plain(row.get(k)) for k in QUALITY if row.get(k) is not None},
                "t": None,
            })
            details.append({k: _plain(v) for k, v in row.items() if k not in image_cols})

    def make(job):
        i, data, pts = job
        return i, _thumb(data, thumb, pts)

    with ThreadPoolExecutor(workers) as pool:
        for i, jpg in pool.map(make, jobs):
            if jpg is not None:
                name = f"thumbs/{i:07d}.jpg"
                (folder / name).write_bytes(jpg)
                rows[i]["t"] = name
    for c in range(0, len(details), DETAILS_CHUNK):
        (folder / "details" / f"{c // DETAILS_CHUNK:05d}.js").write_text(
            f"window.ARTFACE_DETAILS = window.ARTFACE_DETAILS || {{}};\n"
            f"window.ARTFACE_DETAILS[{c // DETAILS_CHUNK}] = "
            + json.dumps(details[c:c + DETAILS_CHUNK], ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
            + ";\n", encoding="utf-8")
    failures = _failures(build, folder, fetch_cache, thumb)
    chart_files = _charts(build, folder)
    rep = build.report
    prov = build.provenance
    summary = {
        "dataset": build.dataset_name, "config": build.config_name, "kind": build.kind.words,
        "options": _plain(build.options), "source": prov.get("source"),
        "detector_models": prov.get("detector_models", {}), "points": prov.get("points", {}),
        "rows_per_split": {s: build.num_rows(s) for s in build.splits},
        "total": rep.get("total"), "written": rep.get("written"), "failed": rep.get("failed"),
        "failed_by_reason": rep.get("failed_by_reason", {}), "skipped": rep.get("skipped", {}),
        "kept_from_last_run": rep.get("kept_from_last_run", {}),
        "seconds": rep.get("seconds"), "img_per_s": rep.get("img_per_s"), "built_at": rep.get("built_at"),
        "sample": f"a sample of {prov['sample_of']:,} records (max_records={prov.get('max_records')})"
                  if prov.get("sample_of") else "whole",
    }
    return {"summary": summary, "labels": {k: bool(v) for k, v in labels.items()}, "quality": list(QUALITY),
            "rows": rows, "details_chunk": DETAILS_CHUNK, "failures": failures, "charts": chart_files,
            "dups": _dups(build, folder, dedup, thumb) if dedup else None}


def _failures(build: Build, folder: Path, fetch_cache: DiskCache, thumb: int) -> list[dict]:
    """Each failure with what was fetched (a thumbnail, for failures after the fetch) or its URL."""
    out = []
    for k, f in enumerate(build.report.get("failures", [])):
        info = reason_info(f.get("reason", "error"))
        item = {"id": f.get("id"), "split": f.get("split"), "reason": f.get("reason"), "stage": f.get("stage"),
                "meaning": info.meaning, "retryable": info.retryable, "detail": f.get("detail", ""),
                "url": f.get("url"), "t": None, "note": ""}
        if f.get("url") and info.stage != "fetch" and f.get("stage") != "fetch":
            body = fetch_cache.get(f["url"])
            jpg = _thumb(body, thumb) if body else None
            if jpg is not None:
                item["t"] = f"thumbs/f{k:07d}.jpg"
                (folder / item["t"]).write_bytes(jpg)
            elif body is not None:
                item["note"] = f"what was fetched is not an image ({len(body):,} bytes)"
        out.append(item)
    return out


def _charts(build: Build, folder: Path) -> list[dict]:
    """PNG charts (``artface.charts``, the cards' code): per split, label counts written vs failed vs
    kept as crop; histograms of the quality columns and source sizes."""
    out = []
    for split in dict.fromkeys([*build.splits, *(f.get("split") for f in build.report.get("failures", []))]):
        for title, img in charts.label_charts(build, split):
            name = f"charts/labels-{len(out):03d}.png"
            img.save(folder / name)
            out.append({"file": name, "title": title, "group": "labels"})
    q = charts.quality_chart(build, QUALITY)
    if q is not None:
        q.save(folder / "charts/quality.png")
        out.append({"file": "charts/quality.png", "title": "quality columns and source sizes", "group": "quality"})
    return out


def _dups(build: Build, folder: Path, dedup: Path, thumb: int, limit: int = 48) -> dict:
    """The closest near-duplicate pairs of ``artface dedup``'s report, side by side."""
    import pyarrow.parquet as pq

    from .dedup import BUILDS_NAME

    pairs = pq.read_table(dedup / "duplicates.parquet").to_pylist()
    summary = json.loads((dedup / "summary.json").read_text()) if (dedup / "summary.json").is_file() else {}
    folders = json.loads((dedup / BUILDS_NAME).read_text()) if (dedup / BUILDS_NAME).is_file() else {}
    builds = {build.dataset_name: build}
    for name, f in folders.items():
        if name not in builds and Path(f).is_dir():
            builds[name] = Build.open(f)
    images: dict[tuple[str, str], bytes] = {}
    wanted = {(p[f"dataset_{s}"], p[f"id_{s}"]) for p in pairs[:limit] for s in "ab"}
    for name, b in builds.items():
        if not b.kind.pixels:
            continue
        for split in b.splits:
            ds = b.dataset(split).cast_column("image", datasets.Image(decode=False))
            for rid, img in zip(ds["id"], ds["image"]):
                if (name, rid) in wanted and img:
                    images[(name, rid)] = img["bytes"]
    out = []
    for k, p in enumerate(pairs[:limit]):
        item = {"distance": p["distance"]}
        for s in "ab":
            key = (p[f"dataset_{s}"], p[f"id_{s}"])
            jpg = _thumb(images[key], thumb) if key in images else None
            t = None
            if jpg is not None:
                t = f"thumbs/d{k:05d}{s}.jpg"
                (folder / t).write_bytes(jpg)
            item[s] = {"dataset": key[0], "id": key[1], "split": p[f"split_{s}"], "t": t}
        out.append(item)
    return {"summary": summary, "pairs": out, "shown": len(out), "total": len(pairs)}
