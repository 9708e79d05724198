"""Grouping against references: breadth-first search over a Python distance
matrix for components, a literal loop for the greedy star mode, and scipy's
connected_components for the larger cases."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from test_distance import make_hashes, make_segments, numpy_pairs, ref_dist, ref_seg_dist
from undouble import distance as D
from undouble._kernels import unionfind as uf
from undouble.grouping import group_hashes, group_scores, groups_from_labels

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------


def ref_components(dist, t):
    n = len(dist)
    seen = [False] * n
    groups = []
    for s in range(n):
        if seen[s]:
            continue
        seen[s] = True
        comp, stack = [s], [s]
        while stack:
            a = stack.pop()
            for b in range(n):
                if not seen[b] and b != a and dist[a][b] <= t:
                    seen[b] = True
                    comp.append(b)
                    stack.append(b)
        if len(comp) > 1:
            groups.append(sorted(comp))
    return sorted(groups)


def ref_star(dist, t):
    n = len(dist)
    assigned = [False] * n
    groups = []
    for i in range(n):
        if assigned[i]:
            continue
        assigned[i] = True
        g = [i]
        for j in range(n):
            if not assigned[j] and dist[i][j] <= t:
                assigned[j] = True
                g.append(j)
        if len(g) > 1:
            groups.append(sorted(g))
    return groups


def lists(groups):
    assert all(g.dtype == np.int64 for g in groups)
    return [g.tolist() for g in groups]


def dist_matrix(h):
    n = h.shape[0]
    return [[ref_dist(h[i], h[j]) for j in range(n)] for i in range(n)]


# --------------------------------------------------------------------------
# the chain case (the reason for components)
# --------------------------------------------------------------------------


def chain_hashes():
    a = 0
    b = a ^ 0b111            # d(A, B) = 3
    c = b ^ 0b111000         # d(B, C) = 3, d(A, C) = 6
    return np.array([[a], [b], [c]], np.uint64)


@pytest.mark.parametrize("budget", [D.DEFAULT_MEMORY_BUDGET, 0])
def test_chain_components_vs_star(budget):
    h = chain_hashes()
    assert D.hamming_matrix(h).tolist() == [[0, 3, 6], [3, 0, 3], [6, 3, 0]]
    assert lists(group_hashes(h, 4, memory_budget=budget)) == [[0, 1, 2]]
    assert lists(group_hashes(h, 4, mode="star", memory_budget=budget)) == [[0, 1]]
    # with the matrix given
    feat = D.hamming_matrix(h)
    assert lists(group_hashes(h, 4, feat=feat)) == [[0, 1, 2]]
    assert lists(group_hashes(h, 4, feat=feat, mode="star")) == [[0, 1]]
    # C first: the star grows from C and leaves A alone
    assert lists(group_hashes(h[::-1].copy(), 4, mode="star")) == [[0, 1]]
    assert lists(group_hashes(h, 2)) == []
    assert lists(group_hashes(h, 6, mode="star")) == [[0, 1, 2]]


# --------------------------------------------------------------------------
# property tests against the references
# --------------------------------------------------------------------------


hash_sets = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(0, 40),
    st.sampled_from([8, 42, 64, 196, 256]), st.booleans(),
)


@SETTINGS
@given(hash_sets, st.floats(0, 1))
def test_groups_match_reference(params, tfrac):
    seed, n, nbits, clustered = params
    h = make_hashes(np.random.default_rng(seed), n, nbits, clustered)
    t = int(round(tfrac * tfrac * nbits))     # favour small thresholds
    dist = dist_matrix(h)
    comps = ref_components(dist, t)
    stars = ref_star(dist, t)
    for budget in (D.DEFAULT_MEMORY_BUDGET, 0):
        assert lists(group_hashes(h, t, memory_budget=budget)) == comps
        assert lists(group_hashes(h, t, mode="star", memory_budget=budget)) == stars


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.integers(0, 12))
def test_components_do_not_depend_on_order(seed, n, t):
    rng = np.random.default_rng(seed)
    h = make_hashes(rng, n, 64, clustered=True)
    perm = rng.permutation(n)
    base = {tuple(g) for g in lists(group_hashes(h, t))}
    permuted = {tuple(sorted(perm[g].tolist())) for g in group_hashes(h[perm], t)}
    assert permuted == base


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 20), st.integers(1, 4),
       st.sampled_from([(1, 64), (2, 100)]), st.floats(0, 0.5))
def test_multisegment_groups_match_reference(seed, n, smax, wn, tfrac):
    w, nbits = wn
    rng = np.random.default_rng(seed)
    h, counts = make_segments(rng, n, smax, w, nbits, clustered=True)
    t = int(round(tfrac * nbits))
    dist = [[0 if a == b else ref_seg_dist(h, counts, w, a, b) for b in range(n)] for a in range(n)]
    for budget in (D.DEFAULT_MEMORY_BUDGET, 0):
        kw = dict(counts=counts, words_per_segment=w, memory_budget=budget)
        assert lists(group_hashes(h, t, **kw)) == ref_components(dist, t)
        assert lists(group_hashes(h, t, mode="star", **kw)) == ref_star(dist, t)


def test_multisegment_threshold_zero_shares_a_segment():
    # image 0 and 1 share segment 2; 1 and 2 share segment 9; 3 shares nothing
    h = np.array([[1, 2, 0], [5, 2, 9], [9, 0, 0], [7, 8, 0]], np.uint64)
    counts = np.array([2, 3, 1, 2])
    assert lists(group_hashes(h, 0, counts=counts)) == [[0, 1, 2]]
    assert lists(group_hashes(h, 0, counts=counts, memory_budget=0)) == [[0, 1, 2]]
    assert lists(group_hashes(h, 0, counts=counts, mode="star")) == [[0, 1]]


# --------------------------------------------------------------------------
# larger sets: dense path, pair search and scipy agree
# --------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0, 4, 10])
def test_medium_set_budget_on_and_off_and_scipy(t):
    rng = np.random.default_rng(t + 100)
    h = make_hashes(rng, 2600, 64, clustered=True)
    h[2000:2100] = h[5]                              # many exact duplicates
    i, j, _ = numpy_pairs(h, t)
    g = coo_matrix((np.ones(i.size), (i, j)), shape=(2600, 2600))
    _, labels = connected_components(g, directed=False)
    want = sorted(sorted(np.flatnonzero(labels == lab).tolist())
                  for lab in np.unique(labels) if (labels == lab).sum() > 1)
    dense = lists(group_hashes(h, t))
    search = lists(group_hashes(h, t, memory_budget=0))
    assert dense == search == want
    assert lists(group_hashes(h, t, mode="star")) == lists(group_hashes(h, t, mode="star", memory_budget=0))


def test_feat_is_used_when_given():
    h = np.zeros((3, 1), np.uint64)                  # all identical
    feat = np.array([[0, 9, 1], [9, 0, 9], [1, 9, 0]], np.uint8)
    assert lists(group_hashes(h, 2, feat=feat)) == [[0, 2]]
    with pytest.raises(ValueError, match="3 x 3"):
        group_hashes(h, 2, feat=np.zeros((2, 2), np.uint8))


def test_small_n_and_validation():
    for n in (0, 1):
        assert group_hashes(np.zeros((n, 1), np.uint64), 5) == []
    assert lists(group_hashes(np.zeros((2, 1), np.uint64), 0)) == [[0, 1]]
    with pytest.raises(ValueError, match="mode"):
        group_hashes(np.zeros((2, 1), np.uint64), 0, mode="greedy")
    with pytest.raises(TypeError, match="uint64"):
        group_hashes(np.zeros((2, 1), np.int64), 0)
    with pytest.raises(ValueError, match=">= 0"):
        group_hashes(np.zeros((2, 1), np.uint64), -3)


# --------------------------------------------------------------------------
# kernels and helpers
# --------------------------------------------------------------------------


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(0, 80))
def test_union_find_kernel_matches_scipy(seed, n, npairs):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, npairs).astype(np.int64)
    b = rng.integers(0, n, npairs).astype(np.int64)
    parent = np.arange(n, dtype=np.int64)
    # fed in two blocks, as group_hashes does
    uf.union_pairs(parent, a[: npairs // 2], b[: npairs // 2])
    uf.union_pairs(parent, a[npairs // 2:], b[npairs // 2:])
    labels = uf.resolve(parent)
    _, ref = connected_components(coo_matrix((np.ones(npairs), (a, b)), shape=(n, n)),
                                  directed=False)
    for x in range(n):
        members = np.flatnonzero(ref == ref[x])
        assert labels[x] == members.min()            # label = smallest member
        assert set(np.flatnonzero(labels == labels[x]).tolist()) == set(members.tolist())


def test_groups_from_labels():
    labels = np.array([3, 1, 3, -1, 1, 5, 3, 0])
    assert lists(groups_from_labels(labels)) == [[0, 2, 6], [1, 4]]
    assert groups_from_labels(np.array([], np.int64)) == []


def test_group_scores():
    rng = np.random.default_rng(1)
    h = make_hashes(rng, 10, 196, clustered=True)
    members = [7, 2, 5]
    got = group_scores(h, members, 2)
    assert got.tolist() == [ref_dist(h[m], h[2]) for m in members]
    assert got[1] == 0
    assert got.dtype == np.uint16                    # 4 words = 256 bits by default
    assert group_scores(h, members, 2, nbits=196).dtype == np.uint8
    hs, counts = make_segments(rng, 6, 3, 1, 64, clustered=True)
    got = group_scores(hs, [0, 1, 4], 4, counts=counts)
    assert got.tolist() == [ref_seg_dist(hs, counts, 1, m, 4) if m != 4 else 0 for m in [0, 1, 4]]
    with pytest.raises(IndexError):
        group_scores(h, [0, 1], 10)
    with pytest.raises(IndexError):
        group_scores(h, [0, 11], 1)
