"""Sharpness: sums of the Laplacian of an 8-bit grey image, in one pass.

The Laplacian is OpenCV's 3 x 3 aperture (``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``)
with its default border (reflect-101: the pixel beyond the edge is the one
next to the edge; a single row or column reflects onto itself). Values are
exact integers (``|v| <= 1020``), their sum and sum of squares exact int64, so
the variance made from them is as exact as float64 allows.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _reflect101(i, n):
    if n == 1:
        return 0
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


@njit(cache=True, nogil=True)
def laplacian_sums(grey):
    """``(sum, sum of squares)`` of the Laplacian of a 2-D uint8 image, as int64."""
    height, width = grey.shape
    total = np.int64(0)
    squares = np.int64(0)
    for y in range(height):
        up = grey[_reflect101(y - 1, height)]
        down = grey[_reflect101(y + 1, height)]
        row = grey[y]
        for x in range(1, width - 1):
            v = (np.int32(up[x]) + np.int32(down[x]) + np.int32(row[x - 1]) + np.int32(row[x + 1])
                 - 4 * np.int32(row[x]))
            total += v
            squares += v * v
        for x in range(0, width, max(width - 1, 1)):  # the first and the last column
            left = row[_reflect101(x - 1, width)]
            right = row[_reflect101(x + 1, width)]
            v = (np.int32(up[x]) + np.int32(down[x]) + np.int32(left) + np.int32(right)
                 - 4 * np.int32(row[x]))
            total += v
            squares += v * v
    return total, squares
