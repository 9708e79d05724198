"""User-level folders and files of undouble, importable from every module.

Nothing here imports another undouble module, so that ``cache``, ``io`` and
``examples`` can all take their folders from it without an import cycle.
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE_FILENAME = "hashes.sqlite3"
"""Name of the hash cache database in :func:`cache_dir`."""


def cache_dir() -> Path:
    """undouble's cache folder: ``$UNDOUBLE_CACHE_DIR``, else ``$XDG_CACHE_HOME/undouble``,
    else ``~/.cache/undouble`` (``%LOCALAPPDATA%\\undouble`` on Windows)."""
    if os.environ.get("UNDOUBLE_CACHE_DIR"):
        return Path(os.environ["UNDOUBLE_CACHE_DIR"]).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "undouble"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "undouble"


def default_cache_path() -> Path:
    """``hashes.sqlite3`` in undouble's user cache folder (:func:`cache_dir`)."""
    return cache_dir() / DEFAULT_CACHE_FILENAME


def image_store_dir() -> str:
    """Folder of the memory-mapped image stores (``keep_images='disk'``).

    ``images`` in undouble's cache folder (:func:`cache_dir`), which is on
    disk where ``/tmp`` may be in RAM. Each store is deleted when it is no
    longer used (on POSIX its name is removed at once and the space is freed
    when the array is garbage-collected).
    """
    return os.fspath(cache_dir() / "images")

