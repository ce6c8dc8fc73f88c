"""The distance of two dedup hash rows, compiled: what every Hamming search of artface computes.

A hash row is [pHash, dHash, pHash of the mirror, dHash of the mirror] (uint64 each); the distance
of rows a and b (a before b) is min(|a.p ^ b.p| + |a.d ^ b.d|, |a.p ^ b.pm| + |a.d ^ b.dm|), 0..128
bits. The mirror term compares a with b's mirror, not a's mirror with b: for real images the two
differ by a few bits (a mirrored picture's pHash is not exactly a permutation of its bits), and
computing both would cost half as much again, so a pair is always measured in its rows' order.
"""
from __future__ import annotations

from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def bit_count(typingctx, x):
    """LLVM's ctpop: numba has no popcount of its own; this one vectorises to VPOPCNTQ."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


def compiled(fn=None, **options):
    """numba's njit with its on-disk cache (compiled once per machine, ~1.5 s), or without it where
    numba finds no writable place for one (a read-only install and no writable home: numba would
    refuse to define the function at all)."""
    if fn is None:
        return lambda f: compiled(f, **options)
    flags = dict(fastmath=True, boundscheck=False, nogil=True, **options)
    try:
        return njit(cache=True, **flags)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(**flags)(fn)


@compiled(inline="always")
def distance(a0, a1, b0, b1, m0, m1):
    """Rows a = (a0, a1) and b = (b0, b1) with b's mirror (m0, m1): see the module's docstring."""
    return min(bit_count(a0 ^ b0) + bit_count(a1 ^ b1), bit_count(a0 ^ m0) + bit_count(a1 ^ m1))
