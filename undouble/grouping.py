"""Group near-duplicate hashes: connected components (default) or greedy stars.

A group is a set of row indices whose hashes are linked by distances
``<= threshold``:

* ``mode='components'`` (default): the connected components of the graph whose
  edges are the pairs at distance ``<= threshold``, found by union-find.  The
  result does not depend on the order of the images, and no near-duplicate is
  dropped: A-B = 3 and B-C = 3 at threshold 4 give one group {A, B, C} even though
  A-C = 6.
* ``mode='star'``: the greedy grouping of undouble 1.x, kept for comparison:
  images are visited in index order; an image not yet in a group starts one and
  takes every image not yet in a group within ``threshold`` of it.  Its result
  depends on the order (in the example above it gives {A, B} and leaves C alone).

Groups are arrays of int64 row indices, ascending inside a group, ordered by their
smallest index; images without any partner (singletons) are left out.

Distances come from the block-by-block pair search of :mod:`undouble.distance`
(threshold 0 needs only a sort), or from a dense matrix when one is given
(``feat``).  Either way gives the same groups; without ``feat`` no N x N array is
ever built: the pair search is exact and, at 30,000 images, 20-40 times faster than
building and scanning the matrix (900 MB).

Verified groups (:func:`group_verified`, issue 18)
--------------------------------------------------
A hash is a way to find *candidates*, not proof.  With verification on, the
groups are built from candidate pairs (distance ``<= threshold``) that passed a
pixel-level check (:func:`undouble.verify.verify_pairs`), by this rule:

1. every candidate pair is verified, in one batch call;
2. the connected components of the *verified* links are formed (no chaining
   through a pair that failed);
3. in each component the keeper is chosen by the keeper rule
   (:func:`undouble.keeper.rank_keepers`: not damaged, colour over greyscale,
   resolution, sharpness, file size, path);
4. every member is checked against that keeper, reusing the verdicts of step 1
   and verifying the missing (keeper, member) pairs in one more batch call per
   round: the members that pass form the group with the keeper;
5. the members that failed form components again among themselves over the
   verified links, and steps 3-5 repeat on those until none is left;
6. in a group of three or more, the keeper may give way to a member the
   rule ranks equal but for sharpness (same pixels, intact, colour), sharp
   enough (contrast normalised, at least 0.85 of the sharpest) and verified
   against every other member, whose summed similarity to the others beats the
   keeper's (:func:`_most_similar_keepers`): an edited copy
   (a watermark, more contrast) often measures sharper than its original, but
   every copy is made from the original, which is the member closest to all.
   The members stay the same;
7. a row left in no group that has a verified link to a member of such a
   group is checked against its new keeper and joins it when it passes
   (:func:`_readmit_to_new_keepers`): a copy that failed against an edited
   keeper (two watermarks in different corners) often passes against the
   original.

Between steps 1 and 2, a *second look* (optional, ``second_look``; used by
:func:`verified_groups`) proposes more pairs from the verdicts: a crop is often
farther from its original than the threshold (the hash sees the whole frame)
while both are close to other shots of the same scene, so an image left
without a verified link (an *orphan*) is checked against the images two
candidate links away whose size could contain it, and against its best
container among the images an inner window of which hashes close to it
(:mod:`undouble.second_look`); what passes joins the verified links.

So every member of a group is a verified copy *of its keeper*: two crops of
one original are grouped through the original even though neither contains
the other, and A~B~C where A-C fails is not one group around A.  Pairs are
verified in an order-independent orientation (``canonical``: the rank of each
row's path) and the keeper rule ends with the path, so the groups do not depend
on the order of the input files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from undouble import distance as _dist
from undouble._kernels import hamming as _hk
from undouble._kernels import unionfind as _uf
from undouble.distance import DEFAULT_MEMORY_BUDGET

__all__ = ["VerifiedGroups", "group_hashes", "group_scores", "group_verified", "groups_from_labels",
           "relation_texts", "verified_groups"]

_MODES = ("components", "star")


def groups_from_labels(labels: np.ndarray) -> list[np.ndarray]:
    """Turn per-row labels into groups.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (N,)
        Rows with the same label form a group; a negative label means "no group".

    Returns
    -------
    list of numpy.ndarray of int64
        Groups of two or more rows, indices ascending inside a group, groups
        ordered by their smallest index.
    """
    labels = np.asarray(labels, dtype=np.int64)
    idx = np.flatnonzero(labels >= 0)
    if idx.size == 0:
        return []
    lab = labels[idx]
    # drop singletons first: at scale nearly every row is one
    _, inverse, sizes = np.unique(lab, return_inverse=True, return_counts=True)
    keep = sizes[inverse] > 1
    idx, lab = idx[keep], lab[keep]
    if idx.size == 0:
        return []
    order = np.argsort(lab, kind="stable")  # indices stay ascending inside a label
    lab = lab[order]
    idx = idx[order]
    starts = np.concatenate([[0], np.flatnonzero(lab[1:] != lab[:-1]) + 1])
    ends = np.append(starts[1:], idx.size)
    by_first = np.argsort(idx[starts], kind="stable")  # groups are disjoint: no two share a first row
    sizes = (ends - starts)[by_first]
    first_at = np.cumsum(sizes) - sizes  # where each group starts once they are in that order
    take = np.arange(idx.size) - np.repeat(first_at - starts[by_first], sizes)
    return split_at(idx[take], np.cumsum(sizes).tolist())


def _matrix_pair_blocks(feat: np.ndarray, t: int):
    """Pairs ``i < j`` with ``feat[i, j] <= t``, a band of rows at a time."""
    n = feat.shape[0]
    rows = max(1, (1 << 24) // max(n, 1))
    for i0 in range(0, n, rows):
        i1 = min(i0 + rows, n)
        band = feat[i0:i1]
        ii, jj = np.nonzero(band <= t)
        ii = ii + i0
        keep = jj > ii
        ii, jj = ii[keep].astype(np.int64), jj[keep].astype(np.int64)
        yield ii, jj, band[ii - i0, jj]


def _labels_exact(h: np.ndarray) -> np.ndarray:
    """Threshold 0 on single hashes: one group per run of identical rows."""
    order, starts = _dist._exact_runs(h)
    labels = np.empty(h.shape[0], np.int64)
    sizes = np.diff(starts)
    labels[order] = np.repeat(order[starts[:-1]], sizes)  # first of a run = smallest
    return labels


def _exact_segment_edges(h: np.ndarray, counts: np.ndarray, wps: int):
    """Threshold 0 on multi-segment hashes: chain the owners of each run of
    identical segments (enough for connectivity, O(S N log(S N)))."""
    segs, owner = _dist._flatten_segments(h, counts, wps)
    order, starts = _dist._exact_runs(segs)
    same_run = np.ones(order.size, bool)
    same_run[starts[:-1]] = False  # first element of each run has no predecessor
    b = order[same_run]
    a = order[np.flatnonzero(same_run) - 1]
    yield owner[a], owner[b], None


def _components(n: int, blocks: Iterable) -> np.ndarray:
    parent = np.arange(n, dtype=np.int64)
    for pi, pj, _ in blocks:
        _uf.union_pairs(parent, pi, pj)
    return _uf.resolve(parent)


def _star(n: int, blocks: Iterable, presorted: bool) -> np.ndarray:
    assigned = np.full(n, -1, np.int64)
    if not presorted:
        # multi-segment pairs can arrive out of order and repeated: gather first
        got = list(blocks)
        if got:
            pi = np.concatenate([b[0] for b in got])
            pj = np.concatenate([b[1] for b in got])
            o = np.lexsort((pj, pi))
            blocks = [(pi[o], pj[o], None)]
        else:
            blocks = []
    for pi, pj, _ in blocks:
        _uf.star_assign(assigned, pi, pj)
    return assigned


def group_hashes(hashes: np.ndarray, threshold: int, *, mode: str = "components",
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, counts=None,
                 words_per_segment: int = 1, feat: np.ndarray | None = None,
                 nbits: int | None = None) -> list[np.ndarray]:
    """Group hashes at Hamming distance ``<= threshold``.

    Parameters
    ----------
    hashes : numpy.ndarray of uint64, shape (N, words)
        Packed hashes; with ``counts``, multi-segment hashes
        ``(N, S_max * words_per_segment)``.
    threshold : int
        Largest distance (inclusive) that links two images, ``>= 0``.
    mode : {'components', 'star'}, optional
        ``'components'`` (default): connected components, order-independent.
        ``'star'``: greedy undouble-1.x grouping (see the module docstring).
    memory_budget : int, optional
        Kept for compatibility; unused: grouping always searches the pairs
        block by block and never builds an N x N array.
    counts : array_like of int, shape (N,), optional
        Valid segments per image (multi-segment hashes); the distance between two
        images is the minimum over all pairs of their segments.
    words_per_segment : int, optional
        uint64 words per segment (multi-segment hashes only), default 1.
    feat : numpy.ndarray, shape (N, N), optional
        A distance matrix already computed (e.g. by :func:`undouble.distance.hamming_matrix`);
        used instead of recomputing distances.
    nbits : int, optional
        Bits per hash (per segment); only refines the matrix size estimate.

    Returns
    -------
    list of numpy.ndarray of int64
        Groups of row indices (two or more each), ascending inside a group,
        ordered by their smallest index.  Singletons are left out.
    """
    h = _dist._as_hashes(hashes)
    t = _dist._as_threshold(threshold)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    n = h.shape[0]
    wps = int(words_per_segment)
    if counts is not None:
        counts, wps = _dist._as_segments(h, counts, wps)
    _dist._nbits(nbits, h.shape[1] if counts is None else wps)  # checks it

    presorted = True
    if feat is not None:
        feat = np.asarray(feat)
        if feat.shape != (n, n):
            raise ValueError(f"feat must be {n} x {n} to match hashes, got shape {feat.shape}")
        blocks = _matrix_pair_blocks(feat, t)
    elif t == 0 and counts is None:
        labels = _labels_exact(h)
        return groups_from_labels(labels)
    elif t == 0 and mode == "components":
        blocks = _exact_segment_edges(h, counts, wps)
    else:
        presorted, blocks = _dist._pair_blocks(h, t, counts, wps, nbits, "auto")

    if mode == "components":
        labels = _components(n, blocks)
    else:
        labels = _star(n, blocks, presorted)
    return groups_from_labels(labels)


def group_scores(hashes: np.ndarray, group_indices, keeper_index: int, *, counts=None,
                 words_per_segment: int = 1, nbits: int | None = None) -> np.ndarray:
    """Distances of the members of a group to its keeper.

    Parameters
    ----------
    hashes : numpy.ndarray of uint64, shape (N, words)
        Packed hashes (or multi-segment hashes with ``counts``).
    group_indices : array_like of int
        Row indices of the group's members, in the order wanted.
    keeper_index : int
        Row index (into ``hashes``) of the keeper; usually one of
        ``group_indices``, whose score is then 0.
    counts, words_per_segment : optional
        As in :func:`group_hashes`, for multi-segment hashes.
    nbits : int, optional
        Bits per hash (per segment); only picks the dtype.

    Returns
    -------
    numpy.ndarray
        ``d(hashes[g], hashes[keeper_index])`` for each ``g`` of
        ``group_indices``, dtype :func:`undouble.distance.distance_dtype`.
    """
    h = _dist._as_hashes(hashes)
    n = h.shape[0]
    rows = np.asarray(group_indices)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise TypeError("group_indices must be a 1-D array of integer row indices")
    rows = rows.astype(np.int64)
    k = int(keeper_index)
    if not 0 <= k < n:
        raise IndexError(f"keeper_index {k} out of range for {n} hashes")
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise IndexError(f"group_indices out of range for {n} hashes")
    if counts is None:
        dtype = _dist.distance_dtype(_dist._nbits(nbits, h.shape[1]))
        return _hk.distances_to(h, rows, k).astype(dtype)
    cnt, wps = _dist._as_segments(h, counts, words_per_segment)
    dtype = _dist.distance_dtype(_dist._nbits(nbits, wps))
    return _hk.seg_distances_to(h, cnt, wps, rows, k).astype(dtype)


# --------------------------------------------------------------------------- verified groups
@dataclass(frozen=True)
class VerifiedGroups:
    """What :func:`group_verified` found; lists aligned with ``groups``.

    Attributes
    ----------
    groups : list of numpy.ndarray of int64
        Row indices of each group, the keeper first, the others in keeper-rule order.
    relation : list of numpy.ndarray of int8
        Relation code (:data:`undouble.verify.RELATION_NAMES`) of each member to
        the keeper; -1 for the keeper itself.
    similarity : list of numpy.ndarray of float32
        Verification similarity of each member to the keeper (0..1); 1 for the keeper.
    area_fraction : list of numpy.ndarray of float32
        For crops, the smaller view's area as a fraction of the larger one's; else 1.
    keeper_contains : list of numpy.ndarray of bool
        For crops, True when the member lies inside the keeper (False when the
        keeper is the smaller view).
    n_candidates : int
        Distinct candidate pairs given.
    n_verified : int
        Candidate pairs that passed verification.
    n_keeper_checks : int
        (keeper, member) pairs that were not candidates and were verified as well.
    """

    groups: list
    relation: list
    similarity: list
    area_fraction: list
    keeper_contains: list
    n_candidates: int
    n_verified: int
    n_keeper_checks: int


def split_at(values: np.ndarray, ends: list) -> list:
    """``values`` cut into consecutive pieces ending at ``ends``.

    The pieces are views of one copy of ``values`` (they do not overlap and share
    nothing with ``values``): a copy per piece takes twice as long, and ``np.split``
    ten times as long, for thousands of short pieces.
    """
    whole = np.array(values, copy=True)
    starts = [0] + list(ends[:-1])
    return list(map(whole.__getitem__, map(slice, starts, ends)))


class _Verdicts:
    """Verification verdicts of row pairs, looked up by the unordered pair."""

    def __init__(self, n: int, canonical: np.ndarray, verify: Callable) -> None:
        self.n, self.canonical, self.verify = n, canonical, verify
        self.keys = np.empty(0, np.int64)
        self.ok = np.empty(0, bool)
        self.similarity = np.empty(0, np.float32)
        self.relation = np.empty(0, np.int8)
        self.area = np.empty(0, np.float32)
        self.container = np.empty(0, np.int64)  # row that contains the other (crops), else -1
        self.calls = 0

    def key(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(a, b) * self.n + np.maximum(a, b)

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Verify the pairs (a, b) (distinct, not known yet) in one call, oriented canonically."""
        if a.size == 0:
            return
        swap = self.canonical[a] > self.canonical[b]
        first, second = np.where(swap, b, a), np.where(swap, a, b)
        got = self.verify(first, second)
        self.calls += 1
        container = np.where(got.container == 0, first, np.where(got.container == 1, second, -1))
        keys = np.concatenate([self.keys, self.key(first, second)])
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.ok = np.concatenate([self.ok, np.asarray(got.ok, bool)])[order]
        self.similarity = np.concatenate([self.similarity, np.asarray(got.similarity, np.float32)])[order]
        self.relation = np.concatenate([self.relation, np.asarray(got.relation, np.int8)])[order]
        self.area = np.concatenate([self.area, np.asarray(got.area_fraction, np.float32)])[order]
        self.container = np.concatenate([self.container, container.astype(np.int64)])[order]

    def find(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Position of each pair in the verdict arrays, -1 where not verified yet."""
        keys = self.key(a, b)
        if self.keys.size == 0:
            return np.full(keys.size, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[pos] == keys, pos, -1)


def _verified_components(n: int, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    parent = np.arange(n, dtype=np.int64)
    if a.size:
        _uf.union_pairs(parent, a, b)
    return groups_from_labels(_uf.resolve(parent))


#: A candidate keeper of :func:`_most_similar_keepers` must be at least this fraction as sharp (contrast
#: normalised) as the sharpest candidate of its group. At 0.7, 24 of about 750 groups of four corpora
#: kept a blurred copy; at 0.85, 4.
SHARPNESS_TOLERANCE = 0.85
#: How much more (in summed similarity) the most similar member must score than the keeper rule's choice
#: to replace it. Edited keepers over the same four corpora (397 with the rule alone): 300 at a margin of
#: 0.1, 264 at 0.02, 229 at 0 (strictly more).
KEEPER_SIMILARITY_MARGIN = 0.0
#: Step 7 of the rule (:func:`_readmit_to_new_keepers`) on or off (for measurements).
READMIT_TO_NEW_KEEPERS = True


def _most_similar_keepers(out: dict, verdicts: _Verdicts, keeper_class: np.ndarray,
                          sharpness_of: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """Give each group of three or more the keeper most similar to its other members; the number of checks.

    An edited copy (brighter, more contrast, a watermark, re-encoded) is often
    "sharper" than its original, so the keeper rule alone keeps it; but each copy
    is made from the original, so the original is the member closest to all the
    others. In every group of three or more members, the members of the keeper's
    class (``keeper_class``: what the rule puts before sharpness) are candidates;
    the pairs of members not verified yet are verified in one call; a candidate
    that verifies against every other member scores the sum of its similarities
    to them, and the best score is kept (ties: the keeper rule's order). The
    members stay; the new keeper moves to the front (the others keep their
    order), and the relation, similarity, area and containment of each member
    are read from the verdicts against it. ``out`` is changed in place.
    """
    todo = []
    for k, members in enumerate(out["groups"]):
        if len(members) >= 3 and int((keeper_class[members] == keeper_class[members[0]]).sum()) >= 2:
            todo.append(k)
    swapped: list[int] = []
    if not todo:
        return 0, swapped
    pairs = [np.triu_indices(len(out["groups"][k]), 1) for k in todo]
    a = np.concatenate([out["groups"][k][p] for k, (p, _) in zip(todo, pairs)]).astype(np.int64)
    b = np.concatenate([out["groups"][k][q] for k, (_, q) in zip(todo, pairs)]).astype(np.int64)
    missing = verdicts.find(a, b) < 0
    verdicts.add(a[missing], b[missing])
    for k in todo:
        members = np.asarray(out["groups"][k], np.int64)
        m = members.size
        rows, cols = np.meshgrid(members, members, indexing="ij")
        pos = verdicts.find(rows.ravel(), cols.ravel()).reshape(m, m)
        ok = np.where(pos >= 0, verdicts.ok[np.maximum(pos, 0)], False)
        sim = np.where(ok, verdicts.similarity[np.maximum(pos, 0)], 0.0)
        np.fill_diagonal(ok, True)
        np.fill_diagonal(sim, 0.0)
        candidate = keeper_class[members] == keeper_class[members[0]]
        if sharpness_of is not None:
            sharp = np.asarray(sharpness_of(members), np.float64)
            known = candidate & np.isfinite(sharp)
            if known.any():
                candidate &= ~known | (sharp >= SHARPNESS_TOLERANCE * sharp[known].max())
        score = np.where(ok.all(axis=1) & candidate, sim.sum(axis=1), -np.inf)
        best = int(np.argmax(score))  # the first of equal scores: the keeper rule's order
        if best == 0 or not score[best] > score[0] + KEEPER_SIMILARITY_MARGIN:
            continue
        order = np.concatenate([[best], np.delete(np.arange(m), best)])
        members = members[order]
        keeper = members[0]
        at = pos[best][order][1:]
        out["groups"][k] = members
        out["relation"][k] = np.concatenate([[-1], verdicts.relation[at]]).astype(np.int8)
        out["similarity"][k] = np.concatenate([[1.0], verdicts.similarity[at]]).astype(np.float32)
        out["area"][k] = np.concatenate([[1.0], verdicts.area[at]]).astype(np.float32)
        out["inside"][k] = np.concatenate([[False], verdicts.container[at] == keeper])
        swapped.append(k)
    return int(missing.sum()), swapped


def _readmit_to_new_keepers(out: dict, verdicts: _Verdicts, swapped: list[int], ok_a: np.ndarray,
                            ok_b: np.ndarray, n: int) -> int:
    """Step 7 of the rule: rows in no group, verified against a member of a group whose keeper gave way,
    are checked against the new keeper and join when they pass; the number of checks.

    A row failed the old keeper (an edited copy against another edited copy,
    two watermarks in different corners); the original that replaced it may
    take it. A row that passes two new keepers joins the more similar one.
    ``out`` is changed in place (the row goes last in its group).
    """
    grouped = np.zeros(n, bool)
    for members in out["groups"]:
        grouped[members] = True
    group_of = np.full(n, -1, np.int64)
    for k in swapped:
        group_of[out["groups"][k]] = k
    rows, groups = [], []
    for x, y in ((ok_a, ok_b), (ok_b, ok_a)):
        near = ~grouped[x] & (group_of[y] >= 0)
        rows.append(x[near])
        groups.append(group_of[y[near]])
    keys = np.unique(np.concatenate(rows) * len(out["groups"]) + np.concatenate(groups))
    if not keys.size:
        return 0
    rows, groups = keys // len(out["groups"]), keys % len(out["groups"])
    keepers = np.asarray([out["groups"][k][0] for k in groups.tolist()], np.int64)
    missing = verdicts.find(keepers, rows) < 0
    verdicts.add(keepers[missing], rows[missing])
    pos = verdicts.find(keepers, rows)
    passed = verdicts.ok[pos]
    best: dict[int, tuple[float, int, int]] = {}
    for row, k, at in zip(rows[passed].tolist(), groups[passed].tolist(), pos[passed].tolist()):
        sim = float(verdicts.similarity[at])
        if row not in best or sim > best[row][0]:
            best[row] = (sim, k, at)
    for row, (_, k, at) in sorted(best.items()):
        keeper = out["groups"][k][0]
        out["groups"][k] = np.append(out["groups"][k], row).astype(np.int64)
        out["relation"][k] = np.append(out["relation"][k], verdicts.relation[at]).astype(np.int8)
        out["similarity"][k] = np.append(out["similarity"][k], verdicts.similarity[at]).astype(np.float32)
        out["area"][k] = np.append(out["area"][k], verdicts.area[at]).astype(np.float32)
        out["inside"][k] = np.append(out["inside"][k], verdicts.container[at] == keeper)
    return int(missing.sum())


def group_verified(n: int, pair_i: np.ndarray, pair_j: np.ndarray, verify: Callable,
                   keeper_order: Callable[[np.ndarray], np.ndarray],
                   canonical: np.ndarray | None = None,
                   second_look: Callable[[np.ndarray, np.ndarray, np.ndarray],
                                         tuple[np.ndarray, np.ndarray]] | None = None,
                   keeper_rank: np.ndarray | None = None,
                   keeper_class: np.ndarray | None = None,
                   sharpness_of: Callable[[np.ndarray], np.ndarray] | None = None) -> VerifiedGroups:
    """Groups of verified copies, each member verified against its group's keeper.

    The rule is in the module docstring ("Verified groups").

    Parameters
    ----------
    n : int
        Number of rows (images).
    pair_i, pair_j : numpy.ndarray of int
        Candidate pairs (e.g. hash distance ``<= threshold``), any orientation;
        repeats and self-pairs are ignored.
    verify : callable
        ``verify(first, second) -> VerifyResult`` (arrays of row indices), e.g.
        ``lambda a, b: undouble.verify.verify_pairs(thumbs, sizes, a, b)``.
        Called once for the candidates and once more per round for the missing
        (keeper, member) pairs.
    keeper_order : callable
        ``keeper_order(members) -> members`` reordered by the keeper rule, keeper
        first.  It must not depend on the order of ``members``.
    canonical : numpy.ndarray of int, shape (n,), optional
        An order-independent rank of each row (e.g. of its path among the sorted
        paths); pairs are verified as (lower rank, higher rank).  Default: the
        row index.
    second_look : callable, optional
        ``second_look(pair_i, pair_j, ok) -> (a, b)``: more pairs to verify, from
        the candidates and their verdicts (e.g. :func:`undouble.second_look.second_look_pairs`); the
        ones that pass count as verified links.
    keeper_rank : numpy.ndarray of int, shape (n,), optional
        The keeper rule as one order of all rows (lower is kept first, no ties):
        when given, every component is ordered by it at once and
        ``keeper_order`` is not called.
    keeper_class : numpy.ndarray of int, shape (n,), optional
        The parts of the keeper rule that come before sharpness (e.g. not
        damaged, colour, pixels) as one value per row: in a group of three or
        more, the members of the keeper's class that verify against every other
        member may take its place, the one most similar to the others first
        (:func:`_most_similar_keepers`). Default: the keeper rule alone.
    sharpness_of : callable, optional
        ``sharpness_of(rows) -> float array``: a sharpness that a contrast edit
        does not change (NaN: unknown); a candidate keeper less than
        :data:`SHARPNESS_TOLERANCE` of the sharpest candidate's is left out (a
        blurred copy is close to every other copy, but no keeper).

    Returns
    -------
    VerifiedGroups
        Groups of two or more rows, keeper first, ordered by their smallest row
        index, with each member's relation and similarity to the keeper.
    """
    n = int(n)
    if keeper_rank is not None:
        keeper_rank = np.asarray(keeper_rank, dtype=np.int64)
    canon = np.arange(n, dtype=np.int64) if canonical is None else np.asarray(canonical, dtype=np.int64)
    if canon.shape != (n,):
        raise ValueError(f"canonical must have one rank per row ({n}), got shape {canon.shape}")
    a = np.asarray(pair_i, dtype=np.int64).reshape(-1)
    b = np.asarray(pair_j, dtype=np.int64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"pair_i and pair_j differ in length: {a.size} and {b.size}")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise IndexError(f"pair indices must lie in 0..{n - 1}")
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    keys = np.unique(lo * n + hi)
    lo, hi = keys // n, keys % n

    verdicts = _Verdicts(n, canon, verify)
    verdicts.add(lo, hi)
    n_candidates = int(lo.size)
    ok_a, ok_b = lo[verdicts.ok], hi[verdicts.ok]  # verdicts are sorted by key, as lo/hi are
    if second_look is not None:
        more_a, more_b = second_look(lo, hi, verdicts.ok.copy())
        more_a, more_b = np.asarray(more_a, np.int64), np.asarray(more_b, np.int64)
        if more_a.size:
            missing = verdicts.find(more_a, more_b) < 0
            verdicts.add(more_a[missing], more_b[missing])
            passed = verdicts.ok[verdicts.find(more_a, more_b)]
            ok_a = np.concatenate([ok_a, np.minimum(more_a, more_b)[passed]])
            ok_b = np.concatenate([ok_b, np.maximum(more_a, more_b)[passed]])
    n_verified = int(ok_a.size)

    out: dict[str, list] = {k: [] for k in ("groups", "relation", "similarity", "area", "inside")}
    smallest: list[np.ndarray] = []  # the smallest row of each group, in the order of out
    pending = _verified_components(n, ok_a, ok_b)
    checks = 0
    while pending:
        sizes = np.fromiter((len(m) for m in pending), dtype=np.int64, count=len(pending))
        gid = np.repeat(np.arange(len(pending), dtype=np.int64), sizes)
        flat = np.concatenate(pending).astype(np.int64)
        if keeper_rank is not None:  # one sort orders every component, keeper first
            flat = flat[np.lexsort((keeper_rank[flat], gid))]
        else:
            flat = np.concatenate([np.asarray(keeper_order(np.asarray(m, np.int64)), np.int64) for m in pending])
        starts = np.cumsum(sizes) - sizes
        head = np.zeros(flat.size, bool)
        head[starts] = True
        keepers = np.repeat(flat[starts], sizes - 1)
        others = flat[~head]
        other_gid = gid[~head]
        missing = verdicts.find(keepers, others) < 0
        if missing.any():
            checks += int(missing.sum())
            verdicts.add(keepers[missing], others[missing])
        pos = verdicts.find(keepers, others)
        passed = verdicts.ok[pos]
        grouped = np.bincount(other_gid[passed], minlength=len(pending)) > 0
        kept = head & grouped[gid]
        kept[~head] = passed
        code = np.full(flat.size, -1, np.int8)
        sim = np.ones(flat.size, np.float32)
        area = np.ones(flat.size, np.float32)
        inside = np.zeros(flat.size, bool)
        code[~head] = verdicts.relation[pos]
        sim[~head] = verdicts.similarity[pos]
        area[~head] = verdicts.area[pos]
        inside[~head] = verdicts.container[pos] == keepers
        if grouped.any():
            ends = np.cumsum(np.bincount(gid[kept], minlength=len(pending))[grouped]).tolist()
            for key, values in (("groups", flat), ("relation", code), ("similarity", sim), ("area", area),
                                ("inside", inside)):
                out[key].extend(split_at(values[kept], ends))
            smallest.append(np.minimum.reduceat(flat[kept], [0] + ends[:-1]))
        set_id = np.full(n, -1, np.int64)
        set_id[others[~passed]] = other_gid[~passed]
        same = (set_id[ok_a] >= 0) & (set_id[ok_a] == set_id[ok_b])
        pending = [g for g in _verified_components(n, ok_a[same], ok_b[same])]
    if keeper_class is not None:
        more, swapped = _most_similar_keepers(out, verdicts, np.asarray(keeper_class, np.int64), sharpness_of)
        checks += more
        if swapped and READMIT_TO_NEW_KEEPERS:
            checks += _readmit_to_new_keepers(out, verdicts, swapped, ok_a, ok_b, n)
            sizes = np.fromiter((len(g) for g in out["groups"]), dtype=np.int64, count=len(out["groups"]))
            smallest = [np.minimum.reduceat(np.concatenate(out["groups"]), np.cumsum(sizes) - sizes)]
    # groups are disjoint: their smallest rows differ, so this order has no ties
    order = np.argsort(np.concatenate(smallest), kind="stable").tolist() if smallest else []
    return VerifiedGroups(groups=[out["groups"][k] for k in order],
                          relation=[out["relation"][k] for k in order],
                          similarity=[out["similarity"][k] for k in order],
                          area_fraction=[out["area"][k] for k in order],
                          keeper_contains=[out["inside"][k] for k in order],
                          n_candidates=n_candidates, n_verified=n_verified, n_keeper_checks=checks)


def verified_groups(results: dict, threshold: int,
                    keeper_order: Callable[[np.ndarray], np.ndarray],
                    keeper_rank: np.ndarray | None = None) -> VerifiedGroups | None:
    """:func:`group_verified` of what :class:`undouble.Undouble` recorded.

    Candidates are the pairs at hash distance ``<= threshold`` (the pair
    search of :func:`undouble.distance.hamming_pairs`, no N x N array); they
    are verified on ``results['thumbs']`` with the original sizes
    ``results['resolution']``, oriented by the sort order of the paths. The
    second look (:func:`undouble.second_look.second_look_pairs`) gives images
    left without a verified link a check against the images that could contain
    them as a crop: two candidate links away, or with an inner window that
    hashes close to them.

    Parameters
    ----------
    results : dict
        ``Undouble.results`` after ``compute_hash`` (``img_hash``, ``hash_counts``,
        ``hash_nbits``, ``pathnames``, ``resolution``, ``thumbs``).
    threshold : int
        Largest hash distance of a candidate pair.
    keeper_order : callable
        The keeper rule, as in :func:`group_verified`.
    keeper_rank : numpy.ndarray, optional
        The same rule as one order of all rows, as in :func:`group_verified`.

    Returns
    -------
    VerifiedGroups or None
        None (logged) when ``results`` has no thumbnail per image.
    """
    from ._logging import logger
    from .distance import hamming_pairs
    from .verify import verify_pairs

    thumbs = results.get("thumbs")
    paths = results["pathnames"]
    if thumbs is None or len(thumbs) != len(paths):
        logger.info("No verification thumbnails for these images: grouping by hash alone (as verify=False).")
        return None
    nbits = results["hash_nbits"]
    pair_i, pair_j, _ = hamming_pairs(results["img_hash"], threshold, counts=results["hash_counts"],
                                      words_per_segment=(nbits + 63) // 64, nbits=nbits)
    sizes = np.asarray(results["resolution"], dtype=np.int64).reshape(-1, 2)
    canonical = np.empty(len(paths), np.int64)
    canonical[np.argsort(np.asarray(paths, dtype=object), kind="stable")] = np.arange(len(paths))
    from .second_look import second_look_pairs

    def second_look(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return second_look_pairs(results, threshold, a, b, ok, thumbs, sizes, canonical)

    got = group_verified(len(paths), pair_i, pair_j, lambda a, b: verify_pairs(thumbs, sizes, a, b),
                         keeper_order, canonical=canonical, second_look=second_look, keeper_rank=keeper_rank,
                         keeper_class=_keeper_class(results, thumbs, sizes),
                         sharpness_of=lambda rows: _normalised_sharpness(results, thumbs, rows))
    logger.info("%d candidate pairs within distance %d, %d verified (%d more keeper checks).",
                got.n_candidates, threshold, got.n_verified, got.n_keeper_checks)
    return got


def _normalised_sharpness(results: dict, thumbs, rows: np.ndarray) -> np.ndarray:
    """The recorded sharpness of some rows over the variance of their grey thumbnail (NaN: unknown).

    A contrast gain g multiplies both by g^2; a blur lowers the first far more than the second.
    """
    sharp = results.get("sharpness", results.get("blur"))
    if sharp is None:
        return np.full(len(rows), np.nan)
    from .verify import thumbnail_grey

    grey = thumbnail_grey(np.asarray(thumbs))[rows].reshape(len(rows), -1).astype(np.float64)
    variance = np.maximum(grey.var(axis=1), 1.0)
    return np.asarray(sharp, np.float64)[rows] / variance


def _keeper_class(results: dict, thumbs, sizes: np.ndarray) -> np.ndarray:
    """What the keeper rule puts before sharpness, as one value per row: intact, colour, pixels."""
    n = len(results["pathnames"])
    damaged = results.get("damaged")
    damaged = np.zeros(n, bool) if damaged is None else np.asarray(damaged, dtype=bool)
    grey = results.get("is_grey")
    if grey is None:
        from .verify import is_greyscale

        grey = is_greyscale(np.asarray(thumbs))
    pixels = sizes[:, 0].astype(np.int64) * sizes[:, 1]
    return pixels * 4 + 2 * damaged.astype(np.int64) + np.asarray(grey, dtype=bool).astype(np.int64)


def relation_texts(groups: VerifiedGroups, pathnames: list, file_sizes: list | None = None) -> list[list[str]]:
    """The relation of each member to its keeper, as text (``'keeper'`` for the keeper).

    ``'identical'`` (same bytes) replaces ``'same pixels'`` when both files
    have the same size and the same bytes (files that cannot be read stay ``'same
    pixels'``); crops read ``"cropped (NN% of the keeper's area)"``, or
    ``"uncropped (the keeper is NN% of its area)"`` when the keeper is the
    smaller view.

    Parameters
    ----------
    groups : VerifiedGroups
        From :func:`group_verified`.
    pathnames : list of str
        Path of every row.
    file_sizes : list of int, optional
        File size of every row (-1 unknown); without it no file is compared.
    """
    from .verify import REL_CROPPED, REL_SAME_PIXELS, RELATION_NAMES, relation_name

    plain = {code: name for code, name in RELATION_NAMES.items() if code not in (REL_CROPPED, REL_SAME_PIXELS)}
    out = []
    for rows, codes, areas, inside in zip(groups.groups, groups.relation, groups.area_fraction,
                                          groups.keeper_contains):
        texts = ["keeper"]
        keeper = int(rows[0])
        codes = codes.tolist()
        for k in range(1, len(codes)):
            code = codes[k]
            name = plain.get(code)
            if name is not None:  # most members: a name that depends on nothing else
                texts.append(name)
                continue
            row = int(rows[k])
            if code == REL_CROPPED and not inside[k]:
                texts.append(f"uncropped (the keeper is {int(round(100 * float(areas[k])))}% of its area)")
            elif (code == REL_SAME_PIXELS and file_sizes is not None and file_sizes[row] >= 0
                  and file_sizes[row] == file_sizes[keeper]
                  and _same_bytes(pathnames[row], pathnames[keeper])):
                texts.append("identical")
            else:
                texts.append(relation_name(code, float(areas[k])))
        out.append(texts)
    return out


def _same_bytes(path_a: str, path_b: str, block: int = 1 << 20) -> bool:
    """Whether two files hold the same bytes (False when either cannot be read).

    Read side by side and compared, which is several times cheaper than a
    digest of each (the sizes are known to be equal already).
    """
    try:
        with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
            while True:
                a, b = fa.read(block), fb.read(block)
                if a != b:
                    return False
                if not a:
                    return True
    except OSError:
        return False
