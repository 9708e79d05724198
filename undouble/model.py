"""The ``Undouble`` class: the seed's API over the pipeline stages.

It holds ``params`` and ``results`` and calls the stage functions in order;
the work itself lives in ``io``, ``preprocess``, ``hashes``, ``distance``,
``grouping``, ``keeper``/``move`` and ``plot``.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from . import _model_cache as _mcache
from . import _model_groups as _mgroups
from . import io as uio
from ._logging import logger, set_logger
from .distance import DEFAULT_MEMORY_BUDGET, hamming_matrix, matrix_fits
from .grouping import group_hashes
from .hashes import canonical_method, compute_hashes, to_bits
from .preprocess import stack_from_array

FEAT_AUTO_BUDGET = 16 * 1024 ** 2
"""Bytes up to which :meth:`Undouble.compute_hash` builds ``results['feat']`` unasked
(4,096 images of 64-bit hashes); larger runs get it only with ``feat=True``."""


def _checked_threshold(threshold: Any, nbits: int, method: str) -> int:
    """``threshold`` as an int, or ValueError when it is not a whole number below ``nbits``."""
    if isinstance(threshold, (bool, np.bool_)):
        raise ValueError(f"threshold must be a whole number of bits, got {threshold!r}")
    try:
        value = int(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a whole number of bits, got {threshold!r}") from None
    if value != threshold:
        raise ValueError(f"threshold must be a whole number of bits, got {threshold!r}")
    if not 0 <= value < nbits:
        raise ValueError(f"threshold must be in 0..{nbits - 1}: a {method} hash here has {nbits} bits, "
                         f"got {threshold!r}")
    return value


def _has_url(target: Any) -> bool:
    """Whether ``target`` is an fsspec URL or a list holding one (see :mod:`undouble.remote`)."""
    from .remote import is_url

    return is_url(target) or (isinstance(target, (list, tuple)) and any(is_url(t) for t in target))


def _measured_results(measured: dict[str, Any]) -> dict[str, Any]:
    """``results`` entries of what the import measured (``blur`` is ``sharpness``)."""
    sharpness = np.asarray(measured["sharpness"], dtype=np.float64).reshape(-1)
    thumbs = measured.get("thumbs")
    return {"sharpness": sharpness, "blur": sharpness,
            "blur_pixels": np.asarray(measured["blur_pixels"], dtype=np.int64).reshape(-1),
            "is_grey": np.asarray(measured["is_grey"], dtype=bool).reshape(-1),
            "thumbs": None if thumbs is None else np.asarray(thumbs, dtype=np.uint8)}


def _measure_rows(images: np.ndarray) -> dict[str, Any]:
    """:func:`undouble.io.measure.measure_decoded` of every row of an image array."""
    from .io.measure import measure_decoded, thumbnail_maker

    thumbnail = thumbnail_maker()
    got = [measure_decoded(np.ascontiguousarray(row), thumbnail=thumbnail) for row in images]
    return _measured_results({"sharpness": [m.sharpness for m in got], "blur_pixels": [m.sharpness_pixels for m in got],
                              "is_grey": [m.is_grey for m in got],
                              "thumbs": uio.stack_thumbs([m.thumb for m in got]) if got else None})


class Undouble:
    """Find, group and move duplicate images by perceptual hash.

    Parameters
    ----------
    method : str, default 'phash'
        'ahash', 'phash', 'dhash', 'whash-haar', 'whash-db4', 'colorhash',
        'crop-resistant' (and ImageHash's variants 'phash_simple',
        'dhash_vertical').
    grayscale : bool, default False
        Convert images to grey before scaling and resizing.
    dim : (int, int), default (128, 128)
        Size ``(width, height)`` images are resized to (area interpolation)
        before hashing.
    hash_size : int, default 8
        Hash size (8 gives 64-bit hashes for most methods).
    ext : list of str, optional
        File extensions to import from folders (case-insensitive). Default:
        png, tiff, tif, jpg, jpeg, jfif, bmp, webp, gif, heic, heif, avif.
    threshold : int, default 0
        Default threshold of :meth:`group`.
    verbose : int or str, default 20
        Logging level (10 debug, 20 info, 30 warning, ...; or names).
    n_jobs : int, optional
        Decoding threads (default: all cores).
    memory_budget : int, default 1 GiB
        Largest dense distance matrix ``compute_hash(feat=True)`` builds
        (bytes). Unasked, ``results['feat']`` is built only up to
        :data:`FEAT_AUTO_BUDGET` (16 MiB, 4,096 images); grouping never uses
        it (it searches the pairs under the threshold, which is exact and
        needs no N x N array).
    max_pixels : int
        Files with more pixels are skipped before decoding.
    cache : bool, str or PathLike, default False
        Keep file hashes in a persistent cache (:mod:`undouble.cache`) so that
        a later run decodes only new or changed files: True for the default
        file in the user cache folder, or a path. Cached files are decoded
        only when their image is needed (``results['img']`` is then a
        :class:`~undouble.cache.LazyImages`).
    keep_images : {'auto', True, 'memory', 'disk', False, 'none'}, default 'auto'
        Where :meth:`import_data` keeps the preprocessed images
        (``results['img']``). ``'auto'``: in memory when they take at most
        ``image_memory_limit`` bytes (and half the available RAM), else not
        at all (writing them costs more than decoding the few a plot shows;
        with ``robust=True``, whose window search reads the images of its
        candidates, in the memory-mapped file below instead).
        ``'disk'``: a memory-mapped file on disk
        (:func:`undouble.io.image_store_dir`). ``False``: none;
        ``results['img']`` then decodes a row again when it is indexed (plots
        do that), and :meth:`compute_hash` with another method decodes the
        files again. 128 x 128 RGB images take 48 KiB each: 300,000 of
        them 14 GiB. :func:`undouble.io.load_preprocessed` returns one image
        in every case.
    image_memory_limit : int, default 256 MiB
        Bytes of preprocessed images ``keep_images='auto'`` keeps in memory.
    scheduler : distributed.Client, str or None, default None
        Decode and hash on a Dask cluster (:mod:`undouble.cluster`): a
        client, a scheduler address, or ``'local:N'`` for a local cluster of N
        worker processes. Workers read the files themselves; only hashes and
        metadata come back, ``results['img']`` decodes a row again when it is
        used. The hash cache is not used then (see ``results``). Needs the
        ``dask`` extra.
    storage_options : dict, optional
        fsspec options for URL inputs (``s3://``, ``gs://``, ``memory://``,
        ...), e.g. ``{'endpoint_url': 'http://127.0.0.1:9000'}``.
    results : str, optional
        A folder or URL where per-file results are kept as Parquet
        (:mod:`undouble.results_store`) instead of the hash cache: a re-run
        hashes only new or changed files. Imports then go through
        :mod:`undouble.cluster` (on threads here without ``scheduler``).
    verify : bool, default True
        Link two images only after their candidate pair (hash distance
        ``<= threshold``) passed a pixel-level check on small thumbnails
        (:mod:`undouble.verify`), and check every member of a group against
        its keeper (:func:`undouble.grouping.group_verified`). Costs a few
        percent of a run: the thumbnails are made while importing and kept
        with the hashes. False gives the hash-only groups, the connected
        components of "distance <= threshold" (no ``select_relation``).
    robust : bool, default False
        Also find copies that are rotated by 90/180/270 degrees, mirrored,
        flipped, transposed, cropped (up to 25% per side), letterboxed or
        pasted into a larger image (:mod:`undouble.robust`). Every such link is
        verified on the pixels and joins the normal (verified) groups; groups
        are stars around keepers where an image that contains another wins
        (:mod:`undouble.robust_grouping`); ``results['select_relation']``
        names each member's relation to the keeper (``'rotated 90'``,
        ``'mirrored'``, ``"cropped (NN% of the keeper's area)"``, ``'in a
        larger image'``, ...).
    **hash_options
        Options of the hash method, with ImageHash's names
        (``highfreq_factor``, ``image_scale``, ``binbits``, ...).

    Examples
    --------
    >>> from undouble import Undouble
    >>> model = Undouble(method='phash', hash_size=8)
    >>> model.import_data(model.import_example(data='synthetic'))  # doctest: +SKIP
    >>> model.compute_hash()  # doctest: +SKIP
    >>> model.group(threshold=10)  # doctest: +SKIP
    """

    def __init__(self, method: str = "phash", grayscale: bool = False, dim: tuple[int, int] = (128, 128),
                 hash_size: int = 8, ext: Sequence[str] | None = None, threshold: int = 0,
                 verbose: int | str = 20, n_jobs: int | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, max_pixels: int = uio.DEFAULT_MAX_PIXELS,
                 cache: bool | str | os.PathLike | None = False, keep_images: bool | str = "auto",
                 image_memory_limit: int = uio.DEFAULT_IMAGE_MEMORY_LIMIT, scheduler: Any = None,
                 storage_options: dict[str, Any] | None = None, results: str | os.PathLike | None = None,
                 verify: bool = True, robust: bool = False,
                 **hash_options: Any) -> None:
        if len(dim) != 2 or int(dim[0]) < 1 or int(dim[1]) < 1:
            raise ValueError(f"dim must be (width, height) with positive ints, got {dim!r}")
        self.params: dict[str, Any] = {
            "method": canonical_method(method),
            "grayscale": bool(grayscale),
            "dim": (int(dim[0]), int(dim[1])),
            "hash_size": int(hash_size),
            "ext": list(uio.normalise_extensions(ext)),
            "threshold": threshold,
            "n_jobs": n_jobs,
            "memory_budget": int(memory_budget),
            "max_pixels": int(max_pixels),
            "hash_options": dict(hash_options),
            "verbose": verbose,
            "cache": cache,
            "keep_images": uio.normalise_keep_images(keep_images),
            "image_memory_limit": int(image_memory_limit),
            "scheduler": scheduler,
            "storage_options": dict(storage_options or {}),
            "results": None if results is None else os.fspath(results),
            "verify": bool(verify),
            "robust": bool(robust),
        }
        self.results: dict[str, Any] = {}
        set_logger(verbose)

    # ------------------------------------------------------------------
    def import_data(self, targetdir: Any, return_results: bool = False) -> dict[str, Any] | None:
        """Read and preprocess images from a folder, files or an array.

        Parameters
        ----------
        targetdir : str, PathLike, list of str, or np.ndarray
            A folder (searched recursively; ``undouble`` output folders are
            skipped), one file, a list of files, or an image array
            ``N x H x W``, ``N x H x W x 3`` (or ``N x F`` when F reshapes to
            ``dim``).
        return_results : bool
            Also return ``results``.

        Notes
        -----
        Sets ``results['img']`` (preprocessed uint8 images), ``pathnames``,
        ``filenames``, ``feat`` (None until hashes exist) and ``skipped``
        (``(path, reason)`` of every file that could not be used), plus
        ``resolution`` (original width, height), ``filestats``,
        ``sharpness`` (float64 ``(N,)``: the variance of the Laplacian of
        each image in grey on a canonical scale, the size a JPEG of the
        original's resolution is decoded at for ``dim`` 128, see
        :mod:`undouble.io.measure`;
        the keeper ranking of :meth:`group` uses it and opens no file;
        ``blur`` is the same array), ``blur_pixels`` (int64 ``(N,)``: pixel
        count of the canonical image each sharpness was measured on),
        ``is_grey`` (bool ``(N,)``: the decoded image is greyscale),
        ``thumbs`` (uint8 ``(N, B)`` verification thumbnails of
        :func:`undouble.verify.make_thumbnail`, kept whatever ``keep_images``
        says; None when that module is not installed),
        ``damaged`` (bool per row: the decoder
        reported corrupt or missing data, e.g. a JPEG whose data ends before
        the rows its header promises; such a file never wins the keeper rule),
        ``warnings`` (``{path: [message, ...]}``: what the decoders printed
        about each file, instead of printing it on stderr),
        ``img_storage`` (``'memory'``, ``'disk'``, ``'none'`` or ``'lazy'``,
        see ``keep_images``) and ``preprocess`` (the ``dim``, ``grayscale``
        and ``max_pixels`` used).

        Files are decoded, preprocessed and hashed (with the method given at
        init) in one stream across ``n_jobs`` threads (:func:`undouble.io.ingest`):
        memory holds the full pixels of only ``n_jobs`` files at a time, so
        :meth:`compute_hash` with the same method costs no further decoding.
        A file that cannot be used never stops the run: it is logged once and
        listed in ``results['skipped']`` with its reason.
        """
        dim, grayscale = self.params["dim"], self.params["grayscale"]
        self._imported_hashes = None
        self._warm_kernels()
        if isinstance(targetdir, np.ndarray):
            img = stack_from_array(targetdir, dim, grayscale)
            names = [f"image_{i:05d}" for i in range(img.shape[0])]
            shape = np.asarray(targetdir.shape[1:3] if targetdir.ndim >= 3 else (dim[1], dim[0]))
            measured = _measure_rows(targetdir if targetdir.ndim >= 3 and targetdir.dtype == np.uint8 else img)
            self.results = {
                "img": img, "feat": None, "pathnames": names, "filenames": names,
                "skipped": [], "source": "array",
                "resolution": np.tile(shape[::-1], (img.shape[0], 1)).astype(np.int64),
                "filestats": None, **measured,
                "damaged": np.zeros(img.shape[0], bool), "warnings": {},
            }
            logger.info("Imported %d images from an array.", img.shape[0])
            return self.results if return_results else None

        if (self.params.get("scheduler") is not None or self.params.get("results") is not None
                or _has_url(targetdir)):  # undouble.cluster: Dask, a Parquet results store, or URLs
            from .cluster import import_files

            self.results, batch = import_files(targetdir, self.params, self._resolve_paths, self._cache_key())
            self._imported_hashes = None if batch is None else (self._hash_config(), batch)
            logger.info("Imported %d images (%d skipped).", len(self.results["pathnames"]),
                        len(self.results["skipped"]))
            return self.results if return_results else None
        paths, skipped = self._resolve_paths(targetdir)
        cached = _mcache.cache_lookup(self, paths)  # hashed before and unchanged: decoded only when shown
        todo = [p for p in paths if p not in cached] if cached else paths
        max_pixels = self.params["max_pixels"]
        logger.info("Reading %d files (%d unchanged in the hash cache) on %d threads.", len(todo), len(cached),
                    uio.default_jobs(self.params["n_jobs"]))
        config = self._hash_config()
        got = uio.ingest(todo, dim, grayscale, hash_fn=self._hasher(*config), keep_images=self.params["keep_images"],
                         image_memory_limit=self.params["image_memory_limit"], n_jobs=self.params["n_jobs"],
                         max_pixels=max_pixels, keep_above_limit="disk" if self.params["robust"] else "none")
        skipped = skipped + got.skipped
        uio.log_skipped(skipped)
        self._imported_hashes = None
        kept, resolution, filestats = got.paths, [tuple(r) for r in got.resolution.tolist()], got.filestats
        measured = {"sharpness": got.sharpness, "blur_pixels": got.sharpness_pixels, "is_grey": got.is_grey,
                    "thumbs": got.thumbs}
        notes = {p: list(got.warnings[p]) for p in kept if p in got.warnings}
        damaged_paths = {p for p, bad in zip(kept, got.damaged.tolist()) if bad}
        storage = got.storage
        if cached:
            _mcache.store_imported_hashes(self, got)
            rows = list(got.images) if got.images is not None else [None] * len(kept)
            stack, kept, resolution, filestats, measured = _mcache.merge_cached(self,
                paths, cached, kept, rows, resolution, filestats, got)
            for p, entry in cached.items():  # what the decoder said when the file was hashed
                if entry.warnings:
                    notes[p] = list(entry.warnings)
                if entry.damaged:
                    damaged_paths.add(p)
            storage = "lazy"
        else:
            stack = got.images if got.images is not None else uio.lazy_images(kept, dim, grayscale, max_pixels)
            if got.hashes is not None:
                self._imported_hashes = (config, got.hashes)
                _mcache.store_imported_hashes(self, got)
        self.results = {
            "img": stack,
            "feat": None,
            "pathnames": kept,
            "filenames": [os.path.basename(p) for p in kept],
            "skipped": skipped,
            "source": "files",
            "resolution": np.asarray(resolution, dtype=np.int64).reshape(-1, 2),
            "filestats": dict(zip(kept, filestats)),
            **_measured_results(measured),
            "damaged": np.fromiter((p in damaged_paths for p in kept), dtype=bool, count=len(kept)),
            "warnings": {p: notes[p] for p in kept if p in notes},
            "img_storage": storage,
            "preprocess": {"dim": dim, "grayscale": grayscale, "max_pixels": max_pixels},
        }
        if damaged_paths:
            shown = sorted(damaged_paths)
            logger.warning("%d damaged files (the decoder reported corrupt or missing data; never chosen as "
                           "keeper): %s%s", len(shown), ", ".join(shown[:5]), " ..." if len(shown) > 5 else "")
        logger.info("Imported %d images (%d skipped).", len(kept), len(skipped))
        return self.results if return_results else None

    def _warm_kernels(self) -> None:
        """Compile the kernels before the first run, with a notice (:func:`undouble.warmup.ensure_compiled`)."""
        from .warmup import ensure_compiled

        method, hash_size, options = self._hash_config()
        ensure_compiled(method, hash_size, self.params["grayscale"], self.params["dim"], **options)

    def _hash_config(self) -> tuple[str, int, dict[str, Any]]:
        """``(method, hash_size, options)`` now in force."""
        return self.params["method"], self.params["hash_size"], dict(self.params["hash_options"])

    @staticmethod
    def _hasher(method: str, hash_size: int, options: dict[str, Any]):
        """``stack -> HashBatch`` for one hash configuration."""
        return lambda stack: compute_hashes(stack, method, hash_size, **options)

    def _resolve_paths(self, targetdir: Any) -> tuple[list[str], list[tuple[str, str]]]:
        if isinstance(targetdir, (str, os.PathLike)):
            path = os.fspath(targetdir)
            if os.path.isdir(path):
                return uio.list_images(path, self.params["ext"])
            if os.path.isfile(path):
                return [os.path.abspath(path)], []
            raise FileNotFoundError(f"no such file or folder: {path}")
        if isinstance(targetdir, (list, tuple)):
            if not all(isinstance(p, (str, os.PathLike)) for p in targetdir):
                raise TypeError("a list input must hold file paths (str or PathLike)")
            paths, seen = [], set()
            for p in targetdir:
                ap = os.path.abspath(os.fspath(p))
                if ap not in seen:
                    seen.add(ap)
                    paths.append(ap)
            return paths, []
        raise TypeError(
            f"import_data takes a folder, a file, a list of files or an image array, not {type(targetdir).__name__}")

    # ------------------------------------------------------------------
    def compute_hash(self, method: str | None = None, hash_size: int | None = None,
                     return_dict: bool = False, feat: bool | None = None, **hash_options: Any) -> Any:
        """Hash every imported image (and, for small runs, the distance matrix).

        Parameters
        ----------
        method, hash_size : optional
            Override the values given at init (and stored in ``params``).
        return_dict : bool
            Return ``results`` instead of the distance matrix.
        feat : bool, optional
            Build ``results['feat']``, the dense N x N distance matrix:
            ``None`` (default) when it takes at most :data:`FEAT_AUTO_BUDGET`
            bytes (4,096 images of 64-bit hashes), ``True`` when it fits
            ``memory_budget``, ``False`` never. :meth:`group`, :meth:`plot`
            and :meth:`move` do not need it: grouping searches the pairs
            under the threshold (exact, and 20-40 times faster than a matrix
            at 30,000 images, which would take 900 MB).
        **hash_options
            Override the method options given at init.

        Returns
        -------
        np.ndarray or None
            ``results['feat']``: N x N Hamming distances (smallest unsigned
            dtype), or None when not built (see ``feat``).
        """
        self._require("img", "import_data")
        if method is not None:
            self.params["method"] = canonical_method(method)
        if hash_size is not None:
            self.params["hash_size"] = int(hash_size)
        if hash_options:
            self.params["hash_options"].update(hash_options)
        method, hash_size = self.params["method"], self.params["hash_size"]
        img = self.results["img"]
        logger.info("Computing %s hashes (hash_size=%d) of %d images.", method, hash_size, img.shape[0])
        imported = _mcache.imported_batch(self, img.shape[0]) if img.shape[0] else None
        if imported is not None:
            batch = imported  # hashed while importing: no second pass over the images
        elif img.shape[0] and _mcache.hash_cache(self) is None and self.results.get("source") == "files":
            batch = _mcache.hash_all_rows(self, method, hash_size)
        elif img.shape[0]:
            batch = _mcache.hash_images(self, img, method, hash_size)
        else:
            from .hashes import HashBatch
            batch = HashBatch(np.zeros((0, 1), np.uint64), hash_size * hash_size)
        n = len(batch)
        self.results["img_hash"] = batch.packed
        self.results["hash_nbits"] = batch.nbits
        self.results["hash_counts"] = batch.counts
        self.results["hash_shape"] = batch.shape
        self.results["img_hash_bin"] = to_bits(batch.packed, batch.packed.shape[1] * 64 if batch.counts is not None
                                               else batch.nbits) if n else np.zeros((0, batch.nbits), bool)
        self.results["img_hash_hex"] = [batch.hex(i) for i in range(n)]
        budget = self.params["memory_budget"]
        if feat is None:
            budget = min(budget, FEAT_AUTO_BUDGET)
        if feat is not False and matrix_fits(n, batch.nbits, budget):
            self.results["feat"] = hamming_matrix(batch.packed, counts=batch.counts,
                                                  words_per_segment=batch.words_per_segment, nbits=batch.nbits)
        else:
            self.results["feat"] = None
            if feat:
                logger.info("The %d x %d distance matrix does not fit memory_budget=%d bytes: feat is None.",
                            n, n, budget)
        for key in ("select_pathnames", "select_scores", "select_idx", "stats"):
            self.results.pop(key, None)
        return self.results if return_dict else self.results["feat"]

    # ------------------------------------------------------------------
    def group(self, threshold: int | None = None, mode: str = "components",
              return_dict: bool = True) -> dict[str, Any] | None:
        """Group images whose hashes differ by at most ``threshold`` bits.

        With ``verify=True`` (the default) the candidate pairs "distance <=
        threshold" are checked on the pixels and every member of a group is a
        verified copy of its keeper (the rule: :mod:`undouble.grouping`,
        "Verified groups"); ``select_relation`` and ``select_similarity`` say
        how each member relates to the keeper. With ``verify=False`` groups
        are the connected components of the graph "distance <= threshold"
        (``mode='star'`` gives undouble 1.x's greedy groups). Within a group
        the keeper comes first (highest resolution, then sharpest, then
        largest file, then first path; with verification a colour image
        first beats its greyscale copy) and ``select_scores`` are hash
        distances to it.

        Raises
        ------
        ValueError
            When ``threshold`` is not a whole number in ``0 .. nbits - 1`` (the bits
            of one hash); the stored default is then left as it was.

        Returns
        -------
        dict
            ``results`` with ``select_pathnames``, ``select_scores``,
            ``select_idx`` (aligned, one entry per group) and ``stats``; with
            verification also ``select_relation`` (per group, a list of str
            aligned with ``select_pathnames``: ``'keeper'``, ``'identical'``,
            ``'same pixels'``, ``'resized'``, ``'re-encoded'``, ``'edited'``,
            ``"cropped (NN% of the keeper's area)"``) and ``select_similarity``
            (per group, float array, 1.0 for the keeper).
        """
        self._require("img_hash", "compute_hash")
        if threshold is None:
            threshold = self.params["threshold"]
        threshold = _checked_threshold(threshold, int(self.results["hash_nbits"]), self.params["method"])
        self.params["threshold"] = threshold  # only once it is known to be valid
        batch_hashes = self.results["img_hash"]
        verified = _mgroups.verified_groups_of(self, threshold, mode) if self.params.get("verify", True) else None
        if verified is not None and not self.params.get("robust"):
            return _mgroups.store_groups(self, verified.groups, threshold, mode, verified, return_dict)
        if verified is not None:
            return _mgroups.store_robust_groups(self, verified.groups, threshold, mode, verified, return_dict)
        # the pair search, never the matrix: exact, and no N x N array (results['feat'] is not needed)
        groups = group_hashes(batch_hashes, threshold, mode=mode, counts=self.results["hash_counts"],
                              words_per_segment=(self.results["hash_nbits"] + 63) // 64,
                              nbits=self.results["hash_nbits"])
        if self.params.get("robust"):
            return _mgroups.store_robust_groups(self, groups, threshold, mode, None, return_dict)
        return _mgroups.store_groups(self, groups, threshold, mode, None, return_dict)

    def _rank_members(self, members: Sequence[int], all_blur: bool = False, decode: bool = False) -> list:
        """:func:`undouble._model_groups.rank_members` (the plot and the tests call it on the model)."""
        return _mgroups.rank_members(self, members, all_blur=all_blur, decode=decode)

    def _ranks_with_relations(self) -> list | None:
        """:func:`undouble._model_groups.ranks_with_relations` (the tests call it on the model)."""
        return _mgroups.ranks_with_relations(self)

    def _cache_key(self, method: str | None = None, hash_size: int | None = None):
        """:func:`undouble._model_cache.cache_key` (the tests call it on the model)."""
        return _mcache.cache_key(self, method, hash_size)

    # ------------------------------------------------------------------
    def import_example(self, data: str = "synthetic", url: str | None = None) -> list[str]:
        """Paths of an example set: ``'synthetic'`` (built in) or ``'flowers'`` (download)."""
        from .examples import import_example

        return import_example(data=data, url=url)

    def move(self, gui: bool = False, action: str = "move", dry_run: bool = False, target: str | None = None,
             yes: bool = False, journal: str | None = None, **kwargs: Any):
        """Move the duplicates of every group into ``undouble`` subfolders (journaled, undoable).

        The keeper of each group stays; a copy of it and every other member
        go into the ``undouble`` subfolder of their own directories. Asks
        before acting unless ``yes=True``; ``dry_run=True`` prints the plan.
        ``gui=True`` lets you pick the keeper(s) of each group.

        Returns
        -------
        str or None
            The journal written (None for a dry run or when nothing is moved);
            undo it with ``undouble.undo(journal)``.
        """
        self._require("select_pathnames", "group")
        if self.results.get("source") != "files":
            raise ValueError("move() needs images imported from files, not an array")
        if _has_url(list(self.results["pathnames"])):
            raise ValueError("move() works on local files only: moving objects in storage (copy + delete on S3) "
                             "is not atomic and is not supported yet; scan and export the groups instead")
        from .move import move_groups

        metadata = {"method": self.params["method"], "hash_size": self.params["hash_size"],
                    "threshold": self.params["threshold"], "dim": list(self.params["dim"]),
                    "grayscale": self.params["grayscale"]}
        ranks = _mgroups.ranks_with_relations(self)
        return move_groups(self.results["select_pathnames"], action=action, dry_run=dry_run, target=target,
                           yes=yes, gui=gui, file_stats=self.results["filestats"], metadata=metadata,
                           journal=journal, ranks=ranks, **kwargs)

    def plot(self, cmap: str | None = None, figsize: tuple[float, float] | None = None,
             max_groups: int | None = None, savedir: str | None = None, show: bool | None = None):
        """The groups' images (from the files, true aspect) in a grid, titled with score, blur and resolution.

        On screen one figure pages through the groups (keys n/p); with ``savedir`` one PNG per
        group (see :func:`undouble.plot.plot_groups`). ``figsize`` defaults to 13 x 6.2 inches.
        """
        self._require("select_pathnames", "group")
        from .plot import plot_groups

        return plot_groups(self, cmap=cmap, figsize=figsize, max_groups=max_groups, savedir=savedir, show=show)

    def plot_hash(self, idx: Sequence[int] | int | None = None, filenames: Sequence[str] | str | None = None,
                  figsize: tuple[float, float] | None = None, savedir: str | None = None, show: bool | None = None):
        """Show each chosen image beside its hash bits."""
        self._require("img_hash", "compute_hash")
        from .plot import plot_hashes

        return plot_hashes(self, idx=idx, filenames=filenames, figsize=figsize, savedir=savedir, show=show)

    def export(self, path: str | os.PathLike, format: str | None = None) -> str:
        """Write the groups to a JSON or CSV file (format from the extension unless given).

        The JSON is the object ``undouble scan --json`` prints: ``groups`` lists
        each group's files with the keeper first, ``distances`` their distances
        to the keeper (see :mod:`undouble.export`).

        Returns
        -------
        str
            The path written.
        """
        self._require("select_pathnames", "group")
        from .export import export_groups

        return export_groups(self, path, format=format)

    def report(self, path: str | os.PathLike, thumbnails: str = "embed", max_side: int = 160,
               quality: int = 80) -> str:
        """Write a self-contained HTML page for reviewing every group in a browser.

        Each group is a row of thumbnails (read from the files, at their true
        aspect ratio), the keeper first and marked, with folder, file name,
        resolution, file size, sharpness, distance and relation to the keeper
        and why the keeper was chosen; a summary on top; filter, sort and pages
        in plain JavaScript (see :mod:`undouble.report`).

        Parameters
        ----------
        path : str or PathLike
            The ``.html`` file (an existing file that is not an undouble report is never overwritten).
        thumbnails : {'embed', 'files'}
            JPEG data URIs in the page, or JPEGs in ``<name>_files/`` beside it.
        max_side, quality : int
            Longer side (pixels) and JPEG quality of the thumbnails.

        Returns
        -------
        str
            The path written.
        """
        self._require("select_pathnames", "group")
        from .report import write_report

        return write_report(self, path, thumbnails=thumbnails, max_side=max_side, quality=quality)

    # ------------------------------------------------------------------
    def _require(self, key: str, step: str) -> None:
        if key not in self.results:
            raise RuntimeError(f"run {step}() first")

    def __repr__(self) -> str:
        n = len(self.results.get("pathnames", []))
        return f"Undouble(method={self.params['method']!r}, hash_size={self.params['hash_size']}, images={n})"
