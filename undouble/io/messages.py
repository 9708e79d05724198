"""What the C decoders print on stderr, captured during an import and attached to the files.

libjpeg (``Corrupt JPEG data: ...``, ``Premature end of JPEG file``) and libpng
(``libpng warning: iCCP: ...``) inside OpenCV write their warnings straight to
the process's stderr (file descriptor 2), from C: no Python hook sees them, and
they land in the middle of the progress bars.  They also say something about the
file: libjpeg only *warns* when a JPEG's data ends before the rows its header
promises, and fills the rest in grey.

How it works
------------
* :class:`StderrCapture` points file descriptor 2 at a temporary file once for
  the whole decoding phase (not per file: moving fd 2 is process-wide, so doing
  it around each decode would race between threads).  Python's own stderr
  writers (``sys.stderr`` when it is fd 2, and the log handlers writing to it,
  which the progress bars follow) are given a stream on the original stderr, so
  they still show.  When the phase ends, fd 2 is put back.
* :class:`MessageLog` attributes what was written to the files being decoded: a
  decode that ran alone owns the text written meanwhile; a decode that overlapped
  others while text appeared is a *suspect* and is decoded once more, alone, after
  the parallel phase (only suspects are).  Text that no file claims (another
  thread of the program, a message the second decode did not repeat) is written
  to the real stderr when the phase ends: no message is lost.
* Two imports at once (two threads) share one redirection; the last to finish
  puts stderr back.
* :func:`is_damage` tells which messages mean missing or corrupt data (the file
  is then *damaged*), as opposed to harmless notes such as a non-standard colour
  profile.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from .._logging import logger

__all__ = ["MessageLog", "StderrCapture", "is_damage"]

_DAMAGE = re.compile(r"corrupt|premature end|truncat|crc error|bad huffman|data error|unexpected end|"
                     r"invalid (?:jpeg|huffman|image|block)|not enough image data|extraneous bytes", re.IGNORECASE)


def is_damage(message: str) -> bool:
    """Whether a decoder message means corrupt or missing image data.

    ``Corrupt JPEG data: ...``, ``Premature end of JPEG file``, a CRC error, a
    truncated stream: yes.  ``libpng warning: iCCP: known incorrect sRGB
    profile`` and similar notes on metadata: no.
    """
    return bool(_DAMAGE.search(message))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class _Redirect:
    """The process-wide redirection of fd 2, shared by every capture in force (reference counted)."""

    def __init__(self) -> None:
        self.users = 0
        self.tmp: Any = None
        self.saved_fd: int | None = None
        self.real: Any = None
        self.swapped: list[tuple[Any, str, Any]] = []
        self.decoding = 0          # decodes being watched now (all pipelines)
        self.alone_wanted = 0      # second decodings waiting to run alone
        self.alone_running = False
        self.starts = 0            # decodes watched so far
        self.claimed: list[tuple[int, int]] = []  # ranges whose text belongs to a file
        self.owned: Counter = Counter()           # lines a second decoding gave back to a file

    def open(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        self.tmp = tempfile.TemporaryFile(prefix="undouble-stderr-")
        try:
            self.saved_fd = os.dup(2)
            os.dup2(self.tmp.fileno(), 2)
        except BaseException:
            self.tmp.close()
            if self.saved_fd is not None:
                os.close(self.saved_fd)
            raise
        try:
            encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
            self.real = os.fdopen(os.dup(self.saved_fd), "w", buffering=1, encoding=encoding,
                                  errors="backslashreplace")
        except (OSError, ValueError):  # pragma: no cover - Python's own writers are then captured too
            self.real = None
        if self.real is not None:
            self._route_python_writers()

    def _route_python_writers(self) -> None:
        """Python's writers on fd 2 (``sys.stderr``, log handlers) keep writing to the real stderr."""
        if _on_fd2(sys.stderr):
            self.swapped.append((sys, "stderr", sys.stderr))
            sys.stderr = self.real
        seen: set[int] = set()
        for name in (None, "undouble"):
            for handler in logging.getLogger(name).handlers:
                if id(handler) in seen or not isinstance(handler, logging.StreamHandler):
                    continue
                seen.add(id(handler))
                if _on_fd2(handler.stream):
                    handler.acquire()
                    try:
                        self.swapped.append((handler, "stream", handler.stream))
                        handler.stream = self.real
                    finally:
                        handler.release()

    def position(self) -> int:
        try:
            return os.fstat(self.tmp.fileno()).st_size
        except OSError:  # pragma: no cover
            return 0

    def text(self, start: int, stop: int) -> str:
        if stop <= start:
            return ""
        return os.pread(self.tmp.fileno(), stop - start, start).decode("utf-8", "replace")

    def write_through(self, text: str) -> None:
        if not text:
            return
        if self.real is not None:
            self.real.write(text)
            self.real.flush()
        elif self.saved_fd is not None:  # pragma: no cover
            os.write(self.saved_fd, text.encode("utf-8", "backslashreplace"))

    def close(self) -> None:
        """Write the text no file claimed to the real stderr, then put fd 2 and the writers back."""
        unclaimed, pos = [], 0
        for start, stop in sorted(self.claimed):
            if start > pos:
                unclaimed.extend(_lines(self.text(pos, start)))
            pos = max(pos, stop)
        unclaimed.extend(_lines(self.text(pos, self.position())))
        left = [line for line in unclaimed if self.owned[line] <= 0]  # else repeated by a suspect's decoding
        self.write_through("".join(f"{line}\n" for line in left))
        for owner, attr, old in reversed(self.swapped):
            if isinstance(owner, logging.Handler):
                owner.acquire()
                try:
                    setattr(owner, attr, old)
                finally:
                    owner.release()
            else:
                setattr(owner, attr, old)
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):  # pragma: no cover
            pass
        os.dup2(self.saved_fd, 2)
        for closer in (getattr(self.real, "close", None), self.tmp.close):
            if closer is not None:
                try:
                    closer()
                except OSError:  # pragma: no cover
                    pass
        os.close(self.saved_fd)


_REDIRECT_LOCK = threading.RLock()
_REDIRECT_TURN = threading.Condition(_REDIRECT_LOCK)  # a second decoding waits for the others to finish
_REDIRECT: _Redirect | None = None


class StderrCapture:
    """File descriptor 2 redirected to a temporary file while inside ``with``.

    Captures in force at once (two imports in two threads) share one
    redirection; the last one to leave puts stderr back and writes there what
    no file claimed.  ``active`` is False when fd 2 cannot be redirected (no
    fd 2, a platform without ``dup2``): nothing is captured then and stderr is
    left as it is.
    """

    def __init__(self) -> None:
        self.active = False
        self._redirect: _Redirect | None = None

    def __enter__(self) -> "StderrCapture":
        global _REDIRECT
        with _REDIRECT_LOCK:
            if _REDIRECT is None:
                redirect = _Redirect()
                try:
                    redirect.open()
                except (OSError, ValueError, AttributeError) as exc:
                    logger.debug("Decoder messages are not captured (%s).", exc)
                    return self
                _REDIRECT = redirect
            _REDIRECT.users += 1
            self._redirect = _REDIRECT
            self.active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        global _REDIRECT
        if not self.active:
            return
        with _REDIRECT_LOCK:
            self.active = False
            redirect, self._redirect = self._redirect, None
            redirect.users -= 1
            if redirect.users == 0:
                _REDIRECT = None
                redirect.close()

    def position(self) -> int:
        """Bytes written to the capture so far."""
        return self._redirect.position() if self.active else 0

    def text(self, start: int, stop: int) -> str:
        """What was written between two positions."""
        return self._redirect.text(start, stop) if self.active else ""

    def begin(self, alone: bool = False) -> tuple[int, int, int]:
        """A watched decode starts: ``(position, its number, decodes already running)``.

        With ``alone``, it first waits until no other watched decode runs (in any
        import of the process), and none starts until it ends.
        """
        with _REDIRECT_TURN:
            redirect = self._redirect
            if alone:
                redirect.alone_wanted += 1
                while redirect.decoding or redirect.alone_running:
                    _REDIRECT_TURN.wait()
                redirect.alone_wanted -= 1
                redirect.alone_running = True
            else:
                while redirect.alone_running or redirect.alone_wanted:
                    _REDIRECT_TURN.wait()
            others = redirect.decoding
            redirect.decoding += 1
            redirect.starts += 1
            return redirect.position(), redirect.starts, others

    def end(self, number: int, others: int, alone: bool = False) -> tuple[int, bool]:
        """A watched decode ends: ``(position, whether it ran alone)``."""
        with _REDIRECT_TURN:
            redirect = self._redirect
            redirect.decoding -= 1
            if alone:
                redirect.alone_running = False
            _REDIRECT_TURN.notify_all()
            return redirect.position(), others == 0 and redirect.starts == number

    def claim(self, start: int, stop: int, lines: Sequence[str] = ()) -> None:
        """The text in ``[start, stop)`` belongs to a file, and so do ``lines`` written elsewhere."""
        with _REDIRECT_LOCK:
            self._redirect.claimed.append((start, stop))
            self._redirect.owned.update(lines)


def _on_fd2(stream: Any) -> bool:
    try:
        return stream is not None and stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # StringIO, Jupyter's streams: not fd 2
        return False


class MessageLog:
    """Decoder messages of each file, from a :class:`StderrCapture` (see the module notes).

    Wrap each decode in :meth:`watch`; after the parallel phase call
    :meth:`resolve` with a function that decodes one file again.
    """

    def __init__(self, capture: StderrCapture) -> None:
        self.capture = capture
        self.messages: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._suspects: list[str] = []

    @contextmanager
    def watch(self, path: str) -> Iterator[None]:
        """Attribute what is written to stderr while the body decodes ``path``."""
        if not self.capture.active:
            yield
            return
        start, number, others = self.capture.begin()
        try:
            yield
        finally:
            stop, alone = self.capture.end(number, others)
            if stop > start:
                if alone:
                    with self._lock:
                        self._add(path, self.capture.text(start, stop))
                    self.capture.claim(start, stop)
                else:
                    with self._lock:
                        self._suspects.append(path)

    def _add(self, path: str, text: str) -> list[str]:
        lines = self.messages.setdefault(path, [])
        new = _lines(text)
        for line in new:
            if line not in lines:
                lines.append(line)
        return new

    def resolve(self, decode_again: Callable[[str], Any], order: Sequence[str] = ()) -> None:
        """Decode each suspect again, alone, to learn its messages; log every file's messages.

        Parameters
        ----------
        decode_again : callable
            ``decode_again(path)``; any exception is ignored (the first decode
            already decided about the file).
        order : sequence of str
            Input order, so that suspects are decoded in it (others follow).

        Notes
        -----
        Text that no file claims is written to the real stderr when the last
        capture ends (:class:`StderrCapture`).
        """
        if self.capture.active:
            rank = {p: k for k, p in enumerate(order)}
            for path in sorted(set(self._suspects), key=lambda p: (rank.get(p, len(rank)), p)):
                start, number, others = self.capture.begin(alone=True)
                try:
                    decode_again(path)
                except Exception as exc:  # noqa: BLE001 - only the messages matter here
                    logger.debug("Second decoding of %s for its messages failed: %s", path, exc)
                finally:
                    stop, alone = self.capture.end(number, others, alone=True)
                if stop > start:
                    new = self._add(path, self.capture.text(start, stop))
                    # its text of the parallel phase is the same lines, written amid the others'
                    self.capture.claim(start, stop, new if alone else ())
            self._suspects.clear()
        for path, lines in self.messages.items():
            for line in lines:
                logger.debug("%s: decoder says: %s", path, line)

    def damaged(self, path: str) -> bool:
        """Whether a message of ``path`` means corrupt or missing data."""
        return any(is_damage(line) for line in self.messages.get(path, ()))
