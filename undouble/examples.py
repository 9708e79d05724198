"""Example data: a generated near-duplicate set (no network), downloads, unzip."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageEnhance

from ._logging import logger
from .paths import cache_dir

SYNTHETIC_VERSION = 2
FLOWERS_URL = "https://erdogant.github.io/datasets/flower_images.zip"


# --------------------------------------------------------------------------
# The generated example set
# --------------------------------------------------------------------------

def _photo_like(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth, colourful, textured RGB image that looks vaguely like a photo."""
    coarse = rng.uniform(0, 255, (int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 8))):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            axes = (int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3)))
            cv2.ellipse(img, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        else:
            corner = (int(center[0] + rng.integers(20, width // 2)), int(center[1] + rng.integers(20, height // 2)))
            cv2.rectangle(img, center, corner, colour, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _variants(base: Image.Image, rng: np.random.Generator) -> list[tuple[str, Image.Image | None]]:
    """Near-duplicate edits of ``base``: (kind, image); ``None`` means a byte copy."""
    w, h = base.size
    kinds = ["copy", "resized", "reencoded", "brightened", "cropped"]
    chosen = rng.choice(len(kinds), size=int(rng.integers(1, 4)), replace=False)
    out: list[tuple[str, Image.Image | None]] = []
    for k in sorted(chosen):
        kind = kinds[k]
        if kind == "copy":
            out.append((kind, None))
        elif kind == "resized":
            out.append((kind, base.resize((w // 2, h // 2), Image.BICUBIC)))
        elif kind == "reencoded":
            out.append((kind, base))
        elif kind == "brightened":
            out.append((kind, ImageEnhance.Brightness(base).enhance(1.12)))
        else:
            dx, dy = max(1, w // 64), max(1, h // 64)
            out.append((kind, base.crop((dx, dy, w - dx, h - dy))))
    return out


def make_synthetic_set(folder: str | os.PathLike, n_originals: int = 240, n_with_duplicates: int = 40,
                       seed: int = 2024) -> dict:
    """Write the generated example set into ``folder`` and return its manifest.

    ``n_originals`` distinct photo-like images (JPEG and PNG, 320 x 240 or
    240 x 320) of which ``n_with_duplicates`` get 1-3 near-duplicates each:
    exact byte copies, half-size, re-encoded at JPEG quality 60, brightened
    by 12 %, cropped by about 1.5 % per side. The result is deterministic.

    Returns
    -------
    dict
        ``{'version', 'files', 'groups'}``: file names, and the known
        duplicate groups as lists of file names (original first).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dup_ids = set(rng.choice(n_originals, size=n_with_duplicates, replace=False).tolist())
    files: list[str] = []
    groups: list[list[str]] = []
    for i in range(n_originals):
        landscape = rng.random() < 0.75
        w, h = (320, 240) if landscape else (240, 320)
        base = Image.fromarray(_photo_like(rng, w, h))
        ext = "jpg" if i % 3 else "png"
        name = f"img_{i:04d}.{ext}"
        path = folder / name
        if ext == "jpg":
            base.save(path, quality=92)
        else:
            base.save(path)
        files.append(name)
        if i not in dup_ids:
            continue
        group = [name]
        for kind, variant in _variants(base, rng):
            vname = f"img_{i:04d}_{kind}.{'png' if kind == 'copy' and ext == 'png' else 'jpg'}"
            if variant is None:
                shutil.copyfile(path, folder / vname)
            else:
                variant.save(folder / vname, quality=60 if kind == "reencoded" else 90)
            group.append(vname)
            files.append(vname)
        groups.append(group)
    manifest = {"version": SYNTHETIC_VERSION, "seed": seed, "files": sorted(files), "groups": groups}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def synthetic_folder() -> Path:
    """Folder of the generated example set (created on first use)."""
    folder = cache_dir() / "examples" / f"synthetic-v{SYNTHETIC_VERSION}"
    if not (folder / "manifest.json").is_file():
        logger.info("Generating the built-in example set in %s", folder)
        tmp = Path(tempfile.mkdtemp(prefix="synthetic-", dir=_ensure(folder.parent)))
        make_synthetic_set(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process won the race: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def synthetic_manifest() -> dict:
    """The manifest (files and known duplicate groups) of the generated example set."""
    return json.loads((synthetic_folder() / "manifest.json").read_text())


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_example(data: str = "synthetic", url: str | None = None, verbose: int | str | None = None) -> list[str]:
    """Example images: paths of the files, ready for ``import_data``.

    Parameters
    ----------
    data : str
        ``'synthetic'`` (default): a generated set of a few hundred photo-like
        images with known near-duplicates, no network needed.
        ``'flowers'``: the seed's flower photos, downloaded once and cached.
    url : str, optional
        Another address for the flowers archive.

    Returns
    -------
    list of str
        Sorted absolute paths of the images.

    Raises
    ------
    ConnectionError
        When the flowers cannot be downloaded (the message says how to use
        the built-in set instead).
    """
    name = str(data).lower()
    if name in ("synthetic", "example", "builtin", "built-in"):
        folder = synthetic_folder()
        manifest = json.loads((folder / "manifest.json").read_text())
        return [str(folder / f) for f in manifest["files"]]
    if name == "flowers":
        folder = cache_dir() / "examples" / "flower_images"
        if not folder.is_dir():
            archive = _ensure(cache_dir() / "downloads") / "flower_images.zip"
            try:
                wget(url or FLOWERS_URL, archive)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                raise ConnectionError(
                    f"could not download the flowers example from {url or FLOWERS_URL} ({exc}). "
                    "Without network, use the built-in set: import_example(data='synthetic')") from None
            unzip(archive, folder.parent)
        from .io import list_images

        return list_images(folder)[0]
    raise ValueError(f"unknown example data {data!r}: use 'synthetic' or 'flowers'")


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------

def wget(url: str, writepath: str | os.PathLike, timeout: float = 30.0) -> str:
    """Download ``url`` to ``writepath``.

    The download goes to a temporary file beside ``writepath`` and is renamed
    into place when complete. An existing ``writepath`` is never overwritten:
    it is returned as it is.

    Returns
    -------
    str
        ``writepath``.

    Examples
    --------
    >>> import undouble as ud
    >>> ud.wget('https://erdogant.github.io/datasets/flower_images.zip', '/tmp/flower_images.zip')  # doctest: +SKIP
    """
    target = Path(writepath)
    if target.exists():
        logger.info("%s exists already: not downloading it again", target)
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        os.link(tmp, target)  # fails instead of overwriting a file that appeared meanwhile
    finally:
        os.unlink(tmp)
    return str(target)


def unzip(path_to_zip: str | os.PathLike, dirpath: str | os.PathLike | None = None) -> str:
    """Extract a zip archive into ``dirpath`` (default: the archive's folder).

    Members with absolute paths or ``..`` are refused; existing files are
    never overwritten (they are kept and a warning is logged).

    Returns
    -------
    str
        The folder the files were extracted into.
    """
    archive = Path(path_to_zip)
    dest = Path(dirpath) if dirpath is not None else archive.parent
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if member.filename.startswith(("/", "\\")) or not str(target).startswith(str(root)):
                logger.warning("Refused unsafe path in %s: %s", archive, member.filename)
                continue
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.exists():
                logger.warning("Not overwriting existing %s", target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "xb") as out:
                shutil.copyfileobj(src, out)
    return str(dest)
