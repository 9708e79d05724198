"""Batch hash kernels: a serial loop over images, GIL released, plain arrays in and out.

The caller (``undouble.hashes.run_in_threads``) splits a stack into chunks and
runs them on threads: a ``parallel=True`` kernel compiled about 3x slower and
ran its inlined resize 3x slower per image, even on one thread.

Every hash kernel takes a stack of uint8 images ``N x H x W x C`` (``C`` = 1
grey, 3 RGB, 4 RGBA; grey stacks are passed as ``stack[..., None]`` so that
each kernel compiles once) and the precomputed Lanczos tables of
``undouble.resample.resize_tables``, and returns the boolean bit grids
(N x nbits), flattened row-major. The Pillow "L" conversion is fused with the
resize (``resample.resize_image``): no grey stack is made, and the work
buffers are allocated once per call.
"""
import numpy as np
from numba import njit

from .color import rgb_to_l
from .resample import resize_image, resize_work


@njit(cache=True, nogil=True)
def grey_stack(rgb_stack):
    """Pillow ``convert('L')`` of every image of an N x H x W x C stack.

    RGB and RGBA stacks are converted in one flat loop over all the pixels of
    the (contiguous; others are copied first) stack, which LLVM vectorises;
    a row-by-row loop is several times slower.
    """
    n, h, w = rgb_stack.shape[0], rgb_stack.shape[1], rgb_stack.shape[2]
    out = np.empty((n, h, w), dtype=np.uint8)
    channels = rgb_stack.shape[3]
    if channels == 3 or channels == 4:
        src = np.ascontiguousarray(rgb_stack).reshape(-1)
        dst = out.reshape(-1)
        if channels == 3:
            for p in range(n * h * w):
                q = 3 * p
                dst[p] = (np.int32(src[q]) * 19595 + np.int32(src[q + 1]) * 38470
                          + np.int32(src[q + 2]) * 7471 + 0x8000) >> 16
        else:
            for p in range(n * h * w):
                q = 4 * p
                dst[p] = (np.int32(src[q]) * 19595 + np.int32(src[q + 1]) * 38470
                          + np.int32(src[q + 2]) * 7471 + 0x8000) >> 16
        return out
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
    """Average hash of each image (grey of the resize to hash_size x hash_size)."""
    n = stack.shape[0]
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        ahash_bits(small, out[i])
    return out


@njit(cache=True, nogil=True)
def dhash_batch(stack, hash_size, dy, dx, row_b, row_c, col_b, col_c, vertical_first):
    """Difference hash of each image: bit = ``p[y+dy, x+dx] > p[y, x]`` (``p``: resized grey).

    ``(dy, dx) = (0, 1)``: ImageHash's dhash (resize to width n+1, height n);
    ``(1, 0)``: dhash_vertical (width n, height n+1).
    """
    n = stack.shape[0]
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        k = 0
        for y in range(hash_size):
            for x in range(hash_size):
                out[i, k] = small[y + dy, x + dx] > small[y, x]
                k += 1
    return out
