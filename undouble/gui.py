"""A matplotlib window to choose the keeper(s) of each group by hand.

One group at a time: the images as thumbnails, each titled with its resolution, blur
score and file size, the proposed keeper (:func:`undouble.keeper.rank_keepers`) framed
in green.  Click an image to toggle "keep" (one or more keepers; at least one stays).
Enter (or the *Accept* button) accepts the group, ``s`` (*Skip*) leaves it untouched,
``q`` (*Quit*) leaves this and all remaining groups untouched, ``left``/``right`` or
``p``/``n`` go back and forth.  Closing the window is the same as quitting.

The window is testable without a display: create a :class:`KeeperSelector` under the
Agg backend, call ``run(block=False)`` and feed it matplotlib events; its ``state``
and ``result`` tell what a person chose.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Sequence, Union

import numpy as np

from .keeper import KeeperRank, human_size, rank_keepers

logger = logging.getLogger("undouble")

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["KeeperSelector", "select_keepers"]

_KEEP_COLOUR = "#1a9641"
_MOVE_COLOUR = "#d7191c"
_NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template",
                    "module://matplotlib_inline.backend_inline"}


def _thumbnail(path: str, size: int) -> np.ndarray | None:
    """A small RGB array of the image (EXIF orientation applied), or None."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at reduced size, only for display
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((size, size))
            return np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - any decoding failure: show a placeholder
        logger.debug("No thumbnail for %s: %s", path, exc)
        return None


class KeeperSelector:
    """Interactive choice of the keepers of each group.

    Parameters
    ----------
    groups : sequence of sequences of paths
        The groups of files.
    ranks : sequence of (list of KeeperRank or None), optional
        :func:`undouble.keeper.rank_keepers` per group; computed when missing.
    thumb_size : int, default 256
        Longest side of the thumbnails, in pixels.
    max_cols : int, default 4
        Images per row.
    figsize : (float, float), optional
        Size of the window, in inches.

    Attributes
    ----------
    index : int
        The group shown.
    keep : list of set of str
        Paths marked "keep", per group.
    decisions : list of str or None
        Per group: None (not decided yet), ``'accept'`` or ``'skip'``.
    done : bool
        True once every group is decided or the selection was quit.
    fig : matplotlib.figure.Figure
        The window.
    """

    def __init__(self, groups: Sequence[Sequence[PathLike]],
                 ranks: Sequence[Sequence[KeeperRank] | None] | None = None, *,
                 thumb_size: int = 256, max_cols: int = 4,
                 figsize: tuple[float, float] | None = None):
        import matplotlib
        import matplotlib.pyplot as plt

        # under Agg & co nobody sees the window: skip the (costly) rendering
        self._live = matplotlib.get_backend().lower() not in _NON_INTERACTIVE
        self.groups = [[os.fspath(p) for p in g] for g in groups]
        if ranks is None:
            ranks = [None] * len(self.groups)
        self.ranks: list[list[KeeperRank]] = []
        for g, r in zip(self.groups, ranks):
            self.ranks.append(list(r) if r is not None else (rank_keepers(g) if g else []))
        self.thumb_size = int(thumb_size)
        self.max_cols = max(1, int(max_cols))
        self.keep: list[set[str]] = [
            {r[0].path} if r and r[0].readable else set() for r in self.ranks]
        self.decisions: list[str | None] = [None] * len(self.groups)
        self.index = 0
        self.done = len(self.groups) == 0
        self.quit = False
        self.message = ""
        self._image_axes: dict = {}  # axes -> path
        self._buttons: list = []
        self._thumbs: dict[str, np.ndarray | None] = {}
        self.fig = plt.figure(figsize=figsize or (12, 7))
        manager = getattr(self.fig.canvas, "manager", None)
        if manager is not None:
            manager.set_window_title("undouble: choose what to keep")
            # matplotlib's own keys (s = save, q = close, arrows = navigate) would clash
            handler = getattr(manager, "key_press_handler_id", None)
            if handler is not None:
                self.fig.canvas.mpl_disconnect(handler)
        self._cids = [
            self.fig.canvas.mpl_connect("button_press_event", self._on_click),
            self.fig.canvas.mpl_connect("key_press_event", self._on_key),
            self.fig.canvas.mpl_connect("close_event", self._on_close),
        ]

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> dict:
        """The current state: ``index``, ``keep`` (sorted paths of the group shown),
        ``decisions``, ``done``, ``quit``, ``message``."""
        keep = sorted(self.keep[self.index]) if self.groups and self.index < len(self.groups) else []
        return {"index": self.index, "keep": keep, "decisions": list(self.decisions),
                "done": self.done, "quit": self.quit, "message": self.message}

    @property
    def result(self) -> list[list[str] | None]:
        """Per group: the paths to keep (accepted groups, in the group's order), or None
        for groups skipped, not reached, or cut off by quitting."""
        out: list[list[str] | None] = []
        for g, keep, decision in zip(self.groups, self.keep, self.decisions):
            out.append([p for p in g if p in keep] if decision == "accept" and keep else None)
        return out

    # ------------------------------------------------------------------ actions
    def toggle(self, path: str) -> None:
        """Toggle "keep" for one image of the group shown (at least one stays kept)."""
        keep = self.keep[self.index]
        if path in keep:
            if len(keep) == 1:
                self.message = "At least one image must be kept (press s to skip the group)"
                self._redraw()
                return
            keep.remove(path)
        else:
            keep.add(path)
        self.message = ""
        self._redraw()

    def accept(self) -> None:
        """Accept the keepers of the group shown and go to the next undecided group."""
        if not self.keep[self.index]:
            self.message = "Mark at least one image to keep, or press s to skip"
            self._redraw()
            return
        self.decisions[self.index] = "accept"
        self._advance()

    def skip(self) -> None:
        """Leave the group shown untouched and go on."""
        self.decisions[self.index] = "skip"
        self._advance()

    def stop(self) -> None:
        """Quit: this and every undecided group are left untouched."""
        for i, d in enumerate(self.decisions):
            if d is None:
                self.decisions[i] = "skip"
        self.quit = True
        self._finish()

    def go(self, index: int) -> None:
        """Show another group (to revise a decision)."""
        if 0 <= index < len(self.groups):
            self.index = index
            self.message = ""
            self._draw_group()

    def _advance(self) -> None:
        n = len(self.groups)
        for step in range(1, n + 1):
            j = (self.index + step) % n
            if self.decisions[j] is None:
                self.go(j)
                return
        self._finish()

    def _finish(self) -> None:
        self.done = True
        self.message = "Done"
        try:
            self.fig.canvas.stop_event_loop()
        except Exception:  # noqa: BLE001 - backends without an event loop
            pass

    # ------------------------------------------------------------------ events
    def _on_click(self, event) -> None:
        if self.done or event.inaxes is None:
            return
        path = self._image_axes.get(event.inaxes)
        if path is not None and getattr(event, "button", 1) in (1, None):
            self.toggle(path)

    def _on_key(self, event) -> None:
        if self.done:
            return
        key = (event.key or "").lower()
        if key in ("enter", "return", "k"):
            self.accept()
        elif key == "s":
            self.skip()
        elif key in ("q", "escape"):
            self.stop()
        elif key in ("right", "n"):
            self.go(min(self.index + 1, len(self.groups) - 1))
        elif key in ("left", "p"):
            self.go(max(self.index - 1, 0))

    def _on_close(self, event) -> None:
        if not self.done:
            self.stop()

    # ------------------------------------------------------------------ drawing
    def _thumb(self, path: str) -> np.ndarray | None:
        if path not in self._thumbs:
            self._thumbs[path] = _thumbnail(path, self.thumb_size)
        return self._thumbs[path]

    def _draw_group(self) -> None:
        from matplotlib.widgets import Button

        fig = self.fig
        for ax in list(self._image_axes):
            ax.remove()
        self._image_axes = {}
        ranks = self.ranks[self.index]
        n = len(ranks)
        cols = min(self.max_cols, max(n, 1))
        rows = max(1, math.ceil(n / cols))
        grid = fig.add_gridspec(rows, cols, left=0.02, right=0.98, top=0.88, bottom=0.12,
                                wspace=0.05, hspace=0.3)
        for k, r in enumerate(ranks):
            ax = fig.add_subplot(grid[k // cols, k % cols])
            thumb = self._thumb(r.path)
            if thumb is not None:
                ax.imshow(thumb)
            else:
                ax.text(0.5, 0.5, "cannot show", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            self._image_axes[ax] = r.path
        if not self._buttons:  # made once, kept for every group
            for x, label, action in ((0.25, "Accept (enter)", self.accept),
                                     (0.45, "Skip (s)", self.skip),
                                     (0.65, "Quit (q)", self.stop)):
                bax = fig.add_axes((x, 0.02, 0.15, 0.06))
                button = Button(bax, label)
                button.on_clicked(lambda _event, _a=action: None if self.done else _a())
                self._buttons.append(button)
        self._redraw()

    def _redraw(self) -> None:
        ranks = self.ranks[self.index]
        keep = self.keep[self.index]
        for ax, path in self._image_axes.items():
            r = next(x for x in ranks if x.path == path)
            kept = path in keep
            colour = _KEEP_COLOUR if kept else _MOVE_COLOUR
            blur = "?" if r.blur is None else f"{r.blur:.0f}"
            proposed = "  [proposed]" if r.rank == 0 else ""
            ax.set_title(f"{'KEEP' if kept else 'move'}{proposed}\n{os.path.basename(path)}\n"
                         f"{r.width}x{r.height}  blur {blur}  {human_size(r.size)}",
                         fontsize=8, color=colour)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(colour)
                spine.set_linewidth(4 if kept else 1)
        decided = sum(d is not None for d in self.decisions)
        title = (f"Group {self.index + 1} of {len(self.groups)} ({decided} decided): "
                 "click an image to toggle keep; enter = accept, s = skip group, q = quit")
        if ranks:
            title += f"\nproposed: {os.path.basename(ranks[0].path)}, {ranks[0].reason}"
        if self.message:
            title += f"\n{self.message}"
        self.fig.suptitle(title, fontsize=10)
        if self._live:
            self.fig.canvas.draw_idle()

    # ------------------------------------------------------------------ loop
    def run(self, block: bool = True) -> list[list[str] | None]:
        """Show the window and collect the choices.

        Parameters
        ----------
        block : bool, default True
            Wait until every group is decided, the selection is quit or the window is
            closed.  With False, draw the first group and return at once (for tests
            and notebooks with widget backends): feed events, then read ``result``.

        Returns
        -------
        list of (list of str or None)
            :attr:`result`.

        Raises
        ------
        RuntimeError
            With ``block=True`` under a backend that cannot show windows (Agg, inline).
        """
        import matplotlib
        import matplotlib.pyplot as plt

        if self.groups and not self.done:
            self._draw_group()
        if not block or self.done:
            return self.result
        backend = matplotlib.get_backend().lower()
        if backend in _NON_INTERACTIVE:
            plt.close(self.fig)
            raise RuntimeError(
                f"gui=True needs an interactive matplotlib backend (now {backend!r}); "
                "use e.g. QtAgg or TkAgg, or choose keepers with keepers=... instead")
        if any(name in backend for name in ("ipympl", "nbagg", "widget")):
            # a notebook kernel cannot wait here and handle the clicks at the same time
            raise RuntimeError(
                "in a notebook, show the selector without blocking: "
                "sel = KeeperSelector(groups); sel.run(block=False); click and press keys "
                "in the figure; then move_groups(groups, keepers=[k or [] for k in sel.result])")
        plt.show(block=False)
        while not self.done and plt.fignum_exists(self.fig.number):
            self.fig.canvas.start_event_loop(0.2)
        if not self.done:  # window closed without a close event
            self.stop()
        plt.close(self.fig)
        return self.result

    def close(self) -> None:
        """Close the window."""
        import matplotlib.pyplot as plt

        for cid in self._cids:
            self.fig.canvas.mpl_disconnect(cid)
        plt.close(self.fig)


def select_keepers(groups: Sequence[Sequence[PathLike]],
                   ranks: Sequence[Sequence[KeeperRank] | None] | None = None, *,
                   block: bool = True, **kwargs) -> list[list[str] | None]:
    """Let a person choose the keeper(s) of each group in a matplotlib window.

    Parameters
    ----------
    groups : sequence of sequences of paths
        The groups of files.
    ranks : sequence, optional
        :func:`undouble.keeper.rank_keepers` per group (computed when missing); the
        first of each is proposed.
    block : bool, default True
        See :meth:`KeeperSelector.run`.
    **kwargs
        Passed to :class:`KeeperSelector` (``thumb_size``, ``max_cols``, ``figsize``).

    Returns
    -------
    list of (list of str or None)
        Per group, the paths to keep, or None for a group to leave untouched.  This is
        the ``keepers=`` argument of :func:`undouble.move.move_groups` once None is
        replaced by ``[]``.
    """
    selector = KeeperSelector(groups, ranks, **kwargs)
    return selector.run(block=block)
