"""Files behind fsspec URLs (``s3://``, ``gs://``, ``file://``, ``memory://``, ...): listing and reading.

fsspec and the file system's own package (s3fs, gcsfs, ...) are imported
only when a URL is used, so that the core install stays light; install them
with ``pip install "undouble[dask]"``. Credentials come from where the file
system looks for them (for S3 the standard ``AWS_*`` environment variables and
files); ``storage_options`` are passed to it unchanged (e.g.
``{"endpoint_url": "http://127.0.0.1:9000"}`` for an S3-compatible server).

A file is named by its URL: the URL given, ``/``, and its path below it.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .io.files import OUTPUT_FOLDER, ImageReadError, normalise_extensions

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(target: Any) -> bool:
    """Whether ``target`` is a string of the form ``protocol://...`` (an fsspec URL)."""
    return isinstance(target, str) and bool(_URL.match(target))


def protocol_of(url: str) -> str:
    """The protocol of a URL (``'s3'`` for ``s3://bucket/key``), lower case."""
    return url.split("://", 1)[0].lower()


def _fsspec():
    try:
        import fsspec
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise ImportError('reading URLs needs fsspec (and s3fs for s3://): pip install "undouble[dask]"') from None
    return fsspec


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path within it.

    Raises
    ------
    ImportError
        When fsspec, or the package of the protocol (s3fs, gcsfs, ...), is missing.
    """
    fs, path = _fsspec().core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path


@dataclass(frozen=True)
class RemoteFile:
    """One listed file.

    Attributes
    ----------
    name : str
        Its URL (or local path), the name used in ``results['pathnames']``.
    size : int
        Bytes.
    mtime_ns : int
        Modification time in ns since the epoch (0 when the store gives none).
    version : str
        What changes when the content does: the ETag where the store gives
        one, else the modification time.
    """

    name: str
    size: int
    mtime_ns: int
    version: str


def _mtime_ns(info: Mapping[str, Any]) -> int:
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return int(round(value.timestamp() * 1e9))
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds):
            return int(round(seconds * 1e9))
    return 0


def file_version(info: Mapping[str, Any]) -> tuple[int, str]:
    """``(mtime_ns, version)`` of a file from its fsspec ``info`` dict (ETag first, else the time)."""
    mtime = _mtime_ns(info)
    for key in ("ETag", "etag", "md5Hash", "md5"):
        if info.get(key):
            return mtime, f"etag:{str(info[key]).strip(chr(34))}"
    return mtime, f"mtime:{mtime}"


def list_files(url: str, ext: Iterable[str] | str | None = None,
               storage_options: Mapping[str, Any] | None = None) -> tuple[list[RemoteFile], list[tuple[str, str]]]:
    """The image files at or under ``url``, sorted by URL.

    Extensions match case-insensitively; folders (prefixes) named
    ``undouble`` are skipped at any depth, as :func:`undouble.io.list_images`
    does. A URL naming one file gives that file whatever its extension.

    Returns
    -------
    files : list of RemoteFile
    skipped : list of (str, str)
        Always empty today (kept for the shape of :func:`list_images`).

    Raises
    ------
    FileNotFoundError
        When nothing exists at ``url``.
    """
    fs, root = filesystem(url, storage_options)
    base = url.rstrip("/")
    try:
        if fs.isfile(root):
            info = fs.info(root)
            mtime, version = file_version(info)
            return [RemoteFile(url, int(info.get("size") or 0), mtime, version)], []
        found = fs.find(root, detail=True)
        if not found and not fs.exists(root):
            raise FileNotFoundError(f"nothing found at {url}")
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:  # credentials, endpoint, network: say which URL, in the store's words
        raise OSError(f"cannot list {url}: {type(exc).__name__}: {exc}") from exc
    exts = normalise_extensions(ext)
    root_path = root.rstrip("/")
    files = []
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = path[len(root_path):].lstrip("/") if path.startswith(root_path) else path
        parts = rel.split("/")
        if any(p.lower() == OUTPUT_FOLDER for p in parts[:-1]):
            continue
        name = parts[-1]
        if "." not in name or name.rsplit(".", 1)[-1].lower() not in exts:
            continue
        mtime, version = file_version(info)
        files.append(RemoteFile(f"{base}/{rel}", int(info.get("size") or 0), mtime, version))
    files.sort(key=lambda f: f.name)
    return files, []


def local_files(paths: Iterable[str]) -> tuple[list[RemoteFile], list[tuple[str, str]]]:
    """:class:`RemoteFile` of local paths (size and time from ``os.stat``); unreadable ones are skipped."""
    files, skipped = [], []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            skipped.append((path, f"cannot read file: {exc.strerror or exc}"))
            continue
        files.append(RemoteFile(path, int(st.st_size), int(st.st_mtime_ns), f"mtime:{int(st.st_mtime_ns)}"))
    return files, skipped


def read_url(url: str, storage_options: Mapping[str, Any] | None = None, fs: Any = None) -> bytes:
    """All the bytes of the file at ``url``.

    Raises
    ------
    ImageReadError
        With the reason (not found, permission denied, any store error).
    """
    try:
        if fs is None:
            fs, path = filesystem(url, storage_options)
        else:
            path = fs._strip_protocol(url)
        with fs.open(path, "rb") as fh:
            return fh.read()
    except ImportError:
        raise
    except Exception as exc:
        raise read_error(exc) from None


def read_error(exc: BaseException) -> ImageReadError:
    """The skip reason of an exception raised while reading a URL."""
    if isinstance(exc, FileNotFoundError):
        return ImageReadError("file not found (vanished since it was listed?)")
    if isinstance(exc, PermissionError):
        return ImageReadError(f"permission denied: {exc}")
    if isinstance(exc, IsADirectoryError):
        return ImageReadError("not a regular file (a folder)")
    # network, credentials, throttling: the store's own words
    return ImageReadError(f"cannot read file: {type(exc).__name__}: {exc}")


def fetch_many(urls: Sequence[str], storage_options: Mapping[str, Any] | None = None
               ) -> dict[str, bytes | ImageReadError]:
    """The bytes of several URLs, fetched together (concurrently on async stores such as s3fs, gcsfs).

    Returns
    -------
    dict
        URL to its bytes, or to the :class:`ImageReadError` saying why it cannot be read.
    """
    by_protocol: dict[str, list[str]] = {}
    for url in urls:
        by_protocol.setdefault(protocol_of(url), []).append(url)
    out: dict[str, bytes | ImageReadError] = {}
    for names in by_protocol.values():
        fs, _ = filesystem(names[0], storage_options)
        paths = {fs._strip_protocol(n): n for n in names}
        try:
            got = fs.cat(list(paths), on_error="return")
        except Exception as exc:  # the whole request failed: every file gets the reason
            got = {p: exc for p in paths}
        for path, name in paths.items():
            value = got.get(path, FileNotFoundError(name)) if isinstance(got, dict) else got
            out[name] = value if isinstance(value, (bytes, bytearray)) else read_error(value)
    return out
