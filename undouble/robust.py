"""Robust mode (issue 21): rotated, mirrored, cropped, letterboxed and pasted copies.

Everything here works on the verification thumbnail records of
:mod:`undouble.verify` (48 x 48 grey + colour planes + an 80 x 80 fine grey plane,
9224 bytes per image), so
it needs neither the preprocessed images nor the files, and works the same for
every hash method.

Candidates
----------
* **Orientations.** Each image gets the 8 dihedral variants of a 64-bit DCT
  hash of its grey thumbnail (ImageHash's phash computed on the thumbnail; the
  8 variants come from one DCT, see :mod:`undouble._kernels.robust`). The
  rotated, mirrored, flipped and transposed hashes of every image are queried
  against the upright hashes of all images (a multi-index search, complete up
  to ``orient_threshold``).
* **Crops and containment.** Each image also gets a hash of each window of a
  fixed grid (:func:`window_grid`: each side one of 8 widths from 50% to
  100% of the frame, left edges every 5%; 2499 windows): the signs of the
  window's 8 x 8 lowest cosine coefficients (``window_sign``; no median to
  select for each of 2499 windows, which cost as much as the coefficients;
  two float32 matrix products per batch of images, :func:`grid_sign_hashes`).
  They are queried against the same hash of the whole of every other image
  (:func:`window_index_hashes`); a window of A close to the whole of B (and
  of B's aspect ratio) makes "A contains B" a candidate.
  Cropped copies, crops then downscaled, letterboxed or framed copies and
  photos pasted into a screenshot are all "one image is a window of the
  other". An aspect stretch changes nothing (the thumbnails are square).
  Given the normal groups, only one member of each group of three or more
  verified copies is windowed (:func:`group_representatives`): the windows
  of the others would find the same.
* **Content boxes.** The grid is coarse for small windows, so a photo that
  fills 55-65% of a screenshot can miss it. :func:`content_boxes` also hashes
  the boxes bounded by long straight one-signed edges on the fine plane (a
  pasted or letterboxed photo's border), each with its edges moved 1.5% in
  and out, and queries them like the grid.

Verification
------------
A candidate is never a link by itself. The window candidates within
``near_threshold`` bits (nearly every accepted one on generated corpora) are
checked first; a farther one only where it may link an image or a small
cluster that the closer ones left without a picture with verified copies, or
relate two images of one component (:func:`far_candidates_to_check`). An oriented candidate is verified by
the normal verifier (:func:`undouble.verify.verify_pairs`) on the thumbnail of
A transformed by the orientation (a 48 x 48 thumbnail rotates and flips
exactly); a pair that fails is tried once more after a sub-pixel
realignment (a file decoded at a reduced JPEG scale is padded at its right
and bottom edges, which a flip moves to the other side). A window candidate
(at most ``per_group_pair`` per pair of normal groups) is refined on the grey
planes, then verified on a record made from the window of A, inset by
``window_inset`` per side, against one made from B at the window's resolution;
the matched region must be at least ``min_area`` of the container, which
excludes a small photo in an unrelated screenshot, and the verifier's
per-block rules reject same-scene photos and overlapping crops with different
content. Each window link records whether its container only frames the
contained image (:func:`undouble.robust_frames.is_framed`: a letterbox or a
screenshot, not more photo). A contained image that is not framed must not
have more pixels than the region it matches (``max_crop_scale``, 1.15;
counted on the largest copy in its normal group, :func:`largest_copy_sizes`): a
crop is kept as cut or made smaller, while a photo that shows a part of
another in more detail is a closer view (a zoomed shot of one scene, or
two scenes cut from one base photo), which the pixels alone cannot tell from
a crop once both are resampled to one size.

Grouping
--------
In :mod:`undouble.robust_grouping`: the normal groups joined by the verified
links, cut into groups grown from keepers where the container wins.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np

from . import verify as _v
from ._kernels import robust as _k
from .robust_frames import is_framed
from .robust_orient import orient_array, orient_thumbnail, orient_thumbnails  # noqa: F401 (re-exported)
from .robust_refine import (COARSE_CORRELATION_GATE, REFINE_SIDES, _grey_plane, _image_window_record,  # noqa: F401
                            _inset, _refine_two_levels, _window_pixels, _window_record,
                            align_window, contained_planes, container_planes, refine_window)

#: Orientation codes (see :mod:`undouble._kernels.robust`): what was done to A to get B.
ORIENTATIONS: tuple[str, ...] = ("upright", "rotated 90", "rotated 180", "rotated 270", "mirrored", "flipped",
                                 "transposed", "transposed")
#: The orientation that undoes each orientation.
INVERSE_ORIENTATION: tuple[int, ...] = (0, 3, 2, 1, 4, 5, 6, 7)
_ORIENT_RELATION = (None, _v.REL_ROTATED_90, _v.REL_ROTATED_180, _v.REL_ROTATED_270, _v.REL_MIRRORED,
                    _v.REL_FLIPPED, _v.REL_TRANSPOSED, _v.REL_TRANSPOSED)
#: Chunks of the multi-index search: 4 x 16 bits of the 64-bit hash.
_SHIFTS = np.array([0, 16, 32, 48], np.int64)
_KEYBITS = 16


@dataclass(frozen=True)
class RobustParams:
    """Settings of the robust candidate search and verification.

    ``orient_threshold``: largest distance between an oriented hash and an
    upright one (the search is complete up to 11); ``window_threshold`` and
    ``window_radius``: distance and chunk radius of the window search (complete
    up to ``4 * (window_radius + 1) - 1``, else the windows that agree on one
    16-bit chunk within the radius); ``min_width``/``width_step``/``left_step``:
    the window grid; ``min_area``: smallest area of the matched
    region as a fraction of the container's; ``max_crop_scale``: largest
    :func:`enlargement` of a contained image whose container is no frame (a
    crop is saved as cut or smaller; a photo with more pixels than the region
    it matches is a closer view of the scene, not a crop of it; 0: no limit);
    ``window_similarity``: the verifier's similarity a window link needs
    (above its 0.5: a crop drops context, so the boundary cases are left out);
    ``framed_similarity``: the same for a container that only frames the window (:func:`is_framed`: a
    letterbox or a screenshot, whose photo is resampled from fewer pixels);
    ``window_inset``: fraction of the window's side left out at each edge in
    the check (a sliver of border or screen there is no difference);
    ``per_group_pair``: window candidates checked per pair of normal groups
    (:func:`best_per_group_pair`); ``aspect_tol``: largest
    relative difference between a window's shape and the contained image's
    aspect ratio; ``full_frame_distance``: pairs whose upright hashes are this
    close are left to the full-frame search; ``widths``: explicit window widths
    (instead of ``min_width``/``width_step``); ``box_edge_step`` and
    ``box_edge_fraction``: the grey step and the share of a side that make a
    straight edge for :func:`content_boxes` (0: no content boxes);
    ``window_sign``: the window hashes (and the whole-image hashes they are
    matched against) take the signs of the cosine coefficients, else the
    coefficients above their median (ImageHash's phash rule);
    ``candidates_per_image``: window candidates checked per image, the closest first
    (:func:`closest_per_image`; 0: all); ``near_threshold``: window candidates farther than this
    (but within ``window_threshold``) are checked after the others, and not when they would join two
    components of what is verified by then that both hold a verified group of two or more
    (:func:`far_candidates_to_check`; -1: all are checked).
    """

    orient_threshold: int = 10
    window_threshold: int = 12
    window_radius: int = 1
    min_width: float = 0.5
    width_step: float = 0.1
    left_step: float = 0.05
    widths: tuple[float, ...] = (0.5, 0.56, 0.62, 0.68, 0.74, 0.8, 0.9, 1.0)
    aspect_tol: float = 0.25
    window_similarity: float = 0.6
    framed_similarity: float = 0.5
    window_inset: float = 0.03
    per_group_pair: int = 3
    full_frame_distance: int = 4
    min_area: float = 0.28
    max_crop_scale: float = 1.15
    box_edge_step: int = 6
    box_edge_fraction: float = 0.25
    window_sign: bool = True
    candidates_per_image: int = 12
    near_threshold: int = 8


DEFAULT_ROBUST = RobustParams()


def window_grid(params: RobustParams = DEFAULT_ROBUST) -> np.ndarray:
    """The intervals ``[lo, hi)`` (fractions of one side) of the window grid, K x 2.

    The widths ``params.widths`` (else from ``min_width`` to 1 in steps of
    ``width_step``), left edges from 0 in steps of ``left_step`` while the
    window fits; 50 intervals by default, so 50 x 50 - 1 = 2499 windows (the
    full frame left out).
    """
    out = []
    if params.widths:
        widths = np.asarray(params.widths, np.float64)
    else:
        widths = np.arange(params.min_width, 1.0 + 1e-9, params.width_step)
        if widths[-1] < 1.0 - 1e-9:
            widths = np.append(widths, 1.0)
    for width in widths:
        width = min(1.0, float(width))
        for left in np.arange(0.0, 1.0 - width + 1e-9, params.left_step):
            out.append((float(left), float(left) + width))
    return np.asarray(out, np.float64)


def _grey(thumbs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_v.thumbnail_grey(thumbs))


def orientation_hashes(thumbs: np.ndarray) -> np.ndarray:
    """N x 8 uint64: the DCT hash of each thumbnail in its 8 orientations (codes :data:`ORIENTATIONS`)."""
    grey = _grey(thumbs)
    out = np.zeros((grey.shape[0], _k.N_ORIENT), np.uint64)
    if grey.shape[0]:
        _k.orientation_hashes(grey, 8, out)
    return out


@functools.lru_cache(maxsize=16)
def _interval_bases(length: int, intervals: bytes) -> np.ndarray:
    """(A * 8) x ``length`` float32: the cosine weights of :func:`_k._axis_basis` for the intervals
    (A x 2 float64 fractions, as bytes: the key of the cache), frequencies of one interval in a run."""
    ints = np.frombuffer(intervals, np.float64).reshape(-1, 2)
    out = np.zeros((ints.shape[0], 8, length))
    for a, (lo, hi) in enumerate(ints):
        _k._axis_basis(length, lo * length, hi * length, 8, out[a])
    out = out.reshape(-1, length).astype(np.float32)
    out.flags.writeable = False
    return out


#: Images per matrix product of :func:`grid_sign_hashes` (its coefficients: 640 KB per image for 2499 windows).
SIGN_HASH_CHUNK = 4


def grid_sign_hashes(grey: np.ndarray, xints: np.ndarray, yints: np.ndarray) -> np.ndarray:
    """The sign hashes of the windows ``xints[a] x yints[b]`` of each grey image, N x (B * A) uint64.

    The same hash as ``_k.grid_window_hashes(..., nfreq=8, sign=True)`` (bit
    ``63 - (8r + c)`` set where the cosine coefficient ``(r, c)`` of the window
    is above 0), computed as two float32 matrix products per chunk of images:
    ``BY @ img`` (all vertical intervals' 8 weights, 8B x H) and then ``@ BX.T``
    (W x 8A), whose 8 x 8 blocks are the windows' coefficients (BLAS: about a
    third of the CPU time of the kernel's float64 loops). A coefficient within
    float32 rounding of 0 may take the other sign than in float64: 8 of 1.26
    million window hashes of a generated corpus differed, nothing to a candidate
    search whose pairs are verified afterwards.
    """
    grey = np.asarray(grey)
    n, h, w = grey.shape
    xints = np.ascontiguousarray(xints, np.float64).reshape(-1, 2)
    yints = np.ascontiguousarray(yints, np.float64).reshape(-1, 2)
    by = _interval_bases(h, yints.tobytes())
    bx_t = np.ascontiguousarray(_interval_bases(w, xints.tobytes()).T)
    out = np.zeros((n, yints.shape[0] * xints.shape[0]), np.uint64)
    for start in range(0, n, SIGN_HASH_CHUNK):
        part = grey[start:start + SIGN_HASH_CHUNK].astype(np.float32)
        rows = np.matmul(by, part)  # c x 8B x W
        coef = (rows.reshape(-1, w) @ bx_t).reshape(part.shape[0], by.shape[0], bx_t.shape[1])
        _k.pack_grid_signs(coef, xints.shape[0], out[start:start + part.shape[0]])
    return out


def _grid_hashes(grey: np.ndarray, ints: np.ndarray, sign: bool) -> np.ndarray:
    if sign:
        return grid_sign_hashes(grey, ints, ints)
    out = np.zeros((grey.shape[0], len(ints) * len(ints)), np.uint64)
    if grey.shape[0]:
        _k.grid_window_hashes(grey, ints, ints, 8, out, False)
    return out


def window_hashes(thumbs: np.ndarray, params: RobustParams = DEFAULT_ROBUST) -> tuple[np.ndarray, np.ndarray]:
    """The DCT hashes of the window grid of each thumbnail (sign hashes with ``params.window_sign``,
    :func:`grid_sign_hashes`).

    Returns
    -------
    (np.ndarray, np.ndarray)
        N x K uint64 hashes and the K x 4 windows ``(x0, y0, x1, y1)`` (fractions),
        the full frame left out.
    """
    grey = _grey(thumbs)
    ints = window_grid(params)
    windows = np.array([(xa[0], ya[0], xa[1], ya[1]) for ya in ints for xa in ints])
    full = ~((windows[:, 2] - windows[:, 0] > 1 - 1e-9) & (windows[:, 3] - windows[:, 1] > 1 - 1e-9))
    return _grid_hashes(grey, ints, params.window_sign)[:, full], windows[full]


def window_index_hashes(thumbs: np.ndarray, params: RobustParams = DEFAULT_ROBUST) -> np.ndarray:
    """N uint64: the hash of each whole thumbnail that :func:`window_hashes` are matched against (the same
    rule and the same arithmetic, so with ``params.window_sign`` not the upright one of
    :func:`orientation_hashes`)."""
    return _grid_hashes(_grey(thumbs), np.array([[0.0, 1.0]]), params.window_sign)[:, 0]


def search_pairs(queries: np.ndarray, owners: np.ndarray, hashes: np.ndarray, threshold: int,
                 radius: int = 2, index=None, threads: int | None = None,
                 near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (query, row) within ``threshold`` bits, a row never paired with its own query.

    Parameters
    ----------
    queries : np.ndarray
        Q uint64 hashes.
    owners : np.ndarray
        Q ints: the row each query belongs to (excluded from its results).
    hashes : np.ndarray
        N uint64 hashes (the index).
    threshold : int
        Largest distance.
    radius : int
        0..2: keys probed around each 16-bit chunk; complete when ``threshold < 4 * (radius + 1)``.
    index : tuple, optional
        ``_k.build_index(hashes, ...)`` reused across calls.
    threads : int, optional
        Most threads to query in (default: one per core, for 50,000 queries or more each).
    near : np.ndarray, optional
        ``_k.near_buckets(index[3], ...)`` for this ``radius``, reused across calls.

    Returns
    -------
    (q, j, d) : int64 arrays
    """
    queries = np.ascontiguousarray(queries, np.uint64).reshape(-1)
    owners = np.ascontiguousarray(owners, np.int64).reshape(-1)
    hashes = np.ascontiguousarray(hashes, np.uint64).reshape(-1)
    if not 0 <= radius <= 2:
        raise ValueError(f"radius must be 0, 1 or 2, got {radius}")
    if index is None:
        index = _k.build_index(hashes, _SHIFTS, _KEYBITS)
    if near is None:
        near = _k.near_buckets(index[3], _KEYBITS, int(radius))
    jobs = max(1, min(threads or os.cpu_count() or 1, queries.size // 50_000))
    bounds = np.linspace(0, queries.size, jobs + 1).astype(np.int64)

    def run(part: int):
        lo, hi = bounds[part], bounds[part + 1]
        cap = max(1024, 4 * int(hi - lo))
        while True:
            oq, oj, od = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)
            found = _k.query_index(queries[lo:hi], owners[lo:hi], *index, near, _SHIFTS, _KEYBITS,
                                   int(radius), int(threshold), oq, oj, od)
            if found <= cap:
                return oq[:found] + lo, oj[:found], od[:found]
            cap = found

    if jobs == 1:
        return run(0)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:  # the kernel releases the GIL
        parts = list(pool.map(run, range(jobs)))
    return tuple(np.concatenate([p[c] for p in parts]) for c in range(3))


@dataclass(frozen=True)
class RobustLinks:
    """Verified robust links: image ``b`` is image ``a`` transformed (arrays of one length).

    ``orientation``: the code taking ``a`` to ``b`` (0 for windows);
    ``container``: the index (``a`` or ``b``) of the image that contains the
    other, -1 for full-frame links; ``area_fraction``: the contained image's area
    as a fraction of the container's (1 for full frame); ``relation``: the code
    of ``b`` relative to ``a`` (:data:`undouble.verify.RELATION_NAMES`);
    ``framed``: for window links, the container is the contained image in a
    frame, border or screen (:func:`is_framed`); None: no link is.
    """

    a: np.ndarray
    b: np.ndarray
    orientation: np.ndarray
    relation: np.ndarray
    similarity: np.ndarray
    area_fraction: np.ndarray
    container: np.ndarray
    framed: np.ndarray | None = None

    def framed_at(self, k: int) -> bool:
        """Whether link ``k`` is a window link whose container frames the contained image."""
        return self.framed is not None and bool(self.framed[k])

    def __len__(self) -> int:
        return int(self.a.size)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    return np.unpackbits(np.ascontiguousarray(words, np.uint64).view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def _empty_links() -> RobustLinks:
    e = np.zeros(0, np.int64)
    return RobustLinks(e, e, e.astype(np.int8), e.astype(np.int8), e.astype(np.float32), e.astype(np.float32), e,
                       e.astype(bool))


def orientation_candidates(ohash: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate (a, b, orientation) with ``orient(a) ~ b`` for orientations 1..7, each unordered pair once."""
    n = ohash.shape[0]
    upright = np.ascontiguousarray(ohash[:, 0])
    index = _k.build_index(upright, _SHIFTS, _KEYBITS)
    queries = np.ascontiguousarray(ohash[:, 1:]).reshape(-1)
    owners = np.repeat(np.arange(n, dtype=np.int64), 7)
    q, j, d = search_pairs(queries, owners, upright, threshold, radius=2, index=index)
    a, o = q // 7, q % 7 + 1
    # keep the closest orientation of each unordered pair
    lo, hi = np.minimum(a, j), np.maximum(a, j)
    order = np.lexsort((o, d, hi, lo))
    a, j, o, lo, hi = a[order], j[order], o[order], lo[order], hi[order]
    first = np.ones(a.size, bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return a[first], j[first], o[first]


#: Each edge of a content box is also tried this far (a fraction of the side) in and out.
BOX_JITTER = 0.015
#: A content box is kept when at least half of its inner sides have a flat outside: the outside strip
#: varies along the side at most this times the inside strip (0: keep every box).
BOX_FLAT_RATIO = 0.4


def framed_boxes(thumbs: np.ndarray, params: RobustParams = DEFAULT_ROBUST) -> np.ndarray:
    """N x 16 x 4 boxes ``(x0, y0, x1, y1)`` (fractions) of each thumbnail that look like a photo inside a
    frame or a screen (long straight edges with a flat outside, :func:`undouble._kernels.robust.content_boxes`);
    NaN rows unused."""
    thumbs = np.asarray(thumbs, np.uint8)
    n = thumbs.shape[0]
    boxes = np.full((n, 16, 4), np.nan)
    if n == 0 or params.box_edge_step <= 0:
        return boxes
    f = _v.FINE_SIZE
    fine = np.ascontiguousarray(thumbs[:, _v.FINE_OFFSET:_v.FINE_OFFSET + f * f].reshape(n, f, f))
    _k.content_boxes(fine, int(params.box_edge_step), float(params.box_edge_fraction), BOX_FLAT_RATIO, boxes)
    return boxes


def content_boxes(thumbs: np.ndarray, params: RobustParams = DEFAULT_ROBUST) -> tuple[np.ndarray, np.ndarray]:
    """Windows where a photo may sit inside a frame, a mat or a screen, and their DCT hashes.

    The grid of :func:`window_hashes` is coarse for small windows: a photo
    pasted into a screenshot at 55-65% of each side can lie 12 bits or more
    from every grid window. A pasted or letterboxed photo ends at long straight
    edges: the boundaries with the largest surplus of one-signed steps of at
    least ``params.box_edge_step`` grey levels (at least
    ``params.box_edge_fraction`` of the side) on the 80 px fine plane, two per
    side and half, give up to 16 boxes per image
    (:func:`undouble._kernels.robust.content_boxes`), kept when they look
    framed (at least half of the sides inside the image have a flat outside,
    :data:`BOX_FLAT_RATIO`: on natural photos about 85% of the boxes go). The hash of a window
    that small moves with a pixel of the 48 px thumbnail, so each box is
    hashed with every edge also moved :data:`BOX_JITTER` in and out (81
    windows, one row pass per vertical interval).

    Returns
    -------
    (np.ndarray, np.ndarray)
        K x 5 float64 ``(row, x0, y0, x1, y1)`` windows and their K uint64 hashes.
    """
    thumbs = np.asarray(thumbs, np.uint8)
    n = thumbs.shape[0]
    if n == 0 or params.box_edge_step <= 0:
        return np.zeros((0, 5)), np.zeros(0, np.uint64)
    flat = framed_boxes(thumbs, params).reshape(-1, 4)
    owners = np.repeat(np.arange(n, dtype=np.int64), 16)
    used = ~np.isnan(flat[:, 0])
    used[used] = (flat[used, 2] - flat[used, 0]) * (flat[used, 3] - flat[used, 1]) >= params.min_area
    flat, owners = flat[used], owners[used]
    if owners.size == 0:
        return np.zeros((0, 5)), np.zeros(0, np.uint64)
    moves = np.array([-BOX_JITTER, 0.0, BOX_JITTER])
    lo_move, hi_move = (m.reshape(-1) for m in np.meshgrid(moves, moves, indexing="ij"))  # 9 intervals
    xints = np.stack([flat[:, 0:1] + lo_move, flat[:, 2:3] + hi_move], axis=2)  # K x 9 x 2
    yints = np.stack([flat[:, 1:2] + lo_move, flat[:, 3:4] + hi_move], axis=2)
    hashes = np.zeros((owners.size, 81), np.uint64)
    _k.box_grid_hashes(_grey(thumbs), owners, np.ascontiguousarray(xints), np.ascontiguousarray(yints), 8, hashes,
                       params.window_sign)
    windows = np.stack([np.repeat(xints[:, None, :, 0], 9, axis=1), np.repeat(yints[:, :, None, 0], 9, axis=2),
                        np.repeat(xints[:, None, :, 1], 9, axis=1), np.repeat(yints[:, :, None, 1], 9, axis=2)],
                       axis=3).reshape(-1, 4)  # window b * 9 + a of each box
    return np.column_stack([np.repeat(owners, 81).astype(np.float64), windows]), hashes.reshape(-1)


#: Containers whose window hashes one thread of :func:`window_candidates` makes and queries at a time
#: (their hashes: 1.3 MB per thread).
WINDOW_PART = 64


def _part_window_candidates(thumbs: np.ndarray, rows: np.ndarray, upright: np.ndarray, index: tuple,
                            near: np.ndarray, params: RobustParams) -> tuple[np.ndarray, ...]:
    """(a, j, window, distance) of the window hashes (grid and content boxes) of the containers ``rows``
    within ``params.window_threshold`` of ``upright`` (indexed in ``index``, ``near`` its
    :func:`undouble._kernels.robust.near_buckets`), in the calling thread."""
    part = thumbs[rows]
    wh, windows = window_hashes(part, params)
    k = wh.shape[1]
    owners = np.repeat(rows, k)
    q, j, d = search_pairs(wh.reshape(-1), owners, upright, params.window_threshold,
                           radius=params.window_radius, index=index, threads=1, near=near)
    a, win = owners[q], windows[q % k]
    boxes, box_hash = content_boxes(part, params)
    if box_hash.size:
        box_owners = rows[boxes[:, 0].astype(np.int64)]
        q, box_j, box_d = search_pairs(box_hash, box_owners, upright, params.window_threshold,
                                       radius=params.window_radius, index=index, threads=1, near=near)
        a, j, win, d = (np.concatenate(x) for x in ((a, box_owners[q]), (j, box_j), (win, boxes[q, 1:]),
                                                    (d, box_d)))
    return a, j, win, d


def window_candidates(thumbs: np.ndarray, upright: np.ndarray, params: RobustParams = DEFAULT_ROBUST,
                      block: int = WINDOW_PART, sizes: np.ndarray | None = None,
                      return_distance: bool = False, containers: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Candidate (container a, contained b, window) pairs: a window of ``a`` hashes close to all of ``b``.

    Windows (the grid of :func:`window_hashes` and the boxes of :func:`content_boxes`)
    of the rows ``containers`` (default: all) are hashed and queried against
    ``upright``, the hashes of the whole of all rows by the same rule
    (:func:`window_index_hashes`), ``block`` images at a time in each of one thread per core
    (memory O(threads x block x K); BLAS held to one thread meanwhile: its own threads spin
    between the small products and cost twice the CPU time for the same wall time).
    With ``sizes`` (N x 2 width, height), a window whose shape in ``a``'s pixels
    differs from ``b``'s aspect ratio by more than ``params.aspect_tol`` is no
    candidate (a crop, frame or paste keeps the aspect ratio of what it holds).
    Pairs whose ``upright`` hashes are within ``params.full_frame_distance`` are left
    to the full-frame search. Returns the best (closest, then largest) window of
    each (a, b) as K x 4 fractions (and its hash distance with ``return_distance``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    n = upright.shape[0]
    upright = np.ascontiguousarray(upright, np.uint64)
    index = _k.build_index(upright, _SHIFTS, _KEYBITS)
    near = _k.near_buckets(index[3], _KEYBITS, int(params.window_radius))
    got_a, got_b, got_w, got_d = [], [], [], []

    def take(a: np.ndarray, j: np.ndarray, win: np.ndarray, d: np.ndarray) -> None:
        keep = _popcount(upright[a] ^ upright[j]) > params.full_frame_distance
        if sizes is not None:
            win_aspect = ((win[:, 2] - win[:, 0]) * sizes[a, 0]) / \
                np.maximum(1e-9, (win[:, 3] - win[:, 1]) * sizes[a, 1])
            aspect = sizes[j, 0] / np.maximum(1, sizes[j, 1])
            keep &= np.abs(np.log(win_aspect / np.maximum(aspect, 1e-9))) <= np.log1p(params.aspect_tol)
        got_a.append(a[keep])
        got_b.append(j[keep])
        got_w.append(win[keep])
        got_d.append(d[keep])

    containers = np.arange(n, dtype=np.int64) if containers is None else np.asarray(containers, np.int64)
    parts = [containers[start:start + max(1, block)] for start in range(0, containers.size, max(1, block))]
    # the median hashes' kernel is a parallel one already (two threads must not launch one at a time)
    workers = min(os.cpu_count() or 1, len(parts)) if params.window_sign else 1

    def part(rows: np.ndarray) -> tuple[np.ndarray, ...]:
        return _part_window_candidates(thumbs, rows, upright, index, near, params)

    with threadpool_limits(1, user_api="blas"):
        if workers <= 1:
            for rows in parts:
                take(*part(rows))
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="undouble-windows") as pool:
                for got in pool.map(part, parts):  # BLAS and the query kernel release the GIL
                    take(*got)
    if not got_a:
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)))
        return empty + (np.zeros(0, np.int64),) if return_distance else empty
    a, b, w, d = (np.concatenate(x) for x in (got_a, got_b, got_w, got_d))
    area = (w[:, 2] - w[:, 0]) * (w[:, 3] - w[:, 1])
    order = np.lexsort((-area, d, b, a))
    a, b, w, d = a[order], b[order], w[order], d[order]
    first = np.ones(a.size, bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    if return_distance:
        return a[first], b[first], w[first], d[first]
    return a[first], b[first], w[first]


def group_keys(known_groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows``, the label of its normal group (``known_groups``, -1 for none), where a row in none
    is a group of its own: ``N + row`` (N rows), never a label."""
    known_groups = np.asarray(known_groups, np.int64)
    rows = np.asarray(rows, np.int64)
    return np.where(known_groups[rows] >= 0, known_groups[rows], known_groups.size + rows)


def best_per_group_pair(known_groups: np.ndarray, a: np.ndarray, b: np.ndarray, distance: np.ndarray,
                        keep: int = 1) -> np.ndarray:
    """Positions of the ``keep`` closest candidates (a, b) of each pair of normal groups (row labels, -1 for an
    image in none, which is a group of its own). The normal groups are verified copies, so one verified
    window link between two of them joins them all; the other candidates would cost a check each."""
    key_a, key_b = group_keys(known_groups, a), group_keys(known_groups, b)
    order = np.lexsort((b, a, distance, key_b, key_a))
    ka, kb = key_a[order], key_b[order]
    start = np.ones(order.size, bool)
    start[1:] = (ka[1:] != ka[:-1]) | (kb[1:] != kb[:-1])
    run = np.arange(order.size) - np.maximum.accumulate(np.where(start, np.arange(order.size), 0))
    return np.sort(order[run < keep])


def closest_per_image(a: np.ndarray, b: np.ndarray, distance: np.ndarray, limit: int, n: int) -> np.ndarray:
    """Positions of the candidates (a, b) kept when each row takes part in at most ``limit`` of them (as
    container or as contained), the closest (hash ``distance``) first, ties by position.

    The window search finds about N x (a small probability) chance pairs per image: in a
    folder of unrelated photos their number per image grows with N, and each costs a refinement.
    True candidates lie closer than most chance ones, so the cap keeps the cost per image bounded
    at scale and, in folders where few images reach the cap, changes nothing. ``limit`` <= 0: no cap.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if limit <= 0 or a.size == 0:
        return np.arange(a.size)
    order = np.lexsort((np.arange(a.size), np.asarray(distance)))
    keep = np.zeros(a.size, bool)
    _k.closest_per_image(a, b, order.astype(np.int64), int(limit), int(n), keep)
    return np.flatnonzero(keep)


def _oriented_size(size: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    swap = np.isin(orientation, (1, 3, 6, 7))
    out = np.array(size, np.int64, copy=True)
    out[swap] = out[swap][:, ::-1]
    return out


def _verify_against(thumbs: np.ndarray, sizes: np.ndarray, rows: np.ndarray, records: np.ndarray,
                    record_sizes: np.ndarray, verify_params: _v.VerifyParams,
                    record_of: np.ndarray | None = None) -> _v.VerifyResult:
    """:func:`undouble.verify.verify_pairs` of each record ``records[record_of[k]]`` (default ``records[k]``;
    original size ``record_sizes`` likewise) against row ``rows[k]`` of ``thumbs``, given only the rows used
    (in ascending order, then the records, as the verifier would pick them from all rows and records): no
    copy of all N thumbnails."""
    used, local = np.unique(rows, return_inverse=True)
    which = np.arange(len(records)) if record_of is None else np.asarray(record_of, np.int64)
    return _v.verify_pairs(np.concatenate([thumbs[used], records]), np.concatenate([sizes[used], record_sizes]),
                           used.size + which, local.reshape(-1), verify_params)


#: Window candidates whose images' refinement planes are made together: at most this many containers' planes
#: (0.22 MB each for 128 px images) and as many contained images' (0.04 MB) are held at once, 0.13 GB.
REFINE_CHUNK = 512
#: Largest edge move (fraction of the side) of the sub-pixel realignment of an oriented thumbnail.
ORIENT_SHIFT_MAX = 0.025
#: Smallest similarity of a failed oriented pair for the realignment to be tried: on five generated corpora
#: the pairs that the realignment turned into links had 0.17-0.49 before it, while most of the others (other
#: shots of a scene) lie under 0.1.
ORIENT_RETRY_SIMILARITY = 0.12


def verify_orientations(thumbs: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray,
                        orientation: np.ndarray,
                        verify_params: _v.VerifyParams = _v.DEFAULT_PARAMS) -> tuple[np.ndarray, _v.VerifyResult]:
    """Verify "``b`` is ``a`` in ``orientation``": the normal verifier on ``a``'s thumbnail transformed exactly.

    A pair that fails is tried once more after a sub-pixel realignment: the
    thumbnails of a file decoded at a reduced JPEG scale hold a partial block
    of padding at the right and bottom edges, which a mirror or rotation moves
    to the other side (a shift of up to about half a thumbnail pixel, enough
    to fail a dark, low-contrast photo); pairs whose similarity is under
    :data:`ORIENT_RETRY_SIMILARITY` are not tried again. The window of the oriented thumbnail
    that best matches ``b`` (:func:`align_window` from the whole frame; each edge may have moved by at
    most :data:`ORIENT_SHIFT_MAX`) is resampled into a new record and verified.

    Returns ``(ok, result)``; ``result`` is the verifier's, for (oriented ``a``, ``b``).
    """
    thumbs = np.asarray(thumbs, np.uint8)
    sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
    a, b, orientation = (np.asarray(x, np.int64).reshape(-1) for x in (a, b, orientation))
    # one oriented record per (a, orientation): an image is a candidate of several copies of one picture
    _, first, which = np.unique(a * _k.N_ORIENT + orientation, return_index=True, return_inverse=True)
    which = which.reshape(-1)
    oriented = orient_thumbnails(thumbs[a[first]], orientation[first])
    oriented_sizes = _oriented_size(sizes[a[first]], orientation[first])
    res = _verify_against(thumbs, sizes, b, oriented, oriented_sizes, verify_params, record_of=which)
    retry = np.flatnonzero(~res.ok & (res.similarity >= ORIENT_RETRY_SIMILARITY))
    if retry.size:
        s = _v.THUMB_SIZE
        full = np.array([0.0, 0.0, 1.0, 1.0])
        realigned = np.zeros(retry.size, bool)
        again_records = np.empty((retry.size, _v.THUMB_BYTES), np.uint8)

        def realign(i: int) -> None:
            k = retry[i]
            record = oriented[which[k]]
            window = align_window(record[:s * s].reshape(s, s), thumbs[b[k], :s * s].reshape(s, s), full)[0]
            if np.abs(window - full).max() <= ORIENT_SHIFT_MAX:
                again_records[i] = _window_record(record, window)
                realigned[i] = True

        _each_in_threads(realign, retry.size)
        moved = retry[realigned].astype(np.int64)
        if moved.size:
            again = _verify_against(thumbs, sizes, b[moved], again_records[realigned], oriented_sizes[which[moved]],
                                    verify_params)
            fields = {f: getattr(res, f).copy() for f in ("ok", "similarity", "relation", "area_fraction", "container")}
            won = again.ok
            for f in fields:
                fields[f][moved[won]] = getattr(again, f)[won]
            res = _v.VerifyResult(**fields)
    return res.ok.copy(), res


#: :func:`verify_windows` skips the fine alignment of a candidate whose coarse window makes the contained
#: image more than ``max_crop_scale`` times this larger than the region, unless that window looks framed.
SCALE_PRECHECK_SLACK = 1.1
#: The frame depths (pixels of the 128 px image) tried on the coarse window by that check: its edges may lie
#: 1-2 pixels off the fine window's, where :func:`is_framed` looks 2 pixels deep.
PRECHECK_FRAME_DEPTHS = (2.0, 4.0)


def _each_in_threads(work, count: int, per_thread: int = 16) -> None:
    """``work(k)`` for k in ``range(count)`` on up to one thread per core (at least ``per_thread`` calls
    each), in runs of consecutive calls (about 8 runs per thread: a future per call costs as much as a
    short call); ``work`` writes its own output, so the order of the calls does not matter. The window
    refinement and the records release the GIL (Numba ``nogil`` kernels, OpenCV)."""
    workers = min(os.cpu_count() or 1, count // per_thread)
    if workers <= 1:
        for k in range(count):
            work(k)
        return
    from concurrent.futures import ThreadPoolExecutor

    size = max(per_thread, -(-count // (8 * workers)))  # runs of calls per task: a future per call costs more

    def run(start: int) -> None:
        for k in range(start, min(start + size, count)):
            work(k)

    with ThreadPoolExecutor(workers, thread_name_prefix="undouble-robust") as pool:
        for _ in pool.map(run, range(0, count, size)):
            pass


#: A window link whose refined window covers at least this fraction of its container's area is the whole
#: frame: an upright copy, which the normal search judges; robust mode keeps no such link.
WHOLE_FRAME_AREA = 0.97


def verify_windows(thumbs: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray, windows: np.ndarray,
                   params: RobustParams = DEFAULT_ROBUST,
                   verify_params: _v.VerifyParams = _v.DEFAULT_PARAMS,
                   images=None,
                   copy_sizes: np.ndarray | None = None,
                   whole_frame_area: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verify "``a`` contains all of ``b`` near ``windows``" (K x 4 fractions of ``a``'s frame).

    The window is refined on the grey thumbnails (:func:`refine_window`; with
    ``images``, :func:`_refine_two_levels`, whose coarse gate drops a pair that
    cannot match), then
    becomes a new thumbnail record that the normal verifier compares with
    ``b`` as a same-size pair (made from ``images[a]``, the preprocessed image,
    when ``images`` is given: sharper than a window of the 48 x 48 thumbnail). A pair passes when the verifier accepts it, the
    refined window lies inside ``a``'s frame (containment, not an overlap), and
    it covers at least ``params.min_area`` of ``a``.

    ``copy_sizes`` (N x 2, default ``sizes``) are the sizes the closer-view
    precheck (``params.max_crop_scale``) compares (:func:`largest_copy_sizes`).
    With ``whole_frame_area``, a window whose coarse or refined form covers at
    least that fraction of ``a``'s area fails unverified (no fine level, no
    records): for a caller that leaves whole-frame pairs to the normal search
    (:data:`WHOLE_FRAME_AREA`). These are a fifth to a half of the window
    candidates of generated corpora (other shots of one scene whose hash is close
    to a window of 90% of the frame); on five of them none whose coarse window
    covered 93% or more became a link, while the lowest coarse window of one that
    did covered under 90%.

    Returns
    -------
    (ok, area_fraction, similarity, framed)
        ``area_fraction``: the window's area as a fraction of ``a``'s;
        ``framed``: :func:`is_framed` on ``images[a]`` (all False without ``images``).
    """
    thumbs = np.asarray(thumbs, np.uint8)
    sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
    a, b = (np.asarray(x, np.int64).reshape(-1) for x in (a, b))
    windows = np.asarray(windows, np.float64).reshape(-1, 4)
    m = a.size
    copy_sizes = sizes if copy_sizes is None else np.asarray(copy_sizes, np.int64).reshape(-1, 2)
    grey = _v.thumbnail_grey(thumbs)
    refined = np.full((m, 4), np.nan)  # NaN: dropped by the coarse gate, fails below

    def refine_thumbnails(k: int) -> None:
        refined[k] = refine_window(grey[a[k]], grey[b[k]], windows[k])

    if images is None:
        _each_in_threads(refine_thumbnails, m)
    else:
        for start in range(0, m, REFINE_CHUNK):
            # the planes of the images of a chunk of candidates, made once: memory O(chunk)
            chunk = np.arange(start, min(m, start + REFINE_CHUNK))
            rows_a, rows_b = np.unique(a[chunk]), np.unique(b[chunk])
            grey_a = [None] * rows_a.size
            planes_a = [None] * rows_a.size
            planes_b = [None] * rows_b.size

            at_a = np.searchsorted(rows_a, a[chunk])
            at_b = np.searchsorted(rows_b, b[chunk])
            sizes_a = copy_sizes[a[chunk]].astype(np.float64).tolist()  # (width, height) as Python floats
            sizes_b = copy_sizes[b[chunk]].astype(np.float64).tolist()

            def make_planes(j: int) -> None:
                """The planes of candidate ``j``'s two images, made by the first refinement that needs them (a
                few dozen microseconds each, most of it Python's: made here, they overlap the other threads'
                kernels; two threads may make one image's planes at once, the same planes, and either is kept)."""
                if planes_a[at_a[j]] is None:
                    # the grey plane first: a thread that finds an image's planes finds its grey plane too
                    grey_a[at_a[j]] = _grey_plane(images[int(rows_a[at_a[j]])])
                    planes_a[at_a[j]] = container_planes(grey_a[at_a[j]])
                if planes_b[at_b[j]] is None:
                    planes_b[at_b[j]] = contained_planes(_grey_plane(images[int(rows_b[at_b[j]])]))

            def refine(j: int) -> None:
                k = int(chunk[j])
                make_planes(j)

                def plausible(coarse: np.ndarray) -> bool:
                    """Whether the link could pass ``params.max_crop_scale`` (judged again on the fine window)
                    and is no whole-frame one (``whole_frame_area``). Python floats: :func:`enlargement`'s
                    arithmetic on one candidate, without its arrays (this runs in the threads, under the GIL)."""
                    x0, y0, x1, y1 = coarse.tolist()
                    if whole_frame_area is not None:
                        inner = (min(max(x1, 0.0), 1.0) - min(max(x0, 0.0), 1.0)) * \
                            (min(max(y1, 0.0), 1.0) - min(max(y0, 0.0), 1.0))
                        if inner >= whole_frame_area:
                            return False
                    area = max(1e-9, (x1 - x0) * (y1 - y0))
                    if params.max_crop_scale <= 0:
                        return True
                    (cw, ch), (bw, bh) = sizes_a[j], sizes_b[j]
                    if math.sqrt(bw * bh / max(area * cw * ch, 1e-9)) <= params.max_crop_scale * SCALE_PRECHECK_SLACK:
                        return True
                    # the coarse edges may lie a pixel or two off the frame's: looked at deeper too
                    return any(is_framed(grey_a[at_a[j]], coarse, depth=d) for d in PRECHECK_FRAME_DEPTHS)

                window = _refine_two_levels(None, None, windows[k], plausible,
                                            planes=(planes_a[at_a[j]], planes_b[at_b[j]]))
                if window is not None:
                    refined[k] = window

            _each_in_threads(refine, chunk.size)
    tol = 0.01
    inside = (refined[:, 0] >= -tol) & (refined[:, 1] >= -tol) & (refined[:, 2] <= 1 + tol) & (refined[:, 3] <= 1 + tol)
    area = (np.clip(refined[:, 2], 0, 1) - np.clip(refined[:, 0], 0, 1)) * \
        (np.clip(refined[:, 3], 0, 1) - np.clip(refined[:, 1], 0, 1))
    viable = inside & (area >= params.min_area)  # the others fail whatever the pixels say
    if whole_frame_area is not None:
        viable &= area < whole_frame_area
    viable = np.flatnonzero(viable)
    extra = np.empty((viable.size, _v.THUMB_BYTES), np.uint8)
    extra_b = thumbs[b[viable]].copy()
    whole_inset = _inset(np.array([0.0, 0.0, 1.0, 1.0]), params.window_inset)

    def records(row: int) -> None:
        k = viable[row]
        if images is None:
            extra[row] = _window_record(thumbs[a[k]], refined[k])
            return
        img_a, img_b = images[int(a[k])], images[int(b[k])]
        inner = _inset(refined[k], params.window_inset)
        _image_window_record(img_a, inner, out=extra[row])
        # b at the resolution of a's window: both records equally sharp
        _image_window_record(img_b, whole_inset, _window_pixels(img_a, inner), out=extra_b[row])

    _each_in_threads(records, viable.size)
    res = _v.verify_pairs(np.concatenate([extra, extra_b]), np.concatenate([sizes[b[viable]], sizes[b[viable]]]),
                          np.arange(viable.size), np.arange(viable.size, 2 * viable.size), verify_params)
    ok = np.zeros(m, bool)
    similarity = np.zeros(m, np.float32)
    framed = np.zeros(m, bool)
    lowest = min(params.framed_similarity, params.window_similarity)
    passed = viable[res.ok & (res.similarity >= lowest)]
    if images is not None:
        def frame(i: int) -> None:
            k = passed[i]
            framed[k] = is_framed(_grey_plane(images[int(a[k])]), refined[k])

        _each_in_threads(frame, passed.size)
    similarity[viable] = res.similarity
    needed = np.where(framed[passed], np.float32(params.framed_similarity), np.float32(params.window_similarity))
    ok[passed] = similarity[passed] >= needed  # in float32, as the verifier's similarities
    return (ok, np.where(ok, area, 0).astype(np.float32), np.where(ok, similarity, 0).astype(np.float32),
            framed & ok)


def find_robust_links(thumbs: np.ndarray, sizes: np.ndarray, params: RobustParams = DEFAULT_ROBUST,
                      verify_params: _v.VerifyParams = _v.DEFAULT_PARAMS, windows: bool = True,
                      images=None, known_groups: np.ndarray | None = None,
                      groups_are_copies: bool = True) -> RobustLinks:
    """Candidate search and verification of robust mode: the verified links between images.

    Parameters
    ----------
    thumbs : np.ndarray
        N x :data:`undouble.verify.THUMB_BYTES` records (:func:`undouble.verify.make_thumbnails`).
    sizes : np.ndarray
        N x 2 original (width, height).
    params, verify_params :
        Search and verification settings.
    windows : bool
        Also search crops and containment (else orientations only).
    images : sequence of np.ndarray, optional
        The decoded (e.g. preprocessed 128 x 128) images, indexed by row: window
        candidates are verified on records made from them (see :func:`verify_windows`).
    known_groups : np.ndarray, optional
        N labels of the groups the normal search already made (-1: none):
        candidates inside one of them are not verified again. When they are
        verified groups (``groups_are_copies``, else hash-only groups, which
        may hold different pictures), one member of each group of three or
        more is windowed (:func:`group_representatives`), and an image's pixels
        are those of its largest copy (:func:`largest_copy_sizes`).
    groups_are_copies : bool
        Whether the members of each of ``known_groups`` are verified copies.

    Returns
    -------
    RobustLinks
        One link per verified unordered pair; upright full-frame pairs are left
        to the normal search.
    """
    thumbs = np.ascontiguousarray(thumbs, np.uint8)
    sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
    n = thumbs.shape[0]
    if n < 2:
        return _empty_links()
    ohash = orientation_hashes(thumbs)
    a, b, o = orientation_candidates(ohash, params.orient_threshold)
    if known_groups is not None:
        known_groups = np.asarray(known_groups, np.int64)
        new = (known_groups[a] < 0) | (known_groups[a] != known_groups[b])
        a, b, o = a[new], b[new], o[new]

    def orientation_links() -> tuple[np.ndarray, _v.VerifyResult]:
        ok, res = verify_orientations(thumbs, sizes, a, b, o, verify_params)
        if known_groups is not None and groups_are_copies:
            ok &= consistent_group_pairs(known_groups, a, b, ok)
        return ok, res

    # the orientation checks beside the window search (both are half Python, half kernels that release the
    # GIL: together they keep the cores busier), where the parallel kernels that both call may run at once
    beside = _background(orientation_links) if windows and _parallel_kernels_threadsafe() else None
    oriented, res = orientation_links() if beside is None else (None, None)
    parts = []
    if windows:
        copies = known_groups is not None and groups_are_copies
        containers = group_representatives(known_groups, sizes, ohash[:, 0], thumbs) if copies else None
        wa, wb, ww, wd = window_candidates(thumbs, window_index_hashes(thumbs, params), params, sizes=sizes,
                                           return_distance=True, containers=containers)
        if known_groups is not None:
            new = (known_groups[wa] < 0) | (known_groups[wa] != known_groups[wb])
            wa, wb, ww, wd = wa[new], wb[new], ww[new], wd[new]
            pick = best_per_group_pair(known_groups, wa, wb, wd, params.per_group_pair)
            wa, wb, ww, wd = wa[pick], wb[pick], ww[pick], wd[pick]
        pick = closest_per_image(wa, wb, wd, params.candidates_per_image, n)
        wa, wb, ww, wd = wa[pick], wb[pick], ww[pick], wd[pick]
        copy_sizes = largest_copy_sizes(known_groups, sizes) if copies else sizes
        ok, area, sim, framed = (np.zeros(wa.size, bool), np.zeros(wa.size, np.float32),
                                 np.zeros(wa.size, np.float32), np.zeros(wa.size, bool))
        near = wd <= params.near_threshold if params.near_threshold >= 0 else np.ones(wa.size, bool)

        def kept() -> np.ndarray:
            keep = ok & (area < WHOLE_FRAME_AREA)  # the whole frame: an upright copy, the normal search's business
            if params.max_crop_scale > 0:
                keep &= framed | (enlargement(copy_sizes[wa], copy_sizes[wb], area) <= params.max_crop_scale)
            return keep

        def check(rows: np.ndarray) -> None:
            if rows.size:
                ok[rows], area[rows], sim[rows], framed[rows] = verify_windows(
                    thumbs, sizes, wa[rows], wb[rows], ww[rows], params, verify_params, images=images,
                    copy_sizes=copy_sizes, whole_frame_area=WHOLE_FRAME_AREA)

        check(np.flatnonzero(near))
        if beside is not None:
            oriented, res = beside.result()
        linked = kept()  # the far candidates, given the links of the near ones and of the orientations
        check(np.flatnonzero(~near & far_candidates_to_check(
            known_groups if copies else None, n, wa, wb, np.concatenate([a[oriented], wa[linked]]),
            np.concatenate([b[oriented], wb[linked]]))))
        keep = kept()
        parts.append((wa[keep], wb[keep], np.zeros(int(keep.sum()), np.int8),
                      np.full(int(keep.sum()), _v.REL_CROPPED, np.int8), sim[keep], area[keep], wa[keep], framed[keep]))
    ok = oriented
    rel = np.array([_ORIENT_RELATION[int(x)] for x in o], np.int8).reshape(-1)
    parts.insert(0, (a[ok], b[ok], o[ok].astype(np.int8), rel[ok], res.similarity[ok], np.ones(int(ok.sum()), np.float32),
                     np.full(int(ok.sum()), -1, np.int64), np.zeros(int(ok.sum()), bool)))
    cols = [np.concatenate([p[c] for p in parts]) for c in range(8)]
    # one link per unordered pair: the full-frame (orientation) one first, then the largest area
    lo, hi = np.minimum(cols[0], cols[1]), np.maximum(cols[0], cols[1])
    order = np.lexsort((-cols[5], hi, lo))
    cols = [c[order] for c in cols]
    lo, hi = lo[order], hi[order]
    first = np.ones(lo.size, bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    cols = [c[first] for c in cols]
    return RobustLinks(cols[0].astype(np.int64), cols[1].astype(np.int64), cols[2].astype(np.int8),
                       cols[3].astype(np.int8), cols[4].astype(np.float32), cols[5].astype(np.float32),
                       cols[6].astype(np.int64), cols[7].astype(bool))


def _parallel_kernels_threadsafe() -> bool:
    """Whether Numba's threading layer lets two threads run parallel kernels at once (``omp`` and ``tbb``
    do; ``workqueue`` aborts the process), as known once a parallel kernel has run."""
    try:
        import numba

        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False


def _background(work):
    """``work()`` started in a thread of its own: a :class:`concurrent.futures.Future` of its result."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="undouble-robust-beside")
    future = pool.submit(work)
    pool.shutdown(wait=False)  # the thread ends with the work
    return future


def far_candidates_to_check(known_groups: np.ndarray | None, n: int, a: np.ndarray, b: np.ndarray,
                            linked_a: np.ndarray, linked_b: np.ndarray) -> np.ndarray:
    """Per window candidate (``a`` contains ``b``) farther than :attr:`RobustParams.near_threshold`, whether
    to check it: yes, unless its two images lie in two different components of the links found so far (the
    verified normal groups ``known_groups``, a label per row, -1 for none, None: no groups; the verified
    links ``linked_a``/``linked_b``) that both hold a verified group of two or more.

    On generated corpora 19 in 20 of these far candidates fail; most would join two pictures that each
    already have verified copies (other shots of a scene). A true one links an image that the closer
    candidates left alone, or a small cluster of crops, frames and turned copies, to its picture (a crop or a
    frame whose hashes strayed: a fine texture, a heavy downscale), or says how two images of one component
    relate (a screenshot that only frames the photo that it was joined to through a crop of it)."""
    from ._kernels import unionfind as _uf

    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    parent = np.arange(n, dtype=np.int64)
    anchored = np.zeros(n, bool)
    firsts, rests = [], []
    if known_groups is not None:
        labels = np.asarray(known_groups, np.int64)
        rows = np.flatnonzero(labels >= 0)
        _, first, which, counts = np.unique(labels[rows], return_index=True, return_inverse=True,
                                            return_counts=True)
        firsts.append(rows[first][which.reshape(-1)])  # each row joined to its group's first row
        rests.append(rows)
        anchored[rows] = counts[which.reshape(-1)] >= 2
    firsts.append(np.asarray(linked_a, np.int64))
    rests.append(np.asarray(linked_b, np.int64))
    x, y = np.concatenate(firsts), np.concatenate(rests)
    if x.size:
        _uf.union_pairs(parent, x, y)
    component = _uf.resolve(parent)
    has_anchor = np.zeros(n, bool)
    has_anchor[component[anchored]] = True
    return (component[a] == component[b]) | ~(has_anchor[component[a]] & has_anchor[component[b]])


def consistent_group_pairs(known_groups: np.ndarray, a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per checked candidate (a, b), whether at least half of the candidates checked between its two normal
    groups passed (``known_groups``: verified groups, a label per row, -1 for none, which is a group of its own).

    The members of a verified group are copies of one picture, so a rotated or mirrored copy of it
    verifies against most of them. Two shots of one scene lie near the verifier's limit: one pair of
    their copies (a brighter one against a flipped one) may pass by a few hundredths while the others
    fail. A pair of groups whose checks mostly fail is no link, whichever of them passed.
    """
    known_groups = np.asarray(known_groups, np.int64)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.size == 0:
        return np.ones(0, bool)
    n = known_groups.size
    key_a, key_b = group_keys(known_groups, a), group_keys(known_groups, b)
    pair = np.minimum(key_a, key_b) * (2 * n + 1) + np.maximum(key_a, key_b)
    _, which = np.unique(pair, return_inverse=True)
    which = which.reshape(-1)
    passed = np.bincount(which, weights=np.asarray(ok, np.float64))
    checked = np.bincount(which)
    return (2 * passed >= checked)[which]


def group_representatives(known_groups: np.ndarray, sizes: np.ndarray, upright: np.ndarray,
                          thumbs: np.ndarray) -> np.ndarray:
    """Rows whose windows stand for their normal group in the crop search, ascending.

    The members of a normal group are verified copies of one picture, so the
    windows of one of them find what the windows of all would find. Of a group
    of three or more (labels ``known_groups``, -1 for none) that one is the
    member most like the others (the smallest summed distance of its
    ``upright`` hash to theirs: each copy strays from the original in its own
    way), among the colour ones (``thumbs``: a grey copy lets the verifier
    compare no colour) of the group's most common aspect ratio (in steps of 2%: a stretched
    copy distorts every window), then the most pixels, then the first row.
    Two copies cannot tell which is the original, so both are kept, as is
    every row in no group.
    """
    labels = np.asarray(known_groups, np.int64).reshape(-1)
    sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
    keep = labels < 0
    grey = _v.is_greyscale(thumbs)
    aspect_class = _aspect_class(sizes)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        if members.size == 0 or labels[members[0]] < 0:
            continue
        if members.size <= 2:
            keep[members] = True
            continue
        aspect = aspect_class[members]
        values, counts = np.unique(aspect, return_counts=True)
        usual = aspect == values[np.argmax(counts)]
        sample = members[:64]  # a large group: the distances to 64 of its members
        spread = _popcount(upright[members][:, None] ^ upright[sample][None, :]).reshape(members.size, -1).sum(axis=1)
        pixels = sizes[members].prod(axis=1)
        best = np.lexsort((members, -pixels, spread, grey[members], ~usual))[0]
        keep[members[best]] = True
    return np.flatnonzero(keep)


def _aspect_class(sizes: np.ndarray) -> np.ndarray:
    """Per row of N x 2 (width, height), its aspect ratio in steps of 2% (one integer per step): copies made
    by resizing share a class, a stretched copy or another picture's shape does not."""
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    return np.rint(np.log(sizes[:, 0] / np.maximum(sizes[:, 1], 1)) / np.log1p(0.02)).astype(np.int64)


def largest_copy_sizes(known_groups: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """N x 2: for each row, the (width, height) of the member of its normal group (labels ``known_groups``, -1
    for none) with the most pixels among those of its aspect ratio (within 2%), itself when larger or alone.

    The members of a normal group are verified copies, so a downscaled copy shows what its largest copy shows:
    whether a contained image is a closer view than the region of its container it matches
    (:func:`enlargement`) is judged with both at those sizes. A stretched copy (another aspect ratio) has
    pixels the picture never had, so it does not count.
    """
    labels = np.asarray(known_groups, np.int64).reshape(-1)
    sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
    n = labels.size
    aspect = _aspect_class(sizes)
    key = np.where(labels >= 0, labels, -1 - np.arange(n))
    pixels = sizes.prod(axis=1)
    order = np.lexsort((-pixels, aspect, key))
    start = np.ones(n, bool)
    start[1:] = (key[order][1:] != key[order][:-1]) | (aspect[order][1:] != aspect[order][:-1])
    head = order[np.maximum.accumulate(np.where(start, np.arange(n), 0))]
    out = np.empty_like(sizes)
    out[order] = sizes[head]
    return out


def enlargement(container_size: np.ndarray, contained_size: np.ndarray, area_fraction: np.ndarray) -> np.ndarray:
    """How much larger (linear scale) each contained image is than the region of its container it matches:
    sqrt(its pixels / (``area_fraction`` x the container's pixels)). About 1 for a crop saved as cut, under 1
    for a crop then downscaled, above 1 for a photo that shows a part of another one in more detail."""
    container_size = np.asarray(container_size, np.float64).reshape(-1, 2)
    contained_size = np.asarray(contained_size, np.float64).reshape(-1, 2)
    region = np.maximum(np.asarray(area_fraction, np.float64) * container_size[:, 0] * container_size[:, 1], 1e-9)
    return np.sqrt(contained_size[:, 0] * contained_size[:, 1] / region)


def link_relation(links: RobustLinks, k: int, member: int, keeper: int) -> tuple[int, float]:
    """Relation code and area fraction of ``member`` relative to ``keeper`` from link ``k`` of ``links``."""
    a, b = int(links.a[k]), int(links.b[k])
    o = int(links.orientation[k])
    if int(links.container[k]) >= 0:
        return (_v.REL_CROPPED if int(links.container[k]) == keeper else _v.REL_IN_LARGER), float(links.area_fraction[k])
    if (a, b) == (keeper, member):
        return int(_ORIENT_RELATION[o] or _v.REL_RESIZED), 1.0
    return int(_ORIENT_RELATION[INVERSE_ORIENTATION[o]] or _v.REL_RESIZED), 1.0
