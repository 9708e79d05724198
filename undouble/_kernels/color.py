"""Colour conversions with Pillow's exact arithmetic."""
import numpy as np
from numba import njit


@njit(cache=True)
def rgb_to_l(rgb):
    """Pillow ``convert('L')`` of an H x W x C (C >= 3) uint8 RGB(A) array.

    ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``; alpha is ignored.
    """
    height, width = rgb.shape[0], rgb.shape[1]
    out = np.empty((height, width), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            r = np.uint32(rgb[y, x, 0])
            g = np.uint32(rgb[y, x, 1])
            b = np.uint32(rgb[y, x, 2])
            out[y, x] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    return out


@njit(cache=True)
def hsv_pixel(r, g, b):
    """Pillow's RGB -> HSV of one pixel: ``(H, S, V)`` as ints in 0..255.

    Pillow's C code (``rgb2hsv_row``) mixes float32 variables with double
    constants; this reproduces each rounding step: ``cr``, ``s``, ``rc``,
    ``gc``, ``bc`` and ``h`` are float32, ``2.0 + rc - bc`` and ``4.0 + gc - rc``
    are evaluated in double and stored to float32, the ``fmod`` and the final
    ``* 255.0`` are in double, then truncated and clipped.
    """
    r = np.int64(r)
    g = np.int64(g)
    b = np.int64(b)
    mx = max(r, max(g, b))
    mn = min(r, min(g, b))
    if mx == mn:
        return np.int64(0), np.int64(0), mx
    cr = np.float32(mx - mn)
    s = cr / np.float32(mx)
    rc = np.float32(mx - r) / cr
    gc = np.float32(mx - g) / cr
    bc = np.float32(mx - b) / cr
    if r == mx:
        h = bc - gc
    elif g == mx:
        h = np.float32(2.0 + np.float64(rc) - np.float64(bc))
    else:
        h = np.float32(4.0 + np.float64(gc) - np.float64(rc))
    h = np.float32(np.fmod(np.float64(h) / 6.0 + 1.0, 1.0))
    hue = np.int64(np.float64(h) * 255.0)
    sat = np.int64(np.float64(s) * 255.0)
    return min(max(hue, np.int64(0)), np.int64(255)), min(max(sat, np.int64(0)), np.int64(255)), mx


@njit(cache=True)
def rgb_to_hsv(rgb):
    """Pillow ``convert('HSV')`` of an H x W x C (C >= 3) uint8 RGB(A) array.

    Returns an H x W x 3 uint8 array; alpha is ignored. See :func:`hsv_pixel`.
    """
    height, width = rgb.shape[0], rgb.shape[1]
    out = np.empty((height, width, 3), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            h, s, v = hsv_pixel(rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2])
            out[y, x, 0] = h
            out[y, x, 1] = s
            out[y, x, 2] = v
    return out
