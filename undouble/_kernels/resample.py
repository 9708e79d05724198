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


# --------------------------------------------------------------------------
# Batch resizing straight from RGB(A) or grey images, with work buffers
# allocated once per batch.
#
# Every image goes through a flat int32 grey buffer (Pillow "L", one loop over
# all pixels, which LLVM vectorises). The horizontal pass is a dot product per
# output pixel whose taps are zero-padded to a multiple of LANES, so that the
# vectorised loop has no scalar remainder and every dot has the same length;
# the padded taps read up to LANES - 1 values past the row (a zero weight
# times any value adds exactly 0 in integer arithmetic, and the buffers have
# that much slack). Four rows are processed together (one coefficient load for
# all four). The vertical pass accumulates whole rows, as Pillow's does. All sums
# are int32, as in Pillow; products and sums are formed as int64 by Numba and
# truncated back to int32 (exact: the true sums fit in int32).
# --------------------------------------------------------------------------

LANES = 32


@njit(cache=True)
def padded_taps(bounds, coeffs):
    """First input index and int32 taps of each output, zero-padded to a multiple of ``LANES``.

    Parameters
    ----------
    bounds, coeffs : np.ndarray
        Tables of :func:`undouble.resample.lanczos_tables` (``(n_out, 2)``
        and ``(n_out, ksize)``), possibly empty (pass skipped).

    Returns
    -------
    starts : np.ndarray
        int64 ``(n_out,)``.
    taps : np.ndarray
        int32 ``(n_out, kpad)``, ``kpad`` the largest tap count rounded up
        to a multiple of ``LANES``; zero past each output's own count.
    """
    n_out = bounds.shape[0]
    longest = 1
    for o in range(n_out):
        longest = max(longest, bounds[o, 1])
    kpad = (longest + LANES - 1) // LANES * LANES
    starts = np.zeros(n_out, dtype=np.int64)
    taps = np.zeros((n_out, kpad), dtype=np.int32)
    for o in range(n_out):
        starts[o] = bounds[o, 0]
        for t in range(bounds[o, 1]):
            taps[o, t] = coeffs[o, t]
    return starts, taps


@njit(cache=True)
def grey_into(img, dst, rows):
    """Pillow "L" of the first ``rows`` rows of a C-contiguous ``H x W x C`` uint8 image.

    Written to ``dst[:rows*W]`` (flat, int32). ``C`` = 3 (RGB) or 4 (RGBA,
    alpha ignored): ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16``; ``C`` =
    1: the grey values themselves.
    """
    width, channels = img.shape[1], img.shape[2]
    src = img.reshape(-1)
    m = rows * width
    if channels == 3:
        for p in range(m):
            q = 3 * p
            dst[p] = (np.int32(src[q]) * 19595 + np.int32(src[q + 1]) * 38470
                      + np.int32(src[q + 2]) * 7471 + 0x8000) >> 16
    elif channels == 4:
        for p in range(m):
            q = 4 * p
            dst[p] = (np.int32(src[q]) * 19595 + np.int32(src[q + 1]) * 38470
                      + np.int32(src[q + 2]) * 7471 + 0x8000) >> 16
    else:
        for p in range(m):
            dst[p] = src[p * channels]


@njit(cache=True)
def _clip8(acc):
    v = acc >> PRECISION_BITS
    return 0 if v < 0 else (255 if v > 255 else v)


@njit(cache=True)
def horizontal_pass(src, rows, width, starts, taps, dst, dst_stride, dst_step):
    """Horizontal pass over ``rows`` rows of a flat int32 image (row stride ``width``).

    Output pixel ``(y, o)`` goes to ``dst[y * dst_stride + o * dst_step]``,
    rounded and clipped to 0..255 (``dst_step = rows``, ``dst_stride = 1``
    writes the result transposed). ``src`` must have ``taps.shape[1]`` readable values
    past its last row (the padded taps read them with weight 0). Four rows
    share each pass over the taps (more independent sums in flight).
    """
    n_out, kpad = taps.shape
    half = np.int32(1 << (PRECISION_BITS - 1))
    stop4 = rows - rows % 4
    for y in range(0, stop4, 4):
        for o in range(n_out):
            p = y * width + starts[o]
            a = src[p:p + kpad]
            b = src[p + width:p + width + kpad]
            c = src[p + 2 * width:p + 2 * width + kpad]
            d = src[p + 3 * width:p + 3 * width + kpad]
            k = taps[o]
            acc_a = half
            acc_b = half
            acc_c = half
            acc_d = half
            for t in range(kpad):
                w = k[t]
                acc_a = np.int32(acc_a + a[t] * w)
                acc_b = np.int32(acc_b + b[t] * w)
                acc_c = np.int32(acc_c + c[t] * w)
                acc_d = np.int32(acc_d + d[t] * w)
            q = y * dst_stride + o * dst_step
            dst[q] = _clip8(acc_a)
            dst[q + dst_stride] = _clip8(acc_b)
            dst[q + 2 * dst_stride] = _clip8(acc_c)
            dst[q + 3 * dst_stride] = _clip8(acc_d)
    for y in range(stop4, rows):
        for o in range(n_out):
            p = y * width + starts[o]
            a = src[p:p + kpad]
            k = taps[o]
            acc_a = half
            for t in range(kpad):
                acc_a = np.int32(acc_a + a[t] * k[t])
            dst[y * dst_stride + o * dst_step] = _clip8(acc_a)


@njit(cache=True)
def vertical_pass(src, src_stride, width, bounds, taps, dst, dst_stride, n_out):
    """Vertical pass over a flat int32 image (row stride ``src_stride``), ``width`` columns.

    Output row ``r < n_out`` goes to ``dst[r * dst_stride:][:width]``,
    rounded and clipped to 0..255; ``bounds[r] = (ymin, count)``,
    ``taps[r, :count]``.
    """
    half = np.int32(1 << (PRECISION_BITS - 1))
    for r in range(n_out):
        acc = dst[r * dst_stride:r * dst_stride + width]
        for x in range(width):
            acc[x] = half
        ymin = bounds[r, 0]
        k = taps[r]
        for t in range(bounds[r, 1]):
            c = k[t]
            line = src[(ymin + t) * src_stride:(ymin + t) * src_stride + width]
            for x in range(width):
                acc[x] = np.int32(acc[x] + line[x] * c)
        for x in range(width):
            acc[x] = _clip8(acc[x])


@njit(cache=True)
def resize_work(height, width, row_b, row_c, col_b, col_c):
    """Padded taps and work buffers for :func:`resize_image` (once per batch).

    Returns ``(h_starts, h_taps, v_starts, v_taps, grey, tmp, small)``: the
    horizontal and vertical taps (:func:`padded_taps`), a flat int32 grey
    buffer and an intermediate buffer (both with slack for the padded taps),
    and the ``(h_out, w_out)`` int32 output.
    """
    h_starts, h_taps = padded_taps(row_b, row_c)
    v_starts, v_taps = padded_taps(col_b, col_c)
    w_out = row_b.shape[0] if row_b.shape[0] > 0 else width
    h_out = col_b.shape[0] if col_b.shape[0] > 0 else height
    slack = max(h_taps.shape[1], v_taps.shape[1])
    grey = np.zeros(height * width + slack, dtype=np.int32)
    tmp = np.zeros(max(height * w_out, h_out * width) + slack, dtype=np.int32)
    small = np.zeros((h_out, w_out), dtype=np.int32)
    return h_starts, h_taps, v_starts, v_taps, grey, tmp, small


@njit(cache=True)
def resize_image(img, h_starts, h_taps, col_b, v_starts, v_taps, vertical_first, grey, tmp, small, out_rows):
    """Pillow ``convert('L').resize(size, LANCZOS)`` of one ``H x W x C`` uint8 image.

    ``C`` = 1 (grey), 3 or 4. The arguments come from :func:`resize_work`
    (``col_b``: the vertical bounds of ``resize_tables``); the result is
    written to ``small`` (int32, values 0..255), which is returned. Same
    passes, order and rounding as :func:`resize_plane`.

    Only the first ``out_rows`` rows of the result are computed (the input
    rows they need are converted and resampled, no others); the other rows
    of ``small`` are left as they were, or (narrow results) hold values of
    no meaning. ``out_rows = h_out`` computes everything.
    """
    height, width = img.shape[0], img.shape[1]
    h_out, w_out = small.shape
    out = small.reshape(-1)
    do_h = h_starts.shape[0] > 0
    do_v = col_b.shape[0] > 0
    out_rows = min(out_rows, h_out)
    if not (do_h or do_v):
        grey_into(img, out, out_rows)
        return small
    need = out_rows  # input rows the kept output rows depend on
    if do_v:
        need = 0
        for r in range(out_rows):
            need = max(need, col_b[r, 0] + col_b[r, 1])
    grey_into(img, grey, need)
    narrow = do_h and do_v and not vertical_first and w_out < LANES
    # stage 1: the vertical pass first (Pillow's order, or no horizontal pass)
    if do_v and (vertical_first or not do_h):
        vertical_pass(grey, width, width, col_b, v_taps, tmp if do_h else out, width if do_h else w_out,
                      out_rows)
    if not do_h:
        return small
    # stage 2: the horizontal pass; narrow results (ahash, dhash) write it
    # transposed, so that the vertical pass runs as dot products along it
    # (the row accumulation over w_out < LANES columns would not vectorise)
    # (one call site each: every call of a pass is compiled into each kernel)
    src, rows, dst, dst_stride, dst_step = grey, out_rows, out, w_out, 1
    if vertical_first:
        src = tmp
    elif do_v:
        rows = need
        dst = tmp
        if narrow:
            dst_stride = 1
            dst_step = height
    horizontal_pass(src, rows, width, h_starts, h_taps, dst, dst_stride, dst_step)
    if vertical_first or not do_v:
        return small
    # stage 3: the vertical pass after the horizontal one
    if narrow:
        horizontal_pass(tmp, w_out, height, v_starts, v_taps, out, 1, w_out)
    else:
        vertical_pass(tmp, w_out, w_out, col_b, v_taps, out, w_out, out_rows)
    return small
