"""The row contract: the one table of columns every artface dataset shares.

Features, empty rows, ``make_row``, the geometry from given landmarks and the card's field
table all derive from ``COLUMNS``: adding a common column is one edit here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np

from artface_align.points import kps5_from_68

from .kinds import kind as kind_of
from .quality import point_measures

BOX_KEYS = ("x0", "y0", "x1", "y1")


def point_list(n: int) -> datasets.List:
    return datasets.List(datasets.List(datasets.Value("float32"), length=2), length=n)


def _string() -> datasets.Value:
    return datasets.Value("string")


@dataclass(frozen=True)
class Column:
    name: str
    feature: Callable[[], Any]  # a datasets feature, made fresh
    doc: str  # card text
    default: Any = None  # value when nothing sets it
    pixels_only: bool = False  # only in configs that hold pixels
    geometry: bool = False  # set by the pixel pipeline / the given landmarks
    quality: bool = False  # a per-face quality measure (card percentiles and histograms, show's filters)
    aligned_only: bool = False  # only in configs whose pixels are aligned faces


COLUMNS: tuple[Column, ...] = (
    Column("id", _string, "stable record id (upstream image name)"),
    Column("image", datasets.Image, "the face image", pixels_only=True),
    Column("image_url", _string, "the image's public http(s) URL upstream (a plain string; null when upstream has none)"),
    Column("source_url", _string, "the record's upstream page, or the upstream object when there is no page "
                                  "(public http(s) URL; null when upstream has none)"),
    Column("width", lambda: datasets.Value("int32"), "source image width (pixels)", geometry=True),
    Column("height", lambda: datasets.Value("int32"), "source image height (pixels)", geometry=True),
    # a struct, not a float list: the Hub labels any top-level float32 list column "timeseries"
    Column("bbox", lambda: {k: datasets.Value("float32") for k in BOX_KEYS}, "face box {x0, y0, x1, y1} in source pixels",
           geometry=True),
    Column("det_score", lambda: datasets.Value("float32"), "detector confidence (null for upstream landmarks)", geometry=True, quality=True),
    Column("kps5", lambda: point_list(5), "5 key points (left eye, right eye, nose, mouth left, mouth right; viewer's "
                                          "left/right) in source pixels", geometry=True),
    Column("landmarks68", lambda: point_list(68), "68 iBUG landmarks in source pixels (null when no 68-point model ran "
                                                  "and upstream has none)", geometry=True),
    Column("kps5_aligned", lambda: point_list(5), "the 5 key points in the pixels of the aligned image (draw them on "
                                                  "`image` as they are; a URL-only config has no `image`: they fit the one "
                                                  "`artface build` makes with the recipe and size of 'How it was built')",
           geometry=True, aligned_only=True),
    Column("landmarks68_aligned", lambda: point_list(68), "the 68 landmarks in the pixels of the aligned image, as "
                                                          "`kps5_aligned` (null when there are none)", geometry=True,
           aligned_only=True),
    Column("transform", lambda: datasets.List(datasets.List(datasets.Value("float32"), length=3), length=2),
           "2x3 affine map from source to aligned pixels: [x', y'] = transform @ [x, y, 1]", geometry=True,
           aligned_only=True),
    Column("landmarks_source", _string, "where the points come from: upstream, or the detector (+ landmark model) that ran",
           geometry=True),
    Column("eye_distance", lambda: datasets.Value("float32"), "distance between the eye centres, source pixels (quality)",
           geometry=True, quality=True),
    Column("face_size", lambda: datasets.Value("float32"), "long side of the face box, source pixels (quality)", geometry=True, quality=True),
    Column("yaw", lambda: datasets.Value("float32"), "head turn estimated from the points, degrees: 0 frontal, +/-90 profile "
                                                       "(quality)", geometry=True, quality=True),
    Column("roll", lambda: datasets.Value("float32"), "eye-line angle, degrees (quality)", geometry=True, quality=True),
    Column("blur", lambda: datasets.Value("float32"), "variance of the Laplacian of the aligned face at 256 px; lower is "
                                                        "blurrier (quality; aligned configs)", geometry=True, quality=True),
    Column("captions", lambda: datasets.List(_string()), "text descriptions built from labels and metadata", default=()),
    Column("license", _string, "license of the record"),
    Column("attribution", _string, "attribution line to show with the record"),
)
FIELD_DOCS: dict[str, str] = {c.name: c.doc for c in COLUMNS}
GEOMETRY: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.geometry)
QUALITY: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.quality)


def columns(kind: str) -> tuple[Column, ...]:
    """The common columns of a config of ``kind``. URL-only rows lead with ``image_url``: the Hub
    page shows a leading string column of https image URLs as thumbnails."""
    k = kind_of(kind)
    cols = [c for c in COLUMNS if k.aligns or not c.aligned_only]
    if k.url_first:
        first = [c for c in cols if c.name == "image_url"]
        return (*first, *(c for c in cols if not c.pixels_only and c.name != "image_url"))
    return tuple(cols)


def common_features(kind: str, extra: dict | None = None) -> datasets.Features:
    """The common columns of ``kind`` (no ``image`` for ``urls``), then the dataset's own."""
    return datasets.Features({**{c.name: c.feature() for c in columns(kind)}, **(extra or {})})


def empty_geometry() -> dict:
    return {name: None for name in GEOMETRY}


def given_geometry(points: list | None, bbox: list | None = None) -> dict:
    """Geometry columns from dataset-provided landmarks (68 -> landmarks68 + kps5; 5 -> kps5)."""
    out: dict = {"bbox": [float(v) for v in bbox]} if bbox is not None else {}
    if points is None:
        return out
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) == 68:
        out["landmarks68"] = p.tolist()
        out["kps5"] = kps5_from_68(p).tolist()
    elif len(p) == 5:
        out["kps5"] = p.tolist()
    return out


def make_row(rec, kind: str, license: str, attribution: str, geometry: dict | None = None,
             images: dict[str, dict | None] | None = None) -> dict:
    """One row: the record's public columns, geometry (from the pipeline or the given points),
    its dataset columns and its image-valued columns ({"bytes", "path"} dicts)."""
    row: dict = {c.name: (list(c.default) if isinstance(c.default, tuple) else c.default) for c in columns(kind)}
    row.update(id=rec.id, image_url=rec.image_url, source_url=rec.source_url, captions=list(rec.captions),
               license=rec.license or license, attribution=rec.attribution or attribution)
    if geometry is None:
        geometry = given_geometry(rec.points, rec.bbox)
        geometry["landmarks_source"] = "upstream" if rec.points is not None else None
    row.update({c.name: geometry.get(c.name) for c in columns(kind) if c.geometry})
    if row["eye_distance"] is None:  # derived from the points, whoever found them
        row.update({k: v for k, v in point_measures(row["kps5"], row["bbox"]).items() if v is not None})
    if row["bbox"] is not None:
        row["bbox"] = dict(zip(BOX_KEYS, (float(v) for v in row["bbox"])))
    row.update(rec.fields)
    row.update(images or {})
    return row
