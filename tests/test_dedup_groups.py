"""Dedup on hashes: identical copies as one group without the quadratic pair list, and the same
groups as the exact all-pairs search."""
from __future__ import annotations

import numpy as np

from artface.dedup import groups, near_duplicates, pairs_within


def _partition(g: np.ndarray) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for k, x in enumerate(g.tolist()):
        out.setdefault(x, set()).add(k)
    return {frozenset(v) for v in out.values()}


def test_identical_copies_are_a_star_not_every_pair():
    rng = np.random.default_rng(0)
    distinct = rng.integers(0, 2**63, size=(50, 4), dtype=np.uint64)
    copies = np.repeat(distinct[:1], 3000, axis=0)  # 3,000 copies of one picture
    h = np.concatenate([distinct, copies])
    i, j, d, g = near_duplicates(h)
    assert len(i) == 3000 and set(d.tolist()) == {0}, "one pair per copy, not 4.5 million"
    assert len(set(g[[0, *range(50, 3050)]].tolist())) == 1
    assert len(set(g.tolist())) == 50


def test_groups_equal_the_exact_all_pairs_search():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, size=(400, 4), dtype=np.uint64)
    flips = base.copy()
    for k in range(0, 400, 7):  # near copies: a few bits flipped
        flips[k, 0] ^= np.uint64(0b1011)
    h = np.concatenate([base, flips[::7], np.repeat(base[5:6], 20, axis=0)])
    i, j, _ = pairs_within(h)
    exact = groups(len(h), i, j)
    assert _partition(near_duplicates(h)[3]) == _partition(exact)
