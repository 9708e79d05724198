"""Numba kernels of robust mode (issue 21): orientation and window DCT hashes, bipartite search.

Window DCT hash
---------------
The hash of a window ``[x0, x1) x [y0, y1)`` (pixel units, pixel ``x`` covers
``[x, x + 1)``) of a grey image is ImageHash's phash computed directly on the
window: the low ``h x h`` coefficients of the (unnormalised) 2-D DCT-II, with
basis ``cos(pi k (c - x0) / (x1 - x0))`` at the centre ``c`` of the covered
part of each pixel, weighted by its coverage; bit ``r*h + c`` is
``coef[r, c] > median(coef)``, packed most significant bit first.
For the window ``[0, 32)`` of a 32 x 32 image this is exactly ImageHash's
``phash`` (its resize to 32 x 32 is then the identity).

Orientations
------------
Orientation codes ``o`` (the image transformed, as numpy does it):
0 identity, 1 ``rot90(a, -1)`` (90 degrees clockwise), 2 ``rot90(a, 2)``,
3 ``rot90(a, 1)`` (270 clockwise), 4 ``a[:, ::-1]`` (mirror), 5 ``a[::-1]``
(flip), 6 ``a.T`` (transpose), 7 ``rot90(a.T, 2)`` (anti-transpose).
Reversing an axis multiplies the DCT coefficients of that axis by ``(-1)^k``
and a transpose transposes the coefficient block, so all 8 hashes of a full
frame come from one DCT (the median is recomputed per orientation).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

N_ORIENT = 8


@njit(cache=True)
def _axis_basis(length, lo, hi, nfreq, out, by_recurrence=False):
    """``out[k, x]``: weight of pixel ``x`` (of ``length``) for frequency ``k`` on the window ``[lo, hi)``.

    ``by_recurrence``: one cosine per pixel, ``cos(k t)`` from ``cos(t)`` by the Chebyshev recurrence
    ``c[k] = 2 cos(t) c[k - 1] - c[k - 2]`` (the same weights up to rounding, about 1e-15), for the window
    grid and the content boxes, whose intervals are all new (the cosines were half of the cost of hashing
    the boxes); the orientation hashes, equal to ImageHash's phash bit for bit, take a cosine per weight.
    """
    span = hi - lo
    for x in range(length):
        a = max(lo, float(x))
        b = min(hi, float(x + 1))
        for k in range(nfreq):
            out[k, x] = 0.0
        if b <= a:
            continue
        cover = b - a
        centre = 0.5 * (a + b)
        u = (centre - lo) / span
        if not by_recurrence:
            for k in range(nfreq):
                out[k, x] = cover * np.cos(np.pi * k * u)
            continue
        c1 = np.cos(np.pi * u)
        before, here = 1.0, c1
        out[0, x] = cover
        if nfreq > 1:
            out[1, x] = cover * c1
        for k in range(2, nfreq):
            before, here = here, 2.0 * c1 * here - before
            out[k, x] = cover * here


@njit(cache=True)
def _row_pass(img, by, nfreq, tmp):
    """``tmp = by @ img`` (``img`` H x W, ``by`` nfreq x H), skipping the rows ``by`` does not cover."""
    h, w = img.shape
    for r in range(nfreq):
        for x in range(w):
            tmp[r, x] = 0.0
        for y in range(h):
            wy = by[r, y]
            if wy == 0.0:
                continue
            for x in range(w):
                tmp[r, x] += wy * img[y, x]


@njit(cache=True)
def _lowfreq(img, bx, by, nfreq, tmp, coef):
    """``coef = by @ img @ bx.T`` (``img`` H x W, ``by`` nfreq x H, ``bx`` nfreq x W)."""
    w = img.shape[1]
    _row_pass(img, by, nfreq, tmp)
    for r in range(nfreq):
        for c in range(nfreq):
            s = 0.0
            for x in range(w):
                s += tmp[r, x] * bx[c, x]
            coef[r, c] = s


@njit(cache=True)
def _two_ranks(values, n, lower_rank, upper_rank, below):
    """The ``lower_rank``-th and ``upper_rank``-th smallest of ``values[:n]`` (0-based; not modified).

    The ``k``-th smallest value is the largest value with at most ``k`` values
    strictly below it (ties included); ``below[:n]`` (float64 scratch) counts
    them, in floats, which LLVM vectorises (for a few dozen values the
    branch-free comparisons beat a quickselect).
    """
    for i in range(n):
        below[i] = 0.0
    for j in range(n):
        vj = values[j]
        for i in range(n):
            below[i] += 1.0 if vj < values[i] else 0.0
    lower = -np.inf
    upper = -np.inf
    for i in range(n):  # branch-free selects: the comparisons are unpredictable
        v = values[i]
        lower = max(lower, v if below[i] <= lower_rank else -np.inf)
        upper = max(upper, v if below[i] <= upper_rank else -np.inf)
    return lower, upper


@njit(cache=True)
def _median_by_ranks(values, n, below):
    """Median of ``values[:n]`` (not modified): the mean of the two middle values for even ``n``
    (:func:`_two_ranks` on all of them)."""
    lower, upper = _two_ranks(values, n, (n - 1) // 2, n // 2, below)
    if n % 2 == 1:
        return upper
    return 0.5 * (lower + upper)


@njit(cache=True)
def _bits_word(coef, nfreq, buf):
    """Pack ``coef > median(coef)`` row-major, most significant bit first (nfreq*nfreq <= 64; ``buf`` scratch of
    128: the values, then the counts of :func:`_median_by_ranks`)."""
    nb = nfreq * nfreq
    for r in range(nfreq):
        for c in range(nfreq):
            buf[r * nfreq + c] = coef[r, c]
    med = _median_by_ranks(buf, nb, buf[64:])
    word = np.uint64(0)
    for r in range(nfreq):
        for c in range(nfreq):
            if coef[r, c] > med:
                word |= np.uint64(1) << np.uint64(nb - 1 - (r * nfreq + c))
    return word


@njit(cache=True)
def _sign_word(coef, nfreq):
    """Pack ``coef > 0`` row-major, most significant bit first (nfreq*nfreq <= 64): the signs of the
    cosine coefficients, no median to select (the DC bit is set for any image that is not all black)."""
    nb = nfreq * nfreq
    word = np.uint64(0)
    for r in range(nfreq):
        for c in range(nfreq):
            if coef[r, c] > 0.0:
                word |= np.uint64(1) << np.uint64(nb - 1 - (r * nfreq + c))
    return word


@njit(cache=True)
def _orient_coef(coef, o, out):
    """The DCT block of the image transformed by orientation ``o`` (see the module docstring)."""
    n = coef.shape[0]
    for r in range(n):
        for c in range(n):
            # source image a; target t = T_o(a). Express t's coefficient (r, c).
            if o == 0:
                v = coef[r, c]
            elif o == 4:  # mirror: columns reversed
                v = coef[r, c] * (1 - 2 * (c & 1))
            elif o == 5:  # flip: rows reversed
                v = coef[r, c] * (1 - 2 * (r & 1))
            elif o == 2:  # both
                v = coef[r, c] * (1 - 2 * ((r + c) & 1))
            elif o == 6:  # transpose
                v = coef[c, r]
            elif o == 1:  # rot90 clockwise = mirror(transpose)
                v = coef[c, r] * (1 - 2 * (c & 1))
            elif o == 3:  # rot90 counter-clockwise = flip(transpose)
                v = coef[c, r] * (1 - 2 * (r & 1))
            else:  # 7: anti-transpose = rot180(transpose)
                v = coef[c, r] * (1 - 2 * ((r + c) & 1))
            out[r, c] = v


@njit(cache=True)
def orientation_hashes(grey, nfreq, out):
    """The 8 orientation hashes of the full frame of each image.

    grey : uint8 N x H x W; out : uint64 N x 8 (orientation codes of the module docstring).
    """
    n, h, w = grey.shape
    bx = np.empty((nfreq, w))
    by = np.empty((nfreq, h))
    _axis_basis(w, 0.0, float(w), nfreq, bx)
    _axis_basis(h, 0.0, float(h), nfreq, by)
    img = np.empty((h, w))
    tmp = np.empty((nfreq, w))
    coef = np.empty((nfreq, nfreq))
    oc = np.empty((nfreq, nfreq))
    buf = np.empty(128)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                img[y, x] = grey[i, y, x]
        _lowfreq(img, bx, by, nfreq, tmp, coef)
        for o in range(N_ORIENT):
            _orient_coef(coef, o, oc)
            out[i, o] = _bits_word(oc, nfreq, buf)


@njit(cache=True)
def _grid_bases(h, w, xints, yints, nfreq, bxt, xlo, xhi, bys):
    """The cosine weights of intervals ``xints`` (x-major, ``bxt[a, x, c]``, with the covered columns
    ``[xlo[a], xhi[a])``) and ``yints`` (``bys[b, r, y]``) for an H x W image."""
    bx = np.empty((nfreq, w))
    for a in range(xints.shape[0]):
        _axis_basis(w, xints[a, 0] * w, xints[a, 1] * w, nfreq, bx, True)
        for x in range(w):
            for c in range(nfreq):
                bxt[a, x, c] = bx[c, x]
        xlo[a] = max(0, int(np.floor(xints[a, 0] * w)))
        xhi[a] = min(w, int(np.ceil(xints[a, 1] * w)))
    for b in range(yints.shape[0]):
        _axis_basis(h, yints[b, 0] * h, yints[b, 1] * h, nfreq, bys[b], True)


@njit(cache=True)
def _window_coef8(tmp, bx, lo, hi, coef):
    """``coef = tmp[:, lo:hi] @ bx[lo:hi]`` for 8 frequencies, each sum in the order of x (as the generic
    loop of :func:`_hash_grid`, to the bit), in eight running sums that stay in registers."""
    for r in range(8):
        c0 = 0.0
        c1 = 0.0
        c2 = 0.0
        c3 = 0.0
        c4 = 0.0
        c5 = 0.0
        c6 = 0.0
        c7 = 0.0
        for x in range(lo, hi):
            t = tmp[r, x]
            c0 += t * bx[x, 0]
            c1 += t * bx[x, 1]
            c2 += t * bx[x, 2]
            c3 += t * bx[x, 3]
            c4 += t * bx[x, 4]
            c5 += t * bx[x, 5]
            c6 += t * bx[x, 6]
            c7 += t * bx[x, 7]
        coef[r, 0] = c0
        coef[r, 1] = c1
        coef[r, 2] = c2
        coef[r, 3] = c3
        coef[r, 4] = c4
        coef[r, 5] = c5
        coef[r, 6] = c6
        coef[r, 7] = c7


@njit(cache=True)
def _hash_grid(img, bxt, xlo, xhi, bys, nfreq, tmp, coef, buf, out, sign=False):
    """``out[b * A + a]``: the hash of window ``(a, b)`` of one image from :func:`_grid_bases`' weights.
    The row pass ``by @ img`` is shared by all windows of one ``b``."""
    na = bxt.shape[0]
    for b in range(bys.shape[0]):
        _row_pass(img, bys[b], nfreq, tmp)
        for a in range(na):
            bx = bxt[a]
            if nfreq == 8:
                _window_coef8(tmp, bx, xlo[a], xhi[a], coef)
                out[b * na + a] = _sign_word(coef, nfreq) if sign else _bits_word(coef, nfreq, buf)
                continue
            for r in range(nfreq):
                for c in range(nfreq):
                    coef[r, c] = 0.0
                for x in range(xlo[a], xhi[a]):
                    t = tmp[r, x]
                    for c in range(nfreq):
                        coef[r, c] += t * bx[x, c]
            out[b * na + a] = _sign_word(coef, nfreq) if sign else _bits_word(coef, nfreq, buf)


@njit(cache=True, parallel=True)
def grid_window_hashes(grey, xints, yints, nfreq, out, sign=False):
    """The DCT hash of every window ``xints[a] x yints[b]`` of each image.

    grey : uint8 N x H x W; xints : float64 A x 2, yints : float64 B x 2, the
    intervals ``[lo, hi)`` as fractions of the width / height; out : uint64
    N x (B * A), window ``b * A + a``. Images in parallel (Numba threads).
    """
    n, h, w = grey.shape
    na = xints.shape[0]
    bxt = np.empty((na, w, nfreq))  # x-major: the inner loop runs over frequencies
    xlo = np.empty(na, np.int64)
    xhi = np.empty(na, np.int64)
    bys = np.empty((yints.shape[0], nfreq, h))
    _grid_bases(h, w, xints, yints, nfreq, bxt, xlo, xhi, bys)
    for i in prange(n):
        tmp = np.empty((nfreq, w))
        coef = np.empty((nfreq, nfreq))
        buf = np.empty(128)
        _hash_grid(grey[i], bxt, xlo, xhi, bys, nfreq, tmp, coef, buf, out[i], sign)


@njit(cache=True, nogil=True)
def pack_grid_signs(coef, na, out):
    """``out[i, b * na + a]``: the sign word (:func:`_sign_word`) of the 8 x 8 block
    ``coef[i, 8b:8b+8, 8a:8a+8]`` (float32 N x 8B x 8A, the coefficients of all
    windows of a grid, see :func:`undouble.robust.grid_sign_hashes`). A row of coefficients at a
    time: its signs as bytes first (a loop the compiler vectorises), then one byte of each window's
    word, so the words of a row of windows are built side by side (3-4x faster than a word at a
    time). One thread: the callers run it on parts of the images in threads of their own."""
    n = coef.shape[0]
    nb = coef.shape[1] // 8
    width = coef.shape[2]
    flags = np.empty(width, np.uint8)
    words = np.empty(na, np.uint64)
    for i in range(n):
        for b in range(nb):
            for a in range(na):
                words[a] = 0
            for r in range(8):
                row = coef[i, 8 * b + r]
                for j in range(width):
                    flags[j] = 1 if row[j] > 0.0 else 0
                for a in range(na):
                    byte = 0
                    for c in range(8):  # a constant count: unrolled into constant shifts
                        byte = (byte << 1) | flags[8 * a + c]
                    words[a] = (words[a] << np.uint64(8)) | np.uint64(byte)
            for a in range(na):
                out[i, b * na + a] = words[a]


@njit(cache=True, nogil=True)
def box_grid_hashes(grey, owners, xints, yints, nfreq, out, sign=False):
    """Per box ``k``, the hashes of the windows ``xints[k, a] x yints[k, b]`` of image ``owners[k]``.

    xints : float64 K x A x 2, yints : float64 K x B x 2; out : uint64 K x (B * A),
    as :func:`grid_window_hashes` of that image with these intervals. One thread (the caller's threads
    run it on parts of the images).
    """
    h, w = grey.shape[1], grey.shape[2]
    na = xints.shape[1]
    for k in range(owners.shape[0]):
        bxt = np.empty((na, w, nfreq))
        xlo = np.empty(na, np.int64)
        xhi = np.empty(na, np.int64)
        bys = np.empty((yints.shape[1], nfreq, h))
        _grid_bases(h, w, xints[k], yints[k], nfreq, bxt, xlo, xhi, bys)
        tmp = np.empty((nfreq, w))
        coef = np.empty((nfreq, nfreq))
        buf = np.empty(128)
        _hash_grid(grey[owners[k]], bxt, xlo, xhi, bys, nfreq, tmp, coef, buf, out[k], sign)


@njit(cache=True)
def _edge_counts(plane, threshold, along_rows, out):
    """``out[k]``: how many more pixels step up than down (or down than up) by more than ``threshold``
    grey levels across the boundary before column ``k`` (``along_rows`` False) or row ``k`` (True);
    ``out[0]`` = 0. A photo's edge against a frame steps one way along its length; texture both ways."""
    h, w = plane.shape
    n = h if along_rows else w
    m = w if along_rows else h
    out[0] = 0
    for k in range(1, n):
        c = 0
        for t in range(m):
            if along_rows:
                d = np.int64(plane[k, t]) - np.int64(plane[k - 1, t])
            else:
                d = np.int64(plane[t, k]) - np.int64(plane[t, k - 1])
            if d > threshold:
                c += 1
            elif d < -threshold:
                c -= 1
        out[k] = abs(c)


@njit(cache=True)
def _two_best(counts, lo, hi, min_count, apart, out):
    """The position in ``[lo, hi)`` with the most edge pixels and the best one more than ``apart`` from
    it (an edge smeared over a few rows is one edge), each with at least ``min_count``; -1 where none."""
    out[0] = -1
    out[1] = -1
    for k in range(lo, hi):
        if counts[k] >= min_count and (out[0] < 0 or counts[k] > counts[out[0]]):
            out[0] = k
    if out[0] < 0:
        return
    for k in range(lo, hi):
        if abs(k - out[0]) > apart and counts[k] >= min_count and (out[1] < 0 or counts[k] > counts[out[1]]):
            out[1] = k


@njit(cache=True)
def _edge_centre(counts, k):
    """Position of the edge at ``k`` (a boundary index): the count-weighted centre of the run of
    boundaries around ``k`` with at least half its count (an edge resampled over a few rows)."""
    half = counts[k] / 2.0
    lo = k
    while lo - 1 >= 1 and counts[lo - 1] >= half:
        lo -= 1
    hi = k
    while hi + 1 < counts.shape[0] and counts[hi + 1] >= half:
        hi += 1
    total = 0.0
    moment = 0.0
    for t in range(lo, hi + 1):
        total += counts[t]
        moment += counts[t] * t
    return moment / total


@njit(cache=True)
def _strip_variation(plane, fixed, lo, hi, vertical):
    """Mean absolute step along a strip: column ``fixed`` over rows ``[lo, hi)`` (``vertical``), else row
    ``fixed`` over columns ``[lo, hi)``; 0 for a strip of fewer than 2 pixels."""
    total = 0.0
    count = 0
    for t in range(lo, hi - 1):
        if vertical:
            d = np.float64(plane[t + 1, fixed]) - np.float64(plane[t, fixed])
        else:
            d = np.float64(plane[fixed, t + 1]) - np.float64(plane[fixed, t])
        total += abs(d)
        count += 1
    return total / count if count else 0.0


@njit(cache=True)
def _framed_box(plane, box, flat_ratio):
    """Whether at least half of the box's sides that lie inside the plane have a flat outside: the
    strip 3 pixels outside varies along the side at most ``flat_ratio`` times the strip 2 pixels inside
    (plus one grey level). A pasted or letterboxed photo's screen or border is flat; more photo is not."""
    f = plane.shape[0]
    x0 = int(round(box[0] * f))
    y0 = int(round(box[1] * f))
    x1 = int(round(box[2] * f))
    y1 = int(round(box[3] * f))
    inside = 0
    flat = 0
    for side in range(4):
        pos = (x0, y0, x1, y1)[side]
        vertical = side == 0 or side == 2
        lo = y0 if vertical else x0
        hi = y1 if vertical else x1
        outer = pos - 3 if side < 2 else pos + 2
        inner = pos + 2 if side < 2 else pos - 3
        if outer < 0 or outer >= f or inner < 0 or inner >= f or hi - lo < 4:
            continue  # at the plane's edge: nothing outside
        inside += 1
        if _strip_variation(plane, outer, lo, hi, vertical) <= flat_ratio * \
                _strip_variation(plane, inner, lo, hi, vertical) + 1.0:
            flat += 1
    return inside > 0 and 2 * flat >= inside


@njit(cache=True, nogil=True)
def content_boxes(fine, threshold, min_fraction, flat_ratio, out):
    """Boxes where a photo may sit inside a frame or a screen, from long straight edges.

    fine : uint8 N x F x F planes (the whole image squashed to a square); out :
    float64 N x 16 x 4 boxes ``(x0, y0, x1, y1)`` (fractions), NaN rows unused.
    Each side of a box is one of the two boundaries in that half of the plane
    with the largest surplus of steps of one sign above ``threshold`` (at
    least ``min_fraction`` of the side's pixels; the two more than F / 20
    apart), or the plane's own edge; the 16 combinations of two
    candidates per side (the plane's edge when a side has fewer), less the
    whole frame, and with ``flat_ratio`` > 0 only those that look framed
    (:func:`_framed_box`).
    """
    n, f, _ = fine.shape
    half = f // 2
    min_count = int(min_fraction * f)
    for i in range(n):
        cols = np.empty(f, np.int64)
        rows = np.empty(f, np.int64)
        _edge_counts(fine[i], threshold, False, cols)
        _edge_counts(fine[i], threshold, True, rows)
        sides = np.empty((4, 2), np.int64)
        apart = max(1, f // 20)
        _two_best(cols, 1, half, min_count, apart, sides[0])
        _two_best(rows, 1, half, min_count, apart, sides[1])
        _two_best(cols, half, f, min_count, apart, sides[2])
        _two_best(rows, half, f, min_count, apart, sides[3])
        for q in range(16):
            for c in range(4):
                out[i, q, c] = np.nan
        q = 0
        box = np.empty(4)
        for a in range(2):
            for b in range(2):
                for c in range(2):
                    for d in range(2):
                        x0 = sides[0, a]
                        y0 = sides[1, b]
                        x1 = sides[2, c]
                        y1 = sides[3, d]
                        if (a == 1 and sides[0, 1] < 0) or (b == 1 and sides[1, 1] < 0) or \
                                (c == 1 and sides[2, 1] < 0) or (d == 1 and sides[3, 1] < 0):
                            continue  # the plane's edge is taken once, as the first candidate
                        if x0 < 0 and y0 < 0 and x1 < 0 and y1 < 0:
                            continue  # the whole frame
                        box[0] = _edge_centre(cols, x0) / f if x0 >= 0 else 0.0
                        box[1] = _edge_centre(rows, y0) / f if y0 >= 0 else 0.0
                        box[2] = _edge_centre(cols, x1) / f if x1 >= 0 else 1.0
                        box[3] = _edge_centre(rows, y1) / f if y1 >= 0 else 1.0
                        if flat_ratio > 0 and not _framed_box(fine[i], box, flat_ratio):
                            continue
                        for t in range(4):
                            out[i, q, t] = box[t]
                        q += 1


@njit(cache=True)
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def build_index(hashes, shifts, nkeybits):
    """Bucket index of 64-bit hashes on each chunk of ``nkeybits`` bits starting at ``shifts[c]``.

    Returns ``(starts, rows, keyed, occupied)``, C x (2^nkeybits + 1), C x N, C x N and
    C x 2^nkeybits / 64: the rows whose chunk ``c`` equals ``key`` are
    ``rows[c, starts[c, key]:starts[c, key + 1]]`` (ascending), and
    ``keyed[c, p] = hashes[rows[c, p]]``: a bucket's hashes lie side by side, so a
    query reads them without a random access per row; bit ``key % 64`` of
    ``occupied[c, key // 64]`` is set when that bucket holds a row (8 KB per chunk,
    which stay in the L1 cache where ``starts`` (512 KB per chunk) does not: with
    fewer hashes than keys most probes find an empty bucket there).
    """
    nchunks = shifts.shape[0]
    nb = 1 << nkeybits
    mask = np.uint64(nb - 1)
    n = hashes.shape[0]
    starts = np.zeros((nchunks, nb + 1), np.int64)
    rows = np.empty((nchunks, n), np.int64)
    keyed = np.empty((nchunks, n), np.uint64)
    for c in range(nchunks):
        sh = np.uint64(shifts[c])
        for i in range(n):
            starts[c, np.int64((hashes[i] >> sh) & mask) + 1] += 1
        for b in range(nb):
            starts[c, b + 1] += starts[c, b]
        fill = starts[c, :nb].copy()
        for i in range(n):
            key = np.int64((hashes[i] >> sh) & mask)
            rows[c, fill[key]] = i
            keyed[c, fill[key]] = hashes[i]
            fill[key] += 1
    occupied = np.zeros((nchunks, max(1, nb // 64)), np.uint64)
    for c in range(nchunks):
        for b in range(nb):
            if starts[c, b + 1] > starts[c, b]:
                occupied[c, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return starts, rows, keyed, occupied


@njit(cache=True)
def _flip_masks(nkeybits, radius):
    """All masks of at most ``radius`` (0, 1 or 2) set bits among ``nkeybits``."""
    count = 1
    if radius >= 1:
        count += nkeybits
    if radius >= 2:
        count += nkeybits * (nkeybits - 1) // 2
    out = np.zeros(count, np.uint64)
    k = 1
    if radius >= 1:
        for a in range(nkeybits):
            out[k] = np.uint64(1) << np.uint64(a)
            k += 1
    if radius >= 2:
        for a in range(nkeybits):
            for b in range(a + 1, nkeybits):
                out[k] = (np.uint64(1) << np.uint64(a)) | (np.uint64(1) << np.uint64(b))
                k += 1
    return out


@njit(cache=True)
def near_buckets(occupied, nkeybits, radius):
    """The occupancy bitmap of :func:`build_index` dilated by ``radius`` bits: bit ``key`` of chunk ``c`` is set
    when a bucket within ``radius`` flipped bits of ``key`` holds a row. With few hashes against 2^16 keys
    (a folder of thousands of images) most chunks of a query have none, and :func:`query_index` skips their
    probes on one look-up."""
    nchunks = occupied.shape[0]
    flips = _flip_masks(nkeybits, radius)
    out = np.zeros_like(occupied)
    nb = 1 << nkeybits
    for c in range(nchunks):
        for key in range(nb):
            if (occupied[c, key >> 6] >> np.uint64(key & 63)) & np.uint64(1) == np.uint64(0):
                continue
            for f in range(flips.shape[0]):
                other = np.int64(np.uint64(key) ^ flips[f])
                out[c, other >> 6] |= np.uint64(1) << np.uint64(other & 63)
    return out


@njit(cache=True, nogil=True)
def query_index(queries, query_owner, starts, rows, keyed, occupied, near, shifts, nkeybits, radius, threshold,
                out_q, out_j, out_d):
    """Pairs (query ``q``, row ``j``) with ``popcount(queries[q] ^ hashes[j]) <= threshold`` and
    ``j != query_owner[q]``, probing every key within ``radius`` (0..2) of each chunk of the
    query in the index ``(starts, rows, keyed, occupied)`` of :func:`build_index` (an empty bucket is
    skipped on its ``occupied`` bit; a chunk whose key has no occupied bucket within ``radius``, its
    bit in ``near`` = :func:`near_buckets` clear, is not probed at all). The search is complete when
    ``threshold < nchunks * (radius + 1)`` (pigeonhole); above that it finds the pairs
    that agree within ``radius`` on at least one chunk.

    Each (q, j) is reported once. Writes at most ``len(out_q)`` results and returns
    the number found (more than the capacity: call again with larger buffers).
    """
    nchunks = shifts.shape[0]
    mask = np.uint64((1 << nkeybits) - 1)
    flips = _flip_masks(nkeybits, radius)
    found = 0
    cap = out_q.shape[0]
    for q in range(queries.shape[0]):
        hq = queries[q]
        owner = query_owner[q]
        for c in range(nchunks):
            key0 = (hq >> np.uint64(shifts[c])) & mask
            if (near[c, np.int64(key0) >> 6] >> (key0 & np.uint64(63))) & np.uint64(1) == np.uint64(0):
                continue
            for f in range(flips.shape[0]):
                key = np.int64(key0 ^ flips[f])
                if (occupied[c, key >> 6] >> np.uint64(key & 63)) & np.uint64(1) == np.uint64(0):
                    continue
                for p in range(starts[c, key], starts[c, key + 1]):
                    hj = keyed[c, p]
                    d = np.int64(_popcount64(hq ^ hj))
                    if d > threshold:
                        continue
                    j = rows[c, p]
                    if j == owner:
                        continue
                    first = True  # report once: from the first chunk that matches within radius
                    for c2 in range(c):
                        sh2 = np.uint64(shifts[c2])
                        if np.int64(_popcount64(((hq >> sh2) ^ (hj >> sh2)) & mask)) <= radius:
                            first = False
                            break
                    if not first:
                        continue
                    if found < cap:
                        out_q[found] = q
                        out_j[found] = j
                        out_d[found] = d
                    found += 1
    return found


@njit(cache=True)
def _sample_position(start, step, k, n):
    """Output sample ``k``'s source position ``start + (k + 0.5) * step - 0.5`` on an axis of ``n`` pixels,
    clamped to it: (index, weight of index + 1) of the bilinear pair."""
    f = start + (k + 0.5) * step - 0.5
    if f < 0.0:
        f = 0.0
    if f > n - 1:
        f = n - 1.0
    i = min(int(f), n - 2)
    return i, f - i


@njit(cache=True)
def _sample_window(plane, x0, y0, x1, y1, out):
    """``out`` (S x S) = bilinear samples of ``plane`` over the window (fractions), pixel centres,
    edges replicated: output pixel u samples ``x0*w + (u + 0.5) * (x1 - x0) * w / S - 0.5``."""
    h, w = plane.shape
    s = out.shape[0]
    sx = (x1 - x0) * w / s
    sy = (y1 - y0) * h / s
    for v in range(s):
        iy, ty = _sample_position(y0 * h, sy, v, h)
        for u in range(s):
            ix, tx = _sample_position(x0 * w, sx, u, w)
            top = plane[iy, ix] * (1.0 - tx) + plane[iy, ix + 1] * tx
            bottom = plane[iy + 1, ix] * (1.0 - tx) + plane[iy + 1, ix + 1] * tx
            out[v, u] = top * (1.0 - ty) + bottom * ty


@njit(cache=True)
def window_mismatch(plane_a, plane_b, x0, y0, x1, y1, buf, margin=0):
    """1 - correlation between the window of ``plane_a`` (sampled to ``plane_b``'s S x S) and ``plane_b``,
    over the samples at least ``margin`` from the edge of the S x S grid."""
    _sample_window(plane_a, x0, y0, x1, y1, buf)
    s = plane_b.shape[0]
    lo, hi = margin, s - margin
    n = (hi - lo) * (hi - lo)
    ma = 0.0
    mb = 0.0
    for v in range(lo, hi):
        for u in range(lo, hi):
            ma += buf[v, u]
            mb += plane_b[v, u]
    ma /= n
    mb /= n
    sab = 0.0
    saa = 0.0
    sbb = 0.0
    for v in range(lo, hi):
        for u in range(lo, hi):
            da = buf[v, u] - ma
            db = plane_b[v, u] - mb
            sab += da * db
            saa += da * da
            sbb += db * db
    den = np.sqrt(saa * sbb)
    if den <= 0.0:
        return 1.0
    return 1.0 - sab / den


@njit(cache=True)
def _fast_mismatch(plane_a, centred_b, norm_b, x0, y0, x1, y1, ix, tx, margin=0):
    """:func:`window_mismatch` against a ``plane_b`` given centred (``centred_b = b - mean(b)`` over the samples
    ``margin`` or more from the grid's edge, ``norm_b`` = its sum of squares there), in one pass: the sample
    columns are computed once per call, not per pixel."""
    h, w = plane_a.shape
    s = centred_b.shape[0]
    sx = (x1 - x0) * w / s
    sy = (y1 - y0) * h / s
    for u in range(s):
        ix[u], tx[u] = _sample_position(x0 * w, sx, u, w)
    sa = 0.0
    saa = 0.0
    sab = 0.0
    for v in range(margin, s - margin):
        iy, ty = _sample_position(y0 * h, sy, v, h)
        for u in range(margin, s - margin):
            i = ix[u]
            t = tx[u]
            top = plane_a[iy, i] * (1.0 - t) + plane_a[iy, i + 1] * t
            bottom = plane_a[iy + 1, i] * (1.0 - t) + plane_a[iy + 1, i + 1] * t
            a = top * (1.0 - ty) + bottom * ty
            sa += a
            saa += a * a
            sab += a * centred_b[v, u]
    return _mismatch_of_samples(sa, saa, sab, (s - 2 * margin) * (s - 2 * margin), norm_b)


@njit(cache=True)
def _centred_target(plane_b, margin):
    """``plane_b`` less its mean over the samples at least ``margin`` from the grid's edge (0 nearer the edge),
    and its sum of squares there: the target of :func:`refine_window` and :func:`align_window`."""
    s = plane_b.shape[0]
    mb = 0.0
    for v in range(margin, s - margin):
        for u in range(margin, s - margin):
            mb += plane_b[v, u]
    mb /= (s - 2 * margin) * (s - 2 * margin)
    centred = np.zeros((s, s))
    norm_b = 0.0
    for v in range(margin, s - margin):
        for u in range(margin, s - margin):
            centred[v, u] = plane_b[v, u] - mb
            norm_b += centred[v, u] * centred[v, u]
    return centred, norm_b


#: The moves of :func:`refine_window` (each tried as -step, then +step): each edge ``(x0, y0, x1, y1)`` alone,
#: then both edges of one axis together (a shift) and apart (a scale). A window of the right position but
#: the wrong scale over a plain region (sky, a wall) is a local optimum for single-edge moves: moving one
#: edge shifts the content as well as scaling it.
_REFINE_MOVES = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0],
                          [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [-1.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.0]])


@njit(cache=True)
def _axis_positions(start, step, lo, hi, n, idx, frac):
    """``idx[k], frac[k] = _sample_position(start, step, k, n)`` for k in ``[lo, hi)``."""
    for k in range(lo, hi):
        idx[k], frac[k] = _sample_position(start, step, k, n)


@njit(cache=True)
def _columns_at(plane, ix, tx, lo, hi, out):
    """``out[y, u]``: every row ``y`` of ``plane`` interpolated at the sample columns ``u`` in ``[lo, hi)`` (the
    horizontal half of :func:`_fast_mismatch`'s bilinear sample, the same arithmetic)."""
    for y in range(plane.shape[0]):
        for u in range(lo, hi):
            i = ix[u]
            t = tx[u]
            out[y, u] = plane[y, i] * (1.0 - t) + plane[y, i + 1] * t


@njit(cache=True)
def _rows_at(plane, iy, ty, lo, hi, out):
    """``out[v, x]``: the sample rows ``v`` in ``[lo, hi)`` interpolated at every column ``x`` of ``plane``."""
    for v in range(lo, hi):
        i = iy[v]
        t = ty[v]
        for x in range(plane.shape[1]):
            out[v, x] = plane[i, x] * (1.0 - t) + plane[i + 1, x] * t


@njit(cache=True)
def _mismatch_of_samples(a_sum, aa_sum, ab_sum, n, norm_b):
    """1 - correlation of ``n`` samples ``a`` with a centred target of sum of squares ``norm_b``, from the sums
    of ``a``, ``a * a`` and ``a * target`` (1 when either side is constant)."""
    var_a = aa_sum - a_sum * a_sum / n
    den = np.sqrt(max(var_a, 0.0) * norm_b)
    if den <= 0.0:
        return 1.0
    return 1.0 - ab_sum / den


@njit(cache=True)
def _mismatch_y_moved(columns, centred_b, norm_b, iy, ty, margin):
    """:func:`_fast_mismatch` of a window whose columns are those of ``columns`` (:func:`_columns_at`) and whose
    sample rows are ``iy``, ``ty``: the same value to the bit (the same products in the same order)."""
    s = centred_b.shape[0]
    sa = 0.0
    saa = 0.0
    sab = 0.0
    for v in range(margin, s - margin):
        top = columns[iy[v]]
        bottom = columns[iy[v] + 1]
        ty_v = ty[v]
        for u in range(margin, s - margin):
            a = top[u] * (1.0 - ty_v) + bottom[u] * ty_v
            sa += a
            saa += a * a
            sab += a * centred_b[v, u]
    return _mismatch_of_samples(sa, saa, sab, (s - 2 * margin) * (s - 2 * margin), norm_b)


@njit(cache=True)
def _mismatch_x_moved(rows, centred_b, norm_b, ix, tx, margin):
    """:func:`_fast_mismatch` of a window whose sample rows are those of ``rows`` (:func:`_rows_at`) and whose
    sample columns are ``ix``, ``tx`` (vertical then horizontal: equal up to rounding)."""
    s = centred_b.shape[0]
    sa = 0.0
    saa = 0.0
    sab = 0.0
    for v in range(margin, s - margin):
        row = rows[v]
        for u in range(margin, s - margin):
            i = ix[u]
            t = tx[u]
            a = row[i] * (1.0 - t) + row[i + 1] * t
            sa += a
            saa += a * a
            sab += a * centred_b[v, u]
    return _mismatch_of_samples(sa, saa, sab, (s - 2 * margin) * (s - 2 * margin), norm_b)


@njit(cache=True, nogil=True)
def refine_window(plane_a, plane_b, window, steps, out, margin=0):
    """Coordinate descent of the four window edges (fractions) minimising :func:`window_mismatch`.

    For each step size in turn, up to 8 rounds over the moves of
    :data:`_REFINE_MOVES` (each edge alone, then each axis shifted and scaled),
    each by -step, then +step unless -step was kept (it would only move back);
    a move is kept when it lowers the mismatch by more than 1e-6; windows
    narrower than 0.2 are not tried. The samples within ``margin`` of the grid's edge
    are left out of the mismatch. Writes the window to ``out`` and returns its
    mismatch. Every move changes one axis only, so the other axis' half of the
    bilinear samples is kept from the window in hand (:func:`_rows_at`,
    :func:`_columns_at`, made again when a move of that axis is kept) and a trial
    costs about half of a full evaluation (:func:`_fast_mismatch`); the values
    agree with it up to rounding.
    """
    s = plane_b.shape[0]
    h, w = plane_a.shape
    lo, hi = margin, s - margin
    centred, norm_b = _centred_target(plane_b, margin)
    ix = np.empty(s, np.int64)
    tx = np.empty(s)
    iy = np.empty(s, np.int64)
    ty = np.empty(s)
    trial_i = np.empty(s, np.int64)
    trial_t = np.empty(s)
    columns = np.empty((h, s))  # plane_a at the sample columns of out's x edges
    rows = np.empty((s, w))  # plane_a at the sample rows of out's y edges
    for k in range(4):
        out[k] = window[k]
    _axis_positions(out[0] * w, (out[2] - out[0]) * w / s, lo, hi, w, ix, tx)
    _axis_positions(out[1] * h, (out[3] - out[1]) * h / s, lo, hi, h, iy, ty)
    _columns_at(plane_a, ix, tx, lo, hi, columns)
    _rows_at(plane_a, iy, ty, lo, hi, rows)
    best = _mismatch_y_moved(columns, centred, norm_b, iy, ty, margin)
    trial = np.empty(4)
    n_moves = _REFINE_MOVES.shape[0]
    failed_at = np.empty(n_moves, np.int64)  # the visit at which each move last failed (both signs)
    visit = 0
    kept_at = -1  # the visit at which the window last moved
    for step in steps:
        failed_at[:] = -1
        improved = True
        rounds = 0
        while improved and rounds < 8:
            improved = False
            rounds += 1
            for move in range(n_moves):
                visit += 1
                if failed_at[move] > kept_at:
                    continue  # it failed at this very window (nothing kept since): it would fail again
                moves_x = _REFINE_MOVES[move, 0] != 0.0 or _REFINE_MOVES[move, 2] != 0.0
                for sign in (-1.0, 1.0):
                    for k in range(4):
                        trial[k] = out[k] + sign * step * _REFINE_MOVES[move, k]
                    if trial[2] - trial[0] < 0.2 or trial[3] - trial[1] < 0.2:
                        continue
                    if moves_x:
                        _axis_positions(trial[0] * w, (trial[2] - trial[0]) * w / s, lo, hi, w, trial_i, trial_t)
                        cost = _mismatch_x_moved(rows, centred, norm_b, trial_i, trial_t, margin)
                    else:
                        _axis_positions(trial[1] * h, (trial[3] - trial[1]) * h / s, lo, hi, h, trial_i, trial_t)
                        cost = _mismatch_y_moved(columns, centred, norm_b, trial_i, trial_t, margin)
                    if cost < best - 1e-6:
                        best = cost
                        for k in range(4):
                            out[k] = trial[k]
                        if moves_x:
                            ix[:] = trial_i
                            tx[:] = trial_t
                            _columns_at(plane_a, ix, tx, lo, hi, columns)
                        else:
                            iy[:] = trial_i
                            ty[:] = trial_t
                            _rows_at(plane_a, iy, ty, lo, hi, rows)
                        improved = True
                        kept_at = visit
                        break  # the opposite move would only return to the window just left
                if kept_at != visit:
                    failed_at[move] = visit
    return best


@njit(cache=True)
def _solve4(h, g, out):
    """``out = h^-1 g`` for a symmetric positive definite 4 x 4 ``h`` (Cholesky, no pivoting); False when
    ``h`` is not positive definite."""
    low = np.zeros((4, 4))
    for i in range(4):
        for j in range(i + 1):
            acc = h[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            if i == j:
                if acc <= 0.0:
                    return False
                low[i, i] = np.sqrt(acc)
            else:
                low[i, j] = acc / low[j, j]
    y = np.empty(4)
    for i in range(4):
        acc = g[i]
        for k in range(i):
            acc -= low[i, k] * y[k]
        y[i] = acc / low[i, i]
    for i in range(3, -1, -1):
        acc = y[i]
        for k in range(i + 1, 4):
            acc -= low[k, i] * out[k]
        out[i] = acc / low[i, i]
    return True


@njit(cache=True)
def _window_moments(plane_a, centred_b, x0, y0, x1, y1, margin, sums, ix, tx, gx):
    """One pass over the samples of the window (as :func:`_fast_mismatch`): the sums that an ECC step needs.

    ``sums`` (length 30) receives: 0 n, 1 sum a, 2 sum a^2, 3 sum a*b, 4-7 sum g_j, 8-11 sum a*g_j,
    12-15 sum b*g_j, 16-25 sum g_j*g_k (j <= k, row by row), where ``a`` is the bilinear sample of
    ``plane_a``, ``b`` the centred target and ``g_j`` the derivative of ``a`` with respect to edge j
    (x0, y0, x1, y1; the derivative of the bilinear interpolant, 0 where the sample is clamped).
    ``ix``, ``tx`` and ``gx`` (length S) are scratch for the per-column sample positions; the sums
    are kept in registers while the samples are visited in rows (each sum in the order of the samples)."""
    h, w = plane_a.shape
    s = centred_b.shape[0]
    sx = (x1 - x0) * w / s
    sy = (y1 - y0) * h / s
    for u in range(margin, s - margin):
        fx = x0 * w + (u + 0.5) * sx - 0.5
        ix[u], tx[u] = _sample_position(x0 * w, sx, u, w)
        gx[u] = w if 0.0 <= fx <= w - 1 else 0.0  # the x derivative's scale, 0 where clamped
    cnt = 0.0
    sa = 0.0
    saa = 0.0
    sab = 0.0
    sg0 = sg1 = sg2 = sg3 = 0.0
    sag0 = sag1 = sag2 = sag3 = 0.0
    sbg0 = sbg1 = sbg2 = sbg3 = 0.0
    h00 = h01 = h02 = h03 = h11 = h12 = h13 = h22 = h23 = h33 = 0.0
    for v in range(margin, s - margin):
        fy = y0 * h + (v + 0.5) * sy - 0.5
        inside_y = 0.0 <= fy <= h - 1
        iy, ty = _sample_position(y0 * h, sy, v, h)
        pv = (v + 0.5) / s
        for u in range(margin, s - margin):
            i = ix[u]
            t = tx[u]
            p00 = plane_a[iy, i]
            p01 = plane_a[iy, i + 1]
            p10 = plane_a[iy + 1, i]
            p11 = plane_a[iy + 1, i + 1]
            top = p00 * (1.0 - t) + p01 * t
            bottom = p10 * (1.0 - t) + p11 * t
            a = top * (1.0 - ty) + bottom * ty
            ax = ((p01 - p00) * (1.0 - ty) + (p11 - p10) * ty) * gx[u] if gx[u] != 0.0 else 0.0
            ay = (bottom - top) * h if inside_y else 0.0
            pu = (u + 0.5) / s
            g0 = ax * (1.0 - pu)
            g1 = ay * (1.0 - pv)
            g2 = ax * pu
            g3 = ay * pv
            b = centred_b[v, u]
            cnt += 1.0
            sa += a
            saa += a * a
            sab += a * b
            sg0 += g0
            sg1 += g1
            sg2 += g2
            sg3 += g3
            sag0 += a * g0
            sag1 += a * g1
            sag2 += a * g2
            sag3 += a * g3
            sbg0 += b * g0
            sbg1 += b * g1
            sbg2 += b * g2
            sbg3 += b * g3
            h00 += g0 * g0
            h01 += g0 * g1
            h02 += g0 * g2
            h03 += g0 * g3
            h11 += g1 * g1
            h12 += g1 * g2
            h13 += g1 * g3
            h22 += g2 * g2
            h23 += g2 * g3
            h33 += g3 * g3
    sums[0] = cnt
    sums[1] = sa
    sums[2] = saa
    sums[3] = sab
    sums[4] = sg0
    sums[5] = sg1
    sums[6] = sg2
    sums[7] = sg3
    sums[8] = sag0
    sums[9] = sag1
    sums[10] = sag2
    sums[11] = sag3
    sums[12] = sbg0
    sums[13] = sbg1
    sums[14] = sbg2
    sums[15] = sbg3
    sums[16] = h00
    sums[17] = h01
    sums[18] = h02
    sums[19] = h03
    sums[20] = h11
    sums[21] = h12
    sums[22] = h13
    sums[23] = h22
    sums[24] = h23
    sums[25] = h33


@njit(cache=True, nogil=True)
def align_window(plane_a, plane_b, window, out, margin=0, max_steps=12, tolerance=1e-4, max_move=0.05):
    """The window ``(x0, y0, x1, y1)`` of ``plane_a`` whose bilinear samples correlate best with ``plane_b``
    (S x S), by enhanced-correlation-coefficient steps (Gauss-Newton on the four edges; Evangelidis and
    Psarakis, 2008) from ``window``.

    Each step linearises the samples in the edges and moves to the maximum of the linearised
    correlation; a step moves an edge by at most ``max_move``; it stops after ``max_steps`` steps, when
    no edge moves by more than ``tolerance``, or when the correlation falls. Samples within
    ``margin`` of the grid's edge are left out. Writes the best window met to ``out`` and returns its
    mismatch (1 - correlation, as :func:`refine_window`).
    """
    s = plane_b.shape[0]
    centred, norm_b = _centred_target(plane_b, margin)
    for k in range(4):
        out[k] = window[k]
    if norm_b <= 0.0:
        return 1.0
    cur = np.empty(4)
    for k in range(4):
        cur[k] = window[k]
    sums = np.zeros(30)
    ix = np.empty(s, np.int64)
    tx = np.empty(s)
    gx = np.empty(s)
    hess = np.empty((4, 4))
    g_a = np.empty(4)
    g_b = np.empty(4)
    h_ga = np.empty(4)
    h_gb = np.empty(4)
    best = 1.0
    for step in range(max_steps + 1):
        _window_moments(plane_a, centred, cur[0], cur[1], cur[2], cur[3], margin, sums, ix, tx, gx)
        n = sums[0]
        var_a = sums[2] - sums[1] * sums[1] / n
        if var_a <= 0.0:
            break
        mismatch = 1.0 - sums[3] / np.sqrt(var_a * norm_b)
        if mismatch < best - 1e-9:
            best = mismatch
            for k in range(4):
                out[k] = cur[k]
        elif step > 0:
            break
        if step == max_steps:
            break
        # centred moments: G^T G, G^T a, G^T b (b is centred already)
        k = 16
        for j in range(4):
            g_a[j] = sums[8 + j] - sums[4 + j] * sums[1] / n
            g_b[j] = sums[12 + j]
            for i in range(j, 4):
                hess[j, i] = sums[k] - sums[4 + j] * sums[4 + i] / n
                hess[i, j] = hess[j, i]
                k += 1
        scale = 0.0
        for j in range(4):
            scale += hess[j, j]
        for j in range(4):
            hess[j, j] += 1e-9 * scale + 1e-12
        if not _solve4(hess, g_a, h_ga) or not _solve4(hess, g_b, h_gb):
            break
        num = var_a
        den = sums[3]
        for j in range(4):
            num -= g_a[j] * h_ga[j]
            den -= g_b[j] * h_ga[j]
        if den <= 0.0:
            break
        lam = num / den
        largest = 0.0
        for j in range(4):
            delta = lam * h_gb[j] - h_ga[j]
            largest = max(largest, abs(delta))
        shrink = 1.0 if largest <= max_move else max_move / largest
        for j in range(4):
            cur[j] += shrink * (lam * h_gb[j] - h_ga[j])
        if cur[2] - cur[0] < 0.2 or cur[3] - cur[1] < 0.2:
            break
        if largest * shrink < tolerance:
            break
    return best


@njit(cache=True)
def closest_per_image(a, b, order, limit, n, keep):
    """Greedy cap on candidate pairs: walking ``order`` (closest first), ``keep[k]`` is set when row ``a[k]``
    and row ``b[k]`` (of ``n`` rows) each have fewer than ``limit`` kept candidates so far."""
    count = np.zeros(n, np.int64)
    for k in order:
        if count[a[k]] < limit and count[b[k]] < limit:
            keep[k] = True
            count[a[k]] += 1
            count[b[k]] += 1
