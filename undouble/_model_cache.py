"""Hash-cache side of :class:`undouble.model.Undouble`: look files up, merge cached rows, store new hashes.

Plain functions of the model (its ``params``, ``results`` and the attributes ``_cache``, ``_cache_spec``,
``_cache_hits``, ``_imported_hashes``), moved out of :mod:`undouble.model` to keep it small.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import io as uio
from ._logging import logger
from .hashes import compute_hashes


def store_imported_hashes(model, got: Any) -> None:
    """Put the hashes computed while importing into the hash cache (when it is on)."""
    cache = hash_cache(model)
    batch = got.hashes
    key = cache_key(model) if cache is not None else None
    if key is None or batch is None or not got.paths:
        return
    from .cache import CacheEntry

    w = batch.words_per_segment
    entries = []
    for k, path in enumerate(got.paths):
        count = None if batch.counts is None else int(batch.counts[k])
        words = batch.packed[k] if count is None else batch.packed[k, :count * w]
        width, height = (int(v) for v in got.resolution[k])
        size, mtime_ns = got.filestats[k]
        entries.append(CacheEntry(path, int(size), int(mtime_ns), np.array(words, dtype=np.uint64),
                                  int(batch.nbits), count, batch.shape, width, height,
                                  float(got.sharpness[k]), int(got.sharpness_pixels[k]), bool(got.damaged[k]),
                                  tuple(got.warnings.get(path, ())), bool(got.is_grey[k]),
                                  None if got.thumbs is None else got.thumbs[k]))
    cache.store(entries, key)


def imported_batch(model, n: int):
    """The hashes computed by import_data when they are those asked for now, else None."""
    pre = getattr(model, "_imported_hashes", None)
    if pre is None or len(pre[1]) != n:
        return None
    try:
        same = pre[0] == model._hash_config()
    except Exception:  # options that cannot be compared (arrays, ...)
        same = False
    return pre[1] if same else None


def hash_all_rows(model, method: str, hash_size: int):
    """Hash every row chunk by chunk: from the kept images, or by decoding the files again."""
    hasher = model._hasher(method, hash_size, dict(model.params["hash_options"]))
    if model.results.get("img_storage") != "none":
        return uio.hash_in_chunks(model.results["img"], hasher)
    prep = model.results["preprocess"]
    got = uio.ingest(model.results["pathnames"], prep["dim"], prep["grayscale"], hash_fn=hasher,
                     keep_images="none", n_jobs=model.params["n_jobs"], max_pixels=prep["max_pixels"],
                     desc="hash", measure_blur=False)
    if got.skipped:
        names = "; ".join(f"{p}: {r}" for p, r in got.skipped[:5])
        raise uio.ImageReadError(f"{len(got.skipped)} files cannot be read any more since import_data() "
                                 f"({names}); run import_data() again")
    if got.hashes is None:
        raise RuntimeError(f"hashing failed: {got.hash_error}")
    return got.hashes


def hash_cache(model):
    """The open :class:`~undouble.cache.HashCache`, or None when caching is off."""
    spec = model.params.get("cache")
    if not spec:
        return None
    current = getattr(model, "_cache", None)
    if getattr(model, "_cache_spec", None) is not spec:  # one try per spec: a refusal is logged once
        from .cache import open_cache

        current, model._cache_spec = open_cache(spec), spec
        model._cache = current
    return current


def cache_key(model, method: str | None = None, hash_size: int | None = None):
    from .cache import hash_params

    return hash_params(method or model.params["method"], hash_size or model.params["hash_size"],
                       model.params["hash_options"], model.params["dim"], model.params["grayscale"])


def cache_lookup(model, paths: Sequence[str]) -> dict:
    """Cache entries of the unchanged files among ``paths`` ({} when caching is off)."""
    cache = hash_cache(model)
    hits = cache.lookup(paths, cache_key(model)) if cache is not None and paths else {}
    if hits and uio.thumbnail_maker() is not None:  # rows stored before verification existed
        hits = {p: e for p, e in hits.items() if e.thumb is not None}
    model._cache_hits = (cache_key(model), hits) if hits else None  # compute_hash need not ask again
    return hits


def merge_cached(model, paths, cached, kept, images, resolution, filestats, got):
    """Rows in ``paths`` order: decoded images, and lazily loaded ones for cache hits.

    What the import measured (sharpness, greyness, thumbnail) comes from
    ``got`` for decoded files and from the cache for the hits.
    """
    at = {p: k for k, p in enumerate(kept)}
    order = [p for p in paths if p in cached or p in at]
    rows = [images[at[p]] if p in at else None for p in order]
    res = [resolution[at[p]] if p in at else cached[p].resolution for p in order]
    stats = [filestats[at[p]] if p in at else cached[p].stat for p in order]
    thumbs = None
    if got.thumbs is not None or (not kept and all(cached[p].thumb is not None for p in order)):
        thumbs = [got.thumbs[at[p]] if p in at else cached[p].thumb for p in order]
    measured = {
        "sharpness": [got.sharpness[at[p]] if p in at else cached[p].blur for p in order],
        "blur_pixels": [got.sharpness_pixels[at[p]] if p in at else cached[p].blur_pixels for p in order],
        "is_grey": [got.is_grey[at[p]] if p in at else cached[p].is_grey for p in order],
        "thumbs": None if thumbs is None else uio.stack_thumbs(thumbs),
    }
    stack = uio.lazy_images(order, model.params["dim"], model.params["grayscale"], model.params["max_pixels"],
                            rows=rows)  # decodes a hit the way import_data decodes a miss
    return stack, order, res, stats, measured


def hash_images(model, img: Any, method: str, hash_size: int):
    """HashBatch of every row, from the hash cache where the files are unchanged."""
    cache = hash_cache(model) if model.results.get("source") == "files" else None
    compute = lambda images: compute_hashes(images, method, hash_size, **model.params["hash_options"])  # noqa: E731
    if cache is None:
        return compute(img)
    from .cache import hash_with_cache

    key = cache_key(model, method, hash_size)
    known = getattr(model, "_cache_hits", None)
    batch, hits = hash_with_cache(cache, key, model.results["pathnames"], img, compute, model.results["filestats"],
                                  model.results["resolution"], known=known[1] if known and known[0] == key else None,
                                  blur=model.results.get("sharpness"), blur_pixels=model.results.get("blur_pixels"),
                                  damaged=model.results.get("damaged"), warnings=model.results.get("warnings"),
                                  is_grey=model.results.get("is_grey"), thumbs=model.results.get("thumbs"))
    logger.info("%d of %d hashes from the cache %s.", hits, len(batch), cache.path)
    return batch

# ------------------------------------------------------------------
