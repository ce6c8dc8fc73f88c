"""A composite dataset: rows made of other datasets' finished builds, never of records of its own.

The ``all`` union is one. A composite folder only declares what it is made of: which datasets are
members (``member_names``/``default_members``), which member config joins which composite config
(``member_config``), and its own columns for a member row (``member_columns``, ``extra_features``).
Everything else is here, once: each member is built (or its finished build reused, with no request)
by its own builder with its own recipe, options and policy; the composite's rows are the members'
rows read from their builds, with the composite's columns added, in splits named
``<member>_<split>``; near-duplicate groups across members can be kept, flagged or dropped; the
report adds up the members' reports; publishing applies each member's policy to its rows.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from ..kinds import kind as kind_of
from ..licenses import URLS, LicensePolicy, PublishRefused, check_publish, union_policy
from ..report import read_report, write_report
from ..schema import common_features
from ._base import ArtfaceBuilder, ArtfaceConfig, OptionError

DUPLICATES = ("keep", "flag", "drop")


@dataclass
class CompositeConfig(ArtfaceConfig):
    members: list[str] = field(default_factory=list)  # default: the composite's default_members()
    sources: list[str] = field(default_factory=list)  # member=source, for members that need one
    duplicates: str = "keep"  # pixel composites: keep | flag (dup_group) | drop (one row per group)


class CompositeBuilder(ArtfaceBuilder):
    """A config made of other datasets' finished builds. Found by this type (``COMPOSITE``): the
    registry lists composites last, ``run_build`` builds the members first, publish applies each
    member's policy to its rows."""

    COMPOSITE = True
    BUILDER_CONFIG_CLASS = CompositeConfig
    OPTION_HELP = {**ArtfaceBuilder.OPTION_HELP, "members": "member datasets (comma-separated)",
                   "duplicates": "keep | flag (dup_group column: the near-duplicate group, -1 when unique) | drop "
                                 "(keeps the first row of each group; counted in the report)",
                   "sources": "member=source pairs (comma-separated) for members that need a source"}
    SKIP_REASONS = {"near_duplicate_dropped": "duplicates=drop: a later copy of a near-duplicate group (its first row is kept)"}

    # -- what a composite folder declares ----------------------------------------------------------
    @classmethod
    def member_names(cls) -> list[str]:
        """Every dataset that can be a member, in the order its splits are written."""
        raise NotImplementedError

    @classmethod
    def default_members(cls) -> list[str]:
        return cls.member_names()

    @classmethod
    def member_config(cls, member: str, config: CompositeConfig) -> str | None:
        """The member's config whose build joins composite ``config`` (None: it cannot join)."""
        raise NotImplementedError

    def member_columns(self, member_cls: type, row: dict, member_features: datasets.Features) -> dict:
        """The composite's own columns (``extra_features``) for one member row."""
        return {}

    def extra_features(self) -> dict:
        """The composite's own columns; ``dataset``, ``member_id`` and ``dup_group`` are always added."""
        return {}

    # -- config and features -----------------------------------------------------------------------
    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        """The default members are filled in before the config id is made, so spelling them out
        names the same build."""
        for c in self.BUILDER_CONFIGS:
            c.members = c.members or list(self.default_members())
        if not config_kwargs.get("members"):
            config_kwargs.pop("members", None)
        return super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)

    def _info(self) -> datasets.DatasetInfo:
        extra = {"dataset": datasets.ClassLabel(names=self.member_names()), "member_id": datasets.Value("string"),
                 **self.extra_features(), "dup_group": datasets.Value("int32")}
        return datasets.DatasetInfo(description=self.DESCRIPTION, features=common_features(self.config.kind, extra),
                                    homepage=self.HOMEPAGE, license=self.POLICY.hub_license)

    def split_order(self) -> list[str]:
        return [f"{m}_{s}" for m in self.config.members for s in ArtfaceBuilder.split_order(self)]

    # -- the members' builds -----------------------------------------------------------------------
    def member_builders(self) -> list:
        from . import load_builder

        c = self.config
        known = self.member_names()
        unknown = sorted(set(c.members) - set(known))
        if unknown or not c.members:
            raise OptionError(f"option members={c.members!r}: use any of {', '.join(known)}")
        if c.duplicates not in DUPLICATES:
            raise OptionError(f"option duplicates={c.duplicates!r}: use {' | '.join(DUPLICATES)}")
        if c.duplicates != "keep" and not kind_of(c.kind).pixels:
            raise OptionError(f"option duplicates={c.duplicates} compares pixels: use a config with pixels")
        sources = dict(s.split("=", 1) for s in c.sources if "=" in s)
        out = []
        for m in c.members:
            config = self.member_config(m, c)
            if config is None:
                raise OptionError(f"member {m} has no config for a {self.DATASET_NAME} config of kind {c.kind!r}")
            opts = {"source": sources[m]} if m in sources else {}
            if kind_of(c.kind).aligns:
                opts.update(size=c.size, image_format=c.image_format, image_quality=c.image_quality)
            if c.max_records is not None:
                opts["max_records"] = c.max_records
            out.append(load_builder(m, config, **opts))
        return out

    def member_builds(self) -> list:
        """The members' finished builds, each made (or reused, with no request) by its own builder."""
        if getattr(self, "_member_builds", None) is None:
            from ..build import run_build

            engine, engine_options = getattr(self, "_engine", ("local", {}))
            self._member_builds = [run_build(b, retry_failed=getattr(self, "_retry_failed", False),
                                             refresh=getattr(self, "_refresh", False), engine=engine,
                                             **engine_options).build
                                   for b in self.member_builders()]
        return self._member_builds

    def records(self) -> list:
        return []  # a composite has no records of its own

    def source_is_local(self) -> bool:
        return False

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

    # -- the rows ----------------------------------------------------------------------------------
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
        if self.config.duplicates == "keep":
            return {}
        from ..dedup import collect, near_duplicates

        items, hashes = collect(builds, progress=self.progress)
        g = near_duplicates(hashes, progress=self.progress)[3]
        sizes = Counter(g.tolist())
        seen: Counter = Counter()
        out = {}
        for it, grp in zip(items, g.tolist()):
            if sizes[grp] > 1:
                out[f"{it.dataset}/{it.id}"] = [int(grp), seen[grp]]
                seen[grp] += 1
        return out

    def _generate_examples(self, folder: str, split: str, groups: dict):
        from ..build import Build
        from . import builder_class

        b = Build.open(folder)
        member = b.dataset_name
        ds = b.dataset(split)
        if "image" in ds.features:
            ds = ds.cast_column("image", datasets.Image(decode=False))
        features = self.info.features
        member_features, member_cls = b.features, builder_class(member)
        member_index = features["dataset"].str2int(member)
        for row in ds:
            rid = f"{member}/{row['id']}"
            group, position = groups.get(rid, (-1, 0))
            if self.config.duplicates == "drop" and position > 0:
                continue  # a later copy of a near-duplicate group (counted in the report)
            out = {k: row.get(k) for k in features if k in row}
            out.update(self.member_columns(member_cls, row, member_features), dataset=member_index,
                       member_id=row["id"], id=rid, dup_group=group)
            yield rid, out

    def download_and_prepare(self, output_dir: str | None = None, download_mode=None, **kwargs) -> None:
        out = Path(output_dir or self._cache_dir)
        datasets.GeneratorBasedBuilder.download_and_prepare(self, output_dir=output_dir, download_mode=download_mode, **kwargs)
        write_report(out, self.report(), read_report(out))

    # -- report and publishing ---------------------------------------------------------------------
    def report(self, outcomes=None, written=None) -> dict:
        """The members' reports added up (splits, failures and facts named by member; a union's rows
        are read from its members' builds, which hold their images: ``written`` is not called)."""
        members = {m.dataset_name: m.report for m in self.member_builds()}
        totals: Counter = Counter()
        by_reason: Counter = Counter()
        points: Counter = Counter()  # where each member's points come from, added up
        for r in members.values():
            totals.update({k: r[k] for k in ("total", "written", "failed", "pending")})
            by_reason.update(r["failed_by_reason"])
            points.update(r["provenance"].get("points", {}))
        dropped = getattr(self, "_dropped", 0)
        totals["written"] -= dropped
        totals["total"] -= dropped
        k = kind_of(self.config.kind)
        first = next(iter(members.values()), None)
        return {"dataset": self.DATASET_NAME, "config": self.config.name, "kind": self.config.kind, **totals,
                "failed_by_reason": dict(by_reason), "skipped": {"near_duplicate_dropped": dropped} if dropped else {},
                "advice": "",
                "splits": {f"{m}_{s}": v for m, r in members.items() for s, v in r["splits"].items()},
                "failures": [{**f, "dataset": m} for m, r in members.items() for f in r["failures"]],
                "members": {m: {k: r[k] for k in ("total", "written", "failed")} for m, r in members.items()},
                "provenance": {"artface_version": first and first["provenance"]["artface_version"],
                               "source": None, "sample": any(r["provenance"]["sample"] for r in members.values()),
                               "sample_of": None, "points": dict(points.most_common()), "kind": self.config.kind,
                               "detector_models": {d: sha for r in members.values()
                                                   for d, sha in r["provenance"].get("detector_models", {}).items()},
                               "source_facts": {f"{m} {k}": v for m, r in members.items()
                                                for k, v in r["provenance"].get("source_facts", {}).items()},
                               "recipe": None, "size": self.config.size if k.aligns else None,
                               "warp": None, "image_format": self.config.image_format if k.aligns else None,
                               "max_records": self.config.max_records}}

    def repo_policy(self) -> LicensePolicy:
        from . import builder_class

        return union_policy(self.POLICY, {m: builder_class(m).POLICY for m in self.config.members})

    def members_with_pixels(self, mode: str, private: bool) -> list[str]:
        """Members whose rows keep pixels in ``mode``; a member that allows neither this mode nor URL-only
        publishing blocks the publish (PublishRefused names it)."""
        from . import builder_class

        keep = []
        for m in self.config.members:
            policy = builder_class(m).POLICY
            try:
                check_publish(policy, mode, private)
                keep.append(m)
            except PublishRefused as exc:
                try:
                    check_publish(policy, URLS, private)
                except PublishRefused:
                    raise PublishRefused(f"{self.DATASET_NAME}: member {m} blocks a {'private' if private else 'public'} "
                                         f"{mode} publish: {exc} Leave it out with --set members=...") from None
        return keep
