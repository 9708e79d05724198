"""Colour hash kernels (ImageHash ``colorhash``): one pass over the pixels.

Per pixel: Pillow "L" grey and Pillow HSV (exact, see ``color.py``). Masks:
``black = L < 32``; ``grey = ~black & S < 85``; ``colour = ~black & S >= 85``,
split into ``faint`` (``S < 170``) and ``bright`` (``S > 170``), each counted
in six hue bins ``[0-42] [43-84] [85-127] [128-169] [170-212] [213-255]``.
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


@njit(cache=True, nogil=True)
def colorhash_batch(stack, binbits):
    """Colour hash bits of every image of an ``N x H x W x C`` uint8 stack.

    Returns bool ``(N, 14 * binbits)``.
    """
    n, height, width = stack.shape[0], stack.shape[1], stack.shape[2]
    out = np.zeros((n, N_VALUES * binbits), dtype=np.bool_)
    for i in range(n):
        counts = colorhash_counts(stack[i])
        colorhash_bits(counts, height * width, binbits, out[i])
    return out
