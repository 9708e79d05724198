"""Robust mode's alignment of a window: refinement on grey planes and the records of a window.

:func:`refine_window` moves the four edges of a window of one grey plane until
it matches another plane best (1 - correlation, a coordinate descent in the
Numba kernel :func:`undouble._kernels.robust.refine_window`);
:func:`align_window` does it by correlation-maximising Gauss-Newton steps
(:func:`undouble._kernels.robust.align_window`), which need a start near the
answer and then far fewer evaluations; :func:`_refine_two_levels` runs the
descent coarse, then the steps fine, with a gate between; the
``*_window_record`` functions make verification records
(:func:`undouble.verify.make_thumbnail`) of a window of a record or of a
decoded image, which :func:`undouble.robust.verify_windows` and
:func:`undouble.robust.verify_orientations` hand to the normal verifier.
Pure functions of arrays, split from :mod:`undouble.robust` (the search).
"""
from __future__ import annotations

import cv2
import numpy as np

from . import verify as _v
from ._kernels import robust as _k
from ._kernels.window_record import window_record as _window_record_kernel


def refine_window(plane_a: np.ndarray, plane_b: np.ndarray, window,
                  steps=(0.02, 0.01, 0.005, 0.0025), return_correlation: bool = False):
    """The window ``(x0, y0, x1, y1)`` of ``plane_a`` that best matches all of ``plane_b`` (square).

    Both planes are smoothed (Gaussian, sigma 0.7), then a coordinate descent
    on the four edges (each step size in turn) minimises 1 - correlation of the
    bilinearly resampled window and ``plane_b`` (:func:`undouble._kernels.robust.refine_window`).
    Edges may leave the frame (what lies outside is then the replicated border,
    which a real containment never needs, so verification fails). With
    ``return_correlation``, returns ``(window, correlation at that window)``.
    """
    out, correlation = _refine_smoothed(_smooth(plane_a), _smooth(plane_b), window, steps)
    return (out, correlation) if return_correlation else out


def align_window(plane_a: np.ndarray, plane_b: np.ndarray, window, max_steps: int = 6,
                 tolerance: float = 1e-3, margin: int = 0) -> tuple[np.ndarray, float]:
    """The window ``(x0, y0, x1, y1)`` of ``plane_a`` that best matches all of ``plane_b`` (square), near
    ``window``: both planes smoothed as in :func:`refine_window`, then correlation-maximising steps
    (:func:`undouble._kernels.robust.align_window`). Returns ``(window, correlation)``."""
    out = np.empty(4)
    mismatch = _k.align_window(_smooth(plane_a), _smooth(plane_b), np.asarray(window, np.float64), out, int(margin),
                               int(max_steps), float(tolerance))
    return out, 1.0 - mismatch


def _smooth(plane: np.ndarray) -> np.ndarray:
    """The plane :func:`refine_window` aligns: Gaussian, sigma 0.7, as float64."""
    return cv2.GaussianBlur(np.asarray(plane, np.float32), (0, 0), 0.7).astype(np.float64)


def _refine_smoothed(a: np.ndarray, b: np.ndarray, window, steps, margin: int = 0) -> tuple[np.ndarray, float]:
    """:func:`refine_window` on planes already smoothed (:func:`_smooth`): (window, correlation); the samples
    within ``margin`` of the edge of ``b``'s grid left out."""
    out = np.empty(4)
    mismatch = _k.refine_window(a, b, np.asarray(window, np.float64), np.asarray(steps, np.float64), out,
                                int(margin))
    return out, 1.0 - mismatch


def _inset(window: np.ndarray, fraction: float) -> np.ndarray:
    """``window`` (x0, y0, x1, y1) with each edge moved inwards by ``fraction`` of its side."""
    x0, y0, x1, y1 = (float(v) for v in window)
    dx, dy = fraction * (x1 - x0), fraction * (y1 - y0)
    return np.array([x0 + dx, y0 + dy, x1 - dx, y1 - dy])


#: Sides of ``plane_b`` in the coarse and the fine level of :func:`_refine_two_levels`.
REFINE_SIDES = (32, 64)
#: Edge steps (fractions of a side) of the coarse and the fine level of :func:`_refine_two_levels`.
COARSE_STEPS = (0.02, 0.01)
#: Correlation steps (:func:`undouble._kernels.robust.align_window`) of the fine level of
#: :func:`_refine_two_levels`, and the edge move (fraction of a side) under which it stops. On the window
#: candidates of a generated corpus, 3 steps from the coarse window reach the correlation of the coordinate
#: descent of steps 0.005 and 0.0025 (which cost about 3x as much) within 0.002 for 96% of them.
FINE_ALIGN_STEPS = 3
FINE_ALIGN_TOLERANCE = 1e-3
#: Smallest correlation of the coarse level for the fine level to run (see :func:`_refine_two_levels`).
COARSE_CORRELATION_GATE = 0.75
#: Smallest correlation of the fine level for the records and the verifier to run: on five corpora (both
#: generators, 5,220 candidates past the coarse gate) the 1,178 that the verifier accepted correlated at least
#: 0.958 there, and about a quarter of the rejected ones lie below 0.9.
FINE_CORRELATION_GATE = 0.9
#: Samples left out at each edge of the coarse and the fine grid (about 3% of a side). The container's
#: pixels just outside the window bleed into the window's first samples (smoothing, bilinear sampling):
#: where a photo sits in a bright screen or a black border, that ring differs from the photo's own edge
#: so much that a window shrunk past the photo's edges correlated better than the right one.
REFINE_MARGINS = (1, 2)


def container_planes(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed planes of a container in :func:`_refine_two_levels`: (fine, coarse); the coarse one
    halved when the plane is larger than 64. Made once per image and reused for all its candidates."""
    small = plane
    if min(plane.shape) > 64:
        small = cv2.resize(plane, (plane.shape[1] // 2, plane.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return _smooth(plane), _smooth(small)


def contained_planes(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed planes of a contained image in :func:`_refine_two_levels`: (fine, coarse), squares of
    :data:`REFINE_SIDES` ``[1]`` and ``[0]``."""
    coarse_side, fine_side = REFINE_SIDES
    return (_smooth(cv2.resize(plane, (fine_side, fine_side), interpolation=cv2.INTER_AREA)),
            _smooth(cv2.resize(plane, (coarse_side, coarse_side), interpolation=cv2.INTER_AREA)))


def _refine_two_levels(plane_a: np.ndarray, plane_b: np.ndarray, window, plausible=None,
                       planes=None) -> np.ndarray | None:
    """The window coarse then fine: :func:`refine_window`'s descent (steps 0.02 and 0.01) against
    ``plane_b`` at ``REFINE_SIDES[0]`` square (``plane_a`` halved when it is larger than 64), then
    :data:`FINE_ALIGN_STEPS` correlation steps (:func:`undouble._kernels.robust.align_window`) against it
    at ``REFINE_SIDES[1]`` (the costly full-size evaluations only for the last moves).

    ``None`` when the coarse window correlates below :data:`COARSE_CORRELATION_GATE` with ``plane_b``:
    no such candidate was accepted by the verifier on our two robust corpora (the lowest accepted
    was 0.86; a third to a half of the rejected ones lie below the gate), so the fine level, the
    records and the verifier are spared for them. ``None`` too when the fine window correlates below
    :data:`FINE_CORRELATION_GATE` (the records and the verifier spared), and when ``plausible(coarse
    window)`` is given and False. ``planes``: ``(container_planes(plane_a), contained_planes(plane_b))``
    when already made (the planes are then not read).
    """
    (fine_a, coarse_a), (fine_b, coarse_b) = planes if planes is not None else \
        (container_planes(plane_a), contained_planes(plane_b))
    coarse, correlation = _refine_smoothed(coarse_a, coarse_b, window, COARSE_STEPS, REFINE_MARGINS[0])
    if correlation < COARSE_CORRELATION_GATE or (plausible is not None and not plausible(coarse)):
        return None
    out = np.empty(4)
    mismatch = _k.align_window(fine_a, fine_b, coarse, out, REFINE_MARGINS[1], FINE_ALIGN_STEPS, FINE_ALIGN_TOLERANCE)
    return out if 1.0 - mismatch >= FINE_CORRELATION_GATE else None


def _window_record(record: np.ndarray, window) -> np.ndarray:
    """Thumbnail record of a window of ``record`` (grey and colour planes resampled, colour facts recomputed;
    :func:`undouble._kernels.window_record.window_record`)."""
    rec = np.ascontiguousarray(record, np.uint8).reshape(-1)
    out = np.empty_like(rec)
    x0, y0, x1, y1 = (float(v) for v in window)
    _window_record_kernel(rec, x0, y0, x1, y1, _v.THUMB_SIZE, _v.EXTRA_BYTES, _v.CHROMA_SIZE, _v.FINE_SIZE,
                          _v.FINE_OFFSET, out)
    return out


def _grey_plane(image: np.ndarray) -> np.ndarray:
    """Float32 grey plane of a decoded image (BT.601 luma)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return img.astype(np.float32)


def _window_pixels(image: np.ndarray, window) -> tuple[int, int]:
    """(width, height) in pixels of a window (fractions) of a decoded image."""
    h, w = np.asarray(image).shape[:2]
    x0, y0, x1, y1 = window
    return max(8, int(round((x1 - x0) * w))), max(8, int(round((y1 - y0) * h)))


def _image_window_record(image: np.ndarray, window, out_size: tuple[int, int] | None = None,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Thumbnail record of a window (fractions, edges may lie a little outside) of a decoded image (uint8,
    H x W x 3 or H x W), resampled to ``out_size`` (width, height) pixels first (default: the window's own
    size); written into ``out`` when given (robust mode makes two per window candidate in its threads, where
    each array made under the GIL waits for the other thread)."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = np.asarray(window, np.float64).tolist()
    out_w, out_h = out_size if out_size is not None else _window_pixels(img, window)
    sx, sy = (x1 - x0) * w / out_w, (y1 - y0) * h / out_h
    m = np.array([[sx, 0.0, x0 * w + 0.5 * sx - 0.5], [0.0, sy, y0 * h + 0.5 * sy - 0.5]])
    part = cv2.warpAffine(np.ascontiguousarray(img), m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if out is None:
        return _v.make_thumbnail(part)
    _v._thumbnail_into(part, out)
    return out
