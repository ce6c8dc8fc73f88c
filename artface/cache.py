"""`artface cache`: what artface keeps on disk, how big it is, and cleaning it.

Three places: the fetch cache (downloaded bodies by URL), the work store (per-record outcomes by
dataset and pixel fingerprint) under ``$ARTFACE_CACHE``, and finished builds under ``$ARTFACE_OUT``.
A finished build's rows hold its images (the work store keeps only those of builds in progress), so
the downloads its rows were made from are what it no longer needs (``held_downloads``): dropping
them (``artface cache clean NAME --downloads``) leaves each image once on disk and loses nothing; a
build with other options then downloads again.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .diskcache import MARKER, DiskCache, cache_root, fetch_cache_dir, output_root, remove_files


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file() and p.name != MARKER] if path.is_dir() else []  # what it keeps
    return sum(p.stat().st_size for p in files), len(files)


def usage() -> list[tuple[str, Path, int, int]]:
    """(what, path, bytes, files) for the fetch cache, each dataset's work store and each finished
    build (opened as a ``Build``: its config and rows; a folder that is no finished build says so)."""
    rows = [("fetch cache (downloads)", fetch_cache_dir(), *_size(fetch_cache_dir()))]
    work = cache_root() / "work"
    if work.is_dir():
        for d in sorted(p for p in work.iterdir() if p.is_dir()):
            images = sum(p.stat().st_size for p in d.rglob("*.bin"))  # a finished build holds its own (build.hand_over)
            held = f" ({human(images)} images of builds in progress)" if images else ""
            rows.append((f"work store {d.name}{held}", d, *_size(d)))
    for d, b in _build_folders([]):
        if b is None:
            rows.append((f"unfinished {d.parent.name}/{d.name}", d, *_size(d)))
            continue
        held = sum(p.stat().st_size for p in held_downloads(b))
        more = f"; {human(held)} of its downloads, no longer needed" if held else ""
        rows.append((f"build {b.dataset_name}/{b.config_name} ({b.num_rows():,} rows{more})", d, *_size(d)))
    return rows


def held_downloads(build) -> list[Path]:
    """The fetch cache's files (bodies, opt-out notes) of the images ``build``'s rows were made from:
    the build no longer needs them (its rows hold its images, and a re-run reads them back there);
    a build with other options of the same records downloads them again."""
    from .fetch import OPTOUT_SUFFIX

    if not build.kind.fetches or "image_url" not in build.features or not fetch_cache_dir().is_dir():
        return []
    fetch = DiskCache(fetch_cache_dir())
    urls = {u for s in build.splits if build.num_rows(s) for u in build.dataset(s).data.table.column("image_url").to_pylist()}
    paths = (fetch.path(url, suffix) for url in urls if url for suffix in ("", OPTOUT_SUFFIX))
    return [p for p in paths if p.is_file()]


def drop_downloads(datasets: list[str]) -> tuple[int, int]:
    """Remove the downloads that finished builds of ``datasets`` (all when empty) no longer need;
    returns (bytes, files) removed."""
    return remove_files(p for _, b in _build_folders(datasets) if b is not None for p in held_downloads(b))


def drop_build_downloads(build) -> tuple[int, int]:
    """Remove the downloads one finished build no longer needs (``artface build --drop-downloads``)."""
    return remove_files(held_downloads(build))


def _build_folders(datasets: list[str]):
    """(folder, its finished Build or None) for every build folder of ``datasets`` (all when empty)."""
    from .build import Build

    root = output_root()
    for ds in sorted(root.iterdir()) if root.is_dir() else []:
        if ds.is_dir() and (not datasets or ds.name in datasets):
            for d in sorted(p for p in ds.iterdir() if p.is_dir()):
                yield d, Build.try_open(d)


def _inside(path: Path, root: Path) -> bool:
    """``path`` is a real folder under ``root``, reached through no symbolic link."""
    if not path.is_dir():
        return False
    probe = path
    while probe != root and probe != probe.parent:
        if probe.is_symlink():
            return False
        probe = probe.parent
    return probe == root and not root.is_symlink() and root.resolve() in path.resolve().parents


def cleanable(datasets: list[str], fetch: bool = False, builds: bool = False) -> tuple[list[Path], list[Path]]:
    """(folders artface made that ``clean`` would remove, folders it leaves because artface did not make
    them or a link leads there). Work stores of ``datasets`` (all when empty), with ``builds`` their
    finished builds, with ``fetch`` the fetch cache."""
    from .build import BUILD_META
    from .report import REPORT_NAME

    cache, out = cache_root(), output_root()
    ours, left = [], []

    def consider(folder: Path, root: Path, made: bool) -> None:
        (ours if made and _inside(folder, root) else left).append(folder)

    if fetch and fetch_cache_dir().exists():
        consider(fetch_cache_dir(), cache, (fetch_cache_dir() / MARKER).is_file())
    for root, made in ((cache / "work", lambda d: (d / MARKER).is_file()),
                       *([(out, lambda d: (d / BUILD_META).is_file() or (d / REPORT_NAME).is_file())] if builds else [])):
        if not root.is_dir():
            continue
        for ds in sorted(root.iterdir()):
            if not ds.is_dir() or (datasets and ds.name not in datasets):
                continue
            for d in sorted(ds.iterdir()):
                if d.is_dir() or d.is_symlink():
                    consider(d, cache if root == cache / "work" else out, made(d) and not d.is_symlink())
    return ours, left


def clean(datasets: list[str], fetch: bool = False, builds: bool = False) -> list[Path]:
    """Remove what ``cleanable`` says artface made; returns what was removed."""
    removed = []
    for t in cleanable(datasets, fetch, builds)[0]:
        shutil.rmtree(t)
        removed.append(t)
        parent = t.parent
        if parent not in (cache_root(), output_root()) and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()  # the dataset's folder, now empty
    return removed


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
