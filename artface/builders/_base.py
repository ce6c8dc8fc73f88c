"""Shared builder machinery: configs, the common schema, the pixel pipeline, failure reports.

A dataset folder subclasses ``ArtfaceBuilder`` and writes only what is its own: how to read
its metadata into ``Record``s (``read_records``), its extra columns (``extra_features``) and its
policy/citation/card files. Everything else (fetching, detection, alignment, resumability,
failure accounting, streaming) lives here once.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import datasets

from ..fetch import FetchConfig, Fetcher, join_url, url_scheme
from ..licenses import LicensePolicy
from ..pipeline import Pipeline, PixelOptions, given_geometry
from ..records import Record
from ..schema import KINDS, common_features
from ..store import WorkStore

log = logging.getLogger(__name__)
REPORT_NAME = "artface_report.json"


def cache_root() -> Path:
    return Path(os.environ.get("ARTFACE_CACHE", Path.home() / ".cache" / "artface"))


@dataclass
class ArtfaceConfig(datasets.BuilderConfig):
    """Options common to every artface dataset (pass any as a keyword to ``load_builder``)."""

    kind: str = "urls"  # urls | original | aligned
    source: str | None = None  # upstream metadata: a folder, a file or a URL
    size: int = 1024  # aligned output size
    mode: str = "fast"  # alignment mode: fast | reference
    detector: str = "retinaface_mnet025"
    landmarks: str | None = None  # e.g. "1k3d68" or "dlib68"
    image_format: str = "png"
    max_records: int | None = None  # per split; for trials and tests
    shard_size: int = 500  # records per generator shard (num_proc / streaming workers)
    fetch_timeout: float = 30.0
    fetch_retries: int = 3
    concurrency: int = 16  # parallel downloads
    workers: int = 2  # parallel detect/align threads

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in KINDS:
            raise ValueError(f"config {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {self.size}")


def read_text(path_or_url: str, fetcher: Fetcher | None = None) -> str:
    """Metadata read in binary and decoded here (streaming patches ``open`` and breaks ``encoding=``)."""
    from ..fetch import read_bytes

    return read_bytes(path_or_url, fetcher).decode("utf-8-sig")


class ArtfaceBuilder(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = ArtfaceConfig
    DATASET_NAME: str = ""
    PRETTY_NAME: str = ""
    DESCRIPTION: str = ""
    HOMEPAGE: str = ""
    RECIPE: str = "ffhq"
    POLICY: LicensePolicy
    FOLDER: Path  # the dataset folder (card template, CITATION.bib, fixtures)
    FIELD_DOCS: dict[str, str] = {}  # card text for the dataset's own columns

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("dataset_name", self.DATASET_NAME)
        super().__init__(*args, **kwargs)
        self._records: list[Record] | None = None
        self.pipeline: Pipeline | None = None

    SOURCE_HINT: str = ""  # what source= should point at, and where to get it

    def source_text(self, filename: str) -> tuple[str, str]:
        """The metadata file ``filename`` (text) and its folder, from ``source=`` naming the file or a
        folder/URL holding it; clear errors when there is no source or it cannot be read."""
        src = self.config.source
        if not src:
            raise FileNotFoundError(f"{self.DATASET_NAME} needs source=: {self.SOURCE_HINT}")
        if PurePosixPath(src.split("?")[0]).suffix == PurePosixPath(filename).suffix:
            path, base = src, (src.rsplit("/", 1)[0] if url_scheme(src) else str(Path(src).parent))
        else:
            path, base = join_url(src, filename), src
        try:
            return read_text(path), base
        except OSError as exc:
            raise FileNotFoundError(f"{self.DATASET_NAME}: cannot read {path} ({exc})") from exc

    # -- what a dataset folder provides ---------------------------------------------------------
    def extra_features(self) -> dict:
        return {}

    def read_records(self) -> Iterator[Record]:
        raise NotImplementedError

    def fingerprint_extra(self) -> str:
        """Dataset options that change pixels (e.g. an IIIF size)."""
        return ""

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

    def records(self) -> list[Record]:
        """All records (memoised), cut to ``max_records`` per split when set."""
        if self._records is None:
            out, per_split = [], {}
            for rec in self.read_records():
                n = per_split.get(rec.split, 0)
                if self.config.max_records is not None and n >= self.config.max_records:
                    continue
                per_split[rec.split] = n + 1
                out.append(rec)
            ids = [r.id for r in out]
            if len(set(ids)) != len(ids):
                dup = next(i for i in ids if ids.count(i) > 1)
                raise ValueError(f"{self.DATASET_NAME}: duplicate record id {dup!r} in the metadata")
            self._records = out
        return self._records

    def split_order(self) -> list[str]:
        return ["train", "validation", "test", "unlabeled"]

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        by_split: dict[str, list[Record]] = {}
        for rec in self.records():
            by_split.setdefault(rec.split, []).append(rec)
        order = {s: i for i, s in enumerate(self.split_order())}
        n = max(1, self.config.shard_size)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"shards": [recs[i : i + n] for i in range(0, len(recs), n)]})
            for split, recs in sorted(by_split.items(), key=lambda kv: order.get(kv[0], 99))
        ]

    def _generate_examples(self, shards: list[list[Record]]):
        records = [r for shard in shards for r in shard]
        if self.config.kind == "urls":
            for rec in records:
                yield rec.id, self.make_row(rec, given_geometry(rec.points, rec.bbox), None)
            return
        pipeline = self.make_pipeline()
        try:
            for rec, geometry, image in pipeline.rows(records):
                yield rec.id, self.make_row(rec, geometry, image)
        finally:
            pipeline.fetcher.close()

    # -- shared pieces ------------------------------------------------------------------------
    def pixel_options(self) -> PixelOptions:
        c = self.config
        return PixelOptions(c.kind, c.size, c.mode, self.RECIPE, c.detector, c.landmarks, c.image_format, c.workers)

    def work_dir(self) -> Path:
        return cache_root() / "work" / self.DATASET_NAME / self.pixel_options().fingerprint(self.fingerprint_extra())

    def make_pipeline(self) -> Pipeline:
        c = self.config
        fetcher = Fetcher(FetchConfig(timeout=c.fetch_timeout, retries=c.fetch_retries, concurrency=c.concurrency, cache_dir=cache_root() / "fetch"))
        self.pipeline = Pipeline(self.pixel_options(), fetcher, WorkStore(self.work_dir()), finish=self.finish_image)
        return self.pipeline

    #: optional dataset step applied to each aligned image (name its options in fingerprint_extra)
    finish_image = None

    def make_row(self, rec: Record, geometry: dict, image: bytes | None) -> dict:
        row = {
            "id": rec.id,
            "image_url": rec.image_url,
            "source_url": rec.source_url,
            "width": None, "height": None, "bbox": None, "det_score": None, "kps5": None, "landmarks68": None,
            "captions": rec.captions,
            "license": rec.license or self.POLICY.hub_license,
            "attribution": rec.attribution or self.POLICY.attribution,
            **rec.fields,
        }
        row.update({k: v for k, v in geometry.items() if k in row})
        if self.config.kind != "urls":
            ext = "jpg" if self.config.kind == "original" else self.config.image_format
            row["image"] = {"bytes": image, "path": f"{rec.id}.{ext}"}
        return row

    # -- failure report and resume -------------------------------------------------------------
    def report(self) -> dict:
        """Per split: total, written, failed (by reason) and the failures, from the work store."""
        base = {"dataset": self.DATASET_NAME, "config": self.config.name, "kind": self.config.kind}
        if self.config.kind == "urls":
            recs = self.records()
            return {**base, "total": len(recs), "written": len(recs), "failed": 0, "failed_by_reason": {}, "splits": {}, "failures": []}
        store = WorkStore(self.work_dir())
        splits, failures, totals = {}, [], {"total": 0, "written": 0, "failed": 0, "pending": 0}
        by_reason: dict[str, int] = {}
        for split in dict.fromkeys(r.split for r in self.records()):
            rep = store.report([r.id for r in self.records() if r.split == split])
            splits[split] = {k: rep[k] for k in ("total", "written", "failed", "pending", "failed_by_reason")}
            failures += [{**f, "split": split} for f in rep["failures"]]
            for k in totals:
                totals[k] += rep[k]
            for k, v in rep["failed_by_reason"].items():
                by_reason[k] = by_reason.get(k, 0) + v
        return {**base, **totals, "failed_by_reason": by_reason, "splits": splits, "failures": failures, "work_dir": str(self.work_dir())}

    def download_and_prepare(self, output_dir: str | None = None, download_mode=None, **kwargs) -> None:
        """As in ``datasets``, plus: a previous build with failures is rebuilt (finished rows come
        from the work store, so only the failures are retried) and a report is written next to
        the output as ``artface_report.json``."""
        out = Path(output_dir or self._cache_dir)
        previous = out / REPORT_NAME
        old = json.loads(previous.read_text()) if previous.is_file() else {}
        if download_mode is None and (old.get("failed", 0) or old.get("pending", 0)):
            download_mode = datasets.DownloadMode.REUSE_CACHE_IF_EXISTS
            self.info.splits = None  # the old split sizes lacked the failures now retried
        super().download_and_prepare(output_dir=output_dir, download_mode=download_mode, **kwargs)
        rep = self.report()
        # the date of the data: kept when the cached build was reused, so re-publishing changes nothing
        reused = download_mode is None and bool(old)
        rep["built_at"] = old.get("built_at") if reused and old.get("built_at") else datetime.date.today().isoformat()
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_NAME).write_text(json.dumps(rep, indent=1, ensure_ascii=False))
        if rep["failed"]:
            log.warning("%s/%s: %d of %d records failed: %s (details in %s)", self.DATASET_NAME, self.config.name,
                        rep["failed"], rep["total"], rep["failed_by_reason"], out / REPORT_NAME)
