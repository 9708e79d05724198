"""Packing boolean hash grids into uint64 words (MSB first) and back."""
import numpy as np
from numba import njit


@njit(cache=True)
def pack_row(bits, out):
    """Pack a flat boolean array into ``out`` (uint64 words, MSB first)."""
    for w in range(out.shape[0]):
        out[w] = 0
    for k in range(bits.shape[0]):
        if bits[k]:
            out[k >> 6] |= np.uint64(1) << np.uint64(63 - (k & 63))


@njit(cache=True)
def pack_rows(bits):
    """Pack an N x nbits boolean array into N x ceil(nbits/64) uint64 words."""
    n, nbits = bits.shape
    words = (nbits + 63) // 64
    out = np.zeros((n, words), dtype=np.uint64)
    for i in range(n):
        pack_row(bits[i], out[i])
    return out


@njit(cache=True)
def unpack_rows(packed, nbits):
    """Inverse of :func:`pack_rows`."""
    n = packed.shape[0]
    out = np.zeros((n, nbits), dtype=np.bool_)
    for i in range(n):
        for k in range(nbits):
            out[i, k] = (packed[i, k >> 6] >> np.uint64(63 - (k & 63))) & np.uint64(1)
    return out
