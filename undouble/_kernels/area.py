"""Area-interpolation downscaling of 8-bit images (the preprocessing resize to ``dim``).

Every output pixel is the mean of the source rectangle it covers, partial
pixels weighted by their covered fraction: OpenCV's ``INTER_AREA`` for
shrinking. OpenCV runs its general (non-integer ratio) case as a scalar loop,
about 3 ms for a 1000 x 750 RGB image to 128 x 128; here the vertical pass runs
first, along whole contiguous rows (vectorised), so the horizontal pass only
sees ``out_h`` rows. Sums are float32, as OpenCV's are, but in another order:
a few pixels in ten thousand round the other way (the tests bound it).

The weight tables come from :func:`undouble.preprocess.area_tables`.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _weighted_lines(out, lines, first, stop, index, weight):
    """``out[:] = sum(weight[k] * lines[index[k]] for k in range(first, stop))`` in float32."""
    for j in range(out.shape[0]):
        out[j] = 0.0
    for k in range(first, stop):
        line = lines[index[k]]
        w = weight[k]
        for j in range(out.shape[0]):
            out[j] += np.float32(line[j]) * w


@njit(cache=True, nogil=True)
def area_resize(src, row_start, row_index, row_weight, col_start, col_index, col_weight):
    """Shrink an ``H x W x C`` uint8 image with precomputed area weights.

    Output row ``o`` is ``sum(row_weight[k] * src[row_index[k]])`` over
    ``k in [row_start[o], row_start[o + 1])``; columns likewise. Returns
    ``out_h x out_w x C`` uint8, rounded half to even and clipped.

    The vertical pass writes its rows transposed (source column major), so
    that the horizontal pass also adds whole contiguous lines.
    """
    height, width, channels = src.shape
    out_h = row_start.shape[0] - 1
    out_w = col_start.shape[0] - 1
    flat = src.reshape(height, width * channels)
    acc = np.empty(width * channels, dtype=np.float32)
    columns = np.empty((width, out_h * channels), dtype=np.float32)  # columns[x, o * C + c]
    for o in range(out_h):
        _weighted_lines(acc, flat, row_start[o], row_start[o + 1], row_index, row_weight)
        for x in range(width):
            for c in range(channels):
                columns[x, o * channels + c] = acc[x * channels + c]
    line_out = np.empty(out_h * channels, dtype=np.float32)
    out = np.empty((out_h, out_w, channels), dtype=np.uint8)
    for p in range(out_w):
        _weighted_lines(line_out, columns, col_start[p], col_start[p + 1], col_index, col_weight)
        for o in range(out_h):
            for c in range(channels):
                value = np.rint(line_out[o * channels + c])
                out[o, p, c] = 0 if value < 0 else (255 if value > 255 else np.uint8(value))
    return out
