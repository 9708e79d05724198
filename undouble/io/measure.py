"""What the import measures on each decoded image, so that nothing is decoded twice.

:func:`measure_decoded` takes the pixels :func:`undouble.io.read_image` decoded
(possibly at a reduced JPEG scale) and returns a :class:`Measures`:

* **sharpness** on a *canonical scale*: the grey image at the size a JPEG of
  the original's resolution is decoded at for a ``dim`` of
  :data:`SHARPNESS_SIDE` (the reduction rule of :mod:`undouble.io.jpeg`,
  :func:`reduced_size`), scored by the variance of its Laplacian
  (:func:`undouble.keeper.laplacian_variance`). The scale depends on the
  original resolution only, so two images of equal resolution are always
  compared at the same scale, whatever size each was decoded at. A JPEG
  decoded for the default ``dim`` is decoded at exactly that size, so it
  costs no resize; other decodings are area-resized to it, which gives
  about the sharpness of the reduced JPEG decoding (going straight from the
  full size to a fixed side would not: a PNG scored about 35 % sharper than
  a JPEG of the same picture decoded at 1/4). The keeper ranking of
  :meth:`undouble.Undouble.group` uses these values and opens no file.
* **is_grey**: the decoded pixels are a greyscale picture stored as colour
  (on a small version of the image, at most 0.1 % of the pixels have
  channels further apart than :data:`GREY_TOLERANCE`).
* **thumb**: the verification thumbnail (:func:`undouble.verify.make_thumbnail`)
  when that module is installed, else None (see :func:`thumbnail_maker`).

All three are stored in the hash cache, so that a re-run on unchanged files
needs none of the files.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import cv2
import numpy as np

from .._kernels.color import count_spread_above
from ..keeper import laplacian_variance
from ..preprocess import resize_area
from . import jpeg

SHARPNESS_SIDE = 128
"""The ``dim`` (both sides, pixels) whose JPEG decoding size is the canonical size of the sharpness."""

GREY_TOLERANCE = 6
"""Largest channel spread (max - min, grey levels) of a pixel of a greyscale image."""

_GREY_OUTLIERS = 0.001  # fraction of pixels allowed above GREY_TOLERANCE (JPEG ringing)


class Measures(NamedTuple):
    """What :func:`measure_decoded` found in one decoded image.

    Attributes
    ----------
    sharpness : float
        Variance of the Laplacian of the canonical grey image (higher = sharper).
    sharpness_pixels : int
        Pixel count of the canonical image the sharpness was measured on.
    is_grey : bool
        The image is greyscale (its channels are equal within the tolerance).
    thumb : np.ndarray or None
        The verification thumbnail record (uint8 vector), None without
        :mod:`undouble.verify`.
    """

    sharpness: float
    sharpness_pixels: int
    is_grey: bool
    thumb: np.ndarray | None = None


UNMEASURED = Measures(math.nan, 0, False, None)
"""What an image that was not measured gets."""


def reduced_size(width: int, height: int, side: int = SHARPNESS_SIDE) -> tuple[int, int]:
    """The canonical size of an original of ``width x height``: its JPEG reduced decoding.

    The size a JPEG of that resolution is decoded at for ``dim = (side, side)``
    (:func:`undouble.io.jpeg._reduction_for`, libjpeg's rounding up).
    """
    width, height = max(1, int(width)), max(1, int(height))
    scale = jpeg._reduction_for(width, height, (side, side))
    return -(-width // scale), -(-height // scale)


def canonical_image(pixels: np.ndarray, width: int | None = None, height: int | None = None,
                    side: int = SHARPNESS_SIDE) -> np.ndarray:
    """Decoded pixels at the canonical size of the original ``width x height`` (:func:`reduced_size`).

    Parameters
    ----------
    pixels : np.ndarray
        ``H x W`` or ``H x W x 3`` uint8, possibly decoded at a reduced scale.
    width, height : int, optional
        The original image's size in display orientation (default: the
        pixels' own size).
    side : int
        The ``dim`` (both sides) whose JPEG decoding size is the canonical size.

    Returns
    -------
    np.ndarray
        The pixels, area-resized where they are larger than the canonical
        size (never upscaled).
    """
    h, w = pixels.shape[:2]
    tw, th = reduced_size(w if width is None else width, h if height is None else height, side)
    tw, th = min(tw, w), min(th, h)
    img = np.ascontiguousarray(pixels)
    if (tw, th) != (w, h):
        img = resize_area(img, (tw, th))  # OpenCV's INTER_AREA means, without its per-call tables
    return img


def pixels_are_grey(rgb: np.ndarray, tolerance: int = GREY_TOLERANCE) -> bool:
    """Whether RGB uint8 pixels hold a greyscale picture (channels equal within ``tolerance``)."""
    if rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 1):
        return True
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    above = count_spread_above(rgb, int(tolerance))  # one pass, no temporaries (OpenCV took five calls)
    return bool(above <= _GREY_OUTLIERS * rgb.shape[0] * rgb.shape[1])


def thumbnail_maker() -> Callable[[np.ndarray], np.ndarray] | None:
    """:func:`undouble.verify.make_thumbnail`, or None when that module is not there."""
    try:
        from ..verify import make_thumbnail
    except ImportError:
        return None
    return make_thumbnail


def measure_decoded(pixels: np.ndarray, width: int | None = None, height: int | None = None,
                    thumbnail: Callable[[np.ndarray], np.ndarray] | None = None,
                    colour_sample: np.ndarray | None = None) -> Measures:
    """Sharpness, greyness and thumbnail of one decoded image (see the module docstring).

    Parameters
    ----------
    pixels : np.ndarray
        ``H x W x 3`` RGB (or ``H x W`` grey) uint8, in display orientation.
    width, height : int, optional
        Original size in display orientation (default: the pixels' size).
    thumbnail : callable, optional
        ``thumbnail(pixels) -> uint8 vector`` (:func:`thumbnail_maker`).
    colour_sample : np.ndarray, optional
        A small RGB version of the pixels to tell greyness from (the import
        passes the image it preprocessed for hashing); default: every other
        pixel of ``pixels``.

    Returns
    -------
    Measures
    """
    colour = pixels.ndim == 3 and pixels.shape[2] >= 3
    grey = cv2.cvtColor(np.ascontiguousarray(pixels[..., :3]), cv2.COLOR_RGB2GRAY) if colour else pixels
    small = canonical_image(grey if grey.ndim == 2 else grey[:, :, 0], width, height)  # one channel: 3x cheaper
    sharpness = laplacian_variance(np.ascontiguousarray(small)) if small.size else math.nan
    if not colour:
        is_grey = True
    else:
        sample = colour_sample if colour_sample is not None and colour_sample.ndim == 3 else pixels[::2, ::2]
        is_grey = pixels_are_grey(sample)
    thumb = None if thumbnail is None else np.asarray(thumbnail(pixels), dtype=np.uint8)
    return Measures(float(sharpness), int(small.size), is_grey, thumb)
