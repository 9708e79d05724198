"""A matplotlib window to choose the keeper(s) of each group by hand.

One group at a time: the images as thumbnails (true aspect ratio, EXIF-rotated), each
titled with its folder, file name, resolution, blur score and file size, the proposed
keeper (:func:`undouble.keeper.rank_keepers`) framed in green.  Click an image to make
it the keeper; shift+click (or the middle button) toggles "keep" for more than one.
Enter (or *Accept*) accepts the group, ``s`` (*Skip*) leaves it untouched, ``left``/``right``
or ``p``/``n`` go back and forth, ``pageup``/``pagedown`` page through a large group.
The keys are listed in the window, and a group's decision is shown when you come back.

When every group is decided, or on ``q`` (*Quit*), or when the window is closed by any
means, the window asks whether to apply the groups accepted so far (``y``/``n``);
:attr:`KeeperSelector.confirmed` then says that the person confirmed in the window, so
no further question is needed.  A window destroyed at X level (``xdotool windowclose``)
does not crash the process: the question comes in a new small window.  While the
zoom or pan tool is active, clicks never change a choice.

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
    """A small RGB array of the image (EXIF orientation applied, true aspect), or None."""
    from .io import ImageReadError
    from .thumbnail import read_thumbnail

    try:
        return read_thumbnail(path, size)
    except (ImageReadError, OSError, ValueError) as exc:  # any decoding failure: show a placeholder
        logger.debug("No thumbnail for %s: %s", path, exc)
        return None


_X_ERROR_HANDLER = None


def _survive_x_window_errors() -> None:
    """Make X errors about windows that no longer exist harmless (Tk otherwise exits the process).

    A window destroyed at X level (``xdotool windowclose``, a crashed window
    manager) leaves Tk calls on the dead window, whose BadWindow/BadDrawable
    errors reach Xlib's default handler, which exits. This installs, once, an
    Xlib error handler that ignores those two errors and passes any other to
    the handler that was there (Tk's). Without libX11 it does nothing.
    """
    global _X_ERROR_HANDLER
    if _X_ERROR_HANDLER is not None:
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        xlib = ctypes.CDLL(name)
    except OSError:
        _X_ERROR_HANDLER = False
        return

    class XErrorEvent(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("display", ctypes.c_void_p), ("resourceid", ctypes.c_ulong),
                    ("serial", ctypes.c_ulong), ("error_code", ctypes.c_ubyte), ("request_code", ctypes.c_ubyte),
                    ("minor_code", ctypes.c_ubyte)]

    handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
    previous: list = [None]

    def on_error(display, event) -> int:
        code = event.contents.error_code
        if code in (3, 9):  # BadWindow, BadDrawable: the window is gone
            logger.debug("Ignored X error %d on a window that is gone", code)
            return 0
        if previous[0]:
            return handler_type(previous[0])(display, event)
        return 0

    callback = handler_type(on_error)
    previous[0] = xlib.XSetErrorHandler(ctypes.cast(callback, ctypes.c_void_p))
    _X_ERROR_HANDLER = (xlib, callback)  # kept alive: Xlib holds a bare pointer to it


def _close_quietly(fig) -> None:
    """Forget a figure; its window may be gone already (destroyed at X level), which is fine."""
    import matplotlib.pyplot as plt

    window = getattr(getattr(fig.canvas, "manager", None), "window", None)
    if window is not None and hasattr(window, "report_callback_exception"):  # Tk's later destroy of a dead window
        window.report_callback_exception = lambda *exc: logger.debug("closing a window that is gone: %s", exc[1])
    try:
        plt.close(fig)  # pyplot forgets it first, then asks the backend to destroy the window
    except Exception as exc:  # noqa: BLE001 - Tk: "application has been destroyed"
        logger.debug("closing a window that is gone: %s", exc)


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
    max_rows : int, default 3
        Rows of images per page; larger groups are paged (pageup/pagedown).
    figsize : (float, float), optional
        Size of the window, in inches (default 12.5 x 6.4: fits a 1366 x 768 screen).

    Attributes
    ----------
    index : int
        The group shown.
    page : int
        The page of the group shown (large groups).
    keep : list of set of str
        Paths marked "keep", per group.
    decisions : list of str or None
        Per group: None (not decided yet), ``'accept'`` or ``'skip'``.
    asking : bool
        True while the window asks whether to apply the accepted groups.
    confirmed : bool or None
        None until answered; True when the person chose to apply the accepted
        groups in the window, False when they discarded them.
    done : bool
        True once the selection is over.
    fig : matplotlib.figure.Figure
        The window (after the window was destroyed: the window asking the question).
    """

    def __init__(self, groups: Sequence[Sequence[PathLike]],
                 ranks: Sequence[Sequence[KeeperRank] | None] | None = None, *,
                 thumb_size: int = 256, max_cols: int = 4, max_rows: int = 3,
                 figsize: tuple[float, float] | None = None):
        import matplotlib

        # under Agg & co nobody sees the window: skip the (costly) rendering
        self._backend = matplotlib.get_backend().lower()
        self._live = self._backend not in _NON_INTERACTIVE
        self.groups = [[os.fspath(p) for p in g] for g in groups]
        if ranks is None:
            ranks = [None] * len(self.groups)
        self.ranks: list[list[KeeperRank]] = []
        for g, r in zip(self.groups, ranks):
            self.ranks.append(list(r) if r is not None else (rank_keepers(g) if g else []))
        self.thumb_size = int(thumb_size)
        self.max_cols = max(1, int(max_cols))
        self.max_rows = max(1, int(max_rows))
        self.keep: list[set[str]] = [
            {r[0].path} if r and r[0].readable else set() for r in self.ranks]
        self.decisions: list[str | None] = [None] * len(self.groups)
        self.index = 0
        self.page = 0
        self.done = len(self.groups) == 0
        self.quit = False
        self.asking = False
        self.confirmed: bool | None = None
        self.window_destroyed = False
        self._skipped_by_hand: set[int] = set()
        self.message = ""
        self._image_axes: dict = {}  # axes -> path
        self._buttons: list = []
        self._thumbs: dict[str, np.ndarray | None] = {}
        self._figsize = figsize or (12.5, 6.4)
        self.fig = self._new_window("undouble: choose what to keep", self._figsize)

    def _new_window(self, title: str, figsize: tuple[float, float]):
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
        manager = getattr(fig.canvas, "manager", None)
        if manager is not None:
            manager.set_window_title(title)
            # matplotlib's own keys (s = save, q = close, arrows = navigate) would clash
            handler = getattr(manager, "key_press_handler_id", None)
            if handler is not None:
                fig.canvas.mpl_disconnect(handler)
            window = getattr(manager, "window", None)
            if "tk" in self._backend and window is not None and hasattr(window, "protocol"):
                _survive_x_window_errors()
                window.protocol("WM_DELETE_WINDOW", self.request_close)  # ask in the window first
        self._cids = [
            fig.canvas.mpl_connect("button_press_event", self._on_click),
            fig.canvas.mpl_connect("key_press_event", self._on_key),
            fig.canvas.mpl_connect("close_event", self._on_close),
        ]
        return fig

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> dict:
        """The current state: ``index``, ``page``, ``keep`` (sorted paths of the group shown),
        ``decisions``, ``done``, ``quit``, ``asking``, ``confirmed``, ``message``."""
        keep = sorted(self.keep[self.index]) if self.groups and self.index < len(self.groups) else []
        return {"index": self.index, "page": self.page, "keep": keep, "decisions": list(self.decisions),
                "done": self.done, "quit": self.quit, "asking": self.asking, "confirmed": self.confirmed,
                "message": self.message}

    @property
    def result(self) -> list[list[str] | None]:
        """Per group: the paths to keep (accepted groups, in the group's order), or None
        for groups skipped, not reached, or discarded when the window asked."""
        out: list[list[str] | None] = []
        for g, keep, decision in zip(self.groups, self.keep, self.decisions):
            chosen = decision == "accept" and keep and self.confirmed is not False
            out.append([p for p in g if p in keep] if chosen else None)
        return out

    @property
    def n_accepted(self) -> int:
        """Groups accepted so far."""
        return sum(d == "accept" for d in self.decisions)

    # ------------------------------------------------------------------ actions
    def make_keeper(self, path: str) -> None:
        """Make ``path`` the only keeper of the group shown (one click)."""
        self.keep[self.index] = {path}
        self.message = ""
        self._redraw()

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
        """Quit: every undecided group is left untouched; asks whether to apply the accepted ones."""
        self.quit = True
        self.request_close()

    def request_close(self) -> None:
        """End the selection: ask in the window whether to apply the accepted groups (if any)."""
        if self.done:
            return
        for i, d in enumerate(self.decisions):
            if d is None:
                self.decisions[i] = "skip"
        if self.n_accepted == 0:
            self.confirmed = False
            self._finish()
            return
        self.asking = True
        self._redraw()

    def answer(self, apply: bool) -> None:
        """Answer the window's question: apply the accepted groups (True) or discard them."""
        if not self.asking:
            return
        self.asking = False
        self.confirmed = bool(apply)
        self._finish()

    def go(self, index: int, page: int = 0) -> None:
        """Show another group (to revise a decision)."""
        if 0 <= index < len(self.groups):
            self.index = index
            self.page = max(0, min(page, self._pages() - 1))
            self.message = ""
            self._draw_group()

    def _pages(self) -> int:
        per_page = self.max_cols * self.max_rows
        return max(1, math.ceil(len(self.ranks[self.index]) / per_page))

    def _advance(self) -> None:
        n = len(self.groups)
        for step in range(1, n + 1):
            j = (self.index + step) % n
            if self.decisions[j] is None:
                self.go(j)
                return
        self.request_close()

    def _finish(self) -> None:
        self.done = True
        self.asking = False
        self.message = "Done"
        if not self.window_destroyed:
            self._redraw()
        try:
            self.fig.canvas.stop_event_loop()
        except Exception:  # noqa: BLE001 - backends without an event loop, a window that is gone
            pass

    # ------------------------------------------------------------------ events
    def _tool_active(self, event) -> bool:
        """True while the toolbar's zoom or pan tool is on: its drags are not choices."""
        toolbar = getattr(self.fig.canvas, "toolbar", None)
        mode = getattr(toolbar, "mode", "") if toolbar is not None else ""
        return bool(getattr(mode, "value", mode))

    def _on_click(self, event) -> None:
        if self.done or self.asking or event.inaxes is None:
            return
        path = self._image_axes.get(event.inaxes)
        if path is None or self._tool_active(event):
            return  # a zoom or pan drag never changes a choice
        button = getattr(event, "button", 1)
        modifiers = str(getattr(event, "key", None) or "")
        if button in (1, None) and "shift" not in modifiers and "control" not in modifiers:
            self.make_keeper(path)
        elif button in (1, 2, None):
            self.toggle(path)

    def _on_key(self, event) -> None:
        if self.done:
            return
        key = (event.key or "").lower()
        if self.asking:
            if key in ("y", "enter", "return"):
                self.answer(True)
            elif key in ("n", "d"):
                self.answer(False)
            elif key == "escape" and not self.window_destroyed:  # back to the groups
                self.asking = False
                self.quit = False
                for i, d in enumerate(self.decisions):
                    if d == "skip" and i not in self._skipped_by_hand:
                        self.decisions[i] = None
                self._draw_group()
            return
        if key in ("enter", "return", "k"):
            self.accept()
        elif key == "s":
            self._skipped_by_hand.add(self.index)
            self.skip()
        elif key in ("q", "escape"):
            self.stop()
        elif key in ("right", "n"):
            self.go(min(self.index + 1, len(self.groups) - 1))
        elif key in ("left", "p"):
            self.go(max(self.index - 1, 0))
        elif key == "pagedown":
            self.go(self.index, self.page + 1)
        elif key == "pageup":
            self.go(self.index, self.page - 1)

    def _on_close(self, event) -> None:
        """The window is gone (closed or destroyed): ask in a new window when there is something to apply."""
        if self.done:
            return
        canvas = getattr(event, "canvas", None)
        if canvas is not None and canvas is not self.fig.canvas:
            return  # a window already replaced (its late events)
        if self.window_destroyed:  # the question's own window closed too: change nothing
            self.asking = True
            self.answer(False)
            return
        self.window_destroyed = True
        for i, d in enumerate(self.decisions):
            if d is None:
                self.decisions[i] = "skip"
        if self.n_accepted == 0:
            self.confirmed = False
            self._finish()
            return
        self.asking = True
        self._buttons = []
        self._image_axes = {}
        gone = self.fig
        self.fig = self._new_window("undouble: apply the accepted groups?", (6.0, 2.2))
        _close_quietly(gone)
        self._draw_question_window()

    # ------------------------------------------------------------------ drawing
    def _thumb(self, path: str) -> np.ndarray | None:
        if path not in self._thumbs:
            self._thumbs[path] = _thumbnail(path, self.thumb_size)
        return self._thumbs[path]

    def _question(self) -> str:
        return (f"Apply the {self.n_accepted} accepted group(s)?  y / Apply = yes,  n / Discard = no"
                + ("" if self.window_destroyed else ",  escape = back to the groups"))

    def _draw_question_window(self) -> None:
        from matplotlib.widgets import Button

        fig = self.fig
        fig.text(0.5, 0.75, "The selection window was closed.", ha="center", fontsize=11)
        fig.text(0.5, 0.55, self._question(), ha="center", fontsize=9, wrap=True)
        for x, label, apply in ((0.2, "Apply (y)", True), (0.55, "Discard (n)", False)):
            button = Button(fig.add_axes((x, 0.1, 0.25, 0.2)), label)
            button.on_clicked(lambda _event, _a=apply: self.answer(_a))
            self._buttons.append(button)
        import matplotlib.pyplot as plt

        if self._live:
            plt.show(block=False)
            fig.canvas.draw_idle()

    def _draw_group(self) -> None:
        from matplotlib.widgets import Button

        fig = self.fig
        for ax in list(self._image_axes):
            ax.remove()
        self._image_axes = {}
        ranks = self.ranks[self.index]
        per_page = self.max_cols * self.max_rows
        shown = ranks[self.page * per_page:(self.page + 1) * per_page]
        n = len(shown)
        cols = min(self.max_cols, max(n, 1))
        rows = max(1, math.ceil(n / cols))
        width, height = fig.get_size_inches()
        self._fontsize = max(6.0, min(8.5, 8.5 * 3 / max(rows, 3), 8.5 * 4 / max(cols, 4)))
        title_in = 4 * self._fontsize * 1.3 / 72 + 0.05  # four title lines per tile
        header_in = 4 * 10 * 1.3 / 72 + 0.1  # the figure title's lines
        top = 1 - (header_in + title_in) / height
        bottom = 0.11
        axes_h = max(((top - bottom) * height - (rows - 1) * title_in) / rows, 0.1)
        grid = fig.add_gridspec(rows, cols, left=0.02, right=0.98, top=top, bottom=bottom,
                                wspace=0.08, hspace=title_in / axes_h)
        for k, r in enumerate(shown):
            ax = fig.add_subplot(grid[k // cols, k % cols])
            thumb = self._thumb(r.path)
            if thumb is not None:
                ax.imshow(thumb)
            else:
                ax.text(0.5, 0.5, "cannot show", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            self._image_axes[ax] = r.path
        self._limit = max(12, int(width / cols * 72 / (self._fontsize * 0.62)))
        if not self._buttons:  # made once, kept for every group
            for x, label, action in ((0.2, "Accept (enter)", self._button_accept),
                                     (0.42, "Skip (s)", self._button_skip),
                                     (0.64, "Quit (q)", self._button_quit)):
                bax = fig.add_axes((x, 0.015, 0.16, 0.06))
                button = Button(bax, label)
                button.on_clicked(lambda _event, _a=action: None if self.done else _a())
                self._buttons.append(button)
        self._redraw()

    def _button_accept(self) -> None:
        self.answer(True) if self.asking else self.accept()

    def _button_skip(self) -> None:
        if self.asking:
            self.answer(False)
        else:
            self._skipped_by_hand.add(self.index)
            self.skip()

    def _button_quit(self) -> None:
        if not self.asking:
            self.stop()

    def _short(self, text: str) -> str:
        limit = getattr(self, "_limit", 28)
        return text if len(text) <= limit else text[: limit - 11] + "..." + text[-8:]

    def _redraw(self) -> None:
        if self.window_destroyed:
            return
        ranks = self.ranks[self.index] if self.groups else []
        keep = self.keep[self.index] if self.groups else set()
        fontsize = getattr(self, "_fontsize", 8)
        for ax, path in self._image_axes.items():
            r = next(x for x in ranks if x.path == path)
            kept = path in keep
            colour = _KEEP_COLOUR if kept else _MOVE_COLOUR
            blur = "?" if r.blur is None else f"{r.blur:.0f}"
            proposed = "  [proposed]" if r.rank == 0 else (f"  {r.relation}" if getattr(r, "relation", "") else "")
            folder = os.path.basename(os.path.dirname(path)) or os.path.dirname(path)
            ax.set_title(f"{'KEEP' if kept else 'move'}{proposed}\n{self._short(folder + '/')}\n"
                         f"{self._short(os.path.basename(path))}\n"
                         f"{r.width}x{r.height}  blur {blur}  {human_size(r.size)}",
                         fontsize=fontsize, color=colour)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(colour)
                spine.set_linewidth(4 if kept else 1)
        decided = sum(d is not None for d in self.decisions)
        status = {None: "not decided yet", "accept": "ACCEPTED", "skip": "SKIPPED"}[
            self.decisions[self.index] if self.groups else None]
        pages = self._pages() if self.groups else 1
        page = f", images page {self.page + 1} of {pages} (pageup/pagedown)" if pages > 1 else ""
        lines = [f"Group {self.index + 1} of {len(self.groups)}: {status} ({decided} decided, "
                 f"{self.n_accepted} accepted){page}",
                 "click = make keeper, shift+click = also keep;  enter = accept,  s = skip,  "
                 "n/p or arrows = next/previous group,  q = quit"]
        if ranks:
            lines.append(self._short_line(f"proposed: {os.path.basename(ranks[0].path)}, {ranks[0].reason}"))
        if self.asking:
            lines.append(self._question())
        elif self.done:
            lines.append("Done: " + ("applying the accepted groups" if self.confirmed else "nothing will be changed"))
        elif self.message:
            lines.append(self.message)
        self.fig.suptitle("\n".join(lines), fontsize=10, y=0.995, va="top",
                          color=_MOVE_COLOUR if self.asking else "black")
        if self._buttons:
            labels = (("Apply (y)", "Discard (n)", "") if self.asking else
                      ("Accept (enter)", "Skip (s)", "Quit (q)"))
            for button, label in zip(self._buttons, labels):
                button.label.set_text(label)
                button.ax.set_visible(bool(label))
        if self._live:
            self.fig.canvas.draw_idle()

    def _short_line(self, text: str, limit: int = 150) -> str:
        return text if len(text) <= limit else text[: limit - 3] + "..."

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
        while not self.done:
            fig = self.fig
            if not plt.fignum_exists(fig.number):  # gone without a close event: the same as one
                self._on_close(None)
                continue
            try:
                fig.canvas.start_event_loop(0.2)
            except Exception as exc:  # noqa: BLE001 - a window destroyed under the event loop
                logger.debug("event loop of a closed window: %s", exc)
                if fig is self.fig and not self.done:
                    self._on_close(None)
        _close_quietly(self.fig)
        return self.result

    def close(self) -> None:
        """Close the window."""
        import matplotlib.pyplot as plt

        for cid in self._cids:
            self.fig.canvas.mpl_disconnect(cid)
        _close_quietly(self.fig)


def select_keepers(groups: Sequence[Sequence[PathLike]],
                   ranks: Sequence[Sequence[KeeperRank] | None] | None = None, *,
                   block: bool = True, return_confirmed: bool = False,
                   **kwargs) -> list[list[str] | None] | tuple[list[list[str] | None], bool]:
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
    return_confirmed : bool, default False
        Also return whether the person chose, in the window, to apply the accepted
        groups (:attr:`KeeperSelector.confirmed`): a caller that gets True need not
        ask again in the terminal, and with False should change nothing.
    **kwargs
        Passed to :class:`KeeperSelector` (``thumb_size``, ``max_cols``, ``max_rows``, ``figsize``).

    Returns
    -------
    list of (list of str or None)
        Per group, the paths to keep, or None for a group to leave untouched.  This is
        the ``keepers=`` argument of :func:`undouble.move.move_groups` once None is
        replaced by ``[]``.
    """
    selector = KeeperSelector(groups, ranks, **kwargs)
    result = selector.run(block=block)
    return (result, bool(selector.confirmed)) if return_confirmed else result
