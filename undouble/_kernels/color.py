"""Colour conversions with Pillow's exact arithmetic."""
import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def pillow_l(r, g, b):
    """Pillow's "L" of one pixel: ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`` (int32)."""
    return (np.int32(r) * 19595 + np.int32(g) * 38470 + np.int32(b) * 7471 + 0x8000) >> 16


@njit(cache=True)
def rgb_to_l(rgb):
    """Pillow ``convert('L')`` of an H x W x C (C >= 3) uint8 RGB(A) array.

    ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``; alpha is ignored.
    int32 arithmetic over one row at a time, so that LLVM vectorises it.
    """
    height, width = rgb.shape[0], rgb.shape[1]
    out = np.empty((height, width), dtype=np.uint8)
    for y in range(height):
        src = rgb[y]
        dst = out[y]
        for x in range(width):
            dst[x] = (np.int32(src[x, 0]) * 19595 + np.int32(src[x, 1]) * 38470
                      + np.int32(src[x, 2]) * 7471 + 0x8000) >> 16
    return out


@njit(cache=True)
def hsv_saturation(mx, mn):
    """Pillow's HSV saturation (0..255) from ``max(r, g, b)`` and ``min(r, g, b)``.

    ``s = float32(mx - mn) / float32(mx)`` in float32, then ``int(s * 255.0)``
    in double (truncation), clipped; 0 when ``mx == mn``.
    """
    if mx == mn:
        return np.int64(0)
    s = np.float32(mx - mn) / np.float32(mx)
    return min(max(np.int64(np.float64(s) * 255.0), np.int64(0)), np.int64(255))


@njit(cache=True)
def hsv_hue(r, g, b, mx, mn):
    """Pillow's HSV hue (0..255) of int64 ``r, g, b`` with their max and min.

    Pillow's C code (``rgb2hsv_row``) mixes float32 variables with double
    constants; each rounding step is reproduced: ``cr``, ``rc``, ``gc``, ``bc``
    and ``h`` are float32 (each quotient rounded to float32), ``2.0 + rc - bc``
    and ``4.0 + gc - rc`` are evaluated in double and stored to float32, the
    ``fmod`` and the final ``* 255.0`` are in double, then truncated and
    clipped. 0 when ``mx == mn``.
    """
    if mx == mn:
        return np.int64(0)
    cr = np.float32(mx - mn)
    rc = np.float32(mx - r) / cr
    gc = np.float32(mx - g) / cr
    bc = np.float32(mx - b) / cr
    if r == mx:
        h = bc - gc
    elif g == mx:
        h = np.float32(2.0 + np.float64(rc) - np.float64(bc))
    else:
        h = np.float32(4.0 + np.float64(gc) - np.float64(rc))
    # fmod(h / 6.0 + 1.0, 1.0) in double: the argument lies in [5/6, 11/6], where
    # fmod is exactly "subtract 1 if >= 1" (Sterbenz), without the libm call
    wrapped = np.float64(h) / 6.0 + 1.0
    if wrapped >= 1.0:
        wrapped -= 1.0
    h = np.float32(wrapped)
    return min(max(np.int64(np.float64(h) * 255.0), np.int64(0)), np.int64(255))


@njit(cache=True)
def hsv_pixel(r, g, b):
    """Pillow's RGB -> HSV of one pixel: ``(H, S, V)`` as int64 in 0..255."""
    r = np.int64(r)
    g = np.int64(g)
    b = np.int64(b)
    mx = max(r, max(g, b))
    mn = min(r, min(g, b))
    return hsv_hue(r, g, b, mx, mn), hsv_saturation(mx, mn), mx


@njit(cache=True)
def rgb_to_hsv(rgb):
    """Pillow ``convert('HSV')`` of an H x W x C (C >= 3) uint8 RGB(A) array.

    Returns an H x W x 3 uint8 array; alpha is ignored. See :func:`hsv_hue`.
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


@njit(cache=True, nogil=True)
def count_spread_above(rgb, tolerance):
    """Pixels of an H x W x C (C >= 3) uint8 array whose channels 0..2 lie more than ``tolerance`` apart.

    The spread of a pixel is ``max(r, g, b) - min(r, g, b)``.
    """
    height, width = rgb.shape[0], rgb.shape[1]
    count = 0
    for y in range(height):
        for x in range(width):
            r = np.int32(rgb[y, x, 0])
            g = np.int32(rgb[y, x, 1])
            b = np.int32(rgb[y, x, 2])
            spread = max(r, g, b) - min(r, g, b)
            count += 1 if spread > tolerance else 0
    return count
