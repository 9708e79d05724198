"""Perceptual hashes as packed uint64 words, bit-identical to ImageHash.

Each method is a batch function ``fn(images, hash_size, **options) ->
HashBatch`` registered in :data:`METHODS`. The work happens in Numba kernels
(``undouble._kernels``); the modules here convert inputs, build the resize
tables on the host and pack bits:

* :mod:`.base`: :class:`HashBatch`, input conversion, the thread pool, hex/bit conversions;
* :mod:`.registry`: :data:`METHODS`, aliases, :func:`canonical_method`;
* :mod:`.simple` (ahash, dhash), :mod:`.dct` (phash), :mod:`.wavelet` (whash),
  :mod:`.color` (colorhash), :mod:`.crop` (crop-resistant): one module per family;
* this module: the public functions (:func:`compute_hashes`, :func:`hash_image`, ...).

Bit layout (as ImageHash's hex strings): the boolean grid flattened row-major,
bit ``[0, 0]`` is the most significant bit of word 0; unused low bits of the
last word are zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import (
    HashBatch, MIN_IMAGES_PER_THREAD, _batch_from_grids, _check_hash_size, _hash_pool, _pil_to_array,
    _resized_kernel, as_channel_stack, as_image_array, as_image_list, channel_groups, from_hex, grey_groups,
    pack_bits, read_only_tables, run_in_threads, shape_groups, to_bits, to_grey_stack, to_hex)
from .registry import (
    METHODS, _ALIASES, _deferred, canonical_method, iter_methods)
from .simple import (
    ahash_batch_images, dhash_batch_images, dhash_vertical_batch_images)

__all__ = [
    "HashBatch",
    "METHODS",
    "canonical_method",
    "compute_hashes",
    "hash_image",
    "hash_images",
    "to_hex",
    "from_hex",
    "to_bits",
    "ahash",
    "dhash",
    "dhash_vertical",
    "phash",
    "phash_simple",
    "whash",
    "colorhash",
    "crop_resistant_hash",
]


def compute_hashes(images: Any, method: str = "phash", hash_size: int = 8, **options: Any) -> HashBatch:
    """Hash a stack or a list of images.

    Parameters
    ----------
    images : np.ndarray or sequence
        ``N x H x W`` (grey) or ``N x H x W x C`` (RGB/RGBA) uint8 stack, or a
        list of uint8 arrays / PIL images of any sizes.
    method : str
        One of :data:`METHODS` (aliases such as ``'average_hash'`` accepted).
    hash_size : int
        Hash size ``n`` (most methods give ``n*n`` bits).
    **options
        Method options with ImageHash's names (``highfreq_factor``,
        ``image_scale``, ``remove_max_haar_ll``, ``binbits``, ...).

    Returns
    -------
    HashBatch
        Packed hashes, bit count and (crop-resistant) segment counts.
    """
    name = canonical_method(method)
    image_list = as_image_list(images)
    return METHODS[name](image_list, hash_size, **options)


def hash_images(images: Any, method: str = "phash", hash_size: int = 8, **options: Any) -> np.ndarray:
    """Packed hashes (uint64, ``N x words``) of a stack or list of images.

    See :func:`compute_hashes` for the parameters; this returns only the
    packed array (zero-padded segments for crop-resistant).
    """
    return compute_hashes(images, method, hash_size, **options).packed


def hash_image(image: Any, method: str = "phash", hash_size: int = 8, **options: Any) -> str:
    """Hash of one image as ImageHash's hex string.

    Parameters
    ----------
    image : np.ndarray or PIL.Image.Image
        ``H x W`` grey or ``H x W x 3`` (RGB) / ``x 4`` (RGBA) uint8 array,
        or a PIL image.
    method, hash_size, **options
        As in :func:`compute_hashes`.

    Returns
    -------
    str
        Lower-case hex, e.g. ``'8000000000000000'``; for crop-resistant, the
        segment hashes joined by commas, as ``str(ImageMultiHash)``.

    Examples
    --------
    >>> import numpy as np, undouble
    >>> undouble.hash_image(np.zeros((32, 32), np.uint8), 'ahash')
    '0000000000000000'
    """
    batch = compute_hashes([as_image_array(image)], method, hash_size, **options)
    return batch.hex(0)


def _grid(image: Any, method: str, hash_size: int, **options: Any) -> np.ndarray:
    batch = compute_hashes([as_image_array(image)], method, hash_size, **options)
    bits = to_bits(batch.packed[:1, : batch.words_per_segment], batch.nbits)[0]
    return bits.reshape(batch.shape) if batch.shape else bits


def ahash(image: Any, hash_size: int = 8) -> np.ndarray:
    """Average hash bit grid (``hash_size x hash_size`` bool)."""
    return _grid(image, "ahash", hash_size)


def dhash(image: Any, hash_size: int = 8) -> np.ndarray:
    """Horizontal difference hash bit grid."""
    return _grid(image, "dhash", hash_size)


def dhash_vertical(image: Any, hash_size: int = 8) -> np.ndarray:
    """Vertical difference hash bit grid."""
    return _grid(image, "dhash_vertical", hash_size)


def phash(image: Any, hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """Perceptual (DCT) hash bit grid."""
    return _grid(image, "phash", hash_size, highfreq_factor=highfreq_factor)


def phash_simple(image: Any, hash_size: int = 8, highfreq_factor: int = 4) -> np.ndarray:
    """Simple perceptual hash bit grid (1-D DCT, mean threshold)."""
    return _grid(image, "phash_simple", hash_size, highfreq_factor=highfreq_factor)


def whash(image: Any, hash_size: int = 8, image_scale: int | None = None, mode: str = "haar",
          remove_max_haar_ll: bool = True) -> np.ndarray:
    """Wavelet hash bit grid (``mode='haar'`` or ``'db4'``)."""
    return _grid(image, f"whash-{mode}", hash_size, image_scale=image_scale,
                 remove_max_haar_ll=remove_max_haar_ll)


def colorhash(image: Any, binbits: int = 3) -> np.ndarray:
    """HSV colour hash bits (``14 * binbits`` bool)."""
    return _grid(image, "colorhash", 8, binbits=binbits)


def crop_resistant_hash(image: Any, **options: Any) -> list[str]:
    """Crop-resistant hash: the hex string of every segment, largest first."""
    return hash_image(image, "crop-resistant", **options).split(",")
