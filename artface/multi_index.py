"""Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): every pair within a small radius
without comparing every pair.

The 128 bits of a row's [pHash, dHash] are cut into ``m`` chunks. Two keys within ``r`` bits differ
in at most ``r // m`` bits of one chunk at least (pigeonhole), so each row looks up, in one table per
chunk, the buckets of every chunk value within ``r // m`` bits of its own, and the rows found there
are measured with the exact distance (``popcount.distance``). Each table holds every row twice,
under its key and under its mirror's, so pairs found through the mirror term are found too. The
result is exact: the pairs and distances of the exhaustive search (tested side by side).

It pays only where the radius is small against the chunks: a row costs ``m * C(w, <= r // m)``
lookups (chunks of ``w = 128 / m`` bits) plus the rows in the buckets it looks into, against ``N / 2``
pairs for the exhaustive search. ``plan`` counts both on the hashes themselves (bucket sizes, a
sample of rows), so clustered hashes, whose buckets are crowded, are judged as they are.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .popcount import bit_count, compiled, distance
from .row_blocks import Pairs, no_pairs, search_blocks

BITS = 128            # pHash + dHash
MAX_CHUNK_BITS = 22   # a table's offsets: 2^22 x 4 bytes, so at least 6 chunks (fewer rows: about one
                      # bucket per entry, the width multi-index hashing's analysis finds best)
MAX_SUB_RADIUS = 4    # C(22, <= 4) = 9,109 lookups per chunk and row: beyond that nothing is won
ROWS = 2048           # rows a thread searches per task
CAPACITY = 4096       # pairs a task writes before it is searched again with room for all of them
#: what a search costs, in pairs of the exhaustive search (a streamed, vectorised XOR + popcount:
#: ~1 ns a pair and thread here): a lookup in a table (a random access), a bucket that holds
#: entries (another), an entry read in a bucket's sweep. Fitted on 200k and 1M hashes with
#: benchmarks/bench_dedup.py: within ~1.5x of what a search takes, enough to choose
LOOKUP_COST, BUCKET_COST, ENTRY_COST = 150.0, 150.0, 3.5


@dataclass(frozen=True)
class Plan:
    """How a search over ``n`` rows within ``radius`` would go: ``chunks`` tables, ``sub_radius`` bits
    looked around in each, and the work per row, measured on a sample (``lookups``: table buckets
    visited, ``buckets``: those of them that hold entries, ``candidates``: the entries in them),
    against the exhaustive search's ``n / 2`` pairs."""
    n: int
    radius: int
    chunks: int
    sub_radius: int
    lookups: float
    buckets: float
    candidates: float

    @property
    def cost(self) -> float:
        """Work per row in pairs of the exhaustive search."""
        return self.lookups * LOOKUP_COST + self.buckets * BUCKET_COST + self.candidates * ENTRY_COST

    @property
    def table_bytes(self) -> int:
        """Memory of the tables: every row twice per chunk (row, key: 20 bytes) and the offsets."""
        return sum(2 * self.n * 20 + 4 * ((1 << w) + 1) for _, w in chunk_bounds(self.chunks)) if self.chunks else 0

    @property
    def pays(self) -> bool:
        return self.cost < self.n / 2


def min_chunks(n: int) -> int:
    """The fewest chunks for ``n`` rows: chunks no wider than log2 of the tables' 2n entries."""
    return math.ceil(BITS / min(MAX_CHUNK_BITS, max(8, math.ceil(math.log2(max(2, 2 * n))))))


def chunk_bounds(chunks: int) -> list[tuple[int, int]]:
    """(first bit, width) of each chunk of the 128 bits, as even as they can be."""
    base, extra = divmod(BITS, chunks)
    out, lo = [], 0
    for c in range(chunks):
        w = base + (c < extra)
        out.append((lo, w))
        lo += w
    return out


@compiled(inline="always")
def _bits(p, d, lo, width):
    """Bits ``lo .. lo + width`` of the 128-bit key p | d << 64 (width <= 32)."""
    if lo >= 64:
        v = d >> np.uint64(lo - 64)
    elif lo + width <= 64:
        v = p >> np.uint64(lo)
    else:
        v = (p >> np.uint64(lo)) | (d << np.uint64(64 - lo))
    return np.int64(v & ((np.uint64(1) << np.uint64(width)) - np.uint64(1)))


@compiled
def _chunk_values(p, d, lo, width, out):
    for k in range(p.shape[0]):
        out[k] = _bits(p[k], d[k], lo, width)


def _masks(width: int, sub_radius: int) -> np.ndarray:
    """Every XOR mask of ``width`` bits with at most ``sub_radius`` bits set."""
    out = [0]
    for k in range(1, sub_radius + 1):
        out += [sum(1 << b for b in bits) for bits in itertools.combinations(range(width), k)]
    return np.array(out, np.int64)


@dataclass
class _Tables:
    """One table per chunk, in flat arrays: chunk c's bucket v holds the entries
    ``entry_start[c] + offsets[offset_start[c] + v] .. + offsets[offset_start[c] + v + 1]``, each a row
    and whether it is filed under its mirror's key (``row``: 2 x row + 1 for the mirror's) and that
    key (``key0``, ``key1``), so that a bucket is read in one sweep and a row's hashes are fetched
    only for a hit."""
    lo: np.ndarray
    width: np.ndarray
    offsets: np.ndarray
    offset_start: np.ndarray
    row: np.ndarray
    key0: np.ndarray
    key1: np.ndarray
    entry_start: np.ndarray
    masks: np.ndarray
    mask_start: np.ndarray


@compiled
def _file(vals, offsets, k0, k1, row, key0, key1):
    """Counting sort: entry k (row r = k mod n under its key, or under its mirror's) into its bucket
    as ``2 r`` or ``2 r + 1``. Rows are filed in order, so each bucket is sorted by row and a search
    skips its earlier rows in one bisection."""
    n = vals.shape[0] // 2
    at = offsets[:-1].copy()
    for r in range(n):
        for mirror in range(2):
            k = r + mirror * n
            e = at[vals[k]]
            at[vals[k]] = e + 1
            row[e] = 2 * r + mirror
            key0[e] = k0[k]
            key1[e] = k1[k]


def _tables(h: np.ndarray, chunks: int, sub_radius: int, with_entries: bool = True) -> _Tables:
    """The tables of rows ``h`` (keys and mirrors); ``with_entries=False``: bucket sizes only (``plan``)."""
    n = len(h)
    bounds = chunk_bounds(chunks)
    k0 = np.concatenate([h[:, 0], h[:, 2]]).astype(np.uint64)
    k1 = np.concatenate([h[:, 1], h[:, 3]]).astype(np.uint64)
    size = 2 * n * chunks if with_entries else 0
    row, key0, key1 = np.empty(size, np.int32), np.empty(size, np.uint64), np.empty(size, np.uint64)
    offsets, masks = [], []
    vals = np.empty(2 * n, np.int64)
    for c, (lo, w) in enumerate(bounds):
        _chunk_values(k0, k1, lo, w, vals)
        off = np.zeros((1 << w) + 1, np.int32)
        np.cumsum(np.bincount(vals, minlength=1 << w), out=off[1:])
        offsets.append(off)
        if with_entries:
            part = slice(2 * n * c, 2 * n * (c + 1))
            _file(vals, off, k0, k1, row[part], key0[part], key1[part])
        masks.append(_masks(w, sub_radius))
    starts = lambda parts: np.cumsum([0] + [len(x) for x in parts]).astype(np.int64)  # noqa: E731
    return _Tables(np.array([b[0] for b in bounds], np.int64), np.array([b[1] for b in bounds], np.int64),
                   np.concatenate(offsets), starts(offsets), row, key0, key1,
                   np.arange(chunks + 1, dtype=np.int64) * (2 * n if with_entries else 0), np.concatenate(masks), starts(masks))


@compiled
def _work(p0, p1, rows, lo, width, offsets, offset_start, masks, mask_start):
    """(lookups, buckets with entries, entries of later rows) of the rows ``rows``: what searching
    them would visit (a bucket's later rows estimated as its share (n - i) / n)."""
    n = p0.shape[0]
    lookups = 0
    buckets = 0.0
    candidates = 0.0
    for i in rows:
        later = (n - 1 - i) / n
        for c in range(lo.shape[0]):
            v = _bits(p0[i], p1[i], lo[c], width[c])
            ob = offset_start[c]
            for t in range(mask_start[c], mask_start[c + 1]):
                key = v ^ masks[t]
                size = offsets[ob + key + 1] - offsets[ob + key]
                lookups += 1
                buckets += (size > 0) * later
                candidates += size * later
    return lookups, buckets, candidates


@compiled(inline="always")
def _bucket_hits(a0, a1, k0, k1, limit):
    """Entries of a bucket's later rows (slices from 0: the loop vectorises) within ``limit`` of
    key (a0, a1), counted without a branch."""
    c = 0
    for k in range(k0.shape[0]):
        c += bit_count(a0 ^ k0[k]) + bit_count(a1 ^ k1[k]) <= limit
    return c


@compiled(inline="always")
def _found_before(x0, x1, c, lo, width, sub, mirror, a0, a1, b0, b1, limit):
    """Whether a hit (key difference x0, x1 in chunk c) is one the search also makes elsewhere and
    counts there: in an earlier chunk within ``sub`` bits of the same key, or, for a hit through
    the mirror's key, through the row's own key (within ``limit``: some chunk finds it)."""
    for c2 in range(c):
        if bit_count(np.uint64(_bits(x0, x1, lo[c2], width[c2]))) <= sub:
            return True
    return mirror == 1 and bit_count(a0 ^ b0) + bit_count(a1 ^ b1) <= limit


@compiled
def _search_rows(p0, p1, m0, m1, limit, sub, first, last, lo, width, offsets, offset_start, row, key0, key1,
                 entry_start, masks, mask_start, out_i, out_j, out_d):
    """Pairs (i, j), first <= i < last, i < j, within ``limit``, written to out_* while they fit;
    returns how many there are. A pair near in several chunks, or by its key and its mirror's, is
    counted once: where the search meets it first (``_found_before``)."""
    found = 0
    room = out_i.shape[0]
    for i in range(first, last):
        a0 = p0[i]
        a1 = p1[i]
        for c in range(lo.shape[0]):
            v = _bits(a0, a1, lo[c], width[c])
            ob = offset_start[c]
            eb = entry_start[c]
            for t in range(mask_start[c], mask_start[c + 1]):
                key = v ^ masks[t]
                s = eb + offsets[ob + key]
                e = eb + offsets[ob + key + 1]
                if s == e or row[e - 1] <= 2 * i + 1:
                    continue
                s += np.searchsorted(row[s:e], 2 * i + 1, side="right")  # the bucket's rows after i
                if _bucket_hits(a0, a1, key0[s:e], key1[s:e], limit) == 0:
                    continue
                for k in range(s, e):  # rare: write the hits
                    j = row[k] >> 1
                    x0 = a0 ^ key0[k]
                    x1 = a1 ^ key1[k]
                    if bit_count(x0) + bit_count(x1) <= limit and not _found_before(
                            x0, x1, c, lo, width, sub, row[k] & 1, a0, a1, p0[j], p1[j], limit):
                        if found < room:
                            out_i[found] = i
                            out_j[found] = j
                            out_d[found] = distance(a0, a1, p0[j], p1[j], m0[j], m1[j])
                        found += 1
    return found


def plan(h: np.ndarray, radius: int, sample: int = 512, seed: int = 0) -> Plan:
    """The cheapest way to cut the bits for this radius, measured on a sample of ``h``'s rows:
    for each sub-radius s, the fewest chunks whose pigeonhole gives s (wider chunks: fuller
    tables are fewer and their buckets emptier)."""
    n = len(h)
    p0, p1 = (np.ascontiguousarray(h[:, k], dtype=np.uint64) for k in range(2))
    rows = np.random.default_rng(seed).choice(n, size=min(n, sample), replace=False) if n else np.zeros(0, np.int64)
    best = None
    for s in range(MAX_SUB_RADIUS + 1):
        chunks = max(min_chunks(n), radius // (s + 1) + 1)
        if radius // chunks != s or chunks > BITS:
            continue  # the chunk cap already gives a smaller sub-radius
        t = _tables(h, chunks, s, with_entries=False)
        work = _work(p0, p1, rows, t.lo, t.width, t.offsets, t.offset_start, t.masks, t.mask_start)
        option = Plan(n, radius, chunks, s, *(w / max(1, len(rows)) for w in work))
        if best is None or option.cost < best.cost:
            best = option
    if best is None:  # a radius so large that no chunking gives a sub-radius we look around in
        return Plan(n, radius, 0, -1, math.inf, math.inf, math.inf)
    return best


def pairs_within(h: np.ndarray, threshold: int, chunks: int | None = None, workers: int | None = None,
                 progress: bool = False) -> Pairs:
    """All pairs i < j of ``h`` (N, 4) with distance <= threshold: (i, j, distance), ordered by i then
    j, as ``hamming_search.exhaustive_pairs`` gives them. ``chunks``: how to cut the bits (default:
    ``plan``'s choice); ``progress``: a bar of rows searched, with its total."""
    n = len(h)
    if threshold < 0 or n < 2:
        return no_pairs()
    if chunks is None:
        chunks = plan(h, threshold).chunks
    chunks = min(BITS, max(chunks, min_chunks(n)))  # no chunk narrower than a bit
    sub = threshold // chunks
    t = _tables(h, chunks, sub)
    p0, p1, m0, m1 = (np.ascontiguousarray(h[:, k], dtype=np.uint64) for k in range(4))
    limit = np.uint64(threshold)

    def search(first: int, last: int, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> int:
        return _search_rows(p0, p1, m0, m1, limit, sub, first, last, t.lo, t.width, t.offsets, t.offset_start,
                            t.row, t.key0, t.key1, t.entry_start, t.masks, t.mask_start, i, j, d)

    bar = dict(total=n, desc="hashes searched", unit="hash", disable=not progress)
    return search_blocks(n, ROWS, search, CAPACITY, workers, bar, lambda first, last: last - first)
