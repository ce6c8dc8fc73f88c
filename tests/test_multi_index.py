"""Multi-index hashing gives exactly the exhaustive search's pairs, however the bits are cut, and the
search is chosen by what each would cost on the hashes at hand."""
from __future__ import annotations

import numpy as np
import pytest

from artface import multi_index
from artface.hamming_search import exhaustive_pairs, pairs_within


def _triples(found) -> list[tuple[int, int, int]]:
    i, j, d = found
    return list(zip(i.tolist(), j.tolist(), d.tolist()))


def _clustered(n: int, seed: int) -> np.ndarray:
    """Hashes in clusters (crowded buckets, as pictures of one kind give), near copies at every
    distance up to 40 bits, flips in both words and across chunk edges, mirrored copies (found only
    by the mirror term) and exact copies."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2**63, size=(40, 4), dtype=np.uint64)
    h = centres[rng.integers(0, 40, n)].copy()
    for row in range(n):
        for b in rng.choice(128, size=int(rng.integers(0, 40)), replace=False).tolist():
            h[row, b // 64] ^= np.uint64(1 << (b % 64))
    mirrored = rng.choice(n, size=(n // 20, 2), replace=False)
    h[mirrored[:, 1]] = h[mirrored[:, 0]][:, [2, 3, 0, 1]]
    h[rng.choice(n, size=30)] = h[7]
    return h


@pytest.mark.parametrize("threshold", [0, 3, 8, 13, 16, 21, 32])
def test_every_cut_of_the_bits_finds_the_exhaustive_pairs(threshold):
    h = _clustered(3000, threshold)
    want = _triples(exhaustive_pairs(h, threshold))
    assert want, "the set has pairs within the threshold"
    for chunks in sorted({multi_index.plan(h, threshold).chunks, 6, 7, 9, threshold + 1, 40}):
        assert _triples(multi_index.pairs_within(h, threshold, chunks=chunks)) == want, chunks


def test_a_pair_found_only_through_the_mirror_and_across_a_chunk_edge():
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2**63, size=(500, 4), dtype=np.uint64)
    h[400, 2:] = h[10, :2]                 # 400's mirror is 10: distance 0 through the mirror term only
    h[400, :2] = ~h[10, :2]
    h[300] = h[20]
    h[300, 0] ^= np.uint64(0b111 << 61)    # bits 61..63 and 64..66: across the words' edge
    h[300, 1] ^= np.uint64(0b111)
    got = _triples(multi_index.pairs_within(h, 6, chunks=7))
    assert (10, 400, 0) in got and (20, 300, 6) in got
    assert got == _triples(exhaustive_pairs(h, 6))


def test_rows_of_many_near_copies_are_searched_again_with_room(monkeypatch):
    monkeypatch.setattr(multi_index, "CAPACITY", 8)
    monkeypatch.setattr(multi_index, "ROWS", 50)
    h = np.repeat(np.random.default_rng(6).integers(0, 2**63, size=(1, 4), dtype=np.uint64), 200, axis=0)
    h[::3, 0] ^= np.uint64(0b101)
    got = _triples(multi_index.pairs_within(h, 4, workers=2))
    assert len(got) == 200 * 199 // 2 and got == _triples(exhaustive_pairs(h, 4))


def test_the_search_is_chosen_by_its_cost_on_the_hashes():
    """On 100,000 spread hashes a small threshold's tables visit a few thousand rows per row (the
    index is chosen), dedup's 32 bits visit more than the exhaustive search's 50,000 pairs per row
    (it is not); both ways give the exhaustive pairs."""
    rng = np.random.default_rng(7)
    h = rng.integers(0, 2**63, size=(100_000, 4), dtype=np.uint64)
    h[99_000:] = h[:1000]
    h[99_000:, 1] ^= np.uint64(0b11)
    small, large = multi_index.plan(h, 8), multi_index.plan(h, 32)
    assert small.pays and small.sub_radius >= 0 and small.cost < 5_000
    assert not large.pays
    got = _triples(pairs_within(h, 8))
    assert len(got) == 1000 and got == _triples(exhaustive_pairs(h, 8))


def test_a_threshold_as_large_as_the_bits_is_left_to_the_exhaustive_search():
    h = np.random.default_rng(8).integers(0, 2**63, size=(300, 4), dtype=np.uint64)
    p = multi_index.plan(h, 128)
    assert not p.pays
    assert _triples(pairs_within(h, 128)) == _triples(exhaustive_pairs(h, 128))
    h[9] = h[5]
    assert _triples(multi_index.pairs_within(h, 20, chunks=500)) == _triples(exhaustive_pairs(h, 20)) == [(5, 9, 0)]
    with pytest.raises(ValueError, match="unknown search method 'faiss'"):
        pairs_within(h, 8, method="faiss")
