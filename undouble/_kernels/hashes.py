"""Batch hash kernels: a serial loop over images, GIL released, plain arrays in and out.

The caller (``undouble.hashes.run_in_threads``) splits a stack into chunks and
runs them on threads: a ``parallel=True`` kernel compiled about 3x slower and
ran its inlined resize 3x slower per image, even on one thread.

Every kernel takes a stack of grey uint8 images (N x H x W) and the
precomputed Lanczos tables of ``undouble.resample.resize_tables`` and returns
the boolean bit grids (N x nbits), flattened row-major.
"""
import numpy as np
from numba import njit

from .color import rgb_to_l
from .resample import resize_plane


@njit(cache=True, nogil=True)
def grey_stack(rgb_stack):
    """Pillow ``convert('L')`` of every image of an N x H x W x C stack."""
    n, h, w = rgb_stack.shape[0], rgb_stack.shape[1], rgb_stack.shape[2]
    out = np.empty((n, h, w), dtype=np.uint8)
    for i in range(n):
        out[i] = rgb_to_l(rgb_stack[i])
    return out


@njit(cache=True)
def ahash_bits(small, out):
    """Bit = pixel > mean, in exact integer form ``p * n_pixels > sum``."""
    n_pixels = small.size
    total = np.int64(0)
    for v in small.ravel():
        total += v
    k = 0
    for v in small.ravel():
        out[k] = np.int64(v) * n_pixels > total
        k += 1


@njit(cache=True, nogil=True)
def ahash_batch(stack, hash_size, row_b, row_c, col_b, col_c, vertical_first):
    """Average hash of each grey image (resize to hash_size x hash_size)."""
    n = stack.shape[0]
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        small = resize_plane(stack[i], row_b, row_c, col_b, col_c, vertical_first)
        ahash_bits(small, out[i])
    return out


@njit(cache=True, nogil=True)
def dhash_batch(stack, hash_size, dy, dx, row_b, row_c, col_b, col_c, vertical_first):
    """Difference hash of each grey image: bit = ``p[y+dy, x+dx] > p[y, x]``.

    ``(dy, dx) = (0, 1)``: ImageHash's dhash (resize to width n+1, height n);
    ``(1, 0)``: dhash_vertical (width n, height n+1).
    """
    n = stack.shape[0]
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        small = resize_plane(stack[i], row_b, row_c, col_b, col_c, vertical_first)
        k = 0
        for y in range(hash_size):
            for x in range(hash_size):
                out[i, k] = small[y + dy, x + dx] > small[y, x]
                k += 1
    return out
