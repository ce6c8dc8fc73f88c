"""Near-duplicates within and across datasets: perceptual hashes, exact Hamming search, a report.

Each image gets a 64-bit pHash and a 64-bit dHash (``imagehash``), of itself and of its mirror
image; the distance of two images is the smaller of (pHash + dHash bits that differ) between them
and between one and the other's mirror (0..128), so a mirrored copy is found too
(``popcount.distance``). The search is exact, by whichever of two searches costs less on the hashes
(``hamming_search.pairs_within``): every pair compared at the default threshold, a multi-index hash
table at small thresholds.
Images are hashed as the builds' rows stream by; only the hashes are kept.
``THRESHOLD`` was chosen with ``benchmarks/bench_dedup.py`` (planted copies re-encoded, resized,
recoloured, cropped, mirrored vs distinct pictures).
"""
from __future__ import annotations

import functools
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: pairs at or under this distance (of 128 bits) are reported as near-duplicates. Measured with
#: benchmarks/bench_dedup.py: every planted copy (JPEG q40, half size and back, sepia, 4% crop, mirror)
#: within 32 of its original, the closest distinct pictures 44 apart. Aligned faces of different people
#: share their layout and may be closer than distinct pictures: check the contact sheet.
THRESHOLD = 32
BUILDS_NAME = "builds.json"  # dataset -> build folder, so that `artface show --dedup` can find both images


def _bits(h) -> np.uint64:
    return np.uint64(int(str(h), 16))


def image_hashes(img: Image.Image) -> np.ndarray:
    """[pHash, dHash, pHash of the mirror, dHash of the mirror] as uint64."""
    import imagehash

    img = img.convert("RGB")
    mirror = ImageOps.mirror(img)
    return np.array([_bits(imagehash.phash(img)), _bits(imagehash.dhash(img)),
                     _bits(imagehash.phash(mirror)), _bits(imagehash.dhash(mirror))], dtype=np.uint64)


def groups(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of the duplicate pairs (union-find); a group id per image."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(x) for x in range(n)])


def near_duplicates(h: np.ndarray, threshold: int = THRESHOLD, progress: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance, group per image). Images with identical hashes are searched once and listed
    as a star (each copy paired with the group's first image, distance 0), not as every pair of
    copies: 8,000 copies of one picture are 7,999 pairs and one group, not 32 million pairs."""
    from .hamming_search import pairs_within  # numba: loaded by the commands that search, not by `artface show`

    if not len(h):
        z = np.zeros(0, np.int64)
        return z, z, z, z
    uniq, first, inverse = np.unique(h, axis=0, return_index=True, return_inverse=True)
    # distinct rows in the order of their first image, so that each pair is searched in the images'
    # order (the distance's mirror term is not symmetric: hamming_search) and the result is the same
    # as a search over every image
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    uniq, first, inverse = uniq[order], first[order], rank[inverse.reshape(-1)]
    ui, uj, ud = pairs_within(uniq, threshold, progress=progress)
    rep = first  # the first image of each distinct hash row
    copies = np.nonzero(rep[inverse] != np.arange(len(h)))[0]
    i = np.concatenate([rep[ui], rep[inverse[copies]]])
    j = np.concatenate([rep[uj], copies])
    d = np.concatenate([ud, np.zeros(len(copies), ud.dtype if len(ud) else np.int64)])
    g_unique = groups(len(uniq), ui, uj)
    group = rep[g_unique][inverse]  # group id: the first image of the group's first distinct hash
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return lo, hi, d, group


@dataclass
class Item:
    dataset: str
    id: str
    split: str
    folder: str = ""  # the build it is in, and its row there: where its image is read again
    row: int = -1


def report(items: list[Item], hashes: np.ndarray, out: Path, threshold: int = THRESHOLD, progress: bool = False) -> dict:
    """Write duplicates.parquet (one row per pair), groups.parquet, summary.json and the closest pairs'
    contact sheet (contact_sheet.png) to ``out``; returns the summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    i, j, d, g = near_duplicates(hashes, threshold, progress)
    order = np.argsort(d, kind="stable")
    i, j, d = i[order], j[order], d[order]
    cols = {"dataset_a": [items[k].dataset for k in i], "id_a": [items[k].id for k in i], "split_a": [items[k].split for k in i],
            "dataset_b": [items[k].dataset for k in j], "id_b": [items[k].id for k in j], "split_b": [items[k].split for k in j],
            "distance": d.astype(np.int32).tolist()}
    pq.write_table(pa.table(cols), out / "duplicates.parquet")
    sizes = Counter(g.tolist())
    pq.write_table(pa.table({"dataset": [it.dataset for it in items], "id": [it.id for it in items],
                             "split": [it.split for it in items], "dup_group": g.tolist(),
                             "group_size": [sizes[x] for x in g.tolist()]}), out / "groups.parquet")
    kinds: Counter = Counter()
    for a, b in zip(i.tolist(), j.tolist()):
        x, y = items[a], items[b]
        if x.dataset != y.dataset:
            kinds["across_datasets"] += 1
        elif x.split != y.split:
            kinds["across_splits (leakage)"] += 1
        else:
            kinds["within_split"] += 1
    summary = {"images": len(items), "pairs": int(len(d)), "threshold_bits_of_128": threshold,
               "groups_with_duplicates": sum(1 for s in sizes.values() if s > 1), **dict(kinds),
               "by_dataset": dict(Counter(it.dataset for it in items))}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if len(d):
        name = lambda k: f"{items[k].dataset}/{items[k].id} ({items[k].split})"[:44]  # noqa: E731
        contact_sheet([(image_bytes(items[a]), image_bytes(items[b]), int(dist)) for a, b, dist in zip(i[:24], j[:24], d[:24])],
                      labels=[(name(a), name(b)) for a, b in zip(i[:24], j[:24])]).save(out / "contact_sheet.png")
    return summary


def contact_sheet(pairs: list[tuple[bytes, bytes, int]], cell: int = 128,
                  labels: list[tuple[str, str]] | None = None) -> Image.Image:
    """The closest pairs side by side, one pair per row, each image labelled (dataset/id, split) and
    the pair's distance, for a person to check."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    text_w = 300 if labels else 60
    sheet = Image.new("RGB", (cell * 2 + text_w, cell * len(pairs)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (a, b, dist) in enumerate(pairs):
        for c, data in enumerate((a, b)):
            with Image.open(io.BytesIO(data)) as im:
                sheet.paste(im.convert("RGB").resize((cell, cell)), (c * cell, r * cell))
        y = r * cell + 8
        draw.text((cell * 2 + 8, y), f"distance {dist} of 128 bits", fill="black", font=font)
        if labels:
            draw.text((cell * 2 + 8, y + 22), f"left:  {labels[r][0]}", fill="black", font=font)
            draw.text((cell * 2 + 8, y + 40), f"right: {labels[r][1]}", fill="black", font=font)
    return sheet


def collect(builds: list, workers: int = 2, progress: bool = False) -> tuple[list[Item], np.ndarray]:
    """Items and hashes of finished builds (``artface.build.Build``), hashed as the rows stream by:
    only the hashes are kept (16 bytes a side), never the images, so memory does not grow with them.
    ``progress``: a bar of images hashed, with the builds' row count as its total."""
    import datasets
    from tqdm.auto import tqdm

    from .errors import ArtfaceError
    from .fetch import ordered_map

    def rows():
        for b in builds:
            if not b.kind.pixels:
                raise ArtfaceError(f"dedup compares pixels: {b.dataset_name}/{b.config_name} has none "
                                   f"(use an aligned or original config)")
            for split, ds in b.datasets().items():
                for n, row in enumerate(ds.cast_column("image", datasets.Image(decode=False))):
                    yield Item(b.dataset_name, row["id"], split, str(b.folder), n), row["image"]["bytes"]

    def one(item_and_bytes: tuple[Item, bytes]) -> tuple[Item, np.ndarray]:
        item, data = item_and_bytes
        with Image.open(io.BytesIO(data)) as im:
            return item, image_hashes(im)

    items: list[Item] = []
    hashes: list[np.ndarray] = []
    total = sum(b.num_rows() for b in builds)
    with tqdm(total=total, desc="images hashed", unit="img", disable=not progress) as bar:
        for item, h in ordered_map(one, rows(), workers=workers):  # a bounded window of images in flight
            items.append(item)
            hashes.append(h)
            bar.update(1)
    return items, (np.stack(hashes) if hashes else np.zeros((0, 4), np.uint64))


def image_bytes(item: Item) -> bytes:
    """The published image of one item, read again from its build (for the contact sheet)."""
    return _split_images(item.folder, item.split)[item.row]["image"]["bytes"]


@functools.lru_cache(maxsize=16)
def _split_images(folder: str, split: str):
    """A build split with undecoded images, opened once for all the contact sheet's pairs."""
    import datasets

    from .build import Build

    return Build.open(folder).dataset(split).cast_column("image", datasets.Image(decode=False))


def dedup(builds: list, out: Path, threshold: int = THRESHOLD, workers: int = 2, progress: bool = False) -> dict:
    """Near-duplicates across finished builds (a build named twice is read once); writes the report to
    ``out``. ``progress``: bars of images hashed and pairs compared."""
    builds = list({b.folder: b for b in builds}.values())
    items, hashes = collect(builds, workers, progress)
    summary = report(items, hashes, Path(out), threshold, progress)
    (Path(out) / BUILDS_NAME).write_text(json.dumps({b.dataset_name: str(b.folder) for b in builds}, indent=1))
    return summary
