"""Dedup on hashes: identical copies as one group without the quadratic pair list, and the same
groups as the exact all-pairs search."""
from __future__ import annotations

import numpy as np

from artface import multi_index
from artface.dedup import THRESHOLD, groups, near_duplicates
from artface.hamming_search import exhaustive_pairs, pairs_within
from artface.testing.hamming import numpy_pairs_within


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
    i, j, _ = pairs_within(h, THRESHOLD)
    exact = groups(len(h), i, j)
    assert _partition(near_duplicates(h)[3]) == _partition(exact)


def test_the_tiled_search_finds_exactly_the_pairs_of_a_plain_all_pairs_loop():
    """Tiles and threads change nothing: the same pairs, distances and order as a plain loop over all
    pairs, with pairs planted at the threshold, one over it, mirrored, and across tile edges."""
    rng = np.random.default_rng(2)
    h = rng.integers(0, 2**63, size=(700, 4), dtype=np.uint64)
    bits = lambda k: np.uint64((1 << k) - 1)  # noqa: E731
    for a, b, k in [(3, 650, 32), (10, 11, 33), (255, 256, 20), (99, 600, 0), (400, 401, 31)]:
        h[b, 0], h[b, 1] = h[a, 0] ^ bits(min(k, 40)), h[a, 1] ^ (bits(k - 40) if k > 40 else np.uint64(0))
        h[b, 2], h[b, 3] = ~h[b, 0], ~h[b, 1]  # its mirror far from everything
    h[123] = h[77][[2, 3, 0, 1]]  # a mirrored copy: its hashes are the mirror's and the mirror's are its own
    pc = lambda x: bin(int(x)).count("1")  # noqa: E731
    want = []
    for i in range(len(h)):
        for j in range(i + 1, len(h)):
            d = min(pc(h[i, 0] ^ h[j, 0]) + pc(h[i, 1] ^ h[j, 1]), pc(h[i, 0] ^ h[j, 2]) + pc(h[i, 1] ^ h[j, 3]))
            if d <= 32:
                want.append((i, j, d))
    for rows, cols, workers in [(64, 512, None), (64, 100, 3), (1, 7, 1), (700, 700, 1)]:
        i, j, d = exhaustive_pairs(h, 32, rows=rows, cols=cols, workers=workers)
        assert list(zip(i.tolist(), j.tolist(), d.tolist())) == want
    assert {(3, 650, 32), (255, 256, 20), (99, 600, 0), (400, 401, 31), (77, 123, 0)} <= set(want)
    assert not any((a, b) == (10, 11) for a, b, _ in want)


def test_50k_hashes_give_the_pairs_and_groups_of_the_numpy_search():
    """50,000 hashes with planted near copies (single, mirrored, and a cluster of 300 near copies of one
    picture, so that one row block finds more pairs than it first has room for): the compiled search
    returns exactly numpy's pairs and distances, in (i, j) order, and the same groups; so does the
    multi-index search, chosen (threshold 8) or forced (0, 16, 32)."""
    rng = np.random.default_rng(3)
    n = 50_000
    h = rng.integers(0, 2**63, size=(n, 4), dtype=np.uint64) | (rng.integers(0, 2, size=(n, 4), dtype=np.uint64) << np.uint64(63))
    def near(src: np.ndarray, k: int) -> np.ndarray:
        flip = np.uint64(0)
        for b in rng.choice(128, size=k, replace=False).tolist():
            flip = flip | np.uint64(1 << (b % 64)) if b < 64 else flip
        out = src.copy()
        out[0] ^= flip
        return out
    picks = rng.choice(n, size=2_000, replace=False)
    for a, b in zip(picks[::2], picks[1::2]):
        h[b] = near(h[a], int(rng.integers(0, 40)))
    for a, b in zip(picks[:200:2], picks[1:200:2]):
        h[b] = h[a][[2, 3, 0, 1]]  # mirrored copies
    cluster = rng.choice(np.setdiff1d(np.arange(n), picks), size=300, replace=False)
    for c in cluster:
        h[c] = near(h[cluster[0]], int(rng.integers(0, 12)))
    want = numpy_pairs_within(h, THRESHOLD)
    for method in ("auto", "exhaustive", "multi_index"):
        i, j, d = pairs_within(h, THRESHOLD, method=method)
        assert list(zip(i.tolist(), j.tolist(), d.tolist())) == want, method
    assert multi_index.plan(h, 8).pays  # a threshold where the index is chosen on 50k hashes
    for t in (0, 8, 16):  # the oracle's pairs within t, either way
        for method in ("auto", "multi_index"):
            i, j, d = pairs_within(h, t, method=method)
            assert list(zip(i.tolist(), j.tolist(), d.tolist())) == [p for p in want if p[2] <= t], (t, method)
    assert len(want) > 300 * 299 // 2 + 500, "the planted pairs are there"
    assert _partition(near_duplicates(h)[3]) == _partition(groups(n, np.array([a for a, _, _ in want]),
                                                                   np.array([b for _, b, _ in want])))
    small = [p for p in want if p[2] <= 8]  # dedup at a threshold the multi-index search takes
    assert _partition(near_duplicates(h, 8)[3]) == _partition(groups(n, np.array([a for a, _, _ in small]),
                                                                      np.array([b for _, b, _ in small])))


def test_the_search_compiles_where_numba_has_nowhere_to_cache(monkeypatch):
    """A read-only install with no writable home: numba finds no place for its cache (no locator
    applies) and would refuse to define a cached function; the search is compiled without one."""
    from numba.core import caching

    from artface import hamming_search, popcount

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (renamed in numba 0.6x)
    monkeypatch.setattr(impl, "_locator_classes", [])  # what numba sees on such a machine
    search = popcount.compiled(hamming_search._search_block.py_func)
    h = np.random.default_rng(4).integers(0, 2**63, size=(300, 4), dtype=np.uint64)
    h[7] = h[3]
    cols = [np.ascontiguousarray(h[:, k]) for k in range(4)]
    out = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.uint8)
    found = search(*cols, np.uint64(32), 0, 300, 512, *out)
    assert found >= 1 and (3, 7, 0) in set(zip(out[0][:found].tolist(), out[1][:found].tolist(), out[2][:found].tolist()))
