"""Exact Hamming search over dedup's hashes: every pair within a threshold, compiled.

The distance is ``popcount.distance``'s. Two searches, both exact, chosen per call by what they
would cost on the hashes at hand (``pairs_within``):

- ``exhaustive_pairs``, every pair: at dedup's default threshold, 32 of 128 bits (a quarter of
  them), multi-index hashing's pigeonhole needs chunks of under 4 bits, and metric trees do not
  prune when every distance is 64 +- 6 and the radius 32, so no index visits fewer pairs than all
  of them. What is left is making each pair cheap: a numba kernel of XOR + popcount that the
  compiler turns into vector popcounts (AVX-512 VPOPCNTQ where the CPU has it), over tiles of 64
  rows x 512 columns that stay in L1, rows spread over threads (the kernel releases the GIL);
- ``multi_index.pairs_within``, sub-quadratic, where the threshold is small enough for its tables
  to pay (about 16 bits and under on a million hashes).

Measured in ``benchmarks/bench_dedup.py``.

The kernel only counts a tile's hits (a vector reduction); a tile with any is scanned again, one
pair at a time, to write them: duplicates are rare, so this costs nothing in the common case and
keeps the hot loop free of branches.
"""
from __future__ import annotations

import numpy as np

from . import multi_index
from .popcount import compiled, distance
from .row_blocks import Pairs, no_pairs, search_blocks

ROWS = 64     # rows of a tile: one task of a thread, and the rows that reuse a tile of columns from L1
COLS = 512    # columns of a tile: 4 x 512 x 8 bytes = 16 KiB, half of L1
CAPACITY = 1024  # hits a row block writes before it is searched again with room for all of them


@compiled(inline="always")
def _count(a0, a1, q0, q1, r0, r1, limit):
    """Hits of one row against one tile of columns (slices starting at 0, so that no index can be
    negative and the loop vectorises without gathers)."""
    c = 0
    for j in range(q0.shape[0]):
        c += distance(a0, a1, q0[j], q1[j], r0[j], r1[j]) <= limit
    return c


@compiled
def _search_block(p0, p1, m0, m1, limit, lo, hi, cols, out_i, out_j, out_d):
    """Pairs (i, j), lo <= i < hi, i < j, within ``limit``: written to out_* while they fit; returns
    how many there are (more than len(out_i): the caller searches again with room for all)."""
    n = p0.shape[0]
    found = 0
    room = out_i.shape[0]
    for first in range(lo, n, cols):
        last = min(n, first + cols)
        for i in range(lo, hi):
            s = max(first, i + 1)
            if s >= last:
                continue
            a0 = p0[i]
            a1 = p1[i]
            if _count(a0, a1, p0[s:last], p1[s:last], m0[s:last], m1[s:last], limit) == 0:
                continue
            for j in range(s, last):
                d = distance(a0, a1, p0[j], p1[j], m0[j], m1[j])
                if d <= limit:
                    if found < room:
                        out_i[found] = i
                        out_j[found] = j
                        out_d[found] = d
                    found += 1
    return found


def exhaustive_pairs(h: np.ndarray, threshold: int, rows: int = ROWS, cols: int = COLS,
                     workers: int | None = None, progress: bool = False) -> Pairs:
    """All pairs i < j of ``h`` (N, 4) with distance <= threshold, every pair compared: (i, j,
    distance), ordered by i then j. Exact; memory is the hashes plus the pairs found. Row blocks are spread over ``workers``
    threads (default: every core); ``progress``: a bar of pairs compared, with its total."""
    n = len(h)
    p0, p1, m0, m1 = (np.ascontiguousarray(h[:, k], dtype=np.uint64) for k in range(4))
    limit = np.uint64(max(0, threshold))
    if threshold < 0 or n < 2:
        return no_pairs()

    def search(lo: int, hi: int, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> int:
        return _search_block(p0, p1, m0, m1, limit, lo, hi, cols, i, j, d)

    def advance(lo: int, hi: int) -> int:  # the block's pairs: its rows against the later rows, and among themselves
        return (hi - lo) * (n - hi) + (hi - lo) * (hi - lo - 1) // 2

    bar = dict(total=n * (n - 1) // 2, desc="pairs compared", unit="pair", disable=not progress)
    return search_blocks(n, rows, search, CAPACITY, workers, bar, advance)


METHODS = ("auto", "exhaustive", "multi_index")


def pairs_within(h: np.ndarray, threshold: int, method: str = "auto", workers: int | None = None,
                 progress: bool = False) -> Pairs:
    """All pairs i < j of ``h`` within ``threshold`` (i, j, distance; ordered by i then j), by the
    search that costs less on these hashes: multi-index hashing where ``multi_index.plan`` says it
    visits fewer rows than there are pairs (small thresholds), every pair otherwise. Both are exact
    and give the same result; ``method`` forces one."""
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r} (one of {', '.join(METHODS)})")
    chunks = None
    if method == "auto" and len(h) >= 2 and threshold >= 0:
        plan = multi_index.plan(h, threshold)
        method, chunks = ("multi_index", plan.chunks) if plan.pays else ("exhaustive", None)
    if method == "multi_index":
        return multi_index.pairs_within(h, threshold, chunks=chunks, workers=workers, progress=progress)
    return exhaustive_pairs(h, threshold, workers=workers, progress=progress)
