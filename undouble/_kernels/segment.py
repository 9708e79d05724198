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
from numba import njit

from .resample import lanczos_axis, resize_plane
from .unionfind import find_root

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
def _label_runs(mask):
    """4-connected components of a boolean image, as horizontal runs.

    Returns ``(row, x0, x1, root, n_runs)``: run ``k`` covers
    ``mask[row[k], x0[k]:x1[k]]`` (one class) and ``root[k]`` is the
    smallest run index of its component, i.e. the run holding the
    component's first pixel in row-major order. Two runs of adjacent rows
    are connected when they have the same class and overlapping columns.
    """
    h, w = mask.shape
    cap = h * w
    row = np.empty(cap, dtype=np.int64)
    x0 = np.empty(cap, dtype=np.int64)
    x1 = np.empty(cap, dtype=np.int64)
    parent = np.empty(cap, dtype=np.int64)
    n_runs = 0
    prev_start = 0
    for y in range(h):
        start = n_runs
        x = 0
        while x < w:
            v = mask[y, x]
            e = x + 1
            while e < w and mask[y, e] == v:
                e += 1
            row[n_runs], x0[n_runs], x1[n_runs] = y, x, e
            parent[n_runs] = n_runs
            n_runs += 1
            x = e
        # union with the overlapping runs of the previous row (same class)
        a, b = prev_start, start
        while y > 0 and a < start and b < n_runs:
            if x0[a] < x1[b] and x0[b] < x1[a] and mask[y - 1, x0[a]] == mask[y, x0[b]]:
                ra, rb = find_root(parent, a), find_root(parent, b)
                if ra < rb:
                    parent[rb] = ra
                elif rb < ra:
                    parent[ra] = rb
            if x1[a] <= x1[b]:
                a += 1
            else:
                b += 1
        prev_start = start
    root = np.empty(n_runs, dtype=np.int64)
    for k in range(n_runs):
        root[k] = find_root(parent, k)
    return row, x0, x1, root, n_runs


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
    ImageHash grows regions pixel by pixel; we label the same 4-connected
    components with runs and union-find (:func:`_label_runs`) and then
    replay its order: hills (``is_hill``) first, valleys second, each in
    row-major order of a component's first pixel. ImageHash's valley loop
    runs while its "segmented" set is smaller than ``H*W``; that set starts
    with the ``2*(H+W)`` out-of-image border neighbours and gains every
    pixel of a component of two or more pixels (one-pixel components never
    enter it).
    """
    h, w = plane.shape
    mask = np.empty((h, w), dtype=np.bool_)
    for y in range(h):
        for x in range(w):
            mask[y, x] = is_hill[plane[y, x]]
    row, x0, x1, root, n_runs = _label_runs(mask)
    # per component (indexed by its root run): size and bounding box
    size = np.zeros(n_runs, dtype=np.int64)
    r0 = np.empty(n_runs, dtype=np.int64)
    c0 = np.empty(n_runs, dtype=np.int64)
    r1 = np.empty(n_runs, dtype=np.int64)
    c1 = np.empty(n_runs, dtype=np.int64)
    for k in range(n_runs):
        r = root[k]
        if size[r] == 0:
            r0[r], c0[r], r1[r], c1[r] = row[k], x0[k], row[k], x1[k] - 1
        else:
            c0[r] = min(c0[r], x0[k])
            c1[r] = max(c1[r], x1[k] - 1)
            r1[r] = row[k]
        size[r] += x1[k] - x0[k]
    # replay ImageHash's order; seg[r]: kept index, -1 dropped, -2 unreached
    seg = np.full(n_runs, -2, dtype=np.int64)
    count = 0
    segmented = 2 * (h + w)
    exhausted = False
    for phase in range(2):
        want = phase == 0
        for r in range(n_runs):
            if root[r] != r or mask[row[r], x0[r]] != want:
                continue
            if not want and segmented >= h * w:
                break
            if size[r] > min_size:
                out[count, SEG_SIZE] = size[r]
                out[count, SEG_MIN_R] = r0[r]
                out[count, SEG_MIN_C] = c0[r]
                out[count, SEG_MAX_R] = r1[r]
                out[count, SEG_MAX_C] = c1[r]
                seg[r] = count
                count += 1
            else:
                seg[r] = -1
            if size[r] >= 2:
                segmented += size[r]
    if segmented < h * w:
        exhausted = True
    for k in range(n_runs):
        v = seg[root[k]]
        for x in range(x0[k], x1[k]):
            labels[row[k], x] = v
    return count, exhausted


# --------------------------------------------------------------------------
# Resizing the crops: Lanczos tables computed per crop inside the kernel
# (``lanczos_axis`` and the passes live in ``resample``)
# --------------------------------------------------------------------------

@njit(cache=True)
def resize_crop(plane, box, out):
    """Pillow-exact ``plane.crop(box).resize(out.shape[::-1], LANCZOS)`` into ``out``.

    ``box = (x0, y0, x1, y1)``; an empty crop gives a black image, as
    Pillow's resize of an empty image does.
    """
    out_h, out_w = out.shape
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        out[:, :] = 0
        return
    src = np.empty((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            src[y, x] = plane[y0 + y, x0 + x]
    row_b, row_c = lanczos_axis(w, out_w)
    col_b, col_c = lanczos_axis(h, out_h)
    dh = h - out_h
    out[:, :] = resize_plane(src, row_b, row_c, col_b, col_c, dh > 0 and dh > 2 * (w - out_w))


# --------------------------------------------------------------------------
# Segment order and crop boxes
# --------------------------------------------------------------------------

@njit(cache=True)
def round_half_even(v):
    """Python's ``round(v)`` of a float64, as an int."""
    f = math.floor(v)
    d = v - f  # exact
    if d > 0.5 or (d == 0.5 and f % 2.0 != 0.0):
        f += 1.0
    return int(f)


@njit(cache=True)
def _sort_by_size(rows, order):
    """Stable sort of ``order`` by ``rows[order, SEG_SIZE]``, largest first (merge sort)."""
    n = order.shape[0]
    tmp = np.empty_like(order)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            a, b, k = lo, mid, lo
            while a < mid and b < hi:
                if rows[order[b], SEG_SIZE] > rows[order[a], SEG_SIZE]:
                    tmp[k] = order[b]
                    b += 1
                else:
                    tmp[k] = order[a]
                    a += 1
                k += 1
            while a < mid:
                tmp[k] = order[a]
                a += 1
                k += 1
            while b < hi:
                tmp[k] = order[b]
                b += 1
                k += 1
        order[:] = tmp
        width *= 2


@njit(cache=True)
def order_boxes(rows, count, size, limit, width, height, boxes):
    """ImageHash's segment list and crop boxes of one image.

    ``rows[:count]`` are the segments of :func:`find_segments`. No segment:
    ImageHash's fallback ``{(0, 0), (S-1, S-1)}`` (the whole image).
    ``limit != 0`` (ImageHash's ``if limit_segments:``): stable sort by size,
    largest first, then Python's ``[:limit]``. Each box is
    ``round(coord * (W / S))`` (half to even), as ImageHash + Pillow's crop.
    Writes ``boxes[:k]`` (x0, y0, x1, y1) and returns ``k``.
    """
    if count == 0:
        rows[0, SEG_SIZE] = 2 if size > 1 else 1
        rows[0, SEG_MIN_R] = 0
        rows[0, SEG_MIN_C] = 0
        rows[0, SEG_MAX_R] = size - 1
        rows[0, SEG_MAX_C] = size - 1
        count = 1
    order = np.arange(count)
    keep = count
    if limit != 0:
        _sort_by_size(rows, order)
        keep = min(limit, count) if limit > 0 else max(count + limit, 0)
    scale_w = float(width) / size
    scale_h = float(height) / size
    for j in range(keep):
        r = rows[order[j]]
        boxes[j, 0] = min(max(round_half_even(r[SEG_MIN_C] * scale_w), 0), width)
        boxes[j, 1] = min(max(round_half_even(r[SEG_MIN_R] * scale_h), 0), height)
        boxes[j, 2] = min(max(round_half_even((r[SEG_MAX_C] + 1) * scale_w), 0), width)
        boxes[j, 3] = min(max(round_half_even((r[SEG_MAX_R] + 1) * scale_h), 0), height)
    return keep


# --------------------------------------------------------------------------
# The batch kernel
# --------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def crop_resistant_chunk(stack, row_b, row_c, col_b, col_c, vertical_first, is_hill, min_size,
                         size, cap, limit, out_w, out_h):
    """Segments, crop boxes and resized crops of every image of a grey stack.

    Per image: Lanczos resize to ``size x size`` (tables given),
    GaussianBlur(2), MedianFilter(3), :func:`find_segments`,
    :func:`order_boxes`, and, if ``out_w > 0``, :func:`resize_crop` of each
    box to ``out_w x out_h``. Serial and ``nogil``: the caller runs parts of
    a batch in threads (a ``parallel=True`` version took ~3x longer to
    compile).

    Returns ``boxes`` int64 (N, cap, 4), ``counts`` int64 (N,), ``exhausted``
    bool (N,) and ``crops`` uint8 (N, cap, out_h, out_w) (cap 0 when
    ``out_w == 0``). ``cap`` must be ``>= size*size // (max(min_size, 0) + 1)``
    and ``>= 1``.
    """
    n, height, width = stack.shape
    boxes = np.zeros((n, cap, 4), dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    exhausted = np.zeros(n, dtype=np.bool_)
    crops = np.zeros((n, cap if out_w > 0 else 0, out_h, out_w), dtype=np.uint8)
    for i in range(n):
        small = resize_plane(stack[i], row_b, row_c, col_b, col_c, vertical_first)
        plane = median3(gaussian_blur2(small))
        labels = np.empty((size, size), dtype=np.int32)
        rows = np.zeros((cap, SEG_FIELDS), dtype=np.int64)
        found, ran_out = find_segments(plane, is_hill, min_size, labels, rows)
        exhausted[i] = ran_out
        k = order_boxes(rows, found, size, limit, width, height, boxes[i])
        counts[i] = k
        if out_w > 0:
            for j in range(k):
                resize_crop(stack[i], boxes[i, j], crops[i, j])
    return boxes, counts, exhausted, crops
