"""Robust mode's groups on top of the normal (verified or hash-only) groups.

:func:`robust_groups` joins the normal groups by the verified robust links of
:func:`undouble.robust.find_robust_links` (less the containers much worse than
an image's best one, :func:`prune_ambiguous`, the framed links that hold
another photo much worse than a frame's own, :func:`prune_other_photos_of_a_frame`,
and the window links that would pull a crop the normal grouping verified inside
its own keeper into another photo, :func:`keep_placed_crops`), cuts each joined component into
groups grown from keepers where the container wins (:func:`split_by_keeper`:
at most :data:`MAX_HOPS` robust links from the keeper, never through a region
two photos share), and names each member's relation to its keeper:

1. a direct robust link to the keeper gives ``'rotated 90'``, ``'mirrored'``,
   ``"cropped (NN% of the keeper's area)"``, ``'in a larger image'``, ...;
2. a member of the keeper's verified group, when that group's keeper is still
   the keeper, keeps its verified relation (``'resized'``, ``'identical'``, ...);
3. anything else (the keeper changed because a container won, or the member
   came in through another member) is verified against the keeper
   directly on the thumbnails; when that check fails the member is a copy of
   another member of the group, and its text says so
   (``'rotated 90 (of another member)'``, ``'resized (of another member)'``;
   ``'similar hash'`` without verification).

Kept apart from :mod:`undouble.robust` (search and verification) and
:mod:`undouble.model` (the ``Undouble`` class) so that both stay small.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import verify as _v
from ._logging import logger
from .robust import RobustLinks, _empty_links, find_robust_links, framed_boxes, group_keys, link_relation

#: Relation of a member of a hash-only group (no verification) to its keeper.
HASH_ONLY_RELATION = "similar hash"


def merge_groups(groups: list[np.ndarray], links: RobustLinks, n: int) -> list[np.ndarray]:
    """Groups joined by the robust links: connected components of both (order-independent).

    Parameters
    ----------
    groups : list of np.ndarray
        Groups of row indices from the normal search.
    links : RobustLinks
        Verified robust links.
    n : int
        Number of images.

    Returns
    -------
    list of np.ndarray
        Groups of two or more rows, ascending inside, ordered by their smallest row.
    """
    from ._kernels import unionfind as _uf
    from .grouping import groups_from_labels

    parent = np.arange(n, dtype=np.int64)
    groups = [np.asarray(g, np.int64).reshape(-1) for g in groups]
    # each group as a chain of pairs, and the links: one union pass over all of them
    a = np.concatenate([g[:-1] for g in groups] + [np.asarray(links.a, np.int64).reshape(-1)])
    b = np.concatenate([g[1:] for g in groups] + [np.asarray(links.b, np.int64).reshape(-1)])
    if a.size:
        _uf.union_pairs(parent, a, b)
    return groups_from_labels(_uf.resolve(parent))


def containment(members: np.ndarray, links: RobustLinks) -> tuple[set[int], set[int]]:
    """``(containers, contained)``: rows of ``members`` that contain / are contained by another member
    (verified window links between members)."""
    a, b, c = (np.asarray(x, np.int64) for x in (links.a, links.b, links.container))
    members = np.unique(np.asarray(members, np.int64))
    window = np.flatnonzero((c >= 0) & np.isin(a, members) & np.isin(b, members))
    c = c[window]
    return set(c.tolist()), set(np.where(c == a[window], b[window], a[window]).tolist())


def _inside_links(members: np.ndarray, links: RobustLinks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, pos_a, pos_b)``: the indices (ascending) of the links with both ends in ``members`` (distinct
    rows), and the positions of their ends ``a`` and ``b`` in ``members``."""
    members = np.asarray(members, np.int64).reshape(-1)
    if not len(links) or not members.size:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    by_row = np.argsort(members, kind="stable")
    sorted_rows = members[by_row]
    at_a = np.minimum(np.searchsorted(sorted_rows, links.a), members.size - 1)
    at_b = np.minimum(np.searchsorted(sorted_rows, links.b), members.size - 1)
    k = np.flatnonzero((sorted_rows[at_a] == links.a) & (sorted_rows[at_b] == links.b))
    return k, by_row[at_a[k]], by_row[at_b[k]]


def _holders(members: np.ndarray, links: RobustLinks, k: np.ndarray, pos_a: np.ndarray,
             pos_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the links ``k`` between ``members`` (ends at positions ``pos_a``, ``pos_b``): the positions of the
    container and of the contained image of each window link (the container is one of the two ends)."""
    c = np.asarray(links.container, np.int64)[k]
    window = c >= 0
    pos_a, pos_b = pos_a[window], pos_b[window]
    a_holds = c[window] == members[pos_a]
    return np.where(a_holds, pos_a, pos_b), np.where(a_holds, pos_b, pos_a)


def _keeper_position(free: np.ndarray, holder: np.ndarray, held: np.ndarray) -> int:
    """The keeper among the ``free`` positions (best ranked first) under the window links ``holder`` contains
    ``held`` (positions): the first free one that contains a free one and is contained by none, else the first
    contained by none, else the first."""
    between = free[holder] & free[held]
    is_container = np.zeros(free.size, bool)
    is_contained = np.zeros(free.size, bool)
    is_container[holder[between]] = True
    is_contained[held[between]] = True
    for wanted in (free & is_container & ~is_contained, free & ~is_contained, free):
        hit = np.flatnonzero(wanted)
        if hit.size:
            return int(hit[0])
    raise ValueError("no free position left")


def container_first(ordered: np.ndarray, links: RobustLinks) -> np.ndarray:
    """The keeper rule of robust mode: the container wins.

    ``ordered`` is the group in the normal keeper order (best first). The
    keeper becomes the best-ranked member that contains another member and is
    contained by none; failing that, the best-ranked member contained by none.
    The others keep their order.
    """
    ordered = np.asarray(ordered, np.int64).reshape(-1)
    if not ordered.size:
        return ordered
    holder, held = _holders(ordered, links, *_inside_links(ordered, links))
    choice = _keeper_position(np.ones(ordered.size, bool), holder, held)
    if not choice:  # already first, or every member contained in another (near-full crops): keep the ranking
        return ordered
    return np.concatenate([ordered[choice:choice + 1], ordered[:choice], ordered[choice + 1:]]).astype(np.int64)


def member_relations(ordered: np.ndarray, links: RobustLinks) -> list[str | None]:
    """Relation of each member to the keeper ``ordered[0]`` from a direct robust link, else None.

    The keeper's own entry is None too.
    """
    keeper = int(ordered[0])
    by_pair = {}
    for k in range(len(links)):
        by_pair[(int(links.a[k]), int(links.b[k]))] = k
        by_pair[(int(links.b[k]), int(links.a[k]))] = k
    out: list[str | None] = [None]
    for row in ordered[1:]:
        k = by_pair.get((keeper, int(row)))
        if k is None:
            out.append(None)
            continue
        code, area = link_relation(links, k, int(row), keeper)
        out.append(_v.relation_name(code, area))
    return out


#: A container whose link to a contained image is this much less similar than that image's best container is
#: dropped (:func:`prune_ambiguous`).
AMBIGUOUS_MARGIN = 0.15


def prune_ambiguous(links: RobustLinks, margin: float = AMBIGUOUS_MARGIN) -> RobustLinks:
    """The links without the containers that hold an image much worse than its best container does.

    A region that two different photos share (a crop of one shot of a scene
    that lies inside another shot too, or a part of one base photo in two
    scenes) is linked to both; its own photo holds it with a clearly higher
    similarity when the other differs by more than noise. For each contained
    image, the container links with a similarity more than ``margin`` under
    its best container link are left out; full-frame links are kept.
    """
    if not len(links):
        return links
    contained = np.where(links.container == links.a, links.b, links.a)
    is_window = links.container >= 0
    similarity = np.asarray(links.similarity, np.float64)
    rows, which = np.unique(contained[is_window], return_inverse=True)
    best = np.zeros(rows.size)  # each contained row's best container link (at least 0)
    np.maximum.at(best, which.reshape(-1), similarity[is_window])
    best_of_link = np.zeros(len(links))
    best_of_link[is_window] = best[which.reshape(-1)]
    keep = ~is_window | (similarity >= best_of_link - margin)
    framed = None if links.framed is None else links.framed[keep]
    return RobustLinks(*(getattr(links, f)[keep] for f in ("a", "b", "orientation", "relation", "similarity",
                                                            "area_fraction", "container")), framed)


#: Framed links of one container whose areas (fractions of the container) differ by less than this factor are
#: taken to hold the same region of it (:func:`prune_other_photos_of_a_frame`).
FRAME_REGION_AREA_RATIO = 1.25


def prune_other_photos_of_a_frame(links: RobustLinks, known_groups: np.ndarray,
                                  margin: float = AMBIGUOUS_MARGIN) -> RobustLinks:
    """The links without the framed links that hold another photo in a frame much worse than its own photo.

    A letterbox or a screenshot frames one photo. Another shot of the same scene
    may verify in that frame too, at a lower similarity (the framed photo is
    small, so the part where the shots differ is a few pixels): for each
    container, a framed link more than ``margin`` under the container's best
    framed link over about the same region (areas within
    :data:`FRAME_REGION_AREA_RATIO`) is left out, unless its contained image is
    in the same normal group as the best one's (``known_groups``: a label per
    row, -1 for none), a verified copy of the framed photo.
    """
    if not len(links) or links.framed is None or not np.any(links.framed):
        return links
    known_groups = np.asarray(known_groups, np.int64)
    framed = np.flatnonzero(np.asarray(links.framed, bool) & (links.container >= 0))
    contained = np.where(links.container == links.a, links.b, links.a)
    group = group_keys(known_groups, contained)
    similarity = np.asarray(links.similarity, np.float64)
    area = np.asarray(links.area_fraction, np.float64)
    keep = np.ones(len(links), bool)
    for container in np.unique(links.container[framed]):
        mine = framed[links.container[framed] == container]
        for k in mine:
            same_region = mine[np.abs(np.log(area[mine] / max(area[k], 1e-9))) <= np.log(FRAME_REGION_AREA_RATIO)]
            best = same_region[np.argmax(similarity[same_region])]
            if similarity[k] < similarity[best] - margin and group[k] != group[best]:
                keep[k] = False
    return RobustLinks(*(getattr(links, f)[keep] for f in ("a", "b", "orientation", "relation", "similarity",
                                                            "area_fraction", "container", "framed")))


def keep_placed_crops(links: RobustLinks, known_groups: np.ndarray, placed: np.ndarray) -> RobustLinks:
    """The links without the window links that would pull a placed crop into another photo.

    A crop of one shot of a burst often lies inside the next shot too, when it
    cut away the part where the shots differ, and verifies there as well as in
    its own shot. When the normal grouping already verified the crop inside
    its own keeper (``placed[row]``), a window link from the crop to a
    container of another normal group (``known_groups``, a label per row, -1
    for none) would join the two photos through what they share, so it is
    left out: the crop stays with the photo it was verified in, as in the
    normal mode. Orientation links and framed links (a letterbox or
    screenshot of the crop) are kept, and so are the links of crops the normal
    grouping left alone.
    """
    if not len(links):
        return links
    known_groups = np.asarray(known_groups, np.int64)
    window = links.container >= 0
    if links.framed is not None:
        window &= ~links.framed
    contained = np.where(links.container == links.a, links.b, links.a)
    container = np.where(links.container == links.a, links.a, links.b)
    other_group = (known_groups[container] < 0) | (known_groups[container] != known_groups[contained])
    drop = window & np.asarray(placed, bool)[contained] & other_group
    if not drop.any():
        return links
    keep = ~drop
    framed = None if links.framed is None else links.framed[keep]
    return RobustLinks(*(getattr(links, f)[keep] for f in ("a", "b", "orientation", "relation", "similarity",
                                                            "area_fraction", "container")), framed)


#: :func:`framed_by_keeper`: largest ratio between a crop's area fraction and the area of a framed box of its
#: keeper (either way) for the keeper to count as a frame around it.
FRAMED_AREA_RATIO = 1.15


def framed_by_keeper(groups: list, base_area: list, placed: np.ndarray, thumbs: np.ndarray) -> np.ndarray:
    """Rows whose normal group's keeper (its first row) is only a frame around them: a letterbox or a
    screenshot of that row, not a photo it was cut from.

    The normal verifier calls the photo inside a letterbox a crop of the letterbox. Such a row is no crop
    that :func:`keep_placed_crops` must keep with its photo: the largest framed box of its keeper
    (:func:`undouble.robust.framed_boxes`: straight edges, flat outside; the smaller ones cut into the
    photo) has the row's area fraction (``base_area``, within :data:`FRAMED_AREA_RATIO`). Only the keepers
    of ``placed`` rows are looked at.
    """
    placed = np.asarray(placed, bool)
    out = np.zeros(placed.size, bool)
    keepers, members, areas = [], [], []
    for g, area in zip(groups, base_area):
        g = np.asarray(g, np.int64)
        inside = placed[g]
        inside[0] = False
        if inside.any():
            keepers.append(int(g[0]))
            members.append(g[inside])
            areas.append(np.asarray(area, np.float64)[inside])
    if not keepers:
        return out
    boxes = framed_boxes(np.asarray(thumbs, np.uint8)[np.asarray(keepers)])
    box_area = (boxes[:, :, 2] - boxes[:, :, 0]) * (boxes[:, :, 3] - boxes[:, :, 1])  # NaN where unused
    for k, (rows, area) in enumerate(zip(members, areas)):
        got = box_area[k][box_area[k] > 0]  # NaN rows compare False
        if got.size:  # the largest framed box: the whole content of a frame (smaller ones cut into it)
            out[rows] = np.abs(np.log(np.maximum(area, 1e-9) / got.max())) <= np.log(FRAMED_AREA_RATIO)
    return out


#: A crop is taken into a group only through a container whose link is at most this much less similar than
#: the crop's best container link (:func:`split_by_keeper`).
CROP_MARGIN = 0.07
#: Robust links a member may lie from its keeper (normal-group membership is free, see :func:`split_by_keeper`).
MAX_HOPS = 2
_SAME, _DOWN, _UP = 0, 1, 2


def split_by_keeper(ordered: np.ndarray, known_groups: np.ndarray, links: RobustLinks,
                    max_hops: int = MAX_HOPS) -> list[np.ndarray]:
    """Groups of one joined component, each grown from its keeper along verified links.

    ``ordered`` is the component in the normal keeper order (best first). The
    keeper is chosen by :func:`container_first`. Its group is grown breadth
    first from the keeper and the members of its normal group
    (``known_groups``, labels per row, -1 for none): a member of the group
    brings in the rows linked to it by a robust link, at most ``max_hops``
    robust links from the keeper, and each row brings in its whole normal
    group. A walk never turns from "contained in" to "contains" or back: the
    keeper's crop does not bring in another photo that contains the same crop,
    and the photo inside a screenshot does not bring in another photo of that
    screenshot (two photos are never joined through what they share). The
    one turn allowed is into a frame: a contained image brings in the
    letterboxed, framed or screenshot copies of itself (links whose container
    is only a frame around it, :func:`undouble.robust_frames.is_framed`). A crop
    is taken in only through a container that holds it about as well as its
    best container does (similarity at most :data:`CROP_MARGIN` lower; frames
    are not compared): a crop that fits its own photo at 0.985 and another
    photo of the same base scene at 0.89 waits for its own photo's group,
    even when the other photo's group is grown first. What is
    left is split the same way; a row joins one group only. A row's links are
    walked best-ranked neighbour first (then by link index).

    Only the links between rows of ``ordered`` are looked at (found with one
    sorted search), and the walk runs on positions in ``ordered``.

    Returns
    -------
    list of np.ndarray
        Groups of two or more rows, keeper first, the others in ``ordered``'s order.
    """
    ordered = np.asarray(ordered, np.int64).reshape(-1)
    k, pos_a, pos_b = _inside_links(ordered, links)
    return _split_positions(ordered, np.asarray(known_groups, np.int64)[ordered], links, k, pos_a, pos_b,
                            max_hops)


def _split_positions(ordered: np.ndarray, labels: np.ndarray, links: RobustLinks, k: np.ndarray,
                     pos_a: np.ndarray, pos_b: np.ndarray, max_hops: int) -> list[np.ndarray]:
    """:func:`split_by_keeper` of ``ordered`` (normal-group ``labels`` per position) over the links ``k``
    (ascending), whose ends lie at positions ``pos_a`` and ``pos_b`` of ``ordered``."""
    m = ordered.size
    # adjacency of each position, best-ranked neighbour (smallest position) first, then by link index
    src, dst, via = np.concatenate([pos_a, pos_b]), np.concatenate([pos_b, pos_a]), np.concatenate([k, k])
    container = np.asarray(links.container, np.int64)[via]
    step = np.where(container < 0, _SAME, np.where(container == ordered[src], _DOWN, _UP))
    framed = np.zeros(via.size, bool) if links.framed is None else np.asarray(links.framed, bool)[via]
    similarity = np.asarray(links.similarity, np.float64)[via]
    # each crop's best container: a crop is taken down only from a container about as good (CROP_MARGIN)
    crop_link = (step == _DOWN) & ~framed
    best_hold = np.full(m, -np.inf)
    np.maximum.at(best_hold, dst[crop_link], similarity[crop_link])
    second_best = crop_link & (similarity < best_hold[dst] - CROP_MARGIN)
    # and up from a crop only into a container about as good
    second_best |= (step == _UP) & ~framed & (similarity < best_hold[src] - CROP_MARGIN)
    by_source = np.lexsort((via, dst, src))
    start = np.searchsorted(src[by_source], np.arange(m + 1)).tolist()
    dst, step, framed = dst[by_source].tolist(), step[by_source].tolist(), framed[by_source].tolist()
    second_best = second_best[by_source].tolist()
    holder, held = _holders(ordered, links, k, pos_a, pos_b)
    members_of: dict[int, list[int]] = {}
    for pos, label in enumerate(labels.tolist()):
        if label >= 0:
            members_of.setdefault(label, []).append(pos)
    label_of = labels.tolist()
    free = [True] * m
    free_mask = np.ones(m, bool)
    mode = [_SAME] * m
    groups: list[np.ndarray] = []
    n_free = m
    while n_free:
        keeper = _keeper_position(free_mask, holder, held)
        group: list[int] = []

        def take(pos: int, how: int, into: list[int]) -> None:
            """``pos`` and the free positions of its normal group join, reached as ``how``."""
            label = label_of[pos]
            for p in [pos] + [x for x in members_of[label] if x != pos] if label >= 0 else [pos]:
                if free[p]:
                    free[p] = False
                    group.append(p)
                    mode[p] = how
                    into.append(p)

        frontier: list[int] = []
        take(keeper, _SAME, frontier)
        for _ in range(max_hops):
            reached: list[int] = []
            for u in frontier:
                for e in range(start[u], start[u + 1]):
                    v = dst[e]
                    if not free[v]:
                        continue
                    walked = step[e]
                    if walked != _SAME and mode[u] not in (_SAME, walked) and not (walked == _UP and framed[e]):
                        continue  # a turn between "contains" and "contained in" (but into a frame of it)
                    if second_best[e]:
                        continue  # a crop goes with its best container's photo
                    how = mode[u] if walked == _SAME else walked
                    if walked == _DOWN and framed[e] and mode[u] == _SAME:
                        how = _SAME  # the whole content of a frame of the keeper is the keeper's photo
                    take(v, how, reached)
            frontier = reached
        free_mask[group] = False
        n_free -= len(group)
        if len(group) >= 2:
            groups.append(ordered[[keeper] + sorted(group[1:])])
    return groups


def thumbs_and_sizes(results: dict) -> tuple[np.ndarray, np.ndarray]:
    """Verification thumbnails and N x 2 original sizes of :class:`undouble.Undouble` ``results``.

    The thumbnails are ``results['thumbs']`` (made at import), else made from
    the preprocessed images ``results['img']`` (array input).
    """
    n = len(results["pathnames"])
    thumbs = results.get("thumbs")
    if thumbs is None or len(thumbs) != n:
        img = results["img"]
        rows = [_v.make_thumbnail(np.asarray(img[i])) for i in range(n)]
        thumbs = np.stack(rows) if rows else np.zeros((0, _v.THUMB_BYTES), np.uint8)
    return np.asarray(thumbs), np.asarray(results["resolution"], np.int64).reshape(-1, 2)


def find_links(thumbs: np.ndarray, sizes: np.ndarray, images, known_groups: np.ndarray,
               groups_are_copies: bool = True) -> RobustLinks:
    """:func:`undouble.robust.find_robust_links` (logged): pairs inside one of ``known_groups`` (labels per
    row, -1 for none) are not searched again; window candidates are verified on ``images`` (preprocessed);
    ``groups_are_copies``: the groups are verified ones (hash-only groups with ``verify=False``)."""
    if len(thumbs) < 2:
        return _empty_links()
    links = find_robust_links(thumbs, sizes, images=images, known_groups=known_groups,
                              groups_are_copies=groups_are_copies)
    logger.info("Robust mode: %d verified links (rotations, mirrors, crops, containment).", len(links))
    return links


@dataclass(frozen=True)
class RobustGroup:
    """One group of robust mode, keeper first.

    Attributes
    ----------
    rows : np.ndarray of int64
        Row indices, keeper first.
    relation : list of str
        Each member's relation to the keeper (``'keeper'`` first).
    similarity : np.ndarray of float64
        Each member's similarity to the keeper in 0..1 (1 for the keeper; NaN
        where only a link to another member is known).
    component : int
        Index of the joined component the group was cut from.
    """

    rows: np.ndarray
    relation: list
    similarity: np.ndarray
    component: int


def robust_groups(groups: list, links: RobustLinks, n: int, keeper_order: Callable[[np.ndarray], np.ndarray],
                  thumbs: np.ndarray, sizes: np.ndarray, base_relation: list | None = None,
                  base_similarity: list | None = None, base_area: list | None = None) -> list[RobustGroup]:
    """The groups of robust mode (see the module docstring for the rule).

    Parameters
    ----------
    groups : list of np.ndarray
        The normal groups, keeper first when ``base_relation`` is given (the
        verified groups of :func:`undouble.grouping.group_verified`, or the
        hash-only groups).
    links : RobustLinks
        Verified robust links (found with ``groups`` as ``known_groups``).
    n : int
        Number of images.
    keeper_order : callable
        ``keeper_order(rows)`` gives the positions of ``rows`` best first (the
        normal keeper rule); the container rule is applied on top.
    thumbs, sizes : np.ndarray
        Verification thumbnails (N x :data:`undouble.verify.THUMB_BYTES`) and
        N x 2 original sizes, for the direct checks of rule 3.
    base_relation, base_similarity : list, optional
        Per normal group, each member's relation text and similarity to that
        group's first row (:func:`undouble.grouping.relation_texts`); None for
        hash-only groups.
    base_area : list, optional
        Per normal group, each member's area fraction in that group's first
        row (for crops): a crop whose keeper only frames it
        (:func:`framed_by_keeper`) is the keeper's photo, not a placed crop.

    Returns
    -------
    list of RobustGroup
        Groups of two or more images, in the order of the joined components.
    """
    known = np.full(n, -1, np.int64)
    placed = np.zeros(n, bool)  # cropped members of a normal group: inside its keeper
    for k, g in enumerate(groups):
        known[np.asarray(g, np.int64)] = k
    if base_relation is not None:
        for g, texts in zip(groups, base_relation):
            placed[np.asarray(g, np.int64)] = [str(text).startswith("cropped") for text in texts]
        if base_area is not None:
            placed &= ~framed_by_keeper(groups, base_area, placed, thumbs)
    links = keep_placed_crops(prune_other_photos_of_a_frame(prune_ambiguous(links), known), known, placed)
    by_pair: dict[tuple[int, int], int] = {}
    for k, (a, b) in enumerate(zip(links.a.tolist(), links.b.tolist())):
        by_pair[(a, b)] = by_pair[(b, a)] = k
    base: dict[int, tuple[int, str, float]] = {}  # row -> (its normal group's keeper, relation, similarity)
    if base_relation is not None:
        for g, texts, sims in zip(groups, base_relation, base_similarity):
            g = np.asarray(g, np.int64)
            for row, text, sim in zip(g.tolist(), texts, np.asarray(sims, np.float64).tolist()):
                base[row] = (int(g[0]), str(text), float(sim))
    out: list[RobustGroup] = []
    pending: list[tuple[int, int, int, int]] = []  # (group, position, keeper, member) for direct checks
    components = merge_groups(groups, links, n)
    component_of = np.full(n, -1, np.int64)
    for c, component in enumerate(components):
        component_of[np.asarray(component, np.int64)] = c
    # the links of each component (both ends lie in one), ascending inside
    by_component = np.argsort(component_of[links.a], kind="stable")
    bounds = np.searchsorted(component_of[links.a][by_component], np.arange(len(components) + 1))
    position = np.zeros(n, np.int64)
    for c, component in enumerate(components):
        component = np.asarray(component, np.int64)
        ordered = component[keeper_order(component)]
        position[ordered] = np.arange(ordered.size)
        inside = by_component[bounds[c]:bounds[c + 1]]
        for rows in _split_positions(ordered, known[ordered], links, inside, position[links.a[inside]],
                                     position[links.b[inside]], MAX_HOPS):
            keeper = int(rows[0])
            texts, sims = ["keeper"], [1.0]
            for pos, row in enumerate(rows[1:].tolist(), 1):
                k = by_pair.get((keeper, row))
                if k is not None:
                    code, area = link_relation(links, k, row, keeper)
                    texts.append(_v.relation_name(code, area))
                    sims.append(float(links.similarity[k]))
                elif row in base and base[row][0] == keeper:
                    texts.append(base[row][1])
                    sims.append(base[row][2])
                else:
                    texts.append("")
                    sims.append(float("nan"))
                    pending.append((len(out), pos, keeper, row))
            out.append(RobustGroup(np.asarray(rows, np.int64), texts, np.asarray(sims, np.float64), c))
    if pending:
        _fill_pending(out, pending, links, by_pair, base, thumbs, sizes)
    return out


def _fill_pending(out: list[RobustGroup], pending: list, links: RobustLinks, by_pair: dict, base: dict,
                  thumbs: np.ndarray, sizes: np.ndarray) -> None:
    """Rule 3 of the module docstring: verify each pending member against its keeper, in one batch."""
    keepers = np.asarray([p[2] for p in pending], np.int64)
    members = np.asarray([p[3] for p in pending], np.int64)
    result = _v.verify_pairs(thumbs, sizes, keepers, members)
    for k, (g, pos, keeper, row) in enumerate(pending):
        group = out[g]
        if bool(result.ok[k]):
            code, area = int(result.relation[k]), float(result.area_fraction[k])
            if code == _v.REL_CROPPED and int(result.container[k]) == 1:
                text = f"uncropped (the keeper is {int(round(100 * area))}% of its area)"
            else:
                text = _v.relation_name(code, area)
            group.relation[pos] = text
            group.similarity[pos] = float(result.similarity[k])
            continue
        group.relation[pos] = _indirect_text(group.rows, row, links, by_pair, base)


def _indirect_text(rows: np.ndarray, row: int, links: RobustLinks, by_pair: dict, base: dict) -> str:
    """Relation of ``row`` to another member of its group: a robust link, else its verified group's keeper."""
    for other in rows.tolist():
        k = by_pair.get((other, row))
        if other != row and k is not None:
            code, area = link_relation(links, k, row, other)
            return f"{_v.relation_name(code, area)} (of another member)"
    if not base:
        return HASH_ONLY_RELATION
    if row in base and base[row][0] != row and base[row][0] in set(rows.tolist()):
        return f"{base[row][1]} (of another member)"
    return "copy of another member"
