"""What a config holds: one object per kind, asked by every module instead of comparing strings.

``urls``: metadata and public URLs, no pixels fetched. ``detected``: images fetched, faces found,
geometry kept, no pixels. ``original``: the images as upstream has them. ``aligned``: faces warped
by the recipe to ``size``. Adding a kind is one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    fetches: bool  # the pipeline fetches each record's image
    detects: bool  # a detector runs (when upstream gives no points)
    aligns: bool  # the recipe warps the face to ``size``
    pixels: bool  # rows carry an ``image`` column
    words: str  # what a card says the config holds
    bytes_per_pixel: float = 0.0  # size estimate factor, per output pixel (aligned only)

    @property
    def url_first(self) -> bool:
        """Rows without pixels lead with ``image_url`` (the Hub shows it as thumbnails)."""
        return not self.pixels

    def __str__(self) -> str:
        return self.name


URLS = Kind("urls", fetches=False, detects=False, aligns=False, pixels=False,
            words="metadata and public image URLs, no pixels")
DETECTED = Kind("detected", fetches=True, detects=True, aligns=False, pixels=False,
              words="metadata, public image URLs and the face geometry found by the detector, no pixels")
ORIGINAL = Kind("original", fetches=True, detects=False, aligns=False, pixels=True,
                words="the images as upstream publishes them")
ALIGNED = Kind("aligned", fetches=True, detects=True, aligns=True, pixels=True,
               words="faces aligned by the FFHQ-family recipe")

KINDS: dict[str, Kind] = {k.name: k for k in (URLS, DETECTED, ORIGINAL, ALIGNED)}
#: old spellings, still read (builds and reports written before the kind was named like its config)
OLD_NAMES = {"detect": "detected"}


def kind(name: str | Kind) -> Kind:
    """The Kind named ``name`` (ValueError naming the choices)."""
    if isinstance(name, Kind):
        return name
    try:
        return KINDS[OLD_NAMES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {name!r}") from None
