"""A finished build: the one artifact that every reader opens, and the one way to make it.

A build folder (``artface build`` writes it to ``$ARTFACE_OUT/<dataset>/<config id>``; every engine
writes the same layout)::

    <split>-NNNNN-of-NNNNN.arrow   the rows, in record order (Arrow, as ``datasets`` writes them)
    README.md                      YAML ``configs`` naming each split's files: ``datasets.load_dataset(folder)``
    artface_build.json             dataset, config, kind, option values, features, splits and files,
                                   what the rows were made from (records digest, member builds)
    artface_report.json            what the build did (``artface.report``)
    row_keys/<split>.bin           which record each row was made from (``artface.row_keys``): the rows
                                   hold the build's images, the work store keeps outcomes only

``Build.open(folder)`` reads it with no network and no builder run; publish, export, dedup, show,
the union and ``artface cache`` take a ``Build``. ``run_build`` makes one: it decides what a re-run
redoes (pending records and failures that ``failures.redo`` allows; nothing at all, and no request,
when a finished build has nothing to redo), checks the set-up before the first record, writes the
rows into a staging folder, swaps it in whole and hands its images over from the work store.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import datasets
import numpy as np

from .errors import ArtfaceError
from .failures import redo
from .kinds import Kind, kind as kind_of
from .report import REPORT_NAME, read_report, write_report
from .records import Record
from .row_keys import RowKeys, RowKeysWriter, digest as row_digest
from .store import WorkStore
from .swap import remove_orphans, replace_dir

log = logging.getLogger(__name__)

BUILD_META = "artface_build.json"
FORMAT = 1  # bump when the layout changes: older folders are rebuilt (rows come from the work store)
ROWS_SUFFIX = ".arrow"


class NotBuilt(ArtfaceError, FileNotFoundError):
    """There is no finished build where a reader looked (the message says which command makes it)."""


class BuildStopped(ArtfaceError):
    """A build stopped for a cause that is no record's (disk full, a bug): the message names it."""


def build_command(builder) -> str:
    """The ``artface build`` command line that makes ``builder``'s config, options as ``--set``."""
    c = builder.config
    registered = builder.builder_configs.get(c.name)
    parts = [f"artface build {builder.DATASET_NAME} --config {c.name}"]
    for k, v in c.identity().items():
        if k in ("name", "kind") or (registered is not None and getattr(registered, k, None) == v):
            continue
        if k == "source":
            parts.append(f"--source {v}")
        else:
            parts.append(f"--set {k}={','.join(map(str, v)) if isinstance(v, list) else v}")
    return " ".join(parts)


@dataclass
class Build:
    """A finished build, opened from its folder: rows per split, features, report, provenance, options."""

    folder: Path
    meta: dict
    report: dict = field(default_factory=dict)
    _cells: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike, command: str | None = None) -> Build:
        """The build in ``folder``; ``NotBuilt`` (naming ``command`` when given) when there is none."""
        folder = Path(folder)
        how = f": run `{command}` first" if command else ""
        try:
            meta = json.loads((folder / BUILD_META).read_text())
        except FileNotFoundError:
            old = " (an older artface's build: build it again)" if (folder / REPORT_NAME).is_file() else ""
            raise NotBuilt(f"no finished build in {folder}{old}{how}") from None
        except ValueError as exc:
            raise NotBuilt(f"{folder / BUILD_META} is unreadable ({exc}){how}") from None
        if meta.get("format") != FORMAT:
            raise NotBuilt(f"{folder} was built by another artface version (layout {meta.get('format')}, "
                           f"this one reads {FORMAT}){how}")
        return cls(folder, meta, read_report(folder) or {})

    @classmethod
    def find(cls, builder) -> Build:
        """The finished build of ``builder``'s config and options (``NotBuilt`` says how to make it)."""
        return cls.open(builder.default_output_dir(), build_command(builder))

    @classmethod
    def try_open(cls, folder: str | os.PathLike) -> Build | None:
        try:
            return cls.open(folder)
        except NotBuilt:
            return None

    # -- what it is --------------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return self.meta["dataset"]

    @property
    def config_name(self) -> str:
        return self.meta["config"]

    @property
    def kind(self) -> Kind:
        return kind_of(self.meta["kind"])

    @property
    def options(self) -> dict:
        """The option values the rows were made with (defaults filled in; no run settings)."""
        return dict(self.meta["options"])

    @property
    def provenance(self) -> dict:
        return self.report.get("provenance", {})

    @cached_property
    def features(self) -> datasets.Features:
        return datasets.Features.from_dict(self.meta["features"])

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    def num_rows(self, split: str | None = None) -> int:
        s = self.meta["splits"]
        return s[split]["rows"] if split else sum(v["rows"] for v in s.values())

    def files(self, split: str) -> list[Path]:
        return [self.folder / f for f in self.meta["splits"][split]["files"]]

    # -- the rows ----------------------------------------------------------------------------
    def dataset(self, split: str) -> datasets.Dataset:
        """One split, memory-mapped from the build's files (nothing is copied or fetched)."""
        info = datasets.DatasetInfo(features=self.features)
        parts = [datasets.Dataset.from_file(str(p), info=info, split=datasets.Split(split)) for p in self.files(split)]
        if not parts:
            return datasets.Dataset.from_dict({k: [] for k in self.features}, features=self.features,
                                              split=datasets.Split(split))
        return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)

    def datasets(self) -> datasets.DatasetDict:
        """Every split with rows, in the build's split order."""
        return datasets.DatasetDict({s: self.dataset(s) for s in self.splits if self.num_rows(s)})

    @cached_property
    def row_keys(self) -> RowKeys:
        """Which record each row was made from (``artface.row_keys``); splits without them find nothing."""
        return RowKeys(self.folder, {s: self.num_rows(s) for s in self.meta.get("row_keys", []) if s in self.meta["splits"]})

    def cell(self, split: str, row: int, column: str) -> tuple[str, bytes | None]:
        """(id, the bytes of image column ``column``) of one row, read from the memory-mapped files."""
        value = self._column(split, column).at(row)
        return self._column(split, "id").at(row), (value or {}).get("bytes")

    def _column(self, split: str, column: str) -> _Chunks:
        if (split, column) not in self._cells:
            self._cells[(split, column)] = _Chunks(self.dataset(split).data.table.column(column).chunks)
        return self._cells[(split, column)]

    @property
    def image_columns(self) -> list[str]:
        """The columns whose values are images (bytes a row holds)."""
        return [n for n, f in self.features.items() if isinstance(f, datasets.Image)]

    # -- re-runs -----------------------------------------------------------------------------
    def to_redo(self, retry_failed: bool = False) -> int:
        """Records a re-run would work on: pending ones and failures the re-run policy redoes."""
        by_reason = self.report.get("failed_by_reason", {})
        return self.report.get("pending", 0) + sum(n for r, n in by_reason.items() if redo(r, retry_failed))


class _Chunks:
    """A memory-mapped column read one value at a time (a binary search over its chunks, not a scan)."""

    def __init__(self, chunks: list) -> None:
        self.chunks = chunks
        self.starts = np.cumsum([0, *(len(c) for c in chunks)])

    def at(self, row: int):
        i = int(np.searchsorted(self.starts, row, side="right")) - 1
        return self.chunks[i][row - int(self.starts[i])].as_py()


# -- making a build ------------------------------------------------------------------------------
def _readme(splits: dict[str, dict]) -> str:
    """The build folder's card: only what ``datasets.load_dataset(folder)`` needs to find the rows."""
    import yaml

    data_files = [{"split": s, "path": v["files"]} for s, v in splits.items() if v["files"]]
    head = yaml.safe_dump({"configs": [{"config_name": "default", "data_files": data_files}]}, sort_keys=False,
                          allow_unicode=True)
    return (f"---\n{head}---\n\nAn artface build. `datasets.load_dataset(\"<this folder>\")` reads it; "
            f"`{BUILD_META}` says how it was made, `{REPORT_NAME}` what happened to every record.\n")


def _name_rows(staging: Path, dataset: str) -> dict[str, dict]:
    """Rename datasets' ``<dataset>-<split>[-SSSSS-of-NNNNN].arrow`` files to ``<split>-NNNNN-of-NNNNN.arrow``."""
    info = json.loads((staging / "dataset_info.json").read_text()) if (staging / "dataset_info.json").is_file() else {}
    out = {}
    for split, s in (info.get("splits") or {}).items():
        files = sorted(staging.glob(f"{dataset}-{split}{ROWS_SUFFIX}")) + sorted(staging.glob(f"{dataset}-{split}-*{ROWS_SUFFIX}"))
        names = []
        for i, f in enumerate(files):
            name = f"{split}-{i:05d}-of-{len(files):05d}{ROWS_SUFFIX}"
            f.rename(staging / name)
            names.append(name)
        out[split] = {"files": names, "rows": int(s.get("num_examples", 0))}
    return out


def finish(staging: Path, out: Path, builder, splits: dict[str, dict], report: dict, extra: dict | None = None) -> Build:
    """Write the build's card, metadata and report into ``staging`` and swap it in as ``out``."""
    order = {s: i for i, s in enumerate(builder.split_order())}
    splits = dict(sorted(splits.items(), key=lambda kv: order.get(kv[0], 99)))
    c = builder.config
    meta = {"format": FORMAT, "build_id": uuid.uuid4().hex, "dataset": builder.DATASET_NAME, "config": c.name,
            "kind": c.kind, "options": c.identity(), "features": builder.info.features.to_dict(), "splits": splits,
            **(extra or {})}
    (staging / "README.md").write_text(_readme(splits))
    write_report(staging, report, read_report(out))
    (staging / BUILD_META).write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str))
    replace_dir(staging, out)
    return Build.open(out)


def hand_over(build: Build, store: WorkStore) -> int:
    """``build`` (finished) holds the images of its rows: ``store`` names it as their home, then drops
    its own copies (named first, so that a reader always finds one). Returns the bytes freed. Only a
    build made with the store's pixels (the store's folder is named by its pixel fingerprint)."""
    if build.provenance.get("pixel_fingerprint") != store.root.name:
        return 0
    store.add_holder(build.folder)
    return store.drop_images(build.row_keys.digests(), build.image_columns)


class HeldImages:
    """A work store's images that finished builds hold, read back from their rows by record key digest
    (the row's id checked too). A build that cannot be read back is no home: its records are made again."""

    def __init__(self, store: WorkStore) -> None:
        self.store = store
        self._seen: tuple[int | None, list[Build]] = (None, [])
        self._unreadable: set[Path] = set()
        self._lock = threading.Lock()

    def get(self, rec: Record, name: str) -> bytes | None:
        digest = row_digest(rec)
        for build in self._builds():
            try:
                row = build.row_keys.find(rec.split, digest)
                if row is not None:
                    rid, data = build.cell(rec.split, row, name)
                    if rid == rec.id and data is not None:
                        return data
            except Exception as exc:  # noqa: BLE001 - an unreadable build is skipped, never the end of a re-run
                if build.folder not in self._unreadable:
                    self._unreadable.add(build.folder)
                    log.warning("%s: cannot read images back (%s: %s); its records are made again",
                                build.folder, type(exc).__name__, exc)
        return None

    def _builds(self) -> list[Build]:
        """The builds the store names (read again when its list changes), opened once each."""
        stamp, folders = self.store.holders()
        with self._lock:
            if self._seen[0] != stamp:
                opened = {str(b.folder): b for b in self._seen[1]}
                builds = [opened.get(f) or Build.try_open(f) for f in folders]
                self._seen = (stamp, [b for b in builds if b is not None
                                      and b.provenance.get("pixel_fingerprint") == self.store.root.name])
            return self._seen[1]


@dataclass
class BuildResult:
    build: Build
    redone: bool  # False: the finished build had nothing to redo and was returned as it was
    kept: Counter = field(default_factory=Counter)  # failures kept from the last run, by reason
    note: str = ""


def run_build(builder, out: str | os.PathLike | None = None, *, num_proc: int | None = None, engine: str = "local",
              retry_failed: bool = False, refresh: bool = False, **engine_options) -> BuildResult:
    """Build ``builder``'s config into ``out`` (default: its output folder) or return the finished build.

    A finished build is returned as it is, with no request, unless it has pending records or
    failures the re-run policy redoes, ``retry_failed`` asks for every failure, ``refresh`` asks to
    read upstream again, or (local sources, read again at no network cost) the records changed."""
    out = Path(out or builder.default_output_dir()).absolute()
    builder._retry_failed, builder._refresh = retry_failed, refresh
    builder._engine = (engine, engine_options)  # a union builds its members with it
    old = Build.try_open(out)
    members = builder.member_builds() if builder.COMPOSITE else None  # each member made or reused first
    if old is not None and not (refresh or retry_failed) and not old.to_redo():
        if members is not None:
            unchanged = old.meta.get("members") == {m.dataset_name: m.meta["build_id"] for m in members}
        else:  # a local source is read again (no network) to notice edits; a remote one is not asked again
            unchanged = not builder.source_is_local() or old.meta.get("records_digest") == builder.records_digest()
        if unchanged:
            return BuildResult(old, False, note="finished: nothing to redo")
    if engine == "ray":
        from .engine import check_engine

        check_engine(**engine_options)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(13, "permission denied", str(out.parent))
    remove_orphans(out.parent, f".{out.name}.building-")
    builder.prepare_run(retry_failed=retry_failed)  # models, records, options: before the first record
    announce, builder.on_records = getattr(builder, "on_records", None), None  # (a callback does not pickle)
    if announce is not None:
        announce()
    kept = builder.kept_failures(retry_failed)
    staging = out.parent / f".{out.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fetches = kind_of(builder.config.kind).fetches
    keys = RowKeysWriter() if fetches and members is None else None  # which record each row is: its images' home
    written = keys.add if keys is not None else None
    t0 = time.perf_counter()
    try:
        # Ray runs the per-record work; a config that fetches nothing, or a union (its members' rows, read), is written here
        if engine == "ray" and fetches and members is None:
            from .engine import write_rows_ray

            outcomes = write_rows_ray(builder, staging, **engine_options)
            splits = _name_rows(staging, builder.DATASET_NAME)
            report = builder.report(outcomes=outcomes, written=written)
            report["engine"] = outcomes.engine
        else:
            builder.write_rows(staging, num_proc=num_proc)
            splits = _name_rows(staging, builder.DATASET_NAME)
            report = builder.report(written=written)
        report["kept_from_last_run"] = dict(kept)
        report["seconds"] = round(time.perf_counter() - t0, 3)
        report["img_per_s"] = round(report["written"] / report["seconds"], 2) if report["seconds"] and fetches else None
        extra = builder.build_extra()
        if keys is not None:
            extra["row_keys"] = keys.write(staging, {s: v["rows"] for s, v in splits.items()})
        build = finish(staging, out, builder, splits, report, extra)
        if keys is not None:  # the rows hold the images now: the work store keeps the outcomes alone
            hand_over(build, WorkStore(builder.work_dir()))
        return BuildResult(build, True, kept)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(f"{staging}.incomplete", ignore_errors=True)
