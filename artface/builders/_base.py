"""Shared builder machinery: the config, the source, the pixel pipeline, rows and the report.

A dataset folder subclasses ``ArtfaceBuilder`` and writes only what is its own: where its data
lives (``SOURCE``), how to read its metadata into ``Record``s (``read_records``), its extra
columns (``extra_features``), any extra per-record stages (``extra_stages``) and its
policy/citation/card files. Fetching, detection, alignment, resumability, failure accounting,
reports and streaming live here once.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import logging
import os
import re
import signal
import typing
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets

from artface_align.ffhq import DEFAULT_WARP

from ..diskcache import cache_root, fetch_cache_dir, output_root, sha256_hex
from ..errors import ArtfaceError
from ..failures import Failure, Reason, SkipCounter, redo, register as register_reasons
from ..fetch import FetchConfig, Fetcher
from ..kinds import KINDS, OLD_NAMES, kind as kind_of
from ..licenses import LicensePolicy
from ..locations import public_url
from ..paths import safe_name
from ..pipeline import IMAGE_FORMATS, ON_NO_FACE, PixelOptions, Pipeline, RunOptions, Stage
from ..record_checks import SeenIds, check_records
from ..record_spool import RecordSpool
from ..records import Record
from ..report import make_report, read_report, write_report
from ..schema import common_features, make_row
from ..sources import MetadataError, Source, SourceError, SourceSpec, UpstreamCheck, canonical_source, locate, read_pins
from ..store import Outcome, WorkStore

log = logging.getLogger(__name__)

#: bump when pixel code changes what an unchanged config produces (invalidates work stores)
PIXEL_VERSION = 6
#: how fast a build runs: never part of the config identity, the pixel fingerprint or the output folder
RUN_SETTINGS = ("shard_size", "fetch_timeout", "fetch_retries", "concurrency", "workers", "threads", "max_pixels",
                "accept_upstream_change")
#: config fields that choose records or name things, not pixels (outcomes are keyed per record)
NOT_PIXELS = (*RUN_SETTINGS, "name", "version", "data_dir", "data_files", "description", "source", "max_records")
#: fields that are no option of the output (datasets' bookkeeping) or only say how fast it is made
NOT_IDENTITY = (*RUN_SETTINGS, "version", "data_files", "description", "data_dir")
WARPS = ("fast", "reference")


class OptionError(ArtfaceError, ValueError):
    """A config option with a wrong type or value (one line: the option, the value, what is allowed)."""


@dataclass
class ArtfaceConfig(datasets.BuilderConfig):
    """Options common to every artface dataset (pass any as a keyword to ``load_builder``)."""

    kind: str = "urls"  # urls | original | aligned
    source: str | None = None  # upstream: a local folder/file or an http(s) URL (default: the dataset's upstream)
    size: int = 1024  # aligned output size (pixels)
    warp: str = DEFAULT_WARP  # alignment warp: fast | reference
    detector: str = "retinaface_mnet025"
    landmarks: str | None = None  # e.g. "1k3d68" or "dlib68"
    image_format: str = "jpeg"  # aligned images: jpeg (q95 4:4:4: near-lossless, 4x smaller, 20x faster than png) | png | webp
    image_quality: int = 95  # jpeg / webp quality
    respect_optout: bool = True  # honour X-Robots-Tag noai / noimageai on image responses
    max_records: int | None = None  # per split; for trials and tests
    shard_size: int = 500  # records per generator shard (num_proc / streaming workers)
    fetch_timeout: float = 30.0
    fetch_retries: int = 3
    concurrency: int = 16  # parallel downloads
    workers: int = 2  # parallel detect/align threads
    threads: int | None = None  # ONNX threads per detector session (default: cores / workers)
    max_pixels: int = 50_000_000  # images over this many pixels fail as image_too_large, checked from the header
    accept_upstream_change: bool = False  # build from upstream files that differ from the folder's checksums.tsv
    on_no_face: str = "drop"  # aligned: a record whose face is not found fails (drop) or is kept whole (crop)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check()

    @classmethod
    def coerce(cls, options: dict) -> dict:
        """Options (e.g. ``--set`` text) parsed by each field's declared type; unknown keys are
        left for ``datasets`` to refuse."""
        types = {f.name: f.type for f in dataclasses.fields(cls) if f.name not in ("name", "version", "data_files", "description")}
        return {k: _coerce(k, types[k], v) if k in types else v for k, v in options.items()}

    def check(self) -> None:
        """Every option's type and range, before any network or disk work (OptionError)."""
        for k, v in self.coerce({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}).items():
            object.__setattr__(self, k, v)
        checks = {
            "kind": (self.kind in KINDS or self.kind in OLD_NAMES, " | ".join(KINDS)),
            "source": (self.source is None or bool(str(self.source).strip()), "a folder, a file or an http(s) URL"),
            "warp": (self.warp in WARPS, " | ".join(WARPS)),
            "on_no_face": (self.on_no_face in ON_NO_FACE, " | ".join(ON_NO_FACE)),
            "image_format": (self.image_format in IMAGE_FORMATS, " | ".join(IMAGE_FORMATS)),
            "size": (8 <= self.size <= 8192, "8..8192"),
            "image_quality": (1 <= self.image_quality <= 100, "1..100"),
            "max_records": (self.max_records is None or self.max_records >= 1, "a positive integer"),
            "shard_size": (self.shard_size >= 1, "a positive integer"),
            "fetch_timeout": (self.fetch_timeout > 0, "seconds > 0"),
            "fetch_retries": (0 <= self.fetch_retries <= 20, "0..20"),
            "concurrency": (1 <= self.concurrency <= 256, "1..256"),
            "workers": (1 <= self.workers <= 64, "1..64"),
            "threads": (self.threads is None or self.threads >= 1, "a positive integer"),
            "max_pixels": (1 <= self.max_pixels <= 2**31, "1..2147483648"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise OptionError(f"option {name}={getattr(self, name)!r} is not allowed: use {allowed}")

    def pixel_settings(self) -> dict:
        """Every option that can change pixels: all fields but those declared not to (NOT_PIXELS),
        so a dataset's own options (IIIF size, blur, ...) are in without anyone listing them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in NOT_PIXELS}

    def identity(self) -> dict:
        """The option values that make this config's output, defaults filled in (run settings out):
        the build folder and the datasets cache dir are named by them, never by how they were spelt."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in NOT_IDENTITY}

    def create_config_id(self, config_kwargs: dict, custom_features=None) -> str:
        """Placeholder for ``datasets``: the builder names the config by ``identity()`` afterwards."""
        return f"{self.name}-custom" if config_kwargs else self.name


def _coerce(name: str, annotation: object, value: object) -> object:
    """A value given as text (``--set size=256``) parsed by the field's declared type; a wrong
    type is an OptionError naming the option."""
    t = str(annotation).replace("typing.", "")
    optional = "None" in t or "Optional" in t
    base = t.replace("| None", "").replace("None |", "").replace("Optional[", "").rstrip("]").strip()
    if value is None:
        if optional:
            return None
        raise OptionError(f"option {name} needs a value ({base})")
    try:
        if base == "int" and not isinstance(value, bool):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value) if isinstance(value, (int, str)) else _bad(name, value, base)
        if base == "float" and not isinstance(value, bool):
            return float(value) if isinstance(value, (int, float, str)) else _bad(name, value, base)
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            return _bad(name, value, base)
        if base == "str":
            if optional and isinstance(value, str) and value.lower() in ("none", "null", ""):
                return None
            return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _bad(name, value, base)
        if base.startswith("list["):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            return list(value) if isinstance(value, (list, tuple)) else _bad(name, value, base)
    except ValueError:
        return _bad(name, value, base)
    return value


def _bad(name: str, value: object, base: str) -> typing.NoReturn:
    raise OptionError(f"option {name}={value!r} is not a valid {base}")


def card_description(card: Path) -> str:
    """The first paragraph of a dataset folder's ``card.md`` as plain text: the one place a dataset's
    description is written (the class, ``artface info``/``list``, the README table and the card read it)."""
    if not card.is_file():
        return ""
    paragraphs = [p for p in card.read_text().split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    text = " ".join(paragraphs[0].split()) if paragraphs else ""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url) -> text
    return text.replace("**", "").replace("`", "")


@dataclass(frozen=True)
class UnionMembership:
    """How a dataset joins the ``all`` union, declared in its own folder: its config for each union
    config (e.g. WikiART's ``rebuild`` for ``aligned``), and whether it is a member by default."""
    configs: dict[str, str]
    default: bool = True


class ArtfaceBuilder(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = ArtfaceConfig
    DATASET_NAME: str = ""  # the folder's name (set for each dataset folder's builder)
    PRETTY_NAME: str = ""
    DESCRIPTION: str = ""  # the first paragraph of the folder's card.md
    HOMEPAGE: str = ""
    RECIPE: str = "ffhq"
    POLICY: LicensePolicy
    SOURCE: SourceSpec = SourceSpec()
    FOLDER: Path  # the dataset folder (card template, CITATION.bib, fixtures): the one defining the builder
    REASONS: dict[str, Reason] = {}  # this dataset's own failure reasons (registered into failures.REASONS)
    SKIP_REASONS: dict[str, str] = {}  # what its source may list that cannot become a record, reason -> meaning
    UNION: UnionMembership | None = None  # how it joins the ``all`` union (None: it does not)
    COMPOSITE: bool = False  # True only for CompositeBuilder: made of other datasets' builds
    FIELD_DOCS: dict[str, str] = {}  # card text for the dataset's own columns
    LANGUAGES: tuple[str, ...] = ("en",)  # languages of the text columns (captions, titles, tags)
    TASK_CATEGORIES: tuple[str, ...] = ("unconditional-image-generation",)  # Hub task ids (artface.hub_facts)
    SOURCE_DATASETS: tuple[str, ...] = ("original",)
    ANNOTATIONS_CREATORS: tuple[str, ...] = ("machine-generated",)
    TAGS: tuple[str, ...] = ()
    PAPERS: dict[str, str] = {}  # arXiv id -> title: the Hub links a dataset to papers cited by arXiv URL
    SOURCE_IS_API: dict[str, str] = {}  # config -> root of the public API it reads by default (instead of SOURCE)
    LABEL_COLUMNS: tuple[str, ...] = ()  # text columns counted like labels in the bias view (besides ClassLabels)
    #: what each option means (``artface info``); a dataset adds its own with {**ArtfaceBuilder.OPTION_HELP, ...}
    OPTION_HELP: dict[str, str] = {
        "source": "upstream: a local folder or file, or an http(s) URL (default: the dataset's upstream)",
        "size": "aligned output size in pixels",
        "warp": "alignment warp: fast (one prefiltered affine warp) | reference (NVlabs' FFHQ script step by step)",
        "detector": "face detector: retinaface_mnet025 (offline default) | blazeface_short | cascade (BlazeFace, then "
                    "RetinaFace when it finds nothing) | scrfd_10g, scrfd_2.5g, scrfd_500m (insightface)",
        "landmarks": "refine the points: face_mesh (MediaPipe, offline) | 1k3d68, 2d106det (insightface) | dlib68; "
                     "none: the detector's 5 points",
        "image_format": "aligned image encoding: jpeg (default: q95, 4:4:4, ~46-52 dB, a quarter of png's bytes, "
                        "20x faster to encode; benchmarks/bench_formats.py) | png (lossless) | webp",
        "image_quality": "jpeg/webp quality (1-100)",
        "max_records": "per split: build a sample (the report and the card say so)",
        "respect_optout": "skip images whose server sends X-Robots-Tag noai / noimageai (failure reason opted_out)",
        "max_pixels": "images over this many pixels fail as image_too_large (checked from the header)",
        "on_no_face": "aligned: a record whose face is not found fails as no_face (drop) or is kept whole, resized "
                      "to size and centred, with landmarks_source 'crop' (crop: for datasets of face crops, e.g. "
                      "KaoKore, so that no label loses its non-frontal faces)",
        "accept_upstream_change": "build even when an upstream file differs from the one the dataset folder pinned "
                                  "(checksums.tsv: url, size, sha256) [run setting]",
        "shard_size": "records per generator shard (num_proc and streaming workers split by shards) [run setting]",
        "fetch_timeout": "seconds without progress before a download fails (4x in total) [run setting]",
        "fetch_retries": "extra attempts for retryable failures (429, 5xx, timeouts) [run setting]",
        "concurrency": "parallel downloads [run setting]",
        "workers": "parallel detect/align threads per process [run setting]",
        "threads": "ONNX threads per detector session (default: cores / (workers x --num-proc processes)) [run setting]",
        "kind": "what the config holds: urls | detected (points found by the detector, no pixels) | original | aligned",
    }

    def __init_subclass__(cls, **kwargs) -> None:
        """A dataset is its folder: the builder defined in ``<folder>/builder.py`` takes the folder's
        name, its card's description, and registers its own failure and skip reasons."""
        super().__init_subclass__(**kwargs)
        file = Path(inspect.getfile(cls))
        if file.name == "builder.py":
            cls.FOLDER, cls.DATASET_NAME = file.parent, file.parent.name
            cls.DESCRIPTION = card_description(file.parent / "card.md")
        register_reasons(cls.DATASET_NAME, cls.REASONS, cls.SKIP_REASONS)

    @classmethod
    def union_labels(cls, row: dict, features: datasets.Features) -> dict:
        """A row of this dataset's build (with its ``features``) in the union's words: any of
        ``artist``, ``title``, ``style``, ``year`` and ``gender`` (a name: "male" / "female");
        a label the dataset does not have stays unknown."""
        return {}

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("dataset_name", self.DATASET_NAME)
        self._records: RecordSpool | None = None
        self.invalid: list[tuple[Record, Failure]] = []  # records that cannot become rows, with why
        self._retry_failed = False
        self.on_records = None  # called once the records of a build run are read (the CLI's announcement)
        self._upstream_count: int | None = None
        self._source: Source | None = None
        self.pipeline: Pipeline | None = None
        self.progress = False  # a progress bar per shard of records (the CLI turns it on)
        self._num_proc = 1
        self.skipped: Counter = SkipCounter()  # what the source listed but the reader could not use, by registered reason
        super().__init__(*args, **kwargs)  # calls _info(): a dataset's features may read its source

    def __getstate__(self) -> dict:
        """A pipeline (sessions, an HTTP client) stays in the process that made it: a split written
        in this process, then one handed to ``num_proc`` workers, must not pickle it."""
        return {**super().__getstate__(), "pipeline": None}

    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        """As in ``datasets``, with the options parsed by type first and checked after they are set,
        and the config id made from the option values (``ArtfaceConfig.identity``): the config's name
        when they are the named config's own, else name + a hash of those that differ."""
        config_kwargs = self.BUILDER_CONFIG_CLASS.coerce(config_kwargs)
        if config_kwargs.get("data_dir") and not config_kwargs.get("source"):  # datasets' spelling of the source
            config_kwargs["source"] = config_kwargs.pop("data_dir")
        if "source" in config_kwargs:
            config_kwargs["source"] = canonical_source(self.SOURCE, config_kwargs["source"])
        later = {k: config_kwargs.pop(k) for k in list(config_kwargs) if k in RUN_SETTINGS or config_kwargs[k] is None}
        builder_config, _ = super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)
        if later:
            builder_config = copy.deepcopy(builder_config)
            for k, v in later.items():  # datasets skips None values: a None must override too (landmarks=none)
                setattr(builder_config, k, v)
        builder_config.check()
        registered = self.builder_configs.get(builder_config.name)
        ident = builder_config.identity()
        diff = {k: v for k, v in ident.items() if registered is None or getattr(registered, k, None) != v}
        if config_id is None:
            config_id = builder_config.name if not diff else \
                f"{builder_config.name}-{sha256_hex(json.dumps(diff, sort_keys=True, default=str))[:16]}"
        return builder_config, config_id

    # -- what a dataset folder provides ---------------------------------------------------------
    def extra_features(self) -> dict:
        return {}

    def read_records(self) -> Iterator[Record]:
        raise NotImplementedError

    def extra_stages(self) -> list[Stage]:
        """Dataset stages run per record after alignment, with failure accounting (blur, masks, ...)."""
        return []

    # -- the source -------------------------------------------------------------------------------
    def source(self) -> Source:
        """Where upstream data is (``source=``, or ``data_dir=`` as datasets users pass it)."""
        if self._source is None:
            self._source = locate(self.DATASET_NAME, self.SOURCE, self.config.source or self.config.data_dir)
            self._source.upstream = self.upstream
        return self._source

    @property
    def upstream(self) -> UpstreamCheck:
        """The upstream files this dataset pinned (its folder's ``checksums.tsv``; a changed one stops the
        build unless accepted) and every upstream file the build read, vendored ones included (the report)."""
        if getattr(self, "_upstream", None) is None:
            self._upstream = UpstreamCheck(read_pins(self.FOLDER / "checksums.tsv"), bool(self.config.accept_upstream_change))
        return self._upstream

    # -- datasets API -----------------------------------------------------------------------
    @classmethod
    def citation(cls) -> str:
        p = cls.FOLDER / "CITATION.bib"
        return p.read_text() if p.is_file() else ""

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=common_features(self.config.kind, self.extra_features()),
            homepage=self.HOMEPAGE,
            license=self.POLICY.hub_license,
            citation=self.citation(),
        )

    def records(self) -> RecordSpool:
        """The records that can become rows (memoised), cut to ``max_records`` per split when set.
        Records that cannot (no image URL, an unusable id, a value that does not fit its column)
        are failures of their own, in ``self.invalid`` and the report; none is dropped silently.
        They are checked as the reader yields them and kept on disk (``RecordSpool``), so memory
        does not grow with their number; only 16-byte digests of the ids are held, to refuse a duplicate."""
        if self._records is None:
            self.upstream.check_vendored(self.DATASET_NAME, self.FOLDER)  # upstream files kept in the folder
            per_split: dict[str, int] = {}
            seen = SeenIds()
            n_all = 0

            def cut() -> Iterator[Record]:
                nonlocal n_all
                for rec in self.read_records():
                    seen.add(rec.id)
                    n_all += 1
                    n = per_split.get(rec.split, 0)
                    if self.config.max_records is not None and n >= self.config.max_records:
                        continue
                    per_split[rec.split] = n + 1
                    yield rec

            spool = RecordSpool(cache_root() / "spool")
            _, self.invalid = check_records(cut(), kind_of(self.config.kind), self.info.features, self.row_for_check,
                                            good=spool)
            twice = seen.repeated()
            if twice is not None:  # named by reading again: an error, not the common case
                rec_id = next(r.id for r in self.read_records() if seen.digest(r.id) == twice)
                raise MetadataError(f"{self.DATASET_NAME}: duplicate record id {rec_id!r} in the metadata")
            if not n_all:
                why = f" (skipped there: {dict(self.skipped)})" if self.skipped else ""
                raise SourceError(f"{self.DATASET_NAME}/{self.config.name}: the source {self._where()} lists no records{why}")
            self._records = spool.close()
            self._upstream_count = n_all
        return self._records

    def row_for_check(self, rec: Record) -> dict:
        return make_row(rec, self.config.kind, self.POLICY.hub_license, self.POLICY.attribution)

    def _where(self) -> str:
        api_root = self.SOURCE_IS_API.get(self.config.name)
        return str(self.config.source or api_root) if api_root else self.source().where(self.source().named)

    def source_facts(self, records: list[Record]) -> dict[str, str]:
        """What this build's source was, in words a card can state per config (e.g. KaoKore's version,
        the WikiArt movements a crawl covered); read from the options and records, never assumed."""
        return {}

    def members_with_pixels(self, mode: str, private: bool) -> list[str] | None:
        """A composite's members whose rows keep pixels when published in ``mode`` (each member's own
        policy); None for a dataset, whose one policy ``check_publish`` applies."""
        return None

    def source_is_local(self) -> bool:
        """Whether the records come from the user's own files (read again on a re-run at no network cost)."""
        return not self.SOURCE_IS_API.get(self.config.name) and self.source().local

    def records_digest(self) -> str:
        """What the rows are made from: every record's key (its pixels' identity) and split."""
        h = hashlib.sha256()
        for rec in self.records():
            h.update(f"{rec.split}\0{rec.key()}\n".encode())
        for rec, f in self.invalid:
            h.update(f"{rec.split}\0{rec.id}\0{f.reason}\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def split_order(self) -> list[str]:
        return ["train", "validation", "test", "unlabeled"]

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        records = self.records()
        sizes = records.splits()
        order = {s: i for i, s in enumerate(self.split_order())}
        # at least num_proc shards per split, so that every process gets work; a shard is a range
        # of the split's records in the spool (each writer process reads its own)
        longest = max(sizes.values(), default=0)
        n = max(1, min(self.config.shard_size, -(-longest // self._num_proc)))
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"shards": [(split, i, min(i + n, size)) for i in range(0, size, n)]})
            for split, size in sorted(sizes.items(), key=lambda kv: order.get(kv[0], 99))
        ]

    def _generate_examples(self, shards: list[tuple[str, int, int]]):
        if os.getpid() != getattr(self, "_parent_pid", os.getpid()):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # num_proc: Ctrl-C is the parent's to handle (exit 130)
        spool = self.records()
        records = (rec for split, start, stop in shards for rec in spool.split_range(split, start, stop))
        if not kind_of(self.config.kind).fetches:
            for rec in records:
                yield rec.id, self.make_row(rec)
            return
        pipeline = self.make_pipeline()
        bar = self._progress_bar(sum(stop - start for _, start, stop in shards), shards[0][0] if shards else "")
        try:
            for rec, out in pipeline.rows(records, on_done=bar.update_record if bar else None):
                yield rec.id, self.make_row(rec, out)
        finally:
            pipeline.close()
            if bar:
                bar.close()

    def _progress_bar(self, total: int, split: str):
        if not self.progress or not total:
            return None
        from ..progress import RecordBar

        return RecordBar(total, f"{self.DATASET_NAME}/{self.config.name} {split}")

    # -- shared pieces ------------------------------------------------------------------------
    def default_output_dir(self) -> Path:
        """Where ``artface build`` and ``artface publish`` keep this config's build: keyed by the
        config id (every option but run settings), so a finished build with the same options is
        reused and one with other options is never overwritten. Root: ``$ARTFACE_OUT`` or ./artface-out."""
        return output_root() / self.DATASET_NAME / self.config_id

    def build(self, out: str | Path | None = None, **kwargs):
        """Make this config's build (or return the finished one): ``artface.build.run_build``."""
        from ..build import run_build

        return run_build(self, out, **kwargs)

    @classmethod
    def card_meta(cls) -> dict:
        """Card metadata of the dataset (YAML fields beyond license and configs)."""
        return {"pretty_name": cls.PRETTY_NAME, "language": cls.LANGUAGES, "task_categories": cls.TASK_CATEGORIES,
                "source_datasets": cls.SOURCE_DATASETS, "annotations_creators": cls.ANNOTATIONS_CREATORS,
                "tags": ("art", "faces", "face-alignment", "artface", *cls.TAGS)}

    def pixel_options(self) -> PixelOptions:
        c = self.config
        return PixelOptions(c.kind, c.size, c.warp, self.RECIPE, c.detector, c.landmarks, c.image_format, c.image_quality,
                            c.on_no_face)

    def pixel_fingerprint(self) -> str:
        settings = {"dataset": self.DATASET_NAME, "recipe": self.RECIPE, "pixel_version": PIXEL_VERSION,
                    **self.config.pixel_settings()}
        return sha256_hex(json.dumps(settings, sort_keys=True, default=str))[:16]

    def work_dir(self) -> Path:
        return cache_root() / "work" / self.DATASET_NAME / self.pixel_fingerprint()

    def make_pipeline(self) -> Pipeline:
        c = self.config
        fetcher = Fetcher(FetchConfig(timeout=c.fetch_timeout, retries=c.fetch_retries, concurrency=c.concurrency,
                                      cache_dir=fetch_cache_dir(), respect_optout=c.respect_optout))
        self.pipeline = Pipeline(self.pixel_options(), fetcher, WorkStore(self.work_dir()), self.extra_stages(),
                                 RunOptions(workers=c.workers, threads=c.threads, max_pixels=c.max_pixels,
                                            retry_failed=self._retry_failed, processes=self._num_proc))
        return self.pipeline

    def make_row(self, rec: Record, out: Outcome | None = None) -> dict:
        """The row of a record: schema columns + the pipeline's outcome (None for URL-only rows)."""
        images: dict[str, dict | None] = {}
        if out is not None:
            features = self.info.features
            for name, f in features.items():
                if isinstance(f, datasets.Image):
                    data = out.blobs.get(name)
                    images[name] = {"bytes": data, "path": f"{safe_name(rec.id)}_{name}"} if data is not None else None
        return make_row(rec, self.config.kind, self.POLICY.hub_license, self.POLICY.attribution,
                        None if out is None else out.geometry, images)

    # -- failure report and resume -------------------------------------------------------------
    def report(self, outcomes=None, written: Callable[[Record], None] | None = None) -> dict:
        """What the build did (see ``artface.report``), from the records and the work store (or an
        engine's ``outcomes``, read the same way); ``written`` hears of each written record in order."""
        c = self.config
        k = kind_of(c.kind)
        settings = {"kind": c.kind, "recipe": self.RECIPE if k.aligns else None, "size": c.size if k.aligns else None,
                    "warp": c.warp if k.aligns else None, "image_format": c.image_format if k.aligns else None,
                    "detector": c.detector if k.detects else None, "landmarks": c.landmarks if k.detects else None,
                    "max_records": c.max_records, "pixel_fingerprint": self.pixel_fingerprint()}
        records = self.records()
        n_all = len(records) + len(self.invalid)
        sample_of = self._upstream_count if c.max_records is not None and self._upstream_count != n_all else None
        store = outcomes if outcomes is not None else (WorkStore(self.work_dir()) if k.fetches else None)
        api_root = self.SOURCE_IS_API.get(c.name)
        public = public_url(c.source or api_root) if api_root else self.source().public()
        settings["source_facts"] = self.source_facts(records)
        rep = make_report(self.DATASET_NAME, c.name, c.kind, records, store, settings, public, sample_of, dict(self.skipped),
                          self.invalid, self.label_names(), written)
        if k.fetches:
            rep["work_dir"] = str(self.work_dir())
        if self.upstream.files:  # what upstream was, file by file
            rep["upstream_files"] = self.upstream.files
        return rep

    def repo_policy(self) -> LicensePolicy:
        """The terms of a repo this config is published to (a union: its members', ``licenses.union_policy``)."""
        return self.POLICY

    def label_names(self) -> dict[str, list[str] | None]:
        """Columns the build is counted by (the bias view): the ClassLabels (with their names), then
        ``LABEL_COLUMNS`` (text labels, e.g. KaoKore's face direction)."""
        labels: dict[str, list[str] | None] = {k: f.names for k, f in self.info.features.items()
                                                if isinstance(f, datasets.ClassLabel)}
        return {**labels, **{c: None for c in self.LABEL_COLUMNS if c in self.info.features and c not in labels}}

    # -- a build run (artface.build.run_build drives these) ---------------------------------------
    def prepare_run(self, retry_failed: bool = False) -> None:
        """Everything a build needs before its first record: the records (metadata read and checked;
        0 records is an error naming the source) and the models (a missing one is one error)."""
        self._retry_failed = retry_failed
        self.records()
        if kind_of(self.config.kind).fetches:
            pipeline = self.make_pipeline()
            try:
                pipeline.prepare()
            finally:
                pipeline.close()  # sessions freed here, before datasets forks the writers (Pipeline.close)
                self.pipeline = None  # each process opens its own sessions

    def kept_failures(self, retry_failed: bool = False) -> Counter:
        """Failures of the last run that this run keeps as they are (the re-run policy), by reason."""
        kept: Counter = Counter()
        if kind_of(self.config.kind).fetches:
            store = WorkStore(self.work_dir())
            for rec in self.records():
                f = store.kept_failure(rec, retry_failed)
                if f is not None:
                    kept[f.reason] += 1
        return kept

    def write_rows(self, folder: Path, num_proc: int | None = None) -> None:
        """The rows of every split into ``folder`` (a fresh staging folder), as ``datasets`` writes them."""
        self._num_proc = max(1, num_proc or 1)
        self._parent_pid = os.getpid()
        self.info.splits = None  # sizes of an earlier run (datasets' cache) are no expectation for this one
        try:
            datasets.GeneratorBasedBuilder.download_and_prepare(self, output_dir=str(folder), num_proc=num_proc,
                                                                verification_mode="no_checks")
        except datasets.exceptions.DatasetGenerationError as exc:
            from ..build import BuildStopped

            cause = exc.__cause__ or exc.__context__ or exc
            raise BuildStopped(f"{self.DATASET_NAME}/{self.config.name}: the build stopped: "
                               f"{type(cause).__name__}: {cause}") from exc

    def build_extra(self) -> dict:
        """What the build folder records about what its rows were made from."""
        return {"records_digest": self.records_digest(), "source_local": self.source_is_local()}

    def download_and_prepare(self, output_dir: str | None = None, download_mode=None, **kwargs) -> None:
        """As in ``datasets``, plus: a previous build with failures is rebuilt (finished rows come
        from the work store, so only the failures are retried) and the build report is written
        next to the output."""
        out = Path(output_dir or self._cache_dir)
        self._num_proc = max(1, kwargs.get("num_proc") or 1)
        old = read_report(out) or {}
        redo_some = any(redo(r, self._retry_failed) for r in old.get("failed_by_reason", {}))
        if download_mode is None and (redo_some or old.get("pending", 0)):
            download_mode = datasets.DownloadMode.REUSE_CACHE_IF_EXISTS
            self.info.splits = None  # the old split sizes lacked the failures now retried
        super().download_and_prepare(output_dir=output_dir, download_mode=download_mode, **kwargs)
        rep = self.report()
        write_report(out, rep, old)
        if rep["failed"] and not self.progress:  # the CLI prints its own summary
            log.warning("%s/%s: %d of %d records failed: %s (details in %s)", self.DATASET_NAME, self.config.name,
                        rep["failed"], rep["total"], rep["failed_by_reason"], out)
