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
        for j in range(width * channels):
            acc[j] = 0.0
        for k in range(row_start[o], row_start[o + 1]):
            line = flat[row_index[k]]
            w = row_weight[k]
            for j in range(width * channels):
                acc[j] += np.float32(line[j]) * w
        for x in range(width):
            for c in range(channels):
                columns[x, o * channels + c] = acc[x * channels + c]
    line_out = np.empty(out_h * channels, dtype=np.float32)
    out = np.empty((out_h, out_w, channels), dtype=np.uint8)
    for p in range(out_w):
        for j in range(out_h * channels):
            line_out[j] = 0.0
        for k in range(col_start[p], col_start[p + 1]):
            column = columns[col_index[k]]
            w = col_weight[k]
            for j in range(out_h * channels):
                line_out[j] += column[j] * w
        for o in range(out_h):
            for c in range(channels):
                value = np.rint(line_out[o * channels + c])
                out[o, p, c] = 0 if value < 0 else (255 if value > 255 else np.uint8(value))
    return out
