"""AAHQ (BlendGAN): ~25k artistic portraits from Artstation, published as URLs + 4 landmarks.

``AAHQ-dataset.json`` maps the aligned file name to {image_url, raw_name, landmarks
{eye_left, eye_right, mouth_left, mouth_right}} (raw-image pixels). The raw name is the last
five URL path parts joined by "_". Images belong to their artists: AAHQ may be shared as URLs
and landmarks only; many URLs are dead, and those records end in the failure report.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...records import Record
from ...schema import point_list
from ...sources import SourceSpec
from .._base import ArtfaceBuilder, ArtfaceConfig

POINTS = ("eye_left", "eye_right", "mouth_left", "mouth_right")


def raw_name(url: str) -> str:
    """Upstream's raw file name: the last five URL path parts joined by '_'."""
    return "_".join(PurePosixPath(urlsplit(url).path).parts[-5:])


def parse_aahq(text: str) -> list[tuple[str, dict]]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("AAHQ-dataset.json must be an object keyed by aligned file name")
    out = []
    for key, item in data.items():
        missing = [k for k in ("image_url", "landmarks") if k not in item]
        missing += [f"landmarks.{p}" for p in POINTS if p not in item.get("landmarks", {})]
        if missing:
            raise ValueError(f"AAHQ-dataset.json record {key!r}: missing {missing}")
        out.append((key, item))
    return out


class AAHQ(ArtfaceBuilder):
    BUILDER_CONFIGS = [
        ArtfaceConfig(name="urls", kind="urls", description="All records: Artstation URLs and 4 landmarks, no pixels."),
        ArtfaceConfig(name="aligned", kind="aligned", size=1024,
                      description="Downloads what is still online and aligns it with the FFHQ recipe from the 4 points."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    DATASET_NAME = "aahq"
    PRETTY_NAME = "AAHQ (Artstation Artistic-face HQ)"
    HOMEPAGE = "https://github.com/onion-liu/aahq-dataset"
    DESCRIPTION = "High-quality artistic portraits collected from Artstation for BlendGAN (URLs and landmarks)."
    RECIPE = "aahq"
    SOURCE = SourceSpec(files=("AAHQ-dataset.json",),
                        hint="AAHQ-dataset.json or a folder/URL holding it (https://github.com/onion-liu/aahq-dataset)")
    FOLDER = Path(__file__).parent
    FIELD_DOCS = {
        "aligned_name": "upstream key: the file name of the aligned image",
        "raw_name": "upstream raw file name (last five URL path parts joined by '_')",
        "landmarks4": "upstream points in raw-image pixels: eye_left, eye_right, mouth_left, mouth_right",
    }
    POLICY = LicensePolicy(
        dataset="aahq",
        hub_license="cc-by-nc-sa-4.0",
        public_modes=("urls",),
        reason="the metadata is CC BY-NC-SA 4.0, but the images belong to their Artstation artists and were never licensed for redistribution",
        source="https://github.com/onion-liu/aahq-dataset (README, License)",
        attribution="AAHQ dataset by Mingcong Liu et al. (BlendGAN), CC BY-NC-SA 4.0; images (c) their Artstation artists",
        cautions=("Upstream warns that AAHQ is biased: read the bias note of the upstream README before training on it.",),
    )

    def extra_features(self) -> dict:
        s = datasets.Value("string")
        return {"aligned_name": s, "raw_name": s, "landmarks4": point_list(4)}

    def read_records(self) -> Iterator[Record]:
        src = self.source()
        items = parse_aahq(src.read_text(src.named or "AAHQ-dataset.json"))
        for key, item in items:
            lm = item["landmarks"]
            points = [[float(v) for v in lm[p]] for p in POINTS]
            yield Record(
                id=PurePosixPath(key).stem,
                split="train",
                fetch=locations.url(item["image_url"]),
                image_url=item["image_url"],
                source_url=item["image_url"],
                points=points,
                fields={"aligned_name": key, "raw_name": item.get("raw_name") or raw_name(item["image_url"]), "landmarks4": points},
                captions=["an artistic portrait from Artstation"],
            )
