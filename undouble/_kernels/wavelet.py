"""2-D discrete wavelet transforms with PyWavelets' exact arithmetic.

Only what the wavelet hash needs: single-level forward transforms along one
axis with any even-length filter (Haar, db4), the Haar forward and inverse
levels (both axes in one sweep over row pairs), and the multilevel compositions used by
ImageHash's ``whash``. Signal extension is PyWavelets' default
``'symmetric'`` (half-sample mirror, period ``2N``).

Floating-point sums are formed in PyWavelets' order, so ties (which decide
median comparisons) come out the same:

- forward, output ``o`` centred at input ``i = 2o + 1`` with ``F`` taps:
  when ``i >= N`` the taps that fall past the right edge are summed first,
  from ``t = i - N`` down to ``0``; then ``t = i - N + 1 .. F - 1`` (or
  ``0 .. F - 1`` when ``i < N``); each term ``filter[t] * x[ext(i - t)]``,
  the sum starting from ``0.0``;
- Haar inverse: ``x[2k] = (0 + (0 + h*a)) + (0 + h*d)``,
  ``x[2k+1] = (0 + (0 + h*a)) + (0 + (-h)*d)``: the approximation is added
  into a zeroed output first, then the detail;
- 2-D: the forward transforms axis 0 then axis 1, the inverse axis 1 then 0.

The kernels of the hash itself (the db4 pass, the Haar levels) leave out the
additions of ``0.0``: they only turn a ``-0.0`` into ``+0.0``, and the sign of a
zero never reaches a hash bit (a zero of either sign adds nothing to a
non-zero value, multiplies to a zero, and compares equal to the other zero),
so every non-zero value, the median and the bits are those of the full
order. The general :func:`dwt_axis` keeps PyWavelets' every step, and the
tests compare both with PyWavelets.

All kernels take and return C-contiguous float64 arrays so that each
compiles once.
"""
import numpy as np
from numba import njit

from .median import median_of
from .resample import resize_image, resize_work


@njit(cache=True)
def symmetric_index(p, n):
    """Index into ``x[0:n]`` of position ``p`` of its half-sample symmetric extension."""
    period = 2 * n
    q = p % period
    if q < 0:
        q += period
    if q < n:
        return q
    return period - 1 - q


@njit(cache=True)
def dwt_taps(n, f):
    """Summation plan of a downsampling convolution of length ``n`` with ``f`` taps.

    Returns ``(taps, pos)``, int64 arrays ``(n_out, f)`` with
    ``n_out = (n + f - 1) // 2``: term ``k`` of output ``o`` is
    ``filter[taps[o, k]] * x[pos[o, k]]``.
    """
    n_out = (n + f - 1) // 2
    taps = np.empty((n_out, f), dtype=np.int64)
    pos = np.empty((n_out, f), dtype=np.int64)
    for o in range(n_out):
        i = 2 * o + 1
        n_right = i - n + 1 if i >= n else 0  # taps past the right edge
        for k in range(f):
            t = n_right - 1 - k if k < n_right else k
            taps[o, k] = t
            pos[o, k] = symmetric_index(i - t, n)
    return taps, pos


@njit(cache=True)
def dwt_axis0_8_into(x, filt, transposed):
    """:func:`dwt_axis` along axis 0 for an 8-tap filter (db4): ``(n_out, cols)``, or its transpose.

    Same terms in the same order as the general loop (``k = 0 .. 7``; the
    sum starts from the first term instead of ``0.0``: see the module notes); the eight source rows of an output are read together, so LLVM
    vectorises across columns without storing partial sums. Two transposed
    passes make one 2-D level: ``into(into(x, f, True), f, True)`` is
    ``dwt_axis(dwt_axis(x, f, 0), f, 1)`` (the second pass runs along axis 0
    of the transposed intermediate, i.e. axis 1 of the untransposed one),
    without any transpose copy.
    """
    rows, cols = x.shape
    taps, pos = dwt_taps(rows, 8)
    n_out = taps.shape[0]
    out = np.empty((cols, n_out) if transposed else (n_out, cols), dtype=np.float64)
    row = np.empty(cols, dtype=np.float64)
    for o in range(n_out):
        w0 = filt[taps[o, 0]]
        w1 = filt[taps[o, 1]]
        w2 = filt[taps[o, 2]]
        w3 = filt[taps[o, 3]]
        w4 = filt[taps[o, 4]]
        w5 = filt[taps[o, 5]]
        w6 = filt[taps[o, 6]]
        w7 = filt[taps[o, 7]]
        x0 = x[pos[o, 0]]
        x1 = x[pos[o, 1]]
        x2 = x[pos[o, 2]]
        x3 = x[pos[o, 3]]
        x4 = x[pos[o, 4]]
        x5 = x[pos[o, 5]]
        x6 = x[pos[o, 6]]
        x7 = x[pos[o, 7]]
        for c in range(cols):
            acc = w0 * x0[c]
            acc += w1 * x1[c]
            acc += w2 * x2[c]
            acc += w3 * x3[c]
            acc += w4 * x4[c]
            acc += w5 * x5[c]
            acc += w6 * x6[c]
            acc += w7 * x7[c]
            row[c] = acc
        if transposed:
            for c in range(cols):
                out[c, o] = row[c]
        else:
            for c in range(cols):
                out[o, c] = row[c]
    return out


@njit(cache=True)
def dwt_axis(x, filt, axis):
    """One filter of a single-level DWT (symmetric mode) along ``axis`` (0 or 1).

    ``x`` is a 2-D float64 array; the output has ``(N + F - 1) // 2`` entries
    along ``axis``. With PyWavelets' ``dec_lo`` this is the approximation,
    with ``dec_hi`` the detail.
    """
    rows, cols = x.shape
    f = filt.shape[0]
    if axis == 0 and f == 8:
        return dwt_axis0_8_into(x, filt, False)
    if axis == 0:
        taps, pos = dwt_taps(rows, f)
        out = np.zeros((taps.shape[0], cols), dtype=np.float64)
        for o in range(taps.shape[0]):
            for k in range(f):
                w = filt[taps[o, k]]
                p = pos[o, k]
                for c in range(cols):
                    out[o, c] += w * x[p, c]
        return out
    taps, pos = dwt_taps(cols, f)
    n_out = taps.shape[0]
    out = np.empty((rows, n_out), dtype=np.float64)
    for r in range(rows):
        for o in range(n_out):
            acc = 0.0
            for k in range(f):
                acc += filt[taps[o, k]] * x[r, pos[o, k]]
            out[r, o] = acc
    return out


@njit(cache=True)
def dwt2(x, dec_lo, dec_hi):
    """Single-level 2-D DWT: ``(aa, da, ad, dd)`` (PyWavelets' ``cA, (cH, cV, cD)``)."""
    lo = dwt_axis(x, dec_lo, 0)
    hi = dwt_axis(x, dec_hi, 0)
    return (dwt_axis(lo, dec_lo, 1), dwt_axis(hi, dec_lo, 1),
            dwt_axis(lo, dec_hi, 1), dwt_axis(hi, dec_hi, 1))


@njit(cache=True)
def wavedec2_ll(x, dec_lo, levels):
    """Approximation of a ``levels``-level 2-D DWT (``pywt.wavedec2(...)[0]``)."""
    ll = x.copy()
    for _ in range(levels):
        if dec_lo.shape[0] == 8:
            ll = dwt_axis0_8_into(dwt_axis0_8_into(ll, dec_lo, True), dec_lo, True)
        else:
            ll = dwt_axis(dwt_axis(ll, dec_lo, 0), dec_lo, 1)
    return ll


HAAR = 0.7071067811865476
"""PyWavelets' Haar coefficient (``1/sqrt(2)`` as stored): ``dec_lo = rec_lo = [h, h]``,
``dec_hi = [-h, h]``, ``rec_hi = [h, -h]``."""


@njit(cache=True)
def haar_forward_level(src, m, approx, coeffs):
    """One Haar level of ``src[:m, :m]`` (``m`` even), both axes in one sweep over row pairs.

    Writes the approximation to ``approx[:m/2, :m/2]`` and the details to
    ``coeffs`` in Mallat layout (``ad`` top right, ``da`` bottom left, ``dd``
    bottom right of ``coeffs[:m, :m]``). Same operations, in the same order,
    as :func:`dwt2` with Haar filters: axis 0 then axis 1, each output
    ``f[0] * x[2k+1] + f[1] * x[2k]`` (the leading ``0 +`` left out: see the
    module notes).

    Computed row pair by row pair in two vectorisable steps: axis 0 along
    the whole rows (``lo``, ``hi``), then axis 1 on those two rows.
    """
    c = HAAR
    h = m // 2
    rows = np.empty((2, m), dtype=np.float64)
    lo = rows[0]
    hi = rows[1]
    for k in range(h):
        s0 = src[2 * k, :m]
        s1 = src[2 * k + 1, :m]
        for x in range(m):
            lo[x] = c * s1[x] + c * s0[x]
            hi[x] = (-c) * s1[x] + c * s0[x]
        ap = approx[k, :h]
        top = coeffs[k, h:2 * h]
        bl = coeffs[h + k, :h]
        br = coeffs[h + k, h:2 * h]
        for l in range(h):
            ap[l] = c * lo[2 * l + 1] + c * lo[2 * l]
            top[l] = (-c) * lo[2 * l + 1] + c * lo[2 * l]
            bl[l] = c * hi[2 * l + 1] + c * hi[2 * l]
            br[l] = (-c) * hi[2 * l + 1] + c * hi[2 * l]


@njit(cache=True)
def haar_approx_level(src, m, approx):
    """Only the approximation of :func:`haar_forward_level`: ``src[:m, :m]`` -> ``approx[:m/2, :m/2]``.

    Same two steps per row pair: axis 0 along the rows, then axis 1.
    """
    c = HAAR
    h = m // 2
    lo = np.empty(m, dtype=np.float64)
    for k in range(h):
        s0 = src[2 * k, :m]
        s1 = src[2 * k + 1, :m]
        for x in range(m):
            lo[x] = c * s1[x] + c * s0[x]
        ap = approx[k, :h]
        for l in range(h):
            ap[l] = c * lo[2 * l + 1] + c * lo[2 * l]


@njit(cache=True)
def haar_wavedec2_ll(x, levels):
    """:func:`wavedec2_ll` with the Haar filter, for a square ``x`` whose side is divisible by ``2**levels``.

    Each level is :func:`haar_approx_level` (the same operations as
    :func:`dwt_axis` along axis 0, then axis 1).
    """
    ll = x.copy()
    m = x.shape[0]
    for _ in range(levels):
        nxt = np.empty((m // 2, m // 2), dtype=np.float64)
        haar_approx_level(ll, m, nxt)
        ll = nxt
        m //= 2
    return ll


@njit(cache=True)
def haar_inverse_level(approx, h, coeffs, dst):
    """Inverse of :func:`haar_forward_level`: ``approx[:h, :h]`` and the details
    of ``coeffs`` at size ``2h`` -> ``dst[:2h, :2h]``.

    Same operations as :func:`idwt2` with Haar filters (axis 1, then axis 0;
    each output ``r_lo * a + r_hi * d``, PyWavelets' additions of ``0`` left
    out: see the module notes).
    """
    c = HAAR
    m = 2 * h
    rows = np.empty((2, m), dtype=np.float64)
    a = rows[0]
    d = rows[1]
    for k in range(h):
        aa = approx[k, :h]
        ad = coeffs[k, h:2 * h]
        da = coeffs[h + k, :h]
        dd = coeffs[h + k, h:2 * h]
        # axis 1: approximation row (aa, ad) and detail row (da, dd)
        for l in range(h):
            a[2 * l] = c * aa[l] + c * ad[l]
            a[2 * l + 1] = c * aa[l] + (-c) * ad[l]
            d[2 * l] = c * da[l] + c * dd[l]
            d[2 * l + 1] = c * da[l] + (-c) * dd[l]
        # axis 0, along the whole rows
        d0 = dst[2 * k, :m]
        d1 = dst[2 * k + 1, :m]
        for x in range(m):
            d0[x] = c * a[x] + c * d[x]
            d1[x] = c * a[x] + (-c) * d[x]


@njit(cache=True)
def copy_block(src, dst, m):
    """``dst[:m, :m] = src[:m, :m]``."""
    for y in range(m):
        for x in range(m):
            dst[y, x] = src[y, x]


@njit(cache=True)
def haar_wavedec2_packed(x, levels):
    """Multilevel Haar ``wavedec2`` of a square image with a power-of-two side.

    Returns the coefficients packed in one ``S x S`` array (Mallat layout):
    at level ``l`` (``h = S >> l``) ``ad`` at ``[:h, h:2h]``, ``da`` at
    ``[h:2h, :h]``, ``dd`` at ``[h:2h, h:2h]``; the final approximation at
    ``[:S >> levels, :S >> levels]``.
    """
    side = x.shape[0]
    coeffs = np.empty((side, side), dtype=np.float64)
    if levels == 0:
        copy_block(x, coeffs, side)
        return coeffs
    half = side // 2
    scratch = np.empty((2, half, half), dtype=np.float64)  # approximations, alternately
    haar_forward_level(x, side, scratch[0], coeffs)
    m = half
    for lev in range(1, levels):
        haar_forward_level(scratch[(lev - 1) % 2], m, scratch[lev % 2], coeffs)
        m //= 2
    copy_block(scratch[(levels - 1) % 2], coeffs, m)
    return coeffs


@njit(cache=True)
def haar_waverec2_packed(coeffs, levels):
    """Multilevel Haar ``waverec2`` of coefficients packed as by :func:`haar_wavedec2_packed`."""
    side = coeffs.shape[0]
    h = side >> levels
    scratch = np.empty((2, side, side), dtype=np.float64)  # reconstructions, alternately
    copy_block(coeffs, scratch[1], h)
    for lev in range(levels):
        haar_inverse_level(scratch[(lev + 1) % 2], h, coeffs, scratch[lev % 2])
        h *= 2
    return scratch[(levels + 1) % 2].copy()


@njit(cache=True)
def remove_haar_ll(x, levels):
    """ImageHash's ``remove_max_haar_ll``: Haar ``wavedec2`` to ``levels``,
    approximation set to zero, ``waverec2`` back (square, power-of-two side)."""
    coeffs = haar_wavedec2_packed(x, levels)
    h = coeffs.shape[0] >> levels
    for y in range(h):
        for x_ in range(h):
            coeffs[y, x_] = 0.0
    return haar_waverec2_packed(coeffs, levels)


@njit(cache=True)
def whash_bits(small, haar_levels, remove_ll, dec_lo, dwt_level, out):
    """Wavelet hash bits of one resized ``S x S`` grey plane (values 0..255), written to ``out``.

    Scale to ``[0, 1]``, optionally remove the Haar approximation at
    ``haar_levels = log2(S)``, then take the approximation ``LL`` of a
    ``dwt_level``-level DWT with ``dec_lo`` and set bit = ``LL > median(LL)``,
    row-major (``out`` has ``LL.size`` entries).
    """
    px = np.empty(small.shape, dtype=np.float64)
    for y in range(small.shape[0]):
        for x in range(small.shape[1]):
            px[y, x] = small[y, x] / 255.0
    if remove_ll:
        px = remove_haar_ll(px, haar_levels)
    if dec_lo.shape[0] == 2 and dec_lo[0] == HAAR and dec_lo[1] == HAAR and px.shape[0] == px.shape[1] \
            and px.shape[0] % (1 << dwt_level) == 0:
        ll = haar_wavedec2_ll(px, dwt_level)
    else:
        ll = wavedec2_ll(px, dec_lo, dwt_level)
    threshold = median_of(ll.ravel())
    k = 0
    for y in range(ll.shape[0]):
        for x in range(ll.shape[1]):
            out[k] = ll[y, x] > threshold
            k += 1


@njit(cache=True, nogil=True)
def whash_batch(stack, row_b, row_c, col_b, col_c, vertical_first,
                haar_levels, remove_ll, dec_lo, dwt_level, side):
    """:func:`whash_bits` of each image of an ``N x H x W x C`` uint8 stack.

    Each image is converted to grey and resized to ``S x S`` by the tables
    (``resample.resize_image``). Returns bool ``(N, side * side)``.
    """
    n = stack.shape[0]
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(
        stack.shape[1], stack.shape[2], row_b, row_c, col_b, col_c)
    out = np.zeros((n, side * side), dtype=np.bool_)
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        whash_bits(small, haar_levels, remove_ll, dec_lo, dwt_level, out[i])
    return out
