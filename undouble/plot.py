"""Matplotlib figures: the images of each group, and images beside their hash bits.

Both functions return the figures they made, so that they can be inspected or
saved by the caller; with ``savedir=`` every figure is also written there as a
PNG and, unless ``show=True``, closed instead of shown (headless use: a server,
a test, ``undouble plot``).
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from ._logging import logger

__all__ = ["group_figure_name", "hash_figure_name", "plot_groups", "plot_hashes"]

KEEPER_COLOUR = "#1a9641"
OTHER_COLOUR = "#bbbbbb"
SEGMENT_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#17becf")
_MAX_COLS = 4


def group_figure_name(k: int) -> str:
    """File name of the figure of group ``k`` (counting from 1)."""
    return f"group_{k:04d}.png"


def hash_figure_name(i: int, method: str) -> str:
    """File name of the hash figure of row ``i``."""
    return f"hash_{method}_{i:05d}.png"


# --------------------------------------------------------------------------- helpers
def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, savedir: str | os.PathLike | None, name: str, show: bool | None) -> str | None:
    """Save (when ``savedir``), then show or close the figure."""
    path = None
    if savedir is not None:
        os.makedirs(savedir, exist_ok=True)
        path = os.path.join(os.fspath(savedir), name)
        fig.savefig(path, dpi=80)
    if show is None:
        show = savedir is None
    if show:
        plt.show()
    elif savedir is not None:
        plt.close(fig)  # the Figure object stays usable; pyplot just forgets it
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, min(n, _MAX_COLS))
    return int(math.ceil(n / cols)), cols


def _image(model: Any, i: int) -> np.ndarray:
    """Preprocessed image of row ``i``, wherever it is kept (memory, disk, or its file)."""
    from .io import load_preprocessed

    return load_preprocessed(model, i)


def _show_image(ax, img: np.ndarray, cmap: str | None = None) -> None:
    ax.imshow(img, cmap=cmap or ("gray" if img.ndim == 2 else None), vmin=0, vmax=255,
              interpolation="nearest" if max(img.shape[:2]) <= 32 else "antialiased")


def _frame(ax, colour: str, width: float) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def _member_info(model: Any, members: Sequence[int]) -> list[dict]:
    """Resolution, blur and reason of each member, in ``members`` order."""
    results = model.results
    if results.get("source") == "files":
        from .keeper import rank_keepers

        paths = [results["pathnames"][i] for i in members]
        rank_members = getattr(model, "_rank_members", None)  # from what import_data measured
        ranked = rank_members(members, all_blur=True) if rank_members else rank_keepers(paths, all_blur=True)
        ranks = {r.path: r for r in ranked}
        info = []
        for p in paths:
            r = ranks[os.fspath(p)]
            info.append({"width": r.width, "height": r.height, "blur": r.blur, "reason": r.reason,
                         "readable": r.readable})
        return info
    from .keeper import compute_blur

    resolution = results.get("resolution")
    info = []
    for i in members:
        w, h = (int(resolution[i][0]), int(resolution[i][1])) if resolution is not None else (0, 0)
        try:
            blur: float | None = compute_blur(_image(model, i))
        except ValueError:
            blur = None
        info.append({"width": w, "height": h, "blur": blur, "reason": "", "readable": True})
    return info


def _image_title(name: str, keeper: bool, score: int, info: dict, limit: int = 28) -> str:
    if len(name) > limit:
        name = name[: limit - 12] + "..." + name[-9:]
    blur = "blur ?" if info["blur"] is None else f"blur {info['blur']:.0f}"
    res = f"{info['width']}x{info['height']}" if info["readable"] else "unreadable"
    head = f"KEEP {name}" if keeper else name
    return f"{head}\nd={int(score)} | {blur} | {res}"


# --------------------------------------------------------------------------- groups
def plot_groups(model: Any, cmap: str | None = None, figsize: tuple[float, float] = (15, 10),
                max_groups: int | None = None, savedir: str | os.PathLike | None = None,
                show: bool | None = None) -> list:
    """One figure per group: the images in a grid, the keeper first and framed.

    Each image is titled with its file name, its Hamming distance to the keeper
    (``d=``), its sharpness (variance of the Laplacian, :func:`~undouble.compute_blur`)
    and the resolution of the original file; the keeper's title starts with
    ``KEEP`` and the figure title says why it is kept
    (:func:`~undouble.keeper.rank_keepers`).

    Parameters
    ----------
    model : Undouble
        A model after ``group()``.
    cmap : str, optional
        Colour map for grey images (default ``'gray'``).
    figsize : (float, float)
        Size of each figure in inches.
    max_groups : int, optional
        Plot only the first ``max_groups`` groups.
    savedir : str or PathLike, optional
        Save each figure there as ``group_0001.png``, ``group_0002.png``, ...;
        the figures are then closed rather than shown, unless ``show=True``.
    show : bool, optional
        Show the figures (default: only when ``savedir`` is not given).

    Returns
    -------
    list of matplotlib.figure.Figure
        One per plotted group.
    """
    if max_groups is not None and max_groups < 0:
        raise ValueError(f"max_groups must be >= 0, got {max_groups}")
    plt = _pyplot()
    results = model.results
    n_groups = len(results["select_idx"])
    limit = n_groups if max_groups is None else min(max_groups, n_groups)
    figures = []
    for g in range(limit):
        members = [int(i) for i in results["select_idx"][g]]
        scores = results["select_scores"][g]
        info = _member_info(model, members)
        rows, cols = _grid(len(members))
        fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
        flat = axes.ravel()
        for ax in flat[len(members):]:
            ax.remove()
        for k, (i, score) in enumerate(zip(members, scores)):
            ax = flat[k]
            _show_image(ax, _image(model, i), cmap)
            keeper = k == 0
            _frame(ax, KEEPER_COLOUR if keeper else OTHER_COLOUR, 4.0 if keeper else 1.0)
            ax.set_title(_image_title(results["filenames"][i], keeper, int(score), info[k]), fontsize=9,
                         color=KEEPER_COLOUR if keeper else "black")
        reason = info[0]["reason"]
        fig.suptitle(f"Group {g + 1} of {n_groups}: {len(members)} images"
                     + (f"; kept: {reason}" if reason else ""), fontsize=11)
        fig.tight_layout()
        _finish(plt, fig, savedir, group_figure_name(g + 1), show)
        figures.append(fig)
    if not figures:
        logger.info("No groups to plot.")
    elif limit < n_groups:
        logger.info("Plotted %d of %d groups (max_groups=%d).", limit, n_groups, limit)
    return figures


# --------------------------------------------------------------------------- hashes
def _resolve_rows(results: dict, idx: Sequence[int] | int | None,
                  filenames: Sequence[str] | str | None) -> list[int]:
    if filenames is not None:
        if isinstance(filenames, (str, os.PathLike)):
            filenames = [filenames]
        by_name: dict[str, int] = {}
        for i, name in enumerate(results["filenames"]):
            by_name.setdefault(name, i)
        by_path = {os.fspath(p): i for i, p in enumerate(results["pathnames"])}
        rows, missing = [], []
        for f in filenames:
            key = os.fspath(f)
            if key in by_path:
                rows.append(by_path[key])
            elif key in by_name:
                rows.append(by_name[key])
            else:
                missing.append(key)
        if missing:
            raise ValueError(f"not among the imported files: {missing}")
        return rows
    if idx is None:
        raise ValueError("give idx=... (row numbers) or filenames=... (file names)")
    if isinstance(idx, (int, np.integer)):
        idx = [int(idx)]
    n = len(results["pathnames"])
    rows = [int(i) for i in idx]
    bad = [i for i in rows if not -n <= i < n]
    if bad:
        raise IndexError(f"rows {bad} out of range for {n} images")
    return [i % n for i in rows]


def _bit_grid(bits: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    nbits = bits.size
    if shape is not None and int(np.prod(shape)) == nbits:
        return bits.reshape(shape)
    side = int(math.isqrt(nbits))
    if side * side == nbits:
        return bits.reshape(side, side)
    return bits.reshape(1, nbits)


def _draw_bits(ax, grid: np.ndarray, title: str, colour: str | None = None) -> None:
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="equal")
    _frame(ax, colour or "black", 2.0 if colour else 0.8)
    ax.set_title(title, fontsize=8, color=colour or "black")


def _crop_segments(model: Any, img: np.ndarray, count: int) -> np.ndarray | None:
    """Bounding boxes ``(x0, y0, x1, y1)`` of the segments hashed for ``img``, in hash order.

    Recomputed with :mod:`undouble.hashes.crop`'s public segmentation; None when
    that module is not available or the segment count does not match the hash.
    """
    try:
        from .hashes.crop import segment_boxes, segment_labels
    except ImportError:  # pragma: no cover - module under construction
        return None
    opts = model.params.get("hash_options", {})
    size = int(opts.get("segmentation_image_size", 300))
    _, rows, _ = segment_labels(img, segment_threshold=opts.get("segment_threshold", 128),
                                min_segment_size=opts.get("min_segment_size", 500),
                                segmentation_image_size=size)
    if rows.shape[0] == 0:  # ImageHash's fallback: one segment of two corner pixels
        rows = np.array([[2 if size > 1 else 1, 0, 0, size - 1, size - 1]], dtype=np.int64)
    limit = opts.get("limit_segments")
    if limit:
        order = sorted(range(rows.shape[0]), key=lambda k: int(rows[k, 0]), reverse=True)
        rows = rows[order[:limit]]
    if rows.shape[0] != count:
        logger.warning("Segmentation gives %d segments, the hash has %d: boxes not drawn.", rows.shape[0], count)
        return None
    return segment_boxes(rows, img.shape[1], img.shape[0], size)


def _plot_crop_resistant(plt, model: Any, i: int, img: np.ndarray, figsize: tuple[float, float]):
    from matplotlib.gridspec import GridSpec
    from matplotlib.patches import Rectangle

    results = model.results
    nbits = int(results["hash_nbits"])
    words = (nbits + 63) // 64
    count = int(results["hash_counts"][i])
    packed = np.asarray(results["img_hash"][i][: count * words]).reshape(count, words)
    from .hashes import to_bits

    seg_bits = to_bits(packed, nbits).reshape(count, nbits)
    boxes = _crop_segments(model, img, count)
    srows, scols = _grid(count)
    fig = plt.figure(figsize=figsize)
    gs = GridSpec(srows, 1 + scols, figure=fig, width_ratios=[scols] + [1] * scols)
    ax_img = fig.add_subplot(gs[:, 0])
    _show_image(ax_img, img)
    _frame(ax_img, "black", 0.8)
    ax_img.set_title(f"{results['filenames'][i]}\ncrop-resistant: {count} segments", fontsize=9)
    used: dict[tuple[int, int], int] = {}
    for s in range(count):
        colour = SEGMENT_COLOURS[s % len(SEGMENT_COLOURS)]
        if boxes is not None:
            x0, y0, x1, y1 = (int(v) for v in boxes[s])
            ax_img.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), max(x1 - x0, 0.5), max(y1 - y0, 0.5),
                                       fill=False, edgecolor=colour, linewidth=2,
                                       linestyle="--" if s % 2 else "-"))
            shift = used.get((x0, y0), 0)  # boxes sharing a corner: labels side by side
            used[(x0, y0)] = shift + 1
            ax_img.text(x0 + shift * img.shape[1] / 16, y0, str(s + 1), color="white", fontsize=8, va="top",
                        bbox={"facecolor": colour, "edgecolor": "none", "pad": 1})
        ax = fig.add_subplot(gs[s // scols, 1 + s % scols])
        from .hashes import to_hex

        text = to_hex(packed[s], nbits)
        if scols > 2:  # narrow cells: the hex on two lines
            text = text[: (len(text) + 1) // 2] + "\n" + text[(len(text) + 1) // 2:]
        _draw_bits(ax, _bit_grid(seg_bits[s], results.get("hash_shape")), f"segment {s + 1}\n{text}", colour)
    fig.tight_layout()
    return fig


def plot_hashes(model: Any, idx: Sequence[int] | int | None = None, filenames: Sequence[str] | str | None = None,
                figsize: tuple[float, float] = (8, 4), savedir: str | os.PathLike | None = None,
                show: bool | None = None) -> list:
    """Each chosen image beside its hash bits, one figure per image.

    The bits are drawn as the hash's grid (white = 1): ``hash_size x hash_size``
    for most methods, ``14 x binbits`` for colorhash, the LL grid of
    whash-db4 (14 x 14 for hash_size 8).  For crop-resistant the segments'
    bounding boxes are drawn on the image, numbered, and each segment's bits
    are shown beside it in the same colour.

    Parameters
    ----------
    model : Undouble
        A model after ``compute_hash()``.
    idx : int or list of int
        Rows of ``results``.
    filenames : str or list of str
        File names (as in ``results['filenames']``) or full paths, instead of ``idx``.
    figsize : (float, float)
        Size of each figure in inches.
    savedir : str or PathLike, optional
        Save each figure there as ``hash_<method>_<row>.png``; the figures are
        then closed rather than shown, unless ``show=True``.
    show : bool, optional
        Show the figures (default: only when ``savedir`` is not given).

    Returns
    -------
    list of matplotlib.figure.Figure
    """
    plt = _pyplot()
    results = model.results
    rows = _resolve_rows(results, idx, filenames)
    method = model.params["method"]
    nbits = int(results["hash_nbits"])
    shape = results.get("hash_shape")
    figures = []
    for i in rows:
        img = _image(model, i)
        if results.get("hash_counts") is not None:
            fig = _plot_crop_resistant(plt, model, i, img, figsize)
        else:
            bits = np.asarray(results["img_hash_bin"][i][:nbits], dtype=bool)
            grid = _bit_grid(bits, shape)
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=figsize,
                                           gridspec_kw={"width_ratios": [1, max(0.35, grid.shape[1] / grid.shape[0])]})
            _show_image(ax1, img)
            _frame(ax1, "black", 0.8)
            ax1.set_title(results["filenames"][i], fontsize=9)
            hex_text = results["img_hash_hex"][i]
            if len(hex_text) > 24:
                hex_text = "\n".join(hex_text[k:k + 24] for k in range(0, len(hex_text), 24))
            _draw_bits(ax2, grid, f"{method} {grid.shape[0]}x{grid.shape[1]}\n{hex_text}")
            fig.tight_layout()
        _finish(plt, fig, savedir, hash_figure_name(i, method), show)
        figures.append(fig)
    return figures
