"""DCT-based hash kernels (phash, phash_simple): plain arrays in and out.

The DCT is rocket-fft's low-level ``dct`` (DUCC, the library behind
``scipy.fft``; type 2, scale 1, not orthogonalised), called inside Numba on
caller-provided output arrays. It runs the same algorithm as the reference,
so the float64 coefficients are bit-identical to ``scipy.fftpack.dct``,
including the exact zeros of uniform and symmetric images that decide median
ties. A matrix DCT does not have that property. The low-level interface
needs no SciPy, so SciPy is not a dependency of the package (the tests
compare against it).

The thresholds reproduce numpy's arithmetic: ``numpy.median`` (the middle value, or the float64
mean of the two middle values) and ``ndarray.mean`` (pairwise summation,
chunked the way numpy's buffered reduction chunks a 2-D block).
"""
import numpy as np
from numba import njit
from rocket_fft import lowlevel

from .median import median_of
from .resample import resize_image, resize_work

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


@njit(cache=True, nogil=True)
def phash_batch(stack, hash_size, row_b, row_c, col_b, col_c, vertical_first):
    """phash of each image of an N x H x W x C stack (grey, resized by the tables to 4n x 4n)."""
    n = stack.shape[0]
    h_taps, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, hash_size * hash_size), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        phash_bits(small, hash_size, out[i])
    return out


@njit(cache=True, nogil=True)
def phash_simple_batch(stack, hash_size, cols, row_b, row_c, col_b, col_c, vertical_first):
    """phash_simple of each image of an N x H x W x C stack; ``cols = min(n, N - 1)`` bits per row.

    Only the first ``hash_size`` rows of the resized image are used, so only
    they are computed (``resize_image``'s ``out_rows``).
    """
    n = stack.shape[0]
    h_taps, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, hash_size * cols), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     hash_size)
        phash_simple_bits(small, hash_size, out[i])
    return out
