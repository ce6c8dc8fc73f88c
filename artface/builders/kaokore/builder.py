"""KaoKore: faces from Japanese picture scrolls and books (ROIS-DS CODH), versions 1.0-1.3.

Upstream ships metadata only (``urls.txt``, ``labels.csv``, ``original_tags.txt``): line i of
``urls.txt`` is image ``%08d.jpg`` (empty lines in v1.0/v1.1 keep their index), ``labels.csv``
labels a subset with train/dev/test sets. Images are IIIF crops whose size segment can be
changed to fetch larger crops.
"""
from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import datasets

from ... import locations
from ...licenses import LicensePolicy
from ...metadata_file import MetadataFile
from ...records import Record
from ...sources import MetadataError, SourceError, SourceSpec, UpstreamChanged
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

UPSTREAM = "https://raw.githubusercontent.com/rois-codh/kaokore/2a12178"  # pinned: checksums.tsv
VERSION_DIRS = {"1.0": "dataset", "1.1": "dataset_v1.1", "1.2": "dataset_v1.2", "1.3": "dataset_v1.3"}
GENDER = ["male", "female"]
STATUS = ["noble", "warrior", "incarnation", "commoner"]
SPLITS = {"train": "train", "dev": "validation", "test": "test"}
SPLIT_NAMES = list(SPLITS.values())
NO_LABEL = 255  # in the label tables: this line of urls.txt has no label
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


def url_index(stem: str, n: int) -> int | None:
    """The line of urls.txt that image ``stem`` names (``%08d`` of its line), or None."""
    if not (stem.isascii() and stem.isdigit()) or len(stem) > max(8, len(str(n))) or f"{int(stem):08d}" != stem \
            or int(stem) >= n:
        return None
    return int(stem)


def label_rows(lines: Iterable[str], name: str = "labels.csv") -> Iterator[tuple[int, str, int, int, str]]:
    """(line, image, gender, status, split) per row of labels.csv, each row checked; ``lines``
    keep their line ends (a quoted field may span lines). Which images are labelled twice or unknown
    is the reader's to say: it knows urls.txt."""
    csv.field_size_limit(1 << 20)
    rows = csv.DictReader(lines)
    try:
        missing = {"image", "gender", "status", "set"} - set(rows.fieldnames or [])
        if missing:
            raise MetadataError(f"{name} line 1: lacks columns {sorted(missing)}")
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
            yield n, row["image"] or "", gender, status, SPLITS[row["set"]]
    except csv.Error as exc:
        raise MetadataError(f"{name} line {rows.line_num}: {exc}") from None


def stem(name: str) -> str:
    """The file name without its last suffix (``00000001.jpg`` -> ``00000001``), as ``Path.stem``
    for the names that can name a line of urls.txt, at a tenth of its cost: it runs per line."""
    base = name.rstrip("/").rpartition("/")[2]
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def read_labels(f: MetadataFile, n: int) -> tuple[bytearray, bytearray, bytearray]:
    """labels.csv as three tables indexed by urls.txt line: gender, status and split (index in
    ``SPLIT_NAMES``), ``NO_LABEL`` where unlabelled. 3 bytes a record, whatever the file's order."""
    gender, status, split = bytearray([NO_LABEL]) * n, bytearray([NO_LABEL]) * n, bytearray([NO_LABEL]) * n
    unknown, example = 0, None
    for line, image, g, st, sp in label_rows((text + "\n" for _, _, text in f.lines()), f.where):
        s = stem(image)
        i = url_index(s, n)
        if i is None:
            unknown, example = unknown + 1, min(example or s, s)
        elif gender[i] != NO_LABEL:
            raise MetadataError(f"{f.where} line {line}: image {image!r} is labelled twice")
        else:
            gender[i], status[i], split[i] = g, st, SPLIT_NAMES.index(sp)
    if unknown:
        raise MetadataError(f"{f.where} names {unknown} image(s) not in urls.txt, e.g. {example}")
    return gender, status, split


def tag_line(line: str, name: str, number: int) -> tuple[str, str]:
    """``<image>:key=value;...`` -> (image stem, "key=value;..."), parsed by ``tag_items`` when used."""
    name_, sep, rest = line.partition(":")
    if not sep:
        raise MetadataError(f"{name} line {number}: no ':' after the image name")
    return stem(name_), rest


def tag_offsets(f: MetadataFile, n: int) -> array:
    """Where each image's line of original_tags.txt starts (-1: none), indexed by urls.txt line: the
    join keeps 8 bytes a record and reads a line again when its record is made. A repeated image
    keeps its last line; lines of images not in urls.txt are not used."""
    offsets = array("q", [-1]) * n
    for number, offset, line in f.lines():
        if line.strip():
            i = url_index(tag_line(line, f.where, number)[0], n)
            if i is not None:
                offsets[i] = offset
    return offsets


def tag_items(rest: str) -> dict[str, list[str]]:
    """``key=value;key=value`` -> {key: [values...]} (keys repeat)."""
    tags: dict[str, list[str]] = {}
    for item in rest.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags.setdefault(key, []).append(value)
    return tags


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

    def _metadata(self) -> Callable[[str], MetadataFile]:
        """An opener of the chosen version's metadata files (in its upstream folder under the source,
        or directly in the source folder), read line by line."""
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

        def open_file(name: str) -> MetadataFile:
            try:
                return meta.open_file(name)
            except UpstreamChanged:
                raise
            except SourceError as exc:
                raise SourceError(f"kaokore v{c.dataset_version}: missing {name} in {meta.where()} ({exc})") from None

        return open_file

    def read_records(self) -> Iterator[Record]:
        """urls.txt streamed line by line, joined to labels.csv and original_tags.txt through per-line
        tables (11 bytes a record): memory does not hold the metadata, whatever the files' order."""
        open_file = self._metadata()
        with open_file("urls.txt") as urls, open_file("labels.csv") as labels_file, \
                open_file("original_tags.txt") as tags_file:
            gender, status, split = read_labels(labels_file, urls.line_count)
            tags = tag_offsets(tags_file, urls.line_count)
            for number, _, line in urls.lines():
                i = number - 1
                label = (gender[i], status[i], SPLIT_NAMES[split[i]]) if gender[i] != NO_LABEL else None
                yield from self._record(i, line.strip(), label, tags_file, tags[i], urls.where)

    def _record(self, i: int, url: str, label: tuple[int, int, str] | None, tags_file: MetadataFile, tag_offset: int,
                where: str) -> Iterator[Record]:
        """The record of urls.txt line ``i + 1`` (none for an unlabelled line unless asked for)."""
        c = self.config
        if label is None and not c.include_unlabeled:
            return
        if not url and label is None:
            self.skipped["empty_line_unlabeled"] += 1  # a placeholder line: no image, no label
            return
        gender, status, split = label or (-1, -1, "unlabeled")
        items = tag_items(tag_line(tags_file.line_at(tag_offset), tags_file.where, 0)[1] if tag_offset >= 0 else "")
        t = structured_tags(items)
        g_en = GENDER[gender] if gender >= 0 else GENDER_EN.get(t["original_gender"] or "", "unknown")
        s_en = STATUS[status] if status >= 0 else STATUS_EN.get(t["original_status"] or "", "unknown")
        raw = ";".join(f"{k}={v}" for k, vs in items.items() for v in vs)
        caps = captions(t, g_en, s_en)
        try:
            image_url = iiif_resize(url, c.iiif_size) if c.iiif_size and url else url
        except ValueError as exc:
            raise MetadataError(f"{where} line {i + 1}: iiif_size={c.iiif_size}: {exc}") from None
        yield Record(  # a labelled image with an empty line in urls.txt has no location: a no_url failure
            id=f"{i:08d}",
            split=split,
            fetch=locations.url(image_url) if image_url else None,
            image_url=image_url or None,
            source_url=url or None,
            fields={"gender": gender, "status": status, **t, "original_tags": raw, "dataset_version": c.dataset_version,
                    "caption_en": caps[0]},
            captions=caps,
            face="back" if t["face_direction"] == "back" else None,  # 向き=後: the back of a head
        )
