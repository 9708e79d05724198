"""Robust mode's groups on top of the normal (verified or hash-only) groups.

:func:`robust_groups` joins the normal groups by the verified robust links of
:func:`undouble.robust.find_robust_links`, cuts each joined component into
star groups around keepers where the container wins
(:func:`undouble.robust.split_by_keeper`), and names each member's relation to
its keeper:

1. a direct robust link to the keeper gives ``'rotated 90'``, ``'mirrored'``,
   ``"cropped (NN% of the keeper's area)"``, ``'in a larger image'``, ...;
2. a member of the keeper's verified group, when that group's keeper is still
   the keeper, keeps its verified relation (``'resized'``, ``'identical'``, ...);
3. anything else (the keeper changed because a container won, or the member
   came in one hop through another member) is verified against the keeper
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
from .robust import RobustLinks, _empty_links, find_robust_links, link_relation, merge_groups, split_by_keeper

#: Relation of a member of a hash-only group (no verification) to its keeper.
HASH_ONLY_RELATION = "similar hash"


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


def find_links(thumbs: np.ndarray, sizes: np.ndarray, images, known_groups: np.ndarray) -> RobustLinks:
    """:func:`undouble.robust.find_robust_links` (logged): pairs inside one of ``known_groups`` (labels per
    row, -1 for none) are not searched again; window candidates are verified on ``images`` (preprocessed)."""
    if len(thumbs) < 2:
        return _empty_links()
    links = find_robust_links(thumbs, sizes, images=images, known_groups=known_groups)
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
                  base_similarity: list | None = None) -> list[RobustGroup]:
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

    Returns
    -------
    list of RobustGroup
        Groups of two or more images, in the order of the joined components.
    """
    known = np.full(n, -1, np.int64)
    for k, g in enumerate(groups):
        known[np.asarray(g, np.int64)] = k
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
    for c, component in enumerate(merge_groups(groups, links, n)):
        component = np.asarray(component, np.int64)
        ordered = component[keeper_order(component)]
        for rows in split_by_keeper(ordered, known, links):
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
