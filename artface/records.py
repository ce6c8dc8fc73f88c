"""What a dataset's metadata reader produces: one ``Record`` per image/face, before any pixels."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Record:
    id: str
    split: str
    image_url: str | None  # where the pixels are (http(s), local path or fsspec URL)
    source_url: str | None = None  # the record's page / upstream reference
    points: list | None = None  # landmarks given by the dataset (4, 5 or 68 points, source pixels)
    bbox: list | None = None  # face box given by the dataset, source pixels
    data: bytes | None = None  # the image bytes themselves, when the source embeds them (parquet, zip)
    md5: str | None = None  # expected md5 of the fetched bytes, when upstream publishes one
    fields: dict = field(default_factory=dict)  # dataset-specific columns
    captions: list[str] = field(default_factory=list)
    license: str = ""
    attribution: str = ""
