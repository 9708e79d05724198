"""Colour hash (ImageHash 4.3.2 ``colorhash``), bit-identical.

The hash describes the fractions of black pixels, of grey (unsaturated)
pixels, and of faintly and brightly saturated pixels in six hue bins, each
quantised to ``binbits`` bits (ImageHash's own, not plain binary, encoding):
``14 * binbits`` bits in all, grid shape ``(14, binbits)``.

Grey images are hashed as ImageHash hashes ``PIL.Image.fromarray(grey)``
(Pillow's L -> HSV has zero hue and saturation); RGBA images as
``fromarray(rgba)`` (alpha is ignored by both Pillow conversions).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._kernels.bits import pack_rows
from .._kernels.colorhash import N_VALUES
from .._kernels.colorhash import colorhash_batch as _colorhash_kernel
from .base import HashBatch, as_image_list, run_in_threads, shape_groups

__all__ = ["colorhash_batch", "MAX_BINBITS"]

MAX_BINBITS = 24
"""Largest ``binbits`` accepted (the fractions are formed in int64/float64)."""


def _check_binbits(binbits: object) -> int:
    if isinstance(binbits, (bool, np.bool_)):
        raise ValueError(f"colorhash: binbits must be an integer, got {binbits!r}")
    try:
        value = int(binbits)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"colorhash: binbits must be an integer, got {binbits!r}") from None
    if value != binbits or not 1 <= value <= MAX_BINBITS:
        raise ValueError(f"colorhash: binbits must be an integer in 1..{MAX_BINBITS}, got {binbits!r}")
    return value


def colorhash_batch(images: Sequence[np.ndarray], hash_size: int = 8, binbits: int = 3) -> HashBatch:
    """Colour hash (ImageHash ``colorhash``) of each image.

    Parameters
    ----------
    images : sequence of np.ndarray
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes.
    hash_size : int
        Ignored (the registry passes it to every method); the size is set by
        ``binbits``.
    binbits : int
        Bits per fraction, ``1..24`` (ImageHash's default 3).

    Returns
    -------
    HashBatch
        Packed hashes of ``14 * binbits`` bits, grid shape ``(14, binbits)``.

    Raises
    ------
    ValueError
        If ``binbits`` is not an integer in ``1..24``.
    """
    bb = _check_binbits(binbits)
    nbits = N_VALUES * bb
    arrays = as_image_list(images)
    bits = np.zeros((len(arrays), nbits), dtype=np.bool_)
    for idx, stack in shape_groups(arrays):
        if stack.ndim == 3:  # grey: one channel, read as (v, v, v)
            stack = stack[:, :, :, None]
        stack = np.ascontiguousarray(stack)
        bits[idx] = run_in_threads(_colorhash_kernel, stack, bb)
    return HashBatch(pack_rows(bits), nbits, None, (N_VALUES, bb))
