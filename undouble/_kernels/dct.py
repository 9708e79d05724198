"""DCT-based hash kernels (phash, phash_simple): plain arrays in and out.

The DCT is rocket-fft's low-level ``dct`` (DUCC, the library behind
``scipy.fft``; type 2, scale 1, not orthogonalised), called inside Numba on
caller-provided output arrays. It runs the same algorithm as the reference,
so the float64 coefficients are bit-identical to ``scipy.fftpack.dct``,
including the exact zeros of uniform and symmetric images that decide median
ties. A matrix DCT does not have that property on its own; phash uses one
only where the order around the median is certain despite its rounding
(``phash_bits_certified``, below), and DUCC everywhere else. The low-level
interface needs no SciPy, so SciPy is not a dependency of the package (the
tests compare against it).

The thresholds reproduce numpy's arithmetic: ``numpy.median`` (the middle value, or the float64
mean of the two middle values) and ``ndarray.mean`` (pairwise summation,
chunked the way numpy's buffered reduction chunks a 2-D block).
"""
import numpy as np
from numba import njit
from rocket_fft import lowlevel

from .median import median_of, select_in_place
from .resample import resize_image, resize_work
from .simd import fload, fmuladd, fsplat, fstore

# numpy's pairwise summation: blocks of at most this many values are summed
# with 8 running accumulators, longer runs are split in two.
_PW_BLOCKSIZE = 128
# Elements per chunk of numpy's buffered reduction (default buffer size).
_NPY_BUFSIZE = 8192


@njit(cache=True)
def dct_axis(plane, axis):
    """Unnormalised DCT-II (``scipy.fftpack.dct(plane, axis=axis)``) of a 2-D float64 array."""
    out = np.empty(plane.shape, dtype=np.float64)
    axes = np.full(1, axis, dtype=np.int64)
    lowlevel.dct(plane, out, axes, 2, 1.0, False, 1)
    return out


@njit(cache=True)
def dct2(plane):
    """Unnormalised 2-D DCT-II of a float64 plane: along axis 0, then axis 1."""
    return dct_axis(dct_axis(plane, 0), 1)


@njit(cache=True)
def dct2_top_left(plane, rows):
    """The first ``rows`` rows of :func:`dct2`: axis 0 in full, axis 1 only on those rows.

    Each row of the second DCT is transformed on its own, so the rows kept
    are those of the full 2-D transform (the tests compare them exactly).
    """
    first = dct_axis(plane, 0)
    return dct_axis(np.ascontiguousarray(first[:rows]), 1)


@njit(cache=True)
def dct_last_axis(plane):
    """Unnormalised DCT-II of each row of a float64 plane."""
    return dct_axis(plane, 1)


@njit(cache=True)
def pairwise_sum(a, start, count):
    """numpy's pairwise sum of the contiguous run ``a[start:start + count]``.

    Fewer than 8 values: a running sum. Up to 128: 8 accumulators stepping
    by 8, combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``, then the tail
    added one by one. Longer: split at half the count rounded down to a
    multiple of 8 and the two sums added.
    """
    if count < 8:
        res = 0.0
        for i in range(start, start + count):
            res += a[i]
        return res
    if count <= _PW_BLOCKSIZE:
        r0 = a[start]
        r1 = a[start + 1]
        r2 = a[start + 2]
        r3 = a[start + 3]
        r4 = a[start + 4]
        r5 = a[start + 5]
        r6 = a[start + 6]
        r7 = a[start + 7]
        stop8 = count - count % 8
        i = 8
        while i < stop8:
            p = start + i
            r0 += a[p]
            r1 += a[p + 1]
            r2 += a[p + 2]
            r3 += a[p + 3]
            r4 += a[p + 4]
            r5 += a[p + 5]
            r6 += a[p + 6]
            r7 += a[p + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < count:
            res += a[start + i]
            i += 1
        return res
    half = count // 2
    half -= half % 8
    return pairwise_sum(a, start, half) + pairwise_sum(a, start + half, count - half)


@njit(cache=True)
def numpy_mean_2d(block):
    """``block.mean()`` of a 2-D float64 array, with numpy's rounding.

    numpy reduces a non-contiguous 2-D block through a buffer holding as many
    whole rows as fit in 8192 elements; each buffer is pair-summed and added
    to the running total. (Blocks of up to 8192 values are one buffer.)
    """
    rows, cols = block.shape
    flat = np.ascontiguousarray(block).ravel()
    total = flat.shape[0]
    if cols <= _NPY_BUFSIZE:
        chunk = (_NPY_BUFSIZE // cols) * cols
    else:
        chunk = _NPY_BUFSIZE
    acc = 0.0
    start = 0
    while start < total:
        count = min(chunk, total - start)
        acc += pairwise_sum(flat, start, count)
        start += count
    return acc / total


@njit(cache=True)
def phash_bits(small, hash_size, out):
    """phash bits of one resized grey plane: 2-D DCT, ``d[:n, :n] > median``."""
    d = dct2_top_left(small.astype(np.float64), hash_size)
    low = np.empty(hash_size * hash_size, dtype=np.float64)
    k = 0
    for y in range(hash_size):
        for x in range(hash_size):
            low[k] = d[y, x]
            k += 1
    med = median_of(low)
    for k in range(low.shape[0]):
        out[k] = low[k] > med


@njit(cache=True)
def phash_simple_bits(small, hash_size, out):
    """phash_simple bits: row DCT, ``d[:n, 1:n+1] > mean`` (numpy's mean); only the first ``n`` rows are transformed."""
    d = dct_last_axis(np.ascontiguousarray(small[:hash_size]).astype(np.float64))
    cols = min(hash_size, d.shape[1] - 1)
    low = d[:hash_size, 1:cols + 1]
    avg = numpy_mean_2d(low)
    k = 0
    for y in range(hash_size):
        for x in range(cols):
            out[k] = low[y, x] > avg
            k += 1


# ---------------------------------------------------------------------------
# phash by a matrix DCT, exact by construction of the bits
#
# The bits of phash depend only on which coefficients lie above the median of
# the kept block, i.e. on the order of the values around the middle, not on
# their last bits. ``phash_bits_certified`` computes the n x n block directly
# (two small matrix products with float64 cosines, O(n * N^2) instead of N
# transforms of length N) and uses it only when the gap between the two
# middle values exceeds twice an error bound ``delta``: then every value
# that DUCC would compute differs from ours by less than ``delta``, so the
# same values lie above the median and the bits are DUCC's. Otherwise (ties
# and near-ties: uniform, symmetric and other degenerate images) it runs the
# exact DUCC path, ``phash_bits``.
#
# ``delta``: each coefficient is sum_{y,x} c_ky c_lx p_yx with |c| <= 2, so
# |d| <= 4 S with S = sum of the pixels; any float64 evaluation of such a
# sum of N^2 products (DUCC's FFT or our products) is within about
# (2 N + 4) * 2**-53 * 4 S of the true value (N = 32: ~2**-44 * S). We take
# delta = 4 S * 2**-30, more than 10,000 times that, and the test suite
# compares the two paths directly.
# ---------------------------------------------------------------------------

_DELTA_SCALE = 4.0 * 2.0 ** -30


@njit(cache=True)
def dct_block_work(hash_size, size):
    """Tables and work buffers of :func:`dct_low_block`: ``(cosines, cosines_t, plane, first, block_pad)``.

    ``cosines[k, y] = 2 cos(pi k (2y + 1) / (2 N))`` (``n x N``), the rows of
    the unnormalised DCT-II matrix; ``cosines_t`` its transpose with the
    ``n`` columns padded with zeros to a multiple of 4 (``n4``), flat;
    ``plane`` is ``N x N4`` and ``first`` ``n4 x N4`` (``N4``: ``N`` rounded
    up to 4; its rows from ``n`` on stay zero), ``block_pad`` ``n4 x n4``,
    all flat float64.
    """
    n4 = (hash_size + 3) // 4 * 4
    size4 = (size + 3) // 4 * 4
    cosines = np.empty((hash_size, size), dtype=np.float64)
    cosines_t = np.zeros(size * n4, dtype=np.float64)
    for k in range(hash_size):
        for x in range(size):
            c = 2.0 * np.cos(np.pi * k * (2.0 * x + 1.0) / (2.0 * size))
            cosines[k, x] = c
            cosines_t[x * n4 + k] = c
    return (cosines, cosines_t, np.zeros(size * size4, dtype=np.float64),
            np.zeros(n4 * size4, dtype=np.float64), np.zeros(n4 * n4, dtype=np.float64))


@njit(cache=True)
def dct_low_block(small, hash_size, cosines, cosines_t, plane, first, block_pad, block):
    """``d[:n, :n]`` of the unnormalised 2-D DCT-II of ``small`` by matrix products, as a flat ``block``.

    The tables and buffers come from :func:`dct_block_work`. Both products run on
    4-lane float64 vectors (``simd.F64x4``) with eight independent sums in
    registers (two rows of 16 columns, then four rows of 8 columns), so that
    the adds' latency does not hold them up. Each value is still the sum of
    its products in order of the summed index. Returns the sum of the pixels.
    """
    size = small.shape[0]
    size4 = (size + 3) // 4 * 4
    n4 = (hash_size + 3) // 4 * 4
    pixels = small.reshape(-1)
    total = np.int64(0)  # exact, and a float sum would not vectorise
    for v in pixels:
        total += v
    for y in range(size):
        row = pixels[y * size:(y + 1) * size]
        dst = plane[y * size4:y * size4 + size]
        for x in range(size):
            dst[x] = np.float64(row[x])
        for x in range(size, size4):
            plane[y * size4 + x] = 0.0
    cos_flat = cosines.reshape(-1)
    # first[k, :] = sum_y cosines[k, y] * plane[y, :], rows k and k + 1 together
    k = 0
    while k < hash_size:
        pair = k + 1 < hash_size
        k2 = k + 1 if pair else k
        x = 0
        while x + 16 <= size4:
            a0 = fsplat(0.0)
            a1 = a0
            a2 = a0
            a3 = a0
            b0 = a0
            b1 = a0
            b2 = a0
            b3 = a0
            for y in range(size):
                c = fsplat(cos_flat[k * size + y])
                d = fsplat(cos_flat[k2 * size + y])
                p = y * size4 + x
                v0 = fload(plane, p)
                v1 = fload(plane, p + 4)
                v2 = fload(plane, p + 8)
                v3 = fload(plane, p + 12)
                a0 = fmuladd(a0, c, v0)
                a1 = fmuladd(a1, c, v1)
                a2 = fmuladd(a2, c, v2)
                a3 = fmuladd(a3, c, v3)
                b0 = fmuladd(b0, d, v0)
                b1 = fmuladd(b1, d, v1)
                b2 = fmuladd(b2, d, v2)
                b3 = fmuladd(b3, d, v3)
            q = k * size4 + x
            fstore(first, q, a0)
            fstore(first, q + 4, a1)
            fstore(first, q + 8, a2)
            fstore(first, q + 12, a3)
            if pair:
                q = k2 * size4 + x
                fstore(first, q, b0)
                fstore(first, q + 4, b1)
                fstore(first, q + 8, b2)
                fstore(first, q + 12, b3)
            x += 16
        while x < size4:
            for kk in range(k, k2 + 1):
                a0 = fsplat(0.0)
                for y in range(size):
                    a0 = fmuladd(a0, fsplat(cos_flat[kk * size + y]), fload(plane, y * size4 + x))
                fstore(first, kk * size4 + x, a0)
            x += 4
        k += 2
    # block[k, m] = sum_x first[k, x] * cosines[m, x]: four rows k (the padded ones are zero) by 8 or 4 columns m
    for k in range(0, n4, 4):
        m = 0
        while m < n4:
            wide = m + 8 <= n4
            m2 = m + 4 if wide else m
            a0 = fsplat(0.0)
            a1 = a0
            a2 = a0
            a3 = a0
            b0 = a0
            b1 = a0
            b2 = a0
            b3 = a0
            for x in range(size):
                c0 = fload(cosines_t, x * n4 + m)
                c1 = fload(cosines_t, x * n4 + m2)
                f0 = fsplat(first[k * size4 + x])
                f1 = fsplat(first[(k + 1) * size4 + x])
                f2 = fsplat(first[(k + 2) * size4 + x])
                f3 = fsplat(first[(k + 3) * size4 + x])
                a0 = fmuladd(a0, f0, c0)
                a1 = fmuladd(a1, f1, c0)
                a2 = fmuladd(a2, f2, c0)
                a3 = fmuladd(a3, f3, c0)
                b0 = fmuladd(b0, f0, c1)
                b1 = fmuladd(b1, f1, c1)
                b2 = fmuladd(b2, f2, c1)
                b3 = fmuladd(b3, f3, c1)
            fstore(block_pad, k * n4 + m, a0)
            fstore(block_pad, (k + 1) * n4 + m, a1)
            fstore(block_pad, (k + 2) * n4 + m, a2)
            fstore(block_pad, (k + 3) * n4 + m, a3)
            if wide:
                fstore(block_pad, k * n4 + m2, b0)
                fstore(block_pad, (k + 1) * n4 + m2, b1)
                fstore(block_pad, (k + 2) * n4 + m2, b2)
                fstore(block_pad, (k + 3) * n4 + m2, b3)
            m += 8 if wide else 4
    for k in range(hash_size):
        for m in range(hash_size):
            block[k * hash_size + m] = block_pad[k * n4 + m]
    return np.float64(total)


@njit(cache=True)
def phash_bits_certified(small, hash_size, work_buffers, block, work, out):
    """phash bits of one resized plane: the matrix-DCT block when its middle gap is certain, else :func:`phash_bits`.

    ``work_buffers`` is :func:`dct_block_work`'s tuple; ``block`` and
    ``work`` hold ``n * n`` float64 values. Returns True when the fast path
    decided the bits (False: the exact DUCC path did).
    """
    total = dct_low_block(small, hash_size, *work_buffers, block)
    delta = _DELTA_SCALE * total
    count = hash_size * hash_size
    for k in range(count):
        work[k] = block[k]
    hi_rank = count // 2 if count % 2 == 0 else count // 2 + 1
    upper = select_in_place(work, hi_rank)
    lower = work[0]
    for k in range(1, hi_rank):
        lower = max(lower, work[k])
    if upper - lower > 2.0 * delta:
        for k in range(count):
            out[k] = block[k] >= upper
        return True
    phash_bits(small, hash_size, out)
    return False


@njit(cache=True, nogil=True)
def phash_batch(stack, hash_size, row_b, row_c, col_b, col_c, vertical_first):
    """phash of each image of an N x H x W x C stack (grey, resized by the tables to ``N x N``)."""
    n = stack.shape[0]
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    work_buffers = dct_block_work(hash_size, small.shape[0])
    block = np.empty(hash_size * hash_size, dtype=np.float64)
    work = np.empty(hash_size * hash_size, dtype=np.float64)
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        phash_bits_certified(small, hash_size, work_buffers, block, work, out[i])
    return out


@njit(cache=True, nogil=True)
def phash_simple_batch(stack, hash_size, cols, row_b, row_c, col_b, col_c, vertical_first):
    """phash_simple of each image of an N x H x W x C stack; ``cols = min(n, N - 1)`` bits per row.

    Only the first ``hash_size`` rows of the resized image are used, so only
    they are computed (``resize_image``'s ``out_rows``).
    """
    n = stack.shape[0]
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, hash_size * cols), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     hash_size)
        phash_simple_bits(small, hash_size, out[i])
    return out
