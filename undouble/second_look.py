"""The second look of verified grouping: more pairs for images that verification left alone.

A perceptual hash sees the whole frame, so a crop is often farther in hash from
its original than the threshold, while both may be close to other shots of the
same scene. After the candidate pairs are verified, every image left without a
verified link (an *orphan*) gets more searches (:func:`second_look_pairs`):

* :func:`crop_second_look`: the images two candidate links away whose original
  size could contain it;
* :func:`window_crop_candidates`: the images one of whose inner windows (the
  frame less 3 to 7% on each side) has a DCT hash close to the orphan's whole
  thumbnail, again where the sizes allow a crop;
* :func:`near_container_candidates`, for an image in no candidate pair at all:
  the images whose hash lies within 1.6 times the threshold and whose size could
  contain it;
* :func:`window_container_candidates`, the other way round: an orphan that
  may be the *original* of crops that were grouped without it (two crops of a
  photo are often closer in hash to each other than to it), where one of the
  orphan's inner windows hashes close to a grouped image that lies inside no
  verified partner (:func:`uncontained_rows`).

The candidates of all four are verified here and each crop keeps its best
container only, and only when it is clearly the best (a crop of one burst shot
can also fit inside its neighbour shot; the true original fits best, and where
two fit about as well the crop stays where it was).

What this returns is verified again by :func:`undouble.grouping.group_verified`
and joins the verified links.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

#: Inner windows of the window search, as fractions of each side (2 x 2 windows).
CROP_WINDOW_INTERVALS = ((0.03, 0.93), (0.07, 0.97))
#: Largest distance between a window's hash and an orphan's whole-frame hash (of 64 bits).
CROP_WINDOW_THRESHOLD = 8
#: Rows of verification thumbnails whose windows are hashed per kernel call.
WINDOW_BLOCK_ROWS = 2048
#: An orphan whose best container of another group comes closer than this in similarity to its best
#: container keeps neither. On the 3,000-file 12-shots-per-scene cut, 6 of 73 crops joined the wrong
#: shot at a margin of 0.02, none at 0.1 (4 right ones were left alone); no crop was lost on the
#: corpora with fewer shots per scene.
CROP_AMBIGUITY = 0.1
#: Whether the second look also runs :func:`window_container_candidates` (the tests turn it off to
#: show what it adds).
REVERSE_WINDOWS = True
#: Whether the second look also proposes, to an image without any candidate pair, every image whose
#: hash lies within ``NEAR_CONTAINER_FACTOR`` x the threshold and whose size could contain it
#: (:func:`near_container_candidates`; the tests turn it off to show what it adds).
NEAR_CONTAINERS = True
#: The radius of that search as a multiple of the grouping threshold (16 bits at threshold 10). At twice
#: the threshold it found no more crops on our corpora and proposed 6 times as many pairs at 20,000 photos.
NEAR_CONTAINER_FACTOR = 1.6


def could_be_a_crop(sizes: np.ndarray, inner: np.ndarray, outer: np.ndarray, min_area: float) -> np.ndarray:
    """Whether each ``inner`` row's original size fits in its ``outer`` row's as a crop.

    At least as wide and as high, not the same size, and at least ``min_area`` of
    its area; rows of unknown size (0) never fit.
    """
    sz = np.asarray(sizes, np.int64).reshape(-1, 2)
    wi, hi, wo, ho = sz[inner, 0], sz[inner, 1], sz[outer, 0], sz[outer, 1]
    return (wi > 0) & (hi > 0) & (wi <= wo) & (hi <= ho) & ((wi < wo) | (hi < ho)) & (wi * hi >= min_area * wo * ho)


def crop_second_look(pair_i: np.ndarray, pair_j: np.ndarray, ok: np.ndarray, sizes: np.ndarray,
                     distance: Callable[[np.ndarray, np.ndarray], np.ndarray], max_distance: int,
                     min_area: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (orphan, container) for a second verification, two candidate links apart.

    An *orphan* is a row of a candidate pair with no verified link. It is
    proposed with every row ``z`` two candidate links away (orphan - y - z)
    whose original size could contain it as a crop: at least as wide and as
    high, not the same size, the orphan's area at least ``min_area`` of
    ``z``'s, and their hash distance at most ``max_distance``.

    Parameters
    ----------
    pair_i, pair_j : numpy.ndarray of int
        The candidate pairs (each once, any orientation).
    ok : numpy.ndarray of bool
        Their verdicts.
    sizes : numpy.ndarray
        ``(N, 2)`` original (width, height) of each row (0: unknown, never proposed).
    distance : callable
        ``distance(a, b)`` -> hash distance of each pair of rows.
    max_distance : int
        Largest hash distance of a proposed pair.
    min_area : float
        Smallest area of the orphan as a fraction of the container's.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(orphan, container)`` rows, each pair once, none of them a candidate pair.
    """
    a = np.asarray(pair_i, np.int64)
    b = np.asarray(pair_j, np.int64)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if a.size == 0:
        return empty
    n = int(max(a.max(), b.max())) + 1
    linked = np.zeros(n, bool)
    linked[a[ok]] = True
    linked[b[ok]] = True
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    start = np.searchsorted(src, np.arange(n + 1))
    degree = np.diff(start)
    first = ~linked[src]  # edges orphan -> y
    x, y = src[first], dst[first]
    if x.size == 0:
        return empty
    reps = degree[y]
    x2 = np.repeat(x, reps)
    offsets = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    z = dst[np.repeat(start[y], reps) + offsets]
    keep = z != x2
    x2, z = x2[keep], z[keep]
    fits = could_be_a_crop(sizes, x2, z, min_area)
    x2, z = x2[fits], z[fits]
    if x2.size == 0:
        return empty
    keys = np.unique(x2 * n + z)
    x2, z = keys // n, keys % n
    known = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    fresh = ~np.isin(np.minimum(x2, z) * n + np.maximum(x2, z), known)
    x2, z = x2[fresh], z[fresh]
    near = np.asarray(distance(x2, z)) <= max_distance
    return x2[near], z[near]


def window_crop_candidates(thumbs: np.ndarray, sizes: np.ndarray, orphans: np.ndarray,
                           threshold: int = CROP_WINDOW_THRESHOLD, min_area: float = 0.6
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (container, orphan) where an inner window of the container hashes close to the orphan.

    Parameters
    ----------
    thumbs : numpy.ndarray
        ``(N, B)`` verification records (:func:`undouble.verify.make_thumbnail`).
    sizes : numpy.ndarray
        ``(N, 2)`` original (width, height) of each row.
    orphans : numpy.ndarray of int
        The rows to find containers for.
    threshold : int
        Largest distance between a window hash and an orphan's hash.
    min_area : float
        Smallest area of the orphan as a fraction of the container's.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(container, orphan)`` rows, each pair once; the container at least as
        wide and as high as the orphan and not the same size.
    """
    from . import robust as _robust
    from ._kernels import robust as _rk
    from .verify import thumbnail_grey

    orphans = np.unique(np.asarray(orphans, np.int64))
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if orphans.size == 0 or len(thumbs) < 2:
        return empty
    grey = thumbnail_grey(thumbs)  # a view of the records
    n = grey.shape[0]
    whole = np.zeros((orphans.size, 1), np.uint64)
    full = np.array([[0.0, 1.0]])
    _rk.grid_window_hashes(np.ascontiguousarray(grey[orphans]), full, full, 8, whole)
    inner = np.asarray(CROP_WINDOW_INTERVALS, np.float64)
    windows = np.zeros((n, inner.shape[0] ** 2), np.uint64)
    # the kernel wants contiguous planes: copied a block of rows at a time, the same few MB of memory reused
    # (a copy of every plane at once is 46 MB of fresh pages at 20,000 photos, ~0.1 s of page faults)
    for start in range(0, n, WINDOW_BLOCK_ROWS):
        stop = min(n, start + WINDOW_BLOCK_ROWS)
        _rk.grid_window_hashes(np.ascontiguousarray(grey[start:stop]), inner, inner, 8, windows[start:stop])
    owners = np.repeat(np.arange(n, dtype=np.int64), windows.shape[1])
    # the orphans (few) query an index of every window (many): a query's probes cost more than an index
    # entry. search_pairs leaves out a query's own row; here the index rows are window positions, not
    # rows, so nothing is left out there (-1) and an orphan's own windows are dropped below
    q, j, _ = _robust.search_pairs(whole.reshape(-1), np.full(orphans.size, -1, np.int64), windows.reshape(-1),
                                   int(threshold), radius=max(0, min(2, (int(threshold) + 1) // 4)))
    container, orphan = owners[j], orphans[q]
    keep = container != orphan
    container, orphan = container[keep], orphan[keep]
    fits = could_be_a_crop(sizes, orphan, container, min_area)
    keys = np.unique(container[fits] * n + orphan[fits])
    return keys // n, keys % n


def window_container_candidates(thumbs: np.ndarray, sizes: np.ndarray, orphans: np.ndarray, crops: np.ndarray,
                                threshold: int = CROP_WINDOW_THRESHOLD, min_area: float = 0.6
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (orphan, crop) where an inner window of the orphan hashes close to a possible crop of it.

    The other way round from :func:`window_crop_candidates`: an original left
    alone while its crops were grouped among themselves (a crop's hash is often
    farther from its original than from another crop of it). Each orphan's 4
    inner windows query the whole-thumbnail hashes of ``crops``.

    Parameters
    ----------
    thumbs, sizes : numpy.ndarray
        Verification records and original (width, height) of every row.
    orphans : numpy.ndarray of int
        The rows that may contain a crop.
    crops : numpy.ndarray of int
        The rows that may be a crop of an orphan.
    threshold, min_area
        As in :func:`window_crop_candidates`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(orphan, crop)`` rows, each pair once, the orphan at least as wide and
        as high as the crop and not the same size.
    """
    from . import robust as _robust
    from ._kernels import robust as _rk
    from .verify import thumbnail_grey

    orphans = np.unique(np.asarray(orphans, np.int64))
    crops = np.unique(np.asarray(crops, np.int64))
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if orphans.size == 0 or crops.size == 0:
        return empty
    grey = thumbnail_grey(thumbs)
    whole = np.zeros((crops.size, 1), np.uint64)
    full = np.array([[0.0, 1.0]])
    _rk.grid_window_hashes(np.ascontiguousarray(grey[crops]), full, full, 8, whole)
    inner = np.asarray(CROP_WINDOW_INTERVALS, np.float64)
    windows = np.zeros((orphans.size, inner.shape[0] ** 2), np.uint64)
    _rk.grid_window_hashes(np.ascontiguousarray(grey[orphans]), inner, inner, 8, windows)
    q, j, _ = _robust.search_pairs(windows.reshape(-1), np.full(windows.size, -1, np.int64), whole.reshape(-1),
                                   int(threshold), radius=max(0, min(2, (int(threshold) + 1) // 4)))
    orphan, crop = orphans[q // windows.shape[1]], crops[j]
    keep = orphan != crop
    orphan, crop = orphan[keep], crop[keep]
    fits = could_be_a_crop(sizes, crop, orphan, min_area)
    n = len(thumbs)
    keys = np.unique(orphan[fits] * n + crop[fits])
    return keys // n, keys % n


def near_container_candidates(hashes: np.ndarray, sizes: np.ndarray, orphans: np.ndarray, max_distance: int,
                              min_distance: int = 0, min_area: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (container, orphan): the rows within ``min_distance..max_distance`` bits of an orphan's hash
    whose size could contain it as a crop.

    One pass of XOR-popcounts per orphan over all hashes
    (:func:`undouble.distance.query_neighbours`): meant for the few images that
    have no candidate pair at all (687 of 20,000 photos, 0.03 s).

    Parameters
    ----------
    hashes : numpy.ndarray of uint64
        ``(N, words)`` hashes of every row.
    sizes : numpy.ndarray
        ``(N, 2)`` original (width, height) of each row.
    orphans : numpy.ndarray of int
        The rows to find containers for.
    max_distance, min_distance : int
        The range of hash distances searched (the candidate pairs, up to the
        threshold, were verified already).
    min_area : float
        Smallest area of the orphan as a fraction of the container's.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(container, orphan)`` rows.
    """
    from .distance import query_neighbours

    orphans = np.unique(np.asarray(orphans, np.int64))
    if orphans.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    found = query_neighbours(np.ascontiguousarray(hashes[orphans]), hashes, int(max_distance))
    container = np.concatenate([j for j, _ in found]).astype(np.int64)
    orphan = np.repeat(orphans, [j.size for j, _ in found])
    far = np.concatenate([d for _, d in found]) >= min_distance
    fits = far & could_be_a_crop(sizes, orphan, container, min_area)
    return container[fits], orphan[fits]


def uncontained_rows(pair_i: np.ndarray, pair_j: np.ndarray, ok: np.ndarray, sizes: np.ndarray,
                     min_area: float = 0.6) -> np.ndarray:
    """Rows with a verified link but no verified partner whose size could contain them as a crop."""
    a = np.asarray(pair_i, np.int64)[ok]
    b = np.asarray(pair_j, np.int64)[ok]
    n = len(sizes)
    linked = np.zeros(n, bool)
    linked[a] = True
    linked[b] = True
    inside = np.zeros(n, bool)
    inside[a[could_be_a_crop(sizes, a, b, min_area)]] = True
    inside[b[could_be_a_crop(sizes, b, a, min_area)]] = True
    return np.flatnonzero(linked & ~inside)


def best_containers(container: np.ndarray, orphan: np.ndarray, ok: np.ndarray, similarity: np.ndarray,
                    canonical: np.ndarray, margin: float = CROP_AMBIGUITY,
                    component: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each orphan, its verified container of highest similarity, when it is clear.

    An orphan whose best verified container in another group comes within
    ``margin`` of the best (in similarity) is left alone: two shots of a burst
    can both contain a crop of one of them, and a coin flip would group it with
    the wrong one. Containers of one group (``component``: a label per row,
    the verified components; default: every row its own) are no such doubt: a
    crop fits its original and the original's copies equally well, and
    joining any of them puts it in the same group. Ties of similarity with a
    margin of 0 go to the lowest ``canonical`` rank.
    """
    container, orphan = np.asarray(container, np.int64)[ok], np.asarray(orphan, np.int64)[ok]
    sim = np.asarray(similarity, np.float64)[ok]
    if container.size == 0:
        return container, orphan
    label = np.arange(len(canonical), dtype=np.int64) if component is None else np.asarray(component, np.int64)
    order = np.lexsort((np.asarray(canonical)[container], -sim, orphan))
    o_sorted, s_sorted, c_sorted = orphan[order], sim[order], label[container[order]]
    first = np.ones(order.size, bool)
    first[1:] = o_sorted[1:] != o_sorted[:-1]
    run = np.cumsum(first) - 1  # which orphan's run each sorted entry is in
    best_label = c_sorted[first][run]
    # the best similarity of each orphan outside the best container's group (-inf: none)
    runner = np.full(int(first.sum()), -np.inf)
    other = c_sorted != best_label
    np.maximum.at(runner, run[other], s_sorted[other])
    clear = s_sorted[first] - runner > margin
    pick = order[first][clear]
    return container[pick], orphan[pick]


def _verified_components(n: int, pair_i: np.ndarray, pair_j: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """A component label per row: the connected components of the verified pairs."""
    from ._kernels import unionfind as _uf

    ok = np.asarray(ok, bool)
    parent = np.arange(n, dtype=np.int64)
    _uf.union_pairs(parent, np.asarray(pair_i, np.int64)[ok], np.asarray(pair_j, np.int64)[ok])
    return _uf.resolve(parent)


def second_look_pairs(results: dict, threshold: int, pair_i: np.ndarray, pair_j: np.ndarray, ok: np.ndarray,
                      thumbs: np.ndarray, sizes: np.ndarray, canonical: np.ndarray,
                      verify: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The second look of :func:`undouble.grouping.verified_groups` (see the module docstring).

    Parameters
    ----------
    results : dict
        ``Undouble.results`` (``img_hash``, ``hash_counts``).
    threshold : int
        The grouping's hash threshold: the two-hop search goes to twice it, the
        window search to ``min(CROP_WINDOW_THRESHOLD, threshold)``, and 0 (identical
        hashes only) turns the second look off.
    pair_i, pair_j, ok : numpy.ndarray
        The candidate pairs and their verdicts.
    thumbs, sizes : numpy.ndarray
        Verification records and original sizes of every row.
    canonical : numpy.ndarray
        An order-independent rank of each row (ties between containers).
    verify : callable, optional
        ``verify(a, b) -> VerifyResult`` (default :func:`undouble.verify.verify_pairs` on ``thumbs``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Pairs to verify and link.
    """
    from .verify import verify_pairs

    if int(threshold) <= 0:  # identical hashes only, as asked: no look beyond them
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if verify is None:
        def verify(a, b):
            return verify_pairs(thumbs, sizes, a, b)
    n = len(thumbs)
    found_c, found_o = [], []  # (container, orphan) candidates of both searches
    hashes, counts = results["img_hash"], results.get("hash_counts")
    single = counts is None or bool(np.all(np.asarray(counts) == 1))  # multi-segment hashes find crops themselves
    if single:
        h = np.asarray(hashes)
        h = h.reshape(h.shape[0], -1)
        x, z = crop_second_look(pair_i, pair_j, ok, sizes,
                                lambda p, q: np.bitwise_count(h[p] ^ h[q]).sum(axis=1, dtype=np.int64),
                                2 * int(threshold))
        found_c.append(z)
        found_o.append(x)
    linked = np.zeros(n, bool)
    linked[np.asarray(pair_i)[ok]] = True
    linked[np.asarray(pair_j)[ok]] = True
    orphans = np.flatnonzero(~linked)
    if NEAR_CONTAINERS and single:
        # an image in no candidate pair at all (a crop farther in hash than the threshold from everything)
        alone = np.ones(n, bool)
        alone[np.asarray(pair_i, np.int64)] = False
        alone[np.asarray(pair_j, np.int64)] = False
        container, orphan = near_container_candidates(np.asarray(hashes).reshape(n, -1), sizes, np.flatnonzero(alone),
                                                      int(NEAR_CONTAINER_FACTOR * int(threshold)),
                                                      min_distance=int(threshold) + 1)
        found_c.append(container)
        found_o.append(orphan)
    container, orphan = window_crop_candidates(thumbs, sizes, orphans,
                                               threshold=min(CROP_WINDOW_THRESHOLD, int(threshold)))
    found_c.append(container)
    found_o.append(orphan)
    if REVERSE_WINDOWS:
        container, crop = window_container_candidates(thumbs, sizes, orphans,
                                                      uncontained_rows(pair_i, pair_j, ok, sizes),
                                                      threshold=min(CROP_WINDOW_THRESHOLD, int(threshold)))
        found_c.append(container)
        found_o.append(crop)
    keys = np.unique(np.concatenate(found_c).astype(np.int64) * n + np.concatenate(found_o).astype(np.int64))
    container, orphan = keys // n, keys % n
    a_out, b_out = [], []
    if container.size:
        got = verify(container, orphan)
        c, o = best_containers(container, orphan, np.asarray(got.ok, bool), got.similarity, canonical,
                               component=_verified_components(n, pair_i, pair_j, ok))
        a_out.append(c)
        b_out.append(o)
    if not a_out:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(a_out).astype(np.int64), np.concatenate(b_out).astype(np.int64)
