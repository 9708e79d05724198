"""File listing, image decoding and the streaming import pipeline.

The package is split by job; every name is importable from ``undouble.io``:

* :mod:`undouble.io.files`: listing image files, extensions, skip reasons
  (:class:`ImageReadError`), symbolic-link problems.
* :mod:`undouble.io.jpeg`: JPEG/PNG markers, EXIF orientation, the
  reduced-decoding rule.
* :mod:`undouble.io.decode`: :func:`read_image`, :func:`load_file` and the
  OpenCV/Pillow decoders.
* :mod:`undouble.io.storage`: where preprocessed images are kept
  (``keep_images``), memory-mapped stores, lazy images.
* :mod:`undouble.io.measure`: what the import measures on each decoded image
  (sharpness on a canonical scale, greyness, verification thumbnail).
* :mod:`undouble.io.pipeline`: the streaming :func:`ingest` and the thread map.

A test or caller that replaces a function (``monkeypatch``) must replace it in
the submodule that looks it up, e.g. ``undouble.io.decode.read_image``.
"""
from __future__ import annotations

from ..batches import LazyImages, concat_batches
from ..paths import image_store_dir
from .files import (
    DEFAULT_EXTENSIONS, ImageReadError, OUTPUT_FOLDER, _SIGNATURES, _link_problem, _open_error, _signature,
    list_images, log_skipped, normalise_extensions)
from .jpeg import (
    JpegInfo, PngInfo, _REDUCED_FLAGS, _SOF_MARKERS, _STANDALONE_MARKERS, _reduction_for, apply_orientation,
    exif_orientation, jpeg_info, png_info)
from .decode import (
    DEFAULT_MAX_PIXELS, DecodedImage, LoadedFile, 
    _READ_ALL_LIMIT, _decode_file, _decode_jpeg_opencv, _decode_pillow, _decode_png_opencv,
    _decoder_error, _grey_to_rgb, _orientation_of, _read_checked, _register_heif, _too_large, decode_bytes, decoded_blur,
    finish_decoded, load_file, pillow_size_check_off, read_image, to_rgb_array)
from .storage import (
    DEFAULT_IMAGE_MEMORY_LIMIT, KEEP_IMAGES_CHOICES, _remove_quietly, available_memory, choose_storage, disk_array,
    populated_empty,
    lazy_images, load_preprocessed, normalise_keep_images)
from .measure import Measures, measure_decoded, thumbnail_maker
from .pipeline import (
    DEFAULT_CHUNK, DEFAULT_DECODE_MEMORY, ByteBudget, Ingested, _RAW_BYTES_LIMIT, _load_kernels, default_jobs,
    hash_in_chunks, ingest, map_threads, stack_thumbs)
from .messages import MessageLog, StderrCapture, is_damage

__all__ = [
    "ByteBudget",
    "DEFAULT_CHUNK",
    "DEFAULT_DECODE_MEMORY",
    "DEFAULT_EXTENSIONS",
    "DEFAULT_IMAGE_MEMORY_LIMIT",
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "ImageReadError",
    "Ingested",
    "MessageLog",
    "JpegInfo",
    "KEEP_IMAGES_CHOICES",
    "LazyImages",
    "LoadedFile",
    "Measures",
    "OUTPUT_FOLDER",
    "PngInfo",
    "StderrCapture",
    "apply_orientation",
    "available_memory",
    "choose_storage",
    "concat_batches",
    "decode_bytes",
    "decoded_blur",
    "default_jobs",
    "disk_array",
    "populated_empty",
    "exif_orientation",
    "finish_decoded",
    "hash_in_chunks",
    "image_store_dir",
    "ingest",
    "is_damage",
    "jpeg_info",
    "lazy_images",
    "list_images",
    "load_file",
    "load_preprocessed",
    "log_skipped",
    "map_threads",
    "measure_decoded",
    "normalise_extensions",
    "normalise_keep_images",
    "pillow_size_check_off",
    "png_info",
    "read_image",
    "stack_thumbs",
    "thumbnail_maker",
    "to_rgb_array",
]
