"""Builds that outgrow one machine: the same stages on Ray Data, the same rows and report.

Records are partitioned into blocks; an actor pool (one pipeline, so one detector session, per
actor; ONNX threads explicit) maps each block through ``Pipeline.process`` - the public map step
of the core - into rows of the builder's features, with each record's failure travelling as data
next to the rows. The driver writes the rows into the build's staging folder in the one build
layout (``artface.build``), which promotes it only when the run completes, so a driver killed
mid-run leaves the previous build intact and a re-run gives the full set with no duplicates. With
the work store on storage every worker sees (a local path on one machine, a shared mount on a
cluster), a re-run redoes what the re-run policy says. The driver's ``ARTFACE_*`` settings (cache,
private hosts, models) travel to the workers. Readers open the result as any ``Build``.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import asdict
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ArtfaceError
from .failures import Failure
from .records import Record

SPLIT, INDEX, FAILURE, PROVENANCE = "_split", "_index", "_failure", "_provenance"  # engine-only columns


class EngineUnavailable(ArtfaceError):
    """The engine's package is not installed."""


def engine_schema(features: datasets.Features) -> pa.Schema:
    """The rows' Arrow schema plus the engine's own columns (split, order, failure, provenance)."""
    extra = [pa.field(SPLIT, pa.string()), pa.field(INDEX, pa.int64()), pa.field(FAILURE, pa.string()),
             pa.field(PROVENANCE, pa.string())]
    schema = features.arrow_schema
    return pa.schema([*schema, *extra], metadata=schema.metadata)


class RecordMapper:
    """The map step in one Ray actor: a batch of pickled ``(index, Record)`` -> one Arrow table of rows
    (failures as rows with only id, split, order and the failure). One pipeline per actor."""

    def __init__(self, name: str, config: str | None, options: dict, use_store: bool = True,
                 retry_failed: bool = False) -> None:
        from .builders import load_builder

        self.builder = load_builder(name, config, **{**options, "workers": 1})
        self.builder._retry_failed = retry_failed
        self.pipeline = self.builder.make_pipeline()
        if not use_store:
            self.pipeline.store = None
        self.features = self.builder.info.features
        self.schema = engine_schema(self.features)

    def _failed(self, rec: Record, index: int, failure: Failure) -> dict:
        return {"id": rec.id, SPLIT: rec.split, INDEX: index, FAILURE: json.dumps(asdict(failure)), PROVENANCE: None}

    def _row(self, rec: Record, index: int, out) -> dict:
        if isinstance(out, Failure):
            return self._failed(rec, index, out)
        try:  # a row that cannot be made is that record's failure, never the batch's
            row = self.features.encode_example(self.builder.make_row(rec, out))
            pa.Table.from_pylist([row], schema=self.features.arrow_schema)
        except Exception as exc:  # noqa: BLE001
            return self._failed(rec, index, Failure(rec.id, "rows", "error", _one_line(exc), rec.image_url))
        prov = {"points_source": out.points_source, "detector_sha256": out.detector_sha256}
        return {**row, SPLIT: rec.split, INDEX: index, FAILURE: None, PROVENANCE: json.dumps(prov)}

    def __call__(self, batch: dict) -> pa.Table:
        items = [pickle.loads(b) for b in batch["record"]]  # noqa: S301 - our own Records, pickled by our driver
        order = {rec.id: i for i, rec in items}
        rows, done = [], set()
        try:
            for rec, out in self.pipeline.process(rec for _, rec in items):
                rows.append(self._row(rec, order[rec.id], out))
                done.add(rec.id)
        except Exception as exc:  # noqa: BLE001 - the map step's surprise fails its records, not the run
            for i, rec in items:
                if rec.id not in done:
                    rows.append(self._failed(rec, i, Failure(rec.id, "process", "error", _one_line(exc), rec.image_url)))
        return pa.Table.from_pylist(rows, schema=self.schema)


def _one_line(exc: BaseException) -> str:
    """An exception as one line with no terminal escapes (Ray's errors carry colours and tracebacks)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc))
    return f"{type(exc).__name__}: {' '.join(text.split())[:300]}"


class _Outcomes:
    """The engine output's failures and provenance, read as a work store is (for ``make_report``)."""

    def __init__(self, table: pa.Table) -> None:
        self.engine: dict = {}
        self.state_of = {}
        for rid, split, fail, prov in zip(*(table.column(c).to_pylist() for c in ("id", SPLIT, FAILURE, PROVENANCE))):
            self.state_of[(split, rid)] = ("failed", json.loads(fail)) if fail else ("written", json.loads(prov))

    def state(self, rec: Record) -> tuple[str, dict | None]:
        return self.state_of.get((rec.split, rec.id), ("pending", None))


def _restartable() -> dict:
    """Actors and their tasks retried when a worker process dies: no record is lost."""
    return {"max_restarts": -1, "max_task_retries": -1}


class ClusterError(ArtfaceError):
    """The cluster cannot run this build (unreachable, or without the resources asked for)."""


def _reachable(address: str, timeout: float = 5.0) -> None:
    """An address of a Ray cluster answers on its port within ``timeout`` s (else one line, not a hang)."""
    import socket
    from urllib.parse import urlsplit

    if address in ("auto", "local"):
        return
    u = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = u.hostname, u.port or (10001 if u.scheme == "ray" else 6379)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ClusterError(f"the Ray cluster at {address} cannot be reached ({host}:{port}: "
                           f"{exc.strerror or exc}) within {timeout:.0f} s") from None


def check_engine(address: str | None = None, gpus_per_actor: float = 0.0, **_) -> None:
    """Before any record: Ray is installed, the cluster answers, and it has what the actors ask for;
    each a one-line error, within seconds."""
    try:
        import ray
    except ImportError:
        raise EngineUnavailable("the ray engine needs Ray: pip install 'artface[ray]'") from None
    if address:
        _reachable(address)
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus_per_actor and gpus < gpus_per_actor:
        raise ClusterError(f"--gpus-per-actor {gpus_per_actor:g} but the Ray cluster has {gpus:g} GPU(s)")


def write_rows_ray(builder, staging: Path, address: str | None = None, actors: int | None = None,
                   use_store: bool = True, batch_size: int = 16, gpus_per_actor: float = 0.0) -> _Outcomes:
    """Run ``builder``'s records through an actor pool on Ray (a cluster at ``address``, else a local
    one) and write the rows into ``staging`` as the local engine does (``artface.build`` names and
    finishes them); returns the outcomes the report reads. ``gpus_per_actor`` > 0 schedules actors
    on GPUs (onnxruntime-gpu then runs the detector there)."""
    try:
        import ray
    except ImportError:
        raise EngineUnavailable("the ray engine needs Ray: pip install 'artface[ray]'") from None
    from datasets.arrow_writer import ArrowWriter

    staging.mkdir(parents=True)
    records = builder.records()
    c = builder.config
    options = {f: getattr(c, f) for f in c.__dataclass_fields__ if f not in ("name", "version", "data_files", "description")}
    options["threads"] = c.threads or 1  # explicit: cores come from Ray's scheduling, not os.cpu_count()
    check_engine(address, gpus_per_actor)
    n = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    items = [{"record": pickle.dumps((i, r))} for i, r in enumerate(records)]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), n * 4)))
    rows = ds.map_batches(RecordMapper, fn_constructor_args=(builder.DATASET_NAME, c.name, options, use_store,
                                                             builder._retry_failed),
                          batch_size=batch_size, concurrency=n, num_cpus=1, num_gpus=gpus_per_actor or None,
                          zero_copy_batch=True, ray_remote_args_fn=_restartable,
                          runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("ARTFACE_")}})
    raw = staging / ".ray-rows"
    rows.write_parquet(str(raw))
    table = pq.read_table(raw)
    outcomes = _Outcomes(table.select(["id", SPLIT, FAILURE, PROVENANCE]))
    outcomes.engine = {"name": "ray", "ray_version": ray.__version__, "actors": n}
    written = table.filter(pa.compute.is_null(table.column(FAILURE)))
    features = builder.info.features
    splits = {}
    for split in records.splits():
        part = written.filter(pa.compute.equal(written.column(SPLIT), split)).sort_by(INDEX)
        part = part.drop_columns([SPLIT, INDEX, FAILURE, PROVENANCE]).cast(features.arrow_schema)
        with ArrowWriter(features=features, path=str(staging / f"{builder.DATASET_NAME}-{split}.arrow")) as w:
            w.write_table(part)
            w.finalize()
        splits[split] = {"name": split, "num_examples": part.num_rows}
    shutil.rmtree(raw)
    (staging / "dataset_info.json").write_text(json.dumps({"splits": splits, "features": features.to_dict()}))
    return outcomes
