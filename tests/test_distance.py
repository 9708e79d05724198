"""Distances between packed hashes against slow, obviously correct references.

The references work on Python ints: ``bin(a ^ b).count("1")`` per word, summed,
and plain loops over pairs; nothing here reuses the kernels under test.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from undouble import distance as D
from undouble._kernels import hamming as hk

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------


def ref_dist(a, b):
    return sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b))


def ref_matrix(h):
    n = h.shape[0]
    return [[ref_dist(h[i], h[j]) for j in range(n)] for i in range(n)]


def ref_pairs(h, t):
    n = h.shape[0]
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            d = ref_dist(h[i], h[j])
            if d <= t:
                out.append((i, j, d))
    return out


def ref_seg_dist(h, counts, w, a, b):
    best = None
    for sa in range(counts[a]):
        for sb in range(counts[b]):
            d = ref_dist(h[a, sa * w:(sa + 1) * w], h[b, sb * w:(sb + 1) * w])
            best = d if best is None else min(best, d)
    return best


def as_list(p):
    i, j, d = p
    return list(zip(i.tolist(), j.tolist(), d.tolist()))


def numpy_pairs(h, t):
    """Pairs from np.bitwise_count on XOR blocks (medium sizes)."""
    n = h.shape[0]
    out_i, out_j, out_d = [], [], []
    for i0 in range(0, n, 512):
        d = np.bitwise_count(h[i0:i0 + 512, None, :] ^ h[None, :, :]).sum(-1)
        ii, jj = np.nonzero(d <= t)
        keep = jj > ii + i0
        out_i.append(ii[keep] + i0)
        out_j.append(jj[keep])
        out_d.append(d[ii[keep], jj[keep]])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def make_hashes(rng, n, nbits, clustered):
    """Random packed hashes of ``nbits`` (unused low bits of the last word zero);
    clustered: copies of a few centres with a few bits flipped."""
    words = -(-nbits // 64)
    bits = rng.integers(0, 2, (n, nbits), dtype=np.uint8)
    if clustered and n:
        centres = rng.integers(0, 2, (max(1, n // 5), nbits), dtype=np.uint8)
        pick = rng.integers(0, centres.shape[0], n)
        flips = rng.random((n, nbits)) < rng.choice([0.0, 0.02, 0.08], n)[:, None]
        bits = centres[pick] ^ flips.astype(np.uint8)
    padded = np.zeros((n, words * 64), np.uint8)
    padded[:, :nbits] = bits
    h = np.zeros((n, words), np.uint64)
    for w in range(words):
        for b in range(64):
            h[:, w] |= padded[:, w * 64 + b].astype(np.uint64) << np.uint64(63 - b)
    return h


hash_sets = st.tuples(
    st.integers(0, 2**32 - 1),                       # seed
    st.integers(0, 40),                              # N
    st.sampled_from([8, 42, 64, 100, 196, 256]),     # bits
    st.booleans(),                                   # clustered
)


# --------------------------------------------------------------------------
# popcount
# --------------------------------------------------------------------------


def test_popcount_matches_python():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.array([0, 1, 2**63, 2**64 - 1, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA], np.uint64),
        rng.integers(0, 2**64, 1000, dtype=np.uint64),
    ])
    got = hk.popcount_array(x)
    assert got.tolist() == [bin(int(v)).count("1") for v in x]


def _cpu_has_popcnt():
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"^flags\s*:.*\bpopcnt\b", f.read(), re.M) is not None
    except OSError:
        return False


@pytest.mark.skipif(not _cpu_has_popcnt(), reason="CPU without popcnt (or not x86 Linux)")
def test_popcount_compiles_to_hardware_popcnt():
    # a fresh, uncached function: inspect_asm is disabled for cached code
    from numba import njit

    @njit
    def f(a, b):
        return hk.popcount(a ^ b)

    f(np.uint64(3), np.uint64(5))
    asm = "\n".join(f.inspect_asm().values())
    assert re.search(r"\bpopcnt", asm), "llvm.ctpop did not lower to the popcnt instruction"


# --------------------------------------------------------------------------
# dtype and budget
# --------------------------------------------------------------------------


@pytest.mark.parametrize("nbits, dtype", [
    (0, np.uint8), (42, np.uint8), (64, np.uint8), (196, np.uint8), (255, np.uint8),
    (256, np.uint16), (65535, np.uint16), (65536, np.uint32),
])
def test_distance_dtype(nbits, dtype):
    assert D.distance_dtype(nbits) == np.dtype(dtype)


def test_matrix_fits():
    assert D.DEFAULT_MEMORY_BUDGET == 1 << 30
    assert D.matrix_fits(32768, 64)          # 32768**2 bytes == 1 GiB
    assert not D.matrix_fits(32769, 64)
    assert not D.matrix_fits(32768, 256)     # uint16: twice the bytes
    assert D.matrix_fits(1000, 64, memory_budget=10**6)
    assert not D.matrix_fits(1001, 64, memory_budget=10**6)
    assert D.matrix_fits(0, 64, memory_budget=0)
    with pytest.raises(ValueError):
        D.matrix_fits(-1, 64)


# --------------------------------------------------------------------------
# bit order
# --------------------------------------------------------------------------


def test_bit_order_and_word_sum():
    # only bit [0,0] set (MSB of word 0) vs zero: distance 1; all words count
    h = np.array([[0, 0], [1 << 63, 0], [1 << 63, 1 << 63], [0, 2**64 - 1]], np.uint64)
    m = D.hamming_matrix(h)
    assert m.tolist() == [[0, 1, 2, 64], [1, 0, 1, 65], [2, 1, 0, 64], [64, 65, 64, 0]]


# --------------------------------------------------------------------------
# dense matrix
# --------------------------------------------------------------------------


@SETTINGS
@given(hash_sets)
def test_matrix_matches_reference(params):
    seed, n, nbits, clustered = params
    h = make_hashes(np.random.default_rng(seed), n, nbits, clustered)
    m = D.hamming_matrix(h, nbits=nbits)
    assert m.shape == (n, n)
    assert m.dtype == D.distance_dtype(nbits)
    assert m.tolist() == ref_matrix(h)
    # default dtype follows the word count
    assert D.hamming_matrix(h).dtype == D.distance_dtype(64 * h.shape[1])


# --------------------------------------------------------------------------
# threshold pairs
# --------------------------------------------------------------------------


@SETTINGS
@given(hash_sets, st.floats(0, 1), st.sampled_from(["auto", "brute", "mih"]))
def test_pairs_match_reference(params, tfrac, method):
    seed, n, nbits, clustered = params
    t = int(round(tfrac * nbits))
    h = make_hashes(np.random.default_rng(seed), n, nbits, clustered)
    got = D.hamming_pairs(h, t, method=method, nbits=nbits)
    assert got[0].dtype == np.int64 and got[1].dtype == np.int64
    assert got[2].dtype == D.distance_dtype(nbits)
    assert as_list(got) == ref_pairs(h, t)


@pytest.mark.parametrize("t", [0, 1, 5, 10])
def test_exact_and_small_thresholds_all_methods(t):
    rng = np.random.default_rng(t)
    h = make_hashes(rng, 120, 64, clustered=True)
    h[50:60] = h[3]            # a run of identical hashes
    want = ref_pairs(h, t)
    methods = ["auto", "brute", "mih"] + (["exact"] if t == 0 else [])
    for method in methods:
        assert as_list(D.hamming_pairs(h, t, method=method)) == want, method


@pytest.mark.parametrize("words, nbits", [(1, 64), (1, 42), (4, 196)])
def test_pairs_medium_clustered_and_overflowing_slots(words, nbits):
    # > 2048 rows so that 'auto' weighs the multi-index join against the brute
    # force; a block of 300 identical and 300 near-identical rows overflows the
    # first per-task slots (16 hits) and exercises the exact refill.
    rng = np.random.default_rng(words * 1000 + nbits)
    h = make_hashes(rng, 2500, nbits, clustered=True)
    h[100:400] = h[7]
    h[1000:1300] = h[1000] ^ (h[1000:1300] & np.uint64(0x0000_0000_0000_0007 << 60))
    for t in (0, 3, nbits // 6):
        want = numpy_pairs(h, t)
        for method in ("auto", "brute", "mih"):
            got = D.hamming_pairs(h, t, method=method, nbits=nbits)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)


def test_pairs_threshold_at_least_bits_gives_all_pairs():
    h = make_hashes(np.random.default_rng(3), 30, 42, clustered=False)
    for method in ("auto", "brute", "mih"):
        i, j, _ = D.hamming_pairs(h, 64, method=method)
        assert len(i) == 30 * 29 // 2


def test_pairs_small_n():
    for n in (0, 1, 2):
        h = np.zeros((n, 2), np.uint64)
        i, j, d = D.hamming_pairs(h, 0)
        assert len(i) == (1 if n == 2 else 0)
        if n == 2:
            assert (i[0], j[0], d[0]) == (0, 1, 0)


def test_pair_blocks_stream_the_same_pairs():
    h = make_hashes(np.random.default_rng(9), 3000, 64, clustered=True)
    want = set(as_list(numpy_pairs(h, 6)))
    got = []
    for i, j, d in D.pair_blocks(h, 6):
        got.extend(zip(i.tolist(), j.tolist(), d.tolist()))
    assert len(got) == len(want) and set(got) == want


def test_exact_duplicate_runs():
    h = np.array([[5], [3], [5], [1], [3], [5]], np.uint64)
    order, starts = D.exact_duplicate_runs(h)
    runs = [order[starts[r]:starts[r + 1]].tolist() for r in range(len(starts) - 1)]
    assert sorted(runs) == [[0, 2, 5], [1, 4], [3]]


# --------------------------------------------------------------------------
# multi-segment hashes
# --------------------------------------------------------------------------


seg_sets = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(0, 25), st.integers(1, 5),
    st.sampled_from([(1, 64), (1, 20), (2, 100)]), st.booleans(),
)


def make_segments(rng, n, smax, w, nbits, clustered):
    flat = make_hashes(rng, n * smax, nbits, clustered)
    h = flat.reshape(n, smax * w)
    counts = rng.integers(1, smax + 1, n) if n else np.zeros(0, np.int64)
    return h, counts


@SETTINGS
@given(seg_sets, st.floats(0, 1))
def test_multisegment_matrix_and_pairs(params, tfrac):
    seed, n, smax, (w, nbits), clustered = params
    rng = np.random.default_rng(seed)
    h, counts = make_segments(rng, n, smax, w, nbits, clustered)
    ref = [[0 if a == b else ref_seg_dist(h, counts, w, a, b) for b in range(n)] for a in range(n)]
    m = D.hamming_matrix(h, counts, w)
    assert m.tolist() == ref
    t = int(round(tfrac * nbits))
    want = [(a, b, ref[a][b]) for a in range(n) for b in range(a + 1, n) if ref[a][b] <= t]
    for method in ("auto", "brute", "mih"):
        got = D.hamming_pairs(h, t, counts=counts, words_per_segment=w, method=method)
        assert as_list(got) == want


def test_multisegment_padding_is_ignored():
    rng = np.random.default_rng(4)
    h, counts = make_segments(rng, 20, 4, 1, 64, clustered=True)
    garbage = h.copy()
    for i in range(20):
        garbage[i, counts[i]:] = rng.integers(0, 2**64, 4 - counts[i], dtype=np.uint64)
        h[i, counts[i]:] = 0
    np.testing.assert_array_equal(D.hamming_matrix(h, counts), D.hamming_matrix(garbage, counts))
    for a, b in zip(D.hamming_pairs(h, 20, counts=counts), D.hamming_pairs(garbage, 20, counts=counts)):
        np.testing.assert_array_equal(a, b)


def test_multisegment_validation():
    h = np.zeros((3, 4), np.uint64)
    with pytest.raises(ValueError, match="counts"):
        D.hamming_matrix(h, [1, 2])                      # wrong length
    with pytest.raises(ValueError, match="between 1 and 4"):
        D.hamming_matrix(h, [0, 1, 1])                   # no segment
    with pytest.raises(ValueError, match="between 1 and 2"):
        D.hamming_matrix(h, [1, 3, 1], words_per_segment=2)
    with pytest.raises(ValueError, match="multiple"):
        D.hamming_matrix(h, [1, 1, 1], words_per_segment=3)


# --------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------


@SETTINGS
@given(hash_sets, st.integers(1, 4), st.floats(0, 1))
def test_query_neighbours_match_reference(params, nq, tfrac):
    seed, n, nbits, clustered = params
    rng = np.random.default_rng(seed)
    h = make_hashes(rng, n + nq, nbits, clustered)
    q, h = h[:nq], h[nq:]
    t = int(round(tfrac * nbits))
    got = D.query_neighbours(q, h, t)
    assert len(got) == nq
    for k, (idx, dist) in enumerate(got):
        want = sorted((ref_dist(q[k], h[j]), j) for j in range(n) if ref_dist(q[k], h[j]) <= t)
        assert list(zip(dist.tolist(), idx.tolist())) == want


def test_query_many_columns_and_one_dimensional_query():
    rng = np.random.default_rng(11)
    h = make_hashes(rng, 10000, 64, clustered=True)   # several column blocks
    q = h[1234].copy()
    (idx, dist), = D.query_neighbours(q, h, 8)
    d_all = np.bitwise_count(h[:, 0] ^ q[0])
    want = np.flatnonzero(d_all <= 8)
    assert sorted(idx.tolist()) == want.tolist()
    assert dist.tolist() == sorted(d_all[want].tolist())
    assert 1234 in idx.tolist() and dist[0] == 0


def test_query_width_mismatch():
    with pytest.raises(TypeError, match="different sizes"):
        D.query_neighbours(np.zeros((1, 2), np.uint64), np.zeros((5, 1), np.uint64), 3)


# --------------------------------------------------------------------------
# validation at the public edge
# --------------------------------------------------------------------------


def test_validation():
    good = np.zeros((4, 1), np.uint64)
    with pytest.raises(TypeError, match="uint64"):
        D.hamming_matrix(good.astype(np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        D.hamming_matrix([[1], [2]])
    with pytest.raises(ValueError, match="2-D"):
        D.hamming_matrix(np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match="at least one"):
        D.hamming_matrix(np.zeros((4, 0), np.uint64))
    with pytest.raises(ValueError, match=">= 0"):
        D.hamming_pairs(good, -1)
    with pytest.raises(ValueError, match="whole number"):
        D.hamming_pairs(good, 2.5)
    with pytest.raises(TypeError):
        D.hamming_pairs(good, True)
    with pytest.raises(ValueError, match="method"):
        D.hamming_pairs(good, 1, method="fast")
    with pytest.raises(ValueError, match="threshold=0"):
        D.hamming_pairs(good, 1, method="exact")
    with pytest.raises(ValueError, match="nbits"):
        D.hamming_matrix(good, nbits=65)
    # whole floats are accepted as thresholds
    assert len(D.hamming_pairs(good, 2.0)[0]) == 6
    # non-contiguous input is fine
    wide = np.zeros((4, 3), np.uint64)
    wide[:, 1] = [1, 1, 2, 3]
    assert as_list(D.hamming_pairs(wide[:, 1:2], 0)) == [(0, 1, 0)]
