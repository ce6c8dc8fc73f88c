"""`artface cache`: what artface keeps on disk, how big it is, and cleaning it.

Three places: the fetch cache (downloaded bodies by URL), the work store (per-record outcomes by
dataset and pixel fingerprint) under ``$ARTFACE_CACHE``, and finished builds under ``$ARTFACE_OUT``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .diskcache import cache_root, output_root


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return sum(p.stat().st_size for p in files), len(files)


def usage() -> list[tuple[str, Path, int, int]]:
    """(what, path, bytes, files) for the fetch cache, each dataset's work store and each finished
    build (opened as a ``Build``: its config and rows; a folder that is no finished build says so)."""
    from .build import Build

    rows = [("fetch cache", cache_root() / "fetch", *_size(cache_root() / "fetch"))]
    work = cache_root() / "work"
    if work.is_dir():
        for d in sorted(p for p in work.iterdir() if p.is_dir()):
            rows.append((f"work store {d.name}", d, *_size(d)))
    if output_root().is_dir():
        for d in sorted(p for ds in output_root().iterdir() if ds.is_dir() for p in ds.iterdir() if p.is_dir()):
            b = Build.try_open(d)
            what = (f"build {b.dataset_name}/{b.config_name} ({b.num_rows():,} rows)" if b is not None
                    else f"unfinished {d.parent.name}/{d.name}")
            rows.append((what, d, *_size(d)))
    return rows


def clean(datasets: list[str], fetch: bool = False, builds: bool = False) -> list[Path]:
    """Remove the work store (and with ``builds`` the finished builds) of ``datasets`` (all when
    empty), and the fetch cache with ``fetch``; returns what was removed."""
    removed = []
    targets = [cache_root() / "fetch"] if fetch else []
    for root in [cache_root() / "work", *([output_root()] if builds else [])]:
        if root.is_dir():
            targets += [d for d in root.iterdir() if d.is_dir() and (not datasets or d.name in datasets)]
    for t in targets:
        if t.exists():
            shutil.rmtree(t)
            removed.append(t)
    return removed


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
