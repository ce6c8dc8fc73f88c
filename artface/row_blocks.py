"""Rows searched in blocks on threads, each block with room for its pairs: the driver both Hamming
searches (``hamming_search.exhaustive_pairs``, ``multi_index.pairs_within``) share.

A compiled search writes a block's pairs into arrays it is given and returns how many it found; a
block that finds more than it has room for is searched again with room for all of them, and the
blocks after it start with that room (on sets where most rows have many near neighbours, every
block would otherwise be searched twice).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # i, j, distance


def no_pairs() -> Pairs:
    z = np.zeros(0, np.int64)
    return z, z, z.astype(np.uint8)


def search_blocks(n: int, rows: int, search: Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], int],
                  capacity: int, workers: int | None, bar: dict, advance: Callable[[int, int], int]) -> Pairs:
    """Pairs from ``search(first, last, out_i, out_j, out_d) -> found`` over blocks of ``rows`` rows,
    on ``workers`` threads (default: every core; the searches release the GIL), ordered by i then j.
    ``bar``: tqdm's arguments (total, desc, unit, disable); ``advance(first, last)``: its step when a
    block ends."""
    rooms = [capacity]  # pairs a block's first search has room for

    def block(first: int) -> Pairs:
        last = min(n, first + rows)
        room = rooms[0]
        while True:
            i, j, d = np.empty(room, np.int64), np.empty(room, np.int64), np.empty(room, np.uint8)
            found = search(first, last, i, j, d)
            if found <= room:
                return i[:found], j[:found], d[:found]
            room = rooms[0] = max(rooms[0], found)

    starts = range(0, n, rows)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool, \
            tqdm(unit_scale=True, **bar) as progress:
        parts = []
        for first, part in zip(starts, pool.map(block, starts)):  # in order: the bar moves as the first blocks end
            parts.append(part)
            progress.update(advance(first, min(n, first + rows)))
    if not parts:
        return no_pairs()
    i, j, d = (np.concatenate([p[k] for p in parts]) for k in range(3))
    order = np.lexsort((j, i))  # a block writes tile by tile or chunk by chunk: each row's pairs in column order
    return i[order], j[order], d[order]
