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
