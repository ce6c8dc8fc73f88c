"""KaoKore: faces from Japanese picture scrolls and books (ROIS-DS CODH), versions 1.0-1.3.

Upstream ships metadata only (``urls.txt``, ``labels.csv``, ``original_tags.txt``): line i of
``urls.txt`` is image ``%08d.jpg`` (empty lines in v1.0/v1.1 keep their index), ``labels.csv``
labels a subset with train/dev/test sets. Images are IIIF crops whose size segment can be
changed to fetch larger crops.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...records import Record
from ...sources import MetadataError, SourceError, SourceSpec, UpstreamChanged, split_lines
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

UPSTREAM = "https://raw.githubusercontent.com/rois-codh/kaokore/2a12178"  # pinned: checksums.tsv
VERSION_DIRS = {"1.0": "dataset", "1.1": "dataset_v1.1", "1.2": "dataset_v1.2", "1.3": "dataset_v1.3"}
GENDER = ["male", "female"]
STATUS = ["noble", "warrior", "incarnation", "commoner"]
SPLITS = {"train": "train", "dev": "validation", "test": "test"}
# original_tags.txt values (Japanese) -> English
DIRECTION_EN = {"四分の三": "three-quarter", "横": "side", "後": "back", "正面": "front", "不明": "unknown", "": "unknown"}
GENDER_EN = {"男": "male", "女": "female", "不明": "unknown"}
STATUS_EN = {"貴族": "noble", "武士": "warrior", "化身": "incarnation", "庶民": "commoner", "僧侶": "monk",
             "神職": "Shinto priest", "動物": "animal", "不明": "unknown"}
SOURCE_ID_KEYS = ("原典ID", "DOI", "京都大学貴重資料デジタルアーカイブレコードID", "慶応義塾大学請求記号")
_IIIF = re.compile(r"^(?P<head>.*)/(?P<size>[^/]+)/(?P<rot>!?\d+(?:\.\d+)?)/(?P<tail>[a-z]+\.[a-z0-9]+)$")


def iiif_resize(url: str, size: int) -> str:
    """Ask the IIIF server for a ``size`` px crop instead of the published 256 px one."""
    m = _IIIF.match(url)
    if not m:
        raise ValueError(f"not a IIIF image URL: {url}")
    new = f"{size}," if m["size"].endswith(",") else f"{size},{size}"
    return f"{m['head']}/{new}/{m['rot']}/{m['tail']}"


def url_lines(text: str) -> list[str]:
    """Line i is the URL of image id ``%08d`` % i; an empty line keeps its index and is "" (no
    image: v1.0/v1.1 label some of those). Lines split at LF only, as upstream numbers them (a
    U+2028 inside a line does not shift later ids). A list, not a dict: the id is the position."""
    return [line.strip() for line in split_lines(text)]


def url_index(stem: str, n: int) -> int | None:
    """The line of urls.txt that image ``stem`` names (``%08d`` of its line), or None."""
    if not (stem.isascii() and stem.isdigit()) or f"{int(stem):08d}" != stem or int(stem) >= n:
        return None
    return int(stem)


def parse_urls(text: str, name: str = "urls.txt") -> dict[str, str]:
    """{image id: URL} (see ``url_lines``)."""
    return {f"{i:08d}": url for i, url in enumerate(url_lines(text))}


def parse_labels(text: str, name: str = "labels.csv") -> dict[str, tuple[int, int, str]]:
    csv.field_size_limit(1 << 20)
    rows = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = {"image", "gender", "status", "set"} - set(rows.fieldnames or [])
        if missing:
            raise MetadataError(f"{name} line 1: lacks columns {sorted(missing)}")
        out: dict[str, tuple[int, int, str]] = {}
        for row in rows:
            n = rows.line_num
            if None in row:  # DictReader keeps fields past the header under None
                raise MetadataError(f"{name} line {n}: {len(row[None])} field(s) more than the header's 4")
            if row["set"] not in SPLITS:
                raise MetadataError(f"{name} line {n}: unknown set {row['set']!r} (want {', '.join(SPLITS)})")
            try:
                gender, status = int(row["gender"]), int(row["status"])
            except (TypeError, ValueError):
                raise MetadataError(f"{name} line {n}: gender/status must be integers, got {row['gender']!r}, {row['status']!r}") from None
            if not (0 <= gender < len(GENDER) and 0 <= status < len(STATUS)):
                raise MetadataError(f"{name} line {n}: gender {gender} / status {status} out of range")
            stem = Path(row["image"] or "").stem
            if stem in out:
                raise MetadataError(f"{name} line {n}: image {row['image']!r} is labelled twice")
            out[stem] = (gender, status, SPLITS[row["set"]])
    except csv.Error as exc:
        raise MetadataError(f"{name} line {rows.line_num}: {exc}") from None
    return out


def tag_lines(text: str, name: str = "original_tags.txt") -> dict[str, str]:
    """``<image>:key=value;...`` -> {stem: "key=value;..."}: one string per image, parsed when its
    record is made (``tag_items``), so a large tags file is not held as millions of small lists."""
    out: dict[str, str] = {}
    for n, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        name_, sep, rest = line.partition(":")
        if not sep:
            raise MetadataError(f"{name} line {n}: no ':' after the image name")
        out[Path(name_).stem] = rest
    return out


def tag_items(rest: str) -> dict[str, list[str]]:
    """``key=value;key=value`` -> {key: [values...]} (keys repeat)."""
    tags: dict[str, list[str]] = {}
    for item in rest.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags.setdefault(key, []).append(value)
    return tags


def parse_tags(text: str, name: str = "original_tags.txt") -> dict[str, dict[str, list[str]]]:
    """``<image>:key=value;key=value`` -> {stem: {key: [values...]}} (keys repeat)."""
    return {stem: tag_items(rest) for stem, rest in tag_lines(text, name).items()}


def structured_tags(tags: dict[str, list[str]]) -> dict:
    years = tags.get("制作年", [])
    year_from = next((int(v[5:]) for v in years if v.startswith("from ") and v[5:].strip().isdigit()), None)
    year_to = next((int(v[3:]) for v in years if v.startswith("to ") and v[3:].strip().isdigit()), None)
    era = next((v for v in years if v and not v.startswith(("from ", "to "))), None)
    first = lambda k: (tags.get(k) or [None])[0]  # noqa: E731
    return {
        "source_work": first("原典"),
        "source_id": next((tags[k][0] for k in SOURCE_ID_KEYS if tags.get(k) and tags[k][0]), None),
        "holder": first("所蔵"),
        "face_direction": DIRECTION_EN.get(first("向き") or "", "unknown"),
        "year_from": year_from,
        "year_to": year_to,
        "era": era,
        "free_tags": [v for v in tags.get("タグ", []) if v],
        "original_gender": first("性別"),
        "original_status": first("身分"),
    }


def captions(t: dict, gender: str, status: str) -> list[str]:
    """One English and one Japanese caption from labels and tags."""
    when = f", {t['year_from']}-{t['year_to']}" if t["year_from"] and t["year_to"] else ""
    who = " ".join(w for w in (gender if gender != "unknown" else "", status if status != "unknown" else "") if w) or "person"
    view = t["face_direction"]
    en = f"{'an' if view[0] in 'aeiou' else 'a'} {view} view of the face of a {who} in a Japanese illustrated work"
    if t["source_work"]:
        en += f", {t['source_work']}"
    if t["holder"]:
        en += f" ({t['holder']}{when})"
    ja = "、".join(v for v in (t["source_work"], t["original_status"], t["original_gender"]) if v) + "の顔"
    return [en, ja]


@dataclass
class KaoKoreConfig(ArtfaceConfig):
    dataset_version: str = "1.3"  # 1.0 | 1.1 | 1.2 | 1.3
    include_unlabeled: bool = False  # add images with no labels as split "unlabeled" (labels -1)
    iiif_size: int | None = None  # re-request crops at this size (published: 256)


class KaoKore(ArtfaceBuilder):
    BUILDER_CONFIG_CLASS = KaoKoreConfig
    BUILDER_CONFIGS = [
        KaoKoreConfig(name="urls", kind="urls", description="Metadata, labels and IIIF URLs; no pixels."),
        KaoKoreConfig(name="original", kind="original", description="The 256x256 crops as published."),
        KaoKoreConfig(name="detected", kind="detected", detector="cascade", landmarks="face_mesh",
                      description="Metadata, labels, IIIF URLs and the faces' boxes and points found by the detector; no pixels."),
        KaoKoreConfig(name="aligned", kind="aligned", size=256, detector="cascade", landmarks="face_mesh",
                      description="FFHQ-aligned from detected key points (BlazeFace, RetinaFace when it finds nothing; face mesh)."),
    ]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "KaoKore"
    HOMEPAGE = "http://codh.rois.ac.jp/face/dataset/"
    LANGUAGES = ("ja", "en")
    TASK_CATEGORIES = ("image-classification", "unconditional-image-generation")
    SOURCE_DATASETS = ("extended|rois-codh/kaokore",)
    ANNOTATIONS_CREATORS = ("expert-generated",)
    TAGS = ("japanese-art", "picture-scrolls")
    UNION = UnionMembership({"urls": "urls", "aligned": "aligned"})
    SKIP_REASONS = {"empty_line_unlabeled": "a line of urls.txt with no URL and no label (an upstream placeholder)"}
    LABEL_COLUMNS = ("face_direction",)  # KaoKore's 向き tag: what a detector loses is mostly non-frontal
    PAPERS = {"2002.08595": "KaoKore: A Pre-modern Japanese Art Facial Expression Dataset"}
    OPTION_HELP = {**ArtfaceBuilder.OPTION_HELP,
                   "dataset_version": "KaoKore version: 1.0 | 1.1 | 1.2 | 1.3",
                   "include_unlabeled": "add the images without labels as split 'unlabeled' (labels -1)",
                   "iiif_size": "re-request the IIIF crops at this size (published: 256)"}
    FIELD_DOCS = {
        "gender": "upstream label (labels.csv); -1 for unlabelled images",
        "status": "upstream label (labels.csv); -1 for unlabelled images",
        "original_gender": "性別 tag, Japanese as upstream (男, 女, 不明)",
        "original_status": "身分 tag, Japanese as upstream (貴族, 武士, 化身, 庶民, 僧侶, 神職, 動物, 不明)",
        "face_direction": "向き tag in English: three-quarter, side, back, front, unknown",
        "source_work": "原典: the work the face comes from (Japanese)",
        "source_id": "原典ID / DOI / holder's record id of the work",
        "holder": "所蔵: the institution holding the work (Japanese)",
        "year_from": "制作年 'from' year, when given",
        "year_to": "制作年 'to' year, when given",
        "era": "制作年 as free text (e.g. 室町末近世初)",
        "free_tags": "タグ values (Japanese)",
        "original_tags": "the record's line of original_tags.txt, unparsed",
        "dataset_version": "KaoKore version the record comes from (1.0-1.3)",
        "caption_en": "an English description (the Hub's full-text search keeps only a-z words)",
    }
    SOURCE = SourceSpec(
        files=("urls.txt", "labels.csv", "original_tags.txt"),
        default=UPSTREAM,
        hint=f"the KaoKore repository root ({UPSTREAM}) or a folder holding urls.txt, labels.csv and original_tags.txt",
    )
    POLICY = LicensePolicy(
        dataset="kaokore",
        hub_license="cc-by-sa-4.0",
        public_modes=("urls",),
        reason=("CC BY-SA 4.0, but upstream intentionally ships no image data so that image providers can see which "
                "images are used, and asks users not to create a derived dataset that includes the image data"),
        source="https://github.com/rois-codh/kaokore (README, 'Dataset' and 'License')",
        attribution='"KaoKore Dataset" (created by ROIS-DS CODH, collected from multiple organizations), doi:10.20676/00000353',
    )

    def extra_features(self) -> dict:
        s = datasets.Value("string")
        return {
            "gender": datasets.ClassLabel(names=GENDER),
            "status": datasets.ClassLabel(names=STATUS),
            "original_gender": s,
            "original_status": s,
            "face_direction": s,
            "source_work": s,
            "source_id": s,
            "holder": s,
            "year_from": datasets.Value("int32"),
            "year_to": datasets.Value("int32"),
            "era": s,
            "free_tags": datasets.List(s),
            "original_tags": s,
            "dataset_version": s,
            "caption_en": s,
        }

    @classmethod
    def union_labels(cls, row: dict, features: datasets.Features) -> dict:
        g = row.get("gender")
        return {"title": row.get("source_work"), "year": row.get("year_from"),
                "gender": features["gender"].int2str(g) if isinstance(g, int) and g >= 0 else None}

    def source_facts(self, records: list[Record]) -> dict[str, str]:
        """The KaoKore version a config holds: ids and labels differ between versions."""
        return {"KaoKore version": f"v{self.config.dataset_version}"}

    def _metadata(self) -> tuple[Callable[[str], str], str]:
        """A reader of the chosen version's metadata files (in its upstream folder under the source,
        or directly in the source folder) and where they are. Files are read one at a time, when
        parsed, so that no two large texts are held at once."""
        c = self.config
        if c.dataset_version not in VERSION_DIRS:
            raise MetadataError(f"kaokore dataset_version must be one of {sorted(VERSION_DIRS)}, got {c.dataset_version!r}")
        root = self.source()
        nested = root.sub(VERSION_DIRS[c.dataset_version])
        meta = nested if nested.exists("urls.txt") else root if root.exists("urls.txt") else None
        if meta is None:
            raise SourceError(
                f"kaokore v{c.dataset_version}: no urls.txt in {nested.where()} or {root.where()}. Point --source at the "
                f"upstream repository root ({UPSTREAM}) or at a folder holding urls.txt, labels.csv and original_tags.txt."
            )

        def read(name: str) -> str:
            try:
                return meta.read_text(name)
            except UpstreamChanged:
                raise
            except SourceError as exc:
                raise SourceError(f"kaokore v{c.dataset_version}: missing {name} in {meta.where()} ({exc})") from None

        return read, meta.where()

    def read_records(self) -> Iterator[Record]:
        c = self.config
        read, where = self._metadata()  # each text is read when parsed and dropped after, the largest first
        tags = tag_lines(read("original_tags.txt"), f"{where}/original_tags.txt")
        urls = url_lines(read("urls.txt"))
        labels = parse_labels(read("labels.csv"), f"{where}/labels.csv")
        unknown = sorted(s for s in labels if url_index(s, len(urls)) is None)
        if unknown:
            raise MetadataError(f"{where}/labels.csv names {len(unknown)} image(s) not in urls.txt, e.g. {unknown[0]}")
        for i, url in enumerate(urls):
            stem = f"{i:08d}"
            label = labels.get(stem)
            if label is None and not c.include_unlabeled:
                continue
            if not url and label is None:
                self.skipped["empty_line_unlabeled"] += 1  # a placeholder line: no image, no label
                continue
            gender, status, split = label if label else (-1, -1, "unlabeled")
            items = tag_items(tags.get(stem, ""))
            t = structured_tags(items)
            g_en = GENDER[gender] if gender >= 0 else GENDER_EN.get(t["original_gender"] or "", "unknown")
            s_en = STATUS[status] if status >= 0 else STATUS_EN.get(t["original_status"] or "", "unknown")
            raw = ";".join(f"{k}={v}" for k, vs in items.items() for v in vs)
            caps = captions(t, g_en, s_en)
            try:
                image_url = iiif_resize(url, c.iiif_size) if c.iiif_size and url else url
            except ValueError as exc:
                raise MetadataError(f"{where}/urls.txt line {int(stem) + 1}: iiif_size={c.iiif_size}: {exc}") from None
            yield Record(  # a labelled image with an empty line in urls.txt has no location: a no_url failure
                id=stem,
                split=split,
                fetch=locations.url(image_url) if image_url else None,
                image_url=image_url or None,
                source_url=url or None,
                fields={"gender": gender, "status": status, **t, "original_tags": raw, "dataset_version": c.dataset_version,
                        "caption_en": caps[0]},
                captions=caps,
                face="back" if t["face_direction"] == "back" else None,  # 向き=後: the back of a head
            )
