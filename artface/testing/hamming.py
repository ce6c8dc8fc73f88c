"""The exact Hamming search in plain numpy: what the compiled search is checked and timed against."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def numpy_pairs_within(h: np.ndarray, threshold: int) -> list[tuple[int, int, int]]:
    """Dedup's search as numpy spells it (the code artface.hamming_search's kernel replaced): tiles of
    rows against the columns after them, on two threads. The tests' oracle and the benchmark's
    baseline; (i, j, distance) sorted."""
    p0, p1, m0, m1 = (np.ascontiguousarray(h[:, k]) for k in range(4))
    n, rows, cols = len(h), 256, 4096

    def block(start: int) -> list[tuple[int, int, int]]:
        x = np.empty((rows, cols), np.uint64)
        d, e = np.empty((rows, cols), np.uint8), np.empty((rows, cols), np.uint8)
        a0, a1 = p0[start:start + rows, None], p1[start:start + rows, None]
        found = []
        for first in range(start, n, cols):
            r, w = len(a0), min(cols, n - first)
            xv, dv, ev = x[:r, :w], d[:r, :w], e[:r, :w]
            np.bitwise_count(np.bitwise_xor(a0, p0[None, first:first + w], out=xv), out=dv)
            dv += np.bitwise_count(np.bitwise_xor(a1, p1[None, first:first + w], out=xv))
            np.bitwise_count(np.bitwise_xor(a0, m0[None, first:first + w], out=xv), out=ev)
            ev += np.bitwise_count(np.bitwise_xor(a1, m1[None, first:first + w], out=xv))
            np.minimum(dv, ev, out=dv)
            ii, jj = np.nonzero(dv <= threshold)
            keep = jj + first > ii + start
            found += zip((ii[keep] + start).tolist(), (jj[keep] + first).tolist(), dv[ii[keep], jj[keep]].tolist())
        return found

    with ThreadPoolExecutor(2) as pool:  # numpy releases the GIL
        out = [pair for part in pool.map(block, range(0, n, rows)) for pair in part]
    return sorted(out)
