"""Wavelet hashes (ImageHash 4.3.2 ``whash``, modes ``'haar'`` and ``'db4'``), bit-identical.

Steps, for hash size ``n`` (a power of two) and image scale ``S``:

1. ``S = max(2**floor(log2(min(W, H))), n)`` unless given (a power of two);
   ``level = log2(n)``, ``ll_max_level = log2(S)``, ``dwt_level =
   ll_max_level - level`` (an error if negative).
2. Pillow "L" grey, Pillow-exact Lanczos resize to ``S x S``, divided by
   255.0 (float64).
3. ``remove_max_haar_ll`` (default): Haar ``wavedec2`` to ``ll_max_level``,
   approximation set to zero, ``waverec2`` back.
4. ``wavedec2(px, wavelet, level=dwt_level)``; bit = ``LL > median(LL)``.

Haar's LL is ``n x n``. Daubechies-4's is larger and depends on ``S``: each
level maps a side ``N`` to ``(N + 7) // 2``, so for ``S >= 8n`` (images of
at least ``8n`` pixels on the short side, or an explicit ``image_scale >=
8n``) it is ``(n + 6) x (n + 6)`` (n=8: 14 x 14 = 196 bits), and smaller
for smaller scales (a 40 x 50 image with n=8 gives 13 x 13, as ImageHash).
Sides below 8 (tiny scales) follow the same symmetric-extension formula and
match PyWavelets. Because one batch holds one bit count, a db4 batch whose
images give different LL sizes raises a ValueError; pass ``image_scale``
(e.g. ``8 * hash_size``) to hash every image at the same scale.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._kernels import wavelet as _wavelet
from .._kernels.bits import pack_rows
from ..resample import resize_tables
from .base import HashBatch, as_channel_stack, as_image_list, read_only_tables, run_in_threads, shape_groups

__all__ = ["whash_haar_batch", "whash_db4_batch", "HAAR_DEC_LO", "DB4_DEC_LO", "filters",
           "whash_side"]

_H = 0.7071067811865476  # 1/sqrt(2), PyWavelets' Haar coefficient

HAAR_DEC_LO = np.array([_H, _H])
"""PyWavelets' ``Wavelet('haar').dec_lo``."""

DB4_DEC_LO = np.array([
    -0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309,
    -0.027983769416859854, 0.6308807679298589, 0.7148465705529157, 0.2303778133088965,
])
"""PyWavelets' ``Wavelet('db4').dec_lo`` (Daubechies, 4 vanishing moments, 8 taps)."""

for _arr in (HAAR_DEC_LO, DB4_DEC_LO):
    _arr.flags.writeable = False


def filters(wavelet: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(dec_lo, dec_hi, rec_lo, rec_hi)`` of ``'haar'`` or ``'db4'``, as PyWavelets has them.

    ``dec_hi[t] = (-1)**(t + 1) * dec_lo[F - 1 - t]``; the reconstruction
    filters are the decomposition filters reversed.
    """
    if wavelet == "haar":
        dec_lo = HAAR_DEC_LO
    elif wavelet == "db4":
        dec_lo = DB4_DEC_LO
    else:
        raise ValueError(f"unknown wavelet {wavelet!r}; use 'haar' or 'db4'")
    f = dec_lo.shape[0]
    dec_hi = np.array([(-1.0 if t % 2 == 0 else 1.0) * dec_lo[f - 1 - t] for t in range(f)])
    return (np.array(dec_lo), dec_hi, np.array(dec_lo[::-1]), np.array(dec_hi[::-1]))


def _power_of_two(value: object, name: str, method: str) -> int:
    """``value`` as an int if it is an integral power of two ``>= 1``."""
    message = f"{method}: {name} must be a power of 2 (1, 2, 4, 8, ...), got {value!r}"
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(message)
    try:
        as_int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(message) from None
    if as_int != value or as_int < 1 or as_int & (as_int - 1):
        raise ValueError(message)
    return as_int


def whash_side(scale: int, dwt_level: int, taps: int) -> int:
    """Side of the approximation after ``dwt_level`` levels from ``scale`` (``F = taps``)."""
    side = scale
    for _ in range(dwt_level):
        side = (side + taps - 1) // 2
    return side


def _levels(scale: int, level: int, method: str) -> tuple[int, int]:
    """``(ll_max_level, dwt_level)`` of a scale; an error if the hash is larger."""
    ll_max_level = scale.bit_length() - 1
    if level > ll_max_level:
        raise ValueError(f"{method}: hash_size {1 << level} is larger than image_scale {scale}; "
                         "image_scale must be >= hash_size")
    return ll_max_level, ll_max_level - level


def _whash(images: Sequence[np.ndarray], hash_size: int, image_scale: int | None,
           remove_max_haar_ll: bool, wavelet: str) -> HashBatch:
    method = f"whash-{wavelet}"
    n = _power_of_two(hash_size, "hash_size", method)
    scale_given = None if image_scale is None else _power_of_two(image_scale, "image_scale", method)
    level = n.bit_length() - 1
    dec_lo = HAAR_DEC_LO if wavelet == "haar" else DB4_DEC_LO
    taps = dec_lo.shape[0]
    remove = bool(remove_max_haar_ll)

    arrays = as_image_list(images)
    groups = []
    side = None
    for idx, stack in shape_groups(arrays):
        h, w = stack.shape[1], stack.shape[2]
        scale = max(1 << (min(h, w).bit_length() - 1), n) if scale_given is None else scale_given
        ll_max_level, dwt_level = _levels(scale, level, method)
        group_side = whash_side(scale, dwt_level, taps)
        if side is None:
            side = group_side
        elif group_side != side:
            raise ValueError(
                f"{method}: these images give hashes of different sizes ({side}x{side} and "
                f"{group_side}x{group_side} bits): the db4 approximation depends on the image "
                f"scale, which by default follows the image size. Pass image_scale (e.g. "
                f"image_scale={8 * n}) to hash every image at one scale.")
        groups.append((idx, stack, scale, ll_max_level, dwt_level))

    if side is None:  # no images: the size of a hash at the given scale (default: 8n)
        scale = 8 * n if scale_given is None else scale_given
        side = whash_side(scale, _levels(scale, level, method)[1], taps)
    nbits = side * side
    bits = np.zeros((len(arrays), nbits), dtype=np.bool_)
    for idx, stack, scale, ll_max_level, dwt_level in groups:
        tables = read_only_tables(resize_tables((stack.shape[2], stack.shape[1]), (scale, scale)))
        args = (*tables, ll_max_level, remove, dec_lo, dwt_level)
        bits[idx] = run_in_threads(_wavelet.whash_batch, as_channel_stack(stack), *args, side)
    return HashBatch(pack_rows(bits), nbits, None, (side, side))


def whash_haar_batch(images: Sequence[np.ndarray], hash_size: int = 8, image_scale: int | None = None,
                     remove_max_haar_ll: bool = True) -> HashBatch:
    """Haar wavelet hash (ImageHash ``whash(mode='haar')``) of each image.

    Parameters
    ----------
    images : sequence of np.ndarray
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes
        (images smaller than the hash are upscaled, as ImageHash does).
    hash_size : int
        ``n``, a power of two: the hash has ``n * n`` bits.
    image_scale : int or None
        Side ``S`` of the square the image is resized to (a power of two,
        ``>= hash_size``). Default: the largest power of two not above the
        image's short side, at least ``hash_size``.
    remove_max_haar_ll : bool
        Remove the lowest frequency (Haar approximation at the coarsest level)
        first, as ImageHash does by default.

    Returns
    -------
    HashBatch
        Packed hashes of ``n * n`` bits, grid shape ``(n, n)``.

    Raises
    ------
    ValueError
        If ``hash_size`` or ``image_scale`` is not a power of two, or
        ``hash_size > image_scale``.
    """
    return _whash(images, hash_size, image_scale, remove_max_haar_ll, "haar")


def whash_db4_batch(images: Sequence[np.ndarray], hash_size: int = 8, image_scale: int | None = None,
                    remove_max_haar_ll: bool = True) -> HashBatch:
    """Daubechies-4 wavelet hash (ImageHash ``whash(mode='db4')``) of each image.

    Parameters
    ----------
    images : sequence of np.ndarray
        uint8 images, grey ``(H, W)`` or RGB(A) ``(H, W, C)``, any sizes.
    hash_size : int
        ``n``, a power of two.
    image_scale : int or None
        As for :func:`whash_haar_batch`.
    remove_max_haar_ll : bool
        Remove the Haar approximation at the coarsest level first (default).

    Returns
    -------
    HashBatch
        Packed hashes of ``m * m`` bits, grid shape ``(m, m)``, where ``m``
        is the side of the db4 approximation: ``n + 6`` when the scale is at
        least ``8n`` (n=8: 196 bits), less for smaller scales (see the module
        docstring).

    Raises
    ------
    ValueError
        As :func:`whash_haar_batch`; also when the images of the batch give
        approximations of different sizes (pass ``image_scale``).
    """
    return _whash(images, hash_size, image_scale, remove_max_haar_ll, "db4")
