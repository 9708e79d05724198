"""The streaming import: decode, preprocess and hash files across threads (:func:`ingest`)."""
from __future__ import annotations

import mmap
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .._logging import logger, progress
from ..batches import concat_batches
from .files import ImageReadError
from .decode import (DEFAULT_MAX_PIXELS, DecodedImage, LoadedFile, _read_checked, decode_bytes_estimate,
                     finish_decoded, pillow_size_check_off)
from .messages import MessageLog, StderrCapture
from .measure import UNMEASURED, Measures, measure_decoded, thumbnail_maker
from .storage import DEFAULT_IMAGE_MEMORY_LIMIT, choose_storage, disk_array, populated_empty

DEFAULT_CHUNK = 256
"""Images hashed together (and written to the image store together)."""

DECODE_BATCH = 8
"""Files each decoding task takes in turn (:func:`map_threads`' ``batch``)."""

DEFAULT_DECODE_MEMORY = 2 * 1024 ** 3
"""Bytes of pixels all decoding threads together may hold at once (see :class:`ByteBudget`)."""


class ByteBudget:
    """A budget of bytes shared by threads: each reserves what it needs before it starts.

    Requests are served in the order they came (a large one is not starved by a
    stream of small ones); a request larger than the whole budget runs alone.

    Parameters
    ----------
    total : int
        Bytes that may be reserved at once.

    Examples
    --------
    >>> budget = ByteBudget(1000)
    >>> with budget.reserve(600):
    ...     budget.in_use
    600
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, int(total))
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the body (waits until they fit, or nothing else is held)."""
        nbytes = max(0, int(nbytes))
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving or (self.in_use and self.in_use + nbytes > self.total):
                self._cond.wait()
            self._serving += 1
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


def default_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``None`` or -1 (any value < 1) means all cores."""
    if n_jobs is None or n_jobs < 1:
        return max(1, os.cpu_count() or 1)
    return int(n_jobs)


def map_threads(func: Callable[[Any], Any], items: Sequence, n_jobs: int | None, bar: Any = None,
                window: int | None = None, batch: int = 1) -> Iterator[Any]:
    """Apply ``func`` to ``items`` on a thread pool, yielding results in order.

    At most ``window`` calls (default ``8 * threads``, at least 16) are
    submitted ahead of the one being yielded (in whole batches, and at least
    two batches per thread, so that no thread waits for the slowest batch
    before it), so that memory holds only a bounded number of results however
    long ``items`` is. Each task runs ``func`` on ``batch`` consecutive items:
    fewer tasks mean fewer thread wake-ups. ``bar`` (a tqdm bar) is advanced
    once per item.
    """
    workers = default_jobs(n_jobs)
    if workers == 1 or len(items) <= 1:
        for item in items:
            yield func(item)
            if bar is not None:
                bar.update(1)
        return
    window = max(16, 8 * workers) if window is None else max(1, int(window))
    batch = max(1, min(int(batch), window))
    chunks = (items[start:start + batch] for start in range(0, len(items), batch))

    def run(chunk: Sequence) -> list:
        return [func(item) for item in chunk]

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="undouble-decode") as pool:
        pending: deque[Future] = deque()
        ahead = max(window // batch, 2 * workers if batch > 1 else 1)
        try:
            for chunk in chunks:
                pending.append(pool.submit(run, chunk))
                if len(pending) >= ahead:
                    break
            while pending:
                results = pending.popleft().result()
                for chunk in chunks:
                    pending.append(pool.submit(run, chunk))
                    break
                for result in results:
                    yield result
                    if bar is not None:
                        bar.update(1)
        finally:
            for fut in pending:
                fut.cancel()


def hash_in_chunks(images: Any, hash_fn: Callable[[np.ndarray], Any], chunk: int = DEFAULT_CHUNK,
                   desc: str = "hash") -> Any:
    """``hash_fn`` over ``images`` (an array, memmap or indexable) ``chunk`` rows at a time.

    Memory holds one chunk of images at a time (plus the hashes), so a
    memory-mapped stack is never read whole.
    """
    n = len(images)
    batches = []
    with progress(total=n, desc=desc, unit="img") as bar:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = images[start:stop]
            batches.append(hash_fn(np.ascontiguousarray(block)))
            bar.update(stop - start)
    return concat_batches(batches)


@dataclass
class Ingested:
    """What :func:`ingest` read.

    Attributes
    ----------
    paths : list of str
        The files that were read, in input order (skipped files left out).
    images : np.ndarray, np.memmap or None
        Their preprocessed images, ``(N, H, W)`` or ``(N, H, W, 3)`` uint8
        (None when ``storage == 'none'``).
    storage : str
        ``'memory'``, ``'disk'`` or ``'none'``.
    hashes : HashBatch or None
        Hashes of the rows by ``hash_fn`` (None without ``hash_fn``, or when
        it failed: the error is logged and hashing is left to later).
    resolution : np.ndarray
        ``(N, 2)`` int64 original ``(width, height)``.
    filestats : list of (int, int)
        ``(size, mtime_ns)`` of each file when it was read.
    skipped : list of (str, str)
        ``(path, reason)`` of every file that could not be used.
    hash_error : str or None
        Why ``hash_fn`` failed, if it did.
    sharpness : np.ndarray
        ``(N,)`` float64 sharpness of each image on the canonical scale
        (:mod:`undouble.io.measure`; NaN when not measured). ``blur`` is
        the same array.
    sharpness_pixels : np.ndarray
        ``(N,)`` int64 pixel count of the canonical image each sharpness was
        measured on (0 when not measured). ``blur_pixels`` is the same array.
    is_grey : np.ndarray
        ``(N,)`` bool: the decoded image is greyscale.
    thumbs : np.ndarray or None
        ``(N, B)`` uint8 verification thumbnails
        (:func:`undouble.verify.make_thumbnail`), None when that module is
        not installed or nothing was measured.
    damaged : np.ndarray
        ``(N,)`` bool: the decoder reported corrupt or missing data
        (:func:`undouble.io.messages.is_damage`); the pixels are what it made of it.
    warnings : dict
        ``{path: [message, ...]}`` of what the decoders printed about each kept
        file (files without messages left out).
    """

    paths: list[str]
    images: np.ndarray | None
    storage: str
    hashes: Any
    resolution: np.ndarray
    filestats: list[tuple[int, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hash_error: str | None = None
    sharpness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    sharpness_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    damaged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    warnings: dict[str, list[str]] = field(default_factory=dict)
    is_grey: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    thumbs: np.ndarray | None = None

    @property
    def blur(self) -> np.ndarray:
        """The sharpness (its name before it was measured on the canonical scale)."""
        return self.sharpness

    @property
    def blur_pixels(self) -> np.ndarray:
        """The pixel count each sharpness was measured on."""
        return self.sharpness_pixels


def stack_thumbs(thumbs: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """``(N, B)`` uint8 stack of thumbnail records; None when any is missing or they differ in size."""
    if not thumbs or any(t is None for t in thumbs):
        return None
    sizes = {int(t.size) for t in thumbs}  # type: ignore[union-attr]
    if len(sizes) != 1:
        return None
    return np.stack([np.asarray(t, np.uint8).reshape(-1) for t in thumbs])  # type: ignore[union-attr]


@dataclass
class _Rows:
    """What :func:`ingest` keeps of each readable file (:class:`LoadedFile` less its image), in input order."""

    capacity: int = 0
    paths: list[str] = field(default_factory=list)
    resolution: list[tuple[int, int]] = field(default_factory=list)
    filestats: list[tuple[int, int]] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    sharpness_pixels: list[int] = field(default_factory=list)
    is_grey: list[bool] = field(default_factory=list)
    thumbs: np.ndarray | None = None  # (capacity, B): each record written in place, never a list of arrays
    thumbs_whole: bool = True  # every row so far has a record of the same size

    def append(self, path: str, loaded: LoadedFile, measures: Measures) -> None:
        row = len(self.paths)
        self.paths.append(path)
        self.resolution.append(loaded.resolution)
        self.filestats.append(loaded.filestat)
        thumb = measures.thumb
        if thumb is None:
            self.thumbs_whole = False
        elif self.thumbs_whole:
            flat = np.asarray(thumb, np.uint8).reshape(-1)
            if self.thumbs is None:
                self.thumbs = populated_empty((max(self.capacity, row + 1), flat.size), np.uint8)
            if flat.size != self.thumbs.shape[1]:
                self.thumbs_whole = False
            else:
                if row >= self.thumbs.shape[0]:  # more rows than announced: grow
                    self.thumbs = np.concatenate([self.thumbs, np.empty_like(self.thumbs)])
                self.thumbs[row] = flat
        self.sharpness.append(measures.sharpness)  # the record itself is not kept: its thumbnail is copied
        self.sharpness_pixels.append(measures.sharpness_pixels)
        self.is_grey.append(measures.is_grey)

    def stacked_thumbs(self) -> np.ndarray | None:
        """``(N, B)`` records of the rows (as :func:`stack_thumbs`); None when any is missing or they differ."""
        n = len(self.paths)
        if not n or not self.thumbs_whole or self.thumbs is None:
            return None
        return self.thumbs[:n].copy() if n < 0.9 * self.thumbs.shape[0] else self.thumbs[:n]


def _release_pages(store: np.ndarray, start: int, length: int) -> None:
    """Unmap written pages of a memory-mapped store from this process (they stay in the file).

    Written pages of a shared file mapping count in the process's resident
    memory until the kernel reclaims them; ``MADV_DONTNEED`` hands them back
    at once (the data stays in the page cache and the file, and is read back
    when used), so that a store of 1.4 GB does not make a 1.4 GB process.
    """
    mapping = getattr(store, "_mmap", None)
    if mapping is None or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    first = start - start % mmap.PAGESIZE
    try:
        mapping.madvise(mmap.MADV_DONTNEED, first, start + length - first)
    except (OSError, ValueError):
        pass


_RAW_BYTES_LIMIT = 256 * 1024 ** 2
"""Decoded pixels held while the kernels load (see :func:`ingest`)."""


def _load_kernels(row_shape: tuple[int, ...], dim: tuple[int, int], grayscale: bool, measure: Callable | None,
                  hash_fn: Callable[[np.ndarray], Any] | None) -> tuple[threading.Thread, threading.Event]:
    """Load the preprocessing and hash kernels in a background thread.

    The first call of a Numba kernel in a process costs about a second (Numba's
    own start-up, the imports its extensions pull in, the machine code read from
    its cache; minutes with a cold cache). Made here on tiny inputs of the same
    types as the real ones, it overlaps the decoding (which needs no kernel)
    instead of stalling it. The event is set when the thread is done, whatever
    happened: the real calls report any problem.
    """
    ready = threading.Event()

    def run() -> None:
        try:
            dummy = DecodedImage(np.zeros((2 * dim[1] + 1, 2 * dim[0] + 1, 3), np.uint8), 1, 1)
            finish_decoded(dummy, dim, grayscale, False)
            if measure is not None:
                measure(dummy)
            if hash_fn is not None:
                hash_fn(np.zeros((1,) + row_shape, np.uint8))
        except Exception:
            pass
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="undouble-load-kernels", daemon=True)
    thread.start()
    return thread, ready


def ingest(paths: Sequence[str], dim: tuple[int, int], grayscale: bool = False, *,
           hash_fn: Callable[[np.ndarray], Any] | None = None, keep_images: Any = "auto",
           image_memory_limit: int = DEFAULT_IMAGE_MEMORY_LIMIT, n_jobs: int | None = None,
           max_pixels: int = DEFAULT_MAX_PIXELS, chunk: int = DEFAULT_CHUNK, backend: str = "auto",
           store_dir: str | None = None, desc: str = "import", measure_blur: bool = True,
           decode_memory: int = DEFAULT_DECODE_MEMORY, capture_messages: bool = True,
           keep_above_limit: str = "none") -> Ingested:
    """Decode, preprocess and hash files in a stream across threads.

    Worker threads decode and preprocess one file each (OpenCV and Pillow
    release the GIL while decoding); the calling thread collects the small
    preprocessed images in input order, hashes them ``chunk`` at a time with
    ``hash_fn`` and writes them to the image store. Memory holds the full
    pixels of at most ``n_jobs`` files at once, and of no more than
    ``decode_memory`` bytes of them (estimated from each header before
    decoding; a larger file decodes alone), a bounded queue of preprocessed
    images, one chunk and the hashes.

    What the C decoders print on stderr while decoding is captured, attributed
    to the files (``Ingested.warnings``, and at the debug level of the log) and
    decides ``Ingested.damaged`` (:mod:`undouble.io.messages`); the progress bar
    and the log still show on the real stderr.

    Parameters
    ----------
    paths : sequence of str
        Files, in the order of the output rows.
    dim : (int, int)
        ``(width, height)`` of the preprocessed images.
    grayscale : bool
        Preprocess to grey (``H x W`` rows).
    hash_fn : callable, optional
        ``hash_fn(stack) -> HashBatch`` on a stack of preprocessed images.
    keep_images : {'auto', True, 'memory', 'disk', False, 'none'}
        Where the preprocessed images are kept (:func:`choose_storage`).
    image_memory_limit : int
        Bytes of preprocessed images ``'auto'`` keeps in memory.
    n_jobs : int, optional
        Decoding threads (default: all cores).
    max_pixels : int
        Larger images are skipped before decoding.
    chunk : int
        Images per hashing call.
    backend : {'auto', 'pillow'}
        See :func:`read_image`.
    store_dir : str, optional
        Folder of the memory-mapped store (default :func:`image_store_dir`).
    desc : str
        Label of the progress bar.
    measure_blur : bool
        Measure every decoded image (:func:`undouble.io.measure.measure_decoded`:
        sharpness on the canonical scale for the keeper ranking, greyness,
        and the verification thumbnail when :mod:`undouble.verify` exists);
        it costs a few percent of the decoding.
    decode_memory : int
        Bytes of decoded pixels all threads together may hold at once
        (:data:`DEFAULT_DECODE_MEMORY`, :data:`~undouble.io.decode.DECODE_BYTES_PER_PIXEL`
        per decoded pixel).
    capture_messages : bool
        Capture the decoders' messages (see above); False leaves stderr alone.
    keep_above_limit : {'none', 'disk'}
        Where ``keep_images='auto'`` keeps images past ``image_memory_limit``
        (:func:`choose_storage`'s ``above_limit``).

    Returns
    -------
    Ingested
    """
    paths = list(paths)
    dim = (int(dim[0]), int(dim[1]))
    row_shape = (dim[1], dim[0]) if grayscale else (dim[1], dim[0], 3)
    row_bytes = int(np.prod(row_shape))
    storage = choose_storage(keep_images, len(paths), row_bytes, image_memory_limit, store_dir, keep_above_limit)
    if storage == "memory":
        store: np.ndarray | None = populated_empty((len(paths),) + row_shape, np.uint8)
    elif storage == "disk":
        store = disk_array((len(paths),) + row_shape, store_dir)
    else:
        store = None
    chunk = max(1, int(chunk))
    buffer = np.empty((min(chunk, max(1, len(paths))),) + row_shape, np.uint8)
    rows = _Rows(capacity=len(paths))
    skipped: list[tuple[str, str]] = []
    batches: list[Any] = []
    hash_error: str | None = None
    filled = 0

    # The kernels load in the background while the workers decode: until they
    # are ready a worker hands back the decoded pixels (``raw``), which this
    # thread queues (up to _RAW_BYTES_LIMIT) and finishes once they are.
    thumbnail = thumbnail_maker() if measure_blur else None

    def finish(decoded: DecodedImage) -> tuple[LoadedFile, Measures]:
        loaded = finish_decoded(decoded, dim, grayscale, False)
        if not measure_blur:
            return loaded, UNMEASURED
        try:
            return loaded, measure_decoded(decoded.pixels, decoded.width, decoded.height, thumbnail,
                                           colour_sample=loaded.image)
        except MemoryError:
            raise ImageReadError("not enough memory to measure this image") from None
        except Exception as exc:  # a measuring bug must not stop a run of 100,000 files
            raise ImageReadError(f"unexpected error while measuring: {type(exc).__name__}: {exc}") from None

    loader, ready = _load_kernels(row_shape, dim, grayscale, finish if measure_blur else None, hash_fn)
    raw: deque[tuple[str, DecodedImage]] = deque()
    raw_bytes = 0

    budget = ByteBudget(decode_memory)
    capture = StderrCapture()
    messages = MessageLog(capture)

    def work(path: str):
        try:
            with ExitStack() as held:  # the budget is reserved once the header is read, held until finished
                with messages.watch(path):
                    decoded = _read_checked(path, dim, max_pixels, backend,
                                            lambda nbytes: held.enter_context(budget.reserve(nbytes)))
                if not ready.is_set():
                    return decoded, None
                return finish(decoded), None
        except ImageReadError as exc:
            return None, str(exc)

    def decode_again(path: str) -> None:
        with budget.reserve(decode_bytes_estimate(path, dim, max_pixels)):
            _read_checked(path, dim, max_pixels, backend)

    def flush() -> None:
        nonlocal filled, hash_error
        if not filled:
            return
        block = buffer[:filled]
        ready.wait()  # the first call has to finish loading the kernels before the second starts
        if hash_fn is not None and hash_error is None:
            try:
                batches.append(hash_fn(block))
            except Exception as exc:  # the method, not the files: compute_hash() will report it
                hash_error = f"{type(exc).__name__}: {exc}"
                logger.debug("Hashing during import failed (%s); compute_hash() will hash.", hash_error)
        if store is not None:
            start = len(rows.paths) - filled
            store[start:start + filled] = block
            if storage == "disk":
                _release_pages(store, start * row_bytes, filled * row_bytes)
        filled = 0

    def add(path: str, done: tuple[LoadedFile, Measures]) -> None:
        nonlocal filled
        loaded, measures = done
        buffer[filled] = loaded.image
        filled += 1
        rows.append(path, loaded, measures)
        if filled == buffer.shape[0]:
            flush()

    def finish_raw() -> None:
        nonlocal raw_bytes
        ready.wait()
        while raw:
            path, decoded = raw.popleft()
            try:
                add(path, finish(decoded))
            except ImageReadError as exc:
                skipped.append((path, str(exc)))
        raw_bytes = 0

    with ExitStack() as phase:
        phase.enter_context(pillow_size_check_off())
        if capture_messages:
            phase.enter_context(capture)  # before the bar, so that the bar writes to the real stderr
        bar = phase.enter_context(progress(total=len(paths), desc=desc, unit="img"))
        for path, (loaded, reason) in zip(paths, map_threads(work, paths, n_jobs, bar, batch=DECODE_BATCH)):
            if loaded is None:
                if raw:  # keep the input order of the rows and of the skipped list
                    finish_raw()
                skipped.append((path, reason))
                bar.set_postfix(skipped=len(skipped), refresh=False)
                continue
            if isinstance(loaded, DecodedImage):
                raw.append((path, loaded))
                raw_bytes += loaded.pixels.nbytes
                if ready.is_set() or raw_bytes > _RAW_BYTES_LIMIT:
                    finish_raw()
                continue
            if raw:
                finish_raw()
            add(path, loaded)
        if raw:
            finish_raw()
        flush()
        bar.close()
        messages.resolve(decode_again, paths)
    loader.join()

    images: np.ndarray | None = None
    if store is not None:
        n = len(rows.paths)
        if storage == "memory" and n < len(paths):
            images = store[:n].copy() if n < 0.9 * len(paths) else store[:n]
        else:
            images = store[:n]
    hashes = None if (hash_fn is None or hash_error is not None) else concat_batches(batches)
    for path, reason in skipped:
        for line in messages.messages.get(path, ()):
            logger.debug("%s (skipped: %s): decoder says: %s", path, reason, line)
    damaged = np.fromiter((messages.damaged(p) for p in rows.paths), dtype=bool, count=len(rows.paths))
    notes = {p: list(messages.messages[p]) for p in rows.paths if messages.messages.get(p)}
    return Ingested(rows.paths, images, storage, hashes,
                    np.asarray(rows.resolution, dtype=np.int64).reshape(-1, 2), rows.filestats, skipped, hash_error,
                    np.asarray(rows.sharpness, dtype=np.float64),
                    np.asarray(rows.sharpness_pixels, dtype=np.int64), damaged, notes,
                    np.asarray(rows.is_grey, dtype=bool),
                    rows.stacked_thumbs())
