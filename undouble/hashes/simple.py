"""The resize-and-compare hashes: ``ahash`` (average), ``dhash`` and ``dhash_vertical`` (difference)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._kernels.hashes import ahash_batch, dhash_batch
from .base import HashBatch, _batch_from_grids, _check_hash_size, _resized_kernel


def ahash_batch_images(images: Sequence[np.ndarray], hash_size: int = 8) -> HashBatch:
    """Average hash (ImageHash ``average_hash``) of each image."""
    n = _check_hash_size(hash_size, "ahash")
    return _batch_from_grids(images, n * n, (n, n), _resized_kernel(ahash_batch, n, n, n))


def dhash_batch_images(images: Sequence[np.ndarray], hash_size: int = 8) -> HashBatch:
    """Horizontal difference hash (ImageHash ``dhash``) of each image."""
    n = _check_hash_size(hash_size, "dhash")
    return _batch_from_grids(images, n * n, (n, n), _resized_kernel(dhash_batch, n + 1, n, n, 0, 1))


def dhash_vertical_batch_images(images: Sequence[np.ndarray], hash_size: int = 8) -> HashBatch:
    """Vertical difference hash (ImageHash ``dhash_vertical``) of each image."""
    n = _check_hash_size(hash_size, "dhash_vertical")
    return _batch_from_grids(images, n * n, (n, n), _resized_kernel(dhash_batch, n, n + 1, n, 1, 0))
