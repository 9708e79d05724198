"""Pillow-exact Lanczos resampling of 8-bit images (integer passes).

The coefficient tables are computed on the host (``undouble.resize``); these
kernels only apply them. Each pass rounds to uint8 before the next, exactly
as Pillow's 8-bit resampler does.
"""
import math

import numpy as np
from numba import njit

PRECISION_BITS = 22  # 32 - 8 - 2, as in Pillow's 8-bit resampler


# Both passes accumulate in int32, as Pillow's 8-bit resampler does (the sums
# fit: |sum of taps| < 2**31 for 8-bit input). The inner loops run along
# contiguous memory so that LLVM vectorises them: the vertical pass updates a
# whole accumulator row per tap; the horizontal pass is a dot product per
# output pixel for long filters, or the vertical pass of the transposed image
# for short ones.

@njit(cache=True)
def resample_cols(src, bounds, coeffs):
    """Vertical pass: resample every column of a 2-D uint8 array.

    ``bounds[o] = (ymin, count)`` and ``coeffs[o, :count]`` are the integer
    taps of output row ``o``.
    """
    width = src.shape[1]
    out = np.empty((bounds.shape[0], width), dtype=np.uint8)
    acc = np.empty(width, dtype=np.int32)
    for o in range(bounds.shape[0]):
        ymin = bounds[o, 0]
        for x in range(width):
            acc[x] = 1 << (PRECISION_BITS - 1)
        for t in range(bounds[o, 1]):
            k = np.int32(coeffs[o, t])
            line = src[ymin + t]
            for x in range(width):
                acc[x] += np.int32(line[x]) * k
        row = out[o]
        for x in range(width):
            v = acc[x] >> PRECISION_BITS
            row[x] = 0 if v < 0 else (255 if v > 255 else v)
    return out


@njit(cache=True)
def resample_rows(src, bounds, coeffs):
    """Horizontal pass: resample every row of a 2-D uint8 array.

    ``bounds[o] = (xmin, count)`` and ``coeffs[o, :count]`` are the integer
    taps of output column ``o``.
    """
    if coeffs.shape[1] < 48:
        return np.ascontiguousarray(resample_cols(np.ascontiguousarray(src.T), bounds, coeffs).T)
    height = src.shape[0]
    out = np.empty((height, bounds.shape[0]), dtype=np.uint8)
    k32 = coeffs.astype(np.int32)
    for y in range(height):
        line = src[y]
        for o in range(bounds.shape[0]):
            xmin, count = bounds[o, 0], bounds[o, 1]
            taps = line[xmin:xmin + count]
            k = k32[o]
            acc = np.int32(0)
            for t in range(count):
                acc += np.int32(taps[t]) * k[t]
            v = (acc + np.int32(1 << (PRECISION_BITS - 1))) >> PRECISION_BITS
            out[y, o] = 0 if v < 0 else (255 if v > 255 else v)
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


@njit(cache=True)
def _sinc(x):
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


@njit(cache=True)
def lanczos_axis(n_in, n_out):
    """Integer Lanczos taps of one axis (``undouble.resample.lanczos_tables``), compiled.

    Same float64 operations in the same order (``math.sin`` is the C
    library's ``sin``, as in CPython), so the integer taps are identical;
    the tests compare both on many sizes. ``n_in == n_out`` gives empty
    tables (the pass is skipped, as in Pillow).
    """
    if n_in == n_out:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, 1), dtype=np.int64)
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    inv_filterscale = 1.0 / filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.zeros((n_out, 2), dtype=np.int64)
    coeffs = np.zeros((n_out, ksize), dtype=np.int64)
    weights = np.zeros(ksize, dtype=np.float64)
    one = float(1 << PRECISION_BITS)
    for o in range(n_out):
        center = (o + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))
        xmax = min(n_in, int(center + support + 0.5)) - xmin
        total = 0.0
        for x in range(xmax):
            t = (x + xmin - center + 0.5) * inv_filterscale
            w = 0.0
            if -3.0 <= t < 3.0:
                w = _sinc(t) * _sinc(t / 3.0)
            weights[x] = w
            total += w
        for x in range(xmax):
            w = weights[x]
            if total != 0.0:
                w = w / total
            coeffs[o, x] = int(w * one + 0.5) if w >= 0 else int(w * one - 0.5)
        bounds[o, 0] = xmin
        bounds[o, 1] = xmax
    return bounds, coeffs
