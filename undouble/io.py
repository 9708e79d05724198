"""File listing, image decoding and the streaming import pipeline.

Decoding
--------
:func:`read_image` turns any supported file into RGB uint8 pixels with the
EXIF orientation applied:

* **JPEG** (recognised by its bytes, whatever the extension) is decoded by
  OpenCV from the bytes read by Python (``cv2.imdecode``, so non-ASCII paths
  work everywhere), at 1/2, 1/4 or 1/8 size when the reduced image is still
  at least twice ``dim`` on both axes (``IMREAD_REDUCED_COLOR_*``: libjpeg's
  scaled IDCT, which skips most of the work). The size, the EXIF orientation
  and the completeness of the file (an end-of-image marker after the scan)
  are read from the JPEG markers first, so that a truncated JPEG is refused
  and the orientation is applied by us on every OpenCV version (decoding
  uses ``IMREAD_IGNORE_ORIENTATION``). CMYK/YCCK JPEGs, and any JPEG that
  OpenCV cannot decode, go through Pillow (``draft`` reduced decoding, same
  rule). Both give the same pixels here; OpenCV is the faster: on 300
  camera-like JPEGs (4.9 MP on average) on 2 threads, ``read_image``
  decodes 143 images/s with it against 129 with Pillow's ``draft``
  (``benchmarks/bench_ingest.py``), and at full size it is about 20 %
  faster (48 against 60 ms per image).
* **PNG** (by its bytes) whose chunks are whole, without EXIF, 8- or 16-bit
  grey/RGB with or without alpha, or 8-bit palette, is decoded by OpenCV
  (libpng gives the same pixels as Pillow with the conversions below, about
  30 % faster and without one copy); other PNGs go through Pillow.
* **Everything else** (tif/tiff, bmp, webp, gif, avif, and heic/heif
  with the optional ``heif`` extra, pillow-heif) is decoded by Pillow, then
  ``ImageOps.exif_transpose``; animations give their first frame.

How reduced decoding changes hashes (``benchmarks/bench_ingest.py
--accuracy``): on 300 camera-like JPEGs (1.2-12 MP, textured and noisy,
1.5 bits per pixel; 294 of them decoded reduced), phash (hash_size 8,
``dim=(128, 128)``) of the reduced decoding differs from that of the full
decoding by 0.28 bits on average: 86 % identical, 99th percentile 2 bits,
maximum 4 bits. The generated example set (320 x 240) is never reduced at
``dim=(128, 128)``; at ``dim=(32, 32)``, where 1/2 applies to 220 of its
322 images, the mean difference is 0.09 bits (maximum 2).

Colour conversions (:func:`to_rgb_array`): grey and bilevel images are
repeated on the three channels; palette images give their palette colours;
alpha is dropped (the colour under transparent pixels is kept, as ImageHash
and OpenCV's ``IMREAD_COLOR`` do); 16-bit images keep their high byte
(``x >> 8``, as libpng and Pillow do for 16-bit RGB); 32-bit integer and
float images are scaled by their maximum to 0..255 (negative and NaN values
give 0); CMYK, YCbCr, LAB and HSV use Pillow's conversion to RGB.

Bad files
---------
Nothing stops a run: every file that cannot be used raises
:class:`ImageReadError` in :func:`read_image`, and :func:`ingest` records it
as ``(path, reason)`` in ``skipped`` (``results['skipped']``), logged once.
Reasons: file not found, broken symbolic link, symbolic link loop, not a
regular file, permission denied, empty file, not an image, truncated image,
corrupt image, image too large (checked from the header, before decoding),
HEIC support missing, and any unexpected decoder error.

Images kept after import (``keep_images``)
------------------------------------------
``'auto'`` keeps the preprocessed images in memory when they fit
``image_memory_limit`` (and half the available RAM), else in a memory-mapped
file on disk (:func:`image_store_dir`), else not at all. ``True``/``'memory'``,
``'disk'`` and ``False``/``'none'`` force one of them. Without kept images,
``results['img']`` is a :class:`~undouble.batches.LazyImages` that decodes a
row again when it is indexed; :func:`load_preprocessed` gives one image in
every case.
"""
from __future__ import annotations

import errno
import io as _io
import math
import os
import shutil
import stat as _stat
import struct
import tempfile
import threading
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps

from ._logging import logger, progress
from .batches import LazyImages, concat_batches
from .keeper import laplacian_variance
from .paths import image_store_dir
from .preprocess import preprocess

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "png", "tiff", "tif", "jpg", "jpeg", "jfif", "bmp", "webp", "gif", "heic", "heif", "avif",
)
OUTPUT_FOLDER = "undouble"
DEFAULT_MAX_PIXELS = 200_000_000
"""Images with more pixels than this are refused before decoding (decompression bombs)."""
DEFAULT_IMAGE_MEMORY_LIMIT = 2 * 1024 ** 3
"""``keep_images='auto'`` keeps the preprocessed images in memory up to this many bytes."""
DEFAULT_CHUNK = 256
"""Images hashed together (and written to the image store together)."""
KEEP_IMAGES_CHOICES = ("auto", "memory", "disk", "none")

_READ_ALL_LIMIT = 256 * 1024 ** 2  # larger files are streamed to Pillow instead of read at once
_HEIF_REGISTERED: bool | None = None
_HEIF_LOCK = threading.Lock()


class ImageReadError(Exception):
    """A file that cannot be used as an image; the message is the reason."""


@dataclass
class DecodedImage:
    """RGB uint8 pixels (possibly reduced in size) and the original size.

    Attributes
    ----------
    pixels : np.ndarray
        ``H x W x 3`` uint8, RGB, in display orientation.
    width, height : int
        Pixels of the original image in display orientation (EXIF
        orientations 5-8 swap the stored axes).
    file_size, mtime_ns : int
        The file's size and modification time when it was read (0 when
        unknown).
    """

    pixels: np.ndarray
    width: int
    height: int
    file_size: int = 0
    mtime_ns: int = 0


# --------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# JPEG markers and EXIF orientation
# --------------------------------------------------------------------------

_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_STANDALONE_MARKERS = frozenset((0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))


@dataclass(frozen=True)
class JpegInfo:
    """What the markers of a JPEG say, read without decoding it.

    Attributes
    ----------
    width, height : int
        Stored size (before EXIF orientation).
    components : int
        1 (grey), 3 (YCbCr / RGB) or 4 (CMYK / YCCK).
    orientation : int
        EXIF orientation 1..8 (1 when absent or invalid).
    complete : bool
        An end-of-image marker follows the first scan (False: truncated).
    """

    width: int
    height: int
    components: int
    orientation: int
    complete: bool


def exif_orientation(tiff: bytes | memoryview, start: int = 0, end: int | None = None) -> int:
    """EXIF orientation (tag 0x0112 of IFD0) of the TIFF structure at ``tiff[start:end]``.

    Returns 1 when the tag is absent, malformed or outside 1..8 (Pillow's
    ``exif_transpose`` then leaves the image as it is, too).
    """
    end = len(tiff) if end is None else end
    if end - start < 8:
        return 1
    order = bytes(tiff[start:start + 2])
    if order == b"II":
        big = False
    elif order == b"MM":
        big = True
    else:
        return 1

    def u16(at: int) -> int:
        return int.from_bytes(tiff[at:at + 2], "big" if big else "little")

    def u32(at: int) -> int:
        return int.from_bytes(tiff[at:at + 4], "big" if big else "little")

    ifd = start + u32(start + 4)
    if ifd + 2 > end:
        return 1
    count = u16(ifd)
    for k in range(min(count, 512)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > end:
            return 1
        if u16(entry) != 0x0112:
            continue
        kind = u16(entry + 2)
        value = u16(entry + 8) if kind == 3 else u32(entry + 8) if kind == 4 else 0
        return value if 1 <= value <= 8 else 1
    return 1


def jpeg_info(data: bytes) -> JpegInfo | None:
    """Size, components, EXIF orientation and completeness of a JPEG.

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    JpegInfo or None
        None when the markers do not describe a frame (not a JPEG, or one
        too damaged to read without a decoder: Pillow then gives the reason).
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    view = memoryview(data)
    pos = 2
    size: tuple[int, int, int] | None = None
    orientation = 1
    exif_seen = False
    while pos < n:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)  # extraneous bytes: libjpeg skips them too
            if pos < 0:
                break
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == 0xD9:  # end of image before any scan
            break
        if pos + 2 > n:
            break
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            return None
        body = pos + 2
        if marker in _SOF_MARKERS:
            if body + 6 > n:
                break
            height = (data[body + 1] << 8) | data[body + 2]
            width = (data[body + 3] << 8) | data[body + 4]
            size = (width, height, data[body + 5])
        elif marker == 0xE1 and not exif_seen and view[body:body + 6] == b"Exif\x00\x00":
            exif_seen = True
            orientation = exif_orientation(view, body + 6, min(n, pos + length))
        elif marker == 0xDA:
            if size is None:
                return None
            scan = pos + length  # entropy-coded data cannot hold FF D9: it ends the image
            complete = data.rfind(b"\xff\xd9", max(scan, n - 4096)) >= 0 or data.find(b"\xff\xd9", scan) >= 0
            return JpegInfo(size[0], size[1], size[2], orientation, complete)
        pos += length
    if size is None:
        return None
    return JpegInfo(size[0], size[1], size[2], orientation, False)


@dataclass(frozen=True)
class PngInfo:
    """What the chunks of a PNG say, read without decoding it.

    Attributes
    ----------
    width, height : int
        Size from ``IHDR``.
    bit_depth, colour_type : int
        From ``IHDR``.
    has_exif : bool
        An ``eXIf`` chunk is present (its orientation is then applied by Pillow).
    complete : bool
        Every chunk is whole and ``IEND`` is reached.
    """

    width: int
    height: int
    bit_depth: int
    colour_type: int
    has_exif: bool
    complete: bool


def png_info(data: bytes) -> PngInfo | None:
    """Walk the chunks of a PNG held in ``data``; None when it is not a PNG with an ``IHDR``."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, bit_depth, colour_type = struct.unpack_from(">IIBB", data, 16)
    at, end, has_exif, complete = 8, len(data), False, False
    while at + 12 <= end:
        length = struct.unpack_from(">I", data, at)[0]
        kind = data[at + 4:at + 8]
        at += 12 + length
        if at > end:
            break
        if kind == b"eXIf":
            has_exif = True
        elif kind == b"IEND":
            complete = True
            break
    return PngInfo(int(width), int(height), int(bit_depth), int(colour_type), has_exif, complete)


def _decode_png_opencv(data: bytes, info: PngInfo) -> np.ndarray | None:
    """RGB pixels of a plain PNG by OpenCV (libpng), or None to leave the file to Pillow.

    Only 8- and 16-bit grey, grey+alpha, RGB and RGBA and 8-bit palette PNGs
    without EXIF come here: for these libpng gives Pillow's pixels after
    :func:`to_rgb_array` (alpha dropped, the high byte of 16-bit samples,
    palette colours), 30 % faster and without Pillow's extra copy. The tests
    compare both on every kind.
    """
    if info.has_exif or not info.complete:
        return None
    plain = (info.colour_type in (0, 2, 4, 6) and info.bit_depth in (8, 16)) or (
        info.colour_type == 3 and info.bit_depth == 8)
    if not plain:
        return None
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.dtype != np.uint8 or bgr.shape != (info.height, info.width, 3):
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels into display orientation, as ``ImageOps.exif_transpose``.

    Parameters
    ----------
    pixels : np.ndarray
        ``H x W`` or ``H x W x C`` (C <= 4), C-contiguous.
    orientation : int
        EXIF orientation 1..8 (other values: unchanged).

    Returns
    -------
    np.ndarray
        C-contiguous pixels (OpenCV's flips and rotations: a copy at memory speed).
    """
    if orientation == 2:
        return cv2.flip(pixels, 1)
    if orientation == 3:
        return cv2.rotate(pixels, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(pixels, 0)
    if orientation == 5:
        return cv2.transpose(pixels)
    if orientation == 6:
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(pixels), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return np.ascontiguousarray(pixels)


def _reduction_for(width: int, height: int, dim: tuple[int, int] | None) -> int:
    """Largest JPEG reduction (1, 2, 4, 8) keeping at least twice ``dim`` on both axes.

    ``width`` and ``height`` are in the same orientation as ``dim``.
    """
    if dim is None:
        return 1
    for scale in (8, 4, 2):
        if width // scale >= 2 * dim[0] and height // scale >= 2 * dim[1]:
            return scale
    return 1


_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


# --------------------------------------------------------------------------
# Pillow helpers
# --------------------------------------------------------------------------

def _register_heif() -> bool:
    global _HEIF_REGISTERED
    with _HEIF_LOCK:
        if _HEIF_REGISTERED is None:
            try:
                from pillow_heif import register_heif_opener

                register_heif_opener()
                _HEIF_REGISTERED = True
            except ImportError:
                _HEIF_REGISTERED = False
    return _HEIF_REGISTERED


_PIL_LIMIT_LOCK = threading.Lock()
_PIL_LIMIT_USERS = 0
_PIL_LIMIT_SAVED: Any = None


@contextmanager
def pillow_size_check_off() -> Iterator[None]:
    """Let undouble's ``max_pixels`` replace Pillow's decompression-bomb check.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and refuses twice that,
    whatever ``max_pixels`` says; :func:`read_image` checks ``max_pixels``
    itself, from the header, before decoding. While at least one caller is
    inside this context, ``Image.MAX_IMAGE_PIXELS`` is None; the user's value
    comes back when the last one leaves (reference counted, thread-safe).
    """
    global _PIL_LIMIT_USERS, _PIL_LIMIT_SAVED
    with _PIL_LIMIT_LOCK:
        if _PIL_LIMIT_USERS == 0:
            _PIL_LIMIT_SAVED = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _PIL_LIMIT_USERS += 1
    try:
        yield
    finally:
        with _PIL_LIMIT_LOCK:
            _PIL_LIMIT_USERS -= 1
            if _PIL_LIMIT_USERS == 0:
                Image.MAX_IMAGE_PIXELS = _PIL_LIMIT_SAVED


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """RGB uint8 pixels (``H x W x 3``) of a PIL image in any mode.

    Conversions:

    * ``RGB``: as is. ``L``, ``1``: the grey value on the three channels.
    * ``P``, ``PA``: the palette colours. ``RGBA``, ``LA``, ``PA``, ``RGBa``:
      alpha is dropped, the colour under transparent pixels is kept (as
      ImageHash and OpenCV's ``IMREAD_COLOR`` do).
    * 16-bit grey (``I;16*``): the high byte, ``x >> 8`` (as libpng and
      Pillow do for 16-bit RGB files, so grey and colour 16-bit files agree).
    * ``I`` (32-bit integer): as 8-bit when the maximum is <= 255, as 16-bit
      (``x >> 8``) when it is <= 65535, else scaled by the maximum; negative
      values give 0. ``F`` (float): scaled by the maximum, negative and NaN
      values give 0.
    * ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` and others: Pillow's
      ``convert('RGB')``.

    Raises
    ------
    ImageReadError
        When Pillow has no conversion of the mode to RGB.
    """
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img)
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint16, copy=False)
        return _grey_to_rgb((arr >> 8).astype(np.uint8))
    if mode in ("I", "F"):
        arr = np.asarray(img)
        if mode == "F":
            arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        arr = np.clip(arr, 0, None)
        top = arr.max(initial=0)
        if mode == "I" and top <= 255:
            grey = arr.astype(np.uint8)
        elif mode == "I" and top <= 65535:
            grey = (arr >> 8).astype(np.uint8)
        elif top <= 0:
            grey = np.zeros(arr.shape, np.uint8)
        else:
            grey = np.clip(np.rint(arr * (255.0 / float(top))), 0, 255).astype(np.uint8)
        return _grey_to_rgb(grey)
    try:
        rgb = img.convert("RGB")
    except (ValueError, OSError):
        try:
            rgb = img.convert("RGBA").convert("RGB")
        except (ValueError, OSError) as exc:
            raise ImageReadError(f"unsupported colour mode {mode!r}: {exc}") from None
    return np.asarray(rgb)


# --------------------------------------------------------------------------
# Decoding one file
# --------------------------------------------------------------------------

def _too_large(width: int, height: int, max_pixels: int) -> ImageReadError:
    return ImageReadError(f"image too large ({width}x{height} = {width * height:,} pixels > "
                          f"max_pixels {max_pixels:,}); refused before decoding")


def _decode_jpeg_opencv(data: bytes, info: JpegInfo, dim: tuple[int, int] | None) -> np.ndarray | None:
    """RGB pixels in display orientation, or None when OpenCV cannot decode the file."""
    swap = info.orientation >= 5
    target = None if dim is None else ((dim[1], dim[0]) if swap else (dim[0], dim[1]))
    scale = _reduction_for(info.width, info.height, target)
    buf = np.frombuffer(data, dtype=np.uint8)
    bgr = cv2.imdecode(buf, _REDUCED_FLAGS[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        return None
    expect = (math.ceil(info.height / scale), math.ceil(info.width / scale))
    if bgr.shape[:2] != expect:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return apply_orientation(rgb, info.orientation)


def _decode_pillow(source: Any, dim: tuple[int, int] | None, max_pixels: int) -> DecodedImage:
    """Decode with Pillow: header check, JPEG draft, first frame, EXIF transpose, RGB."""
    with pillow_size_check_off():
        with Image.open(source) as img:
            width, height = img.size
            if width < 1 or height < 1:
                raise ImageReadError("image has no pixels")
            if width * height > max_pixels:
                raise _too_large(width, height, max_pixels)
            if img.format in ("JPEG", "MPO") and dim is not None:
                swap = _orientation_of(img) >= 5  # JPEG's EXIF is read with the header
                target = (dim[1], dim[0]) if swap else (dim[0], dim[1])
                scale = _reduction_for(width, height, target)
                if scale > 1:
                    img.draft("RGB", (math.ceil(width / scale), math.ceil(height / scale)))
            img.load()
            orientation = _orientation_of(img)  # PNG may hold its EXIF after the pixels
            shown = img
            if orientation != 1:
                try:
                    shown = ImageOps.exif_transpose(img)
                except Exception:  # malformed EXIF: keep the stored orientation
                    orientation = 1
            pixels = to_rgb_array(shown)
    if orientation >= 5:
        width, height = height, width
    return DecodedImage(pixels, width, height)


def _orientation_of(img: Image.Image) -> int:
    """EXIF orientation 1..8 of an open PIL image (1 when absent or unreadable)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block must not lose the image
        return 1
    return value if 1 <= value <= 8 else 1


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


def read_image(path: str | os.PathLike, dim: tuple[int, int] | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, backend: str = "auto") -> DecodedImage:
    """Decode one file to RGB uint8 with EXIF orientation applied.

    Parameters
    ----------
    path : str or PathLike
        Image file (any name: spaces and non-ASCII characters are fine).
    dim : (int, int) or None
        Target size ``(width, height)`` of the preprocessing. JPEGs are
        decoded at 1/2, 1/4 or 1/8 size when the result stays at least twice
        ``dim`` on both axes; ``None`` decodes at full size.
    max_pixels : int
        Refuse images with more pixels than this, from their header, before
        decoding them.
    backend : {'auto', 'pillow'}
        ``'auto'`` decodes JPEGs and plain PNGs with OpenCV (see the module
        notes) and everything else with Pillow; ``'pillow'`` uses Pillow for all.

    Returns
    -------
    DecodedImage
        Pixels (``H x W x 3``, RGB, display orientation), the original
        image's width and height in display orientation, and the file's size
        and modification time.

    Raises
    ------
    ImageReadError
        With the reason: missing, broken link, link loop, not a regular file,
        permission denied, empty, not an image, truncated, corrupt, too large,
        HEIC support missing.
    """
    path = os.fspath(path)
    if backend not in ("auto", "pillow"):
        raise ValueError(f"backend must be 'auto' or 'pillow', got {backend!r}")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _open_error(exc, path) from None
    if not _stat.S_ISREG(st.st_mode):  # never open a pipe: it could block forever
        kind = "a folder" if _stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
        raise ImageReadError(f"not a regular file ({kind})")
    if st.st_size == 0:
        raise ImageReadError("empty file (0 bytes)")
    if path.lower().endswith((".heic", ".heif")) and not _register_heif():
        raise ImageReadError("HEIC/HEIF needs the optional 'heif' extra: pip install 'undouble[heif]'")
    try:
        with open(path, "rb") as fh:
            fst = os.fstat(fh.fileno())
            decoded = _decode_file(fh, int(fst.st_size), dim, max_pixels, backend)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"image too large (decompression bomb): {exc}") from None
    except Image.UnidentifiedImageError:
        hint = ""
        if path.lower().endswith(".avif"):
            hint = " (AVIF needs Pillow >= 11.3 with AVIF support)"
        raise ImageReadError(f"not an image, or an unsupported format{hint}") from None
    except MemoryError:
        raise ImageReadError("not enough memory to decode this image") from None
    except OSError as exc:
        if exc.errno is not None:  # from the file system, not from a decoder
            raise _open_error(exc, path) from None
        raise _decoder_error(exc) from None
    except (SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error, RuntimeError,
            cv2.error) as exc:
        raise _decoder_error(exc) from None
    decoded.file_size, decoded.mtime_ns = int(fst.st_size), int(fst.st_mtime_ns)
    return decoded


def _decoder_error(exc: BaseException) -> ImageReadError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return ImageReadError(f"truncated image: {text}")
    return ImageReadError(f"corrupt image: {text}")


def _decode_file(fh: Any, size: int, dim: tuple[int, int] | None, max_pixels: int, backend: str
                 ) -> DecodedImage:
    """Decode an open file: OpenCV for JPEG where it applies, Pillow otherwise."""
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    whole = size <= _READ_ALL_LIMIT
    data = fh.read() if whole else fh.read(1 << 16)
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    if data[4:8] == b"ftyp":
        _register_heif()  # HEIC content under another extension
    if whole and backend == "auto" and data[:3] == b"\xff\xd8\xff":
        info = jpeg_info(data)
        if info is not None and info.width > 0 and info.height > 0:
            if info.width * info.height > max_pixels:
                raise _too_large(info.width, info.height, max_pixels)
            if not info.complete:
                raise ImageReadError("truncated image (no end-of-image marker after the scan)")
            if info.components in (1, 3):
                pixels = _decode_jpeg_opencv(data, info, dim)
                if pixels is not None:
                    swap = info.orientation >= 5
                    return DecodedImage(pixels, info.height if swap else info.width,
                                        info.width if swap else info.height)
    if whole and backend == "auto" and data[:8] == b"\x89PNG\r\n\x1a\n":
        png = png_info(data)
        if png is not None and png.width > 0 and png.height > 0:
            if png.width * png.height > max_pixels:
                raise _too_large(png.width, png.height, max_pixels)
            pixels = _decode_png_opencv(data, png)
            if pixels is not None:
                return DecodedImage(pixels, png.width, png.height)
    if not whole:
        fh.seek(0)
    try:
        return _decode_pillow(_io.BytesIO(data) if whole else fh, dim, max_pixels)
    except Image.UnidentifiedImageError:
        kind = _signature(data)
        if kind is None:
            raise
        raise ImageReadError(f"corrupt image (a {kind} signature, but its header cannot be read)") from None


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


class LoadedFile(NamedTuple):
    """One file, decoded and preprocessed by :func:`load_file`.

    Attributes
    ----------
    image : np.ndarray
        The preprocessed image (as :func:`undouble.preprocess.preprocess`).
    resolution : (int, int)
        Original ``(width, height)`` in display orientation.
    filestat : (int, int)
        The file's ``(size, mtime_ns)`` when it was read.
    blur : float
        Variance of the Laplacian of the decoded image in grey
        (:func:`undouble.keeper.laplacian_variance`), measured at the size it
        was decoded at (large JPEGs: 1/2 to 1/8); NaN when not measured.
    blur_pixels : int
        Pixel count of the image ``blur`` was measured on (0 when not measured).
    """

    image: np.ndarray
    resolution: tuple[int, int]
    filestat: tuple[int, int]
    blur: float = math.nan
    blur_pixels: int = 0


def decoded_blur(pixels: np.ndarray) -> float:
    """Sharpness of decoded RGB uint8 pixels: the variance of the Laplacian of their grey."""
    return laplacian_variance(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))


def _read_checked(path: str, dim: tuple[int, int], max_pixels: int, backend: str) -> DecodedImage:
    """:func:`read_image`, with any unexpected error turned into an :class:`ImageReadError`."""
    try:
        return read_image(path, dim, max_pixels, backend)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError("not enough memory to decode this image") from None
    except Exception as exc:  # a decoder bug must not stop a run of 100,000 files
        raise ImageReadError(f"unexpected error while decoding: {type(exc).__name__}: {exc}") from None


def finish_decoded(decoded: DecodedImage, dim: tuple[int, int], grayscale: bool = False,
                   measure_blur: bool = False) -> LoadedFile:
    """Preprocess decoded pixels (and measure their sharpness): the second half of :func:`load_file`.

    Raises
    ------
    ImageReadError
        For any error, with the reason.
    """
    try:
        img = preprocess(decoded.pixels, dim, grayscale)
        blur, blur_pixels = math.nan, 0
        if measure_blur:
            blur = decoded_blur(decoded.pixels)
            blur_pixels = int(decoded.pixels.shape[0]) * int(decoded.pixels.shape[1])
    except MemoryError:
        raise ImageReadError("not enough memory to preprocess this image") from None
    except Exception as exc:
        raise ImageReadError(f"unexpected error while preprocessing: {type(exc).__name__}: {exc}") from None
    return LoadedFile(img, (decoded.width, decoded.height), (decoded.file_size, decoded.mtime_ns),
                      blur, blur_pixels)


def load_file(path: str, dim: tuple[int, int], grayscale: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
              backend: str = "auto", measure_blur: bool = False) -> LoadedFile:
    """Decode and preprocess one file.

    Parameters
    ----------
    path : str
        The file.
    dim, grayscale, max_pixels, backend
        As :func:`read_image` and :func:`undouble.preprocess.preprocess`.
    measure_blur : bool
        Also measure the sharpness of the decoded image (``blur``): the keeper
        ranking then needs no second decoding.

    Returns
    -------
    LoadedFile
        A named tuple ``(image, resolution, filestat, blur, blur_pixels)``.

    Raises
    ------
    ImageReadError
        For every file that cannot be used (any unexpected error included),
        with the reason.
    """
    return finish_decoded(_read_checked(path, dim, max_pixels, backend), dim, grayscale, measure_blur)


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

def default_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``None`` or -1 (any value < 1) means all cores."""
    if n_jobs is None or n_jobs < 1:
        return max(1, os.cpu_count() or 1)
    return int(n_jobs)


def map_threads(func: Callable[[Any], Any], items: Sequence, n_jobs: int | None, bar: Any = None,
                window: int | None = None) -> Iterator[Any]:
    """Apply ``func`` to ``items`` on a thread pool, yielding results in order.

    At most ``window`` calls (default ``8 * threads``, at least 16) are
    submitted ahead of the one being yielded, so that memory holds only a
    bounded number of results however long ``items`` is. ``bar`` (a tqdm
    bar) is advanced once per item.
    """
    workers = default_jobs(n_jobs)
    if workers == 1 or len(items) <= 1:
        for item in items:
            yield func(item)
            if bar is not None:
                bar.update(1)
        return
    window = max(16, 8 * workers) if window is None else max(1, int(window))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="undouble-decode") as pool:
        pending: deque[Future] = deque()
        it = iter(items)
        try:
            for item in it:
                pending.append(pool.submit(func, item))
                if len(pending) >= window:
                    break
            while pending:
                result = pending.popleft().result()
                for item in it:
                    pending.append(pool.submit(func, item))
                    break
                yield result
                if bar is not None:
                    bar.update(1)
        finally:
            for fut in pending:
                fut.cancel()


# --------------------------------------------------------------------------
# Where preprocessed images are kept
# --------------------------------------------------------------------------

def available_memory() -> int | None:
    """Bytes of RAM available to new allocations (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def normalise_keep_images(keep_images: Any) -> str:
    """``'auto'``, ``'memory'``, ``'disk'`` or ``'none'`` from the ``keep_images`` argument."""
    if keep_images is True:
        return "memory"
    if keep_images is False or keep_images is None:
        return "none"
    key = str(keep_images).strip().lower()
    aliases = {"ram": "memory", "true": "memory", "false": "none", "no": "none", "memmap": "disk"}
    key = aliases.get(key, key)
    if key not in KEEP_IMAGES_CHOICES:
        raise ValueError(f"keep_images must be 'auto', True/'memory', 'disk' or False/'none', got {keep_images!r}")
    return key


def choose_storage(keep_images: Any, n_images: int, row_bytes: int,
                   memory_limit: int = DEFAULT_IMAGE_MEMORY_LIMIT, folder: str | None = None) -> str:
    """Where ``n_images`` preprocessed images of ``row_bytes`` each will be kept.

    The ``'auto'`` rule: in memory when they take at most ``memory_limit``
    bytes and at most half the available RAM; else on disk (a memory-mapped
    file in ``folder``) when the disk has room for them plus 1 GiB; else not
    at all (``results['img']`` then decodes an image again when it is used).

    Returns
    -------
    str
        ``'memory'``, ``'disk'`` or ``'none'``.
    """
    choice = normalise_keep_images(keep_images)
    if choice != "auto":
        return choice
    need = int(n_images) * int(row_bytes)
    ram = available_memory()
    if need <= memory_limit and (ram is None or need <= ram // 2):
        return "memory"
    folder = folder or image_store_dir()
    try:
        os.makedirs(folder, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    if need + (1 << 30) <= free:
        logger.info("The %d preprocessed images (%.1f GiB) exceed the memory limit (%.1f GiB): keeping them "
                    "in a memory-mapped file in %s.", n_images, need / 2 ** 30, memory_limit / 2 ** 30, folder)
        return "disk"
    logger.info("The %d preprocessed images (%.1f GiB) fit neither memory nor disk: they are not kept and "
                "are decoded again when shown.", n_images, need / 2 ** 30)
    return "none"


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def disk_array(shape: tuple[int, ...], folder: str | None = None) -> np.memmap:
    """A zero-filled uint8 ``np.memmap`` in ``folder`` (default :func:`image_store_dir`).

    The file is deleted when the array (and every view of it) is no longer
    used: on POSIX its name is removed at once, elsewhere at garbage
    collection or exit.
    """
    folder = folder or image_store_dir()
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="undouble-img-", suffix=".u8", dir=folder)
    os.close(fd)
    if int(np.prod(shape)) == 0:
        _remove_quietly(path)
        return np.zeros(shape, np.uint8)  # type: ignore[return-value]
    arr = np.memmap(path, dtype=np.uint8, mode="w+", shape=shape)
    if os.name == "posix":
        _remove_quietly(path)  # the mapping keeps the data; the space is freed with it
    else:  # pragma: no cover - Windows cannot remove a mapped file
        weakref.finalize(arr, _remove_quietly, path)
    return arr


def lazy_images(paths: Sequence[str], dim: tuple[int, int], grayscale: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, rows: list | None = None) -> Any:
    """A :class:`~undouble.batches.LazyImages` that decodes ``paths[i]`` when row ``i`` is used.

    ``rows`` gives rows already in memory (None where a row is to be decoded).
    A file that can no longer be read raises :class:`ImageReadError` naming it.
    """
    paths = list(paths)

    def load(i: int) -> np.ndarray:
        try:
            return load_file(paths[i], dim, grayscale, max_pixels)[0]
        except ImageReadError as exc:
            raise ImageReadError(f"{paths[i]} cannot be read any more since import_data(): {exc}") from None

    shape = (dim[1], dim[0]) if grayscale else (dim[1], dim[0], 3)
    return LazyImages(list(rows) if rows is not None else [None] * len(paths), load, shape)


# --------------------------------------------------------------------------
# Hash batches
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# The streaming import
# --------------------------------------------------------------------------

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
    blur : np.ndarray
        ``(N,)`` float64 sharpness of each decoded image (NaN when not
        measured; see :class:`LoadedFile`).
    blur_pixels : np.ndarray
        ``(N,)`` int64 pixel count of the image each blur was measured on.
    """

    paths: list[str]
    images: np.ndarray | None
    storage: str
    hashes: Any
    resolution: np.ndarray
    filestats: list[tuple[int, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hash_error: str | None = None
    blur: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    blur_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


_RAW_BYTES_LIMIT = 256 * 1024 ** 2
"""Decoded pixels held while the kernels load (see :func:`ingest`)."""


def _load_kernels(row_shape: tuple[int, ...], dim: tuple[int, int], grayscale: bool, measure_blur: bool,
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
            finish_decoded(DecodedImage(np.zeros((2 * dim[1] + 1, 2 * dim[0] + 1, 3), np.uint8), 1, 1), dim,
                           grayscale, measure_blur)
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
           store_dir: str | None = None, desc: str = "import", measure_blur: bool = True) -> Ingested:
    """Decode, preprocess and hash files in a stream across threads.

    Worker threads decode and preprocess one file each (OpenCV and Pillow
    release the GIL while decoding); the calling thread collects the small
    preprocessed images in input order, hashes them ``chunk`` at a time with
    ``hash_fn`` and writes them to the image store. Memory holds the full
    pixels of at most ``n_jobs`` files at once, a bounded queue of
    preprocessed images, one chunk and the hashes.

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
        Measure the sharpness of every decoded image (``Ingested.blur``), for
        the keeper ranking; it costs about 5 % of the decoding.

    Returns
    -------
    Ingested
    """
    paths = list(paths)
    dim = (int(dim[0]), int(dim[1]))
    row_shape = (dim[1], dim[0]) if grayscale else (dim[1], dim[0], 3)
    row_bytes = int(np.prod(row_shape))
    storage = choose_storage(keep_images, len(paths), row_bytes, image_memory_limit, store_dir)
    if storage == "memory":
        store: np.ndarray | None = np.empty((len(paths),) + row_shape, np.uint8)
    elif storage == "disk":
        store = disk_array((len(paths),) + row_shape, store_dir)
    else:
        store = None
    chunk = max(1, int(chunk))
    buffer = np.empty((min(chunk, max(1, len(paths))),) + row_shape, np.uint8)
    kept: list[str] = []
    resolution: list[tuple[int, int]] = []
    filestats: list[tuple[int, int]] = []
    blurs: list[float] = []
    blur_pixels: list[int] = []
    skipped: list[tuple[str, str]] = []
    batches: list[Any] = []
    hash_error: str | None = None
    filled = 0

    # The kernels load in the background while the workers decode: until they
    # are ready a worker hands back the decoded pixels (``raw``), which this
    # thread queues (up to _RAW_BYTES_LIMIT) and finishes once they are.
    loader, ready = _load_kernels(row_shape, dim, grayscale, measure_blur, hash_fn)
    raw: deque[tuple[str, DecodedImage]] = deque()
    raw_bytes = 0

    def work(path: str):
        try:
            decoded = _read_checked(path, dim, max_pixels, backend)
            if not ready.is_set():
                return decoded, None
            return finish_decoded(decoded, dim, grayscale, measure_blur), None
        except ImageReadError as exc:
            return None, str(exc)

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
            start = len(kept) - filled
            store[start:start + filled] = block
        filled = 0

    def add(path: str, loaded: LoadedFile) -> None:
        nonlocal filled
        buffer[filled] = loaded.image
        filled += 1
        kept.append(path)
        resolution.append(loaded.resolution)
        filestats.append(loaded.filestat)
        blurs.append(loaded.blur)
        blur_pixels.append(loaded.blur_pixels)
        if filled == buffer.shape[0]:
            flush()

    def finish_raw() -> None:
        nonlocal raw_bytes
        ready.wait()
        while raw:
            path, decoded = raw.popleft()
            try:
                add(path, finish_decoded(decoded, dim, grayscale, measure_blur))
            except ImageReadError as exc:
                skipped.append((path, str(exc)))
        raw_bytes = 0

    with pillow_size_check_off(), progress(total=len(paths), desc=desc, unit="img") as bar:
        for path, (loaded, reason) in zip(paths, map_threads(work, paths, n_jobs, bar)):
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
    loader.join()

    images: np.ndarray | None = None
    if store is not None:
        n = len(kept)
        if storage == "memory" and n < len(paths):
            images = store[:n].copy() if n < 0.9 * len(paths) else store[:n]
        else:
            images = store[:n]
    hashes = None if (hash_fn is None or hash_error is not None) else concat_batches(batches)
    return Ingested(kept, images, storage, hashes,
                    np.asarray(resolution, dtype=np.int64).reshape(-1, 2), filestats, skipped, hash_error,
                    np.asarray(blurs, dtype=np.float64), np.asarray(blur_pixels, dtype=np.int64))


# --------------------------------------------------------------------------
# Reading a preprocessed image back
# --------------------------------------------------------------------------

def load_preprocessed(model_or_results: Any, i: int) -> np.ndarray:
    """The preprocessed image of row ``i``, wherever it is kept.

    Works for every ``keep_images`` choice: from memory, from the
    memory-mapped store, or decoded again from ``results['pathnames'][i]``
    (with the model's ``dim``, ``grayscale`` and ``max_pixels``, or the
    ``results['preprocess']`` recipe when only ``results`` is given).
    Plotting code should use it instead of ``results['img'][i]``.

    Parameters
    ----------
    model_or_results : Undouble or dict
        A model after :meth:`~undouble.Undouble.import_data`, or its ``results``.
    i : int
        Row.

    Returns
    -------
    np.ndarray
        uint8 ``(H, W)`` or ``(H, W, 3)``.

    Raises
    ------
    ImageReadError
        When the image must be decoded again and its file cannot be read any more.
    """
    results = getattr(model_or_results, "results", model_or_results)
    img = results.get("img")
    if img is not None:
        return np.asarray(img[int(i)])
    params = getattr(model_or_results, "params", None) or results.get("preprocess") or {}
    if "dim" not in params:
        raise ValueError("results hold no images and no preprocessing recipe (dim, grayscale)")
    path = results["pathnames"][int(i)]
    try:
        return load_file(path, tuple(params["dim"]), bool(params.get("grayscale", False)),
                         int(params.get("max_pixels", DEFAULT_MAX_PIXELS)))[0]
    except ImageReadError as exc:
        raise ImageReadError(f"{path} cannot be read any more since import_data(): {exc}") from None


def log_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    """Log every skipped file once, with its reason."""
    for path, reason in skipped:
        logger.warning("Skipped %s: %s", path, reason)
