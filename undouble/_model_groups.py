"""Grouping storage of :class:`undouble.model.Undouble`: rank each group (keeper first) and put it into ``results``.

Plain functions of the model (its ``params``, ``results`` and the memo attributes ``_keeper_ranks``,
``_rank_memo``, ``_grey_rows``), moved out of :mod:`undouble.model` to keep it small; the behaviour is that of
:meth:`undouble.model.Undouble.group`.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ._logging import logger, progress
from .grouping import group_scores, split_at


def _row_labels(groups: list, n: int) -> np.ndarray:
    """The index of each row's group in ``groups`` (-1 for rows in none)."""
    labels = np.full(n, -1, np.int64)
    for k, g in enumerate(groups):
        labels[np.asarray(g, np.int64)] = k
    return labels


def store_groups(model, groups: list, threshold: int, mode: str, verified: Any,
                 return_dict: bool) -> dict[str, Any] | None:
    """Rank each group (keeper first) and put the groups into ``results``."""
    select_idx, select_scores = [], []
    select_relation, select_similarity = [], []
    texts = relation_texts_of(model, verified) if verified is not None else None
    # with verification, verified_groups_of made the row rank at the start of this same group() call
    row_rank = keeper_rank_of_rows(model, refresh=verified is None or getattr(model, "_row_rank", None) is None)
    lazy = row_rank is not None  # rankings with reasons: made when asked for
    model._keeper_ranks = []  # the memo of the verification rounds (model._rank_memo) is reused here
    if lazy and groups:  # one order of all rows: every group sorted by it at once
        select_idx, orders = _sorted_by_rank(groups, row_rank, keeper_first=verified is not None)
        if verified is not None:
            for k, order in enumerate(orders):
                select_relation.append(texts[k] if order is None else [texts[k][j] for j in order])
            select_similarity = _reordered(verified.similarity, select_idx, orders)
        groups = []
    for k, members in enumerate(progress(groups, desc="rank", unit="group")):
        members = np.asarray(members, dtype=np.int64)
        recorded = len(model._keeper_ranks)
        order = keeper_positions(model, members, record=not lazy)
        if verified is not None:  # the verified keeper (members[0]) stays first, the others by rank
            order = np.concatenate([[0], order[order != 0]]).astype(np.int64)
            if len(model._keeper_ranks) > recorded:
                keeper = model.results["pathnames"][members[0]]
                model._keeper_ranks[-1] = keeper_first(model._keeper_ranks[-1], keeper)
        ordered = members[order]
        select_idx.append(ordered)
        if verified is not None:
            select_relation.append([texts[k][j] for j in order])
            select_similarity.append(np.asarray(verified.similarity[k], np.float64)[order])
    select_scores = distances_to_keepers(model, select_idx)
    if lazy:
        model._keeper_ranks = LazyKeeperRanks(model, select_idx)
    model._rank_memo = None
    model._row_rank = None
    relations = (select_relation, select_similarity) if verified is not None else None
    return put_groups(model, select_idx, select_scores, relations, threshold, mode, verified, return_dict)


def _sorted_by_rank(groups: list, row_rank: np.ndarray, keeper_first: bool = False) -> tuple[list, list]:
    """Each group's rows sorted by ``row_rank`` (keeper first), and the permutation of each (None where
    the group was in that order already): ``keeper_positions`` of every group in one sort.

    ``keeper_first``: each group's first row (the keeper verified groups chose) stays first and only
    the others are sorted."""
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    flat = np.concatenate(groups).astype(np.int64)
    gid = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    starts = np.cumsum(sizes) - sizes
    not_head = np.ones(flat.size, bool)
    if keeper_first:
        not_head[starts] = False
    order = np.lexsort((row_rank[flat], not_head, gid))  # ranks are distinct: per group, that of argsort
    position = order - np.repeat(starts, sizes)
    ends = np.cumsum(sizes).tolist()
    moved = np.bincount(gid[order != np.arange(flat.size)], minlength=len(groups)) > 0
    positions = split_at(position, ends)
    return split_at(flat[order], ends), [p if m else None for p, m in zip(positions, moved.tolist())]


def _reordered(values: list, select_idx: list, orders: list) -> list:
    """``values[k]`` (float64) in the order ``orders[k]`` of :func:`_sorted_by_rank`, for every group."""
    sizes = [len(g) for g in select_idx]
    flat = np.concatenate([np.asarray(v, np.float64) for v in values])
    starts = np.cumsum(sizes) - np.asarray(sizes)
    take = np.concatenate([np.arange(n) if o is None else o for n, o in zip(sizes, orders)]) + np.repeat(starts, sizes)
    return split_at(flat[take], np.cumsum(sizes).tolist())


def store_robust_groups(model, groups: list, threshold: int, mode: str, verified: Any,
                        return_dict: bool) -> dict[str, Any] | None:
    """Robust mode: the normal ``groups`` joined by verified robust links, cut into stars around keepers
    where the container wins (:func:`undouble.robust_grouping.robust_groups`), put into ``results``."""
    from .robust_grouping import find_links, robust_groups, thumbs_and_sizes

    n = len(model.results["pathnames"])
    thumbs, sizes = thumbs_and_sizes(model.results)
    links = find_links(thumbs, sizes, model.results.get("img"), _row_labels(groups, n),
                       groups_are_copies=verified is not None)
    texts = similarity = area = None
    if verified is not None:
        texts, similarity, area = relation_texts_of(model, verified), verified.similarity, verified.area_fraction
    # with verification, verified_groups_of made the one order of all rows at the start of this group() call
    row_rank = keeper_rank_of_rows(model, refresh=verified is None or getattr(model, "_row_rank", None) is None)
    components: list[np.ndarray] = []  # the members of each joined component, in the order they are ranked
    model._keeper_ranks = []

    normal_keeper = {}  # row -> the keeper of its verified group (the default mode's choice)
    support = np.ones(n, np.int64)  # row -> members of its verified group
    if verified is not None:
        for g in groups:
            for row in np.asarray(g, np.int64).tolist():
                normal_keeper[row] = int(g[0])
            support[np.asarray(g, np.int64)] = len(g)
    tie_class = keeper_tie_class(model)

    def keeper_order(members: np.ndarray) -> np.ndarray:
        components.append(np.asarray(members, np.int64))
        # one order of all rows (files): the rankings with their reasons are made when asked for
        order = np.argsort(row_rank[members], kind="stable") if row_rank is not None else \
            keeper_positions(model, members, record=False)
        if normal_keeper:
            order = supported_first(order, members, tie_class, support)
        return verified_keepers_first(order, members, normal_keeper)

    made = robust_groups(groups, links, n, keeper_order, thumbs, sizes, texts, similarity, area)
    model._rank_memo = None
    model._row_rank = None
    select_idx, select_scores = [], []
    for group in made:
        select_idx.append(group.rows)
        select_scores.append(distances_to(model, group.rows[0], group.rows))
    if row_rank is not None:
        model._keeper_ranks = LazyKeeperRanks(model, select_idx, [components[g.component] for g in made])
    relations = ([g.relation for g in made], [g.similarity for g in made])
    return put_groups(model, select_idx, select_scores, relations, threshold, mode, verified, return_dict,
                            {"robust": True, "n_robust_links": len(links)})


def keeper_tie_class(model) -> np.ndarray:
    """Per row, one integer for what the keeper rule compares before sharpness (intact, colour with
    verification, pixels): rows of one class are ranked by sharpness, file size and path only."""
    res = model.results
    n = len(res["pathnames"])
    resolution = np.asarray(res["resolution"], dtype=np.int64).reshape(-1, 2)
    damaged = res.get("damaged")
    damaged = np.zeros(n, bool) if damaged is None else np.asarray(damaged, dtype=bool)
    grey = grey_flags(model, np.arange(n, dtype=np.int64))
    grey = np.zeros(n, bool) if grey is None else np.asarray(grey, dtype=bool)
    return resolution[:, 0] * resolution[:, 1] * 4 + grey.astype(np.int64) * 2 + damaged.astype(np.int64)


def supported_first(order: np.ndarray, members: np.ndarray, tie_class: np.ndarray, support: np.ndarray) -> np.ndarray:
    """``order`` (positions of ``members``, best first) with, among members the keeper rule tells apart by
    sharpness, file size or path only (equal ``tie_class``, consecutive in ``order``), those with more verified
    copies (``support``: members of the row's verified group) first, otherwise in their order.

    In robust mode a rotated or mirrored copy is a picture of its own, as sharp as the original and as large;
    the path or a re-encode's sharpness decided between them. The picture that more copies share upright is
    the one to keep."""
    order = np.asarray(order, np.int64)
    rows = np.asarray(members, np.int64)[order]
    cls = tie_class[rows]
    run = np.cumsum(np.r_[True, cls[1:] != cls[:-1]])
    return order[np.lexsort((np.arange(rows.size), -support[rows], run))]


def verified_keepers_first(order: np.ndarray, members: np.ndarray, normal_keeper: dict) -> np.ndarray:
    """``order`` (positions of ``members``, best first) with each verified group's keeper moved to the first
    of the places its group's members hold: in robust mode a component joins verified groups, and the ranking
    of the whole component (resolution, sharpness, size, path) would let an edited copy of a group (a
    re-encode, a watermark) pass the original that the verified grouping chose as the group's keeper."""
    if not normal_keeper:
        return order
    order = np.asarray(order, np.int64).copy()
    members = np.asarray(members, np.int64)
    rows = members[order]
    places: dict[int, list[int]] = {}
    for place, row in enumerate(rows.tolist()):
        keeper = normal_keeper.get(row)
        if keeper is not None:
            places.setdefault(keeper, []).append(place)
    for keeper, where in places.items():
        at = [p for p in where if int(rows[p]) == keeper]
        if not at or at[0] == where[0]:
            continue
        moved = [at[0]] + [p for p in where if p != at[0]]  # the keeper first, the others in their order
        order[where] = order[moved]
    return order


def put_groups(model, select_idx: list, select_scores: list, relations: tuple | None, threshold: int,
               mode: str, verified: Any, return_dict: bool,
               extra_stats: dict | None = None) -> dict[str, Any] | None:
    """Put ranked groups (keeper first) into ``results``: ``relations`` is (select_relation,
    select_similarity) or None."""
    pathnames = model.results["pathnames"]
    select_pathnames = [[pathnames[i] for i in g] for g in select_idx]
    n_grouped = int(sum(len(g) for g in select_idx))
    for key in ("select_relation", "select_similarity"):
        model.results.pop(key, None)
    if relations is not None:
        model.results["select_relation"], model.results["select_similarity"] = relations
    model.results.update({
        "select_pathnames": select_pathnames,
        "select_scores": select_scores,
        "select_idx": select_idx,
        "stats": {
            "n_images": len(pathnames),
            "n_groups": len(select_idx),
            "n_grouped_images": n_grouped,
            "n_duplicates": n_grouped - len(select_idx),
            "threshold": threshold,
            "method": model.params["method"],
            "hash_size": model.params["hash_size"],
            "mode": mode,
            "verify": verified is not None,
            **({} if verified is None else {"n_candidate_pairs": verified.n_candidates,
                                            "n_verified_pairs": verified.n_verified,
                                            "n_keeper_checks": verified.n_keeper_checks}),
            **(extra_stats or {}),
        },
    })
    logger.info("Number of groups with similar images detected: %d", len(select_idx))
    logger.info("[%d] groups are detected for [%d] images.", len(select_idx), n_grouped)
    return model.results if return_dict else None


def verified_groups_of(model, threshold: int, mode: str):
    """:func:`~undouble.grouping.verified_groups` of ``results``, or None when there are no thumbnails."""
    from .grouping import verified_groups

    model._rank_memo = {}  # keeper rankings of the rounds, reused by store_groups for the same sets
    model._grey_rows = None
    model._row_rank = None
    keeper_rank_of_rows(model, refresh=True)
    if mode != "components":
        logger.info("mode=%r is not used with verification: groups are built around verified keepers.", mode)
    return verified_groups(model.results, threshold,
                           lambda members: members[keeper_positions(model, members, record=False)],
                           keeper_rank=getattr(model, "_row_rank", None))


def relation_texts_of(model, verified: Any) -> list[list[str]]:
    """:func:`~undouble.grouping.relation_texts` of verified groups (files compared by size, then byte by byte)."""
    from .grouping import relation_texts

    stats = model.results.get("filestats") or {}
    sizes = [int(stats[p][0]) if p in stats else -1 for p in model.results["pathnames"]] if stats else None
    return relation_texts(verified, model.results["pathnames"], sizes)


def grey_flags(model, members: np.ndarray) -> np.ndarray | None:
    """Greyscale flags of some rows (used by the keeper rule with verification only), or None."""
    if not model.params.get("verify", True):
        return None
    grey = getattr(model, "_grey_rows", None)
    if grey is None:
        grey = model.results.get("is_grey")
        if grey is None and model.results.get("thumbs") is not None:
            from .verify import is_greyscale

            grey = is_greyscale(np.asarray(model.results["thumbs"]))
        if grey is None:
            return None
        grey = model._grey_rows = np.asarray(grey, bool)
    return grey[members]


def keeper_positions(model, members: np.ndarray, record: bool = True) -> np.ndarray:
    """Positions of ``members`` with the keeper first (see :mod:`undouble.keeper`)."""
    if model.results.get("source") != "files":
        res = model.results["resolution"][members]
        grey = grey_flags(model, members)
        grey = np.zeros(len(members), bool) if grey is None else grey
        return np.lexsort((members, -(res[:, 0] * res[:, 1]), grey))
    row_rank = getattr(model, "_row_rank", None)
    if row_rank is not None and not record:  # one total order of all rows: no per-group ranking needed
        return np.argsort(row_rank[members], kind="stable")
    memo = getattr(model, "_rank_memo", None)
    key = tuple(sorted(members.tolist())) if memo is not None else None
    ranked = memo.get(key) if memo is not None else None
    if ranked is None:
        ranked = rank_members(model, members)
        if memo is not None:
            memo[key] = ranked
    if record:
        model._keeper_ranks.append(ranked)
    position = {p: k for k, p in enumerate(model.results["pathnames"][i] for i in members)}
    return np.asarray([position[r.path] for r in ranked], dtype=np.int64)


def rank_members(model, members: Sequence[int], all_blur: bool = False, decode: bool = False) -> list:
    """:func:`undouble.keeper.rank_keepers` of some rows, from what import_data recorded.

    Resolution, file size and sharpness (measured on the canonical scale,
    so equal resolutions always compare at equal scale) come from
    ``results``: no file is opened unless ``decode`` is True (then an
    image whose sharpness is unknown is decoded and scored).
    """
    from .keeper import rank_keepers

    res = model.results
    paths = [res["pathnames"][i] for i in members]
    stats = res.get("filestats") or {}
    sizes = [stats[p][0] if p in stats else -1 for p in paths]
    blur, measured = res.get("sharpness", res.get("blur")), res.get("blur_pixels")
    damaged = res.get("damaged")
    grey = grey_flags(model, np.asarray(members, dtype=np.int64))
    return rank_keepers(paths, all_blur=all_blur, resolutions=[tuple(res["resolution"][i]) for i in members],
                        file_sizes=sizes, damaged=None if damaged is None else [bool(damaged[i]) for i in members],
                        is_grey=None if grey is None else grey.tolist(),
                        blur_scores=None if blur is None else [blur[i] for i in members],
                        blur_sizes=None if measured is None else [measured[i] for i in members],
                        decode=decode)


def keeper_rank_of_rows(model, refresh: bool = False) -> np.ndarray | None:
    """The keeper rule as one total order of all rows (``rank[i]``: lower is kept first), or None.

    :func:`undouble.keeper.rank_keepers` with ``decode=False`` on what the import
    recorded sorts each group by a key of the image alone (intact, colour with
    verification, pixels, sharpness, file size, path), so that one order of all
    rows, made once, ranks every group: ``members[argsort(rank[members])]`` is
    its ranking (the tests check it against ``rank_keepers``). None for images
    from an array (ranked by :func:`keeper_positions` itself). Kept in
    ``model._row_rank`` for the duration of one ``group()`` call.
    """
    if not refresh:
        return getattr(model, "_row_rank", None)
    res = model.results
    if res.get("source") != "files":
        model._row_rank = None
        return None
    paths = res["pathnames"]
    n = len(paths)
    stats = res.get("filestats") or {}
    sizes = np.fromiter((stats[p][0] if p in stats else -1 for p in paths), dtype=np.int64, count=n)
    resolution = np.asarray(res["resolution"], dtype=np.int64).reshape(-1, 2)
    pixels = resolution[:, 0] * resolution[:, 1]
    blur = res.get("sharpness", res.get("blur"))
    sharp = np.full(n, -np.inf) if blur is None else np.asarray(blur, dtype=np.float64).copy()
    sharp[np.isnan(sharp)] = -np.inf  # unknown sharpness ranks last among equal resolutions
    damaged = res.get("damaged")
    damaged = np.zeros(n, bool) if damaged is None else np.asarray(damaged, dtype=bool)
    grey = grey_flags(model, np.arange(n, dtype=np.int64))
    grey = np.zeros(n, bool) if grey is None else np.asarray(grey, dtype=bool)
    path_order = np.argsort(np.asarray(paths, dtype=object), kind="stable")  # plain string order, as rank_keepers
    path_rank = np.empty(n, np.int64)
    path_rank[path_order] = np.arange(n)
    order = np.lexsort((path_rank, -sizes, -sharp, -pixels, grey, damaged))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    model._row_rank = rank
    return rank


class LazyKeeperRanks(SequenceABC):
    """The :class:`~undouble.keeper.KeeperRank` list of each group, made from ``results`` when first read.

    ``group()`` orders the members by :func:`keeper_rank_of_rows`; the rankings
    with their reasons (shown by the selection window, the report and the
    plots) cost a Python object per image, so they are made per group on demand.
    With ``ranked_among`` (robust mode: per group, the rows of the joined
    component it was cut from), a group's members keep the ranks and reasons
    of their ranking among that component's rows, in the group's order.
    """

    def __init__(self, model, select_idx: list, ranked_among: list | None = None) -> None:
        self._model, self._rows = model, [np.asarray(g, np.int64) for g in select_idx]
        self._among = ranked_among
        self._made: dict[int, list] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, g):  # type: ignore[override]
        if isinstance(g, slice):
            return [self[k] for k in range(*g.indices(len(self)))]
        g = range(len(self))[g]
        if g not in self._made:
            rows = self._rows[g]
            if self._among is None:
                self._made[g] = keeper_first(rank_members(self._model, rows),
                                             self._model.results["pathnames"][rows[0]])
            else:  # robust mode: ranked among the members of the joined component, in the group's order
                by_path = {r.path: r for r in rank_members(self._model, self._among[g])}
                self._made[g] = [by_path[self._model.results["pathnames"][i]] for i in rows.tolist()]
        return self._made[g]


def keeper_first(ranked: list, keeper_path: str) -> list:
    """The keeper ranking ``ranked`` with ``keeper_path`` moved to rank 0 (a no-op where it is there).

    Verified grouping keeps, among the members the keeper rule ranks equal up to
    sharpness, the one most similar to the others
    (:func:`undouble.grouping.group_verified`), which the rule alone may rank
    lower; its reason then says so, and so does that of the image the rule put
    first.
    """
    if not ranked or ranked[0].path == keeper_path:
        return ranked
    at = next((k for k, r in enumerate(ranked) if r.path == keeper_path), None)
    if at is None:
        return ranked
    moved = [ranked[at], *ranked[:at], *ranked[at + 1:]]
    out = []
    for rank, r in enumerate(moved):
        if rank == 0:
            r = replace(r, reason="the most similar to the other members (verified), among those of the best resolution")
        elif r is ranked[0]:
            r = replace(r, reason=f"first by the keeper rule ({r.reason}), but less similar to the other members")
        out.append(replace(r, rank=rank))
    return out


def distances_to_keepers(model, select_idx: list) -> list:
    """:func:`distances_to` of every group (``select_idx``: keeper first), in one pass for plain hashes."""
    hashes = np.asarray(model.results["img_hash"])
    counts = model.results.get("hash_counts")
    single = counts is None or bool(np.all(np.asarray(counts) == 1))
    if not select_idx or not single or hashes.ndim != 2 or hashes.dtype != np.uint64:
        return [distances_to(model, g[0], g) for g in select_idx]
    rows = np.concatenate(select_idx).astype(np.int64)
    sizes = np.fromiter((len(g) for g in select_idx), dtype=np.int64, count=len(select_idx))
    keepers = np.repeat(np.asarray([g[0] for g in select_idx], np.int64), sizes)
    dist = np.bitwise_count(hashes[rows] ^ hashes[keepers]).sum(axis=1, dtype=np.int64)
    dtype = distances_to(model, select_idx[0][0], select_idx[0][:1]).dtype  # the dtype group_scores gives
    return split_at(dist.astype(dtype), np.cumsum(sizes).tolist())


def distances_to(model, keeper: int, members: np.ndarray) -> np.ndarray:
    nbits = model.results["hash_nbits"]
    return group_scores(model.results["img_hash"], members, keeper, counts=model.results["hash_counts"],
                        words_per_segment=(nbits + 63) // 64, nbits=nbits)

# ------------------------------------------------------------------
def ranks_with_relations(model) -> list | None:
    """The keeper rankings of group(), each with its relation to the keeper (the selection window shows it)."""
    ranks = getattr(model, "_keeper_ranks", None)
    if ranks is None or len(ranks) != len(model.results["select_pathnames"]):
        return None
    relations = model.results.get("select_relation")
    if relations is None:
        return ranks
    out = []
    for group_ranks, paths, rel in zip(ranks, model.results["select_pathnames"], relations):
        by_path = dict(zip(paths, rel))
        out.append([replace(r, relation=by_path.get(r.path, "")) for r in group_ranks])
    return out
