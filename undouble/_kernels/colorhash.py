"""Colour hash kernels (ImageHash ``colorhash``): one pass over the pixels.

Per pixel: Pillow "L" grey and Pillow HSV (exact, see ``color.py``). Masks:
``black = L < 32``; ``grey = ~black & S < 85``; ``colour = ~black & S >= 85``,
split into ``faint`` (``S < 170``) and ``bright`` (``S > 170``), each counted
in six hue bins ``[0-42] [43-84] [85-127] [128-169] [170-212] [213-255]``.

:func:`colorhash_counts` is the plain per-pixel version (the reference of the
tests). The batch kernel splits the channels into planes, classifies every
pixel in one flat float32 loop that LLVM vectorises (:func:`_classify`:
comparisons with thresholds found at import, no double arithmetic), then
counts the classes. In ``bench_hashes`` (128 x 128 photos) this took colorhash
from 7.2x ImageHash's speed (the earlier loop over interleaved pixels with
Pillow's double-precision steps) to 13.7-21x.
"""
import numpy as np
from numba import njit

from .color import hsv_hue, hsv_saturation, rgb_to_l

N_COUNTS = 15  # black, grey, colour, 6 faint hue bins, 6 bright hue bins
N_VALUES = 14  # black, grey, 6 faint, 6 bright


@njit(cache=True)
def hue_bin(h):
    """Bin of hue ``h`` (0..255) among numpy.histogram's edges ``linspace(0, 255, 7)``."""
    return min(5, (h * 6) // 255)


@njit(cache=True)
def colorhash_counts(img):
    """Pixel counts of an ``H x W x C`` uint8 image (``C`` = 1 grey, 3 RGB, 4 RGBA).

    Returns int64 ``[black, grey, colour, faint_0..5, bright_0..5]``. A grey
    pixel ``v`` is treated as RGB ``(v, v, v)`` (Pillow's L -> HSV gives
    ``(0, 0, v)``, and L of ``(v, v, v)`` is ``v``).
    """
    height, width, channels = img.shape
    if channels >= 3:
        lum = rgb_to_l(img)
        cg, cb = 1, 2
    else:
        lum = img[:, :, 0].copy()
        cg, cb = 0, 0
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    for y in range(height):
        for x in range(width):
            if lum[y, x] < 32:
                counts[0] += 1
                continue
            r = np.int64(img[y, x, 0])
            g = np.int64(img[y, x, cg])
            b = np.int64(img[y, x, cb])
            mx = max(r, max(g, b))
            mn = min(r, min(g, b))
            s = hsv_saturation(mx, mn)
            if s < 85:
                counts[1] += 1
                continue
            counts[2] += 1
            if s < 170:
                counts[3 + hue_bin(hsv_hue(r, g, b, mx, mn))] += 1
            elif s > 170:
                counts[9 + hue_bin(hsv_hue(r, g, b, mx, mn))] += 1
    return counts


@njit(cache=True)
def colorhash_bits(counts, n_pixels, binbits, out):
    """Quantise the counts of :func:`colorhash_counts` and write ``14 * binbits`` bits.

    Fractions are formed as ImageHash does (float64): ``count / n_pixels * M``
    for black and grey, ``count * M / max(1, colour)`` for the hue bins, with
    ``M = 2**binbits``, truncated and capped at ``M - 1``. Value ``v`` gives
    bits ``(v >> (binbits-1-i)) % 2**(binbits-i) != 0`` (not plain binary).
    """
    m = np.int64(1) << binbits
    c = max(np.int64(1), counts[2])
    k = 0
    for idx in range(N_VALUES):
        if idx < 2:
            value = np.int64(np.float64(counts[idx]) / np.float64(n_pixels) * np.float64(m))
        else:
            value = np.int64(np.float64(counts[idx + 1] * m) / np.float64(c))
        value = min(m - 1, value)
        for i in range(binbits):
            out[k] = ((value >> (binbits - 1 - i)) % (np.int64(1) << (binbits - i))) != 0
            k += 1


def _saturation_thresholds() -> tuple[np.float32, np.float32, np.float32]:
    """Smallest float32 ``cr / mx`` whose Pillow saturation is >= 85, >= 170, >= 171.

    Pillow's saturation is ``int(float64(float32(cr) / float32(mx)) * 255.0)``,
    non-decreasing in the float32 quotient, so each test ``S >= k`` is the
    test ``quotient >= threshold``. The thresholds are read off every
    quotient that occurs (``0 <= cr <= mx <= 255``), checking that the two
    sides are separated.
    """
    mx, cr = np.meshgrid(np.arange(1, 256), np.arange(0, 256), indexing="ij")
    keep = cr <= mx
    quotient = cr[keep].astype(np.float32) / mx[keep].astype(np.float32)
    sat = np.clip((quotient.astype(np.float64) * 255.0).astype(np.int64), 0, 255)
    return tuple(_threshold(quotient, sat, k) for k in (85, 170, 171))


def _hue_values() -> tuple[np.ndarray, np.ndarray]:
    """Every float32 sector hue ``h`` Pillow can form, and its histogram bin.

    With ``d`` the float32 quotient ``(mx - mid) / cr`` (``0 <= mx - mid <=
    cr <= 255``), Pillow's ``h`` is one of ``1 - d``, ``d - 1``, ``1 + d``,
    ``3 - d``, ``3 + d``, ``5 - d`` rounded to float32 (see :func:`_classify`).
    Its bin follows :func:`undouble._kernels.color.hsv_hue` and :func:`hue_bin`.
    """
    cr, n = np.meshgrid(np.arange(1, 256), np.arange(0, 256), indexing="ij")
    keep = n <= cr
    d = n[keep].astype(np.float32) / cr[keep].astype(np.float32)
    one, three, five = np.float32(1), np.float32(3), np.float32(5)
    h = np.concatenate([one - d, d - one, one + d, three - d, three + d, five - d])
    wrapped = h.astype(np.float64) / 6.0 + 1.0
    wrapped = np.where(wrapped >= 1.0, wrapped - 1.0, wrapped)
    hue = np.clip((wrapped.astype(np.float32).astype(np.float64) * 255.0).astype(np.int64), 0, 255)
    return h, np.minimum(5, hue * 6 // 255)


def _threshold(values: np.ndarray, levels: np.ndarray, k: int) -> np.float32:
    """Smallest of ``values`` whose level is >= ``k``; every value below it has a level < ``k``."""
    below, above = values[levels < k], values[levels >= k]
    if below.size and above.size and not below.max() < above.min():
        raise RuntimeError(f"colorhash: level {k} is not a threshold of the values")  # a bug, not bad input
    return np.float32(above.min())


_S85, _S170, _S171 = _saturation_thresholds()
_h_all, _bin_all = _hue_values()
# h >= 0 reaches bins 0..4 only (h <= 5 gives hue 212); h < 0 (red sector, g < b)
# reaches bins 4 and 5
_H1, _H2, _H3, _H4 = (_threshold(_h_all[_h_all >= 0], _bin_all[_h_all >= 0], k) for k in (1, 2, 3, 4))
_H5 = _threshold(_h_all[_h_all < 0], _bin_all[_h_all < 0], 5)
del _h_all, _bin_all


@njit(cache=True)
def _classify(rp, gp, bp, classes, m):
    """:func:`pixel_classes` of the ``m`` pixels ``(rp[p], gp[p], bp[p])`` (uint8 planes).

    All in float32 (exact: integers below 2**24, and the two quotients
    Pillow forms), no double arithmetic, two divisions per pixel. Pillow's hue
    needs one quotient only: of ``rc, gc, bc = (mx - c) / cr``, the max
    channel's is 0 and the min channel's is exactly 1, so with ``d`` the
    middle channel's quotient, Pillow's float32 ``h`` is ``k +- d`` rounded
    (``1 - d``, ``d - 1``, ``1 + d``, ``3 - d``, ``3 + d`` or ``5 - d`` by
    which channel is max, in Pillow's r, g, b order, and which is min).
    Saturation and hue bin are monotonic in the float32 quotients, so the
    classes come from comparisons with thresholds computed at import
    (:func:`_saturation_thresholds`, :func:`_hue_values`). The tests compare
    every 24-bit colour with Pillow's HSV.
    """
    one = np.float32(1.0)
    three = np.float32(3.0)
    five = np.float32(5.0)
    zero = np.float32(0.0)
    # black: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 < 32, i.e. the
    # weighted sum < 32 * 65536 - 0x8000 (every partial sum is an integer
    # below 2**24, exact in float32)
    black_limit = np.float32(32 * 65536 - 0x8000)
    for p in range(m):
        r = np.float32(rp[p])
        g = np.float32(gp[p])
        b = np.float32(bp[p])
        weighted = r * np.float32(19595) + g * np.float32(38470) + b * np.float32(7471)
        mx = max(r, max(g, b))
        mn = min(r, min(g, b))
        cr = mx - mn
        sat = cr / max(mx, one)
        d = (mx - (r + g + b - mx - mn)) / max(cr, one)
        if r == mx:
            h = one - d if g >= b else d - one
        elif g == mx:
            h = one + d if b <= r else three - d
        else:
            h = three + d if r <= g else five - d
        if h < zero:
            hbin = np.int32(4) + np.int32(h >= _H5)
        else:
            hbin = np.int32(h >= _H1) + np.int32(h >= _H2) + np.int32(h >= _H3) + np.int32(h >= _H4)
        if weighted < black_limit:
            c = np.int32(0)
        elif sat < _S85:
            c = np.int32(1)
        elif sat < _S170:
            c = np.int32(3) + hbin
        elif sat < _S171:
            c = np.int32(2)
        else:
            c = np.int32(9) + hbin
        classes[p] = c


@njit(cache=True)
def _split_channels(src, planes, m, step):
    """``planes[c, p] = src[step*p + c]`` for ``c`` < 3 and ``p < m`` (RGB or RGBA, interleaved).

    A loop of its own: LLVM turns these strided byte loads into a few byte
    shuffles per 16 pixels, where the same loads inside the classification
    loop became one insert per byte.
    """
    rp, gp, bp = planes[0], planes[1], planes[2]
    for p in range(m):
        rp[p] = src[step * p]
        gp[p] = src[step * p + 1]
        bp[p] = src[step * p + 2]


@njit(cache=True)
def pixel_classes(img, classes, planes):
    """Class of every pixel of a C-contiguous ``H x W x C`` uint8 image, into ``classes[:H*W]``.

    0 black, 1 grey, 2 colour with ``S == 170`` (in neither hue histogram),
    ``3 + bin`` faint, ``9 + bin`` bright: the index into the counts of
    :func:`colorhash_counts` (whose ``colour`` count is the sum of classes
    2..14). ``classes``: int32, ``planes``: a uint8 ``(3, >= H*W)`` work buffer.
    """
    height, width, channels = img.shape
    src = img.reshape(-1)
    m = height * width
    if channels == 3:
        _split_channels(src, planes, m, 3)
    elif channels == 4:
        _split_channels(src, planes, m, 4)
    else:
        grey = planes[0]
        for p in range(m):
            grey[p] = src[p * channels]
        _classify(grey, grey, grey, classes, m)
        return
    _classify(planes[0], planes[1], planes[2], classes, m)


@njit(cache=True)
def class_counts(classes, m, counts):
    """Counts (``N_COUNTS``, as :func:`colorhash_counts`) of ``classes[:m]``.

    ``classes`` is int32 (a uint8 store made LLVM vectorise
    :func:`_classify` 32 pixels wide and spill registers). Four interleaved
    histograms, so that runs of one class do not chain
    increments of one counter.
    """
    hist = np.zeros((4, 16), dtype=np.int64)
    stop = m - m % 4
    for p in range(0, stop, 4):
        hist[0, classes[p]] += 1
        hist[1, classes[p + 1]] += 1
        hist[2, classes[p + 2]] += 1
        hist[3, classes[p + 3]] += 1
    for p in range(stop, m):
        hist[0, classes[p]] += 1
    for k in range(N_COUNTS):
        counts[k] = 0
    for j in range(4):
        counts[0] += hist[j, 0]
        counts[1] += hist[j, 1]
        for k in range(2, N_COUNTS):
            counts[2] += hist[j, k]
        for k in range(3, N_COUNTS):
            counts[k] += hist[j, k]


@njit(cache=True, nogil=True)
def colorhash_batch(stack, binbits):
    """Colour hash bits of every image of a C-contiguous ``N x H x W x C`` uint8 stack.

    Returns bool ``(N, 14 * binbits)``.
    """
    n, height, width = stack.shape[0], stack.shape[1], stack.shape[2]
    out = np.zeros((n, N_VALUES * binbits), dtype=np.bool_)
    classes = np.zeros(height * width, dtype=np.int32)
    planes = np.zeros((3, height * width), dtype=np.uint8)
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    for i in range(n):
        pixel_classes(stack[i], classes, planes)
        class_counts(classes, height * width, counts)
        colorhash_bits(counts, height * width, binbits, out[i])
    return out
