"""Charts of a build, as PNG images: label counts (written / failed / kept as crop) and histograms of
the quality columns and source sizes. One drawing code for ``artface show`` and the cards' ``assets/``.

Drawn with Pillow (already a dependency) so that pages and cards need no plotting stack; the data
(``label_counts``, ``histogram``) is computed apart from the drawing so tests can check it.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLOURS = {"written": (46, 125, 50), "failed": (198, 40, 40), "kept as crop": (245, 166, 35), "rows": (33, 102, 172)}


def _font(size: int = 13) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def histogram(values: Iterable[float | None], bins: int = 20) -> tuple[list[float], list[int]]:
    """(bin edges, counts) of the finite values; ([], []) when there are none."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not len(v):
        return [], []
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        hi = lo + 1.0
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return edges.tolist(), counts.tolist()


def label_name(names: Sequence[str] | None, value: object) -> str:
    """A label value as shown: a ClassLabel id by its name, text as it is, -1/None/"" as "unknown"."""
    if names is not None:
        return names[value] if isinstance(value, int) and 0 <= value < len(names) else "unknown"
    return str(value) if value not in (None, "") else "unknown"


def label_counts(written: Iterable[str], failed: Iterable[str], crops: Iterable[str] = ()) -> dict[str, Counter]:
    """Per series (written, failed, kept as crop), counts per label name."""
    out = {"written": Counter(written), "failed": Counter(failed)}
    crop = Counter(crops)
    if crop:
        out["kept as crop"] = crop
    return out


def bar_chart(title: str, categories: Sequence[str], series: Mapping[str, Mapping[str, int]],
              width: int = 560, height: int = 240) -> Image.Image:
    """Grouped bars: one group per category, one bar per series, with counts and a legend."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font, small = _font(14), _font(11)
    d.text((8, 6), title, fill="black", font=font)
    left, top, bottom = 40, 44, height - 34
    top_value = max([v for s in series.values() for v in s.values()] or [1])
    group = (width - left - 10) / max(1, len(categories))
    bar = max(3.0, group * 0.8 / max(1, len(series)))
    for i, (sname, counts) in enumerate(series.items()):  # legend
        x = left + i * 120
        d.rectangle([x, 26, x + 10, 36], fill=COLOURS.get(sname, (90, 90, 90)))
        d.text((x + 14, 24), sname, fill="black", font=small)
    d.line([left, bottom, width - 10, bottom], fill=(120, 120, 120))
    for gi, cat in enumerate(categories):
        x0 = left + gi * group + group * 0.1
        for si, (sname, counts) in enumerate(series.items()):
            n = counts.get(cat, 0)
            h = (bottom - top) * n / top_value
            x = x0 + si * bar
            d.rectangle([x, bottom - h, x + bar - 1, bottom], fill=COLOURS.get(sname, (90, 90, 90)))
            if n and bar >= 14:
                d.text((x, bottom - h - 12), str(n), fill="black", font=small)
        d.text((x0, bottom + 4), cat[:14], fill="black", font=small)
    return img


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def histogram_chart(title: str, edges: Sequence[float], counts: Sequence[int], width: int = 280,
                    height: int = 170) -> Image.Image:
    """One histogram with its range on the axis and the count of the fullest bin."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font, small = _font(13), _font(11)
    d.text((6, 4), title, fill="black", font=font)
    left, top, bottom = 8, 24, height - 22
    if not counts:
        d.text((left, top + 30), "no values", fill=(120, 120, 120), font=small)
        return img
    peak = max(counts) or 1
    w = (width - 2 * left) / len(counts)
    for i, n in enumerate(counts):
        h = (bottom - top) * n / peak
        d.rectangle([left + i * w, bottom - h, left + (i + 1) * w - 1, bottom], fill=COLOURS["rows"])
    d.line([left, bottom, width - left, bottom], fill=(120, 120, 120))
    d.text((left, bottom + 4), _num(edges[0]), fill="black", font=small)
    hi = _num(edges[-1])
    d.text((width - left - d.textlength(hi, font=small), bottom + 4), hi, fill="black", font=small)
    d.text((width - left - 60, 6), f"max {peak}", fill=(90, 90, 90), font=small)
    return img


def stack(images: Sequence[Image.Image], cols: int = 3, pad: int = 6) -> Image.Image:
    """Charts side by side, ``cols`` a row, on one white image."""
    if not images:
        return Image.new("RGB", (1, 1), "white")
    w = max(i.width for i in images)
    h = max(i.height for i in images)
    rows = -(-len(images) // cols)
    out = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for k, im in enumerate(images):
        out.paste(im, (pad + (k % cols) * (w + pad), pad + (k // cols) * (h + pad)))
    return out


# -- a build's charts (``artface show`` per split, the cards for the whole config) -------------------
def label_columns(build) -> dict[str, list[str] | None]:
    """Label column -> ClassLabel names (None for text labels the builder counts, e.g. KaoKore's face direction)."""
    import datasets

    cols = {k: f.names for k, f in build.features.items() if isinstance(f, datasets.ClassLabel)}
    for f in build.report.get("failures", []):
        for k in f.get("labels", {}):
            cols.setdefault(k, None)
    return cols


def label_charts(build, split: str | None = None) -> list[tuple[str, Image.Image]]:
    """(title, chart) per label column: rows written (from points), kept as crop, and records failed,
    for one split or all of them: what a build lost, per label."""
    out = []
    splits = [split] if split else build.splits
    failures = [f for f in build.report.get("failures", []) if split is None or f.get("split") == split]
    for col, names in label_columns(build).items():
        written: list[str] = []
        crops: list[str] = []
        for s in splits:
            if s not in build.splits or not build.num_rows(s) or col not in build.features:
                continue
            ds = build.dataset(s)
            srcs = ds["landmarks_source"] if "landmarks_source" in ds.column_names else [None] * len(ds)
            for v, src in zip(ds[col], srcs):
                (crops if src == "crop" else written).append(label_name(names, v))
        failed = [label_name(names, f.get("labels", {}).get(col)) for f in failures]
        series = label_counts(written, failed, crops)
        cats = sorted({c for s in series.values() for c in s})
        if cats:
            title = f"{split + ': ' if split else ''}{col} (written / failed / kept as crop)"
            out.append((title, bar_chart(title, cats, series)))
    return out


def quality_chart(build, quality_columns: Sequence[str]) -> Image.Image | None:
    """Histograms of the quality columns and of the source images' long side, side by side."""
    hist = []
    present = [s for s in build.splits if build.num_rows(s)]
    columns = {c: [] for c in (*quality_columns, "source size")}
    for s in present:
        ds = build.dataset(s)
        for c in quality_columns:
            if c in ds.column_names:
                columns[c] += ds[c]
        if "width" in ds.column_names and "height" in ds.column_names:
            columns["source size"] += [max(w, h) if w and h else None for w, h in zip(ds["width"], ds["height"])]
    for c, values in columns.items():
        edges, counts = histogram(values)
        if counts:
            hist.append(histogram_chart("source image size (long side, px)" if c == "source size" else c, edges, counts))
    return stack(hist) if hist else None
