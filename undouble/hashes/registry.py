"""The method table: canonical names, aliases, and the batch function of each method.

Methods other than ``ahash``/``dhash`` live in their own module (:mod:`.dct`,
:mod:`.wavelet`, :mod:`.color`, :mod:`.crop`) and are imported on first use, so
``import undouble.hashes`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .base import HashBatch
from .simple import ahash_batch_images, dhash_batch_images, dhash_vertical_batch_images


def _deferred(module: str, function: str, method: str) -> Callable[..., HashBatch]:
    """A method whose implementation lives in another module of the package."""

    def run(images: Sequence[np.ndarray], hash_size: int = 8, **options: Any) -> HashBatch:
        try:
            mod = importlib.import_module(module, __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(module.lstrip(".")):
                raise NotImplementedError(f"hash method {method!r} is not built yet") from None
            raise
        return getattr(mod, function)(images, hash_size, **options)

    run.__name__ = f"{method}_batch"
    return run


METHODS: dict[str, Callable[..., HashBatch]] = {
    "ahash": ahash_batch_images,
    "dhash": dhash_batch_images,
    "dhash_vertical": dhash_vertical_batch_images,
    "phash": _deferred(".dct", "phash_batch", "phash"),
    "phash_simple": _deferred(".dct", "phash_simple_batch", "phash_simple"),
    "whash-haar": _deferred(".wavelet", "whash_haar_batch", "whash-haar"),
    "whash-db4": _deferred(".wavelet", "whash_db4_batch", "whash-db4"),
    "colorhash": _deferred(".color", "colorhash_batch", "colorhash"),
    "crop-resistant": _deferred(".crop", "crop_resistant_batch", "crop-resistant"),
}
"""Canonical method name -> batch function ``(images, hash_size, **options) -> HashBatch``."""


_ALIASES = {
    "average_hash": "ahash",
    "ahash": "ahash",
    "phash": "phash",
    "dhash": "dhash",
    "whash": "whash-haar",
    "whash_haar": "whash-haar",
    "whash-haar": "whash-haar",
    "whash_db4": "whash-db4",
    "whash-db4": "whash-db4",
    "colorhash": "colorhash",
    "color_hash": "colorhash",
    "crop-resistant": "crop-resistant",
    "crop_resistant": "crop-resistant",
    "crop_resistant_hash": "crop-resistant",
    "phash_simple": "phash_simple",
    "phash-simple": "phash_simple",
    "dhash_vertical": "dhash_vertical",
    "dhash-vertical": "dhash_vertical",
}


def canonical_method(method: str) -> str:
    """The registry name of ``method`` (case-insensitive, ``_`` or ``-``)."""
    key = str(method).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown hash method {method!r}; choose one of {', '.join(METHODS)}")


def iter_methods() -> Iterable[str]:
    """Canonical method names."""
    return iter(METHODS)
