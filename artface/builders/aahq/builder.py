"""AAHQ (BlendGAN): ~25k artistic portraits from Artstation, published as URLs + 4 landmarks.

``AAHQ-dataset.json`` maps the aligned file name to {image_url, raw_name, landmarks
{eye_left, eye_right, mouth_left, mouth_right}} (raw-image pixels). The raw name is the last
five URL path parts joined by "_". Images belong to their artists: AAHQ may be shared as URLs
and landmarks only; many URLs are dead, and those records end in the failure report.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...metadata_file import MetadataFile
from ...record_checks import SeenIds
from ...records import Record
from ...schema import point_list
from ...sources import MetadataError, SourceSpec, parse_json, point_pairs
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

POINTS = ("eye_left", "eye_right", "mouth_left", "mouth_right")


def raw_name(url: str) -> str:
    """Upstream's raw file name: the last five URL path parts joined by '_'."""
    return "_".join(PurePosixPath(urlsplit(url).path).parts[-5:])


def check_item(key: str, item: object, name: str) -> tuple[dict, list[list[float]]]:
    """One record of the JSON, checked, and its 4 points: wrong types, missing fields and bad points
    name the record."""
    where = f"{name} record {key!r}"
    if not isinstance(item, dict):
        raise MetadataError(f"{where}: expected an object, got {type(item).__name__}")
    lm = item.get("landmarks")
    missing = [k for k in ("image_url", "landmarks") if k not in item]
    missing += [f"landmarks.{p}" for p in POINTS if not isinstance(lm, dict) or p not in lm]
    if missing:
        raise MetadataError(f"{where}: missing {missing}")
    if not isinstance(item["image_url"], str):
        raise MetadataError(f"{where}: image_url must be a string")
    return item, point_pairs([lm[p] for p in POINTS], 4, f"{where} landmarks")


MAX_DEPTH = 16  # an AAHQ record nests 3 deep (record, landmarks, point); deeper is hostile


def parse_aahq(f: MetadataFile) -> Iterator[tuple[str, dict, list[list[float]]]]:
    """(aligned name, record, its 4 points) of the JSON object, streamed (ijson's parser events, built into
    one record at a time): a million records are never one parsed object. Nesting deeper than
    ``MAX_DEPTH`` is refused (a few kB of brackets would otherwise cost gigabytes). What the streaming
    parser cannot read (a BOM, NaN, a syntax error) is read again whole by ``parse_json``, whose errors
    name the line and column, and the records not yet given are given from there. A key given twice,
    at any depth, is an error, as in ``parse_json``."""
    import ijson

    name, record = f.where, ""

    class Unique(dict):
        def __setitem__(self, key, value) -> None:
            if key in self:
                raise MetadataError(f"{name} record {record!r}: duplicate key {key!r}")
            super().__setitem__(key, value)

    keys, given, depth = SeenIds(), 0, 0
    try:
        events = ijson.basic_parse(f.stream(), use_float=True)
        first = next(events, (None, None))[0]
        if first != "start_map":
            raise ijson.JSONError("not an object")
        builder = None
        for event, value in events:
            if depth == 0:
                if event == "map_key":
                    record, builder = value, ijson.ObjectBuilder(map_type=Unique)
                    continue
                if event == "end_map":
                    for _ in events:  # anything after the object is an error (parse_json names it)
                        pass
                    break
            depth += event in ("start_map", "start_array")
            depth -= event in ("end_map", "end_array")
            if depth > MAX_DEPTH:
                raise MetadataError(f"{name} record {record!r}: nested more than {MAX_DEPTH} deep")
            builder.event(event, value)  # type: ignore[union-attr]
            if depth == 0:  # the record's value is complete
                keys.add(record)
                yield record, *check_item(record, builder.value, name)  # type: ignore[union-attr]
                given += 1
    except ijson.JSONError:
        data = parse_json(f.text(), name)
        if not isinstance(data, dict):
            raise MetadataError(f"{name}: must be an object keyed by aligned file name, got {type(data).__name__}") from None
        for n, (key, item) in enumerate(data.items()):
            if n >= given:
                yield key, *check_item(key, item, name)
        return
    twice = keys.repeated()
    if twice is not None:  # named by reading the keys again: an error, not the common case
        key = next(v for e, v in ijson.basic_parse(f.stream()) if e == "map_key" and SeenIds.digest(v) == twice)
        raise MetadataError(f"{name}: duplicate key {key!r}")


class AAHQ(ArtfaceBuilder):
    BUILDER_CONFIGS = [
        ArtfaceConfig(name="urls", kind="urls", description="All records: Artstation URLs and 4 landmarks, no pixels."),
        ArtfaceConfig(name="aligned", kind="aligned", size=1024,
                      description="Downloads what is still online and aligns it with the FFHQ recipe from the 4 points."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "AAHQ (Artstation Artistic-face HQ)"
    HOMEPAGE = "https://github.com/onion-liu/aahq-dataset"
    RECIPE = "aahq"
    UNION = UnionMembership({"urls": "urls", "aligned": "aligned"})  # no labels to share
    SOURCE = SourceSpec(files=("AAHQ-dataset.json",),
                        hint="AAHQ-dataset.json or a folder/URL holding it (https://github.com/onion-liu/aahq-dataset)")
    TASK_CATEGORIES = ("unconditional-image-generation", "image-to-image")
    SOURCE_DATASETS = ("extended|onion-liu/aahq-dataset",)
    TAGS = ("artstation", "portraits")
    PAPERS = {"2110.11728": "BlendGAN: Implicitly GAN Blending for Arbitrary Stylized Face Generation"}
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
        with src.open_file(src.named or "AAHQ-dataset.json") as f:
            yield from self._from_items(parse_aahq(f))

    def _from_items(self, items: Iterator[tuple[str, dict, list[list[float]]]]) -> Iterator[Record]:
        for key, item, points in items:
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
