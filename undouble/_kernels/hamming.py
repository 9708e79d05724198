"""Hamming-distance kernels over packed ``uint64`` hashes.

Layout (see ``hashes.md``): one row per image, ``words`` uint64 words per hash,
first bit = most significant bit of word 0, unused low bits of the last word zero.
The distance between two rows is the popcount of their XOR summed over the words.

Every kernel takes plain arrays and returns plain arrays (or fills arrays it is
given).  Input validation lives in :mod:`undouble.distance`, never here.

Pair kernels write into per-task slots of a fixed capacity ``cap`` and return
the *true* number of hits per task, so that the caller can re-run only the tasks
that overflowed with an exact-size buffer (two passes for those tasks only).
Nothing here allocates O(N^2).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

# ---------------------------------------------------------------------------
# popcount
# ---------------------------------------------------------------------------

HAVE_CTPOP = hasattr(ir.IRBuilder, "ctpop")

if HAVE_CTPOP:

    @intrinsic
    def popcount(typingctx, x):
        """``llvm.ctpop`` on an integer: one ``popcnt`` instruction on x86-64."""
        if not isinstance(x, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return x(x), codegen

else:  # pragma: no cover - every llvmlite we support has ctpop

    @njit(cache=True, inline="always")
    def popcount(x):
        """SWAR popcount of a uint64 (fallback when llvm.ctpop is unavailable)."""
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + (
            (x >> np.uint64(2)) & np.uint64(0x3333333333333333)
        )
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def popcount_array(x):
    """Popcount of every element of a 1-D uint64 array (tests and asm checks)."""
    out = np.empty(x.shape[0], np.int64)
    for k in range(x.shape[0]):
        out[k] = popcount(x[k])
    return out


@njit(cache=True, inline="always")
def _dist(h, i, g, j):
    """Distance between row ``i`` of ``h`` and row ``j`` of ``g`` (2-D arrays)."""
    d = np.int64(0)
    for w in range(h.shape[1]):
        d += np.int64(popcount(h[i, w] ^ g[j, w]))
    return d


@njit(cache=True, inline="always")
def _seg_min(h, a, ca, b, cb, wps):
    """Minimum distance over all segment pairs of images ``a`` and ``b``."""
    best = np.int64(1) << 62
    for sa in range(ca):
        oa = sa * wps
        for sb in range(cb):
            ob = sb * wps
            d = np.int64(0)
            for w in range(wps):
                d += np.int64(popcount(h[a, oa + w] ^ h[b, ob + w]))
            if d < best:
                best = d
                if best == 0:
                    return best
    return best


# ---------------------------------------------------------------------------
# dense matrix
# ---------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def dense_1w(h, out):
    """Full N x N matrix for one-word hashes (``h`` 1-D); rows in parallel."""
    n = h.shape[0]
    for i in prange(n):
        a = h[i]
        for j in range(n):
            out[i, j] = popcount(a ^ h[j])


@njit(cache=True, parallel=True)
def dense_nw(h, out):
    """Full N x N matrix for multi-word hashes (``h`` 2-D); rows in parallel."""
    n, nw = h.shape
    for i in prange(n):
        for j in range(n):
            d = np.uint64(0)
            for w in range(nw):
                d += popcount(h[i, w] ^ h[j, w])
            out[i, j] = d


@njit(cache=True, parallel=True)
def dense_multiseg(h, counts, wps, out):
    """N x N minimum segment-pair distance: fills the diagonal and the upper
    triangle only (the caller then runs :func:`mirror_upper`).

    Rows ``p`` and ``n-1-p`` go to the same iteration so that the triangle's work
    is balanced across threads.
    """
    n = h.shape[0]
    half = (n + 1) // 2
    for p in prange(half):
        lo = np.int64(p)
        hi = np.int64(n - 1) - lo
        out[lo, lo] = 0
        for j in range(lo + 1, n):
            out[lo, j] = _seg_min(h, lo, counts[lo], j, counts[j], wps)
        if hi != lo:
            out[hi, hi] = 0
            for j in range(hi + 1, n):
                out[hi, j] = _seg_min(h, hi, counts[hi], j, counts[j], wps)


@njit(cache=True, parallel=True)
def mirror_upper(out):
    """Copy the strict upper triangle onto the lower one, in 64 x 64 tiles."""
    n = out.shape[0]
    nb = (n + 63) // 64
    for bi in prange(nb):
        i0 = bi * 64
        i1 = min(i0 + 64, n)
        for bj in range(bi + 1):
            j0 = bj * 64
            j1 = min(j0 + 64, n)
            for i in range(i0, i1):
                for j in range(j0, min(j1, i)):
                    out[i, j] = out[j, i]


# ---------------------------------------------------------------------------
# threshold pairs: slot contract shared by the brute force and the multi-index
# ---------------------------------------------------------------------------
#
# A kernel runs a list of *tasks* (rows for the brute force, buckets for the
# multi-index search) in parallel.  Each task writes at most ``cap`` hits
# ``(i, j, d)`` into its slot and stores its true number of hits in ``counts``;
# the tasks that overflowed are run again into an exact-size buffer.

_TILE = 64  # columns per tile of the branch-free pre-check (a hit rescans one tile)


@njit(cache=True, inline="always")
def _emit(out_i, out_j, out_d, base, cap, cnt, i, j, d):
    if cnt < cap:
        out_i[base + cnt] = i
        out_j[base + cnt] = j
        out_d[base + cnt] = d
    return cnt + 1


@njit(cache=True)
def _row_scan_1w(h, i, j0, j1, t, out_i, out_j, out_d, base, cap, cnt):
    a = h[i]
    for j in range(max(j0, i + 1), j1):
        d = np.int64(popcount(a ^ h[j]))
        if d <= t:
            cnt = _emit(out_i, out_j, out_d, base, cap, cnt, i, j, d)
    return cnt


@njit(cache=True, parallel=True)
def pairs_1w(h, t, rows, starts, out_i, out_j, out_d, counts):
    """Pairs ``(i, j > i)`` at distance <= ``t`` for the rows ``rows`` (ascending;
    each row is a task); one-word hashes, ``h`` 1-D.

    Row ``rows[r]`` writes at most ``starts[r + 1] - starts[r]`` hits from
    ``starts[r]`` on, and ``counts[r]`` gets its true number of hits; hits come out
    with ``j`` ascending.  Rows are taken eight at a time and kept in registers;
    each column tile is first checked branch-free (the sign bit of ``d - t - 1``
    OR-ed over the tile, which LLVM vectorises), and only a tile with a hit is
    rescanned row by row.  The columns scanned start after the group's first row;
    a later row of the group ignores the columns up to itself when rescanning.
    """
    n = h.shape[0]
    nr = rows.shape[0]
    ngrp = (nr + 7) // 8
    t1 = np.int64(t) + 1
    for g in prange(ngrp):
        r0 = g * 8
        r1 = min(r0 + 8, nr)
        c = np.zeros(8, np.int64)
        if r1 - r0 < 8:
            for r in range(r0, r1):
                c[r - r0] = _row_scan_1w(h, rows[r], 0, n, t, out_i, out_j, out_d,
                                         starts[r], starts[r + 1] - starts[r], 0)
        else:
            a0 = h[rows[r0]]
            a1 = h[rows[r0 + 1]]
            a2 = h[rows[r0 + 2]]
            a3 = h[rows[r0 + 3]]
            a4 = h[rows[r0 + 4]]
            a5 = h[rows[r0 + 5]]
            a6 = h[rows[r0 + 6]]
            a7 = h[rows[r0 + 7]]
            for j0 in range(rows[r0] + 1, n, _TILE):
                j1 = min(j0 + _TILE, n)
                acc = np.int64(0)
                for j in range(j0, j1):
                    x = h[j]
                    acc |= (
                        (np.int64(popcount(a0 ^ x)) - t1)
                        | (np.int64(popcount(a1 ^ x)) - t1)
                        | (np.int64(popcount(a2 ^ x)) - t1)
                        | (np.int64(popcount(a3 ^ x)) - t1)
                        | (np.int64(popcount(a4 ^ x)) - t1)
                        | (np.int64(popcount(a5 ^ x)) - t1)
                        | (np.int64(popcount(a6 ^ x)) - t1)
                        | (np.int64(popcount(a7 ^ x)) - t1)
                    )
                if acc < 0:
                    for r in range(r0, r1):
                        c[r - r0] = _row_scan_1w(h, rows[r], j0, j1, t, out_i, out_j, out_d,
                                                 starts[r], starts[r + 1] - starts[r],
                                                 c[r - r0])
        for r in range(r0, r1):
            counts[r] = c[r - r0]


@njit(cache=True)
def _row_scan_nw(h, i, j0, j1, t, out_i, out_j, out_d, base, cap, cnt):
    for j in range(max(j0, i + 1), j1):
        d = _dist(h, i, h, j)
        if d <= t:
            cnt = _emit(out_i, out_j, out_d, base, cap, cnt, i, j, d)
    return cnt


@njit(cache=True, parallel=True)
def pairs_4w(h, t, rows, starts, out_i, out_j, out_d, counts):
    """As :func:`pairs_1w` for four-word hashes (196- and 256-bit; ``h`` N x 4):
    two rows at a time, their eight words kept in registers."""
    n = h.shape[0]
    nr = rows.shape[0]
    ngrp = (nr + 1) // 2
    t1 = np.int64(t) + 1
    for g in prange(ngrp):
        r0 = g * 2
        r1 = min(r0 + 2, nr)
        c = np.zeros(2, np.int64)
        if r1 - r0 < 2:
            c[0] = _row_scan_nw(h, rows[r0], 0, n, t, out_i, out_j, out_d,
                                starts[r0], starts[r0 + 1] - starts[r0], 0)
        else:
            ia = rows[r0]
            ib = rows[r0 + 1]
            a0 = h[ia, 0]
            a1 = h[ia, 1]
            a2 = h[ia, 2]
            a3 = h[ia, 3]
            b0 = h[ib, 0]
            b1 = h[ib, 1]
            b2 = h[ib, 2]
            b3 = h[ib, 3]
            for j0 in range(ia + 1, n, _TILE):
                j1 = min(j0 + _TILE, n)
                acc = np.int64(0)
                for j in range(j0, j1):
                    x0 = h[j, 0]
                    x1 = h[j, 1]
                    x2 = h[j, 2]
                    x3 = h[j, 3]
                    da = (np.int64(popcount(a0 ^ x0)) + np.int64(popcount(a1 ^ x1))
                          + np.int64(popcount(a2 ^ x2)) + np.int64(popcount(a3 ^ x3)))
                    db = (np.int64(popcount(b0 ^ x0)) + np.int64(popcount(b1 ^ x1))
                          + np.int64(popcount(b2 ^ x2)) + np.int64(popcount(b3 ^ x3)))
                    acc |= (da - t1) | (db - t1)
                if acc < 0:
                    for r in range(r0, r1):
                        c[r - r0] = _row_scan_nw(h, rows[r], j0, j1, t, out_i, out_j, out_d,
                                                 starts[r], starts[r + 1] - starts[r],
                                                 c[r - r0])
        for r in range(r0, r1):
            counts[r] = c[r - r0]


@njit(cache=True, parallel=True)
def pairs_nw(h, t, rows, starts, out_i, out_j, out_d, counts):
    """As :func:`pairs_1w` for multi-word hashes (``h`` 2-D, N x words); rows
    four at a time."""
    n, nw = h.shape
    nr = rows.shape[0]
    ngrp = (nr + 3) // 4
    t1 = np.int64(t) + 1
    for g in prange(ngrp):
        r0 = g * 4
        r1 = min(r0 + 4, nr)
        c = np.zeros(4, np.int64)
        if r1 - r0 < 4:
            for r in range(r0, r1):
                c[r - r0] = _row_scan_nw(h, rows[r], 0, n, t, out_i, out_j, out_d,
                                         starts[r], starts[r + 1] - starts[r], 0)
        else:
            i0 = rows[r0]
            i1 = rows[r0 + 1]
            i2 = rows[r0 + 2]
            i3 = rows[r0 + 3]
            for j0 in range(i0 + 1, n, _TILE):
                j1 = min(j0 + _TILE, n)
                acc = np.int64(0)
                for j in range(j0, j1):
                    d0 = np.int64(0)
                    d1 = np.int64(0)
                    d2 = np.int64(0)
                    d3 = np.int64(0)
                    for w in range(nw):
                        x = h[j, w]
                        d0 += np.int64(popcount(h[i0, w] ^ x))
                        d1 += np.int64(popcount(h[i1, w] ^ x))
                        d2 += np.int64(popcount(h[i2, w] ^ x))
                        d3 += np.int64(popcount(h[i3, w] ^ x))
                    acc |= (d0 - t1) | (d1 - t1) | (d2 - t1) | (d3 - t1)
                if acc < 0:
                    for r in range(r0, r1):
                        c[r - r0] = _row_scan_nw(h, rows[r], j0, j1, t, out_i, out_j, out_d,
                                                 starts[r], starts[r + 1] - starts[r],
                                                 c[r - r0])
        for r in range(r0, r1):
            counts[r] = c[r - r0]


@njit(cache=True)
def gather_slots(counts, cap, out_i, out_j, out_d, redo_idx, redo_starts, redo_i, redo_j,
                 redo_d, pi, pj, pd):
    """Pack the slots (and the re-run tasks) into flat ``(i, j, d)`` arrays, task
    by task.  ``redo_idx[s]`` is the position of task ``s`` in the re-run buffer,
    or -1."""
    ntask = counts.shape[0]
    offs = np.zeros(ntask + 1, np.int64)
    for s in range(ntask):
        offs[s + 1] = offs[s] + counts[s]
    for s in range(ntask):
        o = offs[s]
        k = redo_idx[s]
        for q in range(counts[s]):
            if k < 0:
                pi[o + q] = out_i[s * cap + q]
                pj[o + q] = out_j[s * cap + q]
                pd[o + q] = out_d[s * cap + q]
            else:
                pi[o + q] = redo_i[redo_starts[k] + q]
                pj[o + q] = redo_j[redo_starts[k] + q]
                pd[o + q] = redo_d[redo_starts[k] + q]


# ---------------------------------------------------------------------------
# queries against a set (rectangular, count then fill)
# ---------------------------------------------------------------------------

_QCOLS = 4096  # columns per parallel block in query mode


@njit(cache=True, parallel=True)
def query_count(q, h, t, counts):
    """``counts[k, b]`` = hits of query ``k`` in column block ``b``."""
    n = h.shape[0]
    nb = counts.shape[1]
    for b in prange(nb):
        j0 = b * _QCOLS
        j1 = min(j0 + _QCOLS, n)
        for k in range(q.shape[0]):
            c = 0
            for j in range(j0, j1):
                if _dist(q, k, h, j) <= t:
                    c += 1
            counts[k, b] = c


@njit(cache=True, parallel=True)
def query_fill(q, h, t, offsets, out_j, out_d):
    """Write the hits counted by :func:`query_count` at ``offsets[k, b]``."""
    n = h.shape[0]
    nb = offsets.shape[1]
    for b in prange(nb):
        j0 = b * _QCOLS
        j1 = min(j0 + _QCOLS, n)
        for k in range(q.shape[0]):
            o = offsets[k, b]
            for j in range(j0, j1):
                d = _dist(q, k, h, j)
                if d <= t:
                    out_j[o] = j
                    out_d[o] = d
                    o += 1


# ---------------------------------------------------------------------------
# exact equality (threshold 0): runs of identical rows
# ---------------------------------------------------------------------------


@njit(cache=True)
def run_pairs(order, starts):
    """All pairs inside each run of identical hashes.

    ``order`` lists row indices sorted so that equal hashes are adjacent and, inside
    a run, indices ascend; run ``r`` is ``order[starts[r]:starts[r+1]]``.
    Returns ``(i, j)`` with ``i < j``.
    """
    total = 0
    for r in range(starts.shape[0] - 1):
        k = starts[r + 1] - starts[r]
        total += k * (k - 1) // 2
    pi = np.empty(total, np.int64)
    pj = np.empty(total, np.int64)
    o = 0
    for r in range(starts.shape[0] - 1):
        for a in range(starts[r], starts[r + 1]):
            for b in range(a + 1, starts[r + 1]):
                pi[o] = order[a]
                pj[o] = order[b]
                o += 1
    return pi, pj


# ---------------------------------------------------------------------------
# multi-index (pigeonhole) join
# ---------------------------------------------------------------------------
#
# The bits that vary across the set are split into m chunks with radii r_k such
# that sum(r_k + 1) > t: if d(a, b) <= t, some chunk k has d_k(a, b) <= r_k (else
# d >= sum(r_k + 1) > t).  Per chunk, the rows are sorted by a key made of (up
# to ``kbits`` of) the chunk's bits, giving buckets; the join compares every
# bucket ``u`` with every bucket ``v = u ^ f >= u`` for each key difference ``f``
# of weight <= r_k (``flips``), all rows of one against all rows of the other.
# A key on fewer bits than the chunk only makes buckets coarser (it never loses a
# pair, as the key distance is <= the chunk distance).  A pair is emitted only
# by the first chunk whose key distance is within its radius, so every pair
# appears exactly once.  Work is sequential inside buckets: no per-row random
# probe.


@njit(cache=True, inline="always")
def _key_dist(h, i, j, kmasks, k):
    d = np.int64(0)
    for w in range(h.shape[1]):
        d += np.int64(popcount((h[i, w] ^ h[j, w]) & kmasks[k, w]))
    return d


@njit(cache=True, inline="always")
def _join_emit(h, k, kmasks, radii, ia, ib, d, out_i, out_j, out_d, base, cap, cnt):
    # emit only from the first chunk whose key distance is within its radius
    for kk in range(k):
        if _key_dist(h, ia, ib, kmasks, kk) <= radii[kk]:
            return cnt
    if ia < ib:
        return _emit(out_i, out_j, out_d, base, cap, cnt, ia, ib, d)
    return _emit(out_i, out_j, out_d, base, cap, cnt, ib, ia, d)


@njit(cache=True)
def _join_bucket(u, k, h, t, offs, order, sorted_h, flips, nflips, kmasks, radii,
                 out_i, out_j, out_d, base, cap):
    nw = sorted_h.shape[1]
    la = offs[u]
    ha = offs[u + 1]
    cnt = 0
    # pairs inside the bucket
    for a in range(la, ha):
        for b in range(a + 1, ha):
            d = np.int64(0)
            for w in range(nw):
                d += np.int64(popcount(sorted_h[a, w] ^ sorted_h[b, w]))
            if d <= t:
                cnt = _join_emit(h, k, kmasks, radii, order[a], order[b], d,
                                 out_i, out_j, out_d, base, cap, cnt)
    # the other buckets u ^ f > u, copied next to each other so that the scan
    # below runs over one long contiguous array
    tot = 0
    for p in range(nflips):
        v = u ^ flips[p]
        if v > u:
            tot += offs[v + 1] - offs[v]
    if tot == 0:
        return cnt
    pos = np.empty(tot, np.int64)
    o = 0
    for p in range(nflips):
        v = u ^ flips[p]
        if v > u:
            for b in range(offs[v], offs[v + 1]):
                pos[o] = b
                o += 1
    if nw == 1:
        return _join_run_1w(k, h, t, order, sorted_h, la, ha, pos, kmasks, radii,
                            out_i, out_j, out_d, base, cap, cnt)
    buf = np.empty((tot, nw), np.uint64)
    for q in range(tot):
        for w in range(nw):
            buf[q, w] = sorted_h[pos[q], w]
    for a in range(la, ha):
        for q in range(tot):
            d = np.int64(0)
            for w in range(nw):
                d += np.int64(popcount(sorted_h[a, w] ^ buf[q, w]))
            if d <= t:
                cnt = _join_emit(h, k, kmasks, radii, order[a], order[pos[q]], d,
                                 out_i, out_j, out_d, base, cap, cnt)
    return cnt


_JTILE = 64  # columns per pre-check tile in the join (a hit rescans one tile)


@njit(cache=True)
def _join_run_1w(k, h, t, order, sorted_h, la, ha, pos, kmasks, radii, out_i, out_j,
                 out_d, base, cap, cnt):
    """Rows ``la:ha`` of one-word ``sorted_h`` against the rows ``pos``: the rows
    are copied into one contiguous run, then scanned four rows at a time with the
    branch-free pre-check of the brute force."""
    tot = pos.shape[0]
    t1 = np.int64(t) + 1
    buf = np.empty(tot, np.uint64)
    for q in range(tot):
        buf[q] = sorted_h[pos[q], 0]
    for a0 in range(la, ha, 4):
        a1 = min(a0 + 4, ha)
        for q0 in range(0, tot, _JTILE):
            q1 = min(q0 + _JTILE, tot)
            acc = np.int64(0)
            if a1 - a0 == 4:
                x0 = sorted_h[a0, 0]
                x1 = sorted_h[a0 + 1, 0]
                x2 = sorted_h[a0 + 2, 0]
                x3 = sorted_h[a0 + 3, 0]
                for q in range(q0, q1):
                    y = buf[q]
                    acc |= ((np.int64(popcount(x0 ^ y)) - t1) | (np.int64(popcount(x1 ^ y)) - t1)
                            | (np.int64(popcount(x2 ^ y)) - t1) | (np.int64(popcount(x3 ^ y)) - t1))
            else:
                for a in range(a0, a1):
                    x = sorted_h[a, 0]
                    for q in range(q0, q1):
                        acc |= np.int64(popcount(x ^ buf[q])) - t1
            if acc >= 0:
                continue
            for a in range(a0, a1):
                x = sorted_h[a, 0]
                for q in range(q0, q1):
                    d = np.int64(popcount(x ^ buf[q]))
                    if d <= t:
                        cnt = _join_emit(h, k, kmasks, radii, order[a], order[pos[q]], d,
                                         out_i, out_j, out_d, base, cap, cnt)
    return cnt


@njit(cache=True, parallel=True)
def mih_join(k, tasks, starts, h, t, offs, order, sorted_h, flips, nflips, kmasks, radii,
             out_i, out_j, out_d, counts):
    """Join the buckets ``tasks`` of chunk ``k`` (each bucket is a task).

    ``offs`` / ``order`` / ``sorted_h`` are the chunk's bucket offsets, rows in
    bucket order (ascending inside a bucket) and their hashes; ``flips[:nflips]``
    the key differences within ``radii[k]``; ``kmasks[kk]`` the key bits of chunk
    ``kk`` in each word (for the first-chunk rule).  Bucket ``tasks[s]`` writes at
    most ``starts[s + 1] - starts[s]`` hits from ``starts[s]`` on and ``counts[s]``
    gets its true number of hits.
    """
    for s in prange(tasks.shape[0]):
        counts[s] = _join_bucket(tasks[s], k, h, t, offs, order, sorted_h, flips, nflips,
                                 kmasks, radii, out_i, out_j, out_d, starts[s],
                                 starts[s + 1] - starts[s])


@njit(cache=True)
def mih_join_work(buckets, offs, flips, nflips):
    """Bucket probes and candidate pairs the join would do for ``buckets``."""
    cand = np.zeros(buckets.shape[0], np.int64)
    for s in range(buckets.shape[0]):
        u = buckets[s]
        na = offs[u + 1] - offs[u]
        c = 0
        for p in range(nflips):
            v = u ^ flips[p]
            if v < u:
                continue
            nb = offs[v + 1] - offs[v]
            if v == u:
                c += na * (na - 1) // 2
            else:
                c += na * nb
        cand[s] = c
    return cand


@njit(cache=True)
def chunk_keys(h, positions, nbits):
    """Gather the bits ``positions[:nbits]`` (bit 0 = MSB of word 0) of every
    row into an integer key, first listed bit most significant."""
    n = h.shape[0]
    keys = np.zeros(n, np.int64)
    for i in range(n):
        v = np.int64(0)
        for b in range(nbits):
            p = positions[b]
            bit = (h[i, p >> 6] >> np.uint64(63 - (p & 63))) & np.uint64(1)
            v = (v << 1) | np.int64(bit)
        keys[i] = v
    return keys


@njit(cache=True)
def bucket_offsets(keys, size):
    """CSR offsets (length ``size + 1``) of the buckets of ``keys`` (any order)."""
    offs = np.zeros(size + 1, np.int64)
    for k in range(keys.shape[0]):
        offs[keys[k] + 1] += 1
    for u in range(size):
        offs[u + 1] += offs[u]
    return offs


# ---------------------------------------------------------------------------
# distances of a few rows to one row (group scores)
# ---------------------------------------------------------------------------


@njit(cache=True)
def distances_to(h, rows, k):
    """Distance of each ``h[rows[r]]`` to ``h[k]`` (``h`` 2-D)."""
    out = np.empty(rows.shape[0], np.int64)
    for r in range(rows.shape[0]):
        out[r] = _dist(h, rows[r], h, k)
    return out


@njit(cache=True)
def seg_distances_to(h, counts, wps, rows, k):
    """Minimum segment-pair distance of each image ``rows[r]`` to image ``k``."""
    out = np.empty(rows.shape[0], np.int64)
    for r in range(rows.shape[0]):
        i = rows[r]
        if i == k:
            out[r] = 0
        else:
            out[r] = _seg_min(h, i, counts[i], k, counts[k], wps)
    return out
