"""Frame evidence for robust mode: is the container of a window link only a frame around it?

A letterboxed, matted or framed copy and a screenshot hold a photo inside a
frame; a crop is held by more photo. :func:`is_framed` tells them apart from
the container's pixels along the window's edges, so that
:func:`undouble.robust_grouping.split_by_keeper` may join a photo's framed
copies through the photo, but never two photos through a region they share.
"""
from __future__ import annotations

import numpy as np

__all__ = ["is_framed", "FRAME_FLAT_RATIO", "FRAME_UNRELATED_RATIO", "FRAME_UNRELATED_CORR", "FRAME_PLAIN_STEP",
           "FRAME_TIE_RATIO"]


def _edge_strips(plane: np.ndarray, window, depth: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(outside, inside) pixel rows along each edge of ``window`` (fractions) that lies ``depth`` + 1 pixels
    or more inside the frame of ``plane``: the pixels ``depth`` outside and ``depth`` inside the edge."""
    h, w = plane.shape
    x0, y0, x1, y1 = window[0] * w, window[1] * h, window[2] * w, window[3] * h
    ys = np.arange(max(0, int(np.ceil(y0))), min(h, int(np.floor(y1))))
    xs = np.arange(max(0, int(np.ceil(x0))), min(w, int(np.floor(x1))))
    out = []
    if x0 >= depth + 1 and ys.size > 2:
        out.append((plane[ys, int(np.floor(x0 - depth))], plane[ys, min(w - 1, int(np.ceil(x0 + depth)))]))
    if x1 <= w - depth - 1 and ys.size > 2:
        out.append((plane[ys, int(np.ceil(x1 + depth)) - 1], plane[ys, max(0, int(np.floor(x1 - depth)) - 1)]))
    if y0 >= depth + 1 and xs.size > 2:
        out.append((plane[int(np.floor(y0 - depth)), xs], plane[min(h - 1, int(np.ceil(y0 + depth))), xs]))
    if y1 <= h - depth - 1 and xs.size > 2:
        out.append((plane[int(np.ceil(y1 + depth)) - 1, xs], plane[max(0, int(np.floor(y1 - depth)) - 1), xs]))
    return out


#: :func:`is_framed`: largest along-edge variation outside / inside of a flat frame, and of a frame whose
#: outside is unrelated to the inside (correlation under :data:`FRAME_UNRELATED_CORR`).
FRAME_FLAT_RATIO = 0.4
FRAME_UNRELATED_RATIO = 0.75
FRAME_UNRELATED_CORR = 0.25
#: :func:`is_framed`: an edge along which both sides step by less than this (grey levels per pixel, mean) is
#: plain on both sides: it votes for a frame when its outside is the flatter by far, else not at all.
FRAME_PLAIN_STEP = 1.5
#: :func:`is_framed`: an edge whose outside varies under this fraction of its inside breaks a tie of the votes
#: for a frame (a photo pasted at a screen's corner, with text along one of its two inner edges).
FRAME_TIE_RATIO = 0.2


def is_framed(plane: np.ndarray, window, depth: float = 2.0) -> bool:
    """Whether the container ``plane`` (a grey image) around ``window`` looks like a frame, not more photo.

    Along each edge of the window that lies inside the frame, the pixels
    ``depth`` outside and ``depth`` inside are compared. Next to a border, a
    mat or a screen around a pasted photo, the outside is flat along the edge
    (its variation along the edge under :data:`FRAME_FLAT_RATIO` of the
    inside's) or unrelated to the inside (correlation under
    :data:`FRAME_UNRELATED_CORR`, variation under :data:`FRAME_UNRELATED_RATIO`);
    around a crop, it continues the photo. An edge that is plain on both
    sides (:data:`FRAME_PLAIN_STEP`: a dark sky next to a light screen) only
    votes for a frame, never against. The window is framed when more than
    half of the voting edges say so (on make_corpus, 93% of the edges of
    letterboxes and screenshots do, 0.6-3.6% of the edges of crops), or
    half of them and one of those is nearly flat outside
    (:data:`FRAME_TIE_RATIO`). False when no edge votes.
    """
    strips = _edge_strips(np.asarray(plane, np.float64), np.asarray(window, np.float64), depth)
    votes = voters = flat = 0
    for outside, inside in strips:
        step_out, step_in = float(np.abs(np.diff(outside)).mean()), float(np.abs(np.diff(inside)).mean())
        ratio = step_out / (step_in + 1e-6)
        flat += ratio < FRAME_TIE_RATIO
        framed = ratio < FRAME_FLAT_RATIO or (ratio < FRAME_UNRELATED_RATIO and
                                              _correlation(outside, inside) < FRAME_UNRELATED_CORR)
        if not framed and max(step_out, step_in) < FRAME_PLAIN_STEP:
            continue  # plain on both sides (a dark sky next to a light screen): no evidence against a frame
        voters += 1
        votes += framed
    return voters > 0 and (2 * votes > voters or (2 * votes == voters and flat > 0))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equal-length rows; 0 when either is constant (``np.corrcoef`` without its
    overhead, which was most of the cost of :func:`is_framed`)."""
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx <= 0.0 or syy <= 0.0:
        return 0.0
    return float(dx @ dy) / float(np.sqrt(sxx * syy))
