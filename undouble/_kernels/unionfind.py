"""Grouping kernels: union-find over distance pairs, and the greedy star mode.

Both work on a ``labels`` / ``parent`` array of length N that the caller keeps
between calls, so that pairs can be fed block by block and never need to be held
all at once.  Plain arrays in and out, no Python objects.
"""

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def find_root(parent, x):
    """Root of ``x``'s set, halving the path on the way (iterative)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def union_pairs(parent, a, b):
    """Merge the sets of ``a[k]`` and ``b[k]`` for every k (in place).

    The root of a set is always its smallest member (the larger root is hung
    under the smaller one), so after :func:`resolve` every label is the smallest
    index of its component whatever the order of the pairs.
    """
    for k in range(a.shape[0]):
        ra = find_root(parent, a[k])
        rb = find_root(parent, b[k])
        if ra < rb:
            parent[rb] = ra
        elif rb < ra:
            parent[ra] = rb


@njit(cache=True)
def resolve(parent):
    """Label of every element = root of its set (the smallest member)."""
    n = parent.shape[0]
    labels = np.empty(n, np.int64)
    for x in range(n):
        labels[x] = find_root(parent, x)
    return labels


@njit(cache=True)
def star_assign(assigned, i, j):
    """Greedy star grouping over pairs sorted by ``(i, j)`` with ``i < j``.

    ``assigned[x]`` is -1 while ``x`` belongs to no group.  Rows are visited in
    ascending order (including rows without pairs, between those that have some);
    an unassigned row becomes a seed, and takes every still-unassigned ``j`` it is
    paired with.  Rows up to ``i[-1]`` are settled on return; the caller feeds the
    next block of rows (all with larger ``i``) afterwards.  A seed's label is its
    own index, which is the smallest index of its group.
    """
    p = 0
    npairs = i.shape[0]
    while p < npairs:
        s = i[p]
        q = p
        while q < npairs and i[q] == s:
            q += 1
        if assigned[s] < 0:
            assigned[s] = s
            for r in range(p, q):
                if assigned[j[r]] < 0:
                    assigned[j[r]] = s
        p = q
