"""Segmentation kernels of the crop-resistant hash (Pillow/ImageHash exact).

The crop-resistant hash resizes the grey image to ``S x S`` (Lanczos), blurs
it (Pillow ``GaussianBlur(2)``), median-filters it (Pillow ``MedianFilter(3)``)
and splits it into 4-connected "hill" (bright) and "valley" (dark) regions.
All arithmetic here is integer and reproduces Pillow's C code and ImageHash's
region growing exactly, including ImageHash's early stop of the valley search
(see :func:`find_segments`).
"""
import math

import numpy as np
from numba import njit, prange

from .resample import PRECISION_BITS, resize_plane

# Pillow's GaussianBlur(radius=2) is a 3-pass extended box blur of radius
# 1.375 (integer part 1): weight 1/3.75 on the 3 central taps and the
# remaining fraction on the two taps at distance 2, in 24-bit fixed point.
BLUR_WW = 4473924  # uint32(2**24 / 3.75)
BLUR_FW = 1677722  # (2**24 - 3 * BLUR_WW) // 2
BLUR_PASSES = 3

SEG_SIZE, SEG_MIN_R, SEG_MIN_C, SEG_MAX_R, SEG_MAX_C = 0, 1, 2, 3, 4
SEG_FIELDS = 5


@njit(cache=True)
def _clamp(i, n):
    if i < 0:
        return 0
    if i >= n:
        return n - 1
    return i


@njit(cache=True)
def _blur_px(m2, m1, c, p1, p2):
    near = np.uint32(m1) + np.uint32(c) + np.uint32(p1)
    far = np.uint32(m2) + np.uint32(p2)
    return np.uint8((near * np.uint32(BLUR_WW) + far * np.uint32(BLUR_FW) + np.uint32(1 << 23)) >> np.uint32(24))


@njit(cache=True)
def _blur_rows(src, dst):
    """One horizontal box-blur pass (edge pixels replicated).

    Each row is copied into a buffer padded by two replicated pixels on each
    side; the sums fit in uint32, as in Pillow's C code.
    """
    h, w = src.shape
    buf = np.empty(w + 4, dtype=np.uint8)
    for y in range(h):
        row = src[y]
        for x in range(w):
            buf[x + 2] = row[x]
        buf[0] = buf[1] = row[0]
        buf[w + 2] = buf[w + 3] = row[w - 1]
        out = dst[y]
        for x in range(w):
            out[x] = _blur_px(buf[x], buf[x + 1], buf[x + 2], buf[x + 3], buf[x + 4])


@njit(cache=True)
def _blur_cols(src, dst):
    """One vertical box-blur pass (edge rows replicated), row by row."""
    h, w = src.shape
    for y in range(h):
        r_m2, r_m1 = src[_clamp(y - 2, h)], src[_clamp(y - 1, h)]
        r_p1, r_p2 = src[_clamp(y + 1, h)], src[_clamp(y + 2, h)]
        r, out = src[y], dst[y]
        for x in range(w):
            out[x] = _blur_px(r_m2[x], r_m1[x], r[x], r_p1[x], r_p2[x])


@njit(cache=True)
def gaussian_blur2(plane):
    """Pillow ``ImageFilter.GaussianBlur(2)`` of a 2-D uint8 array.

    Three horizontal passes, then three vertical ones; each pass computes
    ``(ww*(p[x-1]+p[x]+p[x+1]) + fw*(p[x-2]+p[x+2]) + 2**23) >> 24`` with
    indices clamped to the edge and stores uint8.
    """
    a = plane.copy()
    b = np.empty_like(a)
    for _ in range(BLUR_PASSES):
        _blur_rows(a, b)
        a, b = b, a
    for _ in range(BLUR_PASSES):
        _blur_cols(a, b)
        a, b = b, a
    return a


@njit(cache=True)
def median3(plane):
    """Pillow ``ImageFilter.MedianFilter(3)``: exact 3x3 median, edges replicated.

    Each column triple is sorted once; the median of the 3x3 window is then
    ``med(max of the minima, med of the medians, min of the maxima)``.
    """
    h, w = plane.shape
    out = np.empty_like(plane)
    # column-sorted triples, padded by one replicated column on each side
    lo = np.empty(w + 2, dtype=np.uint8)
    mid = np.empty(w + 2, dtype=np.uint8)
    hi = np.empty(w + 2, dtype=np.uint8)
    for y in range(h):
        r0, r1, r2 = plane[_clamp(y - 1, h)], plane[y], plane[_clamp(y + 1, h)]
        for x in range(w):
            a, b, c = r0[x], r1[x], r2[x]
            lo[x + 1] = min(a, min(b, c))
            hi[x + 1] = max(a, max(b, c))
            mid[x + 1] = max(min(a, b), min(max(a, b), c))
        lo[0], mid[0], hi[0] = lo[1], mid[1], hi[1]
        lo[w + 1], mid[w + 1], hi[w + 1] = lo[w], mid[w], hi[w]
        o = out[y]
        for x in range(w):
            p = max(lo[x], max(lo[x + 1], lo[x + 2]))
            r = min(hi[x], min(hi[x + 1], hi[x + 2]))
            q0, q1, q2 = mid[x], mid[x + 1], mid[x + 2]
            q = max(min(q0, q1), min(max(q0, q1), q2))
            o[x] = max(min(p, q), min(max(p, q), r))
    return out


@njit(cache=True)
def _grow(mask, want, labels, w, label, start, queue, box):
    """Label the 4-connected component of ``mask == want`` containing ``start``.

    ``mask`` and ``labels`` are flat views of an image of width ``w``;
    unvisited pixels have label -2. Breadth-first with an explicit queue:
    the component's flat indices end up in ``queue[:size]`` and its
    bounding box ``(min_row, min_col, max_row, max_col)`` in ``box``.
    Returns the size.
    """
    n = mask.shape[0]
    labels[start] = label
    queue[0] = start
    head, tail = 0, 1
    r0, c0, r1, c1 = n, w, -1, -1
    while head < tail:
        p = queue[head]
        head += 1
        r = p // w
        c = p - r * w
        r0, r1 = min(r0, r), max(r1, r)
        c0, c1 = min(c0, c), max(c1, c)
        if r > 0 and labels[p - w] == -2 and mask[p - w] == want:
            labels[p - w] = label
            queue[tail] = p - w
            tail += 1
        if p + w < n and labels[p + w] == -2 and mask[p + w] == want:
            labels[p + w] = label
            queue[tail] = p + w
            tail += 1
        if c > 0 and labels[p - 1] == -2 and mask[p - 1] == want:
            labels[p - 1] = label
            queue[tail] = p - 1
            tail += 1
        if c + 1 < w and labels[p + 1] == -2 and mask[p + 1] == want:
            labels[p + 1] = label
            queue[tail] = p + 1
            tail += 1
    box[0], box[1], box[2], box[3] = r0, c0, r1, c1
    return tail


@njit(cache=True)
def _record(queue, size, box, labels, keep, out, count):
    """Store a kept component's size and box; mark a dropped one's pixels -1."""
    if not keep:
        for k in range(size):
            labels[queue[k]] = -1
        return count
    out[count, SEG_SIZE] = size
    out[count, SEG_MIN_R] = box[0]
    out[count, SEG_MIN_C] = box[1]
    out[count, SEG_MAX_R] = box[2]
    out[count, SEG_MAX_C] = box[3]
    return count + 1


@njit(cache=True)
def find_segments(plane, is_hill, min_size, labels, out):
    """ImageHash's ``_find_all_segments`` on a filtered grey plane.

    Parameters
    ----------
    plane : uint8 (H, W)
        Blurred and median-filtered grey image.
    is_hill : bool (256,)
        ``is_hill[v]``: whether grey value ``v`` is above the threshold.
    min_size : int
        Segments need more than ``min_size`` pixels.
    labels : int32 (H, W)
        Output: index of the kept segment of each pixel, -1 for pixels of
        dropped components, -2 for pixels never reached.
    out : int64 (cap, 5)
        Output rows ``(size, min_row, min_col, max_row, max_col)`` of the kept
        segments in ImageHash's order; ``cap >= H*W // (max(min_size, 0) + 1)``.

    Returns
    -------
    count : int
        Number of kept segments.
    exhausted : bool
        True where ImageHash raises ``IndexError``: its valley loop still
        wanted a region but none was left (we stop there instead).

    Notes
    -----
    Hills (``is_hill``) are grown first, valleys second, each in row-major
    order of a component's first pixel. ImageHash's valley loop runs while
    its "segmented" set is smaller than ``H*W``; that set starts with the
    ``2*(H+W)`` out-of-image border neighbours and gains every pixel of a
    component of two or more pixels (one-pixel components never enter it).
    """
    h, w = plane.shape
    n = h * w
    flat = plane.reshape(n) if plane.flags.c_contiguous else plane.copy().reshape(n)
    lab = labels.reshape(n)
    mask = np.empty(n, dtype=np.bool_)
    for p in range(n):
        mask[p] = is_hill[flat[p]]
        lab[p] = -2
    queue = np.empty(n, dtype=np.int64)
    box = np.empty(4, dtype=np.int64)
    count = 0
    segmented = 2 * (h + w)
    for p in range(n):
        if mask[p] and lab[p] == -2:
            size = _grow(mask, True, lab, w, count, p, queue, box)
            count = _record(queue, size, box, lab, size > min_size, out, count)
            if size >= 2:
                segmented += size
    p = 0
    while segmented < n:
        while p < n and (mask[p] or lab[p] != -2):
            p += 1
        if p == n:
            return count, True
        size = _grow(mask, False, lab, w, count, p, queue, box)
        count = _record(queue, size, box, lab, size > min_size, out, count)
        if size >= 2:
            segmented += size
    return count, False


@njit(cache=True)
def segment_plane(grey, row_b, row_c, col_b, col_c, vertical_first, is_hill, min_size, labels, out):
    """Resize (Lanczos tables), blur, median-filter and segment one grey image."""
    small = resize_plane(grey, row_b, row_c, col_b, col_c, vertical_first)
    return find_segments(median3(gaussian_blur2(small)), is_hill, min_size, labels, out)


@njit(cache=True, parallel=True)
def segment_batch(stack, row_b, row_c, col_b, col_c, vertical_first, is_hill, min_size, size, cap):
    """:func:`segment_plane` of every image of a grey stack (N, H, W).

    Returns ``segs`` int64 (N, cap, 5), ``counts`` int64 (N,) and
    ``exhausted`` bool (N,) (see :func:`find_segments`).
    """
    n = stack.shape[0]
    segs = np.zeros((n, cap, SEG_FIELDS), dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    exhausted = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        labels = np.empty((size, size), dtype=np.int32)
        c, e = segment_plane(stack[i], row_b, row_c, col_b, col_c, vertical_first,
                             is_hill, min_size, labels, segs[i])
        counts[i] = c
        exhausted[i] = e
    return segs, counts, exhausted


# --------------------------------------------------------------------------
# Resizing the crops: Lanczos tables computed per crop inside the kernel
# --------------------------------------------------------------------------

@njit(cache=True)
def _sinc(x):
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


@njit(cache=True)
def lanczos_axis(n_in, n_out):
    """``undouble.resample.lanczos_tables(n_in, n_out)``, compiled.

    Same float64 operations in the same order (``math.sin`` is the C
    library's ``sin``, as in CPython), so the integer taps are identical;
    the tests compare both on many sizes. ``n_in == n_out`` gives empty
    tables (the pass is skipped, as in Pillow).
    """
    if n_in == n_out:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, 1), dtype=np.int64)
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    inv_filterscale = 1.0 / filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.zeros((n_out, 2), dtype=np.int64)
    coeffs = np.zeros((n_out, ksize), dtype=np.int64)
    weights = np.zeros(ksize, dtype=np.float64)
    one = float(1 << PRECISION_BITS)
    for o in range(n_out):
        center = (o + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))
        xmax = min(n_in, int(center + support + 0.5)) - xmin
        total = 0.0
        for x in range(xmax):
            t = (x + xmin - center + 0.5) * inv_filterscale
            w = 0.0
            if -3.0 <= t < 3.0:
                w = _sinc(t) * _sinc(t / 3.0)
            weights[x] = w
            total += w
        for x in range(xmax):
            w = weights[x]
            if total != 0.0:
                w = w / total
            coeffs[o, x] = int(w * one + 0.5) if w >= 0 else int(w * one - 0.5)
        bounds[o, 0] = xmin
        bounds[o, 1] = xmax
    return bounds, coeffs


@njit(cache=True, parallel=True)
def resize_crops(stack, owner, boxes, out_w, out_h):
    """Pillow-exact Lanczos resize of many crops to one size.

    ``stack`` (N, H, W) uint8 grey images; crop ``k`` is
    ``stack[owner[k], y0:y1, x0:x1]`` with ``boxes[k] = (x0, y0, x1, y1)``.
    An empty crop gives a black image, as Pillow's resize of an empty image.
    Returns uint8 (M, out_h, out_w).
    """
    m = owner.shape[0]
    out = np.zeros((m, out_h, out_w), dtype=np.uint8)
    for k in prange(m):
        x0, y0, x1, y1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            continue
        src = np.ascontiguousarray(stack[owner[k], y0:y1, x0:x1])
        row_b, row_c = lanczos_axis(w, out_w)
        col_b, col_c = lanczos_axis(h, out_h)
        dh = h - out_h
        vertical_first = dh > 0 and dh > 2 * (w - out_w)
        out[k] = resize_plane(src, row_b, row_c, col_b, col_c, vertical_first)
    return out
