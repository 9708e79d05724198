"""Pillow-exact Lanczos resampling of 8-bit images (integer passes).

The coefficient tables are computed on the host (``undouble.resize``); these
kernels only apply them. Each pass rounds to uint8 before the next, exactly
as Pillow's 8-bit resampler does.
"""
import numpy as np
from numba import njit

PRECISION_BITS = 22  # 32 - 8 - 2, as in Pillow's 8-bit resampler


@njit(cache=True)
def resample_rows(src, bounds, coeffs):
    """Horizontal pass: resample every row of a 2-D uint8 array.

    ``bounds[o] = (xmin, count)`` and ``coeffs[o, :count]`` are the integer
    taps of output column ``o``.
    """
    height = src.shape[0]
    width_out = bounds.shape[0]
    out = np.empty((height, width_out), dtype=np.uint8)
    half = np.int64(1) << (PRECISION_BITS - 1)
    for y in range(height):
        for o in range(width_out):
            xmin = bounds[o, 0]
            acc = half
            for t in range(bounds[o, 1]):
                acc += np.int64(src[y, xmin + t]) * coeffs[o, t]
            acc >>= PRECISION_BITS
            if acc < 0:
                acc = 0
            elif acc > 255:
                acc = 255
            out[y, o] = acc
    return out


@njit(cache=True)
def resample_cols(src, bounds, coeffs):
    """Vertical pass: resample every column of a 2-D uint8 array."""
    width = src.shape[1]
    height_out = bounds.shape[0]
    out = np.empty((height_out, width), dtype=np.uint8)
    half = np.int64(1) << (PRECISION_BITS - 1)
    for o in range(height_out):
        ymin = bounds[o, 0]
        count = bounds[o, 1]
        for x in range(width):
            acc = half
            for t in range(count):
                acc += np.int64(src[ymin + t, x]) * coeffs[o, t]
            acc >>= PRECISION_BITS
            if acc < 0:
                acc = 0
            elif acc > 255:
                acc = 255
            out[o, x] = acc
    return out


@njit(cache=True)
def resize_plane(src, row_bounds, row_coeffs, col_bounds, col_coeffs, vertical_first):
    """Resize one 2-D uint8 plane with precomputed tables.

    ``row_*`` tables describe the horizontal pass (empty when the width does
    not change), ``col_*`` the vertical pass (empty when the height does not
    change). ``vertical_first`` follows Pillow 13's pass-order rule.
    """
    do_rows = row_bounds.shape[0] > 0
    do_cols = col_bounds.shape[0] > 0
    if vertical_first:
        tmp = resample_cols(src, col_bounds, col_coeffs) if do_cols else src.copy()
        return resample_rows(tmp, row_bounds, row_coeffs) if do_rows else tmp
    tmp = resample_rows(src, row_bounds, row_coeffs) if do_rows else src.copy()
    return resample_cols(tmp, col_bounds, col_coeffs) if do_cols else tmp
