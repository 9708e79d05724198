"""Hashing a collection on a Dask cluster (or in threads), from local disks or fsspec URLs.

The client lists the files (metadata only), cuts the list into partitions
and submits one task per partition; each worker reads its files itself
(a local path, or the URL through fsspec), decodes, preprocesses and hashes
them with the same functions as the in-process import
(:func:`undouble.io.decode.decode_bytes` / :func:`~undouble.io.decode.read_image`,
:func:`~undouble.io.decode.finish_decoded`, :func:`undouble.hashes.compute_hashes`)
and sends back only hashes and metadata (:class:`~undouble.results_store.HashedFiles`).
With a results store (:class:`~undouble.results_store.ResultsStore`) the
worker also writes its rows there, and the client hashes only the files whose
rows are missing or stale.

Failures cost only the files concerned: a file that cannot be read is in
``skipped`` with its reason; a partition whose task fails (a worker that
died too often, ``KilledWorker``) is submitted again file by file, and a
file whose own task fails too is skipped with the error.

Without a scheduler (a URL scanned in this process, e.g. ``memory://``) the
partitions run on a thread pool, with the same code.

Dask is imported only when a scheduler is used.
"""
from __future__ import annotations

import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ._logging import logger, progress
from .results_store import HashedFiles, ResultsStore, concat_hashed
from .remote import RemoteFile, fetch_many, is_url, list_files, local_files, protocol_of, read_url

MAX_PARTITION = 256
"""Most files in one task."""
MIN_PARTITION = 8
"""Fewest files in one task (unless there are fewer files)."""
FETCH_AHEAD = 16
"""URLs fetched together by a worker (and the next batch while these are decoded)."""
PARTITIONS_PER_WORKER = 4
"""Tasks per worker at least, so that a slow partition does not leave the others idle."""


_SHIPPED_FIELDS = frozenset({"image", "resolution", "filestat", "blur", "blur_pixels"})
"""Fields of :class:`undouble.io.LoadedFile` with their own place in the results (the image stays on the worker)."""


@dataclass(frozen=True)
class HashJob:
    """What a worker needs to hash a partition (sent with every task; small).

    Attributes
    ----------
    dim, grayscale, max_pixels
        Preprocessing, as :class:`undouble.Undouble`.
    method, hash_size, hash_options
        Hash configuration.
    storage_options : dict
        fsspec options of the files' URLs.
    results : str or None
        Results store to write each partition's rows to.
    results_options : dict
        fsspec options of the results store.
    params : str or None
        Parameter key of the rows (:func:`undouble.cache.hash_params`).
    measure_blur : bool
        Measure sharpness (for the keeper ranking).
    backend : str
        Decoder choice, as :func:`undouble.io.read_image`.
    """

    dim: tuple[int, int]
    grayscale: bool
    max_pixels: int
    method: str
    hash_size: int
    hash_options: dict = field(default_factory=dict)
    storage_options: dict = field(default_factory=dict)
    results: str | None = None
    results_options: dict = field(default_factory=dict)
    params: str | None = None
    measure_blur: bool = True
    backend: str = "auto"


def decode_one(name: str, job: HashJob, data: Any = None) -> tuple[Any, int, int, str]:
    """Decode one file: ``(DecodedImage, size, mtime_ns, version)``; raises ImageReadError.

    ``name`` is a local path (read here) or a URL, whose bytes (or the
    ImageReadError of their fetch) may be given as ``data``; the version of a
    URL is left empty (the listing's stands).
    """
    from .io.decode import _read_checked, decode_bytes

    if is_url(name):
        if data is None:
            data = read_url(name, job.storage_options)
        if isinstance(data, BaseException):
            raise data
        return decode_bytes(bytes(data), job.dim, job.max_pixels, job.backend, name=name), len(data), 0, ""
    decoded = _read_checked(name, job.dim, job.max_pixels, job.backend)
    return decoded, decoded.file_size, decoded.mtime_ns, f"mtime:{decoded.mtime_ns}"


def hash_partition(files: Sequence[RemoteFile], job: HashJob) -> HashedFiles:
    """Read, decode, preprocess and hash some files (runs on a worker).

    Parameters
    ----------
    files : sequence of RemoteFile
        The partition, as listed by the client.
    job : HashJob

    Returns
    -------
    HashedFiles
        One row per usable file, in input order; the others in ``skipped``
        with their reasons. When ``job.results`` is set, the rows are also
        written to the results store (a failure to write is logged only).
    """
    from .hashes import compute_hashes
    from .io.decode import finish_decoded, pillow_size_check_off
    from .io.files import ImageReadError
    from .io.measure import UNMEASURED, measure_decoded, thumbnail_maker

    images, rows, skipped = [], [], []
    extra: dict[str, list] = {}
    thumbnail = thumbnail_maker() if job.measure_blur else None
    with pillow_size_check_off():
        for f, data in _prefetched(files, job):
            try:
                decoded, size, mtime_ns, version = decode_one(f.name, job, data)
                # the same two steps as the in-process import (undouble.io.pipeline): the preprocessed
                # image, then sharpness, greyness and the verification thumbnail of the decoded pixels
                loaded = finish_decoded(decoded, job.dim, job.grayscale, False)
            except ImageReadError as exc:
                skipped.append((f.name, str(exc)))
                continue
            try:
                measures = (measure_decoded(decoded.pixels, decoded.width, decoded.height, thumbnail,
                                            colour_sample=loaded.image) if job.measure_blur else UNMEASURED)
            except Exception as exc:  # a measuring bug costs only this file, as in-process
                skipped.append((f.name, f"unexpected error while measuring: {type(exc).__name__}: {exc}"))
                continue
            if not version:  # a URL: the listing's time and version, the size read
                mtime_ns, version = f.mtime_ns, f.version
            images.append(loaded.image)
            rows.append((f.name, size, mtime_ns, version, loaded.resolution, measures.sharpness,
                         measures.sharpness_pixels))
            if job.measure_blur:
                extra.setdefault("is_grey", []).append(bool(measures.is_grey))
                if measures.thumb is not None:
                    extra.setdefault("thumbs", []).append(np.asarray(measures.thumb, np.uint8))
            for key, value in loaded._asdict().items():  # whatever else the decoding records per file
                if key not in _SHIPPED_FIELDS:
                    extra.setdefault(key, []).append(value)
    out = HashedFiles(
        [r[0] for r in rows], np.asarray([r[1] for r in rows], np.int64), np.asarray([r[2] for r in rows], np.int64),
        [r[3] for r in rows], np.asarray([r[4] for r in rows], np.int64).reshape(-1, 2),
        np.asarray([r[5] for r in rows], np.float64), np.asarray([r[6] for r in rows], np.int64),
        None, skipped, extra=extra)
    if images:
        try:
            out.hashes = compute_hashes(np.stack(images), job.method, job.hash_size, **job.hash_options)
        except Exception as exc:  # the method, not the files: the client reports it
            out.hash_error = f"{type(exc).__name__}: {exc}"
            return out
        if job.results and job.params:
            try:
                ResultsStore(job.results, job.results_options).write(out, job.params)
            except Exception as exc:  # the hashes still go back to the client
                logger.warning("Cannot write to the results store %s: %s", job.results, exc)
    return out


def _prefetched(files: Sequence[RemoteFile], job: HashJob) -> Iterator[tuple[RemoteFile, Any]]:
    """``(file, bytes or ImageReadError)`` for URLs, ``(file, None)`` for local paths, in order.

    URLs are fetched :data:`FETCH_AHEAD` at a time with one request batch
    (:func:`undouble.remote.fetch_many`), the next batch on a thread while
    this one is decoded: memory holds the bytes of two batches at most, and
    the store's latency is paid once per batch, not once per file.
    """
    chunks = [list(files[i:i + FETCH_AHEAD]) for i in range(0, len(files), FETCH_AHEAD)]

    def fetch(chunk: list[RemoteFile]) -> dict[str, Any]:
        urls = [f.name for f in chunk if is_url(f.name)]
        return fetch_many(urls, job.storage_options) if urls else {}

    if not any(is_url(f.name) for f in files):
        for f in files:
            yield f, None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="undouble-fetch") as pool:
        ahead = pool.submit(fetch, chunks[0]) if chunks else None
        for k, chunk in enumerate(chunks):
            got = ahead.result()
            ahead = pool.submit(fetch, chunks[k + 1]) if k + 1 < len(chunks) else None
            for f in chunk:
                yield f, got.get(f.name)


def partition(files: Sequence[RemoteFile], n_workers: int) -> list[list[RemoteFile]]:
    """Cut ``files`` into consecutive partitions of :data:`MIN_PARTITION` to :data:`MAX_PARTITION` files."""
    n = len(files)
    if not n:
        return []
    size = -(-n // max(1, n_workers * PARTITIONS_PER_WORKER))
    size = max(MIN_PARTITION, min(MAX_PARTITION, size))
    return [list(files[i:i + size]) for i in range(0, n, size)]


# --------------------------------------------------------------------------- schedulers
def warm_up(job: HashJob) -> None:
    """Load the preprocessing and hash kernels of ``job`` in this process (on tiny inputs; errors ignored)."""
    from .hashes import compute_hashes
    from .io.decode import DecodedImage, finish_decoded

    dim = job.dim
    try:
        loaded = finish_decoded(DecodedImage(np.zeros((2 * dim[1] + 1, 2 * dim[0] + 1, 3), np.uint8), 1, 1), dim,
                                job.grayscale, job.measure_blur)
        compute_hashes(loaded.image[None], job.method, job.hash_size, **job.hash_options)
    except Exception:  # the real calls report any problem
        pass


@contextmanager
def dask_client(scheduler: Any, warm: Callable[[], None] | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed on exit when made here.

    Parameters
    ----------
    scheduler : distributed.Client, str or cluster
        A client (used as is), ``'local:N'`` (a ``LocalCluster`` of N worker
        processes with one thread each), a scheduler address
        (``'tcp://host:8786'``), or a cluster object with ``scheduler_address``.
    warm : callable, optional
        For ``'local:N'`` on Linux: called before the workers start, which are
        then forked from this process, so that they inherit its imports and
        loaded kernels instead of loading them again (about a CPU-second
        each). Elsewhere, or when the Dask config sets
        ``distributed.worker.multiprocessing-method``, Dask's choice stands
        (spawn by default).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError('a Dask scheduler needs dask[distributed]: pip install "undouble[dask]"') from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if isinstance(scheduler, str) and scheduler.lower().startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"scheduler 'local:N' needs a number of workers, got {scheduler!r}") from None
        if n < 1:
            raise ValueError(f"scheduler 'local:N' needs N >= 1, got {scheduler!r}")
        import dask

        # fork only where it is safe and only when nobody chose a method (dask's default is spawn):
        # distributed.worker.multiprocessing-method = forkserver or spawn in the dask config wins
        fork = sys.platform.startswith("linux") and dask.config.get(
            "distributed.worker.multiprocessing-method", "spawn") == "spawn"
        if fork and warm is not None:
            warm()
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"} if fork else {}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        with cluster, Client(cluster) as client:
            yield client
        return
    if isinstance(scheduler, str) or hasattr(scheduler, "scheduler_address"):
        with Client(scheduler) as client:
            yield client
        return
    raise TypeError(f"scheduler must be a distributed.Client, 'local:N' or an address, not {type(scheduler).__name__}")


def _n_workers(client: Any) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # pragma: no cover - an old or odd scheduler
        return 1


def _run_dask(client: Any, parts: Sequence[Sequence[RemoteFile]], job: HashJob, bar: Any
              ) -> tuple[dict[int, HashedFiles], dict[int, str]]:
    """Run the partitions on the cluster: results and errors by partition index."""
    from distributed import as_completed as dask_completed

    run = uuid.uuid4().hex[:12]
    futures = {client.submit(hash_partition, list(p), job, pure=False, key=f"undouble-hash-{run}-{k}"): k
               for k, p in enumerate(parts)}
    done: dict[int, HashedFiles] = {}
    errors: dict[int, str] = {}
    for fut in dask_completed(list(futures)):
        k = futures[fut]
        try:
            done[k] = fut.result()
        except Exception as exc:  # KilledWorker, or a bug on the worker
            errors[k] = f"{type(exc).__name__}: {exc}"
            logger.warning("A task of %d files failed (%s); trying its files one by one.", len(parts[k]), errors[k])
        bar.update(len(parts[k]))
        fut.release()
    return done, errors


def _run_threads(parts: Sequence[Sequence[RemoteFile]], job: HashJob, n_jobs: int | None, bar: Any
                 ) -> tuple[dict[int, HashedFiles], dict[int, str]]:
    """Run the partitions on a thread pool in this process."""
    from .io.pipeline import default_jobs

    done: dict[int, HashedFiles] = {}
    errors: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=default_jobs(n_jobs), thread_name_prefix="undouble-part") as pool:
        futures = {pool.submit(hash_partition, list(p), job): k for k, p in enumerate(parts)}
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                done[k] = fut.result()
            except Exception as exc:
                errors[k] = f"{type(exc).__name__}: {exc}"
            bar.update(len(parts[k]))
    return done, errors


def run_partitions(files: Sequence[RemoteFile], job: HashJob, client: Any = None, n_jobs: int | None = None,
                   desc: str = "hash") -> tuple[HashedFiles, dict[str, int]]:
    """Hash ``files`` in partitions on ``client`` (a Dask client) or, when None, on threads here.

    Returns
    -------
    HashedFiles
        Rows and skipped files in the order of ``files``.
    dict
        Counts: ``partitions``, ``failed_partitions``, ``retried_files``.
    """
    workers = _n_workers(client) if client is not None else max(1, n_jobs or os.cpu_count() or 1)
    parts = partition(files, workers)
    run: Callable = (lambda ps, b: _run_dask(client, ps, job, b)) if client is not None else (
        lambda ps, b: _run_threads(ps, job, n_jobs, b))
    with progress(total=len(files), desc=desc, unit="img") as bar:
        done, errors = run(parts, bar)
    stats = {"partitions": len(parts), "failed_partitions": len(errors), "retried_files": 0}
    for k in sorted(errors):  # one task per file: only the files that fail again are lost
        singles = [[f] for f in parts[k]]
        stats["retried_files"] += len(singles)
        with progress(total=len(singles), desc="retry", unit="img") as bar:
            again, still = run(singles, bar)
        pieces = [again[j] if j in again else HashedFiles(skipped=[(singles[j][0].name, (
            f"a worker failed while reading it: {still[j]}"))]) for j in range(len(singles))]
        done[k] = concat_hashed(pieces)
    return concat_hashed([done[k] for k in range(len(parts))]), stats


# --------------------------------------------------------------------------- the import
def load_row(name: str, dim: tuple[int, int], grayscale: bool, max_pixels: int,
             storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """The preprocessed image of one path or URL (decoded again; for plots and other hash methods)."""
    from .io.decode import finish_decoded
    from .io.files import ImageReadError

    job = HashJob(dim, grayscale, max_pixels, "", 0, storage_options=dict(storage_options or {}))
    try:
        decoded = decode_one(name, job)[0]
        return finish_decoded(decoded, dim, grayscale).image
    except ImageReadError as exc:
        raise ImageReadError(f"{name} cannot be read any more since import_data(): {exc}") from None


def _basename(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1] if is_url(name) else os.path.basename(name)


def list_targets(target: Any, ext: Any, storage_options: Mapping[str, Any] | None,
                 resolve_local: Callable[[Any], tuple[list[str], list[tuple[str, str]]]]
                 ) -> tuple[list[RemoteFile], list[tuple[str, str]]]:
    """The files of a URL, a local folder or file, or a list of URLs and paths.

    ``resolve_local`` lists local targets as the in-process import does
    (:meth:`Undouble._resolve_paths`), so that both name files alike.
    """
    if is_url(target):
        return list_files(target, ext, storage_options)
    if isinstance(target, (list, tuple)) and any(is_url(t) for t in target):
        files, skipped, seen = [], [], set()
        for t in target:
            if t in seen:
                continue
            seen.add(t)
            got, bad = list_files(t, ext, storage_options) if is_url(t) else local_files([os.path.abspath(t)])
            files += got
            skipped += bad
        return files, skipped
    paths, skipped = resolve_local(target)
    files, bad = local_files(paths)
    return files, skipped + bad


def import_files(target: Any, params: Mapping[str, Any], resolve_local: Callable, hash_key: Any = None
                 ) -> tuple[dict[str, Any], Any]:
    """List, hash (on Dask or threads) and merge: the ``results`` of :meth:`Undouble.import_data`.

    Parameters
    ----------
    target : str, PathLike or list
        A URL, a local folder or file, or a list of them.
    params : mapping
        :attr:`Undouble.params` (``scheduler``, ``storage_options``, ``results``
        and the preprocessing and hash settings are read).
    resolve_local : callable
        Lists a local target (``Undouble._resolve_paths``).
    hash_key : (str, str) or None
        :func:`undouble.cache.hash_params` of the settings (None: no results store).

    Returns
    -------
    results : dict
        As :meth:`Undouble.import_data` sets it (``img`` decodes rows on use),
        plus ``file_versions`` (ETag or modification time of each file, the
        key of the results store), ``storage_options`` and ``cluster``: counts
        of files hashed, read from the store, skipped, partitions.
    hashes : HashBatch or None
        One row per ``results['pathnames']``.
    """
    storage_options = dict(params.get("storage_options") or {})
    scheduler = params.get("scheduler")
    dim, grayscale, max_pixels = params["dim"], params["grayscale"], params["max_pixels"]
    names = [target] if isinstance(target, str) else list(target) if isinstance(target, (list, tuple)) else []
    if scheduler is not None and any(is_url(t) and protocol_of(t) == "memory" for t in names):
        raise ValueError("memory:// files live in this process only: scan them without a scheduler")
    files, skipped = list_targets(target, params["ext"], storage_options, resolve_local)
    results_dir = params.get("results")
    key = hash_key[0] if (results_dir and hash_key) else None
    store = ResultsStore(results_dir, storage_options if is_url(results_dir) else {}) if key else None
    stored = store.lookup(files, key) if store is not None else HashedFiles()
    known = set(stored.names)
    todo = [f for f in files if f.name not in known]
    job = HashJob(dim, grayscale, max_pixels, params["method"], params["hash_size"], dict(params["hash_options"]),
                  storage_options, results_dir if key else None, dict(store.storage_options) if store else {}, key)
    logger.info("Hashing %d files (%d from the results store) %s.", len(todo), len(stored),
                "in this process" if scheduler is None else "on the Dask cluster")
    if scheduler is None:
        got, stats = run_partitions(todo, job, None, params.get("n_jobs"))
    else:
        with dask_client(scheduler, warm=lambda: warm_up(job)) as client:
            got, stats = run_partitions(todo, job, client, desc="hash (dask)")
    if got.hash_error:
        raise RuntimeError(f"hashing failed on the workers: {got.hash_error}")
    if store is not None and len(got):
        try:
            merged = store.compact(key)
            logger.debug("Results store %s: %d part files merged into one.", store.location, merged)
        except Exception as exc:  # the results are in hand: a store that cannot be merged only costs time later
            logger.warning("Cannot merge the part files of the results store %s: %s", store.location, exc)
    both = concat_hashed([stored, got])
    where = {name: k for k, name in enumerate(both.names)}
    order = [where[f.name] for f in files if f.name in where]
    rows = both.take(order)
    new_skipped = {name: reason for name, reason in got.skipped}
    skipped = skipped + [(f.name, new_skipped[f.name]) for f in files if f.name in new_skipped]
    from .batches import LazyImages

    shape = (dim[1], dim[0]) if grayscale else (dim[1], dim[0], 3)
    kept = rows.names
    stack = LazyImages([None] * len(kept), lambda i: load_row(kept[i], dim, grayscale, max_pixels, storage_options),
                       shape)
    results = {
        "img": stack, "feat": None, "pathnames": kept, "filenames": [_basename(p) for p in kept],
        "skipped": skipped, "source": "files", "resolution": rows.resolution.reshape(-1, 2),
        "filestats": {p: (int(s), int(m)) for p, s, m in zip(kept, rows.sizes, rows.mtime_ns)},
        "sharpness": rows.blur, "blur": rows.blur, "blur_pixels": rows.blur_pixels, "img_storage": "lazy",
        "preprocess": {"dim": dim, "grayscale": grayscale, "max_pixels": max_pixels},
        "storage_options": storage_options,
        "file_versions": dict(zip(kept, rows.versions)),
        "cluster": {"hashed": len(got), "from_store": len(stored), "skipped": len(skipped), **stats},
    }
    for field_name, values in rows.extra.items():  # per-file fields the decoding records beyond the usual ones
        if field_name not in results:
            results[field_name] = _stacked(values)
    return results, rows.hashes


def _stacked(values: list) -> Any:
    """Values of one extra per-file field: an array when they stack, else the list."""
    try:
        return np.stack([np.asarray(v) for v in values]) if values else np.zeros(0)
    except (ValueError, TypeError):
        return list(values)
