"""What a publish changes at its destination, before it changes it.

``RepoState`` is a destination as read at one revision (its ``artface.json``, its files and their
sizes); ``plan`` compares the staged repo with it: per config rows and bytes before and after, and
the files added, changed and removed. ``check_replace`` is the one rule for shrinking a config:
replacing a whole config by a sample, or by fewer rows, needs ``--replace``.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..cards import sample_words
from ..licenses import PublishRefused
from .staging import Staged, config_files


@dataclass
class RepoState:
    """A destination at one revision: ``head`` (a Hub commit id; None for a folder or a new repo),
    ``meta`` (its ``artface.json``, {} when none), ``files`` (repo path -> size)."""
    head: str | None
    meta: dict
    files: dict[str, int] = field(default_factory=dict)


@dataclass
class Change:
    config: str
    rows_before: dict[str, int] | None  # None: the destination has no such config
    rows_after: dict[str, int]
    bytes_before: int
    bytes_after: int
    added: list[str]
    changed: list[str]
    removed: list[str]
    sample_before: str | None
    sample_after: str

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def lines(self) -> list[str]:
        """Human-readable: one line of rows and bytes, then the files."""
        before = "none" if self.rows_before is None else f"{_rows(self.rows_before)} ({self.sample_before})"
        out = [f"{self.config}: rows {before} -> {_rows(self.rows_after)} ({self.sample_after}); "
               f"bytes {self.bytes_before:,} -> {self.bytes_after:,}"]
        for word, files in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            out.append(f"  {len(files)} {word}" + (": " + ", ".join(files) if files else ""))
        return out


def _rows(splits: dict[str, int]) -> str:
    return f"{sum(splits.values()):,} [" + ", ".join(f"{s} {n:,}" for s, n in splits.items()) + "]"


def owned(path: str, hub_config: str) -> bool:
    return any(fnmatch.fnmatch(path, pat) for pat in config_files(hub_config))


def plan(staged: Staged, state: RepoState, same: Callable[[str, Path], bool]) -> Change:
    """The change the staged files make to ``state``; ``same(repo_path, local_file)`` says whether the
    destination's file has that content (the destination knows how to compare its own files)."""
    local = {rel: staged.folder / rel for rel in staged.files()}
    added = sorted(r for r in local if r not in state.files)
    changed = sorted(r for r in local if r in state.files and not same(r, local[r]))
    removed = sorted(r for r in state.files if owned(r, staged.hub_config) and r not in local)
    old = state.meta.get("configs", {}).get(staged.hub_config)
    data = f"{staged.hub_config}/"
    return Change(
        config=staged.hub_config,
        rows_before=None if old is None else dict(old["splits"]),
        rows_after=dict(staged.entry["splits"]),
        bytes_before=sum(n for r, n in state.files.items() if r.startswith(data)),
        bytes_after=sum(local[r].stat().st_size for r in local if r.startswith(data)),
        added=added, changed=changed, removed=removed,
        sample_before=None if old is None else sample_words(old["build"]),
        sample_after=sample_words(staged.entry["build"]),
    )


def shrinks(change: Change) -> str | None:
    """Why this change replaces a config by less (a sample over a whole config, or fewer rows), else None."""
    if change.rows_before is None:
        return None
    before, after = sum(change.rows_before.values()), sum(change.rows_after.values())
    if change.sample_before == "whole" and change.sample_after != "whole":
        return f"the whole config {change.config!r} ({before:,} rows) by {change.sample_after} ({after:,} rows)"
    if after < before:
        return f"config {change.config!r} ({before:,} rows) by {after:,} rows"
    return None


def check_replace(change: Change, where: str, replace: bool) -> None:
    why = shrinks(change)
    if why and not replace:
        raise PublishRefused(f"{where}: this publish would replace {why}; pass --replace to do so, "
                             f"or publish to another repo or --revision")

