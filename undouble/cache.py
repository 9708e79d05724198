"""A persistent hash cache, so that re-running on unchanged files skips decoding.

Re-hashing a folder of 100,000 photos costs a full decode of every file; most of
them have not changed since the last run.  :class:`HashCache` remembers the hash
of every file it was given, in an SQLite database, and gives it back as long as the
file and every setting that changes its hash are the same.

What makes a hit
----------------
A row is found by the file's **absolute path** and the **parameter key**
(:func:`hash_params`): method, hash_size, method options, ``dim``, ``grayscale``,
the decoder (Pillow and OpenCV versions, the decoding/preprocessing tag
:data:`PIPELINE_TAG`) and undouble's version.  It is a hit only when the file's
**size and modification time (ns)** are still those stored.  Any change, a touch
included, makes a miss and the file is decoded and hashed again.

Stored per row: the packed hash (bytes of the uint64 words; all segments for
crop-resistant), the number of bits, the segment count, the hash's grid shape,
the original resolution, the file's size and mtime, and whether the decoder found
the file damaged with its messages (``damaged``, ``warnings``: a JSON list), and
what the import measured on the decoded pixels (:mod:`undouble.io.measure`): the
sharpness on the canonical scale (column ``blur``) and the pixel count it was
measured on, the greyscale flag (``is_grey``) and the verification thumbnail
(``thumb``, NULL without :mod:`undouble.verify`). A re-run on unchanged files
therefore opens none of them.

A path is stored as TEXT; a path that is not valid UTF-8 (a Linux file name with
other bytes, which Python gives as a ``str`` with lone surrogates) is stored as
the BLOB of its bytes (``os.fsencode``) and read back with ``os.fsdecode``: the
same file, whatever its name.

Safety
------
* SQLite in WAL mode with a busy timeout: several processes (or threads, each
  with its own :class:`HashCache`) can read and write one cache at once; writes
  that still find the database busy are retried with back-off.
* Only a file that is recognisably an undouble cache is used: an SQLite database
  with undouble's ``application_id`` (or, written by an older undouble, only
  undouble's tables), or an empty file.  Anything else (a photo, a text file,
  another application's database) is refused: :class:`HashCache` raises
  :class:`NotACacheError` (a ValueError) and never touches the file;
  :func:`open_cache` (what ``Undouble(cache=...)`` uses) logs the error and the
  run goes on without a cache; the command line refuses ``--cache FILE`` with
  exit status 2.
* A recognised cache that turns out corrupt is moved aside
  (``<name>.corrupt-<time>``) and a new one is started, with a logged warning.
* A malformed row (a hash blob of the wrong length, a NULL, a value of the wrong
  type) is a miss: the file is hashed again and the row rewritten; ``prune``
  removes such rows.  Every cache failure is logged and treated as a miss: the
  cache never stops a run.

The default file is ``hashes.sqlite3`` in the user cache folder
(:func:`undouble.paths.cache_dir`, which honours ``$UNDOUBLE_CACHE_DIR`` and
``$XDG_CACHE_HOME``).

Examples
--------
>>> from undouble import Undouble
>>> model = Undouble(method='phash', cache=True)      # doctest: +SKIP
>>> model.import_data('/photos')                     # doctest: +SKIP
>>> model.compute_hash()  # second time: only new or changed files are decoded  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from ._logging import logger
from .batches import LazyImages
from .cache_file import APPLICATION_ID, NotACacheError, _path_key, _path_of, check_cache_file
from .cache_rows import CacheEntry, _entry_of_row, file_stat, hash_with_cache
from .paths import DEFAULT_CACHE_FILENAME as DEFAULT_FILENAME
from .paths import default_cache_path

__all__ = [
    "CacheEntry",
    "HashCache",
    "LazyImages",
    "NotACacheError",
    "PIPELINE_TAG",
    "SCHEMA_VERSION",
    "check_cache_file",
    "default_cache_path",
    "hash_params",
    "hash_with_cache",
    "open_cache",
]

SCHEMA_VERSION = 2
"""Version of the table layout; a cache with another version is emptied and rebuilt. (The
measures of :mod:`undouble.io.measure`, ``is_grey`` and ``thumb``, are columns added in place,
see ``_EXTRA_COLUMNS``; rows written before them are misses anyway: their key holds the
older :data:`PIPELINE_TAG`, whose sharpness was on another scale.)"""

PIPELINE_TAG = "rgb-exif-reduced-jpeg-half-dim/opencv-jpeg/16bit-high-byte/scale255-area-kernel/canonical-sharpness/verify-thumb-9224/7"
"""Decoding and preprocessing recipe; bump it when ``io.read_image``/``io.load_file``
or ``preprocess.preprocess`` change their pixels, or when the verification thumbnail
(:data:`undouble.verify.THUMB_BYTES`) changes its layout, so that old rows are not reused."""

DECODER_VERSION = "damage-1"
"""A second part of the key for decoder changes ("damage-1": rows know whether the decoder found the
file damaged; older rows did not record it, so their files are decoded once more)."""

_EXTRA_COLUMNS = (("damaged", "INTEGER NOT NULL DEFAULT 0"), ("warnings", "TEXT"),
                  ("is_grey", "INTEGER NOT NULL DEFAULT 0"), ("thumb", "BLOB"))
"""Columns added to the ``hashes`` table after schema 2 (added in place to older files)."""

_CHUNK = 500            # paths per SELECT ... IN (...) (SQLite's variable limit is 999+)
_WRITE_RETRIES = 8
_BUSY_TIMEOUT_S = 30.0

PathLike = Union[str, "os.PathLike[str]"]
CacheSpec = Union[None, bool, PathLike, "HashCache"]


# --------------------------------------------------------------------------- keys
def _versions() -> dict[str, str]:
    import PIL

    from . import __version__

    try:
        import cv2

        cv = cv2.__version__
    except ImportError:  # pragma: no cover - a dependency
        cv = "none"
    return {"undouble": __version__, "pillow": PIL.__version__, "opencv": cv, "pipeline": PIPELINE_TAG,
            "decoder": DECODER_VERSION}


def _canonical(value: Any) -> Any:
    """A JSON-stable form of an option value; raises TypeError when it has none."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    raise TypeError(f"option value {value!r} cannot be part of a cache key")


def hash_params(method: str, hash_size: int, hash_options: Mapping[str, Any] | None = None,
                dim: Sequence[int] | None = None, grayscale: bool = False) -> tuple[str, str] | None:
    """The cache key of a hash configuration.

    Parameters
    ----------
    method, hash_size, hash_options
        As given to :func:`undouble.hashes.compute_hashes`.
    dim, grayscale
        Preprocessing of :class:`undouble.Undouble`.

    Returns
    -------
    (str, str) or None
        ``(key, description)``: a short digest and the JSON it digests (stored
        beside it for people reading the cache).  None when an option cannot be
        part of a key (a callable inner hash, for instance): such runs are not
        cached.
    """
    try:
        options = _canonical(dict(hash_options or {}))
    except TypeError as exc:
        logger.debug("Hash cache not used: %s", exc)
        return None
    desc = {
        "method": str(method),
        "hash_size": int(hash_size),
        "options": options,
        "dim": [int(d) for d in dim] if dim is not None else None,
        "grayscale": bool(grayscale),
        **_versions(),
    }
    text = json.dumps(desc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24], text


def _is_corruption(exc: BaseException) -> bool:
    """Whether an SQLite error means the file is damaged (not merely busy or unreadable)."""
    if _is_busy(exc):
        return False
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _in_transaction(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], Any]) -> Any:
    """``body(conn)`` inside ``BEGIN IMMEDIATE ... COMMIT``, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body(conn)
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    return result


# --------------------------------------------------------------------------- the cache
class HashCache:
    """An SQLite cache of file hashes, safe to share between processes.

    Parameters
    ----------
    path : str or PathLike, optional
        Database file (default :func:`default_cache_path`); its folder is created.
    timeout : float, default 30
        Seconds a query waits for another process's write lock.

    Raises
    ------
    NotACacheError
        When ``path`` exists and is not recognisably an undouble cache
        (:func:`check_cache_file`); the file is left as it is.

    Notes
    -----
    One instance may be used from several threads (calls are serialised by a
    lock); for parallel writers, give each its own instance.  Errors never
    escape: a failed lookup returns no hits, a failed store stores nothing,
    and both log why.  After an unrecoverable error the instance is disabled
    (``enabled`` is False) and behaves as an always-missing cache.

    Examples
    --------
    >>> cache = HashCache('/tmp/hashes.sqlite3')                     # doctest: +SKIP
    >>> key = hash_params('phash', 8, {}, (128, 128), False)          # doctest: +SKIP
    >>> hits = cache.lookup(['/photos/a.jpg'], key)                   # doctest: +SKIP
    """

    def __init__(self, path: PathLike | None = None, timeout: float = _BUSY_TIMEOUT_S) -> None:
        self.path = Path(os.fspath(path)).expanduser().absolute() if path is not None else default_cache_path()
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.enabled = True
        self.recovered_from: Path | None = None
        check_cache_file(self.path)
        with self._lock:
            self._open()

    # ---------------------------------------------------------------- connection
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(os.fspath(self.path), timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        # text that is not UTF-8 (a damaged row) must not fail the whole query: it reads as a str with
        # surrogates, which the row checks then refuse where a text does not belong
        conn.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            if mode is None or str(mode[0]).lower() != "wal":
                logger.debug("Hash cache %s runs in journal mode %s", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._retry(lambda: self._create_schema(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is not None and row[0] != str(SCHEMA_VERSION):
                logger.info("Hash cache has schema %s, this undouble uses %s: emptying it.", row[0], SCHEMA_VERSION)
                conn.execute("DROP TABLE IF EXISTS hashes")
                conn.execute("DROP TABLE IF EXISTS params")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hashes ("
                " path TEXT NOT NULL, params TEXT NOT NULL,"
                " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                " packed BLOB NOT NULL, nbits INTEGER NOT NULL, segments INTEGER,"
                " grid_h INTEGER, grid_w INTEGER, width INTEGER NOT NULL, height INTEGER NOT NULL,"
                " blur REAL, blur_pixels INTEGER NOT NULL DEFAULT 0, stored REAL NOT NULL, PRIMARY KEY (path, params)) WITHOUT ROWID")
            columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(hashes)")}
            for name, decl in _EXTRA_COLUMNS:  # added in place: rows of older files keep their hashes
                if name not in columns:
                    conn.execute(f"ALTER TABLE hashes ADD COLUMN {name} {decl}")
            conn.execute("CREATE TABLE IF NOT EXISTS params (key TEXT PRIMARY KEY, description TEXT NOT NULL)")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _retry(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, retrying with back-off while the database is busy."""
        delay = 0.05
        for attempt in range(_WRITE_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == _WRITE_RETRIES - 1:
                    raise
                logger.debug("Hash cache busy (%s), retrying in %.2f s", exc, delay)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
        return None  # pragma: no cover

    def _open(self) -> None:
        try:
            self._conn = self._connect()
            # reading the schema touches the first pages: a garbage file fails here
            self._conn.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                self._recover(exc)
            else:
                self._disable(exc)
        except OSError as exc:
            self._disable(exc)

    def _disable(self, exc: BaseException) -> None:
        logger.warning("Hash cache %s cannot be used (%s); continuing without it.", self.path, exc)
        self.enabled = False
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def _recover(self, exc: BaseException) -> None:
        """Move a corrupt database aside and start a new one."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{os.getpid()}")
        logger.warning("Hash cache %s is corrupt (%s); moved it to %s and starting a new one.",
                       self.path, exc, aside)
        for suffix in ("", "-wal", "-shm"):
            src = Path(os.fspath(self.path) + suffix)
            try:
                os.replace(src, Path(os.fspath(aside) + suffix))
            except FileNotFoundError:
                pass
            except OSError as err:
                self._disable(err)
                return
        self.recovered_from = aside
        try:
            self._conn = self._connect()
        except (sqlite3.Error, OSError) as err:
            self._disable(err)

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], Any], default: Any) -> Any:
        """Run ``fn(conn)`` under the lock; recover from corruption once; never raise."""
        with self._lock:
            for attempt in range(2):
                if not self.enabled or self._conn is None:
                    return default
                try:
                    return fn(self._conn)
                except sqlite3.DatabaseError as exc:
                    if _is_corruption(exc) and attempt == 0:
                        self._recover(exc)
                        continue
                    logger.warning("Hash cache %s: %s failed (%s); continuing without cached hashes.",
                                   self.path, what, exc)
                    return default
                except OSError as exc:  # pragma: no cover - disk errors
                    logger.warning("Hash cache %s: %s failed (%s).", self.path, what, exc)
                    return default
            return default

    # ---------------------------------------------------------------- public
    def lookup(self, paths: Iterable[PathLike], params: tuple[str, str] | str | None,
               stats: Mapping[str, Sequence[int] | None] | None = None) -> dict[str, CacheEntry]:
        """Cached hashes of the files that did not change.

        Parameters
        ----------
        paths : iterable of str or PathLike
            Files; relative paths are made absolute.
        params : (str, str) or str
            Key from :func:`hash_params` (or just its digest).
        stats : mapping, optional
            ``{path: (size, mtime_ns)}`` already known (as in
            ``results['filestats']``); other files are ``os.stat``-ed.

        Returns
        -------
        dict
            ``{path: CacheEntry}`` for every hit, keyed by the path as given.
        """
        if params is None or not self.enabled:
            return {}
        key = params[0] if isinstance(params, tuple) else str(params)
        wanted: dict[str, tuple[str, tuple[int, int]]] = {}
        for p in paths:
            given = os.fspath(p)
            st = stats.get(given) if stats is not None else None
            st = tuple(st) if st is not None else file_stat(given)  # type: ignore[assignment]
            if st is None:
                continue
            wanted[os.path.abspath(given)] = (given, (int(st[0]), int(st[1])))
        if not wanted:
            return {}

        def query(conn: sqlite3.Connection) -> dict[str, CacheEntry]:
            found: dict[str, CacheEntry] = {}
            names = list(wanted)
            bad = 0
            for start in range(0, len(names), _CHUNK):
                chunk = [_path_key(name) for name in names[start:start + _CHUNK]]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT path, size, mtime_ns, packed, nbits, segments, grid_h, grid_w, width, height, "
                    f"blur, blur_pixels, damaged, warnings, is_grey, thumb FROM hashes WHERE params = ? "
                    f"AND path IN ({marks})",
                    [key, *chunk]).fetchall()
                for row in rows:
                    hit = wanted.get(_path_of(row[0]))
                    if hit is None:
                        continue
                    given, stat = hit
                    try:
                        entry = _entry_of_row(given, row)
                    except (ValueError, TypeError) as exc:  # a malformed row is a miss, rewritten by store()
                        bad += 1
                        logger.debug("Hash cache %s: malformed row of %s ignored (%s)", self.path, given, exc)
                        continue
                    if entry.stat == stat:
                        found[given] = entry
            if bad:
                logger.info("Hash cache %s: %d malformed rows ignored (hashed again).", self.path, bad)
            return found

        return self._run("lookup", query, {})

    def store(self, entries: Iterable[CacheEntry], params: tuple[str, str] | str | None) -> int:
        """Save hashes (replacing older rows of the same file and key).

        Parameters
        ----------
        entries : iterable of CacheEntry
        params : (str, str) or str
            Key from :func:`hash_params`.

        Returns
        -------
        int
            Rows written (0 when the cache is disabled or the write failed).
        """
        if params is None or not self.enabled:
            return 0
        key, desc = (params if isinstance(params, tuple) else (str(params), ""))
        now = time.time()
        rows = [(_path_key(os.path.abspath(e.path)), key, int(e.size), int(e.mtime_ns),
                 np.ascontiguousarray(e.packed, dtype="<u8").tobytes(), int(e.nbits),
                 None if e.segments is None else int(e.segments),
                 None if e.grid is None else int(e.grid[0]), None if e.grid is None else int(e.grid[1]),
                 int(e.width), int(e.height), None if math.isnan(e.blur) else float(e.blur),
                 int(e.blur_pixels), int(bool(e.damaged)), json.dumps(list(e.warnings)) if e.warnings else None,
                 int(bool(e.is_grey)), None if e.thumb is None else np.ascontiguousarray(e.thumb, np.uint8).tobytes(),
                 now) for e in entries]
        if not rows:
            return 0

        def write(conn: sqlite3.Connection) -> int:
            def insert(c: sqlite3.Connection) -> int:
                if desc:
                    c.execute("INSERT OR IGNORE INTO params (key, description) VALUES (?, ?)", (key, desc))
                c.executemany("INSERT OR REPLACE INTO hashes (path, params, size, mtime_ns, packed, nbits,"
                              " segments, grid_h, grid_w, width, height, blur, blur_pixels, damaged, warnings,"
                              " is_grey, thumb, stored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              rows)
                return len(rows)

            return self._retry(lambda: _in_transaction(conn, insert))

        return self._run("store", write, 0)

    def count(self) -> int:
        """Number of cached hashes (all keys)."""
        return self._run("count", lambda c: int(c.execute("SELECT count(*) FROM hashes").fetchone()[0]), 0)

    def clear(self) -> None:
        """Remove every cached hash (and the remembered scan results of :mod:`undouble.scanmemo`)."""
        def wipe(conn: sqlite3.Connection) -> None:
            self._retry(lambda: conn.execute("DELETE FROM hashes"))
            self._retry(lambda: conn.execute("DELETE FROM params"))
            self._retry(lambda: conn.execute("DROP TABLE IF EXISTS scan_memo"))  # undouble.scanmemo's results
        self._run("clear", wipe, None)

    def prune(self, vacuum: bool = True) -> int:
        """Remove the rows that can never be hits again, and unused hash keys.

        A row is stale when its file is gone or has another size or
        modification time now (it was changed, and will be hashed again under a
        new row), or when the row is malformed (:meth:`lookup` ignores it).
        Nothing else is touched, so a cache shared by several runs and
        folders keeps every row still valid. Files on a drive that is not
        mounted look gone: their rows are removed too (they are only hashed
        again next time).

        Parameters
        ----------
        vacuum : bool, default True
            Then give the freed pages back to the file system (``VACUUM``); when
            another process is using the cache this is skipped, and the pages
            are reused by later writes instead.

        Returns
        -------
        int
            Rows removed (0 when the cache is disabled).
        """
        def sweep(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT path, size, mtime_ns, packed, nbits, segments, grid_h, grid_w, width,"
                                " height, blur, blur_pixels, damaged, warnings, is_grey, thumb, params"
                                " FROM hashes").fetchall()
            stale = []
            for row in rows:
                try:
                    entry = _entry_of_row(_path_of(row[0]), row[:-1])
                except (ValueError, TypeError):
                    stale.append((row[0], row[-1], row[1], row[2]))
                    continue
                if file_stat(entry.path) != entry.stat:
                    stale.append((row[0], row[-1], row[1], row[2]))

            def delete(c: sqlite3.Connection) -> int:
                before = c.total_changes
                c.executemany("DELETE FROM hashes WHERE path IS ? AND params IS ? AND size IS ? AND mtime_ns IS ?",
                              stale)  # a row rewritten meanwhile (new size/mtime) stays
                removed = c.total_changes - before
                c.execute("DELETE FROM params WHERE key NOT IN (SELECT DISTINCT params FROM hashes)")
                return removed

            removed = self._retry(lambda: _in_transaction(conn, delete))
            if vacuum and removed:
                try:
                    conn.execute("VACUUM")
                except sqlite3.OperationalError as exc:  # busy: other users; pages are reused anyway
                    logger.info("Hash cache %s: VACUUM skipped (%s).", self.path, exc)
            return int(removed)

        return self._run("prune", sweep, 0)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error:  # pragma: no cover
                    pass
                self._conn = None
            self.enabled = False

    def __enter__(self) -> "HashCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HashCache({os.fspath(self.path)!r}{'' if self.enabled else ', disabled'})"


def open_cache(spec: CacheSpec) -> HashCache | None:
    """A :class:`HashCache` from the ``cache=`` argument of :class:`~undouble.Undouble`.

    ``None``/``False``: no cache; ``True``: the default file; a path: that file;
    a :class:`HashCache`: itself.  A cache that cannot be opened gives None and a
    warning; a file that is not an undouble cache (:class:`NotACacheError`) gives
    None and an error message, and is left as it is: the run goes on without a
    cache.
    """
    if spec is None or spec is False:
        return None
    if isinstance(spec, HashCache):
        return spec if spec.enabled else None
    try:
        cache = HashCache(None if spec is True else spec)
    except NotACacheError as exc:
        logger.error("Hash cache refused: %s. Continuing without a cache.", exc)
        return None
    return cache if cache.enabled else None
