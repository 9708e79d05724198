"""Colour hash kernels (ImageHash ``colorhash``): one pass over the pixels.

Per pixel: Pillow "L" grey and Pillow HSV (exact, see ``color.py``). Masks:
``black = L < 32``; ``grey = ~black & S < 85``; ``colour = ~black & S >= 85``,
split into ``faint`` (``S < 170``) and ``bright`` (``S > 170``), each counted
in six hue bins ``[0-42] [43-84] [85-127] [128-169] [170-212] [213-255]``.

:func:`colorhash_counts` is the plain per-pixel version (the reference of the
tests). The batch kernel splits the channels into planes, classifies every
pixel in one flat uint16 loop that LLVM vectorises 16 pixels wide
(:func:`_classify`: Pillow's divisions and floating-point steps become exact
comparisons of small integers), then counts the classes.
"""
import numpy as np
from numba import njit

from .color import hsv_hue, hsv_saturation, rgb_to_l

N_COUNTS = 15  # black, grey, colour, 6 faint hue bins, 6 bright hue bins
N_VALUES = 14  # black, grey, 6 faint, 6 bright


@njit(cache=True)
def hue_bin(h):
    """Bin of hue ``h`` (0..255) among numpy.histogram's edges ``linspace(0, 255, 7)``."""
    return min(5, (h * 6) // 255)


@njit(cache=True)
def colorhash_counts(img):
    """Pixel counts of an ``H x W x C`` uint8 image (``C`` = 1 grey, 3 RGB, 4 RGBA).

    Returns int64 ``[black, grey, colour, faint_0..5, bright_0..5]``. A grey
    pixel ``v`` is treated as RGB ``(v, v, v)`` (Pillow's L -> HSV gives
    ``(0, 0, v)``, and L of ``(v, v, v)`` is ``v``).
    """
    height, width, channels = img.shape
    if channels >= 3:
        lum = rgb_to_l(img)
        cg, cb = 1, 2
    else:
        lum = img[:, :, 0].copy()
        cg, cb = 0, 0
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    for y in range(height):
        for x in range(width):
            if lum[y, x] < 32:
                counts[0] += 1
                continue
            r = np.int64(img[y, x, 0])
            g = np.int64(img[y, x, cg])
            b = np.int64(img[y, x, cb])
            mx = max(r, max(g, b))
            mn = min(r, min(g, b))
            s = hsv_saturation(mx, mn)
            if s < 85:
                counts[1] += 1
                continue
            counts[2] += 1
            if s < 170:
                counts[3 + hue_bin(hsv_hue(r, g, b, mx, mn))] += 1
            elif s > 170:
                counts[9 + hue_bin(hsv_hue(r, g, b, mx, mn))] += 1
    return counts


@njit(cache=True)
def colorhash_bits(counts, n_pixels, binbits, out):
    """Quantise the counts of :func:`colorhash_counts` and write ``14 * binbits`` bits.

    Fractions are formed as ImageHash does (float64): ``count / n_pixels * M``
    for black and grey, ``count * M / max(1, colour)`` for the hue bins, with
    ``M = 2**binbits``, truncated and capped at ``M - 1``. Value ``v`` gives
    bits ``(v >> (binbits-1-i)) % 2**(binbits-i) != 0`` (not plain binary).
    """
    m = np.int64(1) << binbits
    c = max(np.int64(1), counts[2])
    k = 0
    for idx in range(N_VALUES):
        if idx < 2:
            value = np.int64(np.float64(counts[idx]) / np.float64(n_pixels) * np.float64(m))
        else:
            value = np.int64(np.float64(counts[idx + 1] * m) / np.float64(c))
        value = min(m - 1, value)
        for i in range(binbits):
            out[k] = ((value >> (binbits - 1 - i)) % (np.int64(1) << (binbits - i))) != 0
            k += 1


@njit(cache=True)
def _classify(rp, gp, bp, classes, m):
    """:func:`pixel_classes` of the ``m`` pixels ``(rp[p], gp[p], bp[p])`` (uint8 planes).

    No division and no float: every test Pillow's floating-point steps make
    is an exact comparison of small integers, all held in uint16, so that
    LLVM processes 16 pixels per AVX2 vector.

    - Black: ``L < 32`` with ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``,
      i.e. the weighted sum ``< 32 * 65536 - 0x8000 = 8064 * 256``. With the
      weights split as ``256 * (76, 150, 29) + (139, 70, 47)``, the sum is
      ``256 * hi + lo`` (``hi, lo < 2**16``), which is below ``8064 * 256``
      exactly when ``hi + (lo >> 8) < 8064``.
    - Saturation: Pillow's ``S = int(float32(cr) / float32(mx) * 255.0)``
      (``cr = mx - mn``) is non-decreasing in the exact ratio ``cr / mx``,
      and over every ``0 <= cr <= mx <= 255`` it is ``>= 85`` exactly when
      ``3 cr >= mx``, ``>= 170`` when ``3 cr >= 2 mx`` and ``>= 171`` when
      ``85 cr >= 57 mx``.
    - Hue bin: Pillow's float32 ``h`` is ``k +- d`` with ``d = n / cr``,
      ``n = mx - mid`` (``mid`` the middle channel), ``k`` and the sign set by
      which channel is max (in r, g, b order) and which is min. Over every
      ``0 <= n <= cr <= 255`` the bin of a sector is fixed (``1 - d``: 0,
      ``3 - d``: 2, ``5 - d``: 4) or steps up by one at ``d >= 1/85``
      (``85 n >= cr``) and again at ``d == 1`` (``n == cr``): ``1 + d`` gives
      0, 1, 2; ``3 + d`` 2, 3, 4; ``d - 1`` 4, 5 (``d == 1`` cannot occur
      there: it needs ``g == b``).

    ``tests/test_hashes_wavelet_color.py`` checks each rule against the
    float formulas on every integer pair, and the classes of every 24-bit
    colour against Pillow's own L and HSV.

    Every intermediate is cast back to uint16 (Numba would widen it to
    int64); all of them are below ``2**16`` and none is negative. The
    selects are independent (no if/elif chain): LLVM makes each one blend.
    """
    u16 = np.uint16
    for p in range(m):
        r = u16(rp[p])
        g = u16(gp[p])
        b = u16(bp[p])
        hi = u16(u16(u16(u16(76) * r) + u16(u16(150) * g)) + u16(u16(29) * b))
        lo = u16(u16(u16(u16(139) * r) + u16(u16(70) * g)) + u16(u16(47) * b))
        black = u16(hi + u16(lo >> u16(8))) < u16(8064)
        mx = max(r, max(g, b))
        mn = min(r, min(g, b))
        cr = u16(mx - mn)
        n = u16(u16(u16(mx + mx) + mn) - u16(u16(r + g) + b))  # mx - mid
        ramp = u16(u16(u16(u16(85) * n) >= cr) + u16(n >= cr))
        # sector: does the bin move with d (slope 1) or not, and its first bin
        r_max = r == mx
        g_max = g == mx
        slope = u16(g < b) if r_max else (u16(b <= r) if g_max else u16(r <= g))
        base = u16(u16(4) * slope) if r_max else u16((u16(2) if g_max else u16(4)) - u16(u16(2) * slope))
        hbin = u16(base + u16(slope * ramp))
        c = u16(u16(9) + hbin) if u16(u16(85) * cr) >= u16(u16(57) * mx) else u16(2)
        c = c if u16(u16(3) * cr) >= u16(u16(2) * mx) else u16(u16(3) + hbin)
        c = c if u16(u16(3) * cr) >= mx else u16(1)
        classes[p] = u16(0) if black else c


@njit(cache=True)
def _split_channels(src, planes, m, step):
    """``planes[c, p] = src[step*p + c]`` for ``c`` < 3 and ``p < m`` (RGB or RGBA, interleaved).

    A loop of its own: LLVM turns these strided byte loads into a few byte
    shuffles per 16 pixels, where the same loads inside the classification
    loop became one insert per byte.
    """
    rp, gp, bp = planes[0], planes[1], planes[2]
    for p in range(m):
        rp[p] = src[step * p]
        gp[p] = src[step * p + 1]
        bp[p] = src[step * p + 2]


@njit(cache=True)
def pixel_classes(img, classes, planes):
    """Class of every pixel of a C-contiguous ``H x W x C`` uint8 image, into ``classes[:H*W]``.

    0 black, 1 grey, 2 colour with ``S == 170`` (in neither hue histogram),
    ``3 + bin`` faint, ``9 + bin`` bright: the index into the counts of
    :func:`colorhash_counts` (whose ``colour`` count is the sum of classes
    2..14). ``classes``: uint16, ``planes``: a uint8 ``(3, >= H*W)`` work buffer.
    """
    height, width, channels = img.shape
    src = img.reshape(-1)
    m = height * width
    if channels == 3:
        _split_channels(src, planes, m, 3)
    elif channels == 4:
        _split_channels(src, planes, m, 4)
    else:
        grey = planes[0]
        for p in range(m):
            grey[p] = src[p * channels]
        _classify(grey, grey, grey, classes, m)
        return
    _classify(planes[0], planes[1], planes[2], classes, m)


@njit(cache=True)
def class_counts(classes, m, counts):
    """Counts (``N_COUNTS``, as :func:`colorhash_counts`) of ``classes[:m]``.

    ``classes`` is uint16: an unsigned index needs no negative-index check.
    Eight interleaved histograms, so that runs of one class do not chain
    increments of one counter.
    """
    hist = np.zeros((8, 16), dtype=np.int64)
    stop = m - m % 8
    for p in range(0, stop, 8):
        hist[0, classes[p]] += 1
        hist[1, classes[p + 1]] += 1
        hist[2, classes[p + 2]] += 1
        hist[3, classes[p + 3]] += 1
        hist[4, classes[p + 4]] += 1
        hist[5, classes[p + 5]] += 1
        hist[6, classes[p + 6]] += 1
        hist[7, classes[p + 7]] += 1
    for p in range(stop, m):
        hist[0, classes[p]] += 1
    for k in range(N_COUNTS):
        counts[k] = 0
    for j in range(8):
        counts[0] += hist[j, 0]
        counts[1] += hist[j, 1]
        for k in range(2, N_COUNTS):
            counts[2] += hist[j, k]
        for k in range(3, N_COUNTS):
            counts[k] += hist[j, k]


@njit(cache=True, nogil=True)
def colorhash_batch(stack, binbits):
    """Colour hash bits of every image of a C-contiguous ``N x H x W x C`` uint8 stack.

    Returns bool ``(N, 14 * binbits)``.
    """
    n, height, width = stack.shape[0], stack.shape[1], stack.shape[2]
    out = np.zeros((n, N_VALUES * binbits), dtype=np.bool_)
    classes = np.zeros(height * width, dtype=np.uint16)
    planes = np.zeros((3, height * width), dtype=np.uint8)
    counts = np.zeros(N_COUNTS, dtype=np.int64)
    for i in range(n):
        pixel_classes(stack[i], classes, planes)
        class_counts(classes, height * width, counts)
        colorhash_bits(counts, height * width, binbits, out[i])
    return out
