"""File listing and image decoding (RGB, EXIF-rotated, reduced-size where safe).

Bad files never stop a run: each is reported once with its reason and listed
in ``results['skipped']`` as ``(path, reason)``.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps

from ._logging import logger

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "png", "tiff", "tif", "jpg", "jpeg", "jfif", "bmp", "webp", "gif", "heic", "heif", "avif",
)
OUTPUT_FOLDER = "undouble"
DEFAULT_MAX_PIXELS = 200_000_000
"""Images with more pixels than this are refused before decoding (decompression bombs)."""

_HEIF_REGISTERED: bool | None = None


class ImageReadError(Exception):
    """A file that cannot be used as an image; the message is the reason."""


@dataclass
class DecodedImage:
    """An RGB (or grey) uint8 image and the pixel size of the original file."""

    pixels: np.ndarray
    width: int
    height: int


def _register_heif() -> bool:
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED is None:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _HEIF_REGISTERED = True
        except ImportError:
            _HEIF_REGISTERED = False
    return _HEIF_REGISTERED


def normalise_extensions(ext: Iterable[str] | str | None) -> tuple[str, ...]:
    """Lower-case extensions without dots; ``None`` gives the defaults."""
    if ext is None:
        return DEFAULT_EXTENSIONS
    if isinstance(ext, str):
        ext = [ext]
    return tuple(e.lower().lstrip(".") for e in ext)


def list_images(folder: str | os.PathLike, ext: Iterable[str] | str | None = None
                ) -> tuple[list[str], list[tuple[str, str]]]:
    """All image files under ``folder``, recursively, sorted.

    Extensions match case-insensitively; folders named ``undouble`` (the
    output folder of :meth:`Undouble.move`) are skipped at any depth.
    Symbolic links to files are followed; links to folders are not (so link
    loops cannot trap the scan). Broken links are reported as skipped.

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

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if d.lower() != OUTPUT_FOLDER)
        for name in filenames:
            if name.rsplit(".", 1)[-1].lower() not in exts or "." not in name:
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not os.path.exists(path):
                skipped.append((path, "broken symbolic link"))
                continue
            paths.append(path)
    paths.sort()
    return paths, skipped


def _reduction_for(width: int, height: int, dim: tuple[int, int] | None) -> int:
    """Largest JPEG reduction (1, 2, 4, 8) keeping at least twice ``dim`` on both axes."""
    if dim is None:
        return 1
    for scale in (8, 4, 2):
        if width // scale >= 2 * dim[0] and height // scale >= 2 * dim[1]:
            return scale
    return 1


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """RGB uint8 pixels of a PIL image in any mode.

    Conversions: grey ("L", "1") -> RGB by repetition; 16-bit and 32-bit
    integer / float grey -> 8 bits by scaling the maximum possible value of
    the mode to 255; palette -> its colours; CMYK / YCbCr / LAB -> Pillow's
    RGB conversion; alpha is dropped (the colour under transparent pixels is
    kept, as ImageHash does).
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        grey = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max(initial=0.0)
        grey = np.zeros(arr.shape, np.uint8) if top <= 0 else np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode != "RGB":
        img = img.convert("RGBA" if mode in ("P", "PA", "LA", "La", "RGBa") else "RGB")
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike, dim: tuple[int, int] | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode one file to RGB uint8 with EXIF orientation applied.

    Parameters
    ----------
    path : str or PathLike
        Image file.
    dim : (int, int) or None
        Target size ``(width, height)`` of the preprocessing. JPEGs are
        decoded at 1/2, 1/4 or 1/8 size when the result stays at least twice
        ``dim`` on both axes; ``None`` decodes at full size.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.

    Returns
    -------
    DecodedImage
        Pixels (H x W x 3) and the original file's width and height.

    Raises
    ------
    ImageReadError
        With the reason: missing, empty, unreadable, not an image, truncated,
        too large.
    """
    path = os.fspath(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ImageReadError("file not found (vanished or broken link)") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read file: {exc.strerror}") from None
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    if path.lower().endswith((".heic", ".heif", ".avif")) and not _register_heif():
        raise ImageReadError("HEIC/HEIF/AVIF needs the optional 'heif' extra: pip install 'undouble[heif]'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"image too large ({width}x{height} = {width * height:,} pixels > limit {max_pixels:,})")
                if width < 1 or height < 1:
                    raise ImageReadError("image has no pixels")
                reduction = _reduction_for(width, height, dim) if img.format == "JPEG" else 1
                if reduction > 1:
                    img.draft("RGB", (width // reduction, height // reduction))
                img.load()
                img = ImageOps.exif_transpose(img)
                pixels = _to_rgb_array(img)
    except ImageReadError:
        raise
    except PermissionError as exc:
        raise ImageReadError(f"permission denied: {exc.strerror}") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"image too large (decompression bomb): {exc}") from None
    except Image.DecompressionBombWarning as exc:
        raise ImageReadError(f"image too large (decompression bomb): {exc}") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError("not an image, or an unsupported format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc) or type(exc).__name__
        if "truncated" in text.lower():
            raise ImageReadError(f"truncated image: {text}") from None
        raise ImageReadError(f"corrupt image: {text}") from None
    except MemoryError:
        raise ImageReadError("not enough memory to decode this image") from None
    if reduction == 1:
        return DecodedImage(pixels, pixels.shape[1], pixels.shape[0])
    # EXIF orientation 5..8 swaps the axes: report the displayed size
    return DecodedImage(pixels, *_oriented_size(width, height, pixels.shape))


def _oriented_size(width: int, height: int, shape: tuple[int, ...]) -> tuple[int, int]:
    """Original size in display orientation, given the decoded pixels' shape."""
    if (shape[1] >= shape[0]) == (width >= height) or width == height:
        return width, height
    return height, width


def default_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``None`` or -1 means all cores."""
    if n_jobs is None or n_jobs < 1:
        return max(1, os.cpu_count() or 1)
    return int(n_jobs)


def map_threads(func, items: Sequence, n_jobs: int | None, bar=None):
    """Apply ``func`` to ``items`` on a thread pool, in order, updating ``bar``."""
    workers = default_jobs(n_jobs)
    if workers == 1 or len(items) <= 1:
        for item in items:
            yield func(item)
            if bar is not None:
                bar.update(1)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(func, items, chunksize=1):
            yield result
            if bar is not None:
                bar.update(1)


def log_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    """Log every skipped file once, with its reason."""
    for path, reason in skipped:
        logger.warning("Skipped %s: %s", path, reason)
