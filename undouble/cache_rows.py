"""Rows of the hash cache: :class:`CacheEntry`, its conversion from a table row, and hashing through the cache.

Moved out of :mod:`undouble.cache` (which re-exports every name here) to keep that module small;
:class:`~undouble.cache.HashCache` is the SQLite file itself.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

import numpy as np

from ._logging import logger
from .batches import concat_batches
from .cache_file import _whole

if TYPE_CHECKING:
    from .cache import HashCache

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class CacheEntry:
    """The cached hash of one file.

    Attributes
    ----------
    path : str
        Absolute path.
    size, mtime_ns : int
        The file's size and modification time when it was hashed.
    packed : np.ndarray
        uint64 words: ``words_per_segment`` of them, times ``segments`` for
        multi-segment hashes.
    nbits : int
        Bits of the hash (of one segment for crop-resistant).
    segments : int or None
        Segment count (crop-resistant); None for single hashes.
    grid : (int, int) or None
        Shape of the hash's bit grid (``HashBatch.shape``).
    width, height : int
        Pixels of the original image.
    blur : float
        Sharpness measured while importing (:class:`undouble.io.LoadedFile`);
        NaN when unknown.
    blur_pixels : int
        Pixel count of the image ``blur`` was measured on (0 when unknown).
    damaged : bool
        The decoder reported corrupt or missing data (``results['damaged']``).
    warnings : tuple of str
        The decoder's messages about the file (``results['warnings']``).
    is_grey : bool
        The decoded image is greyscale (``results['is_grey']``).
    thumb : np.ndarray or None
        The verification thumbnail record (uint8; ``results['thumbs']``), None
        when not made.
    """

    path: str
    size: int
    mtime_ns: int
    packed: np.ndarray
    nbits: int
    segments: int | None
    grid: tuple[int, int] | None
    width: int
    height: int
    blur: float = math.nan
    blur_pixels: int = 0
    damaged: bool = False
    warnings: tuple[str, ...] = ()
    is_grey: bool = False
    thumb: np.ndarray | None = None

    @property
    def stat(self) -> tuple[int, int]:
        """``(size, mtime_ns)``, as ``results['filestats']`` holds it."""
        return self.size, self.mtime_ns

    @property
    def resolution(self) -> tuple[int, int]:
        """``(width, height)`` of the original image."""
        return self.width, self.height


def file_stat(path: PathLike) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


def _entry_of_row(given: str, row: Sequence[Any]) -> CacheEntry:
    """A :class:`CacheEntry` of one ``lookup`` row; ValueError when the row is malformed."""
    (_, size, mtime_ns, blob, nbits, segments, gh, gw, width, height, blur, blur_px,
     damaged, warnings, grey, thumb) = row
    size, mtime_ns, nbits = _whole(size), _whole(mtime_ns), _whole(nbits, 1)
    if segments is not None:
        segments = _whole(segments, 1)
    if not isinstance(blob, bytes):
        raise ValueError(f"hash is a {type(blob).__name__}, not a blob")
    words = (nbits + 63) // 64
    if len(blob) != 8 * words * (segments or 1):
        raise ValueError(f"hash blob of {len(blob)} bytes for {nbits} bits x {segments or 1} segments")
    if (gh is None) != (gw is None):
        raise ValueError("half a grid shape")
    grid = None if gh is None else (_whole(gh, 1), _whole(gw, 1))
    if blur is not None and (isinstance(blur, bool) or not isinstance(blur, (int, float))):
        raise ValueError(f"blur {blur!r}")
    notes: tuple[str, ...] = ()
    if warnings is not None:
        loaded = json.loads(warnings)
        if not isinstance(loaded, list) or not all(isinstance(w, str) for w in loaded):
            raise ValueError("warnings are not a list of texts")
        notes = tuple(loaded)
    if thumb is not None and not isinstance(thumb, bytes):
        raise ValueError(f"thumbnail is a {type(thumb).__name__}, not a blob")
    packed = np.frombuffer(blob, dtype="<u8").astype(np.uint64)
    return CacheEntry(given, size, mtime_ns, packed, nbits, segments, grid, _whole(width), _whole(height),
                      math.nan if blur is None else float(blur), _whole(blur_px), bool(_whole(damaged)), notes,
                      bool(_whole(grey)), None if thumb is None else np.frombuffer(thumb, np.uint8))


# --------------------------------------------------------------------------- hashing through the cache
def hash_with_cache(cache: HashCache | None, params: tuple[str, str] | None, pathnames: Sequence[str],
                    images: Any, compute: Callable[[list[np.ndarray]], Any],
                    filestats: Mapping[str, Sequence[int]] | None = None,
                    resolution: np.ndarray | None = None, known: Mapping[str, CacheEntry] | None = None,
                    chunk: int = 1024, blur: np.ndarray | None = None,
                    blur_pixels: np.ndarray | None = None, damaged: np.ndarray | None = None,
                    warnings: Mapping[str, Sequence[str]] | None = None, is_grey: np.ndarray | None = None,
                    thumbs: np.ndarray | None = None) -> tuple[Any, int]:
    """Hashes of files, taken from the cache where possible.

    Parameters
    ----------
    cache : HashCache or None
        None hashes everything (``compute(list(images))``).
    params : (str, str) or None
        Key of the configuration (:func:`~undouble.cache.hash_params`); None disables the cache.
    pathnames : sequence of str
        File of each row.
    images : indexable
        ``images[i]`` is the preprocessed image of row ``i`` (only read for
        misses; a :class:`~undouble.cache.LazyImages` decodes it then).
    compute : callable
        ``compute(list_of_images) -> HashBatch`` for the misses.
    filestats : mapping, optional
        ``{path: (size, mtime_ns)}`` recorded when the files were read.
    resolution : array, optional
        ``(N, 2)`` original ``(width, height)`` of each row, stored with the hash.
    known : mapping, optional
        Entries already looked up for this key (by ``import_data``); only the
        other paths are looked up.
    chunk : int
        Misses are hashed this many at a time (memory holds one chunk of images).
    blur, blur_pixels : arrays, optional
        ``(N,)`` sharpness of each row and the pixel count it was measured on
        (``results['blur']``, ``results['blur_pixels']``), stored with the hash.
    damaged, warnings : optional
        ``(N,)`` bool and ``{path: [message, ...]}`` (``results['damaged']``,
        ``results['warnings']``), stored with the hash.
    is_grey, thumbs : arrays, optional
        ``(N,)`` greyscale flags and ``(N, B)`` verification thumbnails
        (``results['is_grey']``, ``results['thumbs']``), stored with the hash.

    Returns
    -------
    (HashBatch, int)
        The hashes of all rows, in order, and how many came from the cache.
    """
    from .hashes import HashBatch

    n = len(pathnames)
    hits: dict[str, CacheEntry] = {}
    if cache is not None and params:
        known = known or {}
        hits = {p: known[p] for p in pathnames if p in known}
        rest = [p for p in pathnames if p not in hits]
        if rest:
            hits.update(cache.lookup(rest, params, stats=filestats))
    if hits:
        nbits = {e.nbits for e in hits.values()}
        grids = {e.grid for e in hits.values()}
        multi = {e.segments is None for e in hits.values()}
        if len(nbits) != 1 or len(grids) != 1 or len(multi) != 1:
            logger.warning("Hash cache rows disagree for one key (%s); hashing every image again.", cache)
            hits = {}
    def hash_rows(rows: list[int]) -> Any:
        step = max(1, int(chunk))
        return concat_batches([compute([images[i] for i in rows[k:k + step]]) for k in range(0, len(rows), step)])

    miss_rows = [i for i, p in enumerate(pathnames) if p not in hits]
    fresh = hash_rows(miss_rows) if miss_rows else None
    if fresh is not None and hits:
        first = next(iter(hits.values()))
        if first.nbits != fresh.nbits or (first.segments is None) != (fresh.counts is None):
            logger.warning("Cached hashes do not match fresh ones in size; hashing every image again.")
            hits, miss_rows = {}, list(range(n))
            fresh = hash_rows(miss_rows)

    if cache is not None and params and fresh is not None and miss_rows:
        entries = []
        w = fresh.words_per_segment
        for k, i in enumerate(miss_rows):
            path = pathnames[i]
            st = filestats.get(path) if filestats is not None else None
            if st is None:
                continue  # not a file we know the state of: do not cache
            count = None if fresh.counts is None else int(fresh.counts[k])
            words = fresh.packed[k] if count is None else fresh.packed[k, :count * w]
            wh = resolution[i] if resolution is not None else (0, 0)
            entries.append(CacheEntry(path, int(st[0]), int(st[1]), np.array(words, dtype=np.uint64),
                                      int(fresh.nbits), count, fresh.shape, int(wh[0]), int(wh[1]),
                                      float(blur[i]) if blur is not None else math.nan,
                                      int(blur_pixels[i]) if blur_pixels is not None else 0,
                                      bool(damaged[i]) if damaged is not None else False,
                                      tuple((warnings or {}).get(path, ())),
                                      bool(is_grey[i]) if is_grey is not None else False,
                                      thumbs[i] if thumbs is not None else None))
        cache.store(entries, params)

    if not hits:
        return fresh, 0
    if fresh is None and not miss_rows:
        first = next(iter(hits.values()))
        nbits, grid, multi = first.nbits, first.grid, first.segments is not None
    else:
        nbits, grid, multi = fresh.nbits, fresh.shape, fresh.counts is not None
    w = (nbits + 63) // 64
    counts = np.zeros(n, dtype=np.int64) if multi else None
    if multi:
        for i, p in enumerate(pathnames):
            if p in hits:
                counts[i] = hits[p].segments
        if miss_rows:
            counts[miss_rows] = fresh.counts
        width = int(counts.max(initial=0)) * w
    else:
        width = w
    packed = np.zeros((n, width), dtype=np.uint64)
    for i, p in enumerate(pathnames):
        entry = hits.get(p)
        if entry is not None:
            packed[i, :entry.packed.size] = entry.packed
    if miss_rows:
        cols = min(width, fresh.packed.shape[1])
        packed[miss_rows, :cols] = fresh.packed[:, :cols]
    return HashBatch(packed, nbits, counts, grid), len(hits)
