"""WikiART Face (asahi417): 6,095 faces cropped from WikiArt portraits of 15 art movements.

Sources, by what ``source=`` points at:
* ``image_face.zip`` / ``image_face_blur.zip`` (the crawler's release): the movement is the
  nearest parent folder named after a movement; the artist is the longest known artist slug
  of that movement (``metadata/<movement>.txt``) that the file name starts with;
* the author's Hub copy (``asahi417/wikiart-face`` parquet: image, title, url, artistName,
  completitionYear, styles, genres, ...): a parquet file or a folder of them;
* for ``rebuild``/``urls``: a CSV (``url,movement,artist[,title]``) of portrait URLs, or a folder
  ``<movement>/<artist>/<image>``. ``rebuild`` runs our detector and the FFHQ recipe (256 px by
  default), optionally blurring outside a centred circle as the original pipeline did.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageFilter

from ... import locations
from ...licenses import LicensePolicy
from ...pipeline import Stage, Work
from ...records import Record
from ...sources import MetadataError, SourceSpec, decode_text
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

log = logging.getLogger(__name__)
META = Path(__file__).parent / "metadata"
MOVEMENTS = [line.split(",")[0] for line in (META / "stats.face.csv").read_text().splitlines()[1:] if line and not line.startswith("All")]
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


def artists_of(movement: str) -> list[str]:
    p = META / f"{movement}.txt"
    return [a.strip() for a in p.read_text().splitlines() if a.strip()] if p.is_file() else []


def movement_from_style(style: str | None) -> str | None:
    slug = (style or "").strip().lower().replace(" ", "-").replace("(", "").replace(")", "")
    return slug if slug in MOVEMENTS else None


def caption(movement: str | None, artist: str | None) -> list[str]:
    who = f" by {artist}" if artist else ""
    what = f"a {movement.replace('-', ' ')} portrait" if movement else "a portrait"
    return [f"{what}{who}"]


def circle_blur(img: Image.Image, radius_at_256: float = 100.0, sigma_at_256: float = 4.0) -> Image.Image:
    """Keep a centred circle sharp and Gaussian-blur the outside (the released blur variant)."""
    w, h = img.size
    scale = w / 256.0
    blurred = img.filter(ImageFilter.GaussianBlur(sigma_at_256 * scale))
    yy, xx = np.mgrid[:h, :w]
    dist = np.hypot(xx - (w - 1) / 2, yy - (h - 1) / 2)
    inside = np.clip((radius_at_256 * scale - dist) / max(1.0, scale) + 0.5, 0, 1)[..., None]
    out = np.asarray(img, float) * inside + np.asarray(blurred, float) * (1 - inside)
    return Image.fromarray(np.uint8(np.clip(np.rint(out), 0, 255)), "RGB")


ARTIST_IDS: dict[str, str] = json.loads((META / "artists.json").read_text())  # slug -> WikiArt id (the crawler's)
WIKIART = "https://www.wikiart.org"


@dataclass
class WikiArtFaceConfig(ArtfaceConfig):
    blur: bool = False  # rebuild: blur outside the centred circle (radius 100 px at 256)
    movements: list[str] = field(default_factory=list)  # crawl: these movements only (default: all 15)
    max_per_artist: int | None = None  # crawl: at most this many portraits per artist


class WikiArtFace(ArtfaceBuilder):
    BUILDER_CONFIG_CLASS = WikiArtFaceConfig
    BUILDER_CONFIGS = [
        WikiArtFaceConfig(name="released", kind="original", description="The released face crops (zip or the author's Hub parquet)."),
        WikiArtFaceConfig(name="rebuild", kind="aligned", size=256, detector="cascade", landmarks="face_mesh",
                      description="Our detector (BlazeFace, RetinaFace when it finds nothing; face mesh) + FFHQ alignment over portraits."),
        WikiArtFaceConfig(name="urls", kind="urls", description="Portrait URLs with movement and artist; no pixels."),
        WikiArtFaceConfig(name="crawl", kind="aligned", size=256, detector="cascade", landmarks="face_mesh",
                      description="As the original crawler: the WikiArt API's portraits of the 15 movements' artists, "
                                  "detected and FFHQ-aligned (optional blur)."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "WikiART Face"
    HOMEPAGE = "https://github.com/asahi417/wikiart-crawler"
    TASK_CATEGORIES = ("unconditional-image-generation", "image-classification")
    SOURCE_DATASETS = ("extended|asahi417/wikiart-face",)
    TAGS = ("wikiart", "paintings")
    OPTION_HELP = {**ArtfaceBuilder.OPTION_HELP, "blur": "rebuild/crawl: blur outside a centred circle (radius 100 px at 256), as the release did",
                   "movements": "crawl: only these movements (comma-separated; default all 15)",
                   "max_per_artist": "crawl: at most this many portraits per artist"}
    SOURCE_IS_API = {"crawl": WIKIART}
    UNION = UnionMembership({"urls": "urls", "aligned": "rebuild"})  # the union aligns from the source images
    SKIP_REASONS = {
        "artist_not_in_the_api": "crawl: an artist of the movement list that the WikiArt API does not know",
        "artist_without_id": "crawl: an artist listed without an id",
        "artist_images_withheld": "crawl: the artist's images are withheld (WikiArt shows a placeholder, copyright)",
        "painting_image_withheld": "crawl: the painting's image is withheld (a placeholder)",
        "malformed_painting": "crawl: a painting entry of the API without the fields a record needs",
        "malformed_listing_page": "crawl: an API listing page that is not the expected JSON",
        "listing_over_max_pages": "crawl: an artist's listing went on past the page limit (the rest not read)",
    }

    @classmethod
    def union_labels(cls, row: dict, features: datasets.Features) -> dict:
        mv = row.get("movement")
        return {"artist": row.get("artist"), "title": row.get("title"), "year": row.get("year"),
                "style": features["movement"].int2str(mv) if isinstance(mv, int) and mv >= 0 else None}

    SOURCE = SourceSpec(formats=(".zip", ".parquet", ".csv"), hint="image_face.zip / image_face_blur.zip (https://github.com/asahi417/wikiart-crawler releases), the "
                             "Hub parquet (asahi417/wikiart-face), a CSV of portrait URLs (url,movement[,artist,title]), or a "
                             "folder <movement>/<artist>/<image>")
    FIELD_DOCS = {
        "movement": "art movement (15 WikiArt styles)",
        "artist": "artist name or WikiArt slug",
        "title": "title of the painting (WikiArt), when known",
        "year": "completion year (WikiArt), when known",
        "styles": "WikiArt styles of the painting",
        "genres": "WikiArt genres of the painting",
        "wikiart_url": "the painting's WikiArt page or id, when known",
    }
    POLICY = LicensePolicy(
        dataset="wikiart_face",
        hub_license="other",
        license_name="wikiart-terms-of-use",
        license_link="https://www.wikiart.org/en/terms-of-use",
        public_modes=("urls",),
        reason="the faces are crops of WikiArt images, many of them still under the artists' copyright; WikiArt's terms allow no redistribution",
        source="https://www.wikiart.org/en/terms-of-use and https://github.com/asahi417/wikiart-crawler",
        attribution="WikiART Face by Asahi Ushio (wikiart-crawler); images from WikiArt.org, (c) their artists where applicable",
    )

    def extra_features(self) -> dict:
        s = datasets.Value("string")
        return {"movement": datasets.ClassLabel(names=MOVEMENTS), "artist": s, "title": s, "year": datasets.Value("int32"),
                "styles": datasets.List(s), "genres": datasets.List(s), "wikiart_url": s}

    def extra_stages(self) -> list[Stage]:
        return [Stage("blur", self._blur)] if self.config.blur else []

    @staticmethod
    def _blur(w: Work) -> None:
        w.image = circle_blur(w.image)

    # -- sources -----------------------------------------------------------------------------
    def read_records(self) -> Iterator[Record]:
        if self.config.name == "crawl":
            yield from self._from_api(self.config.source or self.SOURCE_IS_API["crawl"])
            return
        src = self.source()
        named = (src.named or "").lower()
        if named.endswith(".zip"):
            yield from self._from_zip(src.download(src.named))
        elif named.endswith(".parquet") or (not named and src.local and any(Path(src.root).rglob("*.parquet"))):
            yield from self._from_parquet(src)
        elif named.endswith(".csv"):
            yield from self._from_csv(src)
        elif not named and src.local:
            yield from self._from_folder(Path(src.root))
        else:
            raise MetadataError(f"wikiart_face: cannot tell what {src.where(src.named)} is (want .zip, .parquet, .csv or a "
                                f"folder; --config crawl reads the WikiArt API)")

    def source_facts(self, records: list[Record]) -> dict[str, str]:
        """The movements the records come from (a crawl of 2 movements holds 2, not the release's 15)."""
        found = sorted({MOVEMENTS[r.fields["movement"]] for r in records if r.fields.get("movement", -1) >= 0})
        if not found:
            return {}
        listed = f": {', '.join(found)}" if len(found) < len(MOVEMENTS) else ""
        return {"movements": f"{len(found)} of {len(MOVEMENTS)}{listed}"}

    def _from_api(self, root: str) -> Iterator[Record]:
        """Artists per movement -> their paintings -> details -> portraits only, as the crawler did.
        Artists and paintings that cannot be used are counted in ``self.skipped``."""
        from .api import PLACEHOLDER, WikiArtAPI

        unknown = sorted(set(self.config.movements) - set(MOVEMENTS))
        if unknown:
            raise MetadataError(f"wikiart_face: unknown movements {unknown}; known: {', '.join(MOVEMENTS)}")
        api = WikiArtAPI(root, concurrency=self.config.concurrency, timeout=self.config.fetch_timeout)
        try:
            for movement in self.config.movements or MOVEMENTS:
                for slug in artists_of(movement):
                    artist_id = ARTIST_IDS.get(slug)
                    listing = api.paintings_by_artist(artist_id, self.skipped) if artist_id else None
                    if listing is None:
                        self.skipped["artist_not_in_the_api" if artist_id else "artist_without_id"] += 1
                        continue
                    cap = self.config.max_per_artist
                    kept = 0
                    listed = (p for p in listing if p.get("id") is not None)  # lazily: paging stops with the artist
                    pairs = ((s, api.painting(str(s["id"]))) for s in listed) if cap else None
                    if pairs is None:
                        batch = list(listed)  # every painting of the artist is wanted: details concurrently
                        if batch and not any(PLACEHOLDER not in str(p.get("image", "")) for p in batch):
                            self.skipped["artist_images_withheld"] += 1  # WikiArt shows a placeholder (copyright)
                            continue
                        pairs = zip(batch, api.paintings([str(p["id"]) for p in batch]))
                    for summary, detail in pairs:
                        detail = detail if isinstance(detail, dict) else summary
                        raw_genres = detail.get("genres")
                        if raw_genres is not None and not isinstance(raw_genres, list):
                            self.skipped["malformed_painting"] += 1  # this painting's problem, not the crawl's
                            continue
                        genres = [str(g) for g in raw_genres or []]
                        if not any(g.lower() == "portrait" for g in genres):
                            continue
                        image = str(detail.get("image") or "")
                        if PLACEHOLDER in image or not image:
                            self.skipped["painting_image_withheld"] += 1
                            continue
                        kept += 1
                        page = f"{WIKIART}/en/{detail.get('artistUrl') or slug}/{detail.get('url')}" if detail.get("url") else None
                        year = detail.get("completitionYear")  # out of an int32's range: a bad_value failure of this record
                        yield self._record(f"{movement}/{slug}/{detail.get('id')}", movement, slug,
                                           fetch=locations.url(image), image_url=image, source_url=page,
                                           title=detail.get("title") if isinstance(detail.get("title"), str) else None,
                                           year=year if isinstance(year, int) and not isinstance(year, bool) else None,
                                           styles=[str(x) for x in detail.get("styles") or []]
                                           if isinstance(detail.get("styles"), list) else [], genres=genres,
                                           wikiart_url=page)
                        if cap is not None and kept >= cap:
                            break  # max_per_artist bounds the detail requests too
        finally:
            api.close()

    def _record(self, rid: str, movement: str | None, artist: str | None, **kw) -> Record:
        fields = {"movement": MOVEMENTS.index(movement) if movement else -1, "artist": artist, "title": kw.pop("title", None),
                  "year": kw.pop("year", None), "styles": kw.pop("styles", []), "genres": kw.pop("genres", []),
                  "wikiart_url": locations.public_url(kw.pop("wikiart_url", None))}
        return Record(id=rid, split="train", fields=fields, captions=caption(movement, artist), **kw)

    def _from_zip(self, path: Path) -> Iterator[Record]:
        try:
            with zipfile.ZipFile(path) as zf:
                names = sorted(zf.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise MetadataError(f"{path.name}: not a readable zip ({exc})") from None
        for name in names:
            p = PurePosixPath(name)
            if name.endswith("/") or p.suffix.lower() not in IMAGE_EXT or p.name.startswith("."):
                continue
            movement = next((m for m in reversed(p.parts[:-1]) if m in MOVEMENTS), None)
            artists = sorted(artists_of(movement), key=len, reverse=True) if movement else []
            artist = next((a for a in artists if p.stem.startswith(a)), None)
            yield self._record(p.stem if movement is None else f"{movement}/{p.stem}", movement, artist,
                               fetch=locations.zip_member(path, name))

    def _from_parquet(self, src) -> Iterator[Record]:
        if src.named:
            files = [src.named]
        else:
            files = sorted(q.relative_to(src.root).as_posix() for q in Path(src.root).rglob("*.parquet"))
        for f in files:
            where = src.where(f)
            try:
                table = pq.read_table(pa.BufferReader(src.read_bytes(f, max_bytes=8 * 2**30)))  # no Python file in Arrow's threads
            except (OSError, ValueError) as exc:
                raise MetadataError(f"{where}: not a readable parquet file ({exc})") from None
            for n, row in enumerate(table.to_pylist()):
                styles = list(row.get("styles") or [])
                movement = row.get("group") if row.get("group") in MOVEMENTS else next(
                    (m for m in map(movement_from_style, styles) if m), None)
                img = row.get("image") or {}
                if not isinstance(img, dict) or not isinstance(img.get("bytes"), bytes):
                    raise MetadataError(f"{where} row {n}: no image bytes")
                year = row.get("completitionYear")
                rid = str(row.get("id") or img.get("path") or n)
                yield self._record(rid, movement, row.get("artistName"), fetch=locations.inline(img["bytes"], rid),
                                   image_url=None, source_url=row.get("url"), title=row.get("title"),
                                   year=int(year) if isinstance(year, (int, float)) or (isinstance(year, str) and year.isdigit()) else None,
                                   styles=styles, genres=list(row.get("genres") or []), wikiart_url=row.get("url"))

    def _from_csv(self, src) -> Iterator[Record]:
        where = src.where(src.named)
        text = decode_text(src.read_bytes(src.named), where)
        csv.field_size_limit(1 << 20)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            missing = {"url", "movement"} - set(reader.fieldnames or [])
            if missing:
                raise MetadataError(f"{where} line 1: the CSV needs columns url, movement (and optionally artist, title); "
                                    f"missing {sorted(missing)}")
            for row in reader:
                n = reader.line_num
                if row["movement"] not in MOVEMENTS:
                    raise MetadataError(f"{where} line {n}: unknown movement {row['movement']!r}; known: {', '.join(MOVEMENTS)}")
                url = row["url"] or ""
                rid = f"{row['movement']}/{safe_stem(url)}-{n}"
                yield self._record(rid, row["movement"], row.get("artist") or None, fetch=locations.url(url), image_url=url,
                                   source_url=url, title=row.get("title") or None)
        except csv.Error as exc:
            raise MetadataError(f"{where} line {reader.line_num}: {exc}") from None

    def _from_folder(self, root: Path) -> Iterator[Record]:
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in IMAGE_EXT:
                continue
            rel = p.relative_to(root).parts
            movement = rel[0] if rel[0] in MOVEMENTS else None
            if movement is None:
                raise MetadataError(f"{p}: folder layout is <movement>/<artist>/<image>; {rel[0]!r} is not one of {', '.join(MOVEMENTS)}")
            artist = rel[1] if len(rel) > 2 else None
            try:
                loc = locations.local_file(root, p.relative_to(root).as_posix())
            except ValueError:
                log.warning("wikiart_face: skipping %s: a link out of the source folder", p)
                continue
            yield self._record("/".join([*rel[:-1], p.stem]), movement, artist, fetch=loc)


def safe_stem(url: str) -> str:
    from ...paths import safe_name

    try:
        return safe_name(PurePosixPath(url.split("?")[0]).stem or "image")
    except ValueError:
        return "image"


WikiArtConfig = WikiArtFaceConfig  # the 0.x name, kept for one release
