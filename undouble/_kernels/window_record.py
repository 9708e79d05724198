"""Numba kernel of :func:`undouble.robust_refine._window_record`: a verification record of a window of another.

Each plane of the record (the grey S x S, the two colour-difference C x C,
the fine F x F) is resampled to its own size over the window (fractions of
the frame, edges may lie outside it): bilinear interpolation at the centres
of the output pixels, edges replicated, as ``cv2.warpAffine`` (INTER_LINEAR,
BORDER_REPLICATE) on the float32 plane does, rounded half to even and
saturated. The tests hold the OpenCV form as the reference.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _resample_plane(src, side, x0, y0, x1, y1, out):
    """``out`` (uint8, side * side): the window of the side x side uint8 plane ``src`` (flat) resampled to
    side x side; returns the mean of the unrounded values (float64)."""
    step_x = (x1 - x0)
    step_y = (y1 - y0)
    shift_x = x0 * side + 0.5 * step_x - 0.5
    shift_y = y0 * side + 0.5 * step_y - 0.5
    last = side - 1
    col_a = np.empty(side, np.int64)  # the columns and weights of a row, the same for every row
    col_b = np.empty(side, np.int64)
    col_t = np.empty(side, np.float32)
    for u in range(side):
        fx = step_x * u + shift_x
        ix = int(np.floor(fx))
        col_t[u] = np.float32(fx - ix)
        col_a[u] = min(max(ix, 0), last)
        col_b[u] = min(max(ix + 1, 0), last)
    total = 0.0
    for v in range(side):
        fy = step_y * v + shift_y
        iy = int(np.floor(fy))
        ay = np.float32(fy - iy)
        row_a = min(max(iy, 0), last) * side
        row_b = min(max(iy + 1, 0), last) * side
        for u in range(side):
            ax = col_t[u]
            p00 = np.float32(src[row_a + col_a[u]])
            p01 = np.float32(src[row_a + col_b[u]])
            p10 = np.float32(src[row_b + col_a[u]])
            p11 = np.float32(src[row_b + col_b[u]])
            top = p00 + ax * (p01 - p00)
            bottom = p10 + ax * (p11 - p10)
            value = top + ay * (bottom - top)
            total += value
            out[v * side + u] = np.uint8(min(np.float32(255.0), max(np.float32(0.0), np.rint(value))))
    return total / (side * side)


@njit(cache=True, nogil=True)
def window_record(rec, x0, y0, x1, y1, s, extra, c, f, fine_offset, out):
    """``out``: the record of the window ``(x0, y0, x1, y1)`` of the record ``rec`` (uint8, layout of
    :mod:`undouble.verify`: s*s grey, ``extra`` facts, two c*c colour-difference planes, f*f fine plane):
    every plane resampled, the facts copied, and for a colour record (fact 4 is 0) the mean R, G, B
    recomputed from the window's mean luma and colour differences."""
    out[:] = rec
    s2 = s * s
    mean_y = _resample_plane(rec[:s2], s, x0, y0, x1, y1, out[:s2])
    start = s2 + extra
    mean_cb = _resample_plane(rec[start:start + c * c], c, x0, y0, x1, y1, out[start:start + c * c])
    mean_cr = _resample_plane(rec[start + c * c:start + 2 * c * c], c, x0, y0, x1, y1,
                              out[start + c * c:start + 2 * c * c])
    _resample_plane(rec[fine_offset:fine_offset + f * f], f, x0, y0, x1, y1, out[fine_offset:fine_offset + f * f])
    if rec[s2 + 4] == 0:
        blue = mean_y + 2.0 * (mean_cb - 128.0)
        red = mean_y + 2.0 * (mean_cr - 128.0)
        green = (mean_y - 0.299 * red - 0.114 * blue) / 0.587
        out[s2] = np.uint8(min(255.0, max(0.0, np.rint(red))))
        out[s2 + 1] = np.uint8(min(255.0, max(0.0, np.rint(green))))
        out[s2 + 2] = np.uint8(min(255.0, max(0.0, np.rint(blue))))
