"""DCT hashes: phash and phash_simple, bit-identical to ImageHash 4.3.2.

Both resize the Pillow "L" grey image to ``N x N`` with ``N = hash_size *
highfreq_factor`` (Pillow-exact Lanczos), then:

- ``phash``: 2-D DCT-II (axis 0, then axis 1), keep ``d[:n, :n]``,
  bit = ``d > median``;
- ``phash_simple``: DCT-II along the rows only, keep ``d[:n, 1:n+1]``,
  bit = ``d > mean`` (numpy's pairwise-summed mean).

With ``highfreq_factor == 1`` phash_simple keeps ``n - 1`` columns (as the
reference does), so its hash has ``n * (n - 1)`` bits.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._kernels import dct as _dct
from .._kernels.bits import pack_rows
from ..resample import resize_tables
from .base import HashBatch, as_image_list, channel_groups, read_only_tables, run_in_threads

__all__ = ["phash_batch", "phash_simple_batch"]


def _as_int(value: object, minimum: int) -> int | None:
    """``value`` as an int if it is an integral number ``>= minimum``, else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        as_int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return as_int if as_int == value and as_int >= minimum else None


def _check_options(hash_size: int, highfreq_factor: int, method: str) -> tuple[int, int]:
    """Validated ``(hash_size, highfreq_factor)`` as ints."""
    n = _as_int(hash_size, 2)
    if n is None:
        raise ValueError(f"{method}: hash_size must be an integer >= 2, got {hash_size!r}")
    factor = _as_int(highfreq_factor, 1)
    if factor is None:
        raise ValueError(f"{method}: highfreq_factor must be an integer >= 1, got {highfreq_factor!r}")
    return n, factor


def _run(images: Sequence[np.ndarray], size: int, nbits: int, kernel, *args) -> np.ndarray:
    """Resize every image to ``size x size`` and run ``kernel`` per shape group."""
    arrays = as_image_list(images)
    bits = np.zeros((len(arrays), nbits), dtype=np.bool_)
    for idx, stack in channel_groups(arrays):
        tables = resize_tables((stack.shape[2], stack.shape[1]), (size, size))
        bits[idx] = run_in_threads(kernel, stack, *args, *read_only_tables(tables))
    return pack_rows(bits)


def phash_batch(images: Sequence[np.ndarray], hash_size: int = 8, highfreq_factor: int = 4) -> HashBatch:
    """Perceptual hash (ImageHash ``phash``) of each image.

    Parameters
    ----------
    images : sequence of np.ndarray
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes.
    hash_size : int
        ``n``: the hash has ``n * n`` bits (``n >= 2``).
    highfreq_factor : int
        The image is resized to ``n * highfreq_factor`` pixels square before
        the DCT (``>= 1``).

    Returns
    -------
    HashBatch
        Packed hashes of ``n * n`` bits, grid shape ``(n, n)``.

    Raises
    ------
    ValueError
        If ``hash_size < 2`` or ``highfreq_factor < 1`` (or not integers).
    """
    n, factor = _check_options(hash_size, highfreq_factor, "phash")
    packed = _run(images, n * factor, n * n, _dct.phash_batch, n)
    return HashBatch(packed, n * n, None, (n, n))


def phash_simple_batch(images: Sequence[np.ndarray], hash_size: int = 8,
                       highfreq_factor: int = 4) -> HashBatch:
    """Simple perceptual hash (ImageHash ``phash_simple``) of each image.

    Parameters
    ----------
    images : sequence of np.ndarray
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes.
    hash_size : int
        ``n >= 2``. ImageHash accepts ``n = 1`` here (a constant one-bit
        hash); we reject it like the other DCT hash.
    highfreq_factor : int
        Resize to ``n * highfreq_factor`` square (``>= 1``). With 1 the kept
        block is ``n x (n - 1)``, as in the reference.

    Returns
    -------
    HashBatch
        Packed hashes of ``n * min(n, N - 1)`` bits (``N = n * highfreq_factor``).

    Raises
    ------
    ValueError
        If ``hash_size < 2`` or ``highfreq_factor < 1`` (or not integers).
    """
    n, factor = _check_options(hash_size, highfreq_factor, "phash_simple")
    size = n * factor
    cols = min(n, size - 1)
    packed = _run(images, size, n * cols, _dct.phash_simple_batch, n, cols)
    return HashBatch(packed, n * cols, None, (n, cols))
