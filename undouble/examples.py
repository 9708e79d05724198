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

DEFAULT_MAX_BYTES = 2 << 30
"""Default limit of :func:`wget` and :func:`unzip` on the bytes they write: 2 GiB."""
_CHUNK = 1 << 20


def _copy_limited(src, out, budget: int, what: str) -> int:
    """Copy a stream in chunks, counting the bytes really read; ValueError past ``budget``."""
    written = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return written
        written += len(chunk)
        if written > budget:
            raise ValueError(f"{what} is larger than the limit of {budget} bytes left; stopped")
        out.write(chunk)


def wget(url: str, writepath: str | os.PathLike, timeout: float = 30.0,
         schemes: tuple[str, ...] = ("http", "https"), max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Download ``url`` to ``writepath``.

    The download goes to a temporary file beside ``writepath`` and is renamed
    into place when complete. An existing ``writepath`` is never overwritten:
    it is returned as it is.

    Parameters
    ----------
    url : str
        The address; its scheme must be one of ``schemes``.
    writepath : str or os.PathLike
        Where the file goes.
    timeout : float, default 30
        Seconds to wait for the server.
    schemes : tuple of str, default ('http', 'https')
        The URL schemes accepted; pass e.g. ``('file', 'http', 'https')`` to also
        read local files.
    max_bytes : int, default 2 GiB
        The download stops (and nothing is kept) past this many bytes, counted as
        they arrive whatever the headers say.

    Returns
    -------
    str
        ``writepath``.

    Raises
    ------
    ValueError
        For a scheme not in ``schemes``, or a download larger than ``max_bytes``.

    Examples
    --------
    >>> import undouble as ud
    >>> ud.wget('https://erdogant.github.io/datasets/flower_images.zip', '/tmp/flower_images.zip')  # doctest: +SKIP
    """
    import urllib.parse

    scheme = urllib.parse.urlsplit(str(url)).scheme.lower()
    if scheme not in {s.lower() for s in schemes}:
        raise ValueError(f"refusing {url!r}: only {', '.join(schemes)} URLs are accepted "
                         "(pass schemes=... to allow others)")
    target = Path(writepath)
    if target.exists():
        logger.info("%s exists already: not downloading it again", target)
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            _copy_limited(response, out, int(max_bytes), f"the download of {url}")
        os.link(tmp, target)  # fails instead of overwriting a file that appeared meanwhile
    finally:
        os.unlink(tmp)
    return str(target)


def _declared_size(members: list[zipfile.ZipInfo]) -> int:
    """What the headers say the members hold (a crafted archive may say less)."""
    return sum(m.file_size for m in members if not m.is_dir())


def unzip(path_to_zip: str | os.PathLike, dirpath: str | os.PathLike | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Extract a zip archive into ``dirpath`` (default: the archive's folder).

    Members whose path leads outside ``dirpath`` (absolute, ``..``, through a
    symbolic link) are refused; existing files are never overwritten (they are kept
    and a warning is logged); a member whose path runs through an existing file is
    skipped with a warning.  The extraction stops with ValueError once it would
    write more than ``max_bytes`` in all (counted as the data is decompressed, not
    taken from the archive's headers); the member being written when anything
    fails is removed, so that a later run does not take it as already there.

    Parameters
    ----------
    path_to_zip : str or os.PathLike
        The archive.
    dirpath : str or os.PathLike, optional
        Destination folder.
    max_bytes : int, default 2 GiB
        Limit on the bytes written in all.

    Returns
    -------
    str
        The folder the files were extracted into.

    Raises
    ------
    ValueError
        When the archive holds more than ``max_bytes``.
    """
    archive = Path(path_to_zip)
    dest = Path(dirpath) if dirpath is not None else archive.parent
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    budget = int(max_bytes)
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        declared = _declared_size(members)
        if declared > budget:
            raise ValueError(f"{archive} would extract to {declared} bytes, more than the limit of "
                             f"{budget} (max_bytes)")
        for member in members:
            name = member.filename
            target = (dest / name).resolve()
            if name.startswith(("/", "\\")) or os.path.isabs(name) or target == root \
                    or not target.is_relative_to(root):
                logger.warning("Refused unsafe path in %s: %s", archive, name)
                continue
            try:
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                logger.warning("Skipped %s from %s: its path runs through an existing file", name, archive)
                continue
            if os.path.lexists(target):
                logger.warning("Not overwriting existing %s", target)
                continue
            with zf.open(member) as src, open(target, "xb") as out:
                try:
                    budget -= _copy_limited(src, out, budget, f"{archive}")
                except BaseException:
                    out.close()
                    os.unlink(target)  # a partial member is never left behind
                    raise
    return str(dest)
