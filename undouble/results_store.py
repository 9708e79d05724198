"""Per-file results of a distributed scan, and their Parquet store (``--results DIR``).

:class:`HashedFiles` is what a worker sends back for a partition of files:
only hashes and metadata (no pixels). A :class:`ResultsStore` keeps such rows
as a Parquet dataset in a folder (local or any fsspec URL): every partition
that a worker hashes is written by that worker as one ``part-*.parquet``
file, and the client reads them all back on the next run. A row is used
again when its file's URL, size and version (ETag, else modification time)
and the hash parameters (:func:`undouble.cache.hash_params`) are all the
same, so a re-run over a bucket with new files hashes only the new ones.

pyarrow is imported only when a store is used (the ``dask`` extra).
"""
from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .batches import concat_batches

PART_PREFIX = "part-"
EXTRA_PREFIX = "x_"
"""Columns of the extra per-file fields (``.npy`` bytes)."""


@dataclass
class HashedFiles:
    """Hashes and metadata of some files, aligned row by row.

    Attributes
    ----------
    names : list of str
        URLs or paths.
    sizes, mtime_ns : np.ndarray
        int64 bytes and modification times (ns).
    versions : list of str
        ETag or time, as :func:`undouble.remote.file_version`.
    resolution : np.ndarray
        ``(N, 2)`` int64 original ``(width, height)``.
    blur, blur_pixels : np.ndarray
        Sharpness and the pixel count it was measured on (see :class:`undouble.io.LoadedFile`).
    hashes : HashBatch or None
        One row per file (None when there are no rows or hashing failed).
    skipped : list of (str, str)
        Files of the partition that could not be used, with the reason.
    hash_error : str or None
        Why hashing failed (a problem of the method, not of the files).
    extra : dict of str to list
        Any further per-file field the decoding records
        (:class:`undouble.io.LoadedFile` fields beyond image, resolution,
        filestat, blur and blur_pixels), one value per row; the client puts
        each into ``results[name]``.
    """

    names: list[str] = field(default_factory=list)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mtime_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    versions: list[str] = field(default_factory=list)
    resolution: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    blur: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    blur_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hashes: Any = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hash_error: str | None = None
    extra: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def take(self, rows: Sequence[int]) -> "HashedFiles":
        """The given rows (no skipped files)."""
        from .hashes import HashBatch

        idx = np.asarray(rows, dtype=np.int64)
        batch = None
        if self.hashes is not None:
            h = self.hashes
            batch = HashBatch(h.packed[idx], h.nbits, None if h.counts is None else h.counts[idx], h.shape)
        return HashedFiles([self.names[i] for i in idx], self.sizes[idx], self.mtime_ns[idx],
                           [self.versions[i] for i in idx], self.resolution[idx], self.blur[idx],
                           self.blur_pixels[idx], batch,
                           extra={k: [v[i] for i in idx] for k, v in self.extra.items()})


def concat_hashed(parts: Sequence[HashedFiles]) -> HashedFiles:
    """One :class:`HashedFiles` from several, rows in order (hashes padded as :func:`concat_batches`)."""
    parts = [p for p in parts if len(p) or p.skipped]
    if not parts:
        return HashedFiles()
    with_rows = [p for p in parts if len(p)]
    if not with_rows:
        return HashedFiles(skipped=[s for p in parts for s in p.skipped])
    return HashedFiles(
        [n for p in with_rows for n in p.names],
        np.concatenate([p.sizes for p in with_rows]).astype(np.int64),
        np.concatenate([p.mtime_ns for p in with_rows]).astype(np.int64),
        [v for p in with_rows for v in p.versions],
        np.concatenate([p.resolution.reshape(-1, 2) for p in with_rows]).astype(np.int64),
        np.concatenate([p.blur for p in with_rows]).astype(np.float64),
        np.concatenate([p.blur_pixels for p in with_rows]).astype(np.int64),
        concat_batches([p.hashes for p in with_rows]),
        [s for p in parts for s in p.skipped],
        next((p.hash_error for p in parts if p.hash_error), None),
        {k: [v for p in with_rows for v in p.extra.get(k, [None] * len(p))]
         for k in dict.fromkeys(k for p in with_rows for k in p.extra)},
    )


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise ImportError('the results store needs pyarrow: pip install "undouble[dask]"') from None
    return pa, pq


def to_table(files: HashedFiles, params: str) -> Any:
    """A pyarrow table of the rows of ``files`` (hashes included) for the parameter key ``params``."""
    pa, _ = _pyarrow()
    n = len(files)
    batch = files.hashes
    w = batch.words_per_segment if batch is not None else 1
    words = []
    for k in range(n):
        row = batch.packed[k] if batch.counts is None else batch.packed[k, :int(batch.counts[k]) * w]
        words.append(np.asarray(row, dtype=np.uint64))
    shape = None if batch is None or batch.shape is None else [int(s) for s in batch.shape]
    extra = {f"{EXTRA_PREFIX}{k}": pa.array([None if v is None else _to_bytes(v) for v in values], pa.binary())
             for k, values in files.extra.items()}
    return pa.table({
        **extra,
        "name": pa.array(files.names, pa.string()),
        "size": pa.array(files.sizes, pa.int64()),
        "version": pa.array(files.versions, pa.string()),
        "params": pa.array([params] * n, pa.string()),
        "mtime_ns": pa.array(files.mtime_ns, pa.int64()),
        "width": pa.array(files.resolution[:, 0], pa.int64()),
        "height": pa.array(files.resolution[:, 1], pa.int64()),
        "blur": pa.array(files.blur, pa.float64()),
        "blur_pixels": pa.array(files.blur_pixels, pa.int64()),
        "nbits": pa.array([int(batch.nbits)] * n, pa.int64()),
        "count": pa.array([None if batch.counts is None else int(batch.counts[k]) for k in range(n)], pa.int64()),
        "shape": pa.array([shape] * n, pa.list_(pa.int64())),
        "words": pa.array(words, pa.list_(pa.uint64())),
        "written_ns": pa.array([time.time_ns()] * n, pa.int64()),
    })


def from_table(table: Any) -> HashedFiles:
    """:class:`HashedFiles` of the rows of a table written by :func:`to_table` (all of one ``params``)."""
    from .hashes import HashBatch

    n = table.num_rows
    if n == 0:
        return HashedFiles()
    col = {name: table.column(name).to_pylist() for name in table.column_names}
    nbits = int(col["nbits"][0])
    counts = None if col["count"][0] is None else np.asarray(col["count"], np.int64)
    width = max(len(w) for w in col["words"]) or 1
    packed = np.zeros((n, width), np.uint64)
    for k, words in enumerate(col["words"]):
        packed[k, :len(words)] = np.asarray(words, dtype=np.uint64)
    shape = col["shape"][0]
    batch = HashBatch(packed, nbits, counts, None if shape is None else tuple(shape))
    extra = {name[len(EXTRA_PREFIX):]: [None if v is None else _from_bytes(v) for v in values]
             for name, values in col.items() if name.startswith(EXTRA_PREFIX)}
    return HashedFiles(list(col["name"]), np.asarray(col["size"], np.int64), np.asarray(col["mtime_ns"], np.int64),
                       list(col["version"]), np.stack([col["width"], col["height"]], axis=1).astype(np.int64),
                       np.asarray(col["blur"], np.float64), np.asarray(col["blur_pixels"], np.int64), batch,
                       extra=extra)


def _to_bytes(value: Any) -> bytes:
    """An extra field's value as ``.npy`` bytes (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(value), allow_pickle=False)
    return buf.getvalue()


def _from_bytes(data: bytes) -> Any:
    value = np.load(io.BytesIO(data), allow_pickle=False)
    return value.item() if value.ndim == 0 else value


class ResultsStore:
    """A folder of Parquet files holding per-file results (hashes and metadata).

    Parameters
    ----------
    location : str
        A local folder or an fsspec URL (``s3://bucket/undouble-results``);
        created on first write.
    storage_options : mapping, optional
        fsspec options of ``location``.
    """

    def __init__(self, location: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.location = str(location).rstrip("/")
        self.storage_options = dict(storage_options or {})

    def _fs(self) -> tuple[Any, str]:
        from .remote import filesystem

        return filesystem(self.location, self.storage_options)

    def write(self, files: HashedFiles, params: str) -> str | None:
        """Write the rows of ``files`` as one new part file; returns its path (None when there are no rows).

        Only new files are created (a unique name each time), so workers never
        write over each other or over the rows of an earlier run.
        """
        if not len(files) or files.hashes is None:
            return None
        _, pq = _pyarrow()
        fs, root = self._fs()
        fs.makedirs(root, exist_ok=True)
        path = f"{root.rstrip('/')}/{PART_PREFIX}{params[:16]}-{uuid.uuid4().hex}.parquet"
        with fs.open(path, "wb") as fh:
            pq.write_table(to_table(files, params), fh)
        return path

    def parts(self) -> list[str]:
        """Paths of the part files in the store (empty when the folder does not exist yet)."""
        fs, root = self._fs()
        if not fs.exists(root):
            return []
        return sorted(p for p in fs.find(root) if p.rsplit("/", 1)[-1].startswith(PART_PREFIX)
                      and p.endswith(".parquet"))

    def parts_of(self, params: str) -> list[str]:
        """The part files that may hold rows for ``params`` (named after it)."""
        return [p for p in self.parts() if p.rsplit("/", 1)[-1].startswith(f"{PART_PREFIX}{params[:16]}-")]

    def read(self, params: str, paths: Sequence[str] | None = None) -> HashedFiles:
        """Every stored row for ``params`` (newest row of each name only), from ``paths`` or all parts."""
        pa, pq = _pyarrow()
        import pyarrow.compute as pc

        fs, _ = self._fs()
        tables = []
        for path in self.parts_of(params) if paths is None else paths:
            try:
                with fs.open(path, "rb") as fh:
                    table = pq.read_table(fh)
            except FileNotFoundError:  # merged away by another run meanwhile: its rows are in the merged part
                continue
            tables.append(table.filter(pc.equal(table.column("params"), params)))
        if not tables:
            return HashedFiles()
        table = pa.concat_tables(tables)
        newest: dict[str, tuple[int, int]] = {}
        for k, (name, written) in enumerate(zip(table.column("name").to_pylist(),
                                                 table.column("written_ns").to_pylist())):
            if name not in newest or written >= newest[name][0]:
                newest[name] = (written, k)
        return from_table(table.take(sorted(k for _, k in newest.values())))

    def compact(self, params: str) -> int:
        """Merge the part files of ``params`` into one (newest row of each file); returns the parts merged.

        Every run adds one part per partition; merging keeps the next run's
        reading to one file. Only the parts read are removed, after the
        merged part is written, so rows written meanwhile are kept.
        """
        paths = self.parts_of(params)
        if len(paths) < 2:
            return 0
        merged = self.read(params, paths)
        if self.write(merged, params) is None:
            return 0
        fs, _ = self._fs()
        for path in paths:
            try:
                fs.rm(path)
            except FileNotFoundError:
                pass
        return len(paths)

    def lookup(self, files: Sequence[Any], params: str) -> HashedFiles:
        """Stored rows of the unchanged files among ``files`` (:class:`~undouble.remote.RemoteFile`)."""
        stored = self.read(params)
        if not len(stored):
            return stored
        where = {name: k for k, name in enumerate(stored.names)}
        rows = []
        for f in files:
            k = where.get(f.name)
            if k is not None and int(stored.sizes[k]) == f.size and stored.versions[k] == f.version:
                rows.append(k)
        return stored.take(rows)
