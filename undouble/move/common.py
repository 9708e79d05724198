"""Constants and small file helpers shared by the parts of :mod:`undouble.move`."""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from typing import Sequence, Union


logger = logging.getLogger("undouble")

PathLike = Union[str, "os.PathLike[str]"]
KeeperChoice = Union[None, PathLike, Sequence[PathLike]]

OUTPUT_DIRNAME = "undouble"
JOURNAL_PREFIX = "undouble-journal-"
JOURNAL_SUFFIX = ".jsonl"
JOURNAL_VERSION = 1
_CHUNK = 1 << 20
DRY_RUN_BANNER = "dry run: nothing was changed"

# =========================================================================== helpers
def _norm(path: PathLike) -> str:
    return os.path.abspath(os.fspath(path))


def _say(text: str) -> None:
    """print(), but a file name that is not valid UTF-8 is written as its own bytes."""
    try:
        print(text)
    except UnicodeEncodeError:
        out = sys.stdout
        encoding = getattr(out, "encoding", None) or "utf-8"
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write((text + "\n").encode(encoding, "surrogateescape"))
            buffer.flush()
        else:
            print(text.encode(encoding, "backslashreplace").decode(encoding))


def _progress_disabled() -> bool:
    return logger.getEffectiveLevel() >= logging.WARNING


def file_checksum(path: PathLike) -> str:
    """SHA-256 of a file's contents, as hex.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _sha_or_none(path: str) -> str | None:
    try:
        return file_checksum(path)
    except OSError:
        return None


def _samefile(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _fsync_file(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _suffixed(path: str, n: int) -> str:
    if n == 0:
        return path
    head, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return os.path.join(head, f"{stem}_{n}{ext}")


def _free_name(wanted: str, reserved: set[str] | None = None) -> str:
    """The first of ``wanted``, ``stem_1.ext``, ... that exists nowhere (nor in reserved)."""
    n = 0
    while True:
        candidate = _suffixed(wanted, n)
        key = os.path.normcase(candidate)
        if not os.path.lexists(candidate) and (reserved is None or key not in reserved):
            if reserved is not None:
                reserved.add(key)
            return candidate
        n += 1


class _Skip(Exception):
    """An operation that must not (or could not) be done; the message is the reason."""


class _EmptyJournal(ValueError):
    """A journal cut before its header reached the disk: nothing was done under it."""
