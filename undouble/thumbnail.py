"""Small display copies of images: read from the files (reduced decoding, EXIF-rotated) at their true aspect ratio.

Used by the HTML report (:mod:`undouble.report`) and the figures (:mod:`undouble.plot`),
which must show what the files look like, not the square preprocessed images that were hashed.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import cv2
import numpy as np

__all__ = ["fit_long_side", "encode_jpeg", "model_thumbnails", "read_thumbnail"]


def fit_long_side(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink ``pixels`` (area interpolation) so that its longer side is at most ``max_side``.

    Parameters
    ----------
    pixels : np.ndarray
        ``H x W`` or ``H x W x 3`` uint8.
    max_side : int
        Longest side wanted, in pixels (>= 1). Smaller images are returned unchanged.

    Returns
    -------
    np.ndarray
        The image at the same aspect ratio (each side rounded, at least 1 pixel).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    h, w = pixels.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return np.ascontiguousarray(pixels)
    scale = max_side / longest
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)


def read_thumbnail(path: str | os.PathLike, max_side: int = 160) -> np.ndarray:
    """An RGB copy of an image file whose longer side is at most ``max_side``.

    JPEGs are decoded at 1/2 to 1/8 of their size where that still leaves at
    least ``max_side`` pixels on both axes (:func:`undouble.io.read_image`), so
    a thumbnail of a 24-megapixel photo costs a fraction of a full decode. The
    EXIF orientation is applied, so portraits stand upright.

    Parameters
    ----------
    path : str or PathLike
        Image file.
    max_side : int, default 160
        Longest side of the result in pixels.

    Returns
    -------
    np.ndarray
        ``H x W x 3`` uint8 RGB at the image's aspect ratio.

    Raises
    ------
    undouble.io.ImageReadError
        When the file cannot be read, with the reason.
    """
    from .io import read_image

    twice = 2 * max(1, int(max_side))  # read_image keeps at least dim / 2 on both axes
    decoded = read_image(path, dim=(twice, twice))
    return fit_long_side(decoded.pixels, max_side)


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of an ``H x W`` grey or ``H x W x 3`` RGB uint8 image."""
    arr = np.ascontiguousarray(rgb)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def model_thumbnails(model: Any, rows: Sequence[int], max_side: int = 160, n_jobs: int | None = None,
                     convert: Callable[[np.ndarray], Any] | None = None) -> list[Any]:
    """Thumbnails of some rows of a model, in parallel threads.

    Rows imported from files are read from the files (:func:`read_thumbnail`);
    rows of an array input use the stored (preprocessed) image, the only one there is.

    Parameters
    ----------
    model : Undouble
        A model after ``import_data``.
    rows : sequence of int
        Rows of ``model.results``.
    max_side : int
        Longest side in pixels.
    n_jobs : int, optional
        Threads (default: the model's ``n_jobs``, else all cores).
    convert : callable, optional
        Applied to each thumbnail in its thread (e.g. JPEG encoding).

    Returns
    -------
    list
        Per row: the thumbnail (or ``convert`` of it), or the :class:`~undouble.io.ImageReadError`
        when its file cannot be read any more.
    """
    from .io import ImageReadError, default_jobs, load_preprocessed

    results = model.results
    from_files = results.get("source") == "files"

    def one(i: int) -> Any:
        try:
            if from_files:
                thumb = read_thumbnail(results["pathnames"][i], max_side)
            else:
                thumb = fit_long_side(np.asarray(load_preprocessed(model, i)), max_side)
        except ImageReadError as exc:
            return exc
        return convert(thumb) if convert is not None else thumb

    rows = [int(i) for i in rows]
    if n_jobs is None:
        n_jobs = getattr(model, "params", {}).get("n_jobs")
    workers = min(default_jobs(n_jobs), max(1, len(rows)))
    if workers == 1:
        return [one(i) for i in rows]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="undouble-thumb") as pool:
        return list(pool.map(one, rows))
