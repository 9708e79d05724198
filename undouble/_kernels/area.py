"""Area-interpolation downscaling of 8-bit images (the preprocessing resize to ``dim``).

Every output pixel is the mean of the source rectangle it covers, partial
pixels weighted by their covered fraction: OpenCV's ``INTER_AREA`` for
shrinking. OpenCV runs its general (non-integer ratio) case as a scalar loop,
about 3 ms for a 1000 x 750 RGB image to 128 x 128. Here each output row is
first the weighted sum of whole contiguous source rows (vectorised), then
each output pixel the weighted sum of the few consecutive pixels of that row
it covers, the three channels of RGB in three running sums. Sums are
float32, as OpenCV's are, but in another order: a few pixels in ten thousand
round the other way (the tests bound it).

The weight tables come from :func:`undouble.preprocess.area_axis`.
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
def _to_uint8(value):
    """Round half to even and clip to 0..255."""
    rounded = np.rint(value)
    return 0 if rounded < 0 else (255 if rounded > 255 else np.uint8(rounded))


@njit(cache=True, nogil=True)
def area_resize(src, row_start, row_index, row_weight, col_start, col_index, col_weight):
    """Shrink an ``H x W x C`` uint8 image with precomputed area weights.

    Output row ``o`` is ``sum(row_weight[k] * src[row_index[k]])`` over
    ``k in [row_start[o], row_start[o + 1])``; columns likewise. Returns
    ``out_h x out_w x C`` uint8, rounded half to even and clipped.

    Each output row is finished before the next is started: its vertical sum
    stays in the cache for the horizontal one, and nothing is transposed
    (a transposed copy of all the vertical sums cost a scattered store per
    value). ``benchmarks/bench_kernels.py`` compares it with OpenCV.
    """
    height, width, channels = src.shape
    out_h = row_start.shape[0] - 1
    out_w = col_start.shape[0] - 1
    flat = src.reshape(height, width * channels)
    line = np.empty(width * channels, dtype=np.float32)
    out = np.empty((out_h, out_w, channels), dtype=np.uint8)
    for o in range(out_h):
        _weighted_lines(line, flat, row_start[o], row_start[o + 1], row_index, row_weight)
        row = out[o]
        if channels == 3:
            for p in range(out_w):
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                s2 = np.float32(0.0)
                for k in range(col_start[p], col_start[p + 1]):
                    w = col_weight[k]
                    x = col_index[k] * 3
                    s0 += line[x] * w
                    s1 += line[x + 1] * w
                    s2 += line[x + 2] * w
                row[p, 0] = _to_uint8(s0)
                row[p, 1] = _to_uint8(s1)
                row[p, 2] = _to_uint8(s2)
        else:
            for p in range(out_w):
                for c in range(channels):
                    s = np.float32(0.0)
                    for k in range(col_start[p], col_start[p + 1]):
                        s += line[col_index[k] * channels + c] * col_weight[k]
                    row[p, c] = _to_uint8(s)
    return out
