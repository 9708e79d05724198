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
from .simd import fadd, fload, fload_even, fload_odd, fmul, fsplat, fstore, fstore_interleaved


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
    if levels == 0:
        return x.copy()
    ll = x  # the passes only read their input
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
def _haar_rows(src_flat, r0, r1, m, rows):
    """Axis 0 of one Haar row pair: ``rows[:m] = c*s1 + c*s0`` (``lo``), ``rows[m:2m] = (-c)*s1 + c*s0`` (``hi``).

    ``s0``, ``s1``: the ``m`` values of ``src_flat`` from ``r0`` and ``r1``.
    Four to a vector (``simd.F64x4``, each product and sum rounded once,
    as in the scalar form), the rest one by one.
    """
    c = HAAR
    cv = fsplat(c)
    ncv = fsplat(-c)
    x = 0
    while x + 4 <= m:
        s0 = fload(src_flat, r0 + x)
        s1 = fload(src_flat, r1 + x)
        c0 = fmul(cv, s0)
        fstore(rows, x, fadd(fmul(cv, s1), c0))
        fstore(rows, m + x, fadd(fmul(ncv, s1), c0))
        x += 4
    for x in range(x, m):
        s0 = src_flat[r0 + x]
        s1 = src_flat[r1 + x]
        rows[x] = c * s1 + c * s0
        rows[m + x] = (-c) * s1 + c * s0


@njit(cache=True)
def haar_forward_level(src, m, approx, coeffs):
    """One Haar level of ``src[:m, :m]`` (``m`` even), both axes in one sweep over row pairs.

    Writes the approximation to ``approx[:m/2, :m/2]`` and the details to
    ``coeffs`` in Mallat layout (``ad`` top right, ``da`` bottom left, ``dd``
    bottom right of ``coeffs[:m, :m]``). Same operations, in the same order,
    as :func:`dwt2` with Haar filters: axis 0 then axis 1, each output
    ``f[0] * x[2k+1] + f[1] * x[2k]`` (the leading ``0 +`` left out: see the
    module notes).

    Computed row pair by row pair in two steps on 4-lane vectors: axis 0
    along the whole rows (``lo``, ``hi``: :func:`_haar_rows`), then axis 1 on
    those two rows, their even and odd values read apart. All three arrays
    are C-contiguous and distinct.
    """
    c = HAAR
    cv = fsplat(c)
    ncv = fsplat(-c)
    h = m // 2
    rows = np.empty(2 * m, dtype=np.float64)  # lo, then hi
    src_flat, approx_flat, coeffs_flat = src.reshape(-1), approx.reshape(-1), coeffs.reshape(-1)
    ss, sa, sc = src.shape[1], approx.shape[1], coeffs.shape[1]
    for k in range(h):
        _haar_rows(src_flat, 2 * k * ss, (2 * k + 1) * ss, m, rows)
        ap, top, bl, br = k * sa, k * sc + h, (h + k) * sc, (h + k) * sc + h
        l = 0
        while l + 4 <= h:
            lo_even = fload_even(rows, 2 * l)
            lo_odd = fload_odd(rows, 2 * l)
            hi_even = fload_even(rows, m + 2 * l)
            hi_odd = fload_odd(rows, m + 2 * l)
            c_lo = fmul(cv, lo_even)
            c_hi = fmul(cv, hi_even)
            fstore(approx_flat, ap + l, fadd(fmul(cv, lo_odd), c_lo))
            fstore(coeffs_flat, top + l, fadd(fmul(ncv, lo_odd), c_lo))
            fstore(coeffs_flat, bl + l, fadd(fmul(cv, hi_odd), c_hi))
            fstore(coeffs_flat, br + l, fadd(fmul(ncv, hi_odd), c_hi))
            l += 4
        for l in range(l, h):
            lo0, lo1 = rows[2 * l], rows[2 * l + 1]
            hi0, hi1 = rows[m + 2 * l], rows[m + 2 * l + 1]
            approx_flat[ap + l] = c * lo1 + c * lo0
            coeffs_flat[top + l] = (-c) * lo1 + c * lo0
            coeffs_flat[bl + l] = c * hi1 + c * hi0
            coeffs_flat[br + l] = (-c) * hi1 + c * hi0


@njit(cache=True)
def haar_approx_level(src, m, approx):
    """Only the approximation of :func:`haar_forward_level`: ``src[:m, :m]`` -> ``approx[:m/2, :m/2]``.

    Same two steps per row pair: axis 0 along the rows, then axis 1.
    """
    c = HAAR
    cv = fsplat(c)
    h = m // 2
    rows = np.empty(2 * m, dtype=np.float64)
    src_flat, approx_flat = src.reshape(-1), approx.reshape(-1)
    ss, sa = src.shape[1], approx.shape[1]
    for k in range(h):
        _haar_rows(src_flat, 2 * k * ss, (2 * k + 1) * ss, m, rows)
        ap = k * sa
        l = 0
        while l + 4 <= h:
            fstore(approx_flat, ap + l, fadd(fmul(cv, fload_odd(rows, 2 * l)), fmul(cv, fload_even(rows, 2 * l))))
            l += 4
        for l in range(l, h):
            approx_flat[ap + l] = c * rows[2 * l + 1] + c * rows[2 * l]


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
    out: see the module notes), on 4-lane vectors: axis 1 writes its even and
    odd outputs interleaved, axis 0 runs along whole rows.
    """
    c = HAAR
    cv = fsplat(c)
    ncv = fsplat(-c)
    m = 2 * h
    rows = np.empty(2 * m, dtype=np.float64)  # approximation row a, then detail row d
    approx_flat, coeffs_flat, dst_flat = approx.reshape(-1), coeffs.reshape(-1), dst.reshape(-1)
    sa, sc, sd = approx.shape[1], coeffs.shape[1], dst.shape[1]
    for k in range(h):
        aa, ad, da, dd = k * sa, k * sc + h, (h + k) * sc, (h + k) * sc + h
        # axis 1: approximation row (aa, ad) and detail row (da, dd)
        l = 0
        while l + 4 <= h:
            c_aa = fmul(cv, fload(approx_flat, aa + l))
            c_da = fmul(cv, fload(coeffs_flat, da + l))
            v_ad = fload(coeffs_flat, ad + l)
            v_dd = fload(coeffs_flat, dd + l)
            fstore_interleaved(rows, 2 * l, fadd(c_aa, fmul(cv, v_ad)), fadd(c_aa, fmul(ncv, v_ad)))
            fstore_interleaved(rows, m + 2 * l, fadd(c_da, fmul(cv, v_dd)), fadd(c_da, fmul(ncv, v_dd)))
            l += 4
        for l in range(l, h):
            a0, a1 = approx_flat[aa + l], coeffs_flat[ad + l]
            d0, d1 = coeffs_flat[da + l], coeffs_flat[dd + l]
            rows[2 * l] = c * a0 + c * a1
            rows[2 * l + 1] = c * a0 + (-c) * a1
            rows[m + 2 * l] = c * d0 + c * d1
            rows[m + 2 * l + 1] = c * d0 + (-c) * d1
        # axis 0, along the whole rows
        r0, r1 = 2 * k * sd, (2 * k + 1) * sd
        x = 0
        while x + 4 <= m:
            c_a = fmul(cv, fload(rows, x))
            v_d = fload(rows, m + x)
            fstore(dst_flat, r0 + x, fadd(c_a, fmul(cv, v_d)))
            fstore(dst_flat, r1 + x, fadd(c_a, fmul(ncv, v_d)))
            x += 4
        for x in range(x, m):
            a = rows[x]
            d = rows[m + x]
            dst_flat[r0 + x] = c * a + c * d
            dst_flat[r1 + x] = c * a + (-c) * d


@njit(cache=True)
def copy_block(src, dst, m):
    """``dst[:m, :m] = src[:m, :m]``."""
    for y in range(m):
        for x in range(m):
            dst[y, x] = src[y, x]


@njit(cache=True)
def haar_wavedec2_into(x, levels, coeffs, scratch):
    """Multilevel Haar ``wavedec2`` of a square image with a power-of-two side, into ``coeffs``.

    The coefficients are packed in one ``S x S`` array (Mallat layout):
    at level ``l`` (``h = S >> l``) ``ad`` at ``[:h, h:2h]``, ``da`` at
    ``[h:2h, :h]``, ``dd`` at ``[h:2h, h:2h]``; the final approximation at
    ``[:S >> levels, :S >> levels]``. ``scratch`` is ``2 x S/2 x S/2``
    (the approximations, alternately). Returns ``coeffs``.
    """
    side = x.shape[0]
    if levels == 0:
        copy_block(x, coeffs, side)
        return coeffs
    half = side // 2
    haar_forward_level(x, side, scratch[0], coeffs)
    m = half
    for lev in range(1, levels):
        haar_forward_level(scratch[(lev - 1) % 2], m, scratch[lev % 2], coeffs)
        m //= 2
    copy_block(scratch[(levels - 1) % 2], coeffs, m)
    return coeffs


@njit(cache=True)
def haar_waverec2_into(coeffs, levels, tmp, out):
    """Multilevel Haar ``waverec2`` of coefficients packed as by :func:`haar_wavedec2_into`, into ``out``.

    ``tmp`` and ``out`` (``S x S``) take the levels' reconstructions in turn,
    so that the last one lands in ``out``. Returns ``out``.
    """
    side = coeffs.shape[0]
    if levels == 0:
        copy_block(coeffs, out, side)
        return out
    h = side >> levels
    src = tmp if (levels - 1) % 2 == 0 else out  # what level 0 reads: not what it writes
    copy_block(coeffs, src, h)
    for lev in range(levels):
        dst = out if (levels - 1 - lev) % 2 == 0 else tmp
        haar_inverse_level(src, h, coeffs, dst)
        src = dst
        h *= 2
    return out


@njit(cache=True)
def haar_work(side):
    """Buffers of :func:`whash_bits` for ``side x side`` planes: ``(px, coeffs, scratch, tmp, removed)``."""
    half = max(side // 2, 1)
    return (np.empty((side, side), dtype=np.float64), np.empty((side, side), dtype=np.float64),
            np.empty((2, half, half), dtype=np.float64), np.empty((side, side), dtype=np.float64),
            np.empty((side, side), dtype=np.float64))


@njit(cache=True)
def haar_wavedec2_packed(x, levels):
    """:func:`haar_wavedec2_into` into a new array."""
    _, coeffs, scratch, _, _ = haar_work(x.shape[0])
    return haar_wavedec2_into(x, levels, coeffs, scratch)


@njit(cache=True)
def haar_waverec2_packed(coeffs, levels):
    """:func:`haar_waverec2_into` into a new array."""
    _, _, _, tmp, out = haar_work(coeffs.shape[0])
    return haar_waverec2_into(coeffs, levels, tmp, out)


@njit(cache=True)
def remove_haar_ll_into(x, levels, coeffs, scratch, tmp, out):
    """ImageHash's ``remove_max_haar_ll`` of ``x`` into ``out``: Haar ``wavedec2`` to ``levels``,
    approximation set to zero, ``waverec2`` back (square, power-of-two side; buffers as :func:`haar_work`)."""
    haar_wavedec2_into(x, levels, coeffs, scratch)
    h = coeffs.shape[0] >> levels
    for y in range(h):
        for x_ in range(h):
            coeffs[y, x_] = 0.0
    return haar_waverec2_into(coeffs, levels, tmp, out)


@njit(cache=True)
def remove_haar_ll(x, levels):
    """:func:`remove_haar_ll_into` into a new array."""
    px, coeffs, scratch, tmp, out = haar_work(x.shape[0])
    return remove_haar_ll_into(x, levels, coeffs, scratch, tmp, out)


@njit(cache=True)
def whash_bits(small, haar_levels, remove_ll, dec_lo, dwt_level, out, work):
    """Wavelet hash bits of one resized ``S x S`` grey plane (values 0..255), written to ``out``.

    Scale to ``[0, 1]``, optionally remove the Haar approximation at
    ``haar_levels = log2(S)``, then take the approximation ``LL`` of a
    ``dwt_level``-level DWT with ``dec_lo`` and set bit = ``LL > median(LL)``,
    row-major (``out`` has ``LL.size`` entries). ``work`` is
    :func:`haar_work` of ``S``.
    """
    px, coeffs, scratch, tmp, removed = work
    for y in range(small.shape[0]):
        for x in range(small.shape[1]):
            px[y, x] = small[y, x] / 255.0
    if remove_ll:
        px = remove_haar_ll_into(px, haar_levels, coeffs, scratch, tmp, removed)
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
    work = haar_work(small.shape[0])
    for i in range(n):
        resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                     small.shape[0])
        whash_bits(small, haar_levels, remove_ll, dec_lo, dwt_level, out[i], work)
    return out
