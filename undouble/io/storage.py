"""Where the preprocessed images are kept after import (``keep_images``).

``'auto'`` keeps them in memory when they fit ``image_memory_limit`` (and half
the available RAM), else not at all. ``True``/``'memory'``, ``'disk'`` (a
memory-mapped file in :func:`undouble.paths.image_store_dir`) and
``False``/``'none'`` force one of them. Without kept images,
``results['img']`` is a :class:`~undouble.batches.LazyImages` that decodes a
row again when it is indexed; :func:`load_preprocessed` gives one image in
every case.
"""
from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import weakref
from typing import Any, Sequence

import numpy as np

from .._logging import logger
from ..batches import LazyImages
from ..paths import image_store_dir
from .files import ImageReadError
from .decode import DEFAULT_MAX_PIXELS, load_file

DEFAULT_IMAGE_MEMORY_LIMIT = 256 * 1024 ** 2
"""``keep_images='auto'`` keeps the preprocessed images in memory up to this many bytes
(5,461 RGB images at 128 x 128); above it they are not kept (see :func:`choose_storage`), so
that a run of 30,000 photos stays under 1 GB of memory and writes no store."""
KEEP_IMAGES_CHOICES = ("auto", "memory", "disk", "none")


def available_memory() -> int | None:
    """Bytes of RAM available to new allocations (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def normalise_keep_images(keep_images: Any) -> str:
    """``'auto'``, ``'memory'``, ``'disk'`` or ``'none'`` from the ``keep_images`` argument."""
    if keep_images is True:
        return "memory"
    if keep_images is False or keep_images is None:
        return "none"
    key = str(keep_images).strip().lower()
    aliases = {"ram": "memory", "true": "memory", "false": "none", "no": "none", "memmap": "disk"}
    key = aliases.get(key, key)
    if key not in KEEP_IMAGES_CHOICES:
        raise ValueError(f"keep_images must be 'auto', True/'memory', 'disk' or False/'none', got {keep_images!r}")
    return key


def choose_storage(keep_images: Any, n_images: int, row_bytes: int,
                   memory_limit: int = DEFAULT_IMAGE_MEMORY_LIMIT, folder: str | None = None,
                   above_limit: str = "none") -> str:
    """Where ``n_images`` preprocessed images of ``row_bytes`` each will be kept.

    The ``'auto'`` rule: in memory when they take at most ``memory_limit``
    bytes and at most half the available RAM; else not at all
    (``results['img']`` then decodes an image again when it is used). Above
    the limit the store would cost more than it saves: writing the 1 GB of
    images of 20,000 photos takes seconds (``benchmarks/README.md``, "Stop
    20"), while grouping needs only the hashes and thumbnails, and a plot
    decodes the few images it shows. With ``above_limit='disk'`` (robust mode,
    whose window search reads the images of all its candidates) they go to a
    memory-mapped file in ``folder`` instead, when the disk has room for them
    plus 1 GiB. ``folder`` is also where ``'disk'`` (asked for) keeps them.

    Returns
    -------
    str
        ``'memory'``, ``'disk'`` or ``'none'``.
    """
    choice = normalise_keep_images(keep_images)
    if choice != "auto":
        return choice
    need = int(n_images) * int(row_bytes)
    ram = available_memory()
    if need <= memory_limit and (ram is None or need <= ram // 2):
        return "memory"
    if above_limit == "disk":
        folder = folder or image_store_dir()
        try:
            os.makedirs(folder, exist_ok=True)
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        if need + (1 << 30) <= free:
            logger.info("The %d preprocessed images (%.1f GiB) exceed the memory limit (%.1f GiB): keeping them "
                        "in a memory-mapped file in %s.", n_images, need / 2 ** 30, memory_limit / 2 ** 30, folder)
            return "disk"
    logger.info("The %d preprocessed images (%.1f GiB) exceed the memory limit (%.1f GiB): they are not kept, "
                "and an image is decoded again when it is shown (keep_images='disk' keeps them in a "
                "memory-mapped file).", n_images, need / 2 ** 30, memory_limit / 2 ** 30)
    return "none"


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


#: Arrays at least this large are allocated populated (:func:`populated_empty`).
POPULATE_MIN_BYTES = 16 * 1024 ** 2


def populated_empty(shape: tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
    """An uninitialised array (as ``np.empty``) whose pages are mapped at once where the system allows it.

    A large array filled row by row takes one page fault per 4 KiB page on its
    first write, which a virtual machine makes expensive; here the pages are
    mapped in one call (``MAP_POPULATE``, Linux). Below :data:`POPULATE_MIN_BYTES`, or where
    that flag does not exist or the mapping fails, this is ``np.empty``.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    flags = getattr(mmap, "MAP_POPULATE", None)
    if nbytes < POPULATE_MIN_BYTES or flags is None:
        return np.empty(shape, dtype)
    try:
        mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    except (OSError, ValueError, AttributeError):
        return np.empty(shape, dtype)
    return np.frombuffer(mapping, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)


def disk_array(shape: tuple[int, ...], folder: str | None = None) -> np.memmap:
    """A zero-filled uint8 ``np.memmap`` in ``folder`` (default :func:`image_store_dir`).

    The file is deleted when the array (and every view of it) is no longer
    used: on POSIX its name is removed at once, elsewhere at garbage
    collection or exit.
    """
    folder = folder or image_store_dir()
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="undouble-img-", suffix=".u8", dir=folder)
    os.close(fd)
    if int(np.prod(shape)) == 0:
        _remove_quietly(path)
        return np.zeros(shape, np.uint8)  # type: ignore[return-value]
    arr = np.memmap(path, dtype=np.uint8, mode="w+", shape=shape)
    if os.name == "posix":
        _remove_quietly(path)  # the mapping keeps the data; the space is freed with it
    else:  # pragma: no cover - Windows cannot remove a mapped file
        weakref.finalize(arr, _remove_quietly, path)
    return arr


def lazy_images(paths: Sequence[str], dim: tuple[int, int], grayscale: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, rows: list | None = None) -> Any:
    """A :class:`~undouble.batches.LazyImages` that decodes ``paths[i]`` when row ``i`` is used.

    ``rows`` gives rows already in memory (None where a row is to be decoded).
    A file that can no longer be read raises :class:`ImageReadError` naming it.
    """
    paths = list(paths)

    def load(i: int) -> np.ndarray:
        try:
            return load_file(paths[i], dim, grayscale, max_pixels)[0]
        except ImageReadError as exc:
            raise ImageReadError(f"{paths[i]} cannot be read any more since import_data(): {exc}") from None

    shape = (dim[1], dim[0]) if grayscale else (dim[1], dim[0], 3)
    return LazyImages(list(rows) if rows is not None else [None] * len(paths), load, shape)


def load_preprocessed(model_or_results: Any, i: int) -> np.ndarray:
    """The preprocessed image of row ``i``, wherever it is kept.

    Works for every ``keep_images`` choice: from memory, from the
    memory-mapped store, or decoded again from ``results['pathnames'][i]``
    (with the model's ``dim``, ``grayscale`` and ``max_pixels``, or the
    ``results['preprocess']`` recipe when only ``results`` is given).
    Plotting code should use it instead of ``results['img'][i]``.

    Parameters
    ----------
    model_or_results : Undouble or dict
        A model after :meth:`~undouble.Undouble.import_data`, or its ``results``.
    i : int
        Row.

    Returns
    -------
    np.ndarray
        uint8 ``(H, W)`` or ``(H, W, 3)``.

    Raises
    ------
    ImageReadError
        When the image must be decoded again and its file cannot be read any more.
    """
    results = getattr(model_or_results, "results", model_or_results)
    img = results.get("img")
    if img is not None:
        return np.asarray(img[int(i)])
    params = getattr(model_or_results, "params", None) or results.get("preprocess") or {}
    if "dim" not in params:
        raise ValueError("results hold no images and no preprocessing recipe (dim, grayscale)")
    path = results["pathnames"][int(i)]
    try:
        return load_file(path, tuple(params["dim"]), bool(params.get("grayscale", False)),
                         int(params.get("max_pixels", DEFAULT_MAX_PIXELS)))[0]
    except ImageReadError as exc:
        raise ImageReadError(f"{path} cannot be read any more since import_data(): {exc}") from None
