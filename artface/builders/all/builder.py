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

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from ...licenses import LicensePolicy, PublishRefused, check_publish, union_policy
from ...report import read_report, write_report
from ...kinds import kind as kind_of
from ...schema import common_features
from ...sources import SourceSpec
from .._base import ArtfaceBuilder, ArtfaceConfig, CompositeBuilder, OptionError

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


@dataclass
class UnionConfig(ArtfaceConfig):
    members: list[str] = field(default_factory=list)  # default: every dataset whose UNION says default
    sources: list[str] = field(default_factory=list)  # member=source, for members that need one
    duplicates: str = "keep"  # aligned/original unions: keep | flag (dup_group) | drop (one row per group)


class AllDatasets(CompositeBuilder):
    BUILDER_CONFIG_CLASS = UnionConfig
    BUILDER_CONFIGS = [UnionConfig(name="urls", kind="urls", description="All members' URL-only rows, harmonised."),
                       UnionConfig(name="aligned", kind="aligned", size=256,
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
    OPTION_HELP = {**ArtfaceBuilder.OPTION_HELP, "members": "member datasets (comma-separated)",
                   "duplicates": "keep | flag (dup_group column: the near-duplicate group, -1 when unique) | drop "
                                 "(keeps the first row of each group; counted in the report)",
                   "sources": "member=source pairs (comma-separated) for members that need a source"}
    SKIP_REASONS = {"near_duplicate_dropped": "duplicates=drop: a later copy of a near-duplicate group (its first row is kept)"}
    POLICY = LicensePolicy(
        dataset="all", hub_license="other", license_name="per-row-licenses",
        license_link="https://github.com/artface/artface#datasets", public_modes=("urls", "pixels"),
        reason="each row keeps its member's license; pixels are published only for rows whose member allows it",
        source="the member datasets' policies (artface list)", attribution="see each row's attribution column")

    # -- members ---------------------------------------------------------------------------------
    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        """The default members are the datasets whose folder says so (``UNION.default``), filled in
        before the config id is made, so spelling them out names the same build."""
        from .. import builder_class

        defaults = [n for n in members() if builder_class(n).UNION.default]
        for c in self.BUILDER_CONFIGS:
            c.members = c.members or list(defaults)
        if not config_kwargs.get("members"):
            config_kwargs.pop("members", None)
        return super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)

    def member_builders(self) -> list:
        from .. import load_builder

        from .. import builder_class

        c = self.config
        known = members()
        unknown = sorted(set(c.members) - set(known))
        if unknown or not c.members:
            raise OptionError(f"option members={c.members!r}: use any of {', '.join(known)}")
        sources = dict(s.split("=", 1) for s in c.sources if "=" in s)
        out = []
        for m in c.members:
            config = builder_class(m).UNION.configs.get(c.name)
            if config is None:
                raise OptionError(f"member {m} has no config for a union of kind {c.kind!r}")
            opts = {"source": sources[m]} if m in sources else {}
            if kind_of(c.kind).aligns:
                opts.update(size=c.size, image_format=c.image_format, image_quality=c.image_quality)
            if c.max_records is not None:
                opts["max_records"] = c.max_records
            out.append(load_builder(m, config, **opts))
        return out

    def _info(self) -> datasets.DatasetInfo:
        s = datasets.Value("string")
        extra = {"dataset": datasets.ClassLabel(names=members()), "member_id": s, "artist": s, "title": s, "style": s,
                 "year": datasets.Value("int32"), "gender": datasets.ClassLabel(names=GENDER),
                 "dup_group": datasets.Value("int32")}
        return datasets.DatasetInfo(description=self.DESCRIPTION, features=common_features(self.config.kind, extra),
                                    homepage=self.HOMEPAGE, license=self.POLICY.hub_license)

    def records(self) -> list:
        return []

    def source_is_local(self) -> bool:
        return False

    def member_builds(self) -> list:
        """The members' finished builds, each made (or reused, with no request) by its own builder."""
        if getattr(self, "_member_builds", None) is None:
            from ...build import run_build

            engine, engine_options = getattr(self, "_engine", ("local", {}))
            self._member_builds = [run_build(b, retry_failed=self._retry_failed, refresh=getattr(self, "_refresh", False),
                                             engine=engine, **engine_options).build
                                   for b in self.member_builders()]
        return self._member_builds

    def prepare_run(self, retry_failed: bool = False) -> None:
        self._retry_failed = retry_failed
        self.member_builds()

    def kept_failures(self, retry_failed: bool = False) -> Counter:
        kept: Counter = Counter()
        for m in self.member_builds():
            kept.update(m.report.get("kept_from_last_run", {}))
        return kept

    def build_extra(self) -> dict:
        return {"members": {m.dataset_name: m.meta["build_id"] for m in self.member_builds()}}

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        builds = self.member_builds()
        groups = self._duplicate_groups(builds)
        self._dropped = sum(1 for _, pos in groups.values() if pos > 0) if self.config.duplicates == "drop" else 0
        gens = []
        for b in builds:
            for split in b.splits:
                if not b.num_rows(split):
                    continue
                if self._dropped and all(groups.get(f"{b.dataset_name}/{rid}", (-1, 0))[1] > 0
                                         for rid in b.dataset(split)["id"]):
                    continue  # every row of this split is a later copy of a group kept elsewhere
                gens.append(datasets.SplitGenerator(name=f"{b.dataset_name}_{split}",
                                                    gen_kwargs={"folder": str(b.folder), "split": split, "groups": groups}))
        return gens

    def _duplicate_groups(self, builds: list) -> dict[str, list[int]]:
        """``member/id`` -> [group, position in the group] for rows in a near-duplicate group (flag/drop)."""
        policy = self.config.duplicates
        if policy not in ("keep", "flag", "drop"):
            raise OptionError(f"option duplicates={policy!r}: use keep | flag | drop")
        if policy == "keep":
            return {}
        if not kind_of(self.config.kind).pixels:
            raise OptionError("option duplicates=flag|drop compares pixels: use an aligned union")
        from ...dedup import collect, near_duplicates

        items, hashes = collect(builds)
        g = near_duplicates(hashes)[3]
        sizes = Counter(g.tolist())
        seen: Counter = Counter()
        out = {}
        for it, grp in zip(items, g.tolist()):
            if sizes[grp] > 1:
                out[f"{it.dataset}/{it.id}"] = [int(grp), seen[grp]]
                seen[grp] += 1
        return out

    def _generate_examples(self, folder: str, split: str, groups: dict):
        from ...build import Build

        b = Build.open(folder)
        member = b.dataset_name
        ds = b.dataset(split)
        if "image" in ds.features:
            ds = ds.cast_column("image", datasets.Image(decode=False))
        from .. import builder_class

        features = self.info.features
        member_features, member_cls = b.features, builder_class(member)
        member_index = features["dataset"].str2int(member)
        for row in ds:
            rid = f"{member}/{row['id']}"
            group, position = groups.get(rid, (-1, 0))
            if self.config.duplicates == "drop" and position > 0:
                continue  # a later copy of a near-duplicate group (counted in the report)
            out = {k: row.get(k) for k in features if k in row}
            out.update(harmonise(member_cls, row, member_features), dataset=member_index, member_id=row["id"],
                       id=rid, dup_group=group)
            yield rid, out

    # -- report and publishing ---------------------------------------------------------------------
    def report(self, outcomes=None) -> dict:
        members = {m.dataset_name: m.report for m in self.member_builds()}
        totals = Counter()
        for r in members.values():
            totals.update({k: r[k] for k in ("total", "written", "failed", "pending")})
        by_reason = Counter()
        for r in members.values():
            by_reason.update(r["failed_by_reason"])
        points: Counter = Counter()  # where each member's points come from, added up
        for r in members.values():
            points.update(r["provenance"].get("points", {}))
        dropped = getattr(self, "_dropped", 0)
        totals["written"] -= dropped
        totals["total"] -= dropped
        k = kind_of(self.config.kind)
        return {"dataset": "all", "config": self.config.name, "kind": self.config.kind, **totals,
                "failed_by_reason": dict(by_reason), "skipped": {"near_duplicate_dropped": dropped} if dropped else {},
                "advice": "",
                "splits": {f"{m}_{s}": v for m, r in members.items() for s, v in r["splits"].items()},
                "failures": [{**f, "dataset": m} for m, r in members.items() for f in r["failures"]],
                "members": {m: {k: r[k] for k in ("total", "written", "failed")} for m, r in members.items()},
                "provenance": {"artface_version": members and next(iter(members.values()))["provenance"]["artface_version"],
                               "source": None, "sample": any(r["provenance"]["sample"] for r in members.values()),
                               "sample_of": None, "points": dict(points.most_common()), "kind": self.config.kind,
                               "detector_models": {d: sha for r in members.values()
                                                   for d, sha in r["provenance"].get("detector_models", {}).items()},
                               "source_facts": {f"{m} {k}": v for m, r in members.items()
                                                for k, v in r["provenance"].get("source_facts", {}).items()},
                               "recipe": None, "size": self.config.size if k.aligns else None,
                               "warp": None, "image_format": self.config.image_format if k.aligns else None,
                               "max_records": self.config.max_records}}

    def split_order(self) -> list[str]:
        return [f"{m}_{s}" for m in self.config.members for s in ArtfaceBuilder.split_order(self)]

    def download_and_prepare(self, output_dir: str | None = None, download_mode=None, **kwargs) -> None:
        out = Path(output_dir or self._cache_dir)
        datasets.GeneratorBasedBuilder.download_and_prepare(self, output_dir=output_dir, download_mode=download_mode, **kwargs)
        write_report(out, self.report(), read_report(out))

    def repo_policy(self) -> LicensePolicy:
        from .. import builder_class

        return union_policy(self.POLICY, {m: builder_class(m).POLICY for m in self.config.members})

    def members_with_pixels(self, mode: str, private: bool) -> list[str]:
        """Members whose rows keep pixels in ``mode``; a member that allows neither this mode nor URL-only
        publishing blocks the publish (PublishRefused names it)."""
        from .. import builder_class

        keep = []
        for m in self.config.members:
            policy = builder_class(m).POLICY
            try:
                check_publish(policy, mode, private)
                keep.append(m)
            except PublishRefused as exc:
                try:
                    check_publish(policy, "urls", private)
                except PublishRefused:
                    raise PublishRefused(f"all: member {m} blocks a {'private' if private else 'public'} {mode} publish: "
                                         f"{exc} Leave it out with --set members=...") from None
        return keep


