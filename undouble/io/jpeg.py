"""What a JPEG's or PNG's markers say, read without decoding it.

Size, EXIF orientation and completeness (:func:`jpeg_info`, :func:`png_info`),
applying an EXIF orientation to pixels (:func:`apply_orientation`), and the
reduced-decoding rule: a JPEG is decoded at the smallest of 1/2, 1/4 or 1/8
size that keeps at least half of ``dim`` on both axes (:data:`DECODE_RULE`,
:func:`_reduction_for`); the preprocessing then area-resizes it to ``dim``.

The rule was chosen by measurement (``benchmarks/README.md``, "Decode scale
rule"): on a labelled corpus of 640-1024 px photos, at phash threshold 10, its
pair precision and recall, with and without verification, differ from those of
"at least ``dim``" by less than their standard error, and the import takes
about 15 % less CPU time. The still cheaper "long-half" lost a measurable 0.9 %
of the verified recall.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np


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


def jpeg_info(data: bytes, check_end: bool = True) -> JpegInfo | None:
    """Size, components, EXIF orientation and completeness of a JPEG.

    Parameters
    ----------
    data : bytes
        The whole file (or its head, with ``check_end=False``).
    check_end : bool
        Look for the end-of-image marker after the scan (``complete``); False
        skips that search and reports ``complete=False``.

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
            complete = check_end and (data.rfind(b"\xff\xd9", max(scan, n - 4096)) >= 0
                                      or data.find(b"\xff\xd9", scan) >= 0)
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
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 33 or data[12:16] != b"IHDR":  # bytes or mmap
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


DECODE_RULES = ("half-dim", "long-half", "dim")
"""The reduced-decoding rules :func:`_reduction_for` knows (:data:`DECODE_RULE` picks one).

* ``"half-dim"``: the result keeps at least half of ``dim`` on both axes
  (at ``dim`` 128: a 1024 x 768 photo at 1/8, a 640 x 480 one at 1/4);
* ``"long-half"``: the result keeps a long side of at least half the larger
  of ``dim``'s sides (any 640-1024 px photo at ``dim`` 128: 1/8);
* ``"dim"``: the result keeps at least ``dim`` on both axes and a short side
  of at least 128 pixels (the rule before issue 20's measurement).
"""

DECODE_RULE = "half-dim"
"""The rule in use (chosen by measurement: ``benchmarks/README.md``, "Decode scale rule")."""

_OLD_RULE_MIN_SIDE = 128  # the short side the "dim" rule kept


def _reduction_for(width: int, height: int, dim: tuple[int, int] | None) -> int:
    """Largest JPEG reduction (1, 2, 4, 8) that :data:`DECODE_RULE` allows for ``dim``.

    ``width`` and ``height`` are in the same orientation as ``dim``; the
    reduced size is libjpeg's (rounded up). ``dim`` None: no reduction.
    The canonical scale of the sharpness (:func:`undouble.io.measure.reduced_size`)
    is this rule's decoding size for a fixed ``dim``.
    """
    if dim is None:
        return 1
    width, height = max(1, int(width)), max(1, int(height))
    for scale in (8, 4, 2):
        w, h = -(-width // scale), -(-height // scale)
        if DECODE_RULE == "long-half":
            ok = 2 * max(w, h) >= max(dim[0], dim[1])
        elif DECODE_RULE == "half-dim":
            ok = 2 * w >= dim[0] and 2 * h >= dim[1]
        else:
            ok = (width // scale >= dim[0] and height // scale >= dim[1]
                  and min(width, height) // scale >= _OLD_RULE_MIN_SIDE)
        if ok:
            return scale
    return 1


_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}
