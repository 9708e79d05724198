"""Recognising an undouble hash cache file, and the keys of its rows (see :mod:`undouble.cache`).

:func:`check_cache_file` decides whether an existing file may be used (and, when
it turns out corrupt, moved aside) as a hash cache: only a file that is
recognisably undouble's.  :func:`_path_key` and :func:`_path_of` store a path
that is not valid UTF-8 as the BLOB of its bytes.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Union

__all__ = ["APPLICATION_ID", "NotACacheError", "check_cache_file"]

PathLike = Union[str, "os.PathLike[str]"]

APPLICATION_ID = 0x756E6462
"""SQLite ``application_id`` of an undouble cache (the bytes ``undb``), written in the file's header."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_OUR_TABLES = frozenset(("meta", "hashes", "params"))


class NotACacheError(ValueError):
    """An existing file given as the hash cache is not an undouble cache (it is never touched)."""


def check_cache_file(path: PathLike) -> None:
    """Make sure ``path`` is absent, empty or recognisably an undouble hash cache.

    Recognised: an SQLite database whose header holds undouble's
    ``application_id`` (:data:`APPLICATION_ID`), or one without an application
    id that holds no tables but undouble's (``meta``, ``hashes``, ``params``;
    written by an undouble before the id, or empty).  The file is only read.

    Raises
    ------
    NotACacheError
        With the reason, when the file exists and is anything else: a folder, a
        file that is not an SQLite database (a photo, a text file), another
        application's database, or a database too damaged to tell.
    """
    path = os.fspath(path)
    hint = "; give another --cache path (or move that file away yourself)"
    if os.path.isdir(path):
        raise NotACacheError(f"{path} is a folder, not an undouble hash cache{hint}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError:  # absent, or a place that cannot be used at all: HashCache says so and is disabled
        return
    if not head:
        return  # an empty file is an empty SQLite database
    if not head.startswith(_SQLITE_MAGIC):
        raise NotACacheError(f"{path} is not an undouble hash cache (not an SQLite database){hint}")
    app_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
    if app_id == APPLICATION_ID:
        return
    if app_id != 0:
        raise NotACacheError(f"{path} is the SQLite database of another application "
                             f"(application_id {app_id:#010x}), not an undouble hash cache{hint}")
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
        try:
            names = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise NotACacheError(f"{path} is an SQLite database that cannot be recognised as an undouble hash "
                             f"cache ({exc}){hint}") from None
    names = {n for n in names if not n.startswith("sqlite_")}
    if names and not (names <= _OUR_TABLES and "meta" in names):
        shown = ", ".join(sorted(names)[:5])
        raise NotACacheError(f"{path} is an SQLite database of another application (tables: {shown}), "
                             f"not an undouble hash cache{hint}")


def _path_key(path: str) -> str | bytes:
    """The value that stands for ``path`` in the table: the text, or its bytes when it is not UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 file name
        return os.fsencode(path)
    return path


def _path_of(value: Any) -> str:
    """The ``str`` path of a stored key (see :func:`_path_key`)."""
    return os.fsdecode(bytes(value)) if isinstance(value, (bytes, bytearray, memoryview)) else str(value)


def _whole(value: Any, low: int = 0) -> int:
    """``value`` as an int >= ``low``; ValueError for anything else (a text, a float, NULL)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"bad value {value!r}")
    return value
