"""Which image of a group to keep: sharpness and a deterministic ranking.

The keeper of a group is the image with the most pixels in the original file, then
the sharpest one (:func:`compute_blur`, the variance of the Laplacian), then the
largest file, then the path that sorts first.  :func:`rank_keepers` returns the whole
ranking with a reason per image, so that plots and the selection window can show why.

Within :class:`undouble.Undouble`, the sharpness is measured while importing, on the
image decoded for hashing at a canonical scale (:mod:`undouble.io.measure`: the
size a JPEG of the original's resolution is decoded at for ``dim`` 128), so that
images of equal resolution always compare at equal scale and ranking a group opens
no file (``decode=False``).
:func:`rank_keepers` on paths alone still decodes what it needs.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence, Union

import cv2
import numpy as np
from PIL import Image

logger = logging.getLogger("undouble")

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["KeeperRank", "compute_blur", "image_resolution", "laplacian_variance", "rank_keepers"]


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


_LAPLACIAN_SUMS: Any = None


def _laplacian_kernel() -> Any:
    """:func:`undouble._kernels.blur.laplacian_sums`, imported on first use (this module loads no Numba),
    then kept: an import statement per call held the GIL on every photo of an import."""
    global _LAPLACIAN_SUMS
    if _LAPLACIAN_SUMS is None:
        from ._kernels.blur import laplacian_sums

        _LAPLACIAN_SUMS = laplacian_sums
    return _LAPLACIAN_SUMS


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the Laplacian (3 x 3 aperture, reflected border) of a 2-D grey image.

    For uint8 images one pass of :func:`undouble._kernels.blur.laplacian_sums`
    gives the exact integer sum and sum of squares of the Laplacian: the same
    number as ``cv2.Laplacian(grey, cv2.CV_64F).var()`` (to about 1e-15), five
    times faster. Other dtypes use OpenCV's float64 Laplacian.

    Parameters
    ----------
    grey : np.ndarray
        2-D image, not empty.

    Returns
    -------
    float
        Population variance (``ddof=0``) of the Laplacian.
    """
    if grey.dtype == np.uint8 and grey.ndim == 2 and grey.size:
        total, squares = _laplacian_kernel()(np.ascontiguousarray(grey))
        n = int(grey.size)
        return (n * int(squares) - int(total) ** 2) / (n * n)  # exact integers, rounded once
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


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
    return laplacian_variance(grey)


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
        Sharpness (higher = sharper): :func:`compute_blur` of the file, or the score
        given to :func:`rank_keepers` (measured on the image decoded for hashing);
        ``None`` when it was not needed to decide the order (``all_blur=False``) or
        the file cannot be decoded.
    size : int
        File size in bytes (-1 when the file cannot be read).
    rank : int
        0 for the keeper, then 1, 2, ...
    reason : str
        Why the image has this place, e.g. ``"highest resolution (4000x3000)"``.
    readable : bool
        False when the file could not be read; such images rank last.
    damaged : bool
        The decoder reported corrupt or missing data (``results['damaged']``);
        such images rank after every intact one.
    relation : str
        How the image relates to the keeper when the group was verified
        (``results['select_relation']``: ``'identical'``, ``'resized'``, ...);
        ``''`` when unknown. Set by :meth:`undouble.Undouble.group`, shown by the
        selection window.
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
    damaged: bool = False
    relation: str = ""

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


def _blur_text(blur: float | None) -> str:
    return "unknown" if blur is None or math.isnan(blur) else f"{blur:.1f}"


def _sort_key(item: dict) -> tuple:
    return (not item["readable"], item["damaged"], item["grey"], -item["pixels"], -_blur_key(item["blur"]),
            -item["size"], item["path"])


def _keeper_reason(best: dict, runner: dict | None) -> str:
    res = f"{best['width']}x{best['height']}"
    if not best["readable"]:
        return f"no readable image in the group ({best['error']})"
    if runner is None:
        return f"only image ({res})"
    if runner["damaged"] and not best["damaged"]:
        return f"the only intact image ({res}); the others are damaged"
    if best["grey"] != runner["grey"]:
        return f"colour image over its greyscale copies ({res})"
    if best["pixels"] != runner["pixels"]:
        return f"highest resolution ({res})"
    if _blur_key(best["blur"]) != _blur_key(runner["blur"]):
        return f"sharpest (blur {_blur_text(best['blur'])}) at equal resolution ({res})"
    if best["size"] != runner["size"]:
        return f"largest file ({human_size(best['size'])}) at equal resolution and sharpness"
    return "first path at equal resolution, sharpness and file size"


def _other_reason(item: dict, best: dict) -> str:
    if not item["readable"]:
        return f"unreadable ({item['error']})"
    if item["damaged"] and not best["damaged"]:
        return "damaged (the decoder reported corrupt or missing data)"
    if item["grey"] != best["grey"]:
        return "greyscale copy of a colour image"
    if item["pixels"] != best["pixels"]:
        return (f"lower resolution ({item['width']}x{item['height']} < "
                f"{best['width']}x{best['height']})")
    if _blur_key(item["blur"]) != _blur_key(best["blur"]):
        return f"blurrier (blur {_blur_text(item['blur'])} < {_blur_text(best['blur'])})"
    if item["size"] != best["size"]:
        return f"smaller file ({human_size(item['size'])} < {human_size(best['size'])})"
    return "later path (same resolution, sharpness and file size)"


def _aligned(values: Sequence | None, n: int, name: str) -> list | None:
    if values is None:
        return None
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} paths")
    return values


def _given_blur(value: object) -> float | None:
    if value is None:
        return None
    score = float(value)  # type: ignore[arg-type]
    return None if math.isnan(score) else score


def rank_keepers(pathnames: Sequence[PathLike], *, all_blur: bool = True,
                 resolutions: Sequence[Sequence[int]] | None = None,
                 file_sizes: Sequence[int] | None = None,
                 blur_scores: Sequence[float | None] | None = None,
                 blur_sizes: Sequence[int] | None = None,
                 damaged: Sequence[bool] | None = None, decode: bool = True,
                 is_grey: Sequence[bool] | None = None) -> list[KeeperRank]:
    """Rank the images of one group; the first one is the keeper.

    Order: intact files before damaged ones (``damaged``), a colour image before
    greyscale ones (only when ``is_grey`` is given: between verified copies, a
    colour image beats its greyscale copy), then most
    pixels in the original file (read from the header), then sharpest
    (:func:`compute_blur`, higher first), then largest file, then the path that sorts
    first (plain string order of the paths as given).  The ranking depends only on the
    files, not on the order of ``pathnames``.  Files that cannot be read rank last.

    Parameters
    ----------
    pathnames : sequence of str or os.PathLike
        The files of the group.  Repeated paths are ranked once.
    all_blur : bool, default True
        Give the blur score of every image (for display).  With False, it is only
        computed where it decides the order (images with equal pixel counts), which
        avoids decoding most files of a large collection.
    resolutions, file_sizes : sequences, optional
        ``(width, height)`` of the original images and file sizes in bytes, aligned
        with ``pathnames``, as recorded when the files were read
        (``results['resolution']``, ``results['filestats']``).  Given both, the
        files are not opened to rank them.
    blur_scores, blur_sizes : sequences, optional
        Sharpness already measured (``results['blur']``, NaN or None where
        unknown) and the pixel count of the image each score was measured on
        (``results['blur_pixels']``).  Scores decide between images of equal
        resolution only when all of them were measured on images of the same
        size (import_data measures large JPEGs on their reduced decoding);
        otherwise those images are decoded in full and scored by
        :func:`compute_blur`.
    damaged : sequence of bool, optional
        Files the decoder found damaged (``results['damaged']``): they rank after
        every intact file, whatever their resolution (a JPEG whose header claims
        more rows than its data holds must not win by "higher resolution").
    decode : bool, default True
        False: never open a file for the sharpness; a score that is unknown
        or not comparable is used as given (unknown ranks last on sharpness).
        :meth:`undouble.Undouble.group` ranks this way, from the scores the
        import measured on a canonical scale.
    is_grey : sequence of bool, optional
        Whether each image is greyscale (``results['is_grey']``, or
        :func:`undouble.verify.is_greyscale` of its thumbnail). Give it only for
        verified copies of one image: a colour image then ranks before every
        greyscale one. Without it colour is not considered.

    Returns
    -------
    list of KeeperRank
        Best first; ``rank`` is 0 for the keeper.

    Raises
    ------
    ValueError
        When an aligned sequence does not have one entry per path.

    Examples
    --------
    >>> ranks = rank_keepers(['a/big.jpg', 'b/small.jpg'])  # doctest: +SKIP
    >>> ranks[0].path, ranks[0].reason  # doctest: +SKIP
    ('a/big.jpg', 'highest resolution (4000x3000)')
    """
    n = len(pathnames)
    resolutions = _aligned(resolutions, n, "resolutions")
    file_sizes = _aligned(file_sizes, n, "file_sizes")
    blur_scores = _aligned(blur_scores, n, "blur_scores")
    blur_sizes = _aligned(blur_sizes, n, "blur_sizes")
    damaged = _aligned(damaged, n, "damaged")
    is_grey = _aligned(is_grey, n, "is_grey")
    known_files = resolutions is not None and file_sizes is not None
    seen: set[str] = set()
    items: list[dict] = []
    for k, p in enumerate(pathnames):
        path = os.fspath(p)
        if path in seen:
            continue
        seen.add(path)
        item = {"path": path, "width": 0, "height": 0, "pixels": 0, "blur": None,
                "size": -1, "readable": True, "error": "",
                "damaged": False if damaged is None else bool(damaged[k]),
                "grey": False if is_grey is None else bool(is_grey[k]),
                "given": None if blur_scores is None else _given_blur(blur_scores[k]),
                "measured_on": None if blur_sizes is None else int(blur_sizes[k])}
        try:
            if known_files:
                item["size"] = int(file_sizes[k])  # type: ignore[index]
                item["width"], item["height"] = (int(v) for v in resolutions[k])  # type: ignore[index]
            else:
                item["size"] = os.stat(path).st_size
                item["width"], item["height"] = image_resolution(path)
            item["pixels"] = item["width"] * item["height"]
        except OSError as exc:
            item.update(readable=False, width=0, height=0, pixels=0,
                        error=str(exc) or type(exc).__name__)
            logger.warning("Cannot read %s for the keeper ranking: %s", path, exc)
        items.append(item)

    same_pixels: dict[int, list[dict]] = {}
    for item in items:
        if item["readable"]:
            same_pixels.setdefault(item["pixels"], []).append(item)
    for members in same_pixels.values():
        decides = len(members) > 1
        comparable = (all(m["given"] is not None for m in members)
                      and len({m["measured_on"] for m in members}) == 1)
        for item in members:
            if comparable or not decode or (not decides and item["given"] is not None):
                item["blur"] = item["given"]
            elif all_blur or decides:
                try:
                    item["blur"] = compute_blur(item["path"])
                except FileNotFoundError:
                    # vanished since it was read (deleted, moved by another run): it
                    # ranks last, with its reason, like any file that cannot be read
                    item.update(readable=False, width=0, height=0, pixels=0, blur=None,
                                error="vanished since it was read")
                    logger.warning("%s vanished before the keeper ranking", item["path"])
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
                                rank=rank, reason=reason, readable=item["readable"], damaged=item["damaged"]))
    return ranks
