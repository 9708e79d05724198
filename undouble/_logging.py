"""Logging and progress bars, through the standard ``logging`` module."""
from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

logger = logging.getLogger("undouble")

_LEVEL_NAMES = {
    "silent": logging.CRITICAL + 10,
    "off": logging.CRITICAL + 10,
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
# undouble 1.x also accepted 0..6 (0 = silent ... 5 = debug)
_OLD_LEVELS = {0: logging.CRITICAL + 10, 1: logging.CRITICAL, 2: logging.ERROR, 3: logging.WARNING,
               4: logging.INFO, 5: logging.DEBUG, 6: logging.DEBUG}
_HANDLER_NAME = "undouble-default"


def verbosity_level(verbose: int | str | None) -> int:
    """Translate the seed's ``verbose`` values into a ``logging`` level.

    Accepts ``logging`` levels (10, 20, 30, 40, 50, 60), names (``'debug'``,
    ``'info'``, ``'warning'``, ``'error'``, ``'critical'``, ``'silent'``),
    ``True``/``None`` (info), ``False`` (silent) and undouble 1.x's 0..6.
    """
    if verbose is None or verbose is True:
        return logging.INFO
    if verbose is False:
        return _LEVEL_NAMES["silent"]
    if isinstance(verbose, str):
        key = verbose.strip().lower()
        if key not in _LEVEL_NAMES:
            raise ValueError(f"unknown verbosity {verbose!r}; use one of {', '.join(_LEVEL_NAMES)}")
        return _LEVEL_NAMES[key]
    level = int(verbose)
    if level in _OLD_LEVELS:
        return _OLD_LEVELS[level]
    if level < 0:
        raise ValueError(f"verbosity must be >= 0, got {verbose!r}")
    return level


def set_logger(verbose: int | str | None = 20) -> int:
    """Set how much undouble logs.

    Parameters
    ----------
    verbose : int or str
        10 / 'debug', 20 / 'info' (default), 30 / 'warning', 40 / 'error',
        50 / 'critical', 60 / 'silent'. Progress bars are shown below the
        warning level only.

    Returns
    -------
    int
        The ``logging`` level now in force for the ``undouble`` logger.

    Examples
    --------
    >>> import undouble as ud
    >>> ud.set_logger(verbose=30)
    30
    """
    level = verbosity_level(verbose)
    logger.setLevel(level)
    if not any(getattr(h, "name", None) == _HANDLER_NAME for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("[undouble] >%(levelname)s> %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    return level


def progress_disabled() -> bool:
    """Progress bars are shown only while the logger shows info messages."""
    return not logger.isEnabledFor(logging.INFO)


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr that follows the logger's level."""
    kwargs.setdefault("disable", progress_disabled())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


@contextmanager
def spinner(message: str, interval: float = 0.1) -> Iterator[None]:
    """A spinner with the elapsed seconds on stderr while the block runs.

    Shown only when progress bars are (see :func:`progress_disabled`) and stderr
    is a terminal; the line is cleared at the end.
    """
    stream = sys.stderr
    shown = not progress_disabled() and hasattr(stream, "isatty") and stream.isatty()
    if not shown:
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()

    def spin() -> None:
        for frame in itertools.cycle("|/-\\"):
            if stop.wait(interval):
                break
            stream.write(f"\r{frame} {message} ({time.perf_counter() - start:.0f} s)")
            stream.flush()

    thread = threading.Thread(target=spin, name="undouble-spinner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        stream.write("\r" + " " * (len(message) + 16) + "\r")
        stream.flush()
