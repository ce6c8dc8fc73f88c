"""What a build did: the one report, written by the build next to its output as
``artface_report.json`` and read by the CLI, the publisher and the card.

Counts per split and reason, the failures, and provenance: which detector (and the sha256 of the
model file that actually ran) found each face versus points from upstream, the recipe, size,
warp and image format, the source (public URL, or "local" for the user's own files) and whether
the build is a sample (``max_records``) of how many records.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from ._version import __version__
from .charts import label_name
from .failures import Failure, advice
from .records import Record
from .store import WorkStore

REPORT_NAME = "artface_report.json"
COUNTS = ("total", "written", "failed", "pending")


def make_report(dataset: str, config: str, kind: str, records: Iterable[Record], store: WorkStore | None,
                settings: dict, source: str | None, sample_of: int | None, skipped: dict | None = None,
                invalid: Iterable[tuple[Record, Failure]] = (), labels: dict[str, list[str] | None] | None = None,
                written: Callable[[Record], None] | None = None) -> dict:
    """Counts and provenance of a build, from the records and their outcomes in the store
    (``written`` hears of every record the store has as written, in record order: the rows).

    ``store`` is None for URL-only configs (every record is a row); ``sample_of`` is the number of
    records upstream has when ``max_records`` cut the build, else None; ``skipped``: what the source
    listed that could not become a record, by reason (counted, never silently dropped)."""
    labels = labels or {}
    label_columns = tuple(labels)
    splits: dict[str, dict] = {}
    failures: list[dict] = []
    by_label: dict[str, dict[str, Counter]] = {c: {} for c in labels}

    def count(rec: Record, outcome: str) -> None:  # what the build kept of each label: the bias view
        for col, names in labels.items():
            if col in rec.fields:
                by_label[col].setdefault(label_name(names, rec.fields[col]), Counter())[outcome] += 1
    points: Counter = Counter()
    models: dict[str, str] = {}
    for rec, fail in invalid:
        s = splits.setdefault(rec.split, {**{k: 0 for k in COUNTS}, "failed_by_reason": Counter()})
        s["total"] += 1
        s["failed"] += 1
        s["failed_by_reason"][fail.reason] += 1
        failures.append({**asdict(fail), "split": rec.split, "labels": _labels(rec, label_columns)})
        count(rec, "failed")
    for rec in records:
        s = splits.setdefault(rec.split, {**{k: 0 for k in COUNTS}, "failed_by_reason": Counter()})
        s["total"] += 1
        if store is None:
            s["written"] += 1
            points["upstream" if rec.points is not None else "none"] += 1
            count(rec, "written")
            continue
        state, info = store.state(rec)
        s[state] += 1
        if state == "failed":
            s["failed_by_reason"][info["reason"]] += 1  # type: ignore[index]
            failures.append({**info, "split": rec.split, "labels": _labels(rec, label_columns)})  # type: ignore[dict-item]
            count(rec, "failed")
        elif state == "written":
            if written is not None:
                written(rec)
            src = info.get("points_source") or "none"  # type: ignore[union-attr]
            points[src] += 1
            count(rec, "kept as crop" if src == "crop" else "written")
            if info.get("detector_sha256"):  # type: ignore[union-attr]
                models[src] = info["detector_sha256"]  # type: ignore[index]
    by_reason: Counter = Counter()
    for s in splits.values():
        by_reason.update(s["failed_by_reason"])
        s["failed_by_reason"] = dict(s["failed_by_reason"].most_common())
    totals = {k: sum(s[k] for s in splits.values()) for k in COUNTS}
    return {
        "dataset": dataset,
        "config": config,
        "kind": kind,
        **totals,
        "failed_by_reason": dict(by_reason.most_common()),
        "by_label": {c: {v: dict(n) for v, n in sorted(vals.items())} for c, vals in by_label.items() if vals},
        "skipped": dict(skipped or {}),
        "advice": advice(by_reason),
        "splits": splits,
        "failures": failures,
        "provenance": {
            "artface_version": __version__,
            "source": source or "local",
            "sample": sample_of is not None,
            "sample_of": sample_of,
            "points": dict(points.most_common()),
            "detector_models": models,  # detector name -> sha256 of the model file that ran
            **settings,
        },
    }


def _labels(rec: Record, columns: tuple[str, ...]) -> dict:
    """The record's label values, so that what a build lost can be counted per label (the bias view)."""
    return {c: rec.fields.get(c) for c in columns if c in rec.fields}


def write_report(folder: str | Path, report: dict, previous: dict | None = None) -> Path:
    """Write the report; ``built_at`` is kept from ``previous`` when the rows are the same
    (a reused build), so re-publishing an unchanged build changes nothing."""
    if previous and "upstream_files" not in report and previous.get("upstream_files"):
        report["upstream_files"] = previous["upstream_files"]  # a run that read no metadata keeps what the last one read
    same = previous and all(previous.get(k) == report.get(k) for k in (*COUNTS, "provenance"))
    report["built_at"] = previous["built_at"] if same and previous.get("built_at") else datetime.date.today().isoformat()
    path = Path(folder) / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return path


def read_report(folder: str | Path) -> dict | None:
    path = Path(folder) / REPORT_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
