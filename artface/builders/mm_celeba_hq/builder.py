"""Multi-Modal-CelebA-HQ: 30,000 CelebA-HQ photos with captions, masks, sketches and attributes.

Manual download only (non-commercial research, no redistribution): ``data_dir`` points at the
user's unpacked downloads. The split lists are pickles from that download: they are read with
a restricted unpickler that accepts lists of strings and nothing else.
"""
from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from ...failures import Reason, RecordFailure
from ...licenses import LicensePolicy
from ...locations import read_file
from ...pipeline import Stage, Work
from ...records import Record
from ...sources import MetadataError, SourceSpec, decode_text, split_lines
from .._base import ArtfaceBuilder, ArtfaceConfig, UnionMembership

log = logging.getLogger(__name__)
UPSTREAM = "https://github.com/IIGROUP/MM-CelebA-HQ-Dataset"
MASK_PARTS = ["skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip",
              "hair", "hat", "ear_r", "neck_l", "neck", "cloth"]  # label id = index + 1; 0 is background
MASK_NAMES = ["background", *MASK_PARTS]
# what the layout needs -> (path under data_dir, where it comes from)
LAYOUT = {
    "image": ("image", f"CelebA-HQ images {{i}}.jpg: Multi-Modal-CelebA-HQ download ({UPSTREAM})"),
    "captions": ("text/celeba-caption", f"text descriptions {{i}}.txt: Multi-Modal-CelebA-HQ 'text' download ({UPSTREAM})"),
    "train_split": ("train/filenames.pickle", f"train split list: Multi-Modal-CelebA-HQ download ({UPSTREAM})"),
    "test_split": ("test/filenames.pickle", f"test split list: Multi-Modal-CelebA-HQ download ({UPSTREAM})"),
    "mask": ("CelebAMask-HQ-mask-anno", "part masks {k//2000}/{k:05d}_{part}.png: CelebAMask-HQ (https://github.com/switchablenorms/CelebAMask-HQ)"),
    "attributes": ("CelebAMask-HQ-attribute-anno.txt", "40 attributes: CelebAMask-HQ (https://github.com/switchablenorms/CelebAMask-HQ)"),
    "sketch": ("sketch", f"sketches {{i}}.png: Multi-Modal-CelebA-HQ 'sketch' download ({UPSTREAM})"),
}
OPTIONAL = ("captions", "mask", "attributes", "sketch")


class UnsafePickleError(ValueError):
    """A split list that is not a plain list of strings (refused, never executed)."""


class _ListsOfStrings(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise UnsafePickleError(f"refusing to load {module}.{name}: split lists may only hold strings")


def load_name_list(path: Path) -> list[str]:
    """A pickled list of file stems, loaded without running any code from the file."""
    try:
        with open(path, "rb") as f:
            obj = _ListsOfStrings(f, encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise UnsafePickleError(f"{path}: not a readable pickle of a list of strings ({exc})") from exc
    if not isinstance(obj, list) or not all(isinstance(x, (str, bytes)) for x in obj):
        raise UnsafePickleError(f"{path}: expected a list of strings, got {type(obj).__name__}")
    return [x.decode() if isinstance(x, bytes) else x for x in obj]


def parse_attributes(text: str, name: str = "CelebAMask-HQ-attribute-anno.txt") -> tuple[list[str], dict[str, list[bool]]]:
    lines = split_lines(text)
    if len(lines) < 2:
        raise MetadataError(f"{name}: expected a count line and a names line")
    names = lines[1].split()
    if len(names) != 40:
        raise MetadataError(f"{name} line 2: expected 40 attribute names, found {len(names)}")
    rows = {}
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 41:
            raise MetadataError(f"{name} line {n}: expected a name and 40 values, got {len(parts) - 1}")
        if any(v not in ("1", "-1", "0") for v in parts[1:]):
            raise MetadataError(f"{name} line {n}: attribute values must be 1, -1 or 0")
        stem = Path(parts[0]).stem
        if stem in rows:
            raise MetadataError(f"{name} line {n}: {parts[0]} appears twice")
        rows[stem] = [v == "1" for v in parts[1:]]
    return names, rows


def merge_masks(folder: Path, k: int) -> bytes | None:
    """The binary part masks of image k merged into one label map (later parts overwrite earlier)."""
    sub = folder / str(k // 2000)
    label = None
    for idx, part in enumerate(MASK_PARTS, start=1):
        p = sub / f"{k:05d}_{part}.png"
        if not p.is_file():
            continue
        try:
            m = np.asarray(Image.open(io.BytesIO(read_file(str(p)))).convert("L")) > 127
        except RecordFailure as exc:
            raise RecordFailure("corrupt_mask", f"{p.name}: {exc.detail}") from None
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise RecordFailure("corrupt_mask", f"{p.name}: {type(exc).__name__}: {exc}") from None
        if label is not None and m.shape != label.shape:
            raise RecordFailure("corrupt_mask", f"{p.name}: {m.shape[1]}x{m.shape[0]} differs from the other parts")
        if label is None:
            label = np.zeros(m.shape, dtype=np.uint8)
        label[m] = idx
    if label is None:
        return None
    buf = io.BytesIO()
    Image.fromarray(label, "L").save(buf, "PNG")
    return buf.getvalue()


@dataclass
class MMCelebAHQConfig(ArtfaceConfig):
    allow_missing: list[str] = field(default_factory=list)  # any of captions, mask, attributes, sketch


class MMCelebAHQ(ArtfaceBuilder):
    BUILDER_CONFIG_CLASS = MMCelebAHQConfig
    BUILDER_CONFIGS = [MMCelebAHQConfig(name="original", kind="original", description="The 1024 px CelebA-HQ images with all modalities.")]
    DEFAULT_CONFIG_NAME = "original"
    PRETTY_NAME = "Multi-Modal-CelebA-HQ"
    HOMEPAGE = UPSTREAM
    TASK_CATEGORIES = ("text-to-image", "image-segmentation", "unconditional-image-generation")
    SOURCE_DATASETS = ("extended|IIGROUP/MM-CelebA-HQ-Dataset",)
    ANNOTATIONS_CREATORS = ("expert-generated", "machine-generated")
    PAPERS = {"2012.03308": "TediGAN: Text-Guided Diverse Face Image Generation and Manipulation",
              "1907.11922": "MaskGAN: Towards Diverse and Interactive Facial Image Manipulation"}
    OPTION_HELP = {**ArtfaceBuilder.OPTION_HELP,
                   "allow_missing": "build without these modalities: any of captions, mask, attributes, sketch (comma-separated)"}
    UNION = UnionMembership({"urls": "original", "aligned": "original"}, default=False)  # local builds only
    REASONS = {"corrupt_mask": Reason("mask", False, "a part mask of the record is unreadable"),
               "corrupt_sketch": Reason("sketch", False, "the record's sketch is unreadable")}

    @classmethod
    def union_labels(cls, row: dict, features: datasets.Features) -> dict:
        male = row.get("Male")
        return {"gender": None if male is None else ("male" if male else "female")}

    SOURCE = SourceSpec(manual=True, hint=f"the folder with your unpacked downloads (--source, or data_dir=); get them from "
                                          f"{UPSTREAM} and CelebAMask-HQ")
    FIELD_DOCS = {
        "mask": f"label map: {', '.join(f'{i} {n}' for i, n in enumerate(MASK_NAMES))}",
        "sketch": "the sketch image of the face",
    }
    POLICY = LicensePolicy(
        dataset="mm_celeba_hq",
        hub_license="other",
        license_name="celeba-hq-non-commercial",
        license_link=UPSTREAM,
        public_modes=(),
        private_modes=(),
        reason="CelebA/CelebA-HQ images are for non-commercial research only and may not be redistributed; build it locally from your own download",
        source=f"{UPSTREAM} (README) and https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (agreement)",
        attribution="Multi-Modal-CelebA-HQ (Xia et al., TediGAN); CelebA-HQ (Karras et al.); CelebAMask-HQ (Lee et al.)",
    )

    def extra_features(self) -> dict:
        attrs = {name: datasets.Value("bool") for name in self._attribute_names()}
        return {"mask": datasets.Image(), "sketch": datasets.Image(), **attrs}

    # -- layout ------------------------------------------------------------------------------
    def _root(self) -> Path:
        return Path(self.source().root)

    def _check_layout(self) -> dict[str, Path]:
        root = self._root()
        unknown = set(self.config.allow_missing) - set(OPTIONAL)
        if unknown:
            raise ValueError(f"allow_missing accepts {OPTIONAL}, got {sorted(unknown)}")
        found, missing = {}, []
        for key, (rel, origin) in LAYOUT.items():
            p = root / rel
            if p.exists():
                found[key] = p
            elif key not in self.config.allow_missing:
                missing.append(f"  - {p}  ({origin})")
        if missing:
            hint = f"\nTo build without some modalities, pass allow_missing={[k for k in OPTIONAL if k not in found]}" \
                if all(k in found for k in ("image", "train_split", "test_split")) else ""
            raise FileNotFoundError(f"mm_celeba_hq: {len(missing)} item(s) missing under {root}:\n" + "\n".join(missing) + hint)
        return found

    def _attribute_names(self) -> list[str]:
        src = self.config.source or self.config.data_dir
        p = self._root() / LAYOUT["attributes"][0] if src else None
        if p is not None and p.is_file():
            with open(p, "rb") as f:
                f.readline()
                return f.readline().decode("utf-8", "replace").split()
        return DEFAULT_ATTRIBUTES

    def _splits(self, found: dict[str, Path]) -> dict[str, list[str]]:
        train, test = load_name_list(found["train_split"]), load_name_list(found["test_split"])
        if len(train) < len(test):
            log.warning("mm_celeba_hq: train/filenames.pickle has %d names and test/ %d: this upload has them swapped; "
                        "using the larger list as train", len(train), len(test))
            train, test = test, train
        return {"train": train, "test": test}

    def read_records(self) -> Iterator[Record]:
        found = self._check_layout()
        src = self.source()
        attr_file = LAYOUT["attributes"][0]
        names, attrs = parse_attributes(src.read_text(attr_file), src.where(attr_file)) if "attributes" in found else ([], {})
        no_caption = 0
        for split, stems in self._splits(found).items():
            for n, stem in enumerate(stems):
                stem = Path(stem).stem
                if not stem.isdigit():
                    raise MetadataError(f"{found[f'{split}_split']} item {n}: {stem!r} is not an image index")
                captions = []
                if "captions" in found:
                    cap = f"{LAYOUT['captions'][0]}/{stem}.txt"
                    if (found["captions"] / f"{stem}.txt").is_file():
                        captions = [c.strip() for c in split_lines(decode_text(src.read_bytes(cap), src.where(cap))) if c.strip()]
                    else:
                        no_caption += 1
                values = attrs.get(stem)
                yield Record(
                    id=stem,
                    split=split,
                    fetch=src.file(f"{LAYOUT['image'][0]}/{stem}.jpg"),
                    fields={n: (values[i] if values else None) for i, n in enumerate(names or self._attribute_names())},
                    captions=captions,
                )
        if no_caption:
            log.warning("mm_celeba_hq: %d images have no caption file; their captions are empty", no_caption)

    # -- per-record stages: a corrupt mask or sketch fails that record, not the build ----------
    def extra_stages(self) -> list[Stage]:
        return [Stage("mask", self._mask_stage), Stage("sketch", self._sketch_stage)]

    def _mask_stage(self, w: Work) -> None:
        mask_dir = self._root() / LAYOUT["mask"][0]
        if mask_dir.is_dir():
            m = merge_masks(mask_dir, int(w.rec.id))
            if m is not None:
                w.blobs["mask"] = m

    def _sketch_stage(self, w: Work) -> None:
        sk_dir = self._root() / LAYOUT["sketch"][0]
        for ext in ("png", "jpg"):
            p = sk_dir / f"{w.rec.id}.{ext}"
            if p.is_file():
                try:
                    data = read_file(str(p))
                    with Image.open(io.BytesIO(data)) as im:
                        im.load()  # a truncated or corrupt sketch fails here, not when a user reads the row
                except RecordFailure as exc:
                    raise RecordFailure("corrupt_sketch", f"{p.name}: {exc.detail}") from None
                except (OSError, ValueError, Image.DecompressionBombError) as exc:
                    raise RecordFailure("corrupt_sketch", f"{p.name}: {type(exc).__name__}: {exc}") from None
                w.blobs["sketch"] = data
                return


DEFAULT_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair Blond_Hair Blurry "
    "Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male "
    "Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks "
    "Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young"
).split()


MMCelebAConfig = MMCelebAHQConfig  # the 0.x name, kept for one release
