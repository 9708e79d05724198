"""Preprocessing in the seed's order: grey (optional), scale to 0..255, resize to ``dim``."""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from ._kernels.color import rgb_to_l


def to_grey(image: np.ndarray) -> np.ndarray:
    """Grey (Pillow "L" weights) of an RGB(A) uint8 image; grey input is returned as is."""
    if image.ndim == 2:
        return image
    return rgb_to_l(np.ascontiguousarray(image))


def scale_to_255(image: np.ndarray) -> np.ndarray:
    """Scale pixels to 0..255 as ``x * 255 / max(x)``, rounded; black stays black.

    uint8 images whose maximum is already 255 (or 0) are returned unchanged.
    Other dtypes (uint16, float, bool, ...) are scaled the same way to uint8;
    negative values are clipped to 0.
    """
    image = np.asarray(image)
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if image.dtype == np.uint8 and image.size and image.flags.c_contiguous:
        # OpenCV's maximum of the 2-D view: the GIL released (NumPy's max held it on every decoded photo)
        top = int(cv2.minMaxLoc(image.reshape(image.shape[0], -1) if image.ndim > 1 else image[None, :])[1])
    else:
        top = image.max(initial=0)
    if image.dtype == np.uint8 and top in (0, 255):
        return image
    if not np.isfinite(top) or top <= 0:
        return np.zeros(image.shape, np.uint8)
    if image.dtype == np.uint8:  # the same arithmetic, once per grey level
        lut = _scaling_lut(int(top))
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4)):
            return cv2.LUT(np.ascontiguousarray(image), lut)
        return lut[image]
    scaled = np.rint(np.clip(image.astype(np.float64), 0, None) * (255.0 / float(top)))
    return np.clip(scaled, 0, 255).astype(np.uint8)


@lru_cache(maxsize=256)
def _scaling_lut(top: int) -> np.ndarray:
    """``x * 255 / top`` rounded, for every uint8 level ``x`` (read-only: it is shared)."""
    lut = np.clip(np.rint(np.arange(256, dtype=np.float64) * (255.0 / float(top))), 0, 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=256)
def area_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area weights of one axis shrinking ``n_in`` pixels to ``n_out`` (``n_out <= n_in``).

    Output pixel ``o`` covers ``[o * s, (o + 1) * s)`` with ``s = n_in / n_out``;
    source pixel ``i`` weighs the length of ``[i, i + 1)`` inside it, over
    ``s`` (overlaps under 1e-3 of a pixel are dropped and the rest renormalised,
    as OpenCV does). Returns CSR tables ``(start, index, weight)``: the entries of
    output ``o`` are ``start[o]:start[o + 1]``; weights are float32. Read-only.
    """
    # vectorised (the Python loop cost milliseconds per new size): every output pixel looks at up to
    # ceil(scale) + 1 source pixels; the arithmetic is the loop's, element by element, and the sum of
    # the overlaps is a cumulative sum along the row, in the loop's order
    scale = n_in / n_out
    outs = np.arange(n_out, dtype=np.float64)
    lo = outs * scale
    hi = np.minimum((outs + 1.0) * scale, float(n_in))
    first = np.floor(lo).astype(np.int64)
    stop = np.minimum(np.ceil(hi).astype(np.int64), n_in)
    span = int(math.ceil(scale)) + 1
    src = first[:, None] + np.arange(span, dtype=np.int64)[None, :]
    srcf = src.astype(np.float64)
    overlap = np.minimum(hi[:, None], srcf + 1.0) - np.maximum(lo[:, None], srcf)
    keep = (src < stop[:, None]) & (overlap > 1e-3)
    overlap = np.where(keep, overlap, 0.0)
    covered = np.cumsum(overlap, axis=1)[:, -1]
    start = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    index = src[keep]
    weight = (overlap / covered[:, None])[keep]
    tables = (np.asarray(start, np.int64), np.asarray(index, np.int64), np.asarray(weight, np.float32))
    for t in tables:
        t.flags.writeable = False
    return tables


def resize_area(image: np.ndarray, dim: tuple[int, int]) -> np.ndarray:
    """Resize to ``dim = (width, height)`` with area interpolation.

    Shrinking uint8 images (both axes) runs :func:`undouble._kernels.area.area_resize`
    (the same area means as OpenCV's ``INTER_AREA``, up to float rounding: a
    few pixels in ten thousand differ by one level, several times faster);
    anything else uses ``cv2.resize(..., INTER_AREA)``.
    """
    width, height = int(dim[0]), int(dim[1])
    if image.shape[1] == width and image.shape[0] == height:
        return np.ascontiguousarray(image)
    if (image.dtype == np.uint8 and image.ndim in (2, 3) and width <= image.shape[1]
            and height <= image.shape[0] and width > 0 and height > 0):
        from ._kernels.area import area_resize

        src = np.ascontiguousarray(image)
        rows = area_axis(src.shape[0], height)
        cols = area_axis(src.shape[1], width)
        out = area_resize(src if src.ndim == 3 else src[:, :, None], *rows, *cols)
        return out if image.ndim == 3 else out[:, :, 0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def preprocess(image: np.ndarray, dim: tuple[int, int], grayscale: bool = False) -> np.ndarray:
    """Preprocess one decoded image for hashing.

    Parameters
    ----------
    image : np.ndarray
        H x W (grey) or H x W x 3 (RGB) array.
    dim : (int, int)
        Output ``(width, height)``.
    grayscale : bool
        Convert to grey first (output H x W).

    Returns
    -------
    np.ndarray
        uint8, ``(height, width)`` or ``(height, width, 3)``.
    """
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if grayscale and image.ndim == 3:
        image = to_grey(scale_to_255(image) if image.dtype != np.uint8 else image)
    image = scale_to_255(image)
    return resize_area(image, dim)


def stack_from_array(data: np.ndarray, dim: tuple[int, int], grayscale: bool) -> np.ndarray:
    """Preprocess an array input: ``N x H x W``, ``N x H x W x C`` or ``N x F``.

    A 2-D ``N x F`` array is accepted only when ``F`` equals ``width*height``
    (grey) or ``width*height*3`` (RGB) of ``dim``.

    Raises
    ------
    ValueError
        For any other shape, with the shapes that would have worked.
    """
    data = np.asarray(data)
    width, height = int(dim[0]), int(dim[1])
    if data.ndim == 2:
        features = data.shape[1]
        if features == width * height:
            data = data.reshape(data.shape[0], height, width)
        elif features == width * height * 3:
            data = data.reshape(data.shape[0], height, width, 3)
        else:
            raise ValueError(
                f"a 2-D input of shape {data.shape} cannot be reshaped to images of dim={dim}: "
                f"it needs {width * height} (grey) or {width * height * 3} (RGB) columns; "
                "pass an N x H x W or N x H x W x 3 array instead")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[:, :, :, 0]
    if data.ndim not in (3, 4) or (data.ndim == 4 and data.shape[3] not in (3, 4)):
        raise ValueError(f"image arrays must be N x H x W or N x H x W x 3, got shape {data.shape}")
    if data.shape[0] == 0:
        raise ValueError("the image array is empty (N = 0)")
    return np.stack([preprocess(img, dim, grayscale) for img in data])
