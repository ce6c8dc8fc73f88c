"""Failure reasons: the one table (stage, reason, retryable, meaning) that fetch, the pipeline,
the build report, the CLI's advice and the card all read. The core's reasons are here; a dataset's
own failure and skip reasons live in its folder (``REASONS``, ``SKIP_REASONS`` on its builder) and
are registered into the same tables when the builder class is defined.

A record that cannot be built ends as a ``Failure`` with one of these reasons; a stage says so
by raising ``RecordFailure(reason, detail)``. ``http_<code>`` reasons are derived from the code.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    stage: str
    retryable: bool  # a re-run may succeed (network, server trouble); else permanent
    meaning: str


#: HTTP codes worth retrying (the server may answer differently later)
RETRY_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})

REASONS: dict[str, Reason] = {
    "no_image": Reason("fetch", False, "the record names no image"),
    "no_url": Reason("record", False, "upstream lists the record without an image URL"),
    "bad_id": Reason("record", False, "the record's id cannot be used (no usable characters for a file or key)"),
    "bad_value": Reason("record", False, "a value of the record does not fit its column (type or range)"),
    "unsupported_url": Reason("fetch", False, "the image location is not a public http(s) URL (refused)"),
    "invalid_url": Reason("fetch", False, "the URL is malformed"),
    "redirect_refused": Reason("fetch", False, "a redirect left http(s) or went to a refused address"),
    "redirect_loop": Reason("fetch", False, "too many redirects"),
    "timeout": Reason("fetch", True, "no answer, or the body was too slow"),
    "truncated": Reason("fetch", True, "the connection closed before the whole body arrived"),
    "connection_error": Reason("fetch", True, "the host could not be reached"),
    "decoding_error": Reason("fetch", False, "the body's Content-Encoding is broken"),
    "too_large": Reason("fetch", False, "the body is over the size limit"),
    "opted_out": Reason("fetch", False, "the server asks that the image not be used for AI (X-Robots-Tag noai/noimageai)"),
    "not_found": Reason("fetch", False, "the local file is missing"),
    "not_a_file": Reason("fetch", False, "the local path is not a regular file (FIFO, device, folder)"),
    "io_error": Reason("fetch", True, "the local file could not be read"),
    "checksum_mismatch": Reason("verify", False, "the bytes differ from upstream's checksum"),
    "corrupt_image": Reason("decode", False, "the bytes are not a readable image"),
    "image_too_large": Reason("decode", False, "the image's dimensions are over the pixel limit"),
    "no_face": Reason("detect", False, "the detector found no face"),
    "bad_points": Reason("align", False, "the landmarks cannot define an alignment"),
    "worker_crash": Reason("process", False, "the process died (e.g. a native crash) every time it worked on this record"),
    "error": Reason("process", True, "an unexpected error (see the detail; please report it)"),
}


#: what a source lists that cannot become a record (counted in the report's ``skipped``), reason -> meaning;
#: every entry comes from the dataset that skips (its builder's ``SKIP_REASONS``)
SKIPS: dict[str, str] = {}


def register(owner: str, reasons: Mapping[str, Reason], skips: Mapping[str, str]) -> None:
    """A dataset's own failure and skip reasons, put into the one table every reader uses; a name
    already there with another meaning is an error (one word, one meaning)."""
    for table, new in ((REASONS, reasons), (SKIPS, skips)):
        for name, value in new.items():
            if table.get(name, value) != value:
                raise ValueError(f"{owner}: reason {name!r} is already registered with another meaning: {table[name]}")
            table[name] = value


class SkipCounter(Counter):
    """``skipped`` counts by reason; a reason no dataset registered is a bug, caught where it is counted."""

    def __setitem__(self, reason: str, n: int) -> None:
        if reason not in SKIPS:
            raise KeyError(f"skip reason {reason!r} is not registered (a builder's SKIP_REASONS)")
        super().__setitem__(reason, n)


def reason_info(reason: str) -> Reason:
    """The table row of ``reason``; ``http_<code>`` rows are derived from the code."""
    if reason in REASONS:
        return REASONS[reason]
    if reason.startswith("http_") and reason[5:].isdigit():
        code = int(reason[5:])
        return Reason("fetch", code in RETRY_HTTP, f"the server answered HTTP {code}")
    return REASONS["error"]


def retryable(reason: str) -> bool:
    return reason_info(reason).retryable


def redo(reason: str, retry_failed: bool = False) -> bool:
    """The re-run policy: a later run redoes a failure when it may succeed (retryable), or every
    failure when the user asks (``--retry-failed``); permanent ones otherwise stay as they are."""
    return retry_failed or retryable(reason)


class RecordFailure(Exception):
    """Raised by a stage: this record cannot be built, for ``reason`` (a key of the table)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class Failure:
    """One record's failure as stored and reported (``url`` is the public image URL or None)."""

    id: str
    stage: str
    reason: str
    detail: str = ""
    url: str | None = None


def advice(failed_by_reason: Mapping[str, int]) -> str:
    """What to do about these failures: re-run for transient ones, read the report for the rest."""
    transient = sum(n for r, n in failed_by_reason.items() if retryable(r))
    permanent = sum(failed_by_reason.values()) - transient
    parts = []
    if transient:
        parts.append(f"{transient} may succeed later ({', '.join(r for r in failed_by_reason if retryable(r))}): "
                     "run the same command again to retry only those")
    if permanent:
        parts.append(f"{permanent} are permanent ({', '.join(r for r in failed_by_reason if not retryable(r))}): "
                     "they are listed in the report")
    return "; ".join(parts)
