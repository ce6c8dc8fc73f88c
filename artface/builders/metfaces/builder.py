"""MetFaces (NVlabs): 1,336 faces from 1,284 Met Museum images, aligned with the FFHQ recipe.

``metfaces.json`` lists, per face: obj_id, meta_url, source_url (the Met's CC0 image),
source_path (the raw file in ``unprocessed/``), source_md5, image_path, image_md5, title,
artist_display_name, face_spec {rect, landmarks (68 dlib points), shrink} and face_idx.
Landmarks are stored at the shrunk scale: source pixels are ``(stored + 0.5) * shrink``.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...paths import safe_name
from ...records import Record
from ...sources import SourceSpec
from .._base import ArtfaceBuilder, ArtfaceConfig

log = logging.getLogger(__name__)
REQUIRED = ("obj_id", "source_url", "image_path", "face_spec")


def source_landmarks(face_spec: dict) -> list[list[float]]:
    shrink = float(face_spec.get("shrink", 1) or 1)
    return [[(x + 0.5) * shrink, (y + 0.5) * shrink] for x, y in face_spec["landmarks"]]


def parse_metfaces(text: str) -> list[dict]:
    data = json.loads(text)
    items = list(data.values()) if isinstance(data, dict) else data
    for n, item in enumerate(items):
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise ValueError(f"metfaces.json record {n} ({item.get('image_path', '?')}): missing {missing}")
        if len(item["face_spec"].get("landmarks", [])) != 68:
            raise ValueError(f"metfaces.json record {n} ({item['image_path']}): face_spec.landmarks must have 68 points")
    return items


class MetFaces(ArtfaceBuilder):
    BUILDER_CONFIGS = [
        ArtfaceConfig(name="urls", kind="urls", description="Metadata, Met image URLs and the 68 landmarks; no pixels."),
        ArtfaceConfig(name="aligned", kind="aligned", size=1024, warp="reference",
                      description="The MetFaces recipe (FFHQ, transform at 4x the output size) from the JSON landmarks."),
        ArtfaceConfig(name="original", kind="original", description="The Met's source images as downloaded."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    DATASET_NAME = "metfaces"
    PRETTY_NAME = "MetFaces"
    HOMEPAGE = "https://github.com/NVlabs/metfaces-dataset"
    DESCRIPTION = "Faces extracted from works of art in The Metropolitan Museum of Art's Open Access collection (NVIDIA)."
    RECIPE = "metfaces"
    SOURCE = SourceSpec(
        files=("metfaces.json",),
        hint=("a folder (or URL) holding metfaces.json, and optionally unprocessed/ with the raw images; get "
              "metfaces.json from https://github.com/NVlabs/metfaces-dataset (Google Drive folder)"),
    )
    FOLDER = Path(__file__).parent
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
        public_modes=("urls", "processed"),
        reason="the Met's images are CC0; the MetFaces dataset is CC BY-NC 2.0: processed shards may be shared for non-commercial use",
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
        items = parse_metfaces(src.read_text(name))
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
