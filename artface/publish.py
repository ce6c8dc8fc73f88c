"""Publisher: a builder's output -> a Hub dataset repo laid out as ``push_to_hub`` lays it out.

``publish()`` checks the license policy, builds (or reuses) the config, writes parquet shards
(``<config>/<split>-NNNNN-of-NNNNN.parquet``, ``data/`` for the default config), a preview
image, ``artface.json`` (build records of every published config) and README.md, then puts
them in a local folder or pushes them to ``hf://datasets/<org>/<name>`` in one atomic commit.
URL-only shards never hold pixels and keep URLs as plain strings, so readers need no artface.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features
from datasets.utils.py_utils import convert_file_size_to_int

from artface_align.models import sha256_file

from . import __version__
from .builders import builder_class, load_builder
from .cards import card_data, render_card
from .diskcache import atomic_write
from .licenses import PublishRefused, check_publish
from .report import read_report

log = logging.getLogger(__name__)
MODES = ("urls", "processed")
HUB_PREFIX = "hf://datasets/"
META_NAME = "artface.json"


class PublishEmpty(ValueError):
    """The config built no rows: there is nothing to publish."""


@dataclass
class PublishResult:
    destination: str
    config: str
    files: list[str]
    commit: str | None = None  # Hub commit id, None for folders or when nothing changed
    changed: bool = True
    rows: dict[str, int] = field(default_factory=dict)


def nice_shard_count(needed: int) -> int:
    """1, or a multiple of 8 (divides by world sizes 1, 2, 4, 8) so split_dataset_by_node can split by files."""
    return 1 if needed <= 1 else 8 * -(-needed // 8)


def write_shards(ds: datasets.Dataset, folder: Path, data_dir: str, split: str, max_shard_size: int | str) -> tuple[list[str], int]:
    """Parquet shards with datasets' row-group sizing; returns their repo paths and total bytes."""
    nbytes = ds._estimate_nbytes()
    by_size = get_writer_batch_size_from_data_size(len(ds), nbytes) if len(ds) else 1  # ~100 MB row groups
    batch = min(get_writer_batch_size_from_features(ds.features) or by_size, by_size)
    n = min(max(1, len(ds)), nice_shard_count(int(nbytes / convert_file_size_to_int(max_shard_size)) + 1))
    paths = []
    for i in range(n):
        rel = f"{data_dir}/{split}-{i:05d}-of-{n:05d}.parquet"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        ds.shard(num_shards=n, index=i, contiguous=True).to_parquet(str(folder / rel), batch_size=batch)
        paths.append(rel)
    return paths, nbytes


def preview_image(ds: datasets.Dataset, mode: str, kind: str, size: int, recipe: str, n: int = 8):
    """A grid of a few faces with their landmarks; for URL-only data, landmarks on blank cells (no pixels)."""
    from PIL import Image

    from artface_align import alignment_matrix, transform_points
    from artface_align.draw import draw_points, grid

    cells = []
    for row in ds.select(range(min(n, len(ds)))):
        pts = row.get("landmarks68") or row.get("kps5")
        if mode == "processed":
            img = row["image"].convert("RGB")
            if pts is not None and kind == "aligned":
                pts = transform_points(alignment_matrix(np.asarray(pts), size, recipe), np.asarray(pts))
        else:
            img = Image.new("RGB", (row.get("width") or 256, row.get("height") or 256), (255, 255, 255))
        if pts is None and mode != "processed":
            continue  # nothing to show without pixels or points
        cells.append(draw_points(img, np.asarray(pts)) if pts is not None else img)
    return grid(cells, cell=192, cols=4) if cells else None


def _read_existing_meta(dest: str) -> dict:
    try:
        if dest.startswith(HUB_PREFIX):
            from huggingface_hub import HfFileSystem

            fs = HfFileSystem()
            path = f"datasets/{dest[len(HUB_PREFIX):]}/{META_NAME}"
            return json.loads(fs.read_bytes(path)) if fs.exists(path) else {}
        p = Path(dest) / META_NAME
        return json.loads(p.read_text()) if p.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s at %s: %s", META_NAME, dest, exc)
        return {}


def stage(name: str, config: str | None, mode: str, dest: str, private: bool, max_shard_size: int | str,
          out: Path, **options) -> tuple[str, dict]:
    """Build and write everything the repo needs into ``out``; returns the Hub config name and its entry."""
    cls = builder_class(name)
    check_publish(cls.POLICY, mode, private)
    builder = load_builder(name, config, **options)
    kind = builder.config.kind
    if mode == "processed" and kind == "urls":
        raise ValueError(f"{name}: mode 'processed' needs a config with pixels (original or aligned), not {builder.config.name!r}")
    builder.download_and_prepare()
    report = read_report(builder._output_dir) or builder.report()
    if not report["written"]:
        raise PublishEmpty(f"{name}/{builder.config.name}: no rows to publish: all {report['total']} records failed "
                           f"({report['failed_by_reason']}); {report['advice']}")
    dsd = builder.as_dataset()
    hub_config = builder.config.name if (mode == "processed" or kind == "urls") else f"{builder.config.name}-urls"
    existing = _read_existing_meta(dest)
    entries = dict(existing.get("configs", {}))
    default = existing.get("default") or hub_config
    data_dir = "data" if hub_config == default else hub_config
    splits, split_bytes, files = {}, {}, []
    for split, ds in dsd.items():
        if mode == "urls" and "image" in ds.column_names:
            ds = ds.remove_columns("image")
        paths, nbytes = write_shards(ds, out, data_dir, split, max_shard_size)
        files += paths
        splits[split], split_bytes[split] = len(ds), nbytes
    first = next(iter(dsd.values()))
    features = first.features.copy()
    if mode == "urls":
        features.pop("image", None)
    preview = preview_image(first, mode, kind, builder.config.size, builder.RECIPE)
    preview_rel = None
    if preview is not None:
        preview_rel = f"assets/{hub_config}-preview.png"
        (out / "assets").mkdir(exist_ok=True)
        preview.save(out / preview_rel, optimize=False)
        files.append(preview_rel)
    prov = report["provenance"]
    points = prov.get("points", {})
    if kind != "aligned":
        detector = None
    elif set(points) <= {"upstream"}:
        detector = "none (upstream landmarks)"
    else:
        detector = ", ".join(f"{k} ({n} faces)" for k, n in points.items())
    detectors = prov.get("detector_models", {})
    entries[hub_config] = {
        "mode": mode,
        "builder_config": builder.config.name,
        "kind": kind,
        "data_dir": data_dir,
        "splits": splits,
        "split_bytes": split_bytes,
        "features": features.to_dict(),
        "preview": preview_rel,
        "build": {
            "artface_version": __version__,
            "built_at": report.get("built_at") or _dt.date.today().isoformat(),
            "detector": detector,
            "detector_sha256": next(iter(detectors.values()), None),
            "recipe": prov.get("recipe"),
            "size": prov.get("size"),
            "warp": prov.get("warp"),
            "source": prov.get("source"),
            "sample_of": prov.get("sample_of"),
            "total": report["total"],
            "failed": report["failed"],
            "failed_by_reason": report["failed_by_reason"],
        },
    }
    meta = card_data(cls.POLICY, cls.PRETTY_NAME, entries, default, tags=["art", "faces", "face-alignment", "artface"],
                     task_categories=["unconditional-image-generation", "image-classification"])
    first_preview = next((e["preview"] for e in entries.values() if e.get("preview")), None)
    readme = render_card(cls.FOLDER, cls.POLICY, meta, entries, cls.citation(), first_preview, cls.FIELD_DOCS)
    (out / "README.md").write_text(readme)
    (out / META_NAME).write_text(json.dumps({"dataset": name, "default": default, "configs": entries}, indent=1, ensure_ascii=False))
    return hub_config, entries[hub_config]


def _git_blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def _same_tree(a: Path, b: Path) -> bool:
    files = lambda root: {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}  # noqa: E731
    fa, fb = files(a), files(b) if b.is_dir() else {}
    return fa.keys() == fb.keys() and all(sha256_file(fa[k]) == sha256_file(fb[k]) for k in fa)


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system cannot."""
    import ctypes
    import errno

    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _put_local(staged: Path, dest: Path, data_dir: str) -> bool:
    """Sync the staged repo into ``dest``; returns whether anything changed.

    The whole folder changes at one instant: the new tree is made beside it (unchanged files
    hard-linked, the config's shard folder and changed files new) and swapped in with one atomic
    exchange, so a reader finds the old repo or the new one, never a mix or none. A leftover of a
    crash (``.<name>.artface-new``) is removed by the next run."""
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    new = dest.parent / f".{dest.name}.artface-new"
    shutil.rmtree(new, ignore_errors=True)
    if dest.is_dir():
        shutil.copytree(dest, new, copy_function=_link_or_copy)
    else:
        new.mkdir()
    shutil.rmtree(new / data_dir, ignore_errors=True)
    for path in staged.rglob("*"):
        if path.is_file():
            target = new / path.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # never write through a hard link into the old tree
            shutil.copyfile(path, target)
    if dest.is_dir() and _same_tree(new, dest):
        shutil.rmtree(new)
        return False
    if not dest.exists():
        new.rename(dest)
    elif exchange_dirs(new, dest):
        shutil.rmtree(new)  # it holds the old tree now
    else:  # no atomic exchange here: two renames, the folder is missing for an instant
        old = dest.parent / f".{dest.name}.artface-old"
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old)
    return True


def prepare_hub_repo(repo_id: str, private: bool, gated: bool, make_private: bool = False) -> None:
    """Visibility and gating, checked or set before any data is built or committed (and again on a
    "no change" re-publish): a new repo is created private/gated first; ``private`` onto an existing
    public repo is refused unless ``make_private`` turns it private first."""
    from huggingface_hub import HfApi

    api = HfApi()  # endpoint and token from the environment / login; never printed
    if not api.repo_exists(repo_id, repo_type="dataset"):
        api.create_repo(repo_id, repo_type="dataset", private=private)
    info = api.dataset_info(repo_id)
    if private and not info.private:
        if not make_private:
            raise PublishRefused(f"{repo_id} exists and is public: a --private publish would make its data public. "
                                 f"Pass --make-private to turn the repo private first, or publish to another repo.")
        api.update_repo_settings(repo_id, private=True, repo_type="dataset")
    if gated and not info.gated:
        api.update_repo_settings(repo_id, gated="auto", repo_type="dataset")


def _push_hub(staged: Path, repo_id: str, data_dir: str, message: str) -> tuple[str | None, bool]:
    """One commit with the files whose content changed (the repo was prepared before)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi()
    remote = {}
    for item in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True):
        if hasattr(item, "blob_id"):
            remote[item.path] = item
    ops = []
    local = {p.relative_to(staged).as_posix(): p for p in staged.rglob("*") if p.is_file()}
    for rel, path in sorted(local.items()):
        r = remote.get(rel)
        if r is not None:
            same = (r.lfs.sha256 == sha256_file(path)) if r.lfs else (r.blob_id == _git_blob_sha1(path))
            if same:
                continue
        ops.append(CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)))
    ops += [CommitOperationDelete(path_in_repo=rel) for rel in remote if rel.startswith(f"{data_dir}/") and rel not in local]
    if not ops:
        return None, False
    info = api.create_commit(repo_id, operations=ops, commit_message=message, repo_type="dataset")
    return info.oid, True


STAGING_PREFIX = "artface-publish-"


def _clean_stale_staging() -> None:
    """Staging folders of publishes that were killed (their process is gone) are removed."""
    for d in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*"):
        pid = d.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def publish(name: str, config: str | None = None, mode: str = "urls", to: str | None = None, private: bool = False,
            max_shard_size: int | str = "500MB", make_private: bool = False, **options) -> PublishResult:
    """Publish a dataset config as URL-only or processed shards with a license-aware card.

    ``to``: a folder (default ``./artface-hub/<name>``) or ``hf://datasets/<org>/<name>``. Refused
    (``PublishRefused``) when the license policy does not allow ``mode`` (publicly, or with ``private``).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    dest = to or f"artface-hub/{name}"
    cls = builder_class(name)
    check_publish(cls.POLICY, mode, private)  # before any work
    repo_id = dest[len(HUB_PREFIX):].strip("/") if dest.startswith(HUB_PREFIX) else None
    if repo_id:  # visibility and gating before anything is built or committed
        prepare_hub_repo(repo_id, private, cls.POLICY.gated, make_private)
    _clean_stale_staging()
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        staged = Path(tmp)
        hub_config, entry = stage(name, config, mode, dest, private, max_shard_size, staged, **options)
        files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        if repo_id:
            commit, changed = _push_hub(staged, repo_id, entry["data_dir"], f"artface publish {name}/{hub_config} ({mode})")
        else:
            commit, changed = None, _put_local(staged, Path(dest), entry["data_dir"])
    return PublishResult(dest, hub_config, files, commit, changed, entry["splits"])
