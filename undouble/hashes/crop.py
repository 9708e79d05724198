"""Crop-resistant hash (ImageHash ``crop_resistant_hash``), bit-identical.

Algorithm (ImageHash 4.3.2, "Efficient Cropping-Resistant Robust Image
Hashing"): the Pillow "L" grey image is Lanczos-resized to ``S x S``
(``segmentation_image_size``), blurred (``GaussianBlur(2)``) and
median-filtered (``MedianFilter(3)``); 4-connected bright ("hill",
``> segment_threshold``) and dark ("valley") regions of more than
``min_segment_size`` pixels are the segments. Each segment's bounding box is
mapped back to the original image (``round`` half to even of
``coord * (W / S)``), cropped and hashed with the inner hash (``dhash`` by
default). The image's hash is the list of segment hashes.

Segment order is ImageHash's: hills, then valleys, each in row-major order
of a region's first pixel. Only when ``limit_segments`` is given are the
segments sorted by size (largest first, stable) and cut to that many.

Where ImageHash crashes, we return a result instead:

* ImageHash's valley search stops once its "segmented" set reaches ``S*S``
  entries (it starts with the ``4*S`` out-of-image border pixels, and
  one-pixel regions are never added). When more than ``4*S`` pixels lie in
  one-pixel regions (e.g. 1-px checkerboards) it runs out of regions and
  raises ``IndexError``. We stop there and keep the segments found so far
  (the whole image as one segment if there are none).
* A bounding box can round to zero width or height (narrow images). Pillow
  then crops an empty image, which ahash, dhash, dhash_vertical, phash and
  phash_simple hash as an all-black image (all bits 0); we hash a 1 x 1
  black image, which gives exactly that. ImageHash's whash and colorhash
  crash on an empty crop; ours return their hash of a 1 x 1 black image.

Distances
---------
ImageHash compares multi-hashes asymmetrically (:func:`multihash_difference`,
ImageHash's ``A - B``; :func:`multihash_matches`, ``A.matches(B)``).
For grouping duplicates the library uses a symmetric distance: the
**minimum Hamming distance over all pairs of segments** of the two images
(:func:`min_segment_distance`; the matrix and pair kernels are in
``undouble.distance``). Two images at distance ``<= 0.25 * nbits`` have at
least one matching segment, i.e. ``A.matches(B)`` and ``B.matches(A)`` are
both true in ImageHash.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

import numba

from .._kernels.segment import (SEG_FIELDS, crop_resistant_chunk, find_segments, gaussian_blur2,
                               median3)
from .._kernels.resample import resize_plane
from ..resample import resize_tables
from .base import HashBatch, as_image_array, to_grey_stack
from .registry import METHODS, canonical_method

__all__ = [
    "crop_resistant_batch",
    "segment_boxes",
    "segment_labels",
    "segmentation_plane",
    "segment_hashes",
    "multihash_difference",
    "multihash_matches",
    "min_segment_distance",
]

# Inner hashes that only look at the Pillow "L" image: their crops are taken
# from the grey image (same pixels as converting the colour crop).
_GREY_METHODS = frozenset({"ahash", "dhash", "dhash_vertical", "phash", "phash_simple",
                           "whash-haar", "whash-db4"})
# Inner hashes that start with a Lanczos resize of the grey crop to a fixed
# ``(width, height)``: we resize all crops in one kernel, and the inner hash
# then gets images of exactly that size (its own resize is then a copy).
_RESIZE_TARGETS: dict[str, Callable[[int], tuple[int, int]]] = {
    "ahash": lambda n: (n, n),
    "dhash": lambda n: (n + 1, n),
    "dhash_vertical": lambda n: (n, n + 1),
    "phash": lambda n: (4 * n, 4 * n),
    "phash_simple": lambda n: (4 * n, 4 * n),
}
# The in-kernel Lanczos tables use the C library's sin, as CPython does; with
# Intel SVML loaded Numba may vectorise it with other roundings: then the
# crops are resized by the inner hash itself (host tables, slower).
_KERNEL_TABLES = not numba.config.USING_SVML
_CHUNK_BYTES = 1 << 28
_CHUNK_IMAGES = 64


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------

def _check_size(segmentation_image_size: Any) -> int:
    size = int(segmentation_image_size)
    if size != segmentation_image_size or size < 1:
        raise ValueError(f"segmentation_image_size must be an integer >= 1, got {segmentation_image_size!r}")
    return size


def hill_table(segment_threshold: Any) -> np.ndarray:
    """``table[v]``: whether grey value ``v`` is a "hill" pixel.

    ImageHash compares its float32 pixels with ``segment_threshold`` using
    numpy's rules; evaluating that same comparison on the 256 grey values
    reproduces it for any threshold type.
    """
    table = np.arange(256, dtype=np.float32) > segment_threshold
    return np.ascontiguousarray(table, dtype=np.bool_)


def _min_size(min_segment_size: Any) -> int:
    """An integer ``m`` with ``size > m`` iff ``size > min_segment_size``."""
    value = math.floor(min_segment_size)
    return int(max(min(value, 1 << 40), -1))


def _capacity(size: int, min_size: int) -> int:
    return max(1, (size * size) // (max(min_size, 0) + 1))


def _inner_method(hash_func: Any) -> tuple[Callable[..., HashBatch], str | None]:
    """Batch function and registry name (None for a user function) of the inner hash."""
    if callable(hash_func) and not isinstance(hash_func, str):
        return hash_func, None
    name = canonical_method(hash_func)
    if name == "crop-resistant":
        raise ValueError("the inner hash of crop_resistant cannot be crop_resistant")
    return METHODS[name], name


# --------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------

def segmentation_plane(image: Any, segmentation_image_size: int = 300) -> np.ndarray:
    """The filtered ``S x S`` grey plane ImageHash segments (for inspection and tests)."""
    img = as_image_array(image)
    grey = to_grey_stack(np.ascontiguousarray(img)[None])[0]
    size = _check_size(segmentation_image_size)
    tables = resize_tables((grey.shape[1], grey.shape[0]), (size, size))
    return median3(gaussian_blur2(resize_plane(np.ascontiguousarray(grey), *_writable(tables))))


def segment_labels(image: Any, segment_threshold: Any = 128, min_segment_size: Any = 500,
                   segmentation_image_size: int = 300) -> tuple[np.ndarray, np.ndarray, bool]:
    """Segments of one image as ImageHash's ``_find_all_segments`` finds them.

    Returns
    -------
    labels : np.ndarray
        int32 ``(S, S)``: index of each pixel's segment, -1 for pixels of
        regions too small to keep, -2 for pixels never reached (ImageHash's
        early stop of the valley search).
    rows : np.ndarray
        int64 ``(count, 5)``: ``size, min_row, min_col, max_row, max_col`` of
        each segment, in ImageHash's order (no fallback segment added).
    exhausted : bool
        True where ImageHash raises ``IndexError`` (see the module docstring).
    """
    plane = segmentation_plane(image, segmentation_image_size)
    size = plane.shape[0]
    min_size = _min_size(min_segment_size)
    labels = np.empty((size, size), dtype=np.int32)
    out = np.zeros((_capacity(size, min_size), SEG_FIELDS), dtype=np.int64)
    count, exhausted = find_segments(plane, hill_table(segment_threshold), min_size, labels, out)
    return labels, out[:count].copy(), bool(exhausted)


def segment_boxes(rows: np.ndarray, width: int, height: int, size: int,
                  limit_segments: int | None = None) -> np.ndarray:
    """Crop boxes ``(x0, y0, x1, y1)`` of segments (host version, used as a reference).

    ``rows`` as returned by :func:`segment_labels`. Applies ImageHash's
    fallback (no segment: the whole image) and ``limit_segments`` (stable
    sort by size, largest first, then ``[:limit_segments]``); ImageHash
    computes ``coord * (W / S)`` in float64 and Pillow's crop rounds half to
    even, as numpy's ``round`` does.
    """
    if rows.shape[0] == 0:
        rows = np.array([[2 if size > 1 else 1, 0, 0, size - 1, size - 1]], dtype=np.int64)
    if limit_segments:
        order = sorted(range(rows.shape[0]), key=lambda k: int(rows[k, 0]), reverse=True)
        rows = rows[order[:limit_segments]]
    scale_w = float(width) / size
    scale_h = float(height) / size
    boxes = np.empty((rows.shape[0], 4), dtype=np.int64)
    boxes[:, 0] = np.round(rows[:, 2] * scale_w)
    boxes[:, 1] = np.round(rows[:, 1] * scale_h)
    boxes[:, 2] = np.round((rows[:, 4] + 1) * scale_w)
    boxes[:, 3] = np.round((rows[:, 3] + 1) * scale_h)
    return boxes


def _writable(tables: tuple) -> list:
    """Writable copies of the tables: one Numba signature whether or not a pass is skipped."""
    return [np.array(t) if isinstance(t, np.ndarray) else t for t in tables]


def _chunks(images: Sequence[np.ndarray], extra_bytes: int):
    """``(indices, stack)`` of equal-shape images, a bounded number of bytes each.

    ``extra_bytes``: kernel output per image (crops and boxes).
    """
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(img.shape, []).append(i)
    for shape, idx in by_shape.items():
        per_image = 2 * math.prod(shape) + extra_bytes
        per = max(1, min(_CHUNK_IMAGES, _CHUNK_BYTES // per_image))
        for start in range(0, len(idx), per):
            part = idx[start:start + per]
            stack = np.stack([images[i] for i in part]) if len(part) > 1 else images[part[0]][None]
            stack = np.ascontiguousarray(stack)
            if not stack.flags.writeable:  # one Numba signature for all inputs
                stack = stack.copy()
            yield np.asarray(part, dtype=np.int64), stack


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _run_threads(kernel: Callable, stack: np.ndarray, *args: Any):
    """``kernel(stack, *args)`` (a ``nogil`` kernel) on parts of the stack in threads.

    Uses ``numba.get_num_threads()`` threads; returns ``(boxes, counts, crops)``.
    """
    threads = min(numba.get_num_threads(), stack.shape[0])
    if threads <= 1:
        boxes, counts, _, crops = kernel(stack, *args)
        return boxes, counts, crops
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="undouble-crop")
    parts = np.array_split(np.arange(stack.shape[0]), threads)
    futures = [pool.submit(kernel, stack[p[0]:p[-1] + 1], *args) for p in parts]
    results = [f.result() for f in futures]
    return (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]),
            np.concatenate([r[3] for r in results]))


def _limit(limit_segments: Any) -> int:
    """ImageHash's ``if limit_segments: ...[:limit_segments]`` as one int (0: no limit)."""
    if not limit_segments:
        return 0
    if int(limit_segments) != limit_segments:
        raise TypeError(f"limit_segments must be an integer, got {limit_segments!r}")
    return int(limit_segments)


def _crop_list(source: np.ndarray, boxes: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Crops of each image as arrays; an empty crop becomes a 1 x 1 black image."""
    blank = np.zeros((1, 1) + source.shape[3:], dtype=np.uint8)
    crops = []
    for j in range(source.shape[0]):
        for x0, y0, x1, y1 in boxes[j, :counts[j]]:
            crop = source[j, y0:y1, x0:x1]
            crops.append(crop if crop.shape[0] and crop.shape[1] else blank)
    return crops


# --------------------------------------------------------------------------
# The hash
# --------------------------------------------------------------------------

def crop_resistant_batch(images: Sequence[Any], hash_size: int = 8, hash_func: Any = "dhash",
                         limit_segments: int | None = None, segment_threshold: Any = 128,
                         min_segment_size: Any = 500, segmentation_image_size: int = 300,
                         hash_options: dict[str, Any] | None = None) -> HashBatch:
    """Crop-resistant hash (ImageHash ``crop_resistant_hash``) of each image.

    Parameters
    ----------
    images : sequence
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes.
    hash_size : int
        ``hash_size`` of the inner hash.
    hash_func : str or callable
        Inner hash: a method name of :data:`undouble.hashes.METHODS`
        (``'dhash'``, ``'ahash'``, ``'phash'``, ...) or a batch function
        ``fn(images, hash_size) -> HashBatch`` (given the colour crops).
    limit_segments : int, optional
        Keep only the largest segments (sorted by size, stable).
    segment_threshold : int or float
        Grey level separating hills (``>``) from valleys.
    min_segment_size : int
        Segments need more than this many pixels (of the ``S x S`` image).
    segmentation_image_size : int
        ``S``: the grey image is resized to ``S x S`` for segmentation.
    hash_options : dict, optional
        Extra options of the inner hash (ours; ImageHash takes a function),
        e.g. ``{'image_scale': 64}`` for ``'whash-db4'``, whose bit count
        otherwise depends on each crop's size (an error: all segment hashes
        of a batch must have one bit count).

    Returns
    -------
    HashBatch
        ``packed`` uint64 ``(N, max_segments * words_per_segment)``,
        zero-padded; ``nbits`` bits per segment; ``counts`` segments per
        image; ``HashBatch.hex(i)`` equals ``str(imagehash.crop_resistant_hash(...))``.
    """
    imgs = [as_image_array(img) for img in images]
    size = _check_size(segmentation_image_size)
    inner, name = _inner_method(hash_func)
    hash_options = dict(hash_options or {})
    target = _RESIZE_TARGETS.get(name) if _KERNEL_TABLES and not hash_options else None
    out_w, out_h = (0, 0)
    if target is not None and int(hash_size) == hash_size and hash_size >= 2:
        out_w, out_h = target(int(hash_size))
    is_hill = hill_table(segment_threshold)
    min_size = _min_size(min_segment_size)
    cap = _capacity(size, min_size)
    limit = _limit(limit_segments)

    n = len(imgs)
    counts = np.zeros(n, dtype=np.int64)
    hashed: list[tuple[np.ndarray, np.ndarray, HashBatch]] = []
    for idx, stack in _chunks(imgs, cap * (out_w * out_h + 32)):
        height, width = stack.shape[1], stack.shape[2]
        grey = to_grey_stack(stack)
        tables = _writable(resize_tables((width, height), (size, size)))
        boxes, chunk_counts, crops = _run_threads(
            crop_resistant_chunk, grey, *tables, is_hill, min_size, size, cap, limit, out_w, out_h)
        counts[idx] = chunk_counts
        if not chunk_counts.any():
            continue
        if out_w > 0:
            todo = np.concatenate([crops[j, :chunk_counts[j]] for j in range(len(idx))])
        else:
            todo = _crop_list(grey if name in _GREY_METHODS else stack, boxes, chunk_counts)
        hashed.append((idx, chunk_counts, inner(todo, hash_size, **hash_options)))
    if hashed:
        nbits, shape = hashed[0][2].nbits, hashed[0][2].shape
    else:  # no image, or no segment at all (negative limit_segments)
        probe = inner([np.zeros((1, 1), dtype=np.uint8)], hash_size, **hash_options)
        nbits, shape = probe.nbits, probe.shape
    words = (nbits + 63) // 64
    packed = np.zeros((n, int(counts.max(initial=0)) * words), dtype=np.uint64)
    for idx, chunk_counts, batch in hashed:
        if batch.nbits != nbits:
            raise ValueError(f"the inner hash gave segment hashes of {nbits} and {batch.nbits} bits")
        start = 0
        for i, k in zip(idx, chunk_counts):
            packed[i, :k * words] = batch.packed[start:start + k].ravel()
            start += k
    return HashBatch(packed, nbits, counts, shape)


# --------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------

def segment_hashes(batch: HashBatch, i: int) -> np.ndarray:
    """Packed segment hashes of image ``i``: uint64 ``(count, words_per_segment)``."""
    w = batch.words_per_segment
    count = int(batch.counts[i]) if batch.counts is not None else 1
    return batch.packed[i, :count * w].reshape(count, w)


def _as_segments(hashes: Any, nbits: int) -> np.ndarray:
    arr = np.asarray(hashes, dtype=np.uint64)
    words = (nbits + 63) // 64
    return np.ascontiguousarray(arr.reshape(-1, words))


def _distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between every segment of ``a`` and of ``b``."""
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    bits = np.unpackbits(np.ascontiguousarray(x).view(np.uint8), axis=-1)
    return bits.sum(axis=-1, dtype=np.int64)


def _hash_diff(a: np.ndarray, b: np.ndarray, nbits: int, cutoff: float | None,
               bit_error_rate: float | None) -> tuple[int, int]:
    if cutoff is None:
        cutoff = nbits * (0.25 if bit_error_rate is None else bit_error_rate)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return 0, 0
    lowest = _distance_matrix(a, b).min(axis=1)
    kept = lowest[lowest <= cutoff]
    return int(kept.size), int(kept.sum())


def multihash_difference(a_hashes: Any, b_hashes: Any, nbits: int, cutoff: float | None = None,
                         bit_error_rate: float | None = None) -> float:
    """ImageHash's asymmetric ``A - B`` of two crop-resistant hashes.

    Parameters
    ----------
    a_hashes, b_hashes : array_like
        Packed segment hashes, uint64 ``(count, words_per_segment)`` (see
        :func:`segment_hashes`); flat arrays are reshaped.
    nbits : int
        Bits of one segment hash.
    cutoff : float, optional
        Hamming cutoff of a matching segment (default ``nbits * bit_error_rate``).
    bit_error_rate : float, optional
        Default 0.25.

    Returns
    -------
    float
        ``len(A)`` if no segment of A is within ``cutoff`` of a segment of B,
        else ``len(A) - (matches - sum / (matches * nbits))``, where ``sum``
        adds the matching segments' minimum distances. An empty B (ImageHash
        raises) counts as no match; an empty A (ImageHash raises) gives 0.0.
    """
    a = _as_segments(a_hashes, nbits)
    b = _as_segments(b_hashes, nbits)
    matches, total = _hash_diff(a, b, nbits, cutoff, bit_error_rate)
    max_difference = a.shape[0]
    if matches == 0:
        return float(max_difference)
    tie_breaker = 0 - (float(total) / (matches * nbits))
    return max_difference - (matches + tie_breaker)


def multihash_matches(a_hashes: Any, b_hashes: Any, nbits: int, region_cutoff: int = 1,
                      cutoff: float | None = None, bit_error_rate: float | None = None) -> bool:
    """ImageHash's ``A.matches(B)``: at least ``region_cutoff`` segments of A
    are within ``cutoff`` (default 25 % of ``nbits``) of some segment of B.

    With the defaults this equals ``min_segment_distance(A, B) <= 0.25 * nbits``
    (and is therefore symmetric).
    """
    a = _as_segments(a_hashes, nbits)
    b = _as_segments(b_hashes, nbits)
    matches, _ = _hash_diff(a, b, nbits, cutoff, bit_error_rate)
    return matches >= region_cutoff


def min_segment_distance(a_hashes: Any, b_hashes: Any, nbits: int | None = None) -> int:
    """Symmetric grouping distance: minimum Hamming distance over all segment pairs.

    ``a_hashes`` and ``b_hashes`` are uint64 ``(count, words)`` arrays (or
    flat arrays of one-word segments when ``nbits`` is not given).
    """
    a = np.asarray(a_hashes, dtype=np.uint64)
    b = np.asarray(b_hashes, dtype=np.uint64)
    if nbits is not None:
        a, b = _as_segments(a, nbits), _as_segments(b, nbits)
    else:
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError("min_segment_distance needs at least one segment on each side")
    return int(_distance_matrix(a, b).min())
