"""`artface validate DEST`: read a published folder or Hub repo the way the Hub would.

Checks, against today's Hub facts (``artface.hub_facts``): README YAML parses and uses the Hub's
license and task ids; every config's data_files match files; parquet schemas match dataset_info
features; row counts match the split sizes; shards carry a page index (what keeps the viewer fast
now that it no longer rejects large row groups).
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

import datasets
import fsspec
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from .cards import check_card
from .errors import ArtfaceError

def _fs_and_root(dest: str, revision: str | None) -> tuple[fsspec.AbstractFileSystem, str]:
    if dest.startswith("hf://datasets/"):
        from huggingface_hub import HfFileSystem

        from .publish.hub import revision_path

        return HfFileSystem(), revision_path(dest[len("hf://datasets/"):].strip("/"), revision)
    if revision:
        raise ArtfaceError(f"--revision applies to a Hub repo (hf://datasets/ORG/NAME), not to the folder {dest}")
    return fsspec.filesystem("file"), Path(dest).absolute().as_posix().rstrip("/")  # find() answers absolute paths


def validate(dest: str, revision: str | None = None) -> list[str]:
    """Problems found (empty list: the repo reads as the Hub would read it), at ``revision`` for a Hub repo."""
    fs, root = _fs_and_root(dest, revision)
    readme = f"{root}/README.md"
    if not fs.exists(readme):
        return [f"{dest}: no README.md"]
    text = fs.read_bytes(readme).decode("utf-8")
    problems = check_card(text)
    if problems:
        return problems
    card = DatasetCard(text)
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    files = [p[len(root) + 1:] for p in fs.find(root)]
    for cfg in card.data.to_dict().get("configs", []):
        name = cfg.get("config_name", "default")
        info = infos.get(name)
        if info is None or info.features is None:
            problems.append(f"config {name!r}: no dataset_info features in the card")
            continue
        for entry in cfg.get("data_files", []):
            patterns = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
            matched = sorted(f for f in files for pat in patterns if fnmatch.fnmatch(f, pat))
            split = entry["split"]
            if not matched:
                problems.append(f"config {name!r} split {split!r}: no file matches {patterns}")
                continue
            rows = 0
            for rel in matched:
                # Arrow reads a Python file object on the calling thread only (no pre-buffering, no
                # threads) and lets go of it here: an Arrow thread still inside a Python read when the
                # interpreter exits aborts the process ("terminate called without an active
                # exception", apache/arrow#34314), after the report was printed
                with fs.open(f"{root}/{rel}", "rb") as fh, pq.ParquetFile(fh, pre_buffer=False) as pf:
                    got = datasets.Features.from_arrow_schema(pf.schema_arrow)
                    if got != info.features:
                        diff = sorted(set(got) ^ set(info.features)) or [k for k in got if got[k] != info.features.get(k)]
                        problems.append(f"{rel}: parquet schema differs from dataset_info features ({diff})")
                    rows += pf.metadata.num_rows
                    if "image" not in got and "image_url" in got:  # URL-only: every row must name its image
                        missing = pf.read(columns=["image_url"], use_threads=False).column(0).null_count
                        if missing:
                            problems.append(f"{rel}: URL-only, but {missing} of {pf.metadata.num_rows} rows have no image_url")
                    md = pf.metadata
                    if any(not md.row_group(i).column(j).has_offset_index
                           for i in range(md.num_row_groups) for j in range(md.num_columns)):
                        problems.append(f"{rel}: no parquet page index (the dataset viewer reads pages through it)")
            expected = info.splits[split].num_examples if info.splits and split in info.splits else None
            if expected is not None and rows != expected:
                problems.append(f"config {name!r} split {split!r}: {rows} rows in files, card says {expected}")
    return problems
