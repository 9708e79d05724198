"""The array-based grouping of robust mode against slow, plainly written references on random link graphs.

:func:`undouble.robust_grouping.split_by_keeper`, :func:`~undouble.robust_grouping.container_first`,
:func:`~undouble.robust_grouping.containment` and :func:`~undouble.robust_grouping.prune_ambiguous` work on
sorted arrays and positions; the references below walk dicts and sets one link at a time, as the rules are
stated in their docstrings. Both must give exactly the same groups.
"""
from __future__ import annotations

import numpy as np
import pytest

from undouble import robust as R
from undouble import robust_grouping as RG
from undouble.verify import THUMB_BYTES

SAME, DOWN, UP = 0, 1, 2


def ref_containment(members, links):
    inside = {int(x) for x in members}
    containers, contained = set(), set()
    for k in range(len(links)):
        a, b, c = int(links.a[k]), int(links.b[k]), int(links.container[k])
        if c >= 0 and a in inside and b in inside:
            containers.add(c)
            contained.add(b if c == a else a)
    return containers, contained


def ref_container_first(ordered, links):
    ordered = [int(r) for r in ordered]
    containers, contained = ref_containment(ordered, links)
    for row in ordered:
        if row in containers and row not in contained:
            return [row] + [r for r in ordered if r != row]
    for row in ordered:
        if row not in contained:
            return [row] + [r for r in ordered if r != row]
    return ordered


def ref_split(ordered, known, links, max_hops=RG.MAX_HOPS):
    rank = {int(r): k for k, r in enumerate(ordered)}
    adjacent = {}
    for k in range(len(links)):
        a, b = int(links.a[k]), int(links.b[k])
        adjacent.setdefault(a, []).append((b, k))
        adjacent.setdefault(b, []).append((a, k))
    for row in adjacent:
        adjacent[row].sort(key=lambda item: (rank.get(item[0], len(rank)), item[1]))

    def direction(k, frm):
        c = int(links.container[k])
        return SAME if c < 0 else (DOWN if c == frm else UP)

    def framed_link(k):
        return links.framed is not None and bool(links.framed[k])

    # each crop's best container among the rows of ordered (links that are no frame)
    best_container = {}
    for k in range(len(links)):
        a, b, c = int(links.a[k]), int(links.b[k]), int(links.container[k])
        if c >= 0 and a in rank and b in rank and not framed_link(k):
            held = b if c == a else a
            best_container[held] = max(best_container.get(held, -np.inf), float(links.similarity[k]))

    remaining = [int(r) for r in ordered]
    groups = []
    while remaining:
        free = set(remaining)
        keeper = ref_container_first(remaining, links)[0]
        group, mode = [], {}

        def take(row, how, into):
            label = int(known[row])
            rows = [row] + [x for x in remaining if x != row and label >= 0 and int(known[x]) == label]
            for m in rows:
                if m in free:
                    free.discard(m)
                    group.append(m)
                    mode[m] = how
                    into.append(m)

        frontier = []
        take(keeper, SAME, frontier)
        for _ in range(max_hops):
            reached = []
            for u in frontier:
                for v, k in adjacent.get(u, ()):
                    if v not in free:
                        continue
                    step = direction(k, u)
                    framed = framed_link(k)
                    if step != SAME and mode[u] not in (SAME, step) and not (step == UP and framed):
                        continue
                    if step == DOWN and not framed and \
                            float(links.similarity[k]) < best_container[v] - RG.CROP_MARGIN:
                        continue  # a crop only from a container about as good as its best one
                    if step == UP and not framed and \
                            float(links.similarity[k]) < best_container[u] - RG.CROP_MARGIN:
                        continue  # and up from a crop only into a container about as good
                    if step == DOWN and framed and mode[u] == SAME:
                        take(v, SAME, reached)  # a frame's whole content: the keeper's photo
                        continue
                    take(v, mode[u] if step == SAME else step, reached)
            frontier = reached
        groups.append([keeper] + sorted(group[1:], key=rank.__getitem__))
        remaining = [r for r in remaining if r in free]
    return [g for g in groups if len(g) >= 2]


def ref_prune(links, margin):
    best = {}
    for k in range(len(links)):
        c = int(links.container[k])
        if c >= 0:
            row = int(links.b[k]) if c == int(links.a[k]) else int(links.a[k])
            best[row] = max(best.get(row, 0.0), float(links.similarity[k]))
    keep = []
    for k in range(len(links)):
        c = int(links.container[k])
        row = int(links.b[k]) if c == int(links.a[k]) else int(links.a[k])
        keep.append(c < 0 or float(links.similarity[k]) >= best[row] - margin)
    return np.array(keep, bool)


def random_links(rng, n, n_links, with_framed=True):
    """Random links between n rows: full frame or window (container a or b), some framed, some repeated."""
    a = rng.integers(0, n, n_links)
    b = (a + rng.integers(1, n, n_links)) % n  # never a self-link
    kind = rng.integers(0, 3, n_links)  # full frame, a contains b, b contains a
    container = np.where(kind == 0, -1, np.where(kind == 1, a, b)).astype(np.int64)
    # multiples of 1/8 too: differences of exactly a margin of 0.25
    similarity = rng.choice(np.array([0.5, 0.625, 0.75, 0.875, 1.0, 0.6, 0.7, 0.85, 0.9, 0.95], np.float32), n_links)
    framed = (rng.random(n_links) < 0.4) & (container >= 0) if with_framed else None
    return R.RobustLinks(a.astype(np.int64), b.astype(np.int64), np.zeros(n_links, np.int8),
                         np.zeros(n_links, np.int8), similarity, np.where(container < 0, 1.0, 0.5).astype(np.float32),
                         container, framed)


def random_known(rng, n):
    labels = rng.integers(-1, max(1, n // 3), n)
    labels[rng.random(n) < 0.4] = -1
    return labels.astype(np.int64)


@pytest.mark.parametrize("seed", range(60))
def test_split_container_first_and_containment_equal_the_references(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7 if seed % 3 == 0 else 40))  # small dense graphs: several links per pair
    links = random_links(rng, n, int(rng.integers(0, 3 * n + 6)), with_framed=seed % 5 != 0)
    known = random_known(rng, n)
    for take_all in (True, False):
        ordered = rng.permutation(n) if take_all else rng.permutation(n)[:int(rng.integers(1, n + 1))]
        hops = int(rng.integers(1, 4))
        got = [g.tolist() for g in RG.split_by_keeper(ordered, known, links, max_hops=hops)]
        assert got == ref_split(ordered, known, links, max_hops=hops)
        assert RG.container_first(ordered, links).tolist() == ref_container_first(ordered, links)
        assert RG.containment(ordered, links) == ref_containment(ordered, links)


def test_the_references_are_not_trivial():
    """The random graphs make groups of several sizes, containers that win and links that are pruned."""
    sizes, moved_keepers, pruned = set(), 0, 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 40))
        links = random_links(rng, n, int(rng.integers(0, 3 * n)))
        ordered = rng.permutation(n)
        sizes.update(len(g) for g in ref_split(ordered, random_known(rng, n), links))
        moved_keepers += ref_container_first(ordered, links)[0] != int(ordered[0])
        pruned += int((~ref_prune(links, RG.AMBIGUOUS_MARGIN)).sum())
    assert len(sizes) >= 5 and moved_keepers >= 10 and pruned >= 10


@pytest.mark.parametrize("margin", [RG.AMBIGUOUS_MARGIN, 0.25])
@pytest.mark.parametrize("seed", range(20))
def test_prune_ambiguous_equals_the_reference(seed, margin):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    links = random_links(rng, n, int(rng.integers(1, 3 * n)))
    keep = ref_prune(links, margin)
    pruned = RG.prune_ambiguous(links, margin)
    assert pruned.a.tolist() == links.a[keep].tolist() and pruned.b.tolist() == links.b[keep].tolist()
    assert pruned.framed.tolist() == links.framed[keep].tolist()


@pytest.mark.parametrize("seed", range(15))
def test_robust_groups_rows_equal_the_reference_split_of_each_component(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(4, 40))
    links = random_links(rng, n, int(rng.integers(1, 2 * n)))
    known = rng.integers(0, max(1, n // 4), n)  # normal groups of about four rows
    known[rng.random(n) < 0.25] = -1
    groups = [np.flatnonzero(known == label) for label in np.unique(known[known >= 0])]
    groups = [g for g in groups if g.size >= 2]
    known = np.full(n, -1, np.int64)
    for k, g in enumerate(groups):
        known[g] = k
    ranking = rng.permutation(n)
    rank = {int(r): k for k, r in enumerate(ranking)}

    def keeper_order(rows):
        return np.argsort([rank[int(r)] for r in rows], kind="stable")

    thumbs = rng.integers(0, 256, (n, THUMB_BYTES)).astype(np.uint8)
    sizes = np.full((n, 2), 64, np.int64)
    # verified relations for half the seeds: crops placed inside their own keeper keep their window links out
    texts = [["keeper"] + [str(rng.choice(["resized", "cropped (80% of the keeper's area)"], p=[0.3, 0.7]))
                           for _ in g[1:]]
             for g in groups]
    placed = np.zeros(n, bool)
    if seed % 2:
        for g, t in zip(groups, texts):
            placed[g] = [x.startswith("cropped") for x in t]
        made = RG.robust_groups(groups, links, n, keeper_order, thumbs, sizes, texts,
                                [np.ones(len(g)) for g in groups])
    else:
        made = RG.robust_groups(groups, links, n, keeper_order, thumbs, sizes)
    pruned = RG.keep_placed_crops(RG.prune_ambiguous(links), known, placed)
    expected = []
    for component in RG.merge_groups(groups, pruned, n):
        ordered = component[keeper_order(component)]
        expected += ref_split(ordered, known, pruned)
    assert [g.rows.tolist() for g in made] == expected
    assert all(len(g.relation) == len(g.rows) and g.relation[0] == "keeper" for g in made)


def ref_components(groups, links, n):
    """Connected components (two or more rows) of the groups and links, by a plain graph walk."""
    neighbours = {r: set() for r in range(n)}
    edges = [(int(g[i]), int(g[i + 1])) for g in groups for i in range(len(g) - 1)]
    edges += list(zip(links.a.tolist(), links.b.tolist()))
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen, out = set(), []
    for start in range(n):
        if start in seen:
            continue
        todo, comp = [start], {start}
        while todo:
            for v in neighbours[todo.pop()] - comp:
                comp.add(v)
                todo.append(v)
        seen |= comp
        if len(comp) >= 2:
            out.append(sorted(comp))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_merge_groups_equals_the_components_of_a_graph_walk(seed):
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(2, 50))
    links = random_links(rng, n, int(rng.integers(0, n)))
    known = random_known(rng, n)
    groups = [rng.permutation(np.flatnonzero(known == label)) for label in np.unique(known[known >= 0])]
    got = [g.tolist() for g in RG.merge_groups(groups, links, n)]
    assert got == ref_components(groups, links, n)
