"""Facts of the Hugging Face Hub that cards and checks follow, read offline.

Copied from the project's shared notes (``shared/hub/``): every license id the Hub accepts in a
card's ``license:`` field and every task id it knows for ``task_categories:``. Refresh the two
files when the Hub changes.
"""
from __future__ import annotations

from importlib.resources import files


def _ids(name: str) -> frozenset[str]:
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


LICENSE_IDS: frozenset[str] = _ids("license_ids.txt")
TASK_CATEGORIES: frozenset[str] = _ids("task_categories.txt")
