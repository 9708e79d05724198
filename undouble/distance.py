"""Hamming distances between packed hashes: dense matrix, threshold pairs, queries.

Hashes are packed ``uint64`` arrays of shape ``(N, words)`` (``hashes.md``): first
bit = most significant bit of word 0, unused low bits of the last word zero.  The
distance between two hashes is the popcount of their XOR summed over the words.

Three ways to get distances, by size of the problem:

* :func:`hamming_matrix` -- the dense ``N x N`` matrix, in the smallest unsigned
  dtype that holds the bit count (:func:`distance_dtype`).  Use it when it fits
  the memory budget (:func:`matrix_fits`).
* :func:`hamming_pairs` -- only the pairs ``i < j`` at distance ``<= threshold``,
  computed block by block without allocating anything O(N^2).  Threshold 0 is an
  O(N log N) sort; small thresholds use a multi-index (pigeonhole) search when its
  estimated cost beats the blocked brute force; otherwise a register-blocked brute
  force near the popcount throughput of the CPU.
* :func:`query_neighbours` -- the neighbours of a few new hashes among N.

Crop-resistant "multi-segment" hashes are ``(N, S_max * w)`` arrays where image
``i`` has ``counts[i]`` segments of ``w`` words (``words_per_segment``); padding
after ``counts[i]`` is ignored.  Their grouping distance is the **minimum**
Hamming distance over all pairs of segments of the two images (two images match
when any of their segments match).  The asymmetric reference distance of ImageHash
is not this one (see ``hashes.md``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations
from typing import Iterator

import numpy as np

from undouble._kernels import hamming as _hk

__all__ = [
    "pair_blocks",
    "exact_duplicate_runs",
    "DEFAULT_MEMORY_BUDGET",
    "distance_dtype",
    "matrix_fits",
    "hamming_matrix",
    "hamming_pairs",
    "query_neighbours",
]

#: Default memory budget (bytes) for a dense distance matrix: 1 GiB.
DEFAULT_MEMORY_BUDGET = 1 << 30

_METHODS = ("auto", "brute", "mih", "exact")

# Rows per block of the pair search (and first per-row slot capacity).
_BLOCK_ROWS = 8192
_FIRST_CAP = 16
_MAX_CAP = 1024

# Relative costs used to choose between brute force and the multi-index search,
# in units of one XOR-popcount of one word in the blocked brute-force kernel
# (measured on an AMD EPYC / Zen 3, see benchmarks/bench_distance.py).
_C_PROBE = 30.0   # one bucket pair looked up (a likely cache miss)
_C_CAND = 2.0     # one word of a candidate pair inside a bucket pair (one-word hashes)
_C_CAND_NW = 6.0  # the same for multi-word hashes (no register blocking there)
_C_BUILD = 500.0  # per row and chunk: key, stable argsort, gather
_C_HIT = 200.0    # per pair found: rescan, slot write, gather
_C_CHUNK = 1e7    # fixed cost per chunk (Python, kernel launches, flips): ~3 ms
_C_TABLE = 6.0    # per bucket-table entry: zero, count, cumsum, non-empty scan
_MAX_PROBES = 1 << 16  # key differences per chunk at most
_MAX_KEY_BITS = 24     # bucket table of 2**24 + 1 offsets at most (128 MiB)
_MIN_MIH_ROWS = 2048   # below this the brute force is always fast enough


# ---------------------------------------------------------------------------
# sizes and validation
# ---------------------------------------------------------------------------


def distance_dtype(nbits: int) -> np.dtype:
    """Smallest unsigned dtype that holds distances up to ``nbits``.

    Parameters
    ----------
    nbits : int
        Number of bits of one hash (the largest possible distance).

    Returns
    -------
    numpy.dtype
        ``uint8`` up to 255 bits, ``uint16`` up to 65535, else ``uint32``.
    """
    nbits = int(nbits)
    if nbits < 0:
        raise ValueError(f"nbits must be >= 0, got {nbits}")
    if nbits <= 0xFF:
        return np.dtype(np.uint8)
    if nbits <= 0xFFFF:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def matrix_fits(n: int, nbits: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> bool:
    """Whether an ``n x n`` distance matrix for ``nbits``-bit hashes fits the budget.

    Parameters
    ----------
    n : int
        Number of hashes (images).
    nbits : int
        Bits per hash (per segment for multi-segment hashes).
    memory_budget : int, optional
        Bytes allowed for the matrix (default :data:`DEFAULT_MEMORY_BUDGET`, 1 GiB).

    Returns
    -------
    bool
        ``n * n * itemsize <= memory_budget``.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n * n * distance_dtype(nbits).itemsize <= int(memory_budget)


def _as_hashes(hashes, name: str = "hashes") -> np.ndarray:
    if not isinstance(hashes, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of uint64, got {type(hashes).__name__}")
    if hashes.dtype != np.uint64:
        raise TypeError(f"{name} must have dtype uint64 (packed hashes), got {hashes.dtype}")
    if hashes.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (N images x words), got shape {hashes.shape}; "
            "use hashes.reshape(-1, 1) for one-word hashes"
        )
    if hashes.shape[1] == 0:
        raise ValueError(f"{name} must have at least one uint64 word per row")
    return np.ascontiguousarray(hashes)


def _as_threshold(threshold) -> int:
    if isinstance(threshold, (bool, np.bool_)):
        raise TypeError("threshold must be an integer, got a bool")
    try:
        t = int(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"threshold must be an integer, got {threshold!r}") from None
    if t != threshold:
        raise ValueError(f"threshold must be a whole number, got {threshold!r}")
    if t < 0:
        raise ValueError(f"threshold must be >= 0, got {t}")
    return t


def _as_segments(hashes: np.ndarray, counts, words_per_segment) -> tuple[np.ndarray, int]:
    wps = int(words_per_segment)
    if wps < 1:
        raise ValueError(f"words_per_segment must be >= 1, got {words_per_segment}")
    if hashes.shape[1] % wps:
        raise ValueError(
            f"hashes have {hashes.shape[1]} words per row, not a multiple of "
            f"words_per_segment={wps}"
        )
    smax = hashes.shape[1] // wps
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.shape[0] != hashes.shape[0]:
        raise ValueError(
            f"counts must be 1-D with one entry per row ({hashes.shape[0]}), got shape {counts.shape}"
        )
    if counts.size and not np.issubdtype(counts.dtype, np.integer):
        raise TypeError(f"counts must be integers, got {counts.dtype}")
    counts = counts.astype(np.int64)
    if counts.size and (counts.min() < 1 or counts.max() > smax):
        raise ValueError(f"counts must be between 1 and {smax} (segments per row)")
    return np.ascontiguousarray(counts), wps


def _nbits(nbits, words: int) -> int:
    if nbits is None:
        return 64 * words
    nbits = int(nbits)
    if not 0 < nbits <= 64 * words:
        raise ValueError(f"nbits={nbits} does not fit {words} uint64 word(s) per hash")
    return nbits


# ---------------------------------------------------------------------------
# dense matrix
# ---------------------------------------------------------------------------


def hamming_matrix(hashes: np.ndarray, counts=None, words_per_segment: int = 1, *,
                   nbits: int | None = None) -> np.ndarray:
    """Dense ``N x N`` Hamming distance matrix.

    Parameters
    ----------
    hashes : numpy.ndarray of uint64, shape (N, words)
        Packed hashes.  With ``counts``: ``(N, S_max * words_per_segment)``
        multi-segment hashes.
    counts : array_like of int, shape (N,), optional
        Number of valid segments of each row (multi-segment hashes only).
    words_per_segment : int, optional
        uint64 words per segment (multi-segment hashes only), default 1.
    nbits : int, optional
        Bits per hash (per segment), only to pick the output dtype; default
        ``64 * words`` (e.g. pass 196 for whash-db4 to get ``uint8``).

    Returns
    -------
    numpy.ndarray, shape (N, N)
        Distances in :func:`distance_dtype` ``(nbits)``; for multi-segment hashes
        the minimum distance over all segment pairs.  The caller decides whether
        it fits (:func:`matrix_fits`); this function does not check the budget.
    """
    h = _as_hashes(hashes)
    n = h.shape[0]
    if counts is None:
        dtype = distance_dtype(_nbits(nbits, h.shape[1]))
        out = np.empty((n, n), dtype)
        if n == 0:
            return out
        if h.shape[1] == 1:
            _hk.dense_1w(h[:, 0].copy(), out)
        else:
            _hk.dense_nw(h, out)
        return out
    cnt, wps = _as_segments(h, counts, words_per_segment)
    dtype = distance_dtype(_nbits(nbits, wps))
    out = np.empty((n, n), dtype)
    if n:
        _hk.dense_multiseg(h, cnt, wps, out)
        _hk.mirror_upper(out)
    return out


# ---------------------------------------------------------------------------
# threshold pairs
# ---------------------------------------------------------------------------


def _drive(ntask: int, dtype, run) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run a slot kernel over blocks of tasks and yield packed ``(i, j, d)``.

    ``run(tasks, starts, out_i, out_j, out_d, counts)`` runs the tasks (indices
    ``0 <= s < ntask``): task ``tasks[r]`` writes at most ``starts[r+1] - starts[r]``
    hits from ``starts[r]`` on and stores its true count in ``counts[r]``.  Each
    block first runs with fixed-size slots, then runs the tasks that overflowed
    again into an exact-size buffer.  The slot size of the next block follows the
    99th percentile of the counts.  Slots hold int64 distances (one compiled
    signature for every dtype); the yielded ``d`` has ``dtype``.
    """
    cap = _FIRST_CAP
    for s0 in range(0, ntask, _BLOCK_ROWS):
        s1 = min(s0 + _BLOCK_ROWS, ntask)
        nt = s1 - s0
        tasks = np.arange(s0, s1, dtype=np.int64)
        out_i = np.empty(nt * cap, np.int64)
        out_j = np.empty(nt * cap, np.int64)
        out_d = np.empty(nt * cap, np.int64)
        counts = np.empty(nt, np.int64)
        run(tasks, np.arange(nt + 1, dtype=np.int64) * cap, out_i, out_j, out_d, counts)
        over = np.flatnonzero(counts > cap)
        redo_idx = np.full(nt, -1, np.int64)
        starts = np.zeros(over.size + 1, np.int64)
        np.cumsum(counts[over], out=starts[1:])
        redo_i = np.empty(starts[-1], np.int64)
        redo_j = np.empty(starts[-1], np.int64)
        redo_d = np.empty(starts[-1], np.int64)
        if over.size:
            run(tasks[over], starts, redo_i, redo_j, redo_d, np.empty(over.size, np.int64))
            redo_idx[over] = np.arange(over.size)
        total = int(counts.sum())
        pi = np.empty(total, np.int64)
        pj = np.empty(total, np.int64)
        pd = np.empty(total, np.int64)
        _hk.gather_slots(counts, cap, out_i, out_j, out_d, redo_idx, starts, redo_i, redo_j,
                         redo_d, pi, pj, pd)
        yield pi, pj, pd.astype(dtype)
        want = int(np.quantile(counts, 0.99)) + 1
        cap = int(min(_MAX_CAP, max(_FIRST_CAP, 1 << (want - 1).bit_length())))


def _brute_blocks(h: np.ndarray, t: int, dtype):
    """Blocked brute force; blocks come out sorted by ``(i, j)``."""
    if h.shape[1] == 1:
        hk = h[:, 0].copy()
        kernel = _hk.pairs_1w
    else:
        hk = h
        kernel = _hk.pairs_4w if h.shape[1] == 4 else _hk.pairs_nw

    def run(rows, starts, out_i, out_j, out_d, counts):
        kernel(hk, t, rows, starts, out_i, out_j, out_d, counts)

    return _drive(h.shape[0], dtype, run)


def _exact_runs(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows so that identical hashes are adjacent (indices ascending inside a
    run).  Returns ``order`` and run boundaries ``starts`` (length runs + 1)."""
    n = h.shape[0]
    if h.shape[1] == 1:
        order = np.argsort(h[:, 0], kind="stable")
    else:
        order = np.lexsort(h.T[::-1])  # word 0 is the primary key; lexsort is stable
    s = h[order]
    new = np.ones(n, bool)
    if n > 1:
        new[1:] = np.any(s[1:] != s[:-1], axis=1)
    starts = np.append(np.flatnonzero(new), n).astype(np.int64)
    return order.astype(np.int64), starts


def _exact_blocks(h: np.ndarray, dtype):
    order, starts = _exact_runs(h)
    pi, pj = _hk.run_pairs(order, starts)
    o = np.lexsort((pj, pi))
    yield pi[o], pj[o], np.zeros(pi.size, dtype)


class _MihPlan:
    """How the multi-index join splits the bits that vary across the set."""

    def __init__(self, positions, sizes, radii, keybits, cost):
        self.positions = positions  # varying bit positions, bit 0 = MSB of word 0
        self.sizes = sizes          # bits per chunk (the chunks partition positions)
        self.radii = radii          # key radius per chunk, sum(r + 1) > t
        self.keybits = keybits      # bits of the chunk used as bucket key
        self.cost = cost            # estimated cost, brute-force pair-word units


@lru_cache(maxsize=None)
def _ball(b: int, r: int) -> int:
    """Keys within Hamming radius ``r`` of one ``b``-bit key."""
    return sum(math.comb(b, e) for e in range(min(r, b) + 1))


def _brute_cost(n: int, words: int) -> float:
    return n * (n - 1) / 2.0 * words


def _cand_cost(words: int) -> float:
    return _C_CAND if words == 1 else _C_CAND_NW


def _chunk_cost(n: int, words: int, keybits: int, radius: int) -> float:
    probes = _ball(keybits, radius)
    buckets = min(float(n), 2.0 ** keybits)
    return (buckets * probes / 2.0 * _C_PROBE
            + n * (n - 1) / 2.0 * probes / 2.0 ** keybits * words * _cand_cost(words)
            + n * _C_BUILD + _C_CHUNK + 2.0 ** keybits * _C_TABLE)


def _plan_mih(h: np.ndarray, t: int) -> _MihPlan | None:
    """Cheapest chunking (by the cost model, uniform random bits assumed) of the
    bits that vary across ``h``; None when no chunking is possible."""
    n, words = h.shape
    varying = np.bitwise_or.reduce(h, axis=0) ^ np.bitwise_and.reduce(h, axis=0)
    positions = np.asarray([64 * w + (63 - b) for w in range(words) for b in range(64)
                            if (int(varying[w]) >> b) & 1], np.int64)
    positions.sort()
    nvar = positions.size
    if nvar == 0 or t >= nvar:
        return None
    best = None
    for m in range(1, min(t + 1, nvar) + 1):
        base, extra = divmod(nvar, m)
        sizes = [base + (k < extra) for k in range(m)]
        rb, rextra = divmod(t + 1 - m, m)          # sum(radii) = t + 1 - m
        radii = [rb + (k < rextra) for k in range(m)]
        keybits = []
        cost = 0.0
        for b, r in zip(sizes, radii):
            options = [(_chunk_cost(n, words, kb, r), kb)
                       for kb in range(max(1, r), min(b, _MAX_KEY_BITS) + 1)
                       if _ball(kb, r) <= _MAX_PROBES]
            if not options:
                cost = math.inf
                break
            c, kb = min(options)
            cost += c
            keybits.append(kb)
        if best is None or cost < best.cost:
            best = _MihPlan(positions, sizes, radii, keybits, cost)
    if best is None or not math.isfinite(best.cost):
        return None
    return best


class _MihChunk:
    """Bucket tables of one chunk (O(N) memory; built one chunk at a time)."""

    def __init__(self, h: np.ndarray, plan: _MihPlan, k: int):
        start = sum(plan.sizes[:k])
        kb = plan.keybits[k]
        r = plan.radii[k]
        pos = plan.positions[start:start + kb]
        key = _hk.chunk_keys(h, pos, kb)
        self.order = np.argsort(key, kind="stable").astype(np.int64)
        self.sorted_h = np.ascontiguousarray(h[self.order])
        self.offs = _hk.bucket_offsets(key, 1 << kb)
        self.buckets = np.flatnonzero(np.diff(self.offs)).astype(np.int64)
        flips = [0]
        for e in range(1, min(r, kb) + 1):
            for combo in combinations(range(kb), e):
                flips.append(sum(1 << c for c in combo))
        self.flips = np.asarray(flips, np.int64)


def _key_masks(plan: _MihPlan, words: int) -> np.ndarray:
    masks = np.zeros((len(plan.sizes), words), np.uint64)
    start = 0
    for k, (b, kb) in enumerate(zip(plan.sizes, plan.keybits)):
        for p in plan.positions[start:start + kb]:
            masks[k, p >> 6] |= np.uint64(1) << np.uint64(63 - (p & 63))
        start += b
    return masks


def _rescan_factor(hit_rate: float, tile_pairs: int) -> float:
    """Slow-down of a pre-checked scan when a tile with a hit is rescanned
    scalar (about three times the cost of the pre-check)."""
    return 1.0 + 2.0 * min(1.0, hit_rate * tile_pairs)


def _brute_hit_rate(h: np.ndarray, t: int) -> float:
    """Fraction of pairs within ``t``, counted on a sample of rows."""
    n = h.shape[0]
    rows = np.unique(np.linspace(0, n - 2, num=min(n - 1, 64)).astype(np.int64))
    starts = np.zeros(rows.size + 1, np.int64)
    counts = np.empty(rows.size, np.int64)
    none = np.empty(0, np.int64)
    _hk.pairs_nw(h, t, rows, starts, none, none, none, counts)
    return counts.sum() / max(float((n - 1 - rows).sum()), 1.0)


def _mih_estimate(chunk: _MihChunk, plan: _MihPlan, h: np.ndarray, t: int,
                  hits: float) -> float:
    """Cost of the whole join from a sample of the real buckets of its first
    chunk (the other chunks are scaled as the uniform model says), including the
    rescans and the per-hit work (each hit is met by up to every chunk)."""
    n, words = h.shape
    nb = chunk.buckets.size
    rng = np.random.default_rng(0)
    sample = chunk.buckets if nb <= 2048 else np.sort(rng.choice(chunk.buckets, 2048, replace=False))
    cand = float(_hk.mih_join_work(sample, chunk.offs, chunk.flips, chunk.flips.size).sum())
    counts = np.empty(sample.size, np.int64)
    none = np.empty(0, np.int64)
    _hk.mih_join(0, sample, np.zeros(sample.size + 1, np.int64), h, t, chunk.offs,
                 chunk.order, chunk.sorted_h, chunk.flips, chunk.flips.size,
                 _key_masks(plan, words), np.asarray(plan.radii, np.int64), none, none,
                 none, counts)
    rate = counts.sum() / max(cand, 1.0)
    cand *= nb / max(sample.size, 1)
    first = (nb * chunk.flips.size / 2.0 * _C_PROBE
             + cand * words * _cand_cost(words) * _rescan_factor(rate, 4 * 64)
             + n * _C_BUILD + _C_CHUNK + chunk.offs.size * _C_TABLE)
    model_first = _chunk_cost(n, words, plan.keybits[0], plan.radii[0])
    return first * plan.cost / model_first + hits * len(plan.sizes) * _C_HIT


def _mih_blocks(h: np.ndarray, t: int, dtype, plan: _MihPlan, first: _MihChunk):
    """The multi-index join, chunk by chunk; blocks are not sorted."""
    kmasks = _key_masks(plan, h.shape[1])
    radii = np.asarray(plan.radii, np.int64)
    for k in range(len(plan.sizes)):
        ch = first if k == 0 else _MihChunk(h, plan, k)

        def run(tasks, starts, out_i, out_j, out_d, counts, ch=ch, k=k):
            _hk.mih_join(k, ch.buckets[tasks], starts, h, t, ch.offs, ch.order, ch.sorted_h,
                         ch.flips, ch.flips.size, kmasks, radii, out_i, out_j, out_d, counts)

        yield from _drive(ch.buckets.size, dtype, run)


def _choose(h: np.ndarray, t: int, method: str):
    """Pick the search: ``('exact'|'brute'|'mih', plan, first_chunk)``."""
    n, words = h.shape
    if method == "exact":
        if t != 0:
            raise ValueError("method='exact' needs threshold=0")
        return "exact", None, None
    if method == "brute" or (method == "auto" and n < _MIN_MIH_ROWS):
        return ("exact" if method == "auto" and t == 0 else "brute"), None, None
    if method == "auto" and t == 0:
        return "exact", None, None
    plan = _plan_mih(h, t)
    if plan is None:
        # every varying bit within the threshold: all pairs match, nothing to index
        return "brute", None, None
    if method == "auto" and plan.cost >= _brute_cost(n, words):
        return "brute", None, None
    first = _MihChunk(h, plan, 0)
    if method == "auto":
        rate = _brute_hit_rate(h, t)
        hits = rate * n * (n - 1) / 2.0
        brute = _brute_cost(n, words) * _rescan_factor(rate, 8 * 64) + hits * _C_HIT
        if _mih_estimate(first, plan, h, t, hits) >= brute:
            return "brute", None, None
    return "mih", plan, first


def _single_pair_blocks(h: np.ndarray, t: int, dtype, method: str):
    """``(kind, blocks)``; blocks of the brute force and of the sort come out
    sorted by ``(i, j)``, those of the multi-index join do not."""
    kind, plan, first = _choose(h, t, method)
    if kind == "exact":
        return kind, _exact_blocks(h, dtype)
    if kind == "mih":
        return kind, _mih_blocks(h, t, dtype, plan, first)
    return kind, _brute_blocks(h, t, dtype)


def _flatten_segments(h: np.ndarray, counts: np.ndarray, wps: int):
    n = h.shape[0]
    smax = h.shape[1] // wps
    valid = np.arange(smax)[None, :] < counts[:, None]
    segs = np.ascontiguousarray(h.reshape(n, smax, wps)[valid])
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    return segs, owner


def _reduce_min(pi, pj, pd):
    """Keep one entry per ``(i, j)``, the smallest ``d``; sorted by ``(i, j)``."""
    if pi.size == 0:
        return pi, pj, pd
    o = np.lexsort((pd, pj, pi))
    pi, pj, pd = pi[o], pj[o], pd[o]
    keep = np.ones(pi.size, bool)
    keep[1:] = (pi[1:] != pi[:-1]) | (pj[1:] != pj[:-1])
    return pi[keep], pj[keep], pd[keep]


def _segment_pair_blocks(h, counts, wps, t, dtype, method):
    """Image pairs ``(i < j)`` from segment pairs; an image pair can appear in
    more than one block (callers that need one entry use :func:`_reduce_min`)."""
    segs, owner = _flatten_segments(h, counts, wps)
    for si, sj, sd in _single_pair_blocks(segs, t, dtype, method)[1]:
        a = owner[si]
        b = owner[sj]
        keep = a != b
        a, b, sd = a[keep], b[keep], sd[keep]
        lo = np.minimum(a, b)
        hi = np.maximum(a, b)
        yield _reduce_min(lo, hi, sd)


def _pair_blocks(h: np.ndarray, t: int, counts, wps: int, nbits, method: str):
    """``(presorted, blocks)``: ``presorted`` when the concatenated blocks are
    sorted by ``(i, j)`` with one entry per pair."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if counts is None:
        dtype = distance_dtype(_nbits(nbits, h.shape[1]))
        kind, blocks = _single_pair_blocks(h, t, dtype, method)
        return kind != "mih", blocks
    counts, wps = _as_segments(h, counts, wps)
    dtype = distance_dtype(_nbits(nbits, wps))
    return False, _segment_pair_blocks(h, counts, wps, t, dtype, method)


def hamming_pairs(hashes: np.ndarray, threshold: int, *, counts=None,
                  words_per_segment: int = 1, nbits: int | None = None,
                  method: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` at Hamming distance ``<= threshold``, without an N x N array.

    Parameters
    ----------
    hashes : numpy.ndarray of uint64, shape (N, words)
        Packed hashes (or multi-segment hashes, see ``counts``).
    threshold : int
        Largest distance reported (inclusive), ``>= 0``.
    counts : array_like of int, shape (N,), optional
        Valid segments per row for multi-segment hashes ``(N, S_max * w)``; the
        distance of two images is then the minimum over their segment pairs.
    words_per_segment : int, optional
        ``w``, uint64 words per segment (multi-segment hashes only), default 1.
    nbits : int, optional
        Bits per hash (per segment); only picks the dtype of ``d``.
    method : {'auto', 'brute', 'mih', 'exact'}, optional
        ``'auto'`` (default) uses a sort for threshold 0 and otherwise picks the
        multi-index search or the blocked brute force by estimated cost;
        ``'exact'`` needs threshold 0.  All methods give the same pairs.

    Returns
    -------
    i, j : numpy.ndarray of int64
        Row indices, ``i < j``, sorted by ``(i, j)``.
    d : numpy.ndarray
        Distances, dtype :func:`distance_dtype` ``(nbits)``.
    """
    h = _as_hashes(hashes)
    t = _as_threshold(threshold)
    presorted, blocks = _pair_blocks(h, t, counts, words_per_segment, nbits, method)
    blocks = list(blocks)
    dtype = distance_dtype(_nbits(nbits, h.shape[1] if counts is None else int(words_per_segment)))
    if not blocks:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, dtype)
    pi = np.concatenate([b[0] for b in blocks])
    pj = np.concatenate([b[1] for b in blocks])
    pd = np.concatenate([b[2] for b in blocks]).astype(dtype, copy=False)
    if counts is not None:
        pi, pj, pd = _reduce_min(pi, pj, pd)   # one entry per image pair
    elif not presorted:
        o = np.lexsort((pj, pi))                # each pair is emitted once already
        pi, pj, pd = pi[o], pj[o], pd[o]
    return pi, pj, pd


def pair_blocks(hashes: np.ndarray, threshold: int, *, counts=None,
                words_per_segment: int = 1, nbits: int | None = None,
                method: str = "auto") -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Stream the pairs of :func:`hamming_pairs` block by block (same arguments).

    Yields ``(i, j, d)`` arrays with ``i < j``, in no guaranteed order.  For
    multi-segment hashes an image pair can appear more than once (the smallest
    of its distances is the image distance); for single hashes every pair appears
    once.  Memory stays O(N + pairs of one block), which is what a caller that
    folds pairs into union-find (like :func:`undouble.grouping.group_hashes`)
    needs at a scale where the pairs themselves are many.
    """
    h = _as_hashes(hashes)
    t = _as_threshold(threshold)
    return _pair_blocks(h, t, counts, words_per_segment, nbits, method)[1]


def exact_duplicate_runs(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of identical rows, by sorting (O(N log N)).

    Returns
    -------
    order : numpy.ndarray of int64
        Row indices; identical rows are adjacent and ascending inside a run.
    starts : numpy.ndarray of int64
        Run ``r`` is ``order[starts[r]:starts[r + 1]]``.
    """
    return _exact_runs(_as_hashes(hashes))


# ---------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------


def query_neighbours(queries: np.ndarray, hashes: np.ndarray, threshold: int, *,
                     nbits: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Neighbours (distance ``<= threshold``) of a few new hashes among ``hashes``.

    Costs O(len(queries) * N) popcounts and O(hits) memory; nothing N x N.

    Parameters
    ----------
    queries : numpy.ndarray of uint64, shape (Q, words) or (words,)
        New hashes, same width as ``hashes``.
    hashes : numpy.ndarray of uint64, shape (N, words)
        Existing hashes.
    threshold : int
        Largest distance reported (inclusive).
    nbits : int, optional
        Bits per hash; only picks the dtype of the distances.

    Returns
    -------
    list of (indices, distances)
        One entry per query: row indices into ``hashes`` (int64) and their
        distances, sorted by distance, then index.
    """
    h = _as_hashes(hashes)
    if isinstance(queries, np.ndarray) and queries.ndim == 1:
        queries = queries.reshape(1, -1)
    q = _as_hashes(queries, "queries")
    if q.shape[1] != h.shape[1]:
        raise TypeError(
            f"queries have {q.shape[1]} words per hash but hashes have {h.shape[1]}: "
            "hashes of different sizes cannot be compared"
        )
    t = _as_threshold(threshold)
    dtype = distance_dtype(_nbits(nbits, h.shape[1]))
    n = h.shape[0]
    nq = q.shape[0]
    nb = max(1, -(-n // _hk._QCOLS))
    counts = np.zeros((nq, nb), np.int64)
    if n:
        _hk.query_count(q, h, t, counts)
    flat = counts.ravel()
    offsets = np.zeros(flat.size + 1, np.int64)
    np.cumsum(flat, out=offsets[1:])
    out_j = np.empty(offsets[-1], np.int64)
    out_d = np.empty(offsets[-1], np.int64)
    if n and offsets[-1]:
        _hk.query_fill(q, h, t, offsets[:-1].reshape(nq, nb), out_j, out_d)
    result = []
    for k in range(nq):
        lo, hi = offsets[k * nb], offsets[(k + 1) * nb]
        j, d = out_j[lo:hi], out_d[lo:hi]
        o = np.lexsort((j, d))
        result.append((j[o], d[o].astype(dtype)))
    return result
