"""Colour hash kernels (ImageHash ``colorhash``): one pass over the pixels.

Per pixel: Pillow "L" grey and Pillow HSV (exact, see ``color.py``). Masks:
``black = L < 32``; ``grey = ~black & S < 85``; ``colour = ~black & S >= 85``,
split into ``faint`` (``S < 170``) and ``bright`` (``S > 170``), each counted
in six hue bins ``[0-42] [43-84] [85-127] [128-169] [170-212] [213-255]``.

:func:`colorhash_counts` is the plain per-pixel version (the reference of the
tests); the batch kernel classifies every pixel without branches in one flat
loop (:func:`pixel_classes`, which LLVM vectorises, divisions included) and
then counts the classes.
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


@njit(cache=True)
def _classify(src, classes, m, step, cg, cb):
    """:func:`pixel_classes` of ``m`` pixels ``src[step*p], src[step*p + cg], src[step*p + cb]``."""
    for p in range(m):
        q = step * p
        r = np.int32(src[q])
        g = np.int32(src[q + cg])
        b = np.int32(src[q + cb])
        lum = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
        mx = max(r, max(g, b))
        mn = min(r, min(g, b))
        cr = mx - mn
        # saturation as hsv_saturation (0 when mx == mn: then cr == 0)
        sat = np.int32(np.float64(np.float32(cr) / np.float32(max(mx, 1))) * 255.0)
        # hue as hsv_hue, every case computed and one selected
        crf = np.float32(max(cr, 1))
        rc = np.float32(mx - r) / crf
        gc = np.float32(mx - g) / crf
        bc = np.float32(mx - b) / crf
        h_r = bc - gc
        h_g = np.float32(2.0 + np.float64(rc) - np.float64(bc))
        h_b = np.float32(4.0 + np.float64(gc) - np.float64(rc))
        h = h_r if r == mx else (h_g if g == mx else h_b)
        wrapped = np.float64(h) / 6.0 + 1.0
        wrapped = wrapped - 1.0 if wrapped >= 1.0 else wrapped
        hue = np.int32(np.float64(np.float32(wrapped)) * 255.0)
        hue = min(max(hue, 0), 255)
        hbin = min(5, (hue * 6) // 255)
        if lum < 32:
            c = 0
        elif sat < 85:
            c = 1
        elif sat < 170:
            c = 3 + hbin
        elif sat > 170:
            c = 9 + hbin
        else:
            c = 2
        classes[p] = c


@njit(cache=True)
def pixel_classes(img, classes):
    """Class of every pixel of a C-contiguous ``H x W x C`` uint8 image, into ``classes[:H*W]``.

    0 black, 1 grey, 2 colour with ``S == 170`` (in neither hue histogram),
    ``3 + bin`` faint, ``9 + bin`` bright: the index into the counts of
    :func:`colorhash_counts` (whose ``colour`` count is the sum of classes
    2..14).
    """
    height, width, channels = img.shape
    src = img.reshape(-1)
    m = height * width
    if channels == 3:
        _classify(src, classes, m, 3, 1, 2)
    elif channels == 4:
        _classify(src, classes, m, 4, 1, 2)
    else:
        _classify(src, classes, m, channels, 0, 0)


@njit(cache=True)
def class_counts(classes, m, counts):
    """Counts (``N_COUNTS``, as :func:`colorhash_counts`) of ``classes[:m]``.

    Four interleaved histograms, so that runs of one class do not chain
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
    classes = np.zeros(height * width, dtype=np.uint8)
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    for i in range(n):
        pixel_classes(stack[i], classes)
        class_counts(classes, height * width, counts)
        colorhash_bits(counts, height * width, binbits, out[i])
    return out
