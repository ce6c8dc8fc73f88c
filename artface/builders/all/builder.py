"""One art-face corpus: the member datasets as one harmonised dataset.

Each member is built by its own builder (its recipe, detector, options and policy), then its rows
get the common columns plus ``dataset`` (the member), ``member_id``, and the member labels that
have a common meaning: ``artist``, ``title``, ``style`` (WikiArt movement; KaoKore face direction is
not a style and is dropped), ``year`` and ``gender`` (KaoKore's label, MM-CelebA's ``Male``). Other
member columns are dropped (the card lists them). Every row keeps its own license and
attribution. Splits are the members' own, named ``<member>_<split>``. Publishing applies each
member's policy row by row: pixels only for rows whose member allows them.
"""
from __future__ import annotations

import datasets

from ...licenses import MODES, LicensePolicy
from ...sources import SourceSpec
from .._composite import CompositeBuilder, CompositeConfig

GENDER = ["male", "female"]  # the union's gender words; each member maps its own labels to them (union_labels)
LABELS = ("artist", "title", "style", "year", "gender")


def members() -> list[str]:
    """The datasets that declare how they join the union (``UNION`` in their folder), in registry order."""
    from .. import builder_class, datasets_only

    return [n for n in datasets_only() if builder_class(n).UNION is not None]


def harmonise(member_cls, row: dict, features: datasets.Features) -> dict:
    """The shared columns of a member row, from the member's own ``union_labels`` (unknown where it has none)."""
    got = member_cls.union_labels(row, features)
    out = {k: got.get(k) for k in LABELS}
    out["gender"] = GENDER.index(out["gender"]) if out["gender"] in GENDER else -1
    return out


class AllDatasets(CompositeBuilder):
    BUILDER_CONFIGS = [CompositeConfig(name="urls", kind="urls", description="All members' URL-only rows, harmonised."),
                       CompositeConfig(name="aligned", kind="aligned", size=256,
                                       description="All members' aligned faces at 256 px, harmonised.")]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "artface corpus (MetFaces, AAHQ, KaoKore, WikiART Face)"
    HOMEPAGE = "https://github.com/artface/artface"
    SOURCE = SourceSpec(hint="--set sources=metfaces=PATH,aahq=PATH,wikiart_face=PATH (KaoKore has a default upstream)")
    LANGUAGES = ("en", "ja")
    TASK_CATEGORIES = ("unconditional-image-generation", "image-classification")
    SOURCE_DATASETS = ("extended|rois-codh/kaokore", "extended|NVlabs/metfaces-dataset", "extended|onion-liu/aahq-dataset",
                       "extended|asahi417/wikiart-face")
    FIELD_DOCS = {"dataset": "the member dataset of the row", "member_id": "the row's id in its member dataset",
                  "artist": "artist (MetFaces, WikiART Face)", "title": "title of the work (MetFaces, WikiART Face; KaoKore: source work)",
                  "style": "art movement (WikiART Face)", "year": "year of the work, when known",
                  "gender": "gender label (KaoKore's label; MM-CelebA's Male attribute); -1 unknown"}
    POLICY = LicensePolicy(
        dataset="all", hub_license="other", license_name="per-row-licenses",
        license_link="https://github.com/artface/artface#datasets", public_modes=MODES,
        reason="each row keeps its member's license; pixels are published only for rows whose member allows it",
        source="the member datasets' policies (artface list)", attribution="see each row's attribution column")

    # -- what it is made of: the datasets whose folder declares ``UNION`` -------------------------
    @classmethod
    def member_names(cls) -> list[str]:
        return members()

    @classmethod
    def default_members(cls) -> list[str]:
        from .. import builder_class

        return [n for n in members() if builder_class(n).UNION.default]

    @classmethod
    def member_config(cls, member: str, config: CompositeConfig) -> str | None:
        from .. import builder_class

        return builder_class(member).UNION.configs.get(config.name)

    def extra_features(self) -> dict:
        s = datasets.Value("string")
        return {"artist": s, "title": s, "style": s, "year": datasets.Value("int32"),
                "gender": datasets.ClassLabel(names=GENDER)}

    def member_columns(self, member_cls: type, row: dict, member_features: datasets.Features) -> dict:
        return harmonise(member_cls, row, member_features)
