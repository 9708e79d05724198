"""Which image of a group to keep: sharpness and a deterministic ranking.

The keeper of a group is the image with the most pixels in the original file, then
the sharpest one (:func:`compute_blur`, the variance of the Laplacian), then the
largest file, then the path that sorts first.  :func:`rank_keepers` returns the whole
ranking with a reason per image, so that plots and the selection window can show why.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Sequence, Union

import cv2
import numpy as np
from PIL import Image

logger = logging.getLogger("undouble")

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["KeeperRank", "compute_blur", "image_resolution", "rank_keepers"]


# --------------------------------------------------------------------------- blur
def _grey_from_array(img: np.ndarray) -> np.ndarray:
    """A 2-D grey image from a grey, RGB or RGBA array (channels in RGB order)."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        grey = arr
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.dtype == np.uint8:
            code = cv2.COLOR_RGB2GRAY if arr.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
            grey = cv2.cvtColor(np.ascontiguousarray(arr), code)
        else:
            rgb = arr[:, :, :3].astype(np.float64)
            grey = rgb @ np.array([0.299, 0.587, 0.114])
    else:
        raise ValueError(
            "compute_blur expects a grey (H x W), RGB or RGBA (H x W x 3/4) image, "
            f"got an array of shape {arr.shape}")
    if grey.dtype == np.bool_:
        grey = grey.astype(np.uint8) * 255
    elif grey.dtype != np.uint8:
        grey = grey.astype(np.float64)
    return np.ascontiguousarray(grey)


def _grey_from_file(path: str) -> np.ndarray:
    """Decode a whole file (never at reduced size) to an 8-bit grey image."""
    data = np.fromfile(path, dtype=np.uint8)  # works with any path, also on Windows
    grey = None
    if data.size:
        # decode in colour and convert like an array would be: the codecs' own grey
        # decoding (libpng) rounds differently
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is not None:
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if grey is None:  # formats OpenCV does not read (GIF, HEIF with its plugin, ...)
        with Image.open(path) as im:
            im.seek(0)
            grey = np.asarray(im.convert("L"))
    return grey


def compute_blur(image_or_path: PathLike | np.ndarray | Image.Image) -> float:
    """Sharpness of an image: the variance of its Laplacian.

    The image is loaded (a path is decoded in full, never at reduced size, because the
    score depends on the scale), converted to grey, filtered with
    ``cv2.Laplacian(grey, cv2.CV_64F)`` and the variance of the result is returned.
    Higher is sharper; scores below about 100 are generally blurry.

    Parameters
    ----------
    image_or_path : str, os.PathLike, numpy.ndarray or PIL.Image.Image
        A path to an image file, or an image: grey ``H x W``, RGB ``H x W x 3`` or
        RGBA ``H x W x 4`` (channels in RGB order).  ``uint8`` is the expected dtype;
        other dtypes are used as they are (as float), which changes the scale of the
        score.

    Returns
    -------
    float
        The variance of the Laplacian of the grey image.

    Raises
    ------
    FileNotFoundError
        When the path does not exist.
    ValueError
        When the array is not an image, or the file cannot be decoded.

    Examples
    --------
    >>> import numpy as np
    >>> import undouble as ud
    >>> flat = np.full((32, 32), 128, dtype=np.uint8)
    >>> ud.compute_blur(flat)
    0.0
    >>> score = ud.compute_blur('absolute_path_to_image.png')  # doctest: +SKIP
    """
    if isinstance(image_or_path, Image.Image):
        im = image_or_path
        grey = np.asarray(im.convert("L") if im.mode not in ("L", "I;16", "I", "F") else im)
    elif isinstance(image_or_path, np.ndarray):
        grey = _grey_from_array(image_or_path)
    else:
        path = os.fspath(image_or_path)
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        try:
            grey = _grey_from_file(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot decode {path!r}: {exc}") from exc
    grey = _grey_from_array(grey)
    if grey.size == 0:
        raise ValueError("compute_blur got an empty image")
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


# --------------------------------------------------------------------------- ranking
def image_resolution(path: PathLike) -> tuple[int, int]:
    """Width and height of the image stored in a file, read from its header.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.

    Returns
    -------
    (int, int)
        ``(width, height)`` as stored (EXIF orientation is not applied; it does not
        change the pixel count).

    Raises
    ------
    OSError
        When neither Pillow nor OpenCV can read the file.
    """
    path = os.fspath(path)
    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
            return int(width), int(height)
    except (OSError, ValueError, Image.DecompressionBombError):
        pass
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise OSError(f"cannot read the image size of {path!r}")
    return int(img.shape[1]), int(img.shape[0])


@dataclass(frozen=True)
class KeeperRank:
    """One image of a group, ranked as a candidate keeper.

    Attributes
    ----------
    path : str
        The file, as given.
    width, height : int
        Pixels of the original file (0 when it cannot be read).
    pixels : int
        ``width * height``.
    blur : float or None
        :func:`compute_blur` of the file (higher = sharper); ``None`` when it was not
        needed to decide the order (``all_blur=False``) or the file cannot be decoded.
    size : int
        File size in bytes (-1 when the file cannot be read).
    rank : int
        0 for the keeper, then 1, 2, ...
    reason : str
        Why the image has this place, e.g. ``"highest resolution (4000x3000)"``.
    readable : bool
        False when the file could not be read; such images rank last.
    """

    path: str
    width: int
    height: int
    pixels: int
    blur: float | None
    size: int
    rank: int
    reason: str
    readable: bool = True

    @property
    def is_keeper(self) -> bool:
        """True for the image ranked first."""
        return self.rank == 0

    @property
    def resolution(self) -> str:
        """``"WxH"``."""
        return f"{self.width}x{self.height}"


def human_size(nbytes: int) -> str:
    """``1536 -> '1.5 KB'``; negative (unknown) sizes give ``'?'``."""
    if nbytes < 0:
        return "?"
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{nbytes} B"  # pragma: no cover


def _blur_key(blur: float | None) -> float:
    return -math.inf if blur is None or math.isnan(blur) else blur


def _sort_key(item: dict) -> tuple:
    return (-item["pixels"], -_blur_key(item["blur"]), -item["size"], item["path"])


def _keeper_reason(best: dict, runner: dict | None) -> str:
    res = f"{best['width']}x{best['height']}"
    if not best["readable"]:
        return f"no readable image in the group ({best['error']})"
    if runner is None:
        return f"only image ({res})"
    if best["pixels"] != runner["pixels"]:
        return f"highest resolution ({res})"
    if _blur_key(best["blur"]) != _blur_key(runner["blur"]):
        return f"sharpest (blur {best['blur']:.1f}) at equal resolution ({res})"
    if best["size"] != runner["size"]:
        return f"largest file ({human_size(best['size'])}) at equal resolution and sharpness"
    return "first path at equal resolution, sharpness and file size"


def _other_reason(item: dict, best: dict) -> str:
    if not item["readable"]:
        return f"unreadable ({item['error']})"
    if item["pixels"] != best["pixels"]:
        return (f"lower resolution ({item['width']}x{item['height']} < "
                f"{best['width']}x{best['height']})")
    if _blur_key(item["blur"]) != _blur_key(best["blur"]):
        return f"blurrier (blur {item['blur']:.1f} < {best['blur']:.1f})"
    if item["size"] != best["size"]:
        return f"smaller file ({human_size(item['size'])} < {human_size(best['size'])})"
    return "later path (same resolution, sharpness and file size)"


def rank_keepers(pathnames: Sequence[PathLike], *, all_blur: bool = True) -> list[KeeperRank]:
    """Rank the images of one group; the first one is the keeper.

    Order: most pixels in the original file (read from the header), then sharpest
    (:func:`compute_blur`, higher first), then largest file, then the path that sorts
    first (plain string order of the paths as given).  The ranking depends only on the
    files, not on the order of ``pathnames``.  Files that cannot be read rank last.

    Parameters
    ----------
    pathnames : sequence of str or os.PathLike
        The files of the group.  Repeated paths are ranked once.
    all_blur : bool, default True
        Compute the blur score of every image (for display).  With False, it is only
        computed where it decides the order (images with equal pixel counts), which
        avoids decoding most files of a large collection.

    Returns
    -------
    list of KeeperRank
        Best first; ``rank`` is 0 for the keeper.

    Examples
    --------
    >>> ranks = rank_keepers(['a/big.jpg', 'b/small.jpg'])  # doctest: +SKIP
    >>> ranks[0].path, ranks[0].reason  # doctest: +SKIP
    ('a/big.jpg', 'highest resolution (4000x3000)')
    """
    seen: set[str] = set()
    items: list[dict] = []
    for p in pathnames:
        path = os.fspath(p)
        if path in seen:
            continue
        seen.add(path)
        item = {"path": path, "width": 0, "height": 0, "pixels": 0, "blur": None,
                "size": -1, "readable": True, "error": ""}
        try:
            item["size"] = os.stat(path).st_size
            item["width"], item["height"] = image_resolution(path)
            item["pixels"] = item["width"] * item["height"]
        except OSError as exc:
            item.update(readable=False, width=0, height=0, pixels=0,
                        error=str(exc) or type(exc).__name__)
            logger.warning("Cannot read %s for the keeper ranking: %s", path, exc)
        items.append(item)

    pixel_counts: dict[int, int] = {}
    for item in items:
        if item["readable"]:
            pixel_counts[item["pixels"]] = pixel_counts.get(item["pixels"], 0) + 1
    for item in items:
        if not item["readable"]:
            continue
        if all_blur or pixel_counts[item["pixels"]] > 1:
            try:
                item["blur"] = compute_blur(item["path"])
            except (OSError, ValueError) as exc:
                logger.warning("Cannot compute the blur of %s: %s", item["path"], exc)
                item["blur"] = None

    items.sort(key=_sort_key)
    ranks: list[KeeperRank] = []
    for rank, item in enumerate(items):
        if rank == 0:
            reason = _keeper_reason(item, items[1] if len(items) > 1 else None)
        else:
            reason = _other_reason(item, items[0])
        ranks.append(KeeperRank(path=item["path"], width=item["width"], height=item["height"],
                                pixels=item["pixels"], blur=item["blur"], size=item["size"],
                                rank=rank, reason=reason, readable=item["readable"]))
    return ranks
