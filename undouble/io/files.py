"""Listing image files, and the reasons a file cannot be used.

:func:`list_images` walks a folder; every file that cannot be used raises
:class:`ImageReadError` when it is read, and the import records it as
``(path, reason)`` in ``skipped`` (``results['skipped']``), logged once by
:func:`log_skipped`. Reasons: file not found, broken symbolic link, symbolic
link loop, not a regular file, permission denied, empty file, not an image,
truncated image, corrupt image, image too large (checked from the header,
before decoding), HEIC support missing, and any unexpected decoder error.
"""
from __future__ import annotations

import errno
import os
from typing import Iterable, Sequence

from .._logging import logger, progress


DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "png", "tiff", "tif", "jpg", "jpeg", "jfif", "bmp", "webp", "gif", "heic", "heif", "avif",
)


OUTPUT_FOLDER = "undouble"


class ImageReadError(Exception):
    """A file that cannot be used as an image; the message is the reason."""


def normalise_extensions(ext: Iterable[str] | str | None) -> tuple[str, ...]:
    """Lower-case extensions without dots; ``None`` gives the defaults."""
    if ext is None:
        return DEFAULT_EXTENSIONS
    if isinstance(ext, str):
        ext = [ext]
    return tuple(e.lower().lstrip(".") for e in ext)


def _link_problem(path: str) -> str | None:
    """Why a symbolic link cannot be followed, or None when it can (or is no link)."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return "broken symbolic link"
    return None


def list_images(folder: str | os.PathLike, ext: Iterable[str] | str | None = None
                ) -> tuple[list[str], list[tuple[str, str]]]:
    """All image files under ``folder``, recursively, sorted.

    Extensions match case-insensitively; folders named ``undouble`` (the
    output folder of :meth:`Undouble.move`) are skipped at any depth.
    Symbolic links to files are followed; links to folders are not (so link
    loops cannot trap the scan). Broken links and link loops are reported as
    skipped.

    Returns
    -------
    paths : list of str
        Absolute paths, sorted.
    skipped : list of (str, str)
        Entries that could not be used, with the reason.
    """
    exts = normalise_extensions(ext)
    root = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"folder not found: {root}")
    paths: list[str] = []
    skipped: list[tuple[str, str]] = []

    def on_error(err: OSError) -> None:
        skipped.append((err.filename or root, f"folder not readable: {err.strerror}"))

    with progress(desc="scan", unit="folder") as bar:
        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
            dirnames[:] = sorted(d for d in dirnames if d.lower() != OUTPUT_FOLDER)
            bar.update(1)
            for name in filenames:
                if "." not in name or name.rsplit(".", 1)[-1].lower() not in exts:
                    continue
                path = os.path.join(dirpath, name)
                problem = _link_problem(path)
                if problem is not None:
                    skipped.append((path, problem))
                    continue
                paths.append(path)
    paths.sort()
    return paths, skipped


def _open_error(exc: OSError, path: str) -> ImageReadError:
    if isinstance(exc, PermissionError):
        return ImageReadError(f"permission denied: {exc.strerror or exc}")
    if isinstance(exc, FileNotFoundError):
        problem = _link_problem(path)
        return ImageReadError(problem or "file not found (vanished since the folder was listed?)")
    if exc.errno == errno.ELOOP:
        return ImageReadError("symbolic link loop")
    if isinstance(exc, IsADirectoryError):
        return ImageReadError("not a regular file (a folder)")
    return ImageReadError(f"cannot read file: {exc.strerror or exc}")


_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
               (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"))


def _signature(data: bytes) -> str | None:
    """The image format whose magic bytes start ``data``, or None."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return "HEIF/AVIF"
    return None


def log_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    """Log every skipped file once, with its reason."""
    for path, reason in skipped:
        logger.warning("Skipped %s: %s", path, reason)
