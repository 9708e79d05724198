"""Frame evidence for robust mode: is the container of a window link only a frame around it?

A letterboxed, matted or framed copy and a screenshot hold a photo inside a
frame; a crop is held by more photo. :func:`is_framed` tells them apart from
the container's pixels along the window's edges, so that
:func:`undouble.robust_grouping.split_by_keeper` may join a photo's framed
copies through the photo, but never two photos through a region they share.
"""
from __future__ import annotations

import numpy as np

from ._kernels.frames import framed_window as _framed_window

__all__ = ["is_framed", "FRAME_FLAT_RATIO", "FRAME_UNRELATED_RATIO", "FRAME_UNRELATED_CORR", "FRAME_PLAIN_STEP",
           "FRAME_TIE_RATIO"]


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

    The edges whose outside line (``depth`` out) and inside line (``depth`` in)
    are compared are those that lie ``depth`` + 1 pixels or more inside the
    frame (:func:`undouble._kernels.frames.framed_window`, a Numba kernel:
    called for every window candidate, from the refinement's threads).
    """
    plane = np.asarray(plane)
    if plane.dtype not in (np.float32, np.float64):
        plane = plane.astype(np.float64)
    x0, y0, x1, y1 = (float(v) for v in window)
    return bool(_framed_window(plane, x0, y0, x1, y1, float(depth), FRAME_FLAT_RATIO, FRAME_UNRELATED_RATIO,
                               FRAME_UNRELATED_CORR, FRAME_PLAIN_STEP, FRAME_TIE_RATIO))
