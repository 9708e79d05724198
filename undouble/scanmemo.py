"""The result of ``undouble scan``, remembered for a folder that did not change.

A second ``undouble scan`` of an unchanged folder with the same options prints what
the first one printed, without importing the decoders or the Numba kernels: the
whole process then takes a few tenths of a second. Only scans of a local folder
use it (not URLs, ``--dask`` or ``--results``, nor ``--no-cache``).

The key (:meth:`ScanMemo.for_folder`) is a digest of:

* every file under the folder (recursively, any extension, ``undouble`` output
  folders left out as the scan leaves them out): its relative path, size,
  modification time (ns) and mode, or why it cannot be ``stat``-ed; a file
  added, removed, touched, changed or made unreadable changes the key;
* every option of the command that can change the result (all but the
  output format, verbosity, threads and cache file);
* undouble's version, the size and modification time of each of its source
  files, and where OpenCV, Pillow, pillow-heif, NumPy, Numba and llvmlite are
  installed (size and modification time of each package's ``__init__``): an
  upgrade or an edit gives a new key;
* :data:`MEMO_VERSION`.

The result (the dict of :func:`undouble.export.groups_as_dict`) is stored as JSON
in the table ``scan_memo`` of the hash cache database, which keeps the
:data:`MAX_ROWS` newest results. Reading never creates or changes the database;
every error is a miss (reading) or a skipped write, so the memo never stops a run.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from . import __version__

__all__ = ["MAX_ROWS", "MEMO_VERSION", "ScanMemo", "folder_state"]

MEMO_VERSION = 1
"""Bump when the stored result or the key changes meaning."""

MAX_ROWS = 64
"""Results kept; older ones are removed when a new one is stored."""

_OUTPUT_ONLY = frozenset(("command", "folder", "json", "csv", "output", "quiet", "verbose", "jobs", "cache",
                          "no_cache"))
_LIBRARIES = ("cv2", "PIL", "pillow_heif", "numpy", "numba", "llvmlite")
_OUTPUT_FOLDER = "undouble"  # as undouble.io.files.OUTPUT_FOLDER (not imported: it loads the decoders)


def folder_state(folder: str) -> list[list[Any]]:
    """``[relative path, size, mtime_ns, mode]`` (or ``[relative path, error]``) of every file, sorted."""
    root = os.path.abspath(folder)
    state: list[list[Any]] = []
    problems: list[list[Any]] = []

    def on_error(err: OSError) -> None:
        problems.append([os.path.relpath(err.filename or root, root), f"walk: {err.strerror}"])

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if d.lower() != _OUTPUT_FOLDER)
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            try:
                st = os.stat(path)
            except OSError as exc:
                state.append([rel, f"{type(exc).__name__}: {exc.strerror}"])
                continue
            state.append([rel, int(st.st_size), int(st.st_mtime_ns), int(st.st_mode)])
    state.sort(key=lambda row: row[0])
    return problems + state


def _stat_list(paths: list[str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append([path, None])
            continue
        out.append([path, int(st.st_size), int(st.st_mtime_ns)])
    return out


def _software() -> dict[str, Any]:
    """What the result depends on besides the files: undouble's sources and the libraries'."""
    import importlib.util

    package = os.path.dirname(os.path.abspath(__file__))
    sources = []
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        sources.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    libraries = []
    for name in _LIBRARIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        libraries.append([name, None if spec is None or not spec.origin else _stat_list([spec.origin])[0]])
    return {"undouble": __version__, "sources": _stat_list(sources), "libraries": libraries,
            "python": sys.version}


class ScanMemo:
    """The remembered result of one scan configuration of one folder state.

    Parameters
    ----------
    database : str
        The hash cache file (the memo lives in its table ``scan_memo``).
    key : str
        The digest of the folder state and settings (:meth:`for_folder`).
    """

    def __init__(self, database: str, key: str) -> None:
        self.database = os.fspath(database)
        self.key = key

    @classmethod
    def for_folder(cls, database: str, folder: str, settings: Mapping[str, Any]) -> "ScanMemo":
        """The memo of ``folder`` as it is now, scanned with ``settings``.

        Parameters
        ----------
        database : str
            The hash cache file.
        folder : str
            The folder scanned.
        settings : mapping
            The command's options (``vars(args)``); output-only ones are left
            out of the key.
        """
        options = {k: v for k, v in sorted(settings.items()) if k not in _OUTPUT_ONLY and not k.startswith("_")}
        desc = {"memo": MEMO_VERSION, "folder": os.path.abspath(folder), "options": options,
                "software": _software(), "files": folder_state(folder)}
        text = json.dumps(desc, sort_keys=True, default=repr, separators=(",", ":"))
        return cls(database, hashlib.sha256(text.encode()).hexdigest())

    def lookup(self) -> dict[str, Any] | None:
        """The stored result, or None (no database, no row, or any error)."""
        if not os.path.isfile(self.database):
            return None
        try:
            uri = Path(os.path.abspath(self.database)).as_uri() + "?mode=ro"  # read-only: never creates it
            conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        except (sqlite3.Error, OSError, ValueError):
            return None
        try:
            row = conn.execute("SELECT result FROM scan_memo WHERE key = ?", (self.key,)).fetchone()
        except (sqlite3.Error, OSError):
            return None
        finally:
            conn.close()
        if row is None:
            return None
        try:
            data = json.loads(row[0])
        except (TypeError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def store(self, data: Mapping[str, Any]) -> bool:
        """Remember ``data`` (JSON-ready) under this key; False when it could not be written."""
        if not os.path.isfile(self.database):  # the hash cache was not made: do not make a file of our own
            return False
        try:
            text = json.dumps(data)  # ASCII: undecodable file names (surrogates) come back as they were
            conn = sqlite3.connect(self.database, timeout=30.0, isolation_level=None)
        except (TypeError, ValueError, sqlite3.Error, OSError):
            return False
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS scan_memo (key TEXT PRIMARY KEY, result TEXT NOT NULL,"
                         " stored REAL NOT NULL)")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO scan_memo (key, result, stored) VALUES (?, ?, ?)",
                         (self.key, text, time.time()))
            conn.execute("DELETE FROM scan_memo WHERE key NOT IN "
                         "(SELECT key FROM scan_memo ORDER BY stored DESC LIMIT ?)", (MAX_ROWS,))
            conn.execute("COMMIT")
            return True
        except (sqlite3.Error, OSError):
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return False
        finally:
            conn.close()
