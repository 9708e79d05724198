"""Pixel-level verification of candidate pairs on small grey thumbnails.

Plain arrays in, plain arrays out; no I/O. The measure (see ``undouble.verify``):

* Two S x S grey thumbnails A (the container) and B are related by a map
  ``x_A = tx + fx * (u + 0.5) - 0.5`` (and the same in y), in A's pixel units:
  B covers the window ``[tx, tx + fx*S] x [ty, ty + fy*S]`` of A. The identity
  is ``fx = fy = 1, tx = ty = 0``; a crop has ``fx, fy < 1`` and a window inside A.
* A is sampled bilinearly at B's pixels. Both sides are z-normalised with the
  global mean and standard deviation over the overlap (std floored at
  ``sigma_floor`` grey levels), which removes a global gain and offset
  (brightness, contrast, exposure). The residual ``r = z_b - z_a`` is averaged
  squared over the whole overlap (``global``), over each block of an
  ``nb x nb`` grid (``median`` block; worst and second-worst block of the
  interior and, separately, of the ring of blocks along the border, where
  watermarks sit) and over the four border strips ``edge`` pixels wide
  (``edge``: new content at an edge).
* ``score`` (see ``score_of``) is the largest of: global and median over their
  thresholds, and each local residual in excess of ``local_factor x median``
  over its threshold (a residual spread over the whole frame, from resampling
  or tone clipping, is no local change). The pair is accepted when
  ``score <= 1`` and the correlation is positive; at the identity, the two
  16 x 16 colour-difference planes must also pass the same local test
  (``chroma_score``: a change of hue at equal brightness).
  Between two colour images, ``chroma_local`` also checks the worst 2 x 2 window
  of the per-cell colour distance (B's planes scaled by their least-squares
  gain) against its median: an object of another hue at equal brightness.
  ``similarity = 1 / (1 + score)`` (so 0.5 is the acceptance boundary).
* Tone edits that are no gain and offset (gamma, clipped highlights or shadows):
  when the identity fails (by a score of at most ``rank_gate``) and the two
  thumbnails differ in mean or contrast, the
  same measure is applied once more to their rank transforms (each grey level
  replaced by its mid-rank in its own thumbnail, ``rank_thumbnail``), which any
  increasing tone curve leaves unchanged except where it merges levels.
* Second stage, only for accepted pairs: ``fine_score`` / ``local_change`` on
  the fine grey planes (80 x 80) at the accepted alignment, the per-block share
  of texture energy that differs between the two (new content at the same
  brightness, which the 48 px thumbnail averages away).
* Overlays: a pair that fails only by a local change (global and median
  residuals within their limits, and so the interior blocks no edge or corner
  overlay reaches, ``C_WORST_CORE``) is judged once more by
  ``overlay_change`` on the fine planes: when every changed region is of one
  sign, small, and lies along an edge or in a corner while the rest of the
  frame agrees, it is a watermark, caption or logo and the pair is accepted
  (also on the rank transforms for a tone edit, and at crop windows).
* Cost: at the identity the per-image block sums (``identity_sums``, also of the
  rank transforms) are computed once per call; a pair then costs one pass of
  S*S integer products (``cross_identity``) and O(blocks) arithmetic.

Alignment: the identity first; when it fails, its median residual says the
frames are misaligned, and the two original sizes say that one image has a
clearly smaller area, B is searched as a window of A: the window's size from
the sizes (a crop without resizing), then (only when the aspect ratios differ)
a grid over the zoom with the aspect ratio kept; the offsets are fitted on row
and column mean profiles, refined to 1/8 pixel, and checked once on the full
thumbnails (``window_scores``). A window that fails but is near (score at most
``refine_gate``) has its offsets refined on the 80 px fine planes
(``refine_window_fine``) and is judged again. When A is the larger image in
pixels but B is a downscaled copy of A's original (a crop kept at full
resolution against a resized copy), B is searched as the container too. The
window must lie inside the container (containment): a panned frame with new
content at an edge is a different photo.
"""

import numpy as np
from numba import njit, prange

from .median import select_in_place as _select  # the k-th smallest, partitioning in place

# relation codes (keep in sync with undouble.verify.RELATION_NAMES)
REL_DIFFERENT = 0
REL_SAME_PIXELS = 1
REL_RESIZED = 2
REL_REENCODED = 3
REL_EDITED = 4
REL_CROPPED = 5
REL_ROTATED_90 = 6
REL_ROTATED_180 = 7
REL_ROTATED_270 = 8
REL_MIRRORED = 9
REL_FLIPPED = 10
REL_TRANSPOSED = 11
REL_IN_LARGER = 12

# parameter vector indices
P_GLOBAL = 0
P_WORST = 1
P_SECOND = 2
P_EDGE = 3
P_FMIN = 4
P_SIGMA_FLOOR = 5
P_EDIT_MEAN = 6
P_EDIT_GAIN = 7
P_EDIT_COLOUR = 8
P_AREA_TOL = 9
P_BLOCKS = 10
P_EDGE_WIDTH = 11
P_WORST_BORDER = 12
P_MEDIAN = 13
P_LOCAL_FACTOR = 14
P_CHROMA_WORST = 15
P_CHROMA_FLOOR = 16
P_ASPECT_TOL = 17
P_CROP_GATE = 18
P_SECOND_BORDER = 19
P_CHROMA_LOCAL = 20
P_RANK_GATE = 21
P_FINE_BLOCKS = 22
P_FINE_WORST = 23
P_FINE_SECOND = 24
P_FINE_EPS = 25
P_FINE_CROP = 26
P_FINE_RING = 27
P_OVERLAY_CHANGE = 28
P_OVERLAY_REST = 29
P_OVERLAY_AREA = 30
P_OVERLAY_SIGN = 31
P_OVERLAY_BAND = 32
P_OVERLAY_CORNER = 33
P_REFINE_GATE = 34
P_NOISE = 35
P_CHROMA_NOISE = 36
P_OVERLAY_CORNER_SMALL = 37
P_OVERLAY_SMALL_AREA = 38
N_PARAMS = 39

# overlay_change: at most this many separate overlays (a watermark on each image, or text in pieces)
OVERLAY_REGIONS = 4

# compare() output indices
C_GLOBAL = 0
C_WORST = 1
C_SECOND = 2
C_EDGE = 3
C_MEAN_A = 4
C_MEAN_B = 5
C_STD_A = 6
C_STD_B = 7
C_MAXDIFF = 8
C_RHO = 9
C_WORST_BORDER = 10
C_MEDIAN = 11
C_WORST_IN = 12
C_SECOND_IN = 13
C_WORST_RING = 14
C_SECOND_RING = 15
C_WORST_CORE = 16  # the worst interior block but the four next to the corners (where no overlay reaches)
N_COMPARE = 17


@njit(cache=True)
def profiles(grey, cols, rows):
    """Column and row means of each S x S thumbnail: cols[n, u], rows[n, v] (float32)."""
    n, s = grey.shape[0], grey.shape[1]
    for k in prange(n):
        for u in range(s):
            cols[k, u] = 0.0
        for v in range(s):
            acc = 0.0
            for u in range(s):
                x = np.float32(grey[k, v, u])
                acc += x
                cols[k, u] += x
            rows[k, v] = acc / s
        for u in range(s):
            cols[k, u] /= s


@njit(cache=True)
def _coord(t, f, i, s):
    """Clamped bilinear source coordinate of B's pixel i: (index, weight of index+1)."""
    x = t + f * (i + 0.5) - 0.5
    if x < 0.0:
        x = 0.0
    if x > s - 1:
        x = s - 1.0
    i0 = int(x)
    if i0 > s - 2:
        i0 = s - 2
    return i0, x - i0


@njit(cache=True)
def _area_weights(n, s):
    """Source pixel x of n covers [x, x+1) = [x*s/n, (x+1)*s/n) in bins: its first bin and that bin's share."""
    first = np.empty(n, np.int64)
    share = np.empty(n, np.float32)
    for x in range(n):
        lo = x * s / n
        hi = (x + 1) * s / n
        k = int(lo)
        if k > s - 1:
            k = s - 1
        first[x] = k
        if hi <= k + 1 or k == s - 1:
            share[x] = 1.0
        else:
            share[x] = (k + 1 - lo) / (hi - lo)
    return first, share


@njit(cache=True)
def area_bins(img, s, out):
    """Area-average an H x W x C uint8 image (H, W >= s) into out[s, s, C] (float32 means).

    Exact area weights (as an INTER_AREA resize): a source pixel that straddles a
    bin edge is split between the two bins. Rows first (vectorisable), then columns.
    """
    h, w, c = img.shape
    flat = img.reshape(h, w * c)
    rowsum = np.zeros((s, w * c), np.float32)
    fy, sy = _area_weights(h, s)
    for y in range(h):
        k = fy[y]
        a = sy[y]
        src = flat[y]
        dst = rowsum[k]
        for i in range(w * c):
            dst[i] += a * src[i]
        if a < 1.0:
            b = 1.0 - a
            dst = rowsum[k + 1]
            for i in range(w * c):
                dst[i] += b * src[i]
    fx, sx = _area_weights(w, s)
    # columns on the transposed sums, so that the innermost loop runs along v (contiguous and
    # independent: it vectorises, where accumulating along x waits on the previous add of the same
    # bin); each bin still takes its pixels in the order of x, so the sums are the same to the bit
    rows_t = np.empty((w * c, s), np.float32)
    for v in range(s):
        for i in range(w * c):
            rows_t[i, v] = rowsum[v, i]
    acc = np.zeros((s, c, s), np.float32)  # [u, ch, v]
    for x in range(w):
        k = fx[x]
        a = sx[x]
        for ch in range(c):
            src = rows_t[x * c + ch]
            dst = acc[k, ch]
            for v in range(s):
                dst[v] += a * src[v]
            if a < 1.0:
                dst = acc[k + 1, ch]
                for v in range(s):
                    dst[v] += (1.0 - a) * src[v]
    norm = np.float32(s * s) / np.float32(h * w)
    for v in range(s):
        for u in range(s):
            for ch in range(c):
                out[v, u, ch] = acc[u, ch, v] * norm


@njit(cache=True, nogil=True)
def thumbnail_record(img, s, grey_chroma, cs, out, fs=0):
    """Fill the verification record ``out`` (uint8, s*s + 8 + 2*cs*cs) from an H x W x C uint8 image (C = 1 or 3).

    Layout: s*s smoothed grey; 8 facts (mean R, G, B, mean chroma, greyscale flag,
    3 reserved); then two cs x cs colour-difference planes ``(B - Y)/2 + 128`` and
    ``(R - Y)/2 + 128``, each the mean over (s/cs)^2 cells of the s x s average;
    then (when ``fs`` > 0; H, W >= fs) the fs x fs fine grey plane, made like the s x s one
    (area average, luma, [1, 2, 1] / 4 smoothing, rounded).
    """
    c = img.shape[2]
    small = np.empty((s, s, c), np.float32)
    area_bins(img, s, small)
    n = s * s
    sums = np.zeros(3)
    chroma = 0.0
    grey = np.empty((s, s), np.float32)
    for v in range(s):
        for u in range(s):
            if c == 1:
                g = small[v, u, 0]
                sums[0] += g
            else:
                r = small[v, u, 0]
                gg = small[v, u, 1]
                b = small[v, u, 2]
                g = 0.299 * r + 0.587 * gg + 0.114 * b
                sums[0] += r
                sums[1] += gg
                sums[2] += b
                chroma += max(r, gg, b) - min(r, gg, b)
            grey[v, u] = g
    # a light [1, 2, 1] / 4 smoothing in both directions (edges replicated): the measure should
    # see shapes, not the last half pixel of resampling, blur or JPEG differences
    tmp = np.empty((s, s), np.float32)
    for v in range(s):
        for u in range(s):
            tmp[v, u] = 0.25 * grey[v, max(u - 1, 0)] + 0.5 * grey[v, u] + 0.25 * grey[v, min(u + 1, s - 1)]
    for v in range(s):
        for u in range(s):
            g = 0.25 * tmp[max(v - 1, 0), u] + 0.5 * tmp[v, u] + 0.25 * tmp[min(v + 1, s - 1), u]
            out[v * s + u] = np.uint8(min(255.0, max(0.0, np.floor(g + 0.5))))
    if c == 1:
        sums[1] = sums[0]
        sums[2] = sums[0]
    for ch in range(3):
        out[n + ch] = np.uint8(min(255.0, np.floor(sums[ch] / n + 0.5)))
    chroma /= n
    out[n + 3] = np.uint8(min(255.0, np.floor(chroma + 0.5)))
    out[n + 4] = 1 if chroma <= grey_chroma else 0
    for k in range(n + 5, n + 8):
        out[k] = 0
    f = s // cs
    inv = 1.0 / (f * f)
    for v in range(cs):
        for u in range(cs):
            cb = 0.0
            cr = 0.0
            if c == 3:
                for dy in range(f):
                    for dx in range(f):
                        r = small[v * f + dy, u * f + dx, 0]
                        gg = small[v * f + dy, u * f + dx, 1]
                        b = small[v * f + dy, u * f + dx, 2]
                        y = 0.299 * r + 0.587 * gg + 0.114 * b
                        cb += b - y
                        cr += r - y
            out[n + 8 + v * cs + u] = np.uint8(min(255.0, max(0.0, np.floor(0.5 * cb * inv + 128.5))))
            out[n + 8 + cs * cs + v * cs + u] = np.uint8(min(255.0, max(0.0, np.floor(0.5 * cr * inv + 128.5))))
    if fs > 0:
        fine = np.empty((fs, fs, c), np.float32)
        area_bins(img, fs, fine)
        _grey_plane(fine, out[n + 8 + 2 * cs * cs:n + 8 + 2 * cs * cs + fs * fs])


@njit(cache=True)
def _grey_plane(small, out):
    """Luma of an fs x fs x C float image, smoothed by [1, 2, 1] / 4 (edges replicated), rounded into out (fs*fs)."""
    fs, c = small.shape[0], small.shape[2]
    grey = np.empty((fs, fs), np.float32)
    for v in range(fs):
        for u in range(fs):
            if c == 1:
                grey[v, u] = small[v, u, 0]
            else:
                grey[v, u] = 0.299 * small[v, u, 0] + 0.587 * small[v, u, 1] + 0.114 * small[v, u, 2]
    tmp = np.empty((fs, fs), np.float32)
    for v in range(fs):
        for u in range(fs):
            tmp[v, u] = 0.25 * grey[v, max(u - 1, 0)] + 0.5 * grey[v, u] + 0.25 * grey[v, min(u + 1, fs - 1)]
    for v in range(fs):
        for u in range(fs):
            g = 0.25 * tmp[max(v - 1, 0), u] + 0.5 * tmp[v, u] + 0.25 * tmp[min(v + 1, fs - 1), u]
            out[v * fs + u] = np.uint8(min(255.0, max(0.0, np.floor(g + 0.5))))


@njit(cache=True)
def _accumulate_identity(ga, gb, nb, edge, acc):
    """Block and strip sums for the identity alignment, in exact integers (row loops vectorise)."""
    s = gb.shape[0]
    nblk = nb * nb
    cols = np.zeros((5, s), np.int32)    # per column, within the current band of blocks
    total = np.zeros((5, s), np.int64)   # per column, whole height (left and right strips)
    band_start = 0
    for v in range(s):
        ca = cols[0]
        cb = cols[1]
        caa = cols[2]
        cbb = cols[3]
        cab = cols[4]
        for u in range(s):
            a = np.int32(ga[v, u])
            b = np.int32(gb[v, u])
            ca[u] += a
            cb[u] += b
            caa[u] += a * a
            cbb[u] += b * b
            cab[u] += a * b
        if v < edge or v >= s - edge:
            j = nblk + (2 if v < edge else 3)
            for u in range(s):
                a = np.float64(ga[v, u])
                b = np.float64(gb[v, u])
                acc[j, 0] += a
                acc[j, 1] += b
                acc[j, 2] += a * a
                acc[j, 3] += b * b
                acc[j, 4] += a * b
            acc[j, 5] += s
        if ((v + 1) * nb) // s != (v * nb) // s or v == s - 1:  # end of a band of blocks
            band = (v * nb) // s
            for u in range(s):
                k = band * nb + (u * nb) // s
                for q in range(5):
                    acc[k, q] += cols[q, u]
                    total[q, u] += cols[q, u]
                    cols[q, u] = 0
                acc[k, 5] += v + 1 - band_start
            band_start = v + 1
    for u in range(s):
        if u < edge or u >= s - edge:
            j = nblk + (0 if u < edge else 1)
            for q in range(5):
                acc[j, q] += total[q, u]
            acc[j, 5] += s


@njit(cache=True)
def max_abs_diff(ga, gb):
    """max |a - b| over two equal-shape uint8 arrays."""
    m = 0
    for v in range(ga.shape[0]):
        for u in range(ga.shape[1]):
            m = max(m, abs(np.int32(ga[v, u]) - np.int32(gb[v, u])))
    return m


@njit(cache=True)
def compare(ga, gb, fx, fy, tx, ty, nb, edge, sigma_floor, out):
    """Residual statistics of B against A sampled at the window (fx, fy, tx, ty); fills ``out``."""
    s = gb.shape[0]
    nblk = nb * nb
    # per block (nblk) and border strip (4): sums of a, b, a*a, b*b, a*b and the pixel count
    acc = np.zeros((nblk + 4, 6))
    identity = fx == 1.0 and fy == 1.0 and tx == 0.0 and ty == 0.0
    if identity:
        _accumulate_identity(ga, gb, nb, edge, acc)
        maxdiff = np.float64(max_abs_diff(ga, gb))
    else:
        maxdiff = _accumulate_window(ga, gb, fx, fy, tx, ty, nb, edge, acc)
    _finish(acc, nb, sigma_floor, maxdiff, out)


@njit(cache=True)
def identity_sums(g, nb, edge, out):
    """Per-image sums for the identity alignment: out[k] = (sum a, sum a*a, pixel count).

    k runs over the ``nb x nb`` blocks, then the left, right, top and bottom
    border strips ``edge`` pixels wide (the layout of ``compare``'s sums).
    Computed once per image, so that a pair at the identity only needs its
    cross term (``cross_identity``).
    """
    s = g.shape[0]
    nblk = nb * nb
    flat = g.reshape(s * s)
    col_a = np.zeros(s, np.int32)
    col_aa = np.zeros(s, np.int32)
    tot_a = np.zeros(s, np.int64)
    tot_aa = np.zeros(s, np.int64)
    for k in range(nblk + 4):
        for q in range(3):
            out[k, q] = 0.0
    band_start = 0
    for v in range(s):
        o = v * s
        for u in range(s):
            x = np.int32(flat[o + u])
            col_a[u] += x
            col_aa[u] += x * x
        if v < edge or v >= s - edge:
            ra = 0
            raa = 0
            for u in range(s):
                x = np.int32(flat[o + u])
                ra += x
                raa += x * x
            j = nblk + (2 if v < edge else 3)
            out[j, 0] += ra
            out[j, 1] += raa
            out[j, 2] += s
        if ((v + 1) * nb) // s != (v * nb) // s or v == s - 1:  # end of a band of blocks
            band = (v * nb) // s
            height = v + 1 - band_start
            for u in range(s):
                k = band * nb + (u * nb) // s
                out[k, 0] += col_a[u]
                out[k, 1] += col_aa[u]
                out[k, 2] += height
                tot_a[u] += col_a[u]
                tot_aa[u] += col_aa[u]
                col_a[u] = 0
                col_aa[u] = 0
            band_start = v + 1
    for u in range(s):
        if u < edge or u >= s - edge:
            j = nblk + (0 if u < edge else 1)
            out[j, 0] += tot_a[u]
            out[j, 1] += tot_aa[u]
            out[j, 2] += s


@njit(cache=True)
def rank_thumbnail(g, out):
    """Each grey level of g replaced by its mid-rank in g, scaled to 0..255 (rounded): out (uint8, same shape).

    Invariant under any increasing tone curve, except where the curve merges levels
    (clipping), which then share one mid-rank.
    """
    s0, s1 = g.shape
    n = s0 * s1
    hist = np.zeros(256, np.int64)
    for v in range(s0):
        for u in range(s1):
            hist[g[v, u]] += 1
    lut = np.empty(256, np.uint8)
    below = 0
    scale = 255.0 / max(n - 1, 1)
    for level in range(256):
        mid = below + 0.5 * (hist[level] - 1)
        lut[level] = np.uint8(min(255.0, max(0.0, np.floor(mid * scale + 0.5))))
        below += hist[level]
    for v in range(s0):
        for u in range(s1):
            out[v, u] = lut[g[v, u]]


@njit(cache=True)
def _tone_differs(cmp, params):
    """The two grey thumbnails differ in mean or contrast as by a tone edit (the 'edited' rule's grey part)."""
    if abs(cmp[C_MEAN_A] - cmp[C_MEAN_B]) > params[P_EDIT_MEAN]:
        return True
    sa = max(cmp[C_STD_A], 1.0)
    sb = max(cmp[C_STD_B], 1.0)
    return sa > sb * params[P_EDIT_GAIN] or sb > sa * params[P_EDIT_GAIN]


@njit(cache=True)
def cross_identity(ga, gb, nb, edge, cross, colbuf, coltot):
    """Sums of a*b per block and border strip at the identity (exact integers).

    ``ga``, ``gb``: the two S x S thumbnails flattened (C order, length S*S);
    ``colbuf`` (int32, S) and ``coltot`` (int64, S) are scratch.
    """
    s = colbuf.shape[0]
    nblk = nb * nb
    for k in range(nblk + 4):
        cross[k] = 0.0
    for u in range(s):
        colbuf[u] = 0
        coltot[u] = 0
    for v in range(s):
        o = v * s
        for u in range(s):
            colbuf[u] += np.int32(ga[o + u]) * np.int32(gb[o + u])
        if v < edge or v >= s - edge:
            row = 0
            for u in range(s):
                row += np.int32(ga[o + u]) * np.int32(gb[o + u])
            cross[nblk + (2 if v < edge else 3)] += row
        if ((v + 1) * nb) // s != (v * nb) // s or v == s - 1:  # end of a band of blocks
            band = (v * nb) // s
            for u in range(s):
                cross[band * nb + (u * nb) // s] += colbuf[u]
                coltot[u] += colbuf[u]
                colbuf[u] = 0
    for u in range(s):
        if u < edge:
            cross[nblk] += coltot[u]
        elif u >= s - edge:
            cross[nblk + 1] += coltot[u]


@njit(cache=True)
def compare_identity(ga, gb, sums_a, sums_b, nb, sigma_floor, acc, cross, colbuf, coltot, edge, out):
    """``compare`` at the identity from per-image sums plus the pair's cross term (C_MAXDIFF left at -1).

    ``ga``, ``gb``: flattened thumbnails (see ``cross_identity``).
    """
    cross_identity(ga, gb, nb, edge, cross, colbuf, coltot)
    for k in range(nb * nb + 4):
        acc[k, 0] = sums_a[k, 0]
        acc[k, 1] = sums_b[k, 0]
        acc[k, 2] = sums_a[k, 1]
        acc[k, 3] = sums_b[k, 1]
        acc[k, 4] = cross[k]
        acc[k, 5] = sums_a[k, 2]
    _finish(acc, nb, sigma_floor, -1.0, out)


@njit(cache=True)
def _accumulate_window(ga, gb, fx, fy, tx, ty, nb, edge, acc):
    """Block and strip sums of B against A sampled bilinearly at the window; returns max |a - b|.

    Each column's sums over a band of blocks are float64 adds in the order of the
    rows, and go into ``acc`` in the order of the columns: the loops over a row
    run on independent columns (they vectorise), and the largest difference is
    kept per column and reduced at the end (a maximum, exact in any order).
    """
    s = gb.shape[0]
    nblk = nb * nb
    xi = np.empty(s, np.int64)
    xw = np.empty(s)
    block_of = np.empty(s, np.int64)  # the block column of each column
    for u in range(s):
        xi[u], xw[u] = _coord(tx, fx, u, s)
        block_of[u] = (u * nb) // s
    ncols = 2 * edge if 2 * edge < s else s  # the columns of the left and right strips
    arow = np.empty(s)
    brow = np.empty(s)
    tmp = np.empty(s)
    ca = np.zeros(s)
    cb = np.zeros(s)
    caa = np.zeros(s)
    cbb = np.zeros(s)
    cab = np.zeros(s)
    top = np.zeros(s)
    ta = np.zeros((5, ncols))  # whole-height column sums of the strips' columns
    band_start = 0
    for v in range(s):
        yi, yw = _coord(ty, fy, v, s)
        for x in range(s):
            tmp[x] = ga[yi, x] * (1.0 - yw) + ga[yi + 1, x] * yw
        for u in range(s):
            arow[u] = tmp[xi[u]] * (1.0 - xw[u]) + tmp[xi[u] + 1] * xw[u]
        for u in range(s):
            brow[u] = gb[v, u]
        for u in range(s):
            a = arow[u]
            b = brow[u]
            top[u] = max(top[u], abs(a - b))
            ca[u] += a
            cb[u] += b
            caa[u] += a * a
            cbb[u] += b * b
            cab[u] += a * b
        if v < edge or v >= s - edge:
            j = nblk + (2 if v < edge else 3)
            for u in range(s):
                a = arow[u]
                b = brow[u]
                acc[j, 0] += a
                acc[j, 1] += b
                acc[j, 2] += a * a
                acc[j, 3] += b * b
                acc[j, 4] += a * b
            acc[j, 5] += s
        if ((v + 1) * nb) // s != (v * nb) // s or v == s - 1:  # end of a band of blocks
            rows_in_band = v + 1 - band_start
            base = ((v * nb) // s) * nb
            for u in range(s):
                k = base + block_of[u]
                acc[k, 0] += ca[u]
                acc[k, 1] += cb[u]
                acc[k, 2] += caa[u]
                acc[k, 3] += cbb[u]
                acc[k, 4] += cab[u]
                acc[k, 5] += rows_in_band
            for c in range(ncols):
                u = c if c < edge else s - ncols + c
                ta[0, c] += ca[u]
                ta[1, c] += cb[u]
                ta[2, c] += caa[u]
                ta[3, c] += cbb[u]
                ta[4, c] += cab[u]
            for u in range(s):
                ca[u] = 0.0
                cb[u] = 0.0
                caa[u] = 0.0
                cbb[u] = 0.0
                cab[u] = 0.0
            band_start = v + 1
    for c in range(ncols):
        j = nblk + (0 if c < edge else 1)
        for q in range(5):
            acc[j, q] += ta[q, c]
        acc[j, 5] += s
    maxdiff = 0.0
    for u in range(s):
        maxdiff = max(maxdiff, top[u])
    return maxdiff


@njit(cache=True)
def _overlap_sums(acc, nblk):
    """Totals over the first ``nblk`` block rows of ``acc``: pixels, sum a, sum b, sum a^2, sum b^2, sum ab."""
    n = 0.0
    sa = 0.0
    sb = 0.0
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for k in range(nblk):
        n += acc[k, 5]
        sa += acc[k, 0]
        sb += acc[k, 1]
        saa += acc[k, 2]
        sbb += acc[k, 3]
        sab += acc[k, 4]
    return n, sa, sb, saa, sbb, sab


@njit(cache=True)
def _finish(acc, nb, sigma_floor, maxdiff, out):
    """The residual statistics from the block and strip sums (see the module docstring)."""
    nblk = nb * nb
    n, sa, sb, saa, sbb, sab = _overlap_sums(acc, nblk)
    ma = sa / n
    mb = sb / n
    va = max(saa / n - ma * ma, 0.0)
    vb = max(sbb / n - mb * mb, 0.0)
    da = max(np.sqrt(va), sigma_floor)
    db = max(np.sqrt(vb), sigma_floor)
    cov = sab / n - ma * mb
    inv_aa = 1.0 / (da * da)
    inv_bb = 1.0 / (db * db)
    inv_ab = 1.0 / (da * db)
    worst = 0.0
    second = 0.0
    edge_worst = 0.0
    total = 0.0
    worst_k = -1
    blockres = np.empty(nblk)
    for k in range(nblk + 4):
        c = acc[k, 5]
        if c == 0.0:
            continue
        # sum over the block of ((a - ma)/da - (b - mb)/db)^2, expanded
        qa = (acc[k, 2] - 2.0 * ma * acc[k, 0] + c * ma * ma) * inv_aa
        qb = (acc[k, 3] - 2.0 * mb * acc[k, 1] + c * mb * mb) * inv_bb
        qab = (acc[k, 4] - mb * acc[k, 0] - ma * acc[k, 1] + c * ma * mb) * inv_ab
        r = max(qa + qb - 2.0 * qab, 0.0) / c
        if k < nblk:
            blockres[k] = r
            total += r * c
            if r > worst:
                second = worst
                worst = r
                worst_k = k
            elif r > second:
                second = r
        elif r > edge_worst:
            edge_worst = r
    out[C_GLOBAL] = total / n
    out[C_WORST] = worst
    out[C_SECOND] = second
    out[C_EDGE] = edge_worst
    out[C_MEAN_A] = ma
    out[C_MEAN_B] = mb
    out[C_STD_A] = np.sqrt(va)
    out[C_STD_B] = np.sqrt(vb)
    out[C_MAXDIFF] = maxdiff
    out[C_RHO] = cov / (da * db)
    by = worst_k // nb
    bx = worst_k % nb
    win_ = 0.0
    sin_ = 0.0
    wring = 0.0
    sring = 0.0
    core = 0.0
    for k in range(nblk):
        r = blockres[k]
        p = k // nb
        q = k % nb
        if p == 0 or p == nb - 1 or q == 0 or q == nb - 1:
            if r > wring:
                sring = wring
                wring = r
            elif r > sring:
                sring = r
        else:
            if r > win_:
                sin_ = win_
                win_ = r
            elif r > sin_:
                sin_ = r
            if (p == 1 or p == nb - 2) and (q == 1 or q == nb - 2):
                continue
            if r > core:
                core = r
    out[C_WORST_CORE] = core
    out[C_WORST_IN] = win_
    out[C_SECOND_IN] = sin_
    out[C_WORST_RING] = wring
    out[C_SECOND_RING] = sring
    lo = _select(blockres, (nblk - 1) // 2)
    hi = lo
    if nblk % 2 == 0:  # the upper middle: the least of the elements after the lower middle
        hi = blockres[nblk // 2]
        for k in range(nblk // 2 + 1, nblk):
            hi = min(hi, blockres[k])
    out[C_MEDIAN] = 0.5 * (lo + hi)
    out[C_WORST_BORDER] = 1.0 if (by == 0 or by == nb - 1 or bx == 0 or bx == nb - 1) else 0.0


@njit(cache=True)
def score_of(cmp, params):
    """The largest residual over its threshold (<= 1 accepts); inf for a non-positive correlation.

    (Two flat images, both with a contrast under ``sigma_floor``, are judged by the residuals alone.)

    Local residuals (worst and second-worst block, border strips) count in
    excess of ``local_factor`` times the median block residual, so that a
    residual spread evenly over the frame (resampling, tone clipping) is judged
    by the median and global thresholds, and a change confined to a part of the
    frame by the local ones.
    """
    floor = params[P_SIGMA_FLOOR]
    if cmp[C_RHO] <= 0.0 and (cmp[C_STD_A] >= floor or cmp[C_STD_B] >= floor):
        return np.inf  # anti-correlated or unrelated (two flat images have no correlation to speak of)
    base = params[P_LOCAL_FACTOR] * cmp[C_MEDIAN]
    # residuals are in units of the contrast: the same few grey levels of resampling and JPEG noise weigh
    # more in a low-contrast image, so its thresholds grow by 1 + (noise / contrast)^2
    contrast = max(min(cmp[C_STD_A], cmp[C_STD_B]), floor)
    widen = 1.0 + (params[P_NOISE] / contrast) ** 2
    return max(cmp[C_GLOBAL] / params[P_GLOBAL], cmp[C_MEDIAN] / params[P_MEDIAN],
               (cmp[C_WORST_IN] - base) / params[P_WORST], (cmp[C_SECOND_IN] - base) / params[P_SECOND],
               (cmp[C_WORST_RING] - base) / params[P_WORST_BORDER],
               (cmp[C_SECOND_RING] - base) / params[P_SECOND_BORDER],
               (cmp[C_EDGE] - base) / params[P_EDGE]) / widen


@njit(cache=True)
def _correlation_cost(sa, sb, saa, sbb, sab, n):
    """1 - correlation of two series from their sums over ``n`` samples (``n`` added to each variance)."""
    va = saa - sa * sa / n
    vb = sbb - sb * sb / n
    cov = sab - sa * sb / n
    eps = 1.0 * n
    return 1.0 - cov / np.sqrt((max(va, 0.0) + eps) * (max(vb, 0.0) + eps))


@njit(cache=True)
def profile_cost(pa, pb, f, t):
    """1 - correlation of profile pb against pa sampled at offset t and scale f."""
    s = pb.shape[0]
    sa = 0.0
    sb = 0.0
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for u in range(s):
        i0, w = _coord(t, f, u, s)
        a = pa[i0] * (1.0 - w) + pa[i0 + 1] * w
        b = np.float64(pb[u])
        sa += a
        sb += b
        saa += a * a
        sbb += b * b
        sab += a * b
    return _correlation_cost(sa, sb, saa, sbb, sab, s)


@njit(cache=True)
def best_offset(pa, pb, f, lo, hi, step):
    """The offset in [lo, hi] (grid of ``step``, both ends included) with the least profile cost."""
    best_t = lo
    best_c = np.inf
    t = lo
    while True:
        c = profile_cost(pa, pb, f, t)
        if c < best_c:
            best_c = c
            best_t = t
        if t >= hi:
            break
        t = min(t + step, hi)
    return best_t, best_c


@njit(cache=True)
def _window(z, k):
    """Window fractions (fx, fy) at zoom z for the aspect-ratio quotient k = aspect_B / aspect_A."""
    if k >= 1.0:
        return z, z / k
    return z * k, z


@njit(cache=True)
def search_window(cola, rowa, colb, rowb, k, fmin, s, out):
    """Grid over the zoom, offsets on profiles, then a local refinement; out = fx, fy, tx, ty, cost."""
    best = np.inf
    bz = 1.0
    z = 1.0
    while z >= fmin - 1e-9:
        fx, fy = _window(z, k)
        if fx >= fmin and fy >= fmin:
            tx, cx = best_offset(cola, colb, fx, 0.0, s * (1.0 - fx), 1.0)
            ty, cy = best_offset(rowa, rowb, fy, 0.0, s * (1.0 - fy), 1.0)
            if cx + cy < best:
                best = cx + cy
                bz = z
                out[0] = fx
                out[1] = fy
                out[2] = tx
                out[3] = ty
        z -= 0.03
    if best == np.inf:
        out[4] = np.inf
        return
    z0 = bz
    tx0 = out[2]
    ty0 = out[3]
    for dz in (-0.02, -0.01, 0.0, 0.01, 0.02):
        z = z0 + dz
        if z > 1.0:
            continue
        fx, fy = _window(z, k)
        if fx < fmin or fy < fmin:
            continue
        tx, cx = best_offset(cola, colb, fx, max(0.0, tx0 - 1.0), min(s * (1.0 - fx), tx0 + 1.0), 0.25)
        ty, cy = best_offset(rowa, rowb, fy, max(0.0, ty0 - 1.0), min(s * (1.0 - fy), ty0 + 1.0), 0.25)
        if cx + cy < best:
            best = cx + cy
            out[0] = fx
            out[1] = fy
            out[2] = tx
            out[3] = ty
    out[4] = best


@njit(cache=True)
def _edited(cmp, ea, eb, params):
    """Whether B differs from A by a global brightness / contrast / colour edit."""
    if abs(cmp[C_MEAN_A] - cmp[C_MEAN_B]) > params[P_EDIT_MEAN]:
        return True
    sa = max(cmp[C_STD_A], 1.0)
    sb = max(cmp[C_STD_B], 1.0)
    if sa > sb * params[P_EDIT_GAIN] or sb > sa * params[P_EDIT_GAIN]:
        return True
    if ea[4] != eb[4]:  # one is greyscale, the other is not
        return True
    if abs(np.float64(ea[3]) - np.float64(eb[3])) > params[P_EDIT_COLOUR]:
        return True
    # colour balance: channel means relative to the grey mean
    ga = (0.299 * ea[0] + 0.587 * ea[1] + 0.114 * ea[2])
    gb = (0.299 * eb[0] + 0.587 * eb[1] + 0.114 * eb[2])
    for c in range(3):
        if abs((ea[c] - ga) - (eb[c] - gb)) > params[P_EDIT_COLOUR]:
            return True
    return False


@njit(cache=True)
def chroma_score(ca, cb, ea, eb, fx, fy, tx, ty, s, params):
    """Local colour-difference residual of B against A's window over its threshold (0 when either is grey).

    The grey measure misses a change of hue at equal brightness; the two
    colour-difference planes are compared like the grey one (z-scores, 4 x 4
    blocks), and the worst block in excess of ``local_factor`` x the median counts.
    Only used at the identity alignment: at 16 px a crop's window is too coarse.
    """
    if ea[4] == 1 or eb[4] == 1:
        return 0.0
    cs = ca.shape[1]
    q = cs / s
    cmp = np.empty(N_COMPARE)
    worst = 0.0
    for ch in range(2):
        compare(ca[ch], cb[ch], fx, fy, tx * q, ty * q, 4, 1, params[P_CHROMA_FLOOR], cmp)
        excess = cmp[C_WORST] - params[P_LOCAL_FACTOR] * cmp[C_MEDIAN]
        # as score_of: in units of the planes' contrast, so a near-grey photo's few levels of noise widen it
        contrast = max(min(cmp[C_STD_A], cmp[C_STD_B]), params[P_CHROMA_FLOOR])
        excess /= 1.0 + (params[P_CHROMA_NOISE] / contrast) ** 2
        if excess > worst:
            worst = excess
    # symmetric: the better of the two directions of the gain fit
    local = min(chroma_local(ca, cb), chroma_local(cb, ca))
    return max(worst / params[P_CHROMA_WORST], local / params[P_CHROMA_LOCAL])


@njit(cache=True)
def chroma_local(ca, cb):
    """Local change of colour at the identity: the worst 2 x 2 window of the per-cell colour distance, less 2 x its median.

    Both 2 x C x C colour-difference planes are centred; B's are compared with A's
    times the least-squares gain (0.5..2, so that saturation and contrast edits
    cancel); the per-cell distance is ``sqrt(dCb^2 + dCr^2)`` in plane units
    (half grey levels). An object of another hue but equal brightness (which the
    grey measure misses) shows as a window far above the frame's median.
    """
    cs = ca.shape[1]
    n = cs * cs
    ma0 = 0.0
    ma1 = 0.0
    mb0 = 0.0
    mb1 = 0.0
    for v in range(cs):
        for u in range(cs):
            ma0 += ca[0, v, u]
            ma1 += ca[1, v, u]
            mb0 += cb[0, v, u]
            mb1 += cb[1, v, u]
    ma0 /= n
    ma1 /= n
    mb0 /= n
    mb1 /= n
    sab = 0.0
    saa = 0.0
    for v in range(cs):
        for u in range(cs):
            a0 = ca[0, v, u] - ma0
            a1 = ca[1, v, u] - ma1
            sab += a0 * (cb[0, v, u] - mb0) + a1 * (cb[1, v, u] - mb1)
            saa += a0 * a0 + a1 * a1
    gain = sab / saa if saa > 1e-9 else 1.0
    gain = min(max(gain, 0.5), 2.0)
    dist = np.empty((cs, cs))
    flat = np.empty(n)
    for v in range(cs):
        for u in range(cs):
            d0 = (cb[0, v, u] - mb0) - gain * (ca[0, v, u] - ma0)
            d1 = (cb[1, v, u] - mb1) - gain * (ca[1, v, u] - ma1)
            dist[v, u] = np.sqrt(d0 * d0 + d1 * d1)
            flat[v * cs + u] = dist[v, u]
    lo = _select(flat, (n - 1) // 2)
    hi = lo
    if n % 2 == 0:
        hi = flat[n // 2]
        for k in range(n // 2 + 1, n):
            hi = min(hi, flat[k])
    med = 0.5 * (lo + hi)
    worst = 0.0
    for v in range(cs - 1):
        for u in range(cs - 1):
            w = 0.25 * (dist[v, u] + dist[v, u + 1] + dist[v + 1, u] + dist[v + 1, u + 1])
            if w > worst:
                worst = w
    return max(worst - 2.0 * med, 0.0)


@njit(cache=True)
def local_change(ga, gb, fx, fy, tx, ty, nb, sigma_floor, eps, out, ring=1):
    """Per-block share of unexplained texture of B against A's window: out = worst, second-worst interior block.

    Both sides are z-normalised with their global standard deviation over the
    overlap (floored at ``sigma_floor``); in each block of an ``nb x nb`` grid,
    with each side centred on its block mean, the change is
    ``sum (za - zb)^2 / (sum za^2 + sum zb^2 + eps * pixels)``: about 0 where B
    is A (resampled, re-encoded, blurred, toned), about 1 where the block shows
    other content (uncorrelated texture), 2 for inverted content; ``eps`` keeps
    flat blocks (noise only) near 0. Interior blocks only (the ring of blocks
    along the frame's border, ``ring`` blocks wide, is left to the coarse
    measure: watermarks).
    """
    nblk = nb * nb
    acc = np.zeros((nblk + 4, 6))
    if fx == 1.0 and fy == 1.0 and tx == 0.0 and ty == 0.0:
        _accumulate_identity(ga, gb, nb, 0, acc)
    else:
        _accumulate_window(ga, gb, fx, fy, tx, ty, nb, 0, acc)
    n, sa, sb, saa, sbb, _ = _overlap_sums(acc, nblk)
    ma = sa / n
    mb = sb / n
    da = max(np.sqrt(max(saa / n - ma * ma, 0.0)), sigma_floor)
    db = max(np.sqrt(max(sbb / n - mb * mb, 0.0)), sigma_floor)
    worst = 0.0
    second = 0.0
    for k in range(nblk):
        p = k // nb
        q = k % nb
        c = acc[k, 5]
        if p < ring or p >= nb - ring or q < ring or q >= nb - ring or c == 0.0:
            continue
        qa = max(acc[k, 2] - acc[k, 0] * acc[k, 0] / c, 0.0) / (da * da)
        qb = max(acc[k, 3] - acc[k, 1] * acc[k, 1] / c, 0.0) / (db * db)
        qab = (acc[k, 4] - acc[k, 0] * acc[k, 1] / c) / (da * db)
        r = max(qa + qb - 2.0 * qab, 0.0) / (qa + qb + eps * c)
        if r > worst:
            second = worst
            worst = r
        elif r > second:
            second = r
    out[0] = worst
    out[1] = second


@njit(cache=True)
def fine_score(fa, fb, fx, fy, tx, ty, s, params, factor=1.0):
    """Second stage for a pair the coarse measure accepted: local change on the fine grey planes.

    ``fa``, ``fb``: the two F x F fine planes; (fx, fy, tx, ty): the accepted
    alignment in the S x S thumbnail's pixel units (scaled here by F / S).
    ``local_change`` over ``fine_blocks x fine_blocks`` blocks (5 x 5 pixels at
    16 x 16 on 80 px): new content over about 1% of the area fills at least one
    fine block, and texture that the coarse thumbnail averages away is still
    there. Returns the lesser of the worst and the second-worst interior block
    over their thresholds times ``factor`` (> 1 rejects: two blocks of other
    content); 0 when ``fine_blocks`` < 3 (the second stage switched off).
    """
    if params[P_FINE_BLOCKS] < 3:  # no second stage
        return 0.0
    q = fa.shape[0] / s
    out = np.empty(2)
    local_change(fa, fb, fx, fy, tx * q, ty * q, int(params[P_FINE_BLOCKS]), params[P_SIGMA_FLOOR],
                 params[P_FINE_EPS], out, int(params[P_FINE_RING]))
    return min(out[0] / (factor * params[P_FINE_WORST]), out[1] / (factor * params[P_FINE_SECOND]))


@njit(cache=True)
def _window_plane(fa, fx, fy, tx, ty, q, a):
    """A's F x F plane sampled bilinearly at the window (tx, ty in S units, scaled by q = F / S) into a (float)."""
    f = fa.shape[0]
    if fx == 1.0 and fy == 1.0 and tx == 0.0 and ty == 0.0:
        for v in range(f):
            for u in range(f):
                a[v, u] = fa[v, u]
        return
    xi = np.empty(f, np.int64)
    xw = np.empty(f)
    for u in range(f):
        xi[u], xw[u] = _coord(tx * q, fx, u, f)
    for v in range(f):
        yi, yw = _coord(ty * q, fy, v, f)
        for u in range(f):
            i0 = xi[u]
            w = xw[u]
            top = fa[yi, i0] * (1.0 - w) + fa[yi, i0 + 1] * w
            bot = fa[yi + 1, i0] * (1.0 - w) + fa[yi + 1, i0 + 1] * w
            a[v, u] = top * (1.0 - yw) + bot * yw


@njit(cache=True)
def overlay_change(fa, fb, fx, fy, tx, ty, s, params, out):
    """Whether all that differs between B and A's window is overlays along the edges or in the corners.

    A watermark, caption, date or logo is a small change of one sign (light
    ink or dark ink over whatever lies below) that sits along the frame's
    border, while the rest of the frame is the same picture; a different shot
    of the same scene differs by content that is not confined that way. On the
    fine planes (``fa``, ``fb``, F x F; the window in the S x S thumbnail's
    units, scaled here by F / S), both sides z-normalised over the frame (std
    floored at ``sigma_floor``), the residual ``r = z_b - z_a`` is averaged
    squared over ``fine_blocks x fine_blocks`` blocks. The blocks over
    ``overlay_change`` form regions (8-connected, at most ``OVERLAY_REGIONS``;
    one overlay on each image makes two). The pair is an overlay when

    * every block outside the regions' bounding boxes, each grown by one block,
      is at most ``overlay_rest`` (the rest of the frame agrees);
    * each box lies within ``overlay_band`` blocks of one edge (a strip along an
      edge: text, a caption) or within a corner square of ``overlay_corner``
      blocks (a logo);
    * in each box, the pixels with ``|r| > 0.25`` cover at most ``overlay_area``
      of the frame and their residual has one sign:
      ``|sum r| >= overlay_sign * sum |r|``.

    ``out`` (5 floats) receives the number of regions, the largest region's
    changed area (a fraction of the frame), and the first failed condition
    (0 none, 1 no change, 2 too many regions, 3 the rest differs, 4 not along
    an edge or in a corner, 5 too large, 6 not of one sign). False when
    ``overlay_band`` and ``overlay_corner`` are both 0 (switched off).
    """
    out[0] = 0.0
    out[1] = 0.0
    out[2] = 1.0
    band = int(params[P_OVERLAY_BAND])
    corner = int(params[P_OVERLAY_CORNER])
    nb = int(params[P_FINE_BLOCKS])
    f = fa.shape[0]
    if (band <= 0 and corner <= 0) or nb < 3:
        return False
    a = np.empty((f, f))
    _window_plane(fa, fx, fy, tx, ty, f / s, a)
    n = f * f
    sa = 0.0
    sb = 0.0
    saa = 0.0
    sbb = 0.0
    for v in range(f):
        for u in range(f):
            x = a[v, u]
            y = np.float64(fb[v, u])
            sa += x
            sb += y
            saa += x * x
            sbb += y * y
    ma = sa / n
    mb = sb / n
    da = max(np.sqrt(max(saa / n - ma * ma, 0.0)), params[P_SIGMA_FLOOR])
    db = max(np.sqrt(max(sbb / n - mb * mb, 0.0)), params[P_SIGMA_FLOOR])
    r = np.empty((f, f))
    energy = np.zeros((nb, nb))
    count = np.zeros((nb, nb))
    block_of = np.empty(f, np.int64)  # the block column of each column
    for u in range(f):
        block_of[u] = (u * nb) // f
    for v in range(f):
        by = (v * nb) // f
        rv = r[v]
        for u in range(f):  # the residuals of a row (independent: this loop vectorises) ...
            rv[u] = (fb[v, u] - mb) / db - (a[v, u] - ma) / da
        for u in range(f):  # ... then each block's energy, its pixels added in the same order as ever
            x = rv[u]
            energy[by, block_of[u]] += x * x
            count[by, block_of[u]] += 1.0
    # regions of changed blocks (8-connected flood fill)
    label = np.full((nb, nb), -1, np.int64)
    stack = np.empty(nb * nb, np.int64)
    boxes = np.empty((OVERLAY_REGIONS, 4), np.int64)
    regions = 0
    for by in range(nb):
        for bx in range(nb):
            energy[by, bx] /= max(count[by, bx], 1.0)
    for by in range(nb):
        for bx in range(nb):
            if label[by, bx] >= 0 or energy[by, bx] <= params[P_OVERLAY_CHANGE]:
                continue
            if regions == OVERLAY_REGIONS:
                out[0] = regions + 1
                out[2] = 2.0
                return False
            y0, y1, x0, x1 = by, by, bx, bx
            label[by, bx] = regions
            top = 0
            stack[0] = by * nb + bx
            top = 1
            while top > 0:
                top -= 1
                cy = stack[top] // nb
                cx = stack[top] % nb
                y0 = min(y0, cy)
                y1 = max(y1, cy)
                x0 = min(x0, cx)
                x1 = max(x1, cx)
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        ny = cy + dy
                        nx = cx + dx
                        if 0 <= ny < nb and 0 <= nx < nb and label[ny, nx] < 0 and \
                                energy[ny, nx] > params[P_OVERLAY_CHANGE]:
                            label[ny, nx] = regions
                            stack[top] = ny * nb + nx
                            top += 1
            boxes[regions, 0] = y0
            boxes[regions, 1] = y1
            boxes[regions, 2] = x0
            boxes[regions, 3] = x1
            regions += 1
    out[0] = regions
    if regions == 0:
        return False
    for by in range(nb):
        for bx in range(nb):
            if energy[by, bx] <= params[P_OVERLAY_REST]:
                continue
            near = False
            for k in range(regions):
                if boxes[k, 0] - 1 <= by <= boxes[k, 1] + 1 and boxes[k, 2] - 1 <= bx <= boxes[k, 3] + 1:
                    near = True
            if not near:
                out[2] = 3.0
                return False
    small_corner = int(params[P_OVERLAY_CORNER_SMALL])
    for k in range(regions):
        y0, y1, x0, x1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        changed = 0
        signed = 0.0
        total = 0.0
        for v in range((y0 * f) // nb, ((y1 + 1) * f) // nb):
            for u in range((x0 * f) // nb, ((x1 + 1) * f) // nb):
                if abs(r[v, u]) > 0.25:
                    changed += 1
                    signed += r[v, u]
                    total += abs(r[v, u])
        depth = min(min(y1 + 1, nb - y0), min(x1 + 1, nb - x0))
        # a logo-sized change may sit a little farther into its corner than a larger one
        reach = small_corner if changed <= params[P_OVERLAY_SMALL_AREA] * n and small_corner > corner else corner
        in_corner = (y1 < reach or y0 >= nb - reach) and (x1 < reach or x0 >= nb - reach)
        if not (depth <= band or in_corner):
            out[2] = 4.0
            return False
        out[1] = max(out[1], changed / n)
        if changed > params[P_OVERLAY_AREA] * n:
            out[2] = 5.0
            return False
        if abs(signed) < params[P_OVERLAY_SIGN] * total:
            out[2] = 6.0
            return False
    out[2] = 0.0
    return True


@njit(cache=True)
def _overlay_possible(cmp, params):
    """Whether ``compare``'s statistics leave room for an overlay: the frame as a whole agrees (global and
    median residuals within their limits) and so do the interior blocks an overlay along an edge or in
    a corner cannot reach (``C_WORST_CORE``, in excess of ``local_factor`` x the median)."""
    if cmp[C_GLOBAL] > params[P_GLOBAL] or cmp[C_MEDIAN] > params[P_MEDIAN]:
        return False
    return cmp[C_WORST_CORE] - params[P_LOCAL_FACTOR] * cmp[C_MEDIAN] <= params[P_WORST]


@njit(cache=True)
def _overlay_identity(fa, fb, tone_differs, s, params, box):
    """``overlay_change`` at the identity; for a tone edit also on the rank transforms of the fine planes."""
    if overlay_change(fa, fb, 1.0, 1.0, 0.0, 0.0, s, params, box):
        return True
    if not tone_differs:
        return False
    ra = np.empty_like(fa)
    rb = np.empty_like(fb)
    rank_thumbnail(fa, ra)
    rank_thumbnail(fb, rb)
    return overlay_change(ra, rb, 1.0, 1.0, 0.0, 0.0, s, params, box)


@njit(cache=True)
def fine_window_cost(fa, fb, fx, fy, tx, ty, s, step):
    """1 - correlation of B's fine plane with A's sampled at the window (every ``step``-th pixel each way).

    The window (fx, fy, tx, ty) is in the S x S thumbnail's units (``s``), scaled
    here by F / S.
    """
    f = fb.shape[0]
    q = f / s
    m = (f + step - 1) // step
    xi = np.empty(m, np.int64)
    xw = np.empty(m)
    for k in range(m):
        xi[k], xw[k] = _coord(tx * q, fx, k * step, f)
    sa = 0.0
    sb = 0.0
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for kv in range(m):
        v = kv * step
        yi, yw = _coord(ty * q, fy, v, f)
        for k in range(m):
            i0 = xi[k]
            w = xw[k]
            top = fa[yi, i0] * (1.0 - w) + fa[yi, i0 + 1] * w
            bot = fa[yi + 1, i0] * (1.0 - w) + fa[yi + 1, i0 + 1] * w
            a = top * (1.0 - yw) + bot * yw
            b = np.float64(fb[v, k * step])
            sa += a
            sb += b
            saa += a * a
            sbb += b * b
            sab += a * b
    return _correlation_cost(sa, sb, saa, sbb, sab, m * m)


@njit(cache=True)
def refine_window_fine(fa, fb, fx, fy, tx, ty, s, out):
    """The offsets (tx, ty) of a window refined on the fine planes: out = tx, ty, cost.

    A pattern search (steps of 1/2, 1/4, 1/8 of a thumbnail pixel, four
    neighbours each, at most 4 moves per step, the window kept inside A) on
    ``fine_window_cost`` over every 4th fine pixel each way (every 2nd for the
    last step): the 48 px row and column profiles place a crop's window to
    about half a thumbnail pixel, which leaves a residual along every edge in
    the picture.
    """
    hi_x = s * (1.0 - fx)
    hi_y = s * (1.0 - fy)
    step = 0.5
    sub = 4
    # the costs already computed at this sampling: the search comes back to a point it left (the
    # neighbour behind each move, the neighbours of a centre again in the next round), and the cost
    # of the same offsets is the same number
    seen = np.empty((3 * 4 * 4 + 2, 3))
    best = fine_window_cost(fa, fb, fx, fy, tx, ty, s, sub)
    seen[0, 0] = tx
    seen[0, 1] = ty
    seen[0, 2] = best
    nseen = 1
    while step >= 0.125:
        if step < 0.25 and sub != 2:
            sub = 2
            best = fine_window_cost(fa, fb, fx, fy, tx, ty, s, sub)
            seen[0, 0] = tx
            seen[0, 1] = ty
            seen[0, 2] = best
            nseen = 1
        moved = True
        rounds = 0
        while moved and rounds < 4:
            moved = False
            rounds += 1
            for d in range(4):
                nx = tx + (step if d == 0 else -step if d == 1 else 0.0)
                ny = ty + (step if d == 2 else -step if d == 3 else 0.0)
                if nx < 0.0 or ny < 0.0 or nx > hi_x or ny > hi_y:
                    continue
                c = np.inf
                known = False
                for k in range(nseen):
                    if seen[k, 0] == nx and seen[k, 1] == ny:
                        c = seen[k, 2]
                        known = True
                        break
                if not known:
                    c = fine_window_cost(fa, fb, fx, fy, nx, ny, s, sub)
                    if nseen < seen.shape[0]:
                        seen[nseen, 0] = nx
                        seen[nseen, 1] = ny
                        seen[nseen, 2] = c
                        nseen += 1
                if c < best:
                    best = c
                    tx = nx
                    ty = ny
                    moved = True
        step *= 0.5
    out[0] = tx
    out[1] = ty
    out[2] = best


@njit(cache=True)
def window_scores(ga, gb, fa, fb, win, s, params, cmp, out):
    """The verdict of B at a window of A, with ``compare``'s statistics ``cmp`` there: out = coarse, fine score.

    ``win`` = (fx, fy, tx, ty), in the S x S thumbnail's units. The coarse
    score is ``score_of``; the fine score ``fine_score`` with the crop factor (0
    while the coarse score is over 1). When either fails and the coarse score
    is at most ``refine_gate`` (near), the offsets are refined on the fine planes
    (``refine_window_fine``) and the pair judged again there, ``win`` and
    ``cmp`` updated when that is better. A local change that still fails, in a
    window whose global and median residuals are within their limits, is
    judged by ``overlay_change``: a watermark or caption gives scores of 1 and 0.
    """
    fx, fy, tx, ty = win[0], win[1], win[2], win[3]
    sc = score_of(cmp, params)
    fine = 0.0
    if sc <= 1.0:
        fine = fine_score(fa, fb, fx, fy, tx, ty, s, params, params[P_FINE_CROP])
    if (sc > 1.0 or fine > 1.0) and sc <= params[P_REFINE_GATE]:
        ref = np.empty(3)
        refine_window_fine(fa, fb, fx, fy, tx, ty, s, ref)
        if ref[0] != tx or ref[1] != ty:
            cmp2 = np.empty(N_COMPARE)
            compare(ga, gb, fx, fy, ref[0], ref[1], int(params[P_BLOCKS]), int(params[P_EDGE_WIDTH]),
                    params[P_SIGMA_FLOOR], cmp2)
            sc2 = score_of(cmp2, params)
            fine2 = 0.0
            if sc2 <= 1.0:
                fine2 = fine_score(fa, fb, fx, fy, ref[0], ref[1], s, params, params[P_FINE_CROP])
            if max(sc2, fine2) < max(sc, fine):
                sc = sc2
                fine = fine2
                tx = ref[0]
                ty = ref[1]
                win[2] = tx
                win[3] = ty
                for k in range(N_COMPARE):
                    cmp[k] = cmp2[k]
    if (sc > 1.0 or fine > 1.0) and _overlay_possible(cmp, params):
        box = np.empty(5)
        if overlay_change(fa, fb, fx, fy, tx, ty, s, params, box):
            sc = min(sc, 1.0)
            fine = 0.0
    out[0] = sc
    out[1] = fine


@njit(cache=True)
def _fine_identity(fa, fb, tone_differs, s, params):
    """``fine_score`` at the identity; for a tone edit also on the rank transforms (the better of the two)."""
    fine = fine_score(fa, fb, 1.0, 1.0, 0.0, 0.0, s, params)
    if fine > 1.0 and tone_differs:
        ra = np.empty_like(fa)
        rb = np.empty_like(fb)
        rank_thumbnail(fa, ra)
        rank_thumbnail(fb, rb)
        fine = min(fine, fine_score(ra, rb, 1.0, 1.0, 0.0, 0.0, s, params))
    return fine


@njit(cache=True)
def verify_one(ga, gb, ea, eb, ca, cb, wa, ha, wb, hb, cola, rowa, colb, rowb, sums_a, sums_b, params, res,
               cmp, acc, cross, colbuf, coltot, rank_a, rank_b, rsums_a, rsums_b, cmp2, fa, fb):
    """Verify one pair (a, b); res = ok, similarity, relation, area fraction, container (-1/0/1).

    ``sums_a``, ``sums_b``: ``identity_sums`` of the two images; ``rank_a``, ``rank_b``
    (S x S uint8) and ``rsums_a``, ``rsums_b``: scratch that receives the two images'
    ``rank_thumbnail`` and its ``identity_sums``, made only for the few pairs whose tones
    differ and that fail near the limit (an image's rank transform is of no use to the
    others, about 9 in 10 of them at 20,000 photos); ``cmp``,
    ``cmp2``, ``acc``, ``cross``, ``colbuf``, ``coltot``: scratch arrays (no allocation per
    pair at the identity); ``fa``, ``fb``: the fine grey planes (second stage, ``fine_score``).
    """
    s = ga.shape[0]
    nb = int(params[P_BLOCKS])
    edge = int(params[P_EDGE_WIDTH])
    floor = params[P_SIGMA_FLOOR]
    compare_identity(ga.reshape(s * s), gb.reshape(s * s), sums_a, sums_b, nb, floor, acc, cross, colbuf, coltot,
                     edge, cmp)
    score = score_of(cmp, params)
    if 1.0 < score <= params[P_RANK_GATE] and _tone_differs(cmp, params):
        # a second chance for a tone edit that is not a gain and offset (gamma, clipped highlights or
        # shadows): the same measure on the two rank-transformed thumbnails (each grey level replaced by
        # its mid-rank in its own image), which any increasing tone curve leaves unchanged but for ties
        rank_thumbnail(ga, rank_a)
        rank_thumbnail(gb, rank_b)
        identity_sums(rank_a, nb, edge, rsums_a)
        identity_sums(rank_b, nb, edge, rsums_b)
        compare_identity(rank_a.reshape(s * s), rank_b.reshape(s * s), rsums_a, rsums_b, nb, floor, acc, cross,
                         colbuf, coltot, edge, cmp2)
        score = min(score, score_of(cmp2, params))
    if score <= 1.0:
        score = max(score, chroma_score(ca, cb, ea, eb, 1.0, 1.0, 0.0, 0.0, s, params))
    # a local change that fails the identity may be a watermark or caption (``overlay_change``): tried
    # once, when the frame as a whole agrees (global and median residuals within their limits)
    overlay = 0  # 0: not tried, 1: an overlay, -1: not an overlay
    box = np.empty(5)
    if score > 1.0 and _overlay_possible(cmp, params):
        overlay = 1 if _overlay_identity(fa, fb, _tone_differs(cmp, params), s, params, box) else -1
        if overlay == 1:
            score = 1.0
    if score <= 1.0:
        res[0] = 1.0
        res[1] = 1.0 / (1.0 + score)
        res[3] = 1.0
        res[4] = -1.0
        same_size = wa == wb and ha == hb
        same_extra = True
        for c in range(ea.shape[0]):
            if ea[c] != eb[c]:
                same_extra = False
        if same_size and same_extra and max_abs_diff(ga, gb) == 0:
            res[2] = REL_SAME_PIXELS
        elif _edited(cmp, ea, eb, params):
            res[2] = REL_EDITED
        elif not same_size:
            res[2] = REL_RESIZED
        else:
            res[2] = REL_REENCODED
        # second stage: the same measure on a finer block grid (on the rank transforms too for a tone edit)
        fine = _fine_identity(fa, fb, _tone_differs(cmp, params), s, params)
        if not same_size and wa > 0 and ha > 0 and wb > 0 and hb > 0 and (wb <= wa and hb <= ha or
                                                                          wa <= wb and ha <= hb):
            # a slight crop can pass at the identity; if the sizes say 'crop' (one image smaller in
            # both dimensions, aspect ratio changed) and the crop's window fits, call it cropped
            if wb <= wa and hb <= ha:
                fx = wb / wa
                fy = hb / ha
                cA, rA, cB, rB, gA, gB, fA, fB, side = cola, rowa, colb, rowb, ga, gb, fa, fb, 0.0
            else:
                fx = wa / wb
                fy = ha / hb
                cA, rA, cB, rB, gA, gB, fA, fB, side = colb, rowb, cola, rowa, gb, ga, fb, fa, 1.0
            if abs(fx / fy - 1.0) > params[P_ASPECT_TOL] and fx >= params[P_FMIN] and fy >= params[P_FMIN]:
                tx, _ = best_offset(cA, cB, fx, 0.0, s * (1.0 - fx), 0.5)
                ty, _ = best_offset(rA, rB, fy, 0.0, s * (1.0 - fy), 0.5)
                tx, _ = best_offset(cA, cB, fx, max(0.0, tx - 0.5), min(s * (1.0 - fx), tx + 0.5), 0.125)
                ty, _ = best_offset(rA, rB, fy, max(0.0, ty - 0.5), min(s * (1.0 - fy), ty + 0.5), 0.125)
                compare(gA, gB, fx, fy, tx, ty, nb, edge, floor, cmp)
                sc = score_of(cmp, params)
                if sc <= score:
                    res[1] = 1.0 / (1.0 + sc)
                    res[2] = REL_CROPPED
                    res[3] = fx * fy
                    res[4] = side
                    fine = min(fine, fine_score(fA, fB, fx, fy, tx, ty, s, params, params[P_FINE_CROP]))
        if fine > 1.0 and overlay == 0:
            overlay = 1 if _overlay_identity(fa, fb, _tone_differs(cmp, params), s, params, box) else -1
        if fine > 1.0 and overlay != 1:
            _reject(res, fine)
        return
    best_score = score
    area_a = np.float64(wa) * ha
    area_b = np.float64(wb) * hb
    misaligned = cmp[C_MEDIAN] >= params[P_CROP_GATE]  # aligned frames that differ locally are no crop
    if misaligned and wa > 0 and ha > 0 and wb > 0 and hb > 0 and \
            min(area_a, area_b) < max(area_a, area_b) * (1.0 - params[P_AREA_TOL]):
        swap = area_b > area_a  # the container is the larger one
        if swap:
            gA, gB, eA, eB, fA, fB = gb, ga, eb, ea, fb, fa
            cA, rA, cB, rB = colb, rowb, cola, rowa
            WA, HA, WB, HB = wb, hb, wa, ha
        else:
            gA, gB, eA, eB, fA, fB = ga, gb, ea, eb, fa, fb
            cA, rA, cB, rB = cola, rowa, colb, rowb
            WA, HA, WB, HB = wa, ha, wb, hb
        fmin = params[P_FMIN]
        win = np.empty(5)
        scores = np.empty(2)
        tried_fx = -1.0
        tried_fy = -1.0
        # 1. a crop without resizing: the window's size is known from the sizes
        fx = WB / WA
        fy = HB / HA
        if fmin <= fx <= 1.0 and fmin <= fy <= 1.0:
            tx, _ = best_offset(cA, cB, fx, 0.0, s * (1.0 - fx), 0.5)
            ty, _ = best_offset(rA, rB, fy, 0.0, s * (1.0 - fy), 0.5)
            tx, _ = best_offset(cA, cB, fx, max(0.0, tx - 0.5), min(s * (1.0 - fx), tx + 0.5), 0.125)
            ty, _ = best_offset(rA, rB, fy, max(0.0, ty - 0.5), min(s * (1.0 - fy), ty + 0.5), 0.125)
            compare(gA, gB, fx, fy, tx, ty, nb, edge, floor, cmp)
            win[0], win[1], win[2], win[3] = fx, fy, tx, ty
            window_scores(gA, gB, fA, fB, win, s, params, cmp, scores)
            sc = scores[0]
            tried_fx = fx
            tried_fy = fy
            if sc < best_score:
                best_score = sc
            if sc <= 1.0:
                fine = scores[1]
                if fine > 1.0:
                    _reject(res, max(fine, best_score))
                    return
                res[0] = 1.0
                res[1] = 1.0 / (1.0 + sc)
                res[2] = REL_CROPPED
                res[3] = fx * fy
                res[4] = 1.0 if swap else 0.0
                return
        # 2. a crop of unknown zoom (a crop that was also resized), aspect ratio kept
        k = (np.float64(WB) / HB) / (np.float64(WA) / HA)
        if abs(k - 1.0) <= params[P_ASPECT_TOL]:
            # same aspect ratio, smaller: a resized copy (the identity judged it) or a crop kept in
            # proportion and resized, which is left to a geometric search (robust mode)
            win[4] = np.inf
        else:
            search_window(cA, rA, cB, rB, k, fmin, s, win)
        if win[4] < np.inf and not (abs(win[0] - tried_fx) < 1e-6 and abs(win[1] - tried_fy) < 1e-6):
            compare(gA, gB, win[0], win[1], win[2], win[3], nb, edge, floor, cmp)
            window_scores(gA, gB, fA, fB, win, s, params, cmp, scores)
            sc = scores[0]
            if sc < best_score:
                best_score = sc
            if sc <= 1.0:
                fine = scores[1]
                if fine > 1.0:
                    _reject(res, max(fine, best_score))
                    return
                res[0] = 1.0
                res[1] = 1.0 / (1.0 + sc)
                res[2] = REL_CROPPED if win[0] * win[1] < 0.999 else REL_RESIZED
                res[3] = win[0] * win[1]
                res[4] = (1.0 if swap else 0.0) if win[0] * win[1] < 0.999 else -1.0
                return
        # 3. the other way round: a crop kept at full resolution has more pixels than a downscaled copy
        # of its original, which is then the container (zoom unknown, aspect ratios differ); only where
        # the pixel areas differ more than a crop of at least min_window per side could explain
        if abs(k - 1.0) > params[P_ASPECT_TOL] and np.float64(WB) * HB < fmin * fmin * np.float64(WA) * HA:
            search_window(cB, rB, cA, rA, 1.0 / k, fmin, s, win)
            if win[4] < np.inf:
                compare(gB, gA, win[0], win[1], win[2], win[3], nb, edge, floor, cmp)
                window_scores(gB, gA, fB, fA, win, s, params, cmp, scores)
                sc = scores[0]
                if sc < best_score:
                    best_score = sc
                if sc <= 1.0 and scores[1] <= 1.0 and win[0] * win[1] < 0.999:
                    res[0] = 1.0
                    res[1] = 1.0 / (1.0 + sc)
                    res[2] = REL_CROPPED
                    res[3] = win[0] * win[1]
                    res[4] = 0.0 if swap else 1.0
                    return
    _reject(res, best_score)


@njit(cache=True)
def _reject(res, score):
    """res for a rejected pair of the given score (> 1)."""
    res[0] = 0.0
    res[1] = 1.0 / (1.0 + score)
    res[2] = REL_DIFFERENT
    res[3] = 0.0
    res[4] = -1.0


@njit(cache=True, parallel=True)
def verify_pairs_kernel(records, used, s, ne, cs, fs, sizes, pair_i, pair_j, params, ok, similarity, relation, area,
                        container):
    """Verify every pair (pair_i[p], pair_j[p]); fills the five per-pair output arrays.

    ``records``: N x B uint8 thumbnail records (C order; ``undouble.verify``'s
    layout: the S x S grey plane (``s``), ``ne`` extra bytes, two C x C colour
    planes (``cs``), the F x F fine plane (``fs``)); ``used``: the record row
    of each image of the pairs (``pair_i``, ``pair_j`` and ``sizes`` index
    ``used``). The planes are read in place, as views of the records: copying
    them out costs more than the pairs of a call need of them (a fresh copy of
    every record page-faults its way in, ~0.5 s at 20,000 photos).

    Per call: row/column profiles and identity block sums of every image (O(N S^2));
    per pair at the identity only the cross term (rank transforms only for the pairs that
    need them, see ``verify_one``). Pairs run in chunks, each with its own scratch.
    """
    n = used.shape[0]
    s2 = s * s
    c0 = s2 + ne            # the colour planes
    f0 = c0 + 2 * cs * cs   # the fine plane
    nb = int(params[P_BLOCKS])
    edge = int(params[P_EDGE_WIDTH])
    cols = np.empty((n, s), np.float32)
    rows = np.empty((n, s), np.float32)
    sums = np.empty((n, nb * nb + 4, 3))
    for k in prange(n):
        g = records[used[k], 0:s2].reshape((1, s, s))
        profiles(g, cols[k:k + 1], rows[k:k + 1])
        identity_sums(g[0], nb, edge, sums[k])
    m = pair_i.shape[0]
    chunk = 64
    for c in prange((m + chunk - 1) // chunk):
        res = np.zeros(5)
        cmp = np.empty(N_COMPARE)
        cmp2 = np.empty(N_COMPARE)
        acc = np.empty((nb * nb + 4, 6))
        cross = np.empty(nb * nb + 4)
        colbuf = np.empty(s, np.int32)
        coltot = np.empty(s, np.int64)
        rank_a = np.empty((s, s), np.uint8)
        rank_b = np.empty((s, s), np.uint8)
        rsums_a = np.empty((nb * nb + 4, 3))
        rsums_b = np.empty((nb * nb + 4, 3))
        for p in range(c * chunk, min(m, (c + 1) * chunk)):
            i = pair_i[p]
            j = pair_j[p]
            ra = records[used[i]]
            rb = records[used[j]]
            for q in range(5):
                res[q] = 0.0
            verify_one(ra[0:s2].reshape((s, s)), rb[0:s2].reshape((s, s)), ra[s2:c0], rb[s2:c0],
                       ra[c0:f0].reshape((2, cs, cs)), rb[c0:f0].reshape((2, cs, cs)), sizes[i, 0], sizes[i, 1],
                       sizes[j, 0], sizes[j, 1], cols[i], rows[i], cols[j], rows[j], sums[i], sums[j], params, res,
                       cmp, acc, cross, colbuf, coltot, rank_a, rank_b, rsums_a, rsums_b, cmp2,
                       ra[f0:f0 + fs * fs].reshape((fs, fs)), rb[f0:f0 + fs * fs].reshape((fs, fs)))
            ok[p] = res[0] > 0.5
            similarity[p] = res[1]
            relation[p] = np.int8(res[2])
            area[p] = res[3]
            container[p] = np.int8(res[4])
