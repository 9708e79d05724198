"""Labelled corpora of near-duplicates and same-scene hard negatives.

:func:`make_corpus` writes JPEG files and a ``truth.csv`` (``file,group,label``)
for tests, benchmarks and ``undouble evaluate``. Each *scene* gets several
distinct *shots* (different groups) that share most of the frame but differ in
parts, like a burst: objects moved, added or removed in some regions, the
camera shifted by a few percent (new content at an edge) together with a moved
object, a different exposure together with moved content. Every shot differs from
the first over at least 1% of the frame inside its central 80% (what a crop keeps),
and a crop copy (``crop``, ``crop25``, ``crop_downscale``) keeps part of what tells
its shot from each other shot. Each shot is saved as an ``original`` plus copies
made by the selected transform ``kinds``; ``group`` names the shot, so two
files are true duplicates exactly when their groups are equal.

Base scenes are photo-like (gradients, multi-scale texture, shapes, noise) and,
when scikit-image is installed, half of them are built on one of the real
photographs of :mod:`skimage.data`, each use of one photograph turned by another
angle, so that no scene is a copy of another. scikit-image is optional.
"""
from __future__ import annotations

import csv
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

#: Kinds of copies of issue 18 (verification must accept all of them).
BASIC_KINDS: tuple[str, ...] = ("resize", "reencode", "brightness", "contrast", "blur", "grey",
                                "watermark", "crop", "exact copy")
#: Geometric kinds of issue 21 (robust mode).
ROBUST_KINDS: tuple[str, ...] = ("rotate90", "rotate180", "rotate270", "mirror", "flip", "transpose",
                                 "crop25", "crop_downscale", "letterbox", "screenshot", "stretch")
ALL_KINDS: tuple[str, ...] = BASIC_KINDS + ROBUST_KINDS

_SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                   "hubble_deep_field", "retina", "camera", "brick", "grass", "gravel", "moon")
_photo_cache: list[np.ndarray] | None = None


def _real_photos() -> list[np.ndarray]:
    """scikit-image's bundled photographs as RGB uint8 (empty without scikit-image)."""
    global _photo_cache
    if _photo_cache is None:
        photos: list[np.ndarray] = []
        try:
            import skimage.data as skdata
        except ImportError:  # optional dependency
            skdata = None
        if skdata is not None:
            for name in _SKIMAGE_PHOTOS:
                try:
                    img = np.asarray(getattr(skdata, name)())
                except Exception:  # a photo that needs a download, or a missing one
                    continue
                if img.ndim == 2:
                    img = np.repeat(img[:, :, None], 3, axis=2)
                photos.append(np.ascontiguousarray(img[:, :, :3]).astype(np.uint8))
        _photo_cache = photos
    return _photo_cache


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Multi-scale smooth noise in about -1..1, float32, H x W."""
    out = np.zeros((height, width), np.float32)
    for cells, weight in ((4, 1.0), (12, 0.5), (40, 0.3), (120, 0.2)):
        grid = rng.standard_normal((max(2, cells * height // width), cells)).astype(np.float32)
        out += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return out / 1.5


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0, 255, 3))


def _draw_object(img: np.ndarray, rng: np.random.Generator, scale: float = 1.0,
                 region: tuple[int, int, int, int] | None = None) -> None:
    """Draw one opaque, textured object (ellipse, rectangle, polygon or thick line) in place.

    ``region`` = (x0, y0, width, height): the object's centre lies in it (default: anywhere).
    """
    h, w = img.shape[:2]
    x0, y0, rw, rh = region if region is not None else (0, 0, w, h)
    size = int(rng.uniform(0.08, 0.25) * scale * min(rw, rh))
    cx = x0 + int(rng.uniform(0.1, 0.9) * rw)
    cy = y0 + int(rng.uniform(0.1, 0.9) * rh)
    colour = _random_colour(rng)
    mask = np.zeros((h, w), np.uint8)
    shape = rng.integers(0, 4)
    if shape == 0:
        axes = (max(3, size), max(3, int(size * rng.uniform(0.4, 1.0))))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    elif shape == 1:
        cv2.rectangle(mask, (cx - size, cy - size // 2), (cx + size, cy + size // 2), 255, -1)
    elif shape == 2:
        pts = np.array([[cx + size * np.cos(a), cy + size * np.sin(a)]
                        for a in np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))], np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
    else:
        end = (int(cx + rng.uniform(-2, 2) * size), int(cy + rng.uniform(-2, 2) * size))
        cv2.line(mask, (cx, cy), end, 255, max(3, size // 4), cv2.LINE_AA)
    x, y, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return
    alpha = (mask[y:y + bh, x:x + bw].astype(np.float32) / 255.0)[:, :, None]
    shade = 1.0 + 0.25 * _texture(rng, max(bw, 2), max(bh, 2))[:bh, :bw, None]
    obj = np.asarray(colour, np.float32)[None, None, :] * shade
    part = img[y:y + bh, x:x + bw]
    part *= 1.0 - alpha
    part += alpha * obj


#: Rotations (degrees) of a real photo for its 1st, 2nd, ... scene in one corpus (see :func:`_base_canvas`).
PHOTO_ANGLES: tuple[float, ...] = (0.0, 9.0, -9.0, 18.0, -18.0, 27.0, -27.0, 36.0, -36.0, 4.5, -4.5, 13.5, -13.5,
                                   22.5, -22.5, 31.5, -31.5, 40.5, -40.5)


def _photo_window(photo: np.ndarray, rng: np.random.Generator, width: int, height: int,
                  angle: float) -> np.ndarray:
    """A W x H float32 window of ``photo`` zoomed 1-1.4x past what covers it and turned by ``angle`` degrees,
    at a random place where the window lies wholly inside the photo."""
    ph, pw = photo.shape[:2]
    theta = np.deg2rad(angle)
    cos, sin = float(np.cos(theta)), float(np.sin(theta))
    need_w = width * abs(cos) + height * abs(sin)  # the turned window's bounding box
    need_h = width * abs(sin) + height * abs(cos)
    zoom = max(need_w / pw, need_h / ph) * rng.uniform(1.0, 1.4)
    big = cv2.resize(photo, (int(np.ceil(pw * zoom)) + 1, int(np.ceil(ph * zoom)) + 1), interpolation=cv2.INTER_CUBIC)
    cx = big.shape[1] / 2 + rng.uniform(-0.5, 0.5) * max(0.0, big.shape[1] - 1 - need_w)
    cy = big.shape[0] / 2 + rng.uniform(-0.5, 0.5) * max(0.0, big.shape[0] - 1 - need_h)
    # output (u, v) -> photo: the centre plus the turned offset from the window's centre
    m = np.array([[cos, -sin, cx - cos * width / 2 + sin * height / 2],
                  [sin, cos, cy - sin * width / 2 - cos * height / 2]])
    return cv2.warpAffine(big, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _base_canvas(rng: np.random.Generator, width: int, height: int, scene: int | None = None) -> np.ndarray:
    """A photo-like float32 RGB canvas, W x H (larger than the shots, which are windows of it).

    Half of the canvases are built on one of scikit-image's photographs (when
    it is installed), the others are synthetic. With ``scene`` (the scene's
    number in a corpus), the even scenes take the photographs in turn and each
    use of one photograph turns it by another angle (:data:`PHOTO_ANGLES`):
    two scenes of one corpus are then never windows of one picture (one could
    be a pixel-exact crop of the other, a true copy labelled as a different
    picture). Without ``scene`` the photograph and its place are drawn at random, upright.
    """
    photos = _real_photos()
    if scene is not None and photos and scene % 2 == 0:
        turn, which = divmod(scene // 2, len(photos))  # the photo, and how many scenes took it before
        canvas = _photo_window(photos[which].astype(np.float32), rng, width, height,
                               PHOTO_ANGLES[turn % len(PHOTO_ANGLES)])
        n_objects = int(rng.integers(0, 3))
    elif scene is None and photos and rng.random() < 0.5:
        photo = photos[int(rng.integers(len(photos)))].astype(np.float32)
        ph, pw = photo.shape[:2]
        zoom = max(width / pw, height / ph) * rng.uniform(1.0, 1.4)
        big = cv2.resize(photo, (int(np.ceil(pw * zoom)) + 1, int(np.ceil(ph * zoom)) + 1),
                         interpolation=cv2.INTER_CUBIC)
        x0 = int(rng.integers(0, big.shape[1] - width + 1))
        y0 = int(rng.integers(0, big.shape[0] - height + 1))
        canvas = np.ascontiguousarray(big[y0:y0 + height, x0:x0 + width])
        n_objects = int(rng.integers(0, 3))
    else:
        corners = rng.uniform(0, 255, (2, 2, 3)).astype(np.float32)
        canvas = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
        canvas += 40.0 * _texture(rng, width, height)[:, :, None] * rng.uniform(0.5, 1.5, 3)[None, None, :]
        n_objects = int(rng.integers(3, 9))
    for _ in range(n_objects):
        _draw_object(canvas, rng)
    return canvas


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor-like noise and a slight blur, then uint8."""
    out = cv2.GaussianBlur(img, (0, 0), 0.8)
    out += 3.0 * rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _shots(rng: np.random.Generator, width: int, height: int, n_shots: int,
           scene: int | None = None) -> list[np.ndarray]:
    """Distinct shots of one scene (uint8 RGB, H x W): a burst of windows of one canvas (``scene``: see
    :func:`_base_canvas`)."""
    margin_x, margin_y = int(0.08 * width) + 2, int(0.08 * height) + 2
    canvas = _base_canvas(rng, width + 2 * margin_x, height + 2 * margin_y, scene)
    shots = []
    for k in range(n_shots):
        img = canvas.copy()
        dx, dy = margin_x, margin_y
        if k > 0:
            change = rng.integers(0, 3)
            n_edits = int(rng.integers(1, 3))
            if change == 1:  # the camera moved by a few percent: new content at an edge
                dx += int(rng.choice([-1, 1]) * rng.uniform(0.02, 0.06) * width)
                dy += int(rng.choice([-1, 1]) * rng.uniform(0.0, 0.04) * height)
                # and something else changed: a pure pan of a static scene, cropped by a few percent,
                # is a crop of the other shot too (no measure can tell them apart)
                n_edits = 1
            before = cv2.cvtColor(img[dy:dy + height, dx:dx + width], cv2.COLOR_RGB2GRAY)
            for attempt in range(20):  # something moved, added or removed in part of the frame
                for _ in range(n_edits):
                    _draw_object(img, rng, scale=rng.uniform(0.5, 1.0), region=(dx, dy, width, height))
                changed = cv2.absdiff(cv2.cvtColor(img[dy:dy + height, dx:dx + width], cv2.COLOR_RGB2GRAY),
                                      before) > 30
                # visibly different over >= 1% of the frame, inside the central part that a crop of
                # up to 10% per side keeps (a crop copy of this shot still differs from the others)
                inner = changed[height // 10:height - height // 10, width // 10:width - width // 10]
                if inner.mean() >= 0.01:
                    break
                n_edits = 1
            if change == 2:  # a different exposure as well
                img = img * rng.uniform(0.75, 1.3) + rng.uniform(-15, 15)
        shots.append(_finish(img[dy:dy + height, dx:dx + width], rng))
    return shots


def _watermark(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Semi-transparent text, or a small semi-transparent logo (a badge with a letter, about 0.5-2% of the area), near a corner."""
    h, w = img.shape[:2]
    if rng.random() < 0.35:  # a logo: a filled badge with a letter, a few percent of the area
        side = int(rng.uniform(0.04, 0.08) * min(w, h)) + 4
        cx = int(rng.uniform(0.03, 0.12) * w) + side if rng.random() < 0.5 else w - side - int(rng.uniform(0.03, 0.12) * w)
        cy = int(rng.uniform(0.03, 0.12) * h) + side if rng.random() < 0.5 else h - side - int(rng.uniform(0.03, 0.12) * h)
        layer = img.copy()
        colour = _random_colour(rng)
        if rng.random() < 0.5:
            cv2.circle(layer, (cx, cy), side, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(layer, (cx - side, cy - side // 2), (cx + side, cy + side // 2), colour, -1)
        ink = (255, 255, 255) if sum(colour) < 380 else (0, 0, 0)
        cv2.putText(layer, "L", (cx - side // 3, cy + side // 3), cv2.FONT_HERSHEY_SIMPLEX, side / 30.0, ink,
                    max(1, side // 12), cv2.LINE_AA)
        alpha = rng.uniform(0.2, 0.45)
        return cv2.addWeighted(layer, alpha, img, 1 - alpha, 0)
    text = ["(c) 2024", "sample", "PHOTO", "@user"][int(rng.integers(4))]
    scale = 0.045 * h / 22.0 * rng.uniform(0.8, 1.3)
    thickness = max(1, int(round(scale * 2)))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = int(0.03 * w) if rng.random() < 0.5 else max(0, w - tw - int(0.03 * w))
    y = h - int(0.03 * h) if rng.random() < 0.7 else th + int(0.03 * h)
    layer = img.copy()
    colour = (255, 255, 255) if rng.random() < 0.7 else (0, 0, 0)
    cv2.putText(layer, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    alpha = rng.uniform(0.3, 0.6)
    return cv2.addWeighted(layer, alpha, img, 1 - alpha, 0)


#: Share of a crop copy that must differ visibly from each other shot of its scene (see :func:`_crop`).
CROP_KEEPS_DIFFERENCE = 0.01


def _crop(img: np.ndarray, rng: np.random.Generator, low: float, high: float,
          differs: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A crop of ``low``-``high`` of each side; drawn again (up to 50 times) until it keeps at least
    :data:`CROP_KEEPS_DIFFERENCE` of each mask of ``differs`` (where the image differs from another shot of its
    scene): a crop that left out every difference would be a crop of that other shot as well."""
    h, w = img.shape[:2]
    for _ in range(50):
        left, right = (int(rng.uniform(low, high) * w) for _ in range(2))
        top, bottom = (int(rng.uniform(low, high) * h) for _ in range(2))
        if all(mask[top:h - bottom, left:w - right].mean() >= CROP_KEEPS_DIFFERENCE for mask in differs):
            break
    return img[top:h - bottom, left:w - right]


def transform(img: np.ndarray, kind: str, rng: np.random.Generator,
              differs: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, int]:
    """Apply the copy transform ``kind`` to an RGB uint8 image.

    Parameters
    ----------
    img : np.ndarray
        H x W x 3 uint8 (RGB).
    kind : str
        One of :data:`ALL_KINDS` except ``'exact copy'`` (a byte copy, made by the caller).
    rng : np.random.Generator
        Source of the transform's random parameters.
    differs : sequence of np.ndarray, optional
        H x W boolean masks of where ``img`` differs from each other shot of its scene: a crop keeps part
        of each (:func:`_crop`).

    Returns
    -------
    (np.ndarray, int)
        The transformed image (RGB, or H x W for ``'grey'``) and the JPEG quality to save it at.
    """
    h, w = img.shape[:2]
    quality = int(rng.integers(85, 96))
    if kind == "resize":
        f = rng.uniform(0.4, 0.85)
        return cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA), quality
    if kind == "reencode":
        return img, int(rng.integers(45, 76))
    if kind == "brightness":  # a gain, an offset or a gamma, darker or brighter (highlights may clip)
        style = rng.random()
        x = img.astype(np.float32)
        if style < 0.4:
            x = x * (rng.uniform(0.7, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 1.35))
        elif style < 0.7:
            x = x + rng.choice([-1, 1]) * rng.uniform(15, 40)
        else:
            x = 255.0 * (x / 255.0) ** (rng.uniform(0.7, 0.85) if rng.random() < 0.5 else rng.uniform(1.2, 1.45))
        return np.clip(x, 0, 255).astype(np.uint8), quality
    if kind == "contrast":
        c = rng.uniform(0.65, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.4)
        mean = img.mean()
        return np.clip((img.astype(np.float32) - mean) * c + mean, 0, 255).astype(np.uint8), quality
    if kind == "blur":
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(1.0, 2.5)), quality
    if kind == "grey":
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), quality
    if kind == "watermark":
        return _watermark(img, rng), quality
    if kind == "crop":
        return _crop(img, rng, 0.02, 0.08, differs), quality
    if kind in ("rotate90", "rotate180", "rotate270"):
        return np.ascontiguousarray(np.rot90(img, -{"rotate90": 1, "rotate180": 2, "rotate270": 3}[kind])), quality
    if kind == "mirror":
        return np.ascontiguousarray(img[:, ::-1]), quality
    if kind == "flip":
        return np.ascontiguousarray(img[::-1]), quality
    if kind == "transpose":
        return np.ascontiguousarray(img.transpose(1, 0, 2)), quality
    if kind == "crop25":
        return _crop(img, rng, 0.10, 0.25, differs), quality
    if kind == "crop_downscale":
        part = _crop(img, rng, 0.05, 0.20, differs)
        f = rng.uniform(0.5, 0.85)
        return cv2.resize(part, (int(part.shape[1] * f), int(part.shape[0] * f)), interpolation=cv2.INTER_AREA), quality
    if kind == "letterbox":
        bx, by = int(rng.uniform(0.05, 0.15) * w), int(rng.uniform(0.0, 0.15) * h)
        colour = (0, 0, 0) if rng.random() < 0.6 else _random_colour(rng)
        return cv2.copyMakeBorder(img, by, by, bx, bx, cv2.BORDER_CONSTANT, value=colour), quality
    if kind == "screenshot":
        f = rng.uniform(0.55, 0.8)  # the photo covers about f*f of the canvas (at least ~0.3-0.64)
        cw, ch = int(w / f), int(h / f)
        screen = np.full((ch, cw, 3), 235, np.uint8)
        cv2.rectangle(screen, (0, 0), (cw, int(0.06 * ch)), (60, 60, 70), -1)
        for row in range(int(0.1 * ch), ch, max(8, ch // 20)):
            cv2.line(screen, (int(0.02 * cw), row), (int(0.02 * cw) + int(rng.uniform(0.05, 0.15) * cw), row),
                     (120, 120, 120), 2)
        x0 = int(rng.uniform(0.18, 1.0) * (cw - w))
        y0 = int(rng.uniform(0.1, 1.0) * (ch - h))
        screen[y0:y0 + h, x0:x0 + w] = img
        return screen, quality
    if kind == "stretch":
        f = rng.uniform(0.8, 1.25)
        size = (int(w * f), h) if rng.random() < 0.5 else (w, int(h * f))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA), quality
    raise ValueError(f"unknown copy kind {kind!r}; known kinds: {', '.join(ALL_KINDS)}")


def _write_jpeg(path: Path, img: np.ndarray, quality: int) -> None:
    data = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), data, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
        raise OSError(f"could not write {path}")


def _make_scene(args: tuple) -> list[tuple[str, str, str]]:
    folder, scene, n_shots, copies, kinds, size_range, seed, quality = args
    rng = np.random.default_rng([seed, scene])
    long_side = int(rng.integers(size_range[0], size_range[1] + 1))
    aspect = float(rng.choice([4 / 3, 3 / 2, 16 / 9, 1.0]))
    width, height = long_side, max(8, int(round(long_side / aspect)))
    if rng.random() < 0.3:
        width, height = height, width
    rows = []
    shots = _shots(rng, width, height, n_shots, scene)
    greys = [cv2.cvtColor(shot, cv2.COLOR_RGB2GRAY) for shot in shots]
    for shot_index, shot in enumerate(shots):
        differs = [cv2.absdiff(greys[shot_index], other) > 30 for j, other in enumerate(greys) if j != shot_index]
        group = f"s{scene:05d}_{shot_index:02d}"
        original = Path(folder) / f"{group}_original.jpg"
        _write_jpeg(original, shot, quality if quality else int(rng.integers(88, 96)))
        rows.append((original.name, group, "original"))
        for k in range(copies):
            kind = kinds[int(rng.integers(len(kinds)))]
            name = f"{group}_c{k}_{kind.replace(' ', '_')}.jpg"
            if kind == "exact copy":
                shutil.copyfile(original, Path(folder) / name)
            else:
                img, q = transform(shot, kind, rng, differs)
                _write_jpeg(Path(folder) / name, img, q)
            rows.append((name, group, kind))
    return rows


def make_corpus(folder: str | os.PathLike, n_scenes: int, shots_per_scene: int = 4, copies_per_shot: int = 1,
                kinds: Sequence[str] | str = BASIC_KINDS, size_range: tuple[int, int] = (640, 1024),
                seed: int = 0, jpeg_quality: int | None = None, workers: int | None = None) -> Path:
    """Write a labelled corpus of near-duplicates and same-scene hard negatives.

    Parameters
    ----------
    folder : str or os.PathLike
        Output folder (created). Existing files of the same names are replaced;
        use a fresh folder.
    n_scenes : int
        Number of scenes.
    shots_per_scene : int
        Distinct shots of each scene (each its own group; the hard negatives).
    copies_per_shot : int
        Copies written per shot, each of a kind drawn from ``kinds``.
    kinds : sequence of str or 'basic' / 'robust' / 'all'
        Copy kinds to draw from (see :data:`BASIC_KINDS`, :data:`ROBUST_KINDS`).
    size_range : (int, int)
        Range of the longer side of the shots in pixels.
    seed : int
        Seed; the corpus is a deterministic function of all arguments.
    jpeg_quality : int, optional
        JPEG quality of the originals (default: drawn from 88-95 per scene).
    workers : int, optional
        Worker processes (default: the CPU count; 1 runs in this process).

    Returns
    -------
    pathlib.Path
        The path of ``truth.csv`` (columns ``file,group,label``).
    """
    if isinstance(kinds, str):
        kinds = {"basic": BASIC_KINDS, "robust": ROBUST_KINDS, "all": ALL_KINDS}.get(kinds, (kinds,))
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown copy kinds {unknown}; known kinds: {', '.join(ALL_KINDS)}")
    if n_scenes < 0 or shots_per_scene < 1 or copies_per_shot < 0:
        raise ValueError("n_scenes >= 0, shots_per_scene >= 1 and copies_per_shot >= 0 are required")
    lo, hi = int(size_range[0]), int(size_range[1])
    if not 16 <= lo <= hi:
        raise ValueError(f"size_range must be (low, high) with 16 <= low <= high, got {size_range}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder), s, shots_per_scene, copies_per_shot, kinds, (lo, hi), seed, jpeg_quality)
            for s in range(n_scenes)]
    workers = os.cpu_count() or 1 if workers is None else max(1, int(workers))
    rows: Iterable[list] = []
    if workers == 1 or len(jobs) < 4:
        rows = [_make_scene(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_make_scene, jobs, chunksize=max(1, len(jobs) // (8 * workers))))
    truth = folder / "truth.csv"
    with open(truth, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "group", "label"])
        for scene_rows in rows:
            writer.writerows(scene_rows)
    return truth


def read_truth(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """Rows ``(file, group, label)`` of a ``truth.csv`` (label ``''`` where the column is absent)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return [(r["file"], r["group"], r.get("label") or "") for r in reader]
