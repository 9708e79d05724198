"""Stacks of rows shared by the import, the cache and the model.

* :class:`LazyImages`: preprocessed images of which some are decoded only when
  used (``results['img']`` when cached hashes made decoding unnecessary).
* :func:`concat_batches`: one ``HashBatch`` from several.

It imports no other undouble module at load time, so both :mod:`undouble.io`
and :mod:`undouble.cache` can use it without a cycle.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["LazyImages", "concat_batches"]


class LazyImages:
    """Preprocessed images of which some are decoded only when used.

    It stands in for ``results['img']`` when cached hashes made decoding
    unnecessary: it has ``shape``, ``dtype``, ``ndim`` and ``len``, indexing
    with an int returns that row (decoding and preprocessing it on first use),
    indexing with a slice or a list returns a stacked array, and
    ``np.asarray(images)`` decodes everything.

    Parameters
    ----------
    rows : list of np.ndarray or None
        Decoded rows; None where a row is still to be loaded.
    loader : callable
        ``loader(i) -> np.ndarray`` loads row ``i``.
    row_shape : tuple of int
        Shape of one row, ``(H, W)`` or ``(H, W, 3)``.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, rows: list[np.ndarray | None], loader: Callable[[int], np.ndarray],
                 row_shape: tuple[int, ...]) -> None:
        self._rows = rows
        self._loader = loader
        self._row_shape = tuple(int(s) for s in row_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows),) + self._row_shape

    @property
    def ndim(self) -> int:
        return 1 + len(self._row_shape)

    @property
    def n_loaded(self) -> int:
        """Rows in memory."""
        return sum(r is not None for r in self._rows)

    def is_loaded(self, i: int) -> bool:
        """Whether row ``i`` is in memory."""
        return self._rows[i] is not None

    def __len__(self) -> int:
        return len(self._rows)

    def _row(self, i: int) -> np.ndarray:
        n = len(self._rows)
        if i < -n or i >= n:
            raise IndexError(f"row {i} out of range for {n} images")
        i %= n
        row = self._rows[i]
        if row is None:
            row = self._loader(i)
            self._rows[i] = row
        return row

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._row(int(key))
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            head, rest = key[0], key[1:]
            picked = self[head]
            if isinstance(head, (int, np.integer)):
                return picked[rest]
            return picked[(slice(None),) + rest]
        if isinstance(key, slice):
            index = range(len(self._rows))[key]
        else:
            arr = np.asarray(key)
            if arr.dtype == np.bool_:
                arr = np.flatnonzero(arr)
            index = [int(i) for i in arr.ravel()]
        if not len(index):
            return np.zeros((0,) + self._row_shape, np.uint8)
        return np.stack([self._row(i) for i in index])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self._rows)):
            yield self._row(i)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyImages(shape={self.shape}, loaded={self.n_loaded})"


def concat_batches(batches: Sequence[Any]) -> Any:
    """One ``HashBatch`` from several (multi-segment rows are zero-padded to the widest)."""
    from .hashes import HashBatch

    batches = [b for b in batches if b is not None]
    if not batches:
        return None
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    width = max(b.packed.shape[1] for b in batches)
    packed = np.zeros((sum(len(b) for b in batches), width), dtype=np.uint64)
    row = 0
    for b in batches:
        packed[row:row + len(b), :b.packed.shape[1]] = b.packed
        row += len(b)
    counts = None if first.counts is None else np.concatenate([b.counts for b in batches]).astype(np.int64)
    return HashBatch(packed, first.nbits, counts, first.shape)
