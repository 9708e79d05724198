"""Numba kernel of :func:`undouble.robust_frames.is_framed`: the frame votes along a window's edges.

The rule and its constants are documented there; the slow reference is the
numpy form kept in the tests (``_edge_strips`` and the per-edge votes).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _mean_step(plane, fixed, start, stop, along_rows):
    """Mean absolute difference of consecutive pixels of ``plane`` along row ``fixed`` (``along_rows``: the
    pixels ``plane[fixed, start:stop]``) or along column ``fixed`` (``plane[start:stop, fixed]``)."""
    total = 0.0
    for k in range(start + 1, stop):
        if along_rows:
            total += abs(plane[fixed, k] - plane[fixed, k - 1])
        else:
            total += abs(plane[k, fixed] - plane[k - 1, fixed])
    return total / (stop - start - 1)


@njit(cache=True, nogil=True)
def _line_correlation(plane, fixed_a, fixed_b, start, stop, along_rows):
    """Pearson correlation of two parallel lines of ``plane`` (rows ``fixed_a`` and ``fixed_b`` over the
    columns ``start:stop``, or columns over rows); 0 when either is constant."""
    n = stop - start
    mean_a = 0.0
    mean_b = 0.0
    for k in range(start, stop):
        if along_rows:
            mean_a += plane[fixed_a, k]
            mean_b += plane[fixed_b, k]
        else:
            mean_a += plane[k, fixed_a]
            mean_b += plane[k, fixed_b]
    mean_a /= n
    mean_b /= n
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for k in range(start, stop):
        if along_rows:
            da = plane[fixed_a, k] - mean_a
            db = plane[fixed_b, k] - mean_b
        else:
            da = plane[k, fixed_a] - mean_a
            db = plane[k, fixed_b] - mean_b
        saa += da * da
        sbb += db * db
        sab += da * db
    if saa <= 0.0 or sbb <= 0.0:
        return 0.0
    return sab / math.sqrt(saa * sbb)


@njit(cache=True, nogil=True)
def framed_window(plane, x0f, y0f, x1f, y1f, depth, flat_ratio, unrelated_ratio, unrelated_corr, plain_step,
                  tie_ratio):
    """Whether the grey ``plane`` (float64, H x W) around the window ``(x0f, y0f, x1f, y1f)`` (fractions)
    looks like a frame: the votes of :func:`undouble.robust_frames.is_framed` along each edge that lies
    ``depth`` + 1 pixels or more inside the frame (outside line ``depth`` out, inside line ``depth`` in)."""
    h, w = plane.shape
    x0, y0, x1, y1 = x0f * w, y0f * h, x1f * w, y1f * h
    ys0, ys1 = max(0, int(math.ceil(y0))), min(h, int(math.floor(y1)))
    xs0, xs1 = max(0, int(math.ceil(x0))), min(w, int(math.floor(x1)))
    votes = 0
    voters = 0
    flat = 0
    for edge in range(4):
        if edge == 0:  # left: columns, along the rows ys
            if not (x0 >= depth + 1 and ys1 - ys0 > 2):
                continue
            out_line, in_line = int(math.floor(x0 - depth)), min(w - 1, int(math.ceil(x0 + depth)))
            start, stop, along_rows = ys0, ys1, False
        elif edge == 1:  # right
            if not (x1 <= w - depth - 1 and ys1 - ys0 > 2):
                continue
            out_line, in_line = int(math.ceil(x1 + depth)) - 1, max(0, int(math.floor(x1 - depth)) - 1)
            start, stop, along_rows = ys0, ys1, False
        elif edge == 2:  # top: rows, along the columns xs
            if not (y0 >= depth + 1 and xs1 - xs0 > 2):
                continue
            out_line, in_line = int(math.floor(y0 - depth)), min(h - 1, int(math.ceil(y0 + depth)))
            start, stop, along_rows = xs0, xs1, True
        else:  # bottom
            if not (y1 <= h - depth - 1 and xs1 - xs0 > 2):
                continue
            out_line, in_line = int(math.ceil(y1 + depth)) - 1, max(0, int(math.floor(y1 - depth)) - 1)
            start, stop, along_rows = xs0, xs1, True
        step_out = _mean_step(plane, out_line, start, stop, along_rows)
        step_in = _mean_step(plane, in_line, start, stop, along_rows)
        ratio = step_out / (step_in + 1e-6)
        if ratio < tie_ratio:
            flat += 1
        framed = ratio < flat_ratio
        if not framed and ratio < unrelated_ratio:
            framed = _line_correlation(plane, out_line, in_line, start, stop, along_rows) < unrelated_corr
        if not framed and max(step_out, step_in) < plain_step:
            continue  # plain on both sides: no evidence against a frame
        voters += 1
        if framed:
            votes += 1
    return voters > 0 and (2 * votes > voters or (2 * votes == voters and flat > 0))
