"""What a dataset's metadata reader produces: one ``Record`` per image/face, before any pixels.

``fetch`` (private) says where the bytes come from; ``image_url`` and ``source_url`` are the
public columns and hold public http(s) URLs or None, whatever a reader passes in (see
``locations.public_url``). ``key()`` names what produces this record's pixels: the work store
keys outcomes by it, so two sources with the same ids never share pixels.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .diskcache import sha256_hex
from .locations import Location, public_url


@dataclass
class Record:
    id: str
    split: str
    fetch: Location | None  # private: where the pixels are read from (None: the record has no image)
    image_url: str | None = None  # public: the image's http(s) URL upstream, or None
    source_url: str | None = None  # public: the record's upstream page or object (see schema.COLUMNS)
    points: list | None = None  # landmarks given by the dataset (4, 5 or 68 points, source pixels)
    bbox: list | None = None  # face box given by the dataset, source pixels
    md5: str | None = None  # expected md5 of the fetched bytes, when upstream publishes one
    fields: dict = field(default_factory=dict)  # dataset-specific columns
    captions: list[str] = field(default_factory=list)
    license: str = ""
    attribution: str = ""
    face: str | None = None  # what upstream says of the face, when it says: "back" (the back of a head: nothing to detect)

    def __post_init__(self) -> None:
        self.image_url = public_url(self.image_url)
        self.source_url = public_url(self.source_url)

    def key(self) -> str:
        """Everything of the record that changes its stored outcome: id, where the bytes come
        from (a local file's size/mtime included), the expected checksum, the given geometry.
        Computed once per record object (the store asks several times per record)."""
        key = self.__dict__.get("_key")
        if key is None:
            ident = self.fetch.identity() if self.fetch is not None else "none"
            key = sha256_hex(json.dumps([self.id, ident, self.md5, self.points, self.bbox, self.face], default=str))
            self.__dict__["_key"] = key
        return key

    def to_dict(self) -> dict:
        """Plain values (Arrow- and JSON-friendly; inline bytes stay bytes) for engines' workers."""
        d = asdict(self)
        d["fetch"] = None if self.fetch is None else {"via": self.fetch.via, "target": self.fetch.target,
                                                       "member": self.fetch.member, "data": self.fetch.data}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        loc = d.get("fetch")
        if loc is not None and "kind" in loc:  # written before Location.kind was named via
            loc = {("via" if k == "kind" else k): v for k, v in loc.items()}
        return cls(**{**d, "fetch": None if loc is None else Location(**loc)})
