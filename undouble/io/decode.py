"""Decoding one file to RGB uint8 pixels, and preprocessing it.

:func:`read_image` turns any supported file into RGB uint8 pixels with the
EXIF orientation applied:

* **JPEG** (recognised by its bytes, whatever the extension) is decoded by
  OpenCV from the bytes read by Python (``cv2.imdecode``, so non-ASCII paths
  work everywhere), reduced by libjpeg's scaled IDCT where the rule of
  :mod:`undouble.io.jpeg` allows. Size, EXIF orientation and completeness are
  read from the markers first, so that a truncated JPEG is refused and the
  orientation is applied by us on every OpenCV version (decoding uses
  ``IMREAD_IGNORE_ORIENTATION``). CMYK/YCCK JPEGs, and any JPEG that OpenCV
  cannot decode, go through Pillow (``draft`` reduced decoding, same rule).
  Both give the same pixels.
* **PNG** (by its bytes) whose chunks are whole, without EXIF, 8- or 16-bit
  grey/RGB with or without alpha, or 8-bit palette, is decoded by OpenCV
  (libpng gives the same pixels as Pillow with the conversions below); other
  PNGs go through Pillow.
* **Everything else** (tif/tiff, bmp, webp, gif, avif, and heic/heif
  with the optional ``heif`` extra, pillow-heif) is decoded by Pillow, then
  ``ImageOps.exif_transpose``; animations give their first frame.

Colour conversions (:func:`to_rgb_array`): grey and bilevel images are
repeated on the three channels; palette images give their palette colours;
alpha is dropped (the colour under transparent pixels is kept, as ImageHash
and OpenCV's ``IMREAD_COLOR`` do); 16-bit images keep their high byte
(``x >> 8``, as libpng and Pillow do for 16-bit RGB); 32-bit integer and
float images are scaled by their maximum to 0..255 (negative and NaN values
give 0); CMYK, YCbCr, LAB and HSV use Pillow's conversion to RGB.

:func:`load_file` decodes and preprocesses one file (:class:`LoadedFile`).
"""
from __future__ import annotations

import io as _io
import math
import mmap
import os
import stat as _stat
import struct
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..keeper import laplacian_variance
from ..preprocess import preprocess
from .files import ImageReadError, _open_error, _signature
from .jpeg import JpegInfo, PngInfo, _REDUCED_FLAGS, _reduction_for, apply_orientation, jpeg_info, png_info

DEFAULT_MAX_PIXELS = 200_000_000
"""Images with more pixels than this are refused before decoding (decompression bombs)."""
_READ_ALL_LIMIT = 256 * 1024 ** 2  # larger files are memory-mapped (JPEG, PNG) or streamed to Pillow
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DECODE_BYTES_PER_PIXEL = 6
"""Peak bytes per decoded pixel while a file decodes: the decoder's BGR output and its RGB copy."""


_HEIF_REGISTERED: bool | None = None
_HEIF_LOCK = threading.Lock()


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


def _decode_png_opencv(data: bytes, info: PngInfo) -> np.ndarray | None:
    """RGB pixels of a plain PNG by OpenCV (libpng), or None to leave the file to Pillow.

    Only 8- and 16-bit grey, grey+alpha, RGB and RGBA and 8-bit palette PNGs
    without EXIF come here: for these libpng gives Pillow's pixels after
    :func:`to_rgb_array` (alpha dropped, the high byte of 16-bit samples,
    palette colours), faster and without Pillow's extra copy. The tests
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


def read_image(path: str | os.PathLike, dim: tuple[int, int] | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, backend: str = "auto",
               reserve: Callable[[int], None] | None = None) -> DecodedImage:
    """Decode one file to RGB uint8 with EXIF orientation applied.

    Parameters
    ----------
    path : str or PathLike
        Image file (any name: spaces and non-ASCII characters are fine).
    dim : (int, int) or None
        Target size ``(width, height)`` of the preprocessing. JPEGs are
        decoded at 1/2, 1/4 or 1/8 size by the rule of
        :func:`undouble.io.jpeg._reduction_for` (the result keeps at least
        half of ``dim`` on both axes); ``None`` decodes at full size.
    max_pixels : int
        Refuse images with more pixels than this, from their header, before
        decoding them.
    backend : {'auto', 'pillow'}
        ``'auto'`` decodes JPEGs and plain PNGs with OpenCV (see the module
        notes) and everything else with Pillow; ``'pillow'`` uses Pillow for all.
    reserve : callable, optional
        ``reserve(nbytes)`` is called once the file is read and before it is
        decoded, with the peak memory of the decoding (as
        :func:`decode_bytes_estimate`, from the header already in memory), so
        that a caller can wait for a shared memory budget without opening the
        file a second time.

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
            decoded = _decode_file(fh, int(fst.st_size), dim, max_pixels, backend, reserve)
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


def _decode_file(fh: Any, size: int, dim: tuple[int, int] | None, max_pixels: int, backend: str,
                 reserve: Callable[[int], None] | None = None) -> DecodedImage:
    """Decode an open file: OpenCV for JPEG where it applies, Pillow otherwise.

    A JPEG or PNG larger than ``_READ_ALL_LIMIT`` is memory-mapped rather than
    read, so that its markers are checked whatever its size (a 1 GiB file with a
    JPEG header and no end-of-image marker is refused as truncated).
    """
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    whole = size <= _READ_ALL_LIMIT
    data = fh.read() if whole else fh.read(1 << 16)
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    if data[4:8] == b"ftyp":
        _register_heif()  # HEIC content under another extension
    mapped = None
    if not whole and (data[:3] == _JPEG_SIGNATURE or data[:8] == _PNG_SIGNATURE):
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (AttributeError, _io.UnsupportedOperation):  # not a file (bytes given): streamed to Pillow
            mapped = None
    try:
        return _decode_data(data if whole else mapped, data, fh, dim, max_pixels, backend, reserve)
    finally:
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:  # a view is still held (a traceback): closed when it is collected
                pass


def _decode_data(whole: Any, head: bytes, fh: Any, dim: tuple[int, int] | None, max_pixels: int,
                  backend: str, reserve: Callable[[int], None] | None = None) -> DecodedImage:
    """:func:`_decode_file` on the file's bytes (``whole``: bytes or mmap; None when too large to map)."""
    is_jpeg = head[:3] == _JPEG_SIGNATURE
    reserved = reserve is None
    if whole is not None and is_jpeg:
        info = jpeg_info(whole)
        if info is not None and info.width > 0 and info.height > 0:
            if info.width * info.height > max_pixels:
                raise _too_large(info.width, info.height, max_pixels)
            if not info.complete:
                raise ImageReadError("truncated image (no end-of-image marker after the scan)")
            if not reserved:
                reserve(_jpeg_decode_bytes(info, dim))  # type: ignore[misc]
                reserved = True
            if backend == "auto" and info.components in (1, 3):
                pixels = _decode_jpeg_opencv(whole, info, dim)
                if pixels is not None:
                    swap = info.orientation >= 5
                    return DecodedImage(pixels, info.height if swap else info.width,
                                        info.width if swap else info.height)
    if whole is not None and backend == "auto" and head[:8] == _PNG_SIGNATURE:
        png = png_info(whole)
        if png is not None and png.width > 0 and png.height > 0:
            if png.width * png.height > max_pixels:
                raise _too_large(png.width, png.height, max_pixels)
            if not reserved:
                reserve(int(png.width) * int(png.height) * DECODE_BYTES_PER_PIXEL)  # type: ignore[misc]
                reserved = True
            pixels = _decode_png_opencv(whole, png)
            if pixels is not None:
                return DecodedImage(pixels, png.width, png.height)
    small = isinstance(whole, bytes)
    if not reserved:  # another format: its size from the header, as decode_bytes_estimate reads it
        reserve(_estimate_from_head(head, _io.BytesIO(whole) if small else fh, dim, max_pixels))  # type: ignore[misc]
    if not small:
        fh.seek(0)
    try:
        decoded = _decode_pillow(_io.BytesIO(whole) if small else fh, dim, max_pixels)
    except Image.UnidentifiedImageError:
        kind = _signature(head)
        if kind is None:
            raise
        raise ImageReadError(f"corrupt image (a {kind} signature, but its header cannot be read)") from None
    if is_jpeg and whole is not None:
        _scan_jpeg_data(whole)
    return decoded


def _scan_jpeg_data(data: Any) -> None:
    """Run libjpeg over a JPEG that Pillow decoded, at 1/8 size, for its warnings only.

    Pillow's libjpeg keeps its warnings to itself (a JPEG whose data ends early
    is decoded without a word); OpenCV's prints them on stderr, where the import
    collects them (:mod:`undouble.io.messages`). The 1/8 grey decoding still reads
    every entropy-coded byte, so it finds what the full one would.
    """
    try:
        cv2.imdecode(np.frombuffer(data, dtype=np.uint8),
                     cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # OpenCV cannot read it at all: Pillow could, and its pixels stand
        pass


def decode_bytes_estimate(path: str | os.PathLike, dim: tuple[int, int] | None = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Peak memory the decoding of a file will take, from its header: bytes.

    ``DECODE_BYTES_PER_PIXEL`` per pixel decoded (a JPEG decoded at 1/2 to 1/8
    size counts its reduced pixels). 0 when the header cannot be read or the
    image will be refused before decoding (more than ``max_pixels``).
    :func:`read_image` gives the same figure to its ``reserve`` callback
    without a second opening of the file.
    """
    try:
        if not _stat.S_ISREG(os.stat(path).st_mode):  # never open a pipe: it could block forever
            return 0
        with open(path, "rb") as fh:
            head = fh.read(1 << 12)  # the frame header of most JPEGs; more only when an APP segment is larger
            if head[:3] == _JPEG_SIGNATURE and len(head) == 1 << 12 and jpeg_info(head, check_end=False) is None:
                head += fh.read((1 << 16) - len(head))
            return _estimate_from_head(head, fh, dim, max_pixels)
    except OSError:
        return 0


def _jpeg_decode_bytes(info: JpegInfo, dim: tuple[int, int] | None) -> int:
    """Peak decoding memory of a JPEG at the reduced scale :func:`read_image` decodes it at."""
    width, height = info.width, info.height
    target = None if dim is None else ((dim[1], dim[0]) if info.orientation >= 5 else (dim[0], dim[1]))
    scale = _reduction_for(width, height, target)
    return math.ceil(width / scale) * math.ceil(height / scale) * DECODE_BYTES_PER_PIXEL


def _estimate_from_head(head: bytes, source: Any, dim: tuple[int, int] | None, max_pixels: int) -> int:
    """:func:`decode_bytes_estimate` from a file's first bytes (``source``: the file, for Pillow's header)."""
    width = height = 0
    if head[:3] == _JPEG_SIGNATURE:
        info = jpeg_info(head, check_end=False)
        if info is not None and info.width > 0 and info.height > 0:
            if info.width * info.height > max_pixels:
                return 0
            return _jpeg_decode_bytes(info, dim)
    elif head[:8] == _PNG_SIGNATURE:
        png = png_info(head)
        if png is not None:
            width, height = png.width, png.height
    if width <= 0 or height <= 0:
        try:
            source.seek(0)
            with pillow_size_check_off(), Image.open(source) as img:
                width, height = img.size
        except Exception:  # not an image, or unreadable: the decoding says why
            return 0
    pixels = int(width) * int(height)
    if pixels > max_pixels:
        return 0
    return pixels * DECODE_BYTES_PER_PIXEL


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
        (:func:`undouble.keeper.laplacian_variance`), on the canonical scale
        of :mod:`undouble.io.measure` (the same for every image of one
        resolution); NaN when not measured.
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


def _read_checked(path: str, dim: tuple[int, int], max_pixels: int, backend: str,
                  reserve: Callable[[int], None] | None = None) -> DecodedImage:
    """:func:`read_image`, with any unexpected error turned into an :class:`ImageReadError`."""
    try:
        return read_image(path, dim, max_pixels, backend, reserve)
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
        if measure_blur:  # on the canonical scale of undouble.io.measure, as ingest measures it
            from .measure import measure_decoded

            measured = measure_decoded(decoded.pixels, decoded.width, decoded.height)
            blur, blur_pixels = measured.sharpness, measured.sharpness_pixels
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


def decode_bytes(data: bytes, dim: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 backend: str = "auto", name: str = "") -> DecodedImage:
    """Decode an image held in memory (bytes read from object storage, ...) as :func:`read_image` decodes a file.

    The same decoders, reduced decoding, orientation and colour rules apply;
    only the file-system checks (links, permissions, file type) are left to
    whoever read the bytes.

    Parameters
    ----------
    data : bytes
        The whole file.
    dim, max_pixels, backend
        As :func:`read_image`.
    name : str
        The file's name or URL, for the HEIC/HEIF hint and the messages.

    Returns
    -------
    DecodedImage
        With ``file_size = len(data)`` and ``mtime_ns = 0`` (the caller knows the time).

    Raises
    ------
    ImageReadError
        With the reason, for every input that cannot be decoded (unexpected
        decoder errors included).
    """
    if backend not in ("auto", "pillow"):
        raise ValueError(f"backend must be 'auto' or 'pillow', got {backend!r}")
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    if name.lower().endswith((".heic", ".heif")) and not _register_heif():
        raise ImageReadError("HEIC/HEIF needs the optional 'heif' extra: pip install 'undouble[heif]'")
    try:
        decoded = _decode_file(_io.BytesIO(data), len(data), dim, max_pixels, backend)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"image too large (decompression bomb): {exc}") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError("not an image, or an unsupported format") from None
    except MemoryError:
        raise ImageReadError("not enough memory to decode this image") from None
    except Exception as exc:  # a decoder bug must not stop a run of 100,000 files
        raise _decoder_error(exc) from None
    decoded.file_size = len(data)
    return decoded
