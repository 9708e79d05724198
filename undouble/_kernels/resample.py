"""Pillow-exact Lanczos resampling of 8-bit images (integer passes).

The coefficient tables are computed on the host (``undouble.resample``) or
by :func:`lanczos_axis`; these kernels only apply them. Each pass rounds to
uint8 before the next, exactly as Pillow's 8-bit resampler does.

Two implementations: :func:`resize_plane`, plain loops kept as the simple
reference (and used by ``resize_lanczos`` and crop-resistant's
segmentation image), and :func:`resize_image`, the batch path of the hash
kernels, which fuses the grey conversion and runs on int32 x 8 vectors,
mostly on pairs of 16-bit pixels (``undouble._kernels.simd``; see the section
comment below). The tests hold both to Pillow.
"""
import math

import numpy as np
from numba import njit

from .color import pillow_l

PRECISION_BITS = 22  # 32 - 8 - 2, as in Pillow's 8-bit resampler


# The reference passes accumulate in int32, as Pillow's 8-bit resampler does
# (the sums fit: |sum of taps| < 2**31 for 8-bit input). The vertical pass
# updates a whole accumulator row per tap; the horizontal pass is a dot
# product per output pixel for long filters, or the vertical pass of the
# transposed image for short ones.

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
# Both passes are one kernel, ``taps_pass``: each output row is a weighted
# sum of input rows, computed down the columns of a row-major int32 buffer
# eight columns to a vector (``undouble._kernels.simd``), with the sums of 32
# columns held in registers over all the taps. The horizontal pass runs
# it on the transposed image (8 x 8 block transposes), in bands of ``BAND``
# rows so that the band's grey values, their transpose and the taps stay in
# the L1 cache. Nothing is reduced across vector lanes and no tap is padded.
# All sums are int32, as in Pillow (exact: the true sums fit), starting from
# 2**21 and shifted right by 22 bits, then clipped to 0..255.
#
# An image resized horizontally first (every downscale) runs both passes on
# pairs of pixels instead (``pair_taps_pass``): the grey rows are written as
# uint16, so each int32 word holds two neighbouring pixels, the words are
# transposed (half the work of transposing pixels), and a word is multiplied
# by two taps at once (``simd.vmadd_pairs``, one ``vpmaddwd``: half the loads
# and multiplies). The 22-bit taps do not fit in 16 bits, so each is split as
# ``w = 512 a + b`` with ``-256 <= b < 256``: the pass keeps the two sums
# ``A = sum a p`` and ``B = sum b p`` and returns ``512 A + B``, which is
# ``sum w p`` exactly (see ``pair_taps``). The horizontal pass writes its
# results as uint16 pairs again, so that the vertical pass reads pairs of
# rows the same way. ``taps_pass`` remains for the other pass orders.
#
# Buffers are padded to multiples of 8 rows and columns. The padding holds
# values of no meaning (left from earlier images): a padded column of the
# transposed image is a padded row of the result, which no later tap reads,
# and the taps of a pass never reach past the real input.
# --------------------------------------------------------------------------

from .simd import (transpose8, vgrey_pairs, vgrey_rgb, vload, vmadd, vmadd_pairs, vround_clip8, vsplat, vstore,  # noqa: E402
                   vstore_u16)

BAND = 32  # image rows per band of the horizontal pass (128 columns: two 16 KiB buffers)


@njit(cache=True)
def taps_pass(src, src_stride, cols, bounds, taps, dst, dst_offset, dst_stride, n_out):
    """``dst[r, :cols] = clip8(sum_t taps[r, t] * src[bounds[r, 0] + t, :cols])`` for ``r < n_out``.

    ``src`` and ``dst`` are flat row-major int32 buffers (row strides
    ``src_stride`` and ``dst_stride``; ``dst`` row ``r`` starts at
    ``dst_offset + r * dst_stride``); ``cols`` is a multiple of 8. Pillow's
    rounding: the sum starts at ``2**21``, is shifted right by 22 bits and
    clipped to 0..255. Columns run in blocks of 32, then 8, the block's sums
    in registers over all the taps of the row (blocks of 64 were no faster in
    scratch A/B runs).
    """
    half = 1 << (PRECISION_BITS - 1)
    for r in range(n_out):
        first, count = bounds[r, 0], bounds[r, 1]
        k = taps[r]
        q = dst_offset + r * dst_stride
        x = 0
        while x + 32 <= cols:
            a0 = vsplat(half)
            a1 = a0
            a2 = a0
            a3 = a0
            for t in range(count):
                w = vsplat(k[t])
                p = (first + t) * src_stride + x
                a0 = vmadd(a0, vload(src, p), w)
                a1 = vmadd(a1, vload(src, p + 8), w)
                a2 = vmadd(a2, vload(src, p + 16), w)
                a3 = vmadd(a3, vload(src, p + 24), w)
            vstore(dst, q + x, vround_clip8(a0, PRECISION_BITS))
            vstore(dst, q + x + 8, vround_clip8(a1, PRECISION_BITS))
            vstore(dst, q + x + 16, vround_clip8(a2, PRECISION_BITS))
            vstore(dst, q + x + 24, vround_clip8(a3, PRECISION_BITS))
            x += 32
        while x < cols:
            a0 = vsplat(half)
            for t in range(count):
                a0 = vmadd(a0, vload(src, (first + t) * src_stride + x), vsplat(k[t]))
            vstore(dst, q + x, vround_clip8(a0, PRECISION_BITS))
            x += 8


PAIR_SHIFT = 9  # w = a * 2**PAIR_SHIFT + b, |b| <= 2**(PAIR_SHIFT - 1): a and b fit in 16 bits


@njit(cache=True)
def pair_taps(bounds, taps):
    """The taps of ``bounds``/``taps`` on pairs of input positions, for :func:`pair_taps_pass`.

    Row ``r`` of the result: ``[first_pair, n_pairs, hi_0, lo_0, hi_1, lo_1,
    ...]``. Pair ``j`` covers input positions ``2 (first_pair + j)`` and
    ``2 (first_pair + j) + 1`` (a tap outside ``bounds[r]`` is 0). Each tap
    ``w`` is split as ``w = 512 a + b`` with ``-256 <= b < 256``, so that
    ``|a| < 2**15`` for any ``|w| < 2**24`` (Pillow's taps are below 2**23);
    ``hi_j`` holds the ``a`` of the pair's two positions as signed 16-bit
    halves (first position in the low half), ``lo_j`` their ``b``.
    """
    n_out = bounds.shape[0]
    max_pairs = 1
    for r in range(n_out):
        first, count = bounds[r, 0], bounds[r, 1]
        max_pairs = max(max_pairs, (first + count + 1) // 2 - first // 2)
    half = 1 << (PAIR_SHIFT - 1)
    out = np.zeros((n_out, 2 + 2 * max_pairs), dtype=np.int32)
    for r in range(n_out):
        first, count = bounds[r, 0], bounds[r, 1]
        first_pair = first // 2
        n_pairs = (first + count + 1) // 2 - first_pair
        out[r, 0] = first_pair
        out[r, 1] = n_pairs
        for j in range(n_pairs):
            hi = np.int64(0)
            lo = np.int64(0)
            for side in range(2):
                t = 2 * (first_pair + j) + side - first
                w = np.int64(taps[r, t]) if 0 <= t < count else np.int64(0)
                b = ((w + half) & (2 * half - 1)) - half
                a = (w - b) >> PAIR_SHIFT
                hi |= (a & 0xFFFF) << (16 * side)
                lo |= (b & 0xFFFF) << (16 * side)
            out[r, 2 + 2 * j] = np.int32(hi - (np.int64(1) << 32) if hi >= (np.int64(1) << 31) else hi)
            out[r, 3 + 2 * j] = np.int32(lo - (np.int64(1) << 32) if lo >= (np.int64(1) << 31) else lo)
    return out


@njit(cache=True)
def _store_result(dst, q, x, vec, packed):
    """Store eight results of a pass at column ``x`` of the row starting at ``q``: as int32, or as uint16 (``packed``)."""
    if packed:
        vstore_u16(dst, q + x // 2, vec)
    else:
        vstore(dst, q + x, vec)


@njit(cache=True)
def pair_taps_pass(src, src_stride, cols, pairs, dst, dst_offset, dst_stride, n_out, packed):
    """:func:`taps_pass` on rows of pixel pairs: ``dst[r, :cols] = clip8(sum_t w[r, t] * pixel[t, :cols])``.

    Row ``m`` of ``src`` (int32 words, row stride ``src_stride``) holds input
    positions ``2m`` (low 16 bits) and ``2m + 1`` (high 16 bits) of ``cols``
    (a multiple of 8) columns; ``pairs`` comes from :func:`pair_taps`. Same
    rounding and result as :func:`taps_pass` on the unpaired rows: the sums
    ``A`` (high parts) and ``B`` (low parts, started at 2**21) are int32
    and exact, and ``B + 512 A`` is Pillow's sum.

    With ``packed``, the results are written as uint16, two to a word
    (``dst_offset`` and ``dst_stride`` in words): the layout of pixel pairs
    that a transpose turns into the input of the next pass.
    """
    half = 1 << (PRECISION_BITS - 1)
    scale = vsplat(1 << PAIR_SHIFT)
    for r in range(n_out):
        first_pair, n_pairs = pairs[r, 0], pairs[r, 1]
        k = pairs[r]
        q = dst_offset + r * dst_stride
        x = 0
        while x + 32 <= cols:
            hi0 = vsplat(0)
            hi1 = hi0
            hi2 = hi0
            hi3 = hi0
            lo0 = vsplat(half)
            lo1 = lo0
            lo2 = lo0
            lo3 = lo0
            for j in range(n_pairs):
                w_hi = vsplat(k[2 + 2 * j])
                w_lo = vsplat(k[3 + 2 * j])
                p = (first_pair + j) * src_stride + x
                v = vload(src, p)
                hi0 = vmadd_pairs(hi0, v, w_hi)
                lo0 = vmadd_pairs(lo0, v, w_lo)
                v = vload(src, p + 8)
                hi1 = vmadd_pairs(hi1, v, w_hi)
                lo1 = vmadd_pairs(lo1, v, w_lo)
                v = vload(src, p + 16)
                hi2 = vmadd_pairs(hi2, v, w_hi)
                lo2 = vmadd_pairs(lo2, v, w_lo)
                v = vload(src, p + 24)
                hi3 = vmadd_pairs(hi3, v, w_hi)
                lo3 = vmadd_pairs(lo3, v, w_lo)
            _store_result(dst, q, x, vround_clip8(vmadd(lo0, hi0, scale), PRECISION_BITS), packed)
            _store_result(dst, q, x + 8, vround_clip8(vmadd(lo1, hi1, scale), PRECISION_BITS), packed)
            _store_result(dst, q, x + 16, vround_clip8(vmadd(lo2, hi2, scale), PRECISION_BITS), packed)
            _store_result(dst, q, x + 24, vround_clip8(vmadd(lo3, hi3, scale), PRECISION_BITS), packed)
            x += 32
        while x < cols:
            hi0 = vsplat(0)
            lo0 = vsplat(half)
            for j in range(n_pairs):
                v = vload(src, (first_pair + j) * src_stride + x)
                hi0 = vmadd_pairs(hi0, v, vsplat(k[2 + 2 * j]))
                lo0 = vmadd_pairs(lo0, v, vsplat(k[3 + 2 * j]))
            _store_result(dst, q, x, vround_clip8(vmadd(lo0, hi0, scale), PRECISION_BITS), packed)
            x += 8


@njit(cache=True)
def transpose_into(src, rows, cols, src_stride, dst, dst_stride):
    """``dst[j * dst_stride + i] = src[i * src_stride + j]`` for ``i < rows``, ``j < cols`` (multiples of 8)."""
    for i in range(0, rows, 8):
        for j in range(0, cols, 8):
            transpose8(src, i * src_stride + j, src_stride, dst, j * dst_stride + i, dst_stride)


@njit(cache=True)
def _grey_run(src, first, count, dst, d0):
    """Pillow "L" of ``count`` RGB pixels from pixel ``first`` of the flat image ``src`` into ``dst[d0:]``.

    Eight pixels to a vector while the 4 bytes that ``vgrey_rgb`` reads past
    its pixels are still inside ``src``; the rest one by one.
    """
    stop = count - count % 8
    while stop > 0 and 3 * (first + stop - 8) + 28 > src.shape[0]:
        stop -= 8
    for x in range(0, stop, 8):
        vstore(dst, d0 + x, vgrey_rgb(src, 3 * (first + x)))
    for x in range(stop, count):
        p = 3 * (first + x)
        dst[d0 + x] = pillow_l(src[p], src[p + 1], src[p + 2])


@njit(cache=True)
def _grey_rows_scalar(src, width, channels, y0, rows, dst, row_stride):
    """Pillow "L" of rows ``y0 .. y0 + rows`` of a flat RGBA (``channels`` = 4) or grey image, pixel by pixel.

    Row ``y0 + i`` goes to ``dst[i * row_stride:][:width]`` (any integer dtype).
    """
    for i in range(rows):
        q = (y0 + i) * width * channels
        d = i * row_stride
        if channels == 4:
            for x in range(width):
                p = q + 4 * x
                dst[d + x] = pillow_l(src[p], src[p + 1], src[p + 2])
        else:
            for x in range(width):
                dst[d + x] = src[q + x * channels]


@njit(cache=True)
def grey_rows_into(img, y0, rows, dst, dst_stride):
    """Pillow "L" of rows ``y0 .. y0 + rows`` of a C-contiguous ``H x W x C`` uint8 image.

    Row ``y0 + i`` goes to ``dst[i * dst_stride:][:W]`` (int32).  ``C`` = 3
    (RGB) or 4 (RGBA, alpha ignored): ``(R*19595 + G*38470 + B*7471 +
    0x8000) >> 16``, eight RGB pixels to a vector (``simd.vgrey_rgb``; when
    the rows are as long as the stride, as one run); ``C`` = 1: the grey
    values themselves.
    """
    width, channels = img.shape[1], img.shape[2]
    src = img.reshape(-1)
    if channels == 3:
        if dst_stride == width:
            _grey_run(src, y0 * width, rows * width, dst, 0)
        else:
            for i in range(rows):
                _grey_run(src, (y0 + i) * width, width, dst, i * dst_stride)
        return
    _grey_rows_scalar(src, width, channels, y0, rows, dst, dst_stride)


@njit(cache=True)
def grey_pairs_into(img, y0, rows, dst, dst_stride):
    """:func:`grey_rows_into` with uint16 values: pixels ``2m`` and ``2m + 1`` of a row share word ``m``.

    Row ``y0 + i`` goes to the words ``dst[i * dst_stride:][:(W + 1) // 2]``
    (int32; the high half of the last word of an odd-width row is left as it
    was). RGB rows go sixteen pixels to a vector (``simd.vgrey_pairs``),
    four vectors per loop step, as one run when the rows fill the stride.
    """
    width, channels = img.shape[1], img.shape[2]
    src = img.reshape(-1)
    dst16 = dst.view(np.uint16)
    if channels == 3:
        runs, run = rows, width
        if 2 * dst_stride == width:
            runs, run = 1, rows * width
        for i in range(runs):
            first = (y0 + i) * width
            d = i * dst_stride
            stop = run - run % 16
            while stop > 0 and 3 * (first + stop - 16) + 52 > src.shape[0]:
                stop -= 16
            x = 0
            while x + 64 <= stop:  # four at a time: the loop's own instructions are a tenth of the time
                p = 3 * (first + x)
                q = d + x // 2
                vstore(dst, q, vgrey_pairs(src, p))
                vstore(dst, q + 8, vgrey_pairs(src, p + 48))
                vstore(dst, q + 16, vgrey_pairs(src, p + 96))
                vstore(dst, q + 24, vgrey_pairs(src, p + 144))
                x += 64
            for x in range(x, stop, 16):
                vstore(dst, d + x // 2, vgrey_pairs(src, 3 * (first + x)))
            for x in range(stop, run):
                p = 3 * (first + x)
                dst16[2 * d + x] = pillow_l(src[p], src[p + 1], src[p + 2])
        return
    _grey_rows_scalar(src, width, channels, y0, rows, dst16, 2 * dst_stride)


@njit(cache=True)
def resize_work(height, width, row_b, row_c, col_b, col_c):
    """int32 taps and work buffers for :func:`resize_image` (once per batch).

    Returns ``(h_taps, pairs, v_taps, band, buf_a, buf_b, small)``: the
    taps of the horizontal and vertical passes as int32 (tables of
    ``undouble.resample.resize_tables``, possibly empty), both as taps on
    pairs of positions (:func:`pair_taps`; ``pairs = (horizontal,
    vertical)``), the band buffer,
    two flat buffers large enough for every stage (all dimensions rounded up
    to multiples of 8) and the ``(h_out, w_out)`` int32 result.
    """
    w_out = row_b.shape[0] if row_b.shape[0] > 0 else width
    h_out = col_b.shape[0] if col_b.shape[0] > 0 else height
    hp, wp = (height + 7) // 8 * 8, (width + 7) // 8 * 8
    hop, wop = (h_out + 7) // 8 * 8, (w_out + 7) // 8 * 8
    size = max(max(hp * wp, hp * wop), max(hop * wp, hop * wop)) + 8
    h_taps, v_taps = row_c.astype(np.int32), col_c.astype(np.int32)
    pairs = (pair_taps(row_b, h_taps), pair_taps(col_b, v_taps))
    return (h_taps, pairs, v_taps, np.zeros(2 * BAND * wp + 8, dtype=np.int32),
            np.zeros(size, dtype=np.int32), np.zeros(size, dtype=np.int32),
            np.zeros((h_out, w_out), dtype=np.int32))


@njit(cache=True)
def resize_image(img, row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small, out_rows):
    """Pillow ``convert('L').resize(size, LANCZOS)`` of one ``H x W x C`` uint8 image.

    ``C`` = 1 (grey), 3 or 4; the image must be C-contiguous. ``row_b`` and
    ``col_b`` are the bounds of ``resize_tables`` (empty: that pass is
    skipped), the other arguments come from :func:`resize_work`. The result
    is written to ``small`` (int32, values 0..255), which is returned. Same
    passes, order and rounding as :func:`resize_plane`.

    Only the first ``out_rows`` rows of the result are computed (the input
    rows they need are converted and resampled, no others); the other rows
    of ``small`` are left as they were. ``out_rows = h_out`` computes
    everything.
    """
    height, width = img.shape[0], img.shape[1]
    h_out, w_out = small.shape
    out_rows = min(out_rows, h_out)
    do_h = row_b.shape[0] > 0
    do_v = col_b.shape[0] > 0
    hp, wp = (height + 7) // 8 * 8, (width + 7) // 8 * 8
    hop, wop = (h_out + 7) // 8 * 8, (w_out + 7) // 8 * 8
    rows_p = (out_rows + 7) // 8 * 8
    need = out_rows  # input rows the kept output rows depend on
    if do_v:
        need = 0
        for r in range(out_rows):
            need = max(need, col_b[r, 0] + col_b[r, 1])
    need_p = (need + 7) // 8 * 8
    if not do_h:
        if do_v:
            grey_rows_into(img, 0, need, buf_b, wp)
            taps_pass(buf_b, wp, wp, col_b, v_taps, buf_a, 0, wp, out_rows)
        elif w_out == wp:  # no resize, rows of whole vectors: the grey rows are the result
            grey_rows_into(img, 0, out_rows, small.reshape(-1), wp)
            return small
        else:
            grey_rows_into(img, 0, out_rows, buf_a, wp)
        res, res_stride = buf_a, wp
    elif vertical_first or not do_v:
        # (vertical pass,) transpose, horizontal pass, transpose back
        if do_v:
            grey_rows_into(img, 0, need, buf_b, wp)
            taps_pass(buf_b, wp, wp, col_b, v_taps, buf_a, 0, wp, out_rows)
        else:
            grey_rows_into(img, 0, out_rows, buf_a, wp)
        transpose_into(buf_a, rows_p, wp, wp, buf_b, hop)
        taps_pass(buf_b, hop, rows_p, row_b, h_taps, buf_a, 0, hop, w_out)
        transpose_into(buf_a, wop, rows_p, hop, buf_b, wop)
        res, res_stride = buf_b, wop
    else:
        # horizontal pass band by band (grey rows as uint16 pairs, the transpose
        # of those words, the pass on pairs), result transposed (w_out x need)
        # as uint16 pairs in buf_a; the transpose of those words, and the
        # vertical pass on pairs
        natural = band[BAND * wp:]
        wq = ((width + 1) // 2 + 7) // 8 * 8  # words of a row of pairs
        hq = (need_p // 2 + 7) // 8 * 8  # words of a row of the transposed horizontal result
        for y0 in range(0, need_p, BAND):
            rows = min(BAND, need_p - y0)
            grey_pairs_into(img, y0, min(rows, need - y0), natural, wq)
            transpose_into(natural, rows, wq, wq, band, BAND)
            pair_taps_pass(band, BAND, rows, pairs[0], buf_a, y0 // 2, hq, w_out, True)
        transpose_into(buf_a, wop, hq, hq, buf_b, wop)
        if w_out == wop:  # rows of whole vectors: the pass writes the result itself
            pair_taps_pass(buf_b, wop, wop, pairs[1], small.reshape(-1), 0, wop, out_rows, False)
            return small
        pair_taps_pass(buf_b, wop, wop, pairs[1], buf_a, 0, wop, out_rows, False)
        res, res_stride = buf_a, wop
    for y in range(out_rows):
        for x in range(w_out):
            small[y, x] = res[y * res_stride + x]
    return small
