"""Before any work: which records can become rows. A record that cannot is a failure of its own.

A record needs an image location (``no_url``: upstream lists it with a blank URL; a URL-only
config needs a public ``image_url``), an id usable as a key and file name (``bad_id``), and values
that fit its columns (``bad_value``: a year of 10^12 in an int32 column, a list where a string
goes). Checked once, in batches, with the config's own features: what passes here is written.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import datasets
import numpy as np
import pyarrow as pa

from .failures import Failure
from .kinds import Kind
from .paths import safe_name
from .records import Record

BATCH = 1024


class SeenIds:
    """The ids a reader yielded, to refuse one yielded twice, at 16 bytes an id (a blake2b digest; a
    set of a million id strings costs ~90 MB): which digest repeats is found once the reader is done."""

    def __init__(self) -> None:
        self._digests = bytearray()

    @staticmethod
    def digest(rec_id: str) -> bytes:
        return hashlib.blake2b(str(rec_id).encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def add(self, rec_id: str) -> None:
        self._digests += self.digest(rec_id)

    def repeated(self) -> bytes | None:
        """A digest added twice, or None (a sort of the digests: n log n, no table of ids)."""
        d = np.sort(np.frombuffer(bytes(self._digests), dtype="V16"))
        same = np.nonzero(d[1:] == d[:-1])[0]
        return bytes(d[same[0]]) if len(same) else None


def _location_problem(rec: Record, kind: Kind) -> tuple[str, str] | None:
    if kind.fetches:
        return ("no_url", "upstream gives no image location for this record") if rec.fetch is None else None
    if rec.image_url is None:
        if rec.fetch is not None and rec.fetch.via == "url":
            return "unsupported_url", f"refusing {str(rec.fetch.target)[:200]!r}: only public http(s) URLs are published"
        return "no_url", "upstream gives no image URL for this record"
    return None


def _id_problem(rec: Record) -> tuple[str, str] | None:
    if not isinstance(rec.id, str) or not rec.id or "\x00" in rec.id:
        return "bad_id", f"id {str(rec.id)[:80]!r} is empty or holds NUL"
    try:
        safe_name(rec.id)
    except ValueError as exc:
        return "bad_id", str(exc)
    return None


def _which_column(row: dict, schema: pa.Schema, exc: Exception) -> str:
    """The column (and value) a row cannot be stored in, for the failure's detail."""
    for f in schema:
        try:
            pa.array([row.get(f.name)], type=f.type)
        except Exception as col_exc:  # noqa: BLE001
            value = str(row.get(f.name))[:80]
            return f"column {f.name} ({f.type}): {value!r} does not fit ({type(col_exc).__name__})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def check_records(records: Iterable[Record], kind: Kind, features: datasets.Features, row: Callable[[Record], dict],
                  good=None) -> tuple:
    """(records that can become rows, [(record, Failure)] for the others), in record order. The
    records are checked as they come, in batches; the good ones are appended to ``good`` (a list, or a
    ``RecordSpool`` that keeps them on disk) as each batch passes."""
    good = [] if good is None else good
    bad: list[tuple[Record, Failure]] = []
    schema = features.arrow_schema

    def fail(rec: Record, stage: str, reason: str, detail: str) -> None:
        bad.append((rec, Failure(str(rec.id), stage, reason, detail, rec.image_url)))

    def encoded(rec: Record) -> dict:
        return features.encode_example(row(rec))

    pending: list[Record] = []

    def flush() -> None:
        try:
            pa.Table.from_pylist([encoded(r) for r in pending], schema=schema)
            for r in pending:
                good.append(r)
        except Exception:  # noqa: BLE001 - find the records at fault, one by one
            for r in pending:
                try:
                    pa.Table.from_pylist([encoded(r)], schema=schema)
                    good.append(r)
                except Exception as exc:  # noqa: BLE001 - any conversion error is that record's
                    fail(r, "record", "bad_value", _which_column(encoded(r), schema, exc))
        pending.clear()

    for rec in records:
        problem = _id_problem(rec) or _location_problem(rec, kind)
        if problem:
            fail(rec, "record", *problem)
            continue
        pending.append(rec)
        if len(pending) >= BATCH:
            flush()
    flush()
    return good, bad
