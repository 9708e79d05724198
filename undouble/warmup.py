"""Compiling the Numba kernels ahead, and saying so on the first run.

Numba compiles undouble's kernels on their first use after an install and keeps
the machine code in its cache (``__pycache__`` beside the kernels): the first run
takes about 20 s longer, later runs load the code in about a second.

:func:`ensure_compiled` runs before the first import of a process: when no marker
says that the kernels of this configuration were compiled, it prints a one-line
notice to stderr, compiles them on tiny inputs (:func:`warm_kernels`) under a
spinner, and writes the marker. The marker is a file in ``compiled/`` of the user
cache folder (:func:`undouble.paths.cache_dir`), named after a digest of undouble's
version, the Numba and Python versions, where the package is installed, the size
and modification time of every kernel source file, the hash method and
``grayscale``: an upgrade, another checkout or an edited kernel give a new name,
so the notice comes again exactly when Numba recompiles. (A marker deleted by
hand gives one notice with no compilation behind it; Numba's own index files say
which functions were compiled, not for which argument types, so they cannot tell.)

``undouble warmup [--method ...]`` does it ahead, for images and CI.
"""
from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path

from ._logging import logger, spinner

__all__ = ["COMPILE_NOTICE", "ensure_compiled", "kernels_marker", "warm_kernels"]

COMPILE_NOTICE = "compiling the {method} kernels, first run only, about 20 s"
"""The notice printed (at info level) before compiling."""


def _kernel_sources() -> list[tuple[str, int, int]]:
    folder = Path(__file__).with_name("_kernels")
    out = []
    for path in sorted(folder.glob("*.py")):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((path.name, int(st.st_size), int(st.st_mtime_ns)))
    return out


def kernels_marker(method: str, grayscale: bool = False) -> Path:
    """The marker file that says the kernels of ``method`` are compiled (see the module docstring)."""
    import numba

    from . import __version__
    from .paths import cache_dir

    parts = [__version__, numba.__version__, platform.python_version(), platform.machine(),
             os.path.dirname(os.path.abspath(__file__)), repr(_kernel_sources()), method, str(bool(grayscale))]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
    return cache_dir() / "compiled" / f"{method}-{'grey' if grayscale else 'rgb'}-{digest}"


def warm_kernels(method: str = "phash", hash_size: int = 8, grayscale: bool = False,
                 dim: tuple[int, int] = (128, 128), **hash_options) -> None:
    """Run every kernel a file import, hashing and grouping use, on tiny inputs.

    Compiles them (or loads them from Numba's cache): decoding's preprocessing
    and measuring (:mod:`undouble.io.measure`), the hash method, the pair
    searches of :func:`undouble.distance.hamming_pairs` (brute force, sort and
    multi-index) and the union-find of :func:`undouble.grouping.group_hashes`.
    """
    import numpy as np

    from .distance import hamming_pairs
    from .grouping import group_hashes, group_scores
    from .hashes import compute_hashes
    from .io.decode import DecodedImage, finish_decoded
    from .io.measure import measure_decoded, thumbnail_maker

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2 * dim[1] + 3, 2 * dim[0] + 5, 3), dtype=np.uint8)
    decoded = DecodedImage(pixels, pixels.shape[1], pixels.shape[0])
    rows = np.stack([finish_decoded(decoded, dim, grayscale, False).image] * 2)
    measure_decoded(pixels, thumbnail=thumbnail_maker())
    batch = compute_hashes(rows, method, hash_size, **hash_options)
    counts = batch.counts
    wps = batch.words_per_segment
    many = np.repeat(batch.packed, 4, axis=0) ^ rng.integers(0, 2, (4 * len(batch), batch.packed.shape[1]),
                                                             dtype=np.uint64)
    many_counts = None if counts is None else np.repeat(counts, 4)
    for threshold in (0, 4):
        group_hashes(many, threshold, counts=many_counts, words_per_segment=wps, nbits=batch.nbits)
        group_hashes(many, threshold, mode="star", counts=many_counts, words_per_segment=wps, nbits=batch.nbits)
    group_scores(many, np.arange(3), 0, counts=many_counts, words_per_segment=wps, nbits=batch.nbits)
    if counts is None:
        for search in ("brute", "mih"):
            try:
                hamming_pairs(many, 4, nbits=batch.nbits, method=search)
            except Exception:  # a search this input cannot use: the others are warm
                pass


def ensure_compiled(method: str = "phash", hash_size: int = 8, grayscale: bool = False,
                    dim: tuple[int, int] = (128, 128), force: bool = False, **hash_options) -> bool:
    """Compile the kernels of ``method`` unless a marker says they are; say so first.

    Parameters
    ----------
    method, hash_size, grayscale, dim, **hash_options
        The configuration about to run.
    force : bool
        Warm the kernels (and write the marker) even when the marker exists.

    Returns
    -------
    bool
        True when the kernels were warmed now, False when the marker said
        they were ready (or they cannot be warmed: the real run reports why).
    """
    try:
        marker = kernels_marker(method, grayscale)
    except Exception as exc:  # no Numba, no cache folder: the real run says what is wrong
        logger.debug("No kernel marker (%s)", exc)
        return False
    if marker.exists() and not force:
        return False
    message = COMPILE_NOTICE.format(method=method)
    logger.info("%s", message)
    start = time.perf_counter()
    try:
        with spinner(message):
            warm_kernels(method, hash_size, grayscale, dim, **hash_options)
    except Exception as exc:  # the real run reports the problem with its own message
        logger.debug("Warming the %s kernels failed: %s", method, exc)
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"compiled in {time.perf_counter() - start:.1f} s\n")
    except OSError as exc:
        logger.debug("Cannot write the kernel marker %s: %s", marker, exc)
    return True
