"""Pillow-exact Lanczos resizing: host-side coefficient tables and a wrapper.

Pillow (``Image.resize(size, Image.LANCZOS)`` on 8-bit images) computes float
filter weights per output pixel, normalises them, quantises them to 22-bit
fixed point and runs two integer passes, rounding to uint8 between them.
ImageHash resizes with it, so a bit-identical hash needs the same integers.
The tables depend only on ``(n_in, n_out)`` and are cached.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ._kernels.resample import PRECISION_BITS, resize_plane

_LANCZOS_SUPPORT = 3.0
_EMPTY_BOUNDS = np.zeros((0, 2), dtype=np.int64)
_EMPTY_COEFFS = np.zeros((0, 1), dtype=np.int64)


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    if -_LANCZOS_SUPPORT <= x < _LANCZOS_SUPPORT:
        return _sinc(x) * _sinc(x / 3.0)
    return 0.0


@lru_cache(maxsize=512)
def lanczos_tables(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer Lanczos taps for resampling one axis from ``n_in`` to ``n_out``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output lengths (both >= 1).

    Returns
    -------
    bounds : np.ndarray
        int64 array ``(n_out, 2)``: first input index and tap count.
    coeffs : np.ndarray
        int64 array ``(n_out, ksize)``: fixed-point weights (22 bits).
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"cannot resample an axis of length {n_in} to {n_out}")
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    inv_filterscale = 1.0 / filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.zeros((n_out, 2), dtype=np.int64)
    coeffs = np.zeros((n_out, ksize), dtype=np.int64)
    one = float(1 << PRECISION_BITS)
    for o in range(n_out):
        center = (o + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))
        xmax = min(n_in, int(center + support + 0.5)) - xmin
        weights = [_lanczos((x + xmin - center + 0.5) * inv_filterscale) for x in range(xmax)]
        total = 0.0
        for w in weights:
            total += w
        if total != 0.0:
            weights = [w / total for w in weights]
        for x, w in enumerate(weights):
            coeffs[o, x] = int(w * one + 0.5) if w >= 0 else int(w * one - 0.5)
        bounds[o] = (xmin, xmax)
    bounds.setflags(write=False)
    coeffs.setflags(write=False)
    return bounds, coeffs


def resize_tables(
    in_size: tuple[int, int], out_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Tables for both passes of a resize, and Pillow 13's pass order.

    ``in_size`` and ``out_size`` are ``(width, height)``, as in Pillow.
    A pass whose length does not change gets empty tables (it is skipped).
    """
    w_in, h_in = in_size
    w_out, h_out = out_size
    row_b, row_c = lanczos_tables(w_in, w_out) if w_in != w_out else (_EMPTY_BOUNDS, _EMPTY_COEFFS)
    col_b, col_c = lanczos_tables(h_in, h_out) if h_in != h_out else (_EMPTY_BOUNDS, _EMPTY_COEFFS)
    dh = h_in - h_out
    vertical_first = dh > 0 and dh > 2 * (w_in - w_out)
    return row_b, row_c, col_b, col_c, vertical_first


def resize_lanczos(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D uint8 image exactly as Pillow's ``resize(size, LANCZOS)``.

    Parameters
    ----------
    plane : np.ndarray
        2-D uint8 array (height x width).
    size : tuple of int
        Output ``(width, height)``.

    Returns
    -------
    np.ndarray
        uint8 array of shape ``(height, width)``.
    """
    plane = np.ascontiguousarray(plane, dtype=np.uint8)
    if plane.ndim != 2:
        raise ValueError(f"resize_lanczos expects a 2-D array, got shape {plane.shape}")
    height, width = plane.shape
    return resize_plane(plane, *resize_tables((width, height), (int(size[0]), int(size[1]))))
