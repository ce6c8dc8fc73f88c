"""MetFaces (NVlabs): 1,336 faces from 1,284 Met Museum images, aligned with the FFHQ recipe.

``metfaces.json`` lists, per face: obj_id, meta_url, source_url (the Met's CC0 image),
source_path (the raw file in ``unprocessed/``), source_md5, image_path, image_md5, title,
artist_display_name, face_spec {rect, landmarks (68 dlib points), shrink} and face_idx.
Landmarks are stored at the shrunk scale: source pixels are ``(stored + 0.5) * shrink``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...paths import safe_name
from ...records import Record
from ...sources import MetadataError, SourceSpec, parse_json, point_pairs
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

log = logging.getLogger(__name__)
REQUIRED = ("obj_id", "source_url", "image_path", "face_spec")


def source_landmarks(face_spec: dict) -> list[list[float]]:
    shrink = float(face_spec.get("shrink", 1) or 1)
    return [[(x + 0.5) * shrink, (y + 0.5) * shrink] for x, y in face_spec["landmarks"]]


def parse_metfaces(text: str, name: str = "metfaces.json") -> list[dict]:
    """The records of metfaces.json (a list, or an object keyed by image), checked field by field;
    an error names the file, the record and what is wrong."""
    data = parse_json(text, name)
    if isinstance(data, dict):
        items = list(data.values())
    elif isinstance(data, list):
        items = data
    else:
        raise MetadataError(f"{name}: expected a list of records, got {type(data).__name__}")
    for n, item in enumerate(items):
        where = f"{name} record {n}"
        if not isinstance(item, dict):
            raise MetadataError(f"{where}: expected an object, got {type(item).__name__}")
        where += f" ({item.get('image_path', '?')})"
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise MetadataError(f"{where}: missing {missing}")
        for k in ("image_path", "source_url"):
            if not isinstance(item[k], str):
                raise MetadataError(f"{where}: {k} must be a string")
        spec = item["face_spec"]
        if not isinstance(spec, dict):
            raise MetadataError(f"{where}: face_spec must be an object")
        point_pairs(spec.get("landmarks"), 68, f"{where} face_spec.landmarks")
        shrink = spec.get("shrink", 1)
        if shrink is not None and (not isinstance(shrink, (int, float)) or isinstance(shrink, bool) or not 0 < shrink < 1e4):
            raise MetadataError(f"{where}: face_spec.shrink must be a positive number, got {shrink!r}")
        rect = spec.get("rect")
        if rect is not None and (not isinstance(rect, list) or len(rect) != 4
                                 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rect)):
            raise MetadataError(f"{where}: face_spec.rect must be 4 numbers")
        if not isinstance(item.get("face_idx", 0), int):
            raise MetadataError(f"{where}: face_idx must be an integer")
    return items


class MetFaces(ArtfaceBuilder):
    BUILDER_CONFIGS = [
        ArtfaceConfig(name="urls", kind="urls", description="Metadata, Met image URLs and the 68 landmarks; no pixels."),
        ArtfaceConfig(name="aligned", kind="aligned", size=1024, warp="reference", image_format="png",
                      description="The MetFaces recipe (FFHQ, transform at 4x the output size) from the JSON landmarks."),
        ArtfaceConfig(name="original", kind="original", description="The Met's source images as downloaded."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "MetFaces"
    HOMEPAGE = "https://github.com/NVlabs/metfaces-dataset"
    RECIPE = "metfaces"
    UNION = UnionMembership({"urls": "urls", "aligned": "aligned"})

    @classmethod
    def union_labels(cls, row: dict, features: datasets.Features) -> dict:
        return {"artist": row.get("artist") or None, "title": row.get("title") or None}

    SOURCE = SourceSpec(
        files=("metfaces.json",),
        hint=("a folder (or URL) holding metfaces.json, and optionally unprocessed/ with the raw images; get "
              "metfaces.json from https://github.com/NVlabs/metfaces-dataset (Google Drive folder)"),
    )
    TASK_CATEGORIES = ("unconditional-image-generation", "keypoint-detection")
    SOURCE_DATASETS = ("extended|NVlabs/metfaces-dataset",)
    TAGS = ("museum", "paintings")
    PAPERS = {"2006.06676": "Training Generative Adversarial Networks with Limited Data"}
    FIELD_DOCS = {
        "obj_id": "The Met's object id",
        "title": "title of the work (The Met)",
        "artist": "artist_display_name (The Met); empty when unknown",
        "meta_url": "The Met's collection API record",
        "face_idx": "index of the face within its source image",
    }
    POLICY = LicensePolicy(
        dataset="metfaces",
        hub_license="cc-by-nc-2.0",
        public_modes=("urls", "pixels"),
        reason="the Met's images are CC0; the MetFaces dataset is CC BY-NC 2.0: pixel shards may be shared for non-commercial use",
        source="https://github.com/NVlabs/metfaces-dataset (License) and https://www.metmuseum.org/about-the-met/policies-and-documents/open-access",
        attribution="MetFaces by NVIDIA Corporation (CC BY-NC 2.0); images: The Metropolitan Museum of Art, Open Access (CC0 1.0)",
        gated=True,
        gated_prompt="MetFaces is licensed CC BY-NC 2.0: you agree to use it for non-commercial purposes only and to credit NVIDIA and The Met.",
    )

    def extra_features(self) -> dict:
        s = datasets.Value("string")
        return {"obj_id": s, "title": s, "artist": s, "meta_url": s, "face_idx": datasets.Value("int32")}

    def read_records(self) -> Iterator[Record]:
        src = self.source()
        name = src.named or "metfaces.json"
        items = parse_metfaces(src.read_text(name), src.where(name))
        for item in items:
            spec = item["face_spec"]
            shrink = float(spec.get("shrink", 1) or 1)
            stem = safe_name(PurePosixPath(item["image_path"]).stem)
            fetch, md5 = locations.url(item["source_url"]), None
            if src.local and item.get("source_path"):
                try:  # the raw file is in the user's unprocessed/: use it, checked against source_md5
                    raw = src.file(item["source_path"])
                except ValueError as exc:  # never follow a path out of the user's folder
                    log.warning("metfaces %s: ignoring source_path: %s", stem, exc)
                else:
                    if Path(raw.target).is_file():
                        fetch, md5 = raw, item.get("source_md5")
            title, artist = item.get("title") or "", item.get("artist_display_name") or ""
            rect = spec.get("rect")
            obj_id = str(item["obj_id"])
            yield Record(
                id=stem,
                split="train",
                fetch=fetch,
                image_url=item["source_url"],
                source_url=f"https://www.metmuseum.org/art/collection/search/{obj_id}" if obj_id.isdigit() else None,
                points=source_landmarks(spec),
                bbox=[v * shrink for v in rect] if rect else None,
                md5=md5,
                fields={"obj_id": obj_id, "title": title, "artist": artist, "meta_url": locations.public_url(item.get("meta_url")),
                        "face_idx": int(item.get("face_idx", 0))},
                captions=[f"{title}, by {artist}" if artist else title] if title else [],
            )
