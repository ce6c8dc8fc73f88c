"""The common schema every artface dataset shares (see docs/ARCHITECTURE.md), in one place."""
from __future__ import annotations

import datasets

KINDS = ("urls", "original", "aligned")


def point_list(n: int) -> datasets.List:
    return datasets.List(datasets.List(datasets.Value("float32"), length=2), length=n)


def common_features(kind: str, extra: dict | None = None) -> datasets.Features:
    """id, image (not in ``urls``), URLs, source size, face geometry, captions, licence columns.

    Geometry is in source-image pixels (pixel centres at integers), null where unknown.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    f: dict = {"id": datasets.Value("string")}
    if kind != "urls":
        f["image"] = datasets.Image()
    f.update(
        {
            "image_url": datasets.Value("string"),
            "source_url": datasets.Value("string"),
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
            "bbox": datasets.List(datasets.Value("float32"), length=4),
            "det_score": datasets.Value("float32"),
            "kps5": point_list(5),
            "landmarks68": point_list(68),
            "captions": datasets.List(datasets.Value("string")),
            "license": datasets.Value("string"),
            "attribution": datasets.Value("string"),
        }
    )
    f.update(extra or {})
    return datasets.Features(f)


def empty_geometry() -> dict:
    return {"width": None, "height": None, "bbox": None, "det_score": None, "kps5": None, "landmarks68": None}
