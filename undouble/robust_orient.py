"""Exact dihedral transforms of images and of verification thumbnail records (robust mode's orientations).

The orientation codes 0..7 are those of :data:`undouble.robust.ORIENTATIONS`
(what was done to A to get B): upright, rotated 90 / 180 / 270 degrees
clockwise, mirrored, flipped, transposed and anti-transposed. A 48 x 48
thumbnail record (:func:`undouble.verify.make_thumbnail`) turns exactly: its
planes are permuted, never resampled. Kept apart from :mod:`undouble.robust`
(which re-exports these names) to keep that module small.
"""
from __future__ import annotations

import numpy as np

from . import verify as _v


def orient_array(image: np.ndarray, orientation: int) -> np.ndarray:
    """An image (H x W or H x W x C) transformed by orientation code ``orientation`` (0..7)."""
    o = int(orientation)
    if o == 0:
        out = image
    elif o in (1, 2, 3):
        out = np.rot90(image, -o)
    elif o == 4:
        out = image[:, ::-1]
    elif o == 5:
        out = image[::-1]
    elif o == 6:
        out = np.swapaxes(image, 0, 1)
    elif o == 7:
        out = np.rot90(np.swapaxes(image, 0, 1), 2)
    else:
        raise ValueError(f"orientation must be 0..7, got {orientation}")
    return np.ascontiguousarray(out)


def orient_thumbnail(record: np.ndarray, orientation: int) -> np.ndarray:
    """A thumbnail record of :func:`undouble.verify.make_thumbnail` transformed exactly by an orientation.

    The grey plane, both colour-difference planes and the fine grey plane are
    rotated / flipped; the colour facts (means, grey flag) do not change.
    """
    rec = np.asarray(record, np.uint8).reshape(-1)
    if rec.size != _v.THUMB_BYTES:
        raise ValueError(f"a thumbnail record has {_v.THUMB_BYTES} bytes, got {rec.size}")
    s, c = _v.THUMB_SIZE, _v.CHROMA_SIZE
    s2 = s * s
    out = rec.copy()
    out[:s2] = orient_array(rec[:s2].reshape(s, s), orientation).reshape(-1)
    start = s2 + _v.EXTRA_BYTES
    planes = rec[start:start + 2 * c * c].reshape(2, c, c)
    for p in range(2):
        out[start + p * c * c:start + (p + 1) * c * c] = orient_array(planes[p], orientation).reshape(-1)
    f, fo = _v.FINE_SIZE, _v.FINE_OFFSET
    out[fo:fo + f * f] = orient_array(rec[fo:fo + f * f].reshape(f, f), orientation).reshape(-1)
    return out


def orient_thumbnails(records: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """Thumbnail records, each transformed by its own orientation: :func:`orient_thumbnail` of every row.

    One array operation per orientation and plane for all the records that
    take it, instead of one call per record.

    Parameters
    ----------
    records : np.ndarray
        N x :data:`undouble.verify.THUMB_BYTES` uint8 records.
    orientations : np.ndarray
        N orientation codes 0..7.

    Returns
    -------
    np.ndarray
        N x :data:`undouble.verify.THUMB_BYTES` uint8, a new array.
    """
    records = np.asarray(records, np.uint8)
    orientations = np.asarray(orientations, np.int64).reshape(-1)
    if records.ndim != 2 or records.shape[1] != _v.THUMB_BYTES:
        raise ValueError(f"thumbnail records must be N x {_v.THUMB_BYTES}, got {records.shape}")
    if orientations.size != records.shape[0]:
        raise ValueError(f"{records.shape[0]} records but {orientations.size} orientations")
    if orientations.size and (orientations.min() < 0 or orientations.max() > 7):
        raise ValueError(f"orientations must be 0..7, got {orientations.min()}..{orientations.max()}")
    s, c, f = _v.THUMB_SIZE, _v.CHROMA_SIZE, _v.FINE_SIZE
    chroma = s * s + _v.EXTRA_BYTES
    planes = ((0, s), (chroma, c), (chroma + c * c, c), (_v.FINE_OFFSET, f))  # (first byte, side)
    out = records.copy()
    for o in np.unique(orientations).tolist():
        if o == 0:
            continue
        rows = np.flatnonzero(orientations == o)
        for first, side in planes:
            # side x side x k: orient_array turns the planes of all k records at once, like the channels of one image
            stack = records[rows, first:first + side * side].reshape(-1, side, side).transpose(1, 2, 0)
            out[rows, first:first + side * side] = orient_array(stack, o).transpose(2, 0, 1).reshape(rows.size, -1)
    return out
