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


def _image_title(name: str, keeper: bool, score: int, info: dict, limit: int = 28, relation: str = "") -> str:
    if len(name) > limit:
        name = name[: limit - 12] + "..." + name[-9:]
    blur = "blur ?" if info["blur"] is None else f"blur {info['blur']:.0f}"
    res = f"{info['width']}x{info['height']}" if info["readable"] else "unreadable"
    head = f"KEEP {name}" if keeper else name
    return f"{head}\nd={int(score)}{f' {relation}' if relation and not keeper else ''} | {blur} | {res}"


# --------------------------------------------------------------------------- groups
DEFAULT_GROUP_FIGSIZE = (13.0, 6.2)
"""Inches: at matplotlib's 100 dpi the window (with its toolbar) fits a 1366 x 768 screen."""
_SAVE_DPI = 80
_THUMB_SIDE = 320


def _group_grid(n: int, figsize: tuple[float, float]) -> tuple[int, int]:
    """Rows and columns for ``n`` images: cells close to square in a figure of ``figsize``."""
    if n <= _MAX_COLS:
        return 1, max(1, n)
    aspect = figsize[0] / max(figsize[1], 1e-6)
    cols = max(_MAX_COLS, int(math.ceil(math.sqrt(n * aspect))))
    cols = min(cols, n)
    return int(math.ceil(n / cols)), cols


def _display_images(model: Any, rows: Sequence[int], max_side: int = _THUMB_SIDE) -> dict[int, np.ndarray | None]:
    """Images to show per row: from the files (reduced, EXIF-rotated, true aspect), else the stored ones."""
    from .thumbnail import model_thumbnails

    wanted = sorted({int(i) for i in rows})
    got = model_thumbnails(model, wanted, max_side=max_side)
    shown: dict[int, np.ndarray | None] = {}
    for i, img in zip(wanted, got):
        if isinstance(img, Exception):
            logger.warning("Cannot show %s: %s", model.results["pathnames"][i], img)
            img = None
        shown[i] = img
    return shown


def _draw_group(fig, model: Any, g: int, n_groups: int, images: dict[int, np.ndarray | None],
                cmap: str | None, info: list[dict] | None = None, extra: str = "", fit_height: bool = False) -> None:
    """Draw group ``g`` into ``fig`` (cleared first): the images in a grid, keeper first and framed.

    With ``fit_height`` the figure's height shrinks to its rows of images (no white bands in a saved file).
    """
    results = model.results
    members = [int(i) for i in results["select_idx"][g]]
    scores = results["select_scores"][g]
    if info is None:
        info = _member_info(model, members)
    fig.clear()
    n = len(members)
    rows, cols = _group_grid(n, tuple(fig.get_size_inches()))
    if fit_height:
        width, height = fig.get_size_inches()
        tall = max((im.shape[0] / im.shape[1] for im in (images.get(i) for i in members) if im is not None),
                   default=1.0)
        cell = (width * 0.98 / cols) * 0.95 * tall + 2 * 9 * 1.4 / 72  # image at the cell's width, 2 title lines
        fig.set_size_inches(width, min(height, rows * cell + 0.6))
    cell_height = fig.get_size_inches()[1] / rows
    fontsize = max(5.5, min(9.0, cell_height * 4.0, 9.0 * 4 / max(cols, 4)))
    limit = max(14, int(fig.get_size_inches()[0] / cols * 72 / (fontsize * 0.66)))
    title_lines = 2
    fig_height = fig.get_size_inches()[1]
    title_in = title_lines * fontsize * 1.35 / 72 + 0.06  # an image title's height, inches
    header_in = 0.05 + (2 if extra else 1) * 11 * 1.35 / 72 + 0.05  # the figure title's
    top = 1 - (header_in + title_in) / fig_height
    bottom = 0.01
    available = (top - bottom) * fig_height
    axes_height = max((available - (rows - 1) * title_in) / rows, 0.1)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=bottom, top=top, wspace=0.05,
                        hspace=title_in / axes_height)  # hspace: in units of the axes' height
    for k, (i, score) in enumerate(zip(members, scores)):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = images.get(i)
        keeper = k == 0
        if img is None:
            ax.text(0.5, 0.5, "cannot be read", ha="center", va="center", color="#a00", fontsize=fontsize,
                    transform=ax.transAxes)
        else:
            _show_image(ax, img, cmap)
        _frame(ax, KEEPER_COLOUR if keeper else OTHER_COLOUR, 4.0 if keeper else 1.0)
        title = _image_title(results["filenames"][i], keeper, int(score), info[k], limit=limit,
                             relation=results["select_relation"][g][k] if "select_relation" in results else "")
        if results.get("damaged") is not None and results["damaged"][i]:
            title += " | DAMAGED"  # the decoder reported corrupt or missing data: never the keeper
        ax.set_title(title, fontsize=fontsize, color=KEEPER_COLOUR if keeper else "black")
    reason = info[0]["reason"] if info else ""
    fig.suptitle(f"Group {g + 1} of {n_groups}: {n} images" + (f"; kept: {reason}" if reason else "")
                 + (f"\n{extra}" if extra else ""), fontsize=11, y=1 - 0.05 / fig_height, va="top")


def _render(fig, dpi: float) -> np.ndarray:
    """RGBA pixels of a figure drawn by Agg at ``dpi``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _save_png(rgba: np.ndarray, path: str) -> None:
    """Write RGBA pixels as a PNG: fast zlib level, the file written whole or not at all."""
    from PIL import Image

    tmp = path + ".part"
    Image.fromarray(rgba[:, :, :3]).save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


class GroupPager:
    """One figure showing one group at a time; keys move between groups.

    Keys: right, n, space or page down: next group; left, p, backspace or page
    up: previous; home/end: first/last. Images are read when their group is
    first shown, so paging through thousands of groups opens at once.
    """

    NEXT = ("right", "n", " ", "pagedown")
    PREVIOUS = ("left", "p", "backspace", "pageup")

    def __init__(self, model: Any, n_shown: int, cmap: str | None = None,
                 figsize: tuple[float, float] = DEFAULT_GROUP_FIGSIZE) -> None:
        plt = _pyplot()
        self.model = model
        self.n_shown = n_shown
        self.n_groups = len(model.results["select_idx"])
        self.cmap = cmap
        self.index = 0
        self.fig = plt.figure(figsize=figsize)
        self._images: dict[int, np.ndarray | None] = {}
        manager = getattr(self.fig.canvas, "manager", None)
        handler = getattr(manager, "key_press_handler_id", None)
        if handler is not None:  # matplotlib's own keys (p = pan, left = back, home = reset) would clash
            self.fig.canvas.mpl_disconnect(handler)
        self.fig.canvas.mpl_connect("key_press_event", self._on_key)  # a weak reference: the figure keeps us
        self.fig._undouble_pager = self
        self.draw()

    def _on_key(self, event) -> None:
        if event.key in self.NEXT:
            self.go(self.index + 1)
        elif event.key in self.PREVIOUS:
            self.go(self.index - 1)
        elif event.key == "home":
            self.go(0)
        elif event.key == "end":
            self.go(self.n_shown - 1)

    def go(self, index: int) -> None:
        """Show group ``index`` (counting from 0; clipped to the groups shown)."""
        index = max(0, min(int(index), self.n_shown - 1))
        if index != self.index:
            self.index = index
            self.draw()

    def draw(self) -> None:
        """Draw the current group."""
        members = [int(i) for i in self.model.results["select_idx"][self.index]]
        missing = [i for i in members if i not in self._images]
        if missing:
            self._images.update(_display_images(self.model, missing))
        keys = "keys: n/right next, p/left previous, home/end"
        _draw_group(self.fig, self.model, self.index, self.n_groups, self._images, self.cmap,
                    extra=f"{keys}  ({self.index + 1}/{self.n_shown} shown)")
        manager = getattr(self.fig.canvas, "manager", None)
        if manager is not None:
            manager.set_window_title(f"undouble: group {self.index + 1} of {self.n_groups}")
        self.fig.canvas.draw_idle()


def plot_groups(model: Any, cmap: str | None = None, figsize: tuple[float, float] | None = None,
                max_groups: int | None = None, savedir: str | os.PathLike | None = None,
                show: bool | None = None) -> list:
    """The images of each group in a grid, the keeper first and framed.

    Images are read from the files (reduced decoding, EXIF-rotated) and shown
    at their true aspect ratio; for an array input the stored images are shown.
    Each is titled with its file name, its Hamming distance to the keeper
    (``d=``), its sharpness (variance of the Laplacian, :func:`~undouble.compute_blur`)
    and the resolution of the original file; the keeper's title starts with
    ``KEEP`` and the figure title says why it is kept
    (:func:`~undouble.keeper.rank_keepers`).

    On screen (``show``) there is one figure, paged with the keys n/right and
    p/left (:class:`GroupPager`): never one window per group.

    Parameters
    ----------
    model : Undouble
        A model after ``group()``.
    cmap : str, optional
        Colour map for grey images (default ``'gray'``).
    figsize : (float, float), optional
        Size of each figure in inches (default 13 x 6.2: at 100 dpi, with title
        bar, toolbar and a panel, it fits a 1366 x 768 screen).
    max_groups : int, optional
        Plot only the first ``max_groups`` groups.
    savedir : str or PathLike, optional
        Save each group's figure there as ``group_0001.png``, ``group_0002.png``, ...
    show : bool, optional
        Show the paged figure (default: only when ``savedir`` is not given).

    Returns
    -------
    list of matplotlib.figure.Figure
        With ``savedir`` or ``show=False``: one figure per plotted group (not
        registered with pyplot, so never shown). Otherwise: the paged figure.
    """
    if max_groups is not None and max_groups < 0:
        raise ValueError(f"max_groups must be >= 0, got {max_groups}")
    user_size = figsize is not None
    figsize = tuple(figsize) if figsize is not None else DEFAULT_GROUP_FIGSIZE
    results = model.results
    n_groups = len(results["select_idx"])
    limit = n_groups if max_groups is None else min(max_groups, n_groups)
    if show is None:
        show = savedir is None
    figures: list = []
    if limit == 0:
        logger.info("No groups to plot.")
        return figures
    if savedir is not None or not show:
        from matplotlib.figure import Figure

        from concurrent.futures import ThreadPoolExecutor

        if savedir is not None:
            os.makedirs(savedir, exist_ok=True)
        rows = [int(i) for g in range(limit) for i in results["select_idx"][g]]
        images = _display_images(model, rows)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="undouble-png") as encoder:
            pending = []
            for g in range(limit):
                fig = Figure(figsize=figsize)
                _draw_group(fig, model, g, n_groups, images, cmap, fit_height=not user_size)
                if savedir is not None:  # drawn here, PNG-encoded (GIL released) while the next one is drawn
                    pending.append(encoder.submit(_save_png, _render(fig, _SAVE_DPI),
                                                  os.path.join(os.fspath(savedir), group_figure_name(g + 1))))
                figures.append(fig)
            for job in pending:
                job.result()
    if show:
        pager = GroupPager(model, limit, cmap=cmap, figsize=figsize)
        _pyplot().show()
        figures = figures or [pager.fig]
    if limit < n_groups:
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


def _image_and_bits_figure(plt, img: np.ndarray, grid: np.ndarray, image_title: str, bits_title: str,
                           figsize: tuple[float, float] | None):
    """The image beside its bit grid, in a figure sized to them: no white bands.

    Both panels get the same height; each panel's width follows its content's
    aspect ratio, and the figure is exactly the panels, their titles and thin margins.
    ``figsize`` (inches), when given, bounds the figure; the default panel height is 3.5 in.
    """
    title_lines = max(image_title.count("\n"), bits_title.count("\n")) + 1
    title_h = 0.12 + title_lines * 9 * 1.3 / 72  # inches above the panels
    margin, gap = 0.08, 0.25
    img_aspect = img.shape[1] / img.shape[0]
    bits_aspect = grid.shape[1] / grid.shape[0]
    longest_line = max(len(line) for line in bits_title.split("\n"))
    min_bits_w = longest_line * 8 * 0.62 / 72  # the title's width at 8 pt
    panel_h = 3.5
    if figsize is not None:
        panel_h = max(0.5, float(figsize[1]) - title_h - 2 * margin)
    width_of = lambda h: 2 * margin + gap + h * img_aspect + max(h * bits_aspect, min_bits_w)  # noqa: E731
    if figsize is not None and width_of(panel_h) > float(figsize[0]):
        scale = (float(figsize[0]) - 2 * margin - gap - min_bits_w) / max(panel_h * (img_aspect + bits_aspect), 1e-6)
        panel_h = max(0.5, panel_h * min(1.0, scale))
    img_w, bits_w = panel_h * img_aspect, max(panel_h * bits_aspect, min_bits_w)
    fig_w, fig_h = 2 * margin + gap + img_w + bits_w, panel_h + title_h + 2 * margin
    fig = plt.figure(figsize=(fig_w, fig_h))
    bottom = margin / fig_h
    height = panel_h / fig_h
    ax1 = fig.add_axes((margin / fig_w, bottom, img_w / fig_w, height))
    ax2 = fig.add_axes(((margin + img_w + gap) / fig_w, bottom, bits_w / fig_w, height))
    _show_image(ax1, img)
    _frame(ax1, "black", 0.8)
    ax1.set_title(image_title, fontsize=9)
    _draw_bits(ax2, grid, bits_title)
    return fig


def plot_hashes(model: Any, idx: Sequence[int] | int | None = None, filenames: Sequence[str] | str | None = None,
                figsize: tuple[float, float] | None = None, savedir: str | os.PathLike | None = None,
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
    figsize : (float, float), optional
        Largest size of each figure in inches; by default the figure is sized
        to the image and the bit grid (3.5 in high), so it has no white bands.
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
            fig = _plot_crop_resistant(plt, model, i, img, figsize or (8, 4))
        else:
            bits = np.asarray(results["img_hash_bin"][i][:nbits], dtype=bool)
            grid = _bit_grid(bits, shape)
            hex_text = results["img_hash_hex"][i]
            if len(hex_text) > 24:
                hex_text = "\n".join(hex_text[k:k + 24] for k in range(0, len(hex_text), 24))
            fig = _image_and_bits_figure(plt, img, grid, results["filenames"][i],
                                         f"{method} {grid.shape[0]}x{grid.shape[1]}\n{hex_text}", figsize)
        _finish(plt, fig, savedir, hash_figure_name(i, method), show)
        figures.append(fig)
    return figures
