"""A robust-mode corpus made independently of :mod:`undouble.corpus`: real photos, Pillow transforms.

``undouble.corpus.make_corpus`` draws synthetic scenes and transforms them with
OpenCV; tuning robust mode on it alone risks fitting its habits. This one
takes the photographs bundled with scikit-image (the test extra), upsamples
them to 800-1,200 px, and makes every copy with Pillow:

* **pictures:** whole photos; for five of them two overlapping parts instead
  (left and right 62%: a shared region, different content, neither inside the
  other); a second shot of six (turned 2 degrees, moved, brighter, an object
  added); the stereo pair ``motorcycle_left`` / ``motorcycle_right`` (two
  views of one scene). Every picture is its own truth group, so the parts, the
  second shots and the stereo pair are hard negatives;
* **copies** (``--copies`` kinds drawn per picture, without repeats): rotations
  by 90/180/270 degrees, mirror, flip, transpose, crops of 10-25% of each
  dimension, crops of 24-25%, crops then downscaled, letterboxes (flat
  colours), letterboxes whose fill is the photo blurred, screenshots (a light
  window with a title bar and text, the photo filling 50-80% of it), dark
  screenshots, stretches of 10-25%, re-encodes, resizes, brightness, a
  watermark, grey, blur, exact copies.

It writes ``truth.csv`` (``file,group,label``) for ``undouble evaluate`` and
``benchmarks/bench_robust.py --folder``::

    python benchmarks/pillow_corpus.py OUT --seed 11 --copies 9
    undouble evaluate OUT --truth OUT/truth.csv --robust --thresholds 10
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

#: Photos split into two overlapping parts (a region shared by two different pictures).
SPLIT = ("astronaut", "coffee", "rocket", "chelsea", "hubble")
#: Photos that also get a second shot of their scene.
SECOND_SHOT = ("ihc", "retina", "camera", "coins", "page", "brick")


def _rgb(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, -1)
    return Image.fromarray(array[..., :3].astype(np.uint8))


def _upsample(img: Image.Image, longer: int) -> Image.Image:
    w, h = img.size
    s = longer / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def pictures(rng: np.random.Generator) -> dict[str, Image.Image]:
    """The distinct pictures, by name."""
    import skimage.data as data

    left, right = data.stereo_motorcycle()[:2]
    photos = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee(),
              "hubble": data.hubble_deep_field(), "ihc": data.immunohistochemistry(), "retina": data.retina(),
              "rocket": data.rocket(), "camera": data.camera(), "coins": data.coins(), "moon": data.moon(),
              "page": data.page(), "brick": data.brick(), "grass": data.grass(), "motorcycle_left": left,
              "motorcycle_right": right}
    out = {}
    for name, array in photos.items():
        img = _upsample(_rgb(array), int(rng.integers(800, 1200)))
        if name in SPLIT:
            w, h = img.size
            out[name + "_left"] = img.crop((0, 0, round(0.62 * w), h))
            out[name + "_right"] = img.crop((round(0.38 * w), 0, w, h))
            continue
        out[name] = img
        if name in SECOND_SHOT:
            out[name + "_shot2"] = _second_shot(img, rng)
    return out


def _second_shot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    shot = img.rotate(2.0, resample=Image.BICUBIC)
    shot = shot.crop((round(0.04 * w), round(0.03 * h), round(0.98 * w), round(0.99 * h))).resize((w, h),
                                                                                                  Image.BICUBIC)
    shot = ImageEnhance.Brightness(shot).enhance(1.15)
    draw = ImageDraw.Draw(shot)
    cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, 0.08 * min(w, h)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return shot


def _crop(img: Image.Image, rng: np.random.Generator, lo: float = 0.10, hi: float = 0.25) -> Image.Image:
    w, h = img.size
    fx, fy = rng.uniform(lo, hi, 2)  # the share removed from each dimension, split between its two sides
    ax, ay = rng.uniform(0, 1, 2)
    x0, y0 = fx * ax * w, fy * ay * h
    return img.crop((round(x0), round(y0), round(x0 + (1 - fx) * w), round(y0 + (1 - fy) * h)))


def _letterbox(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    colour = [(0, 0, 0), (255, 255, 255), (40, 40, 40), (200, 200, 210)][int(rng.integers(0, 4))]
    if rng.uniform() < 0.5:
        bw, bh = round(rng.uniform(0.05, 0.2) * w), round(rng.uniform(0.0, 0.05) * h)
    else:
        bw, bh = round(rng.uniform(0.0, 0.05) * w), round(rng.uniform(0.05, 0.2) * h)
    return ImageOps.expand(img, border=(bw, bh, bw, bh), fill=colour)


def _letterbox_blur(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    if rng.uniform() < 0.5:
        cw, ch = round(w * rng.uniform(1.15, 1.4)), h
    else:
        cw, ch = w, round(h * rng.uniform(1.15, 1.4))
    s = max(cw / w, ch / h)
    fill = img.resize((round(w * s) + 2, round(h * s) + 2), Image.BILINEAR).filter(ImageFilter.GaussianBlur(12))
    x, y = (fill.size[0] - cw) // 2, (fill.size[1] - ch) // 2
    fill = ImageEnhance.Brightness(fill.crop((x, y, x + cw, y + ch))).enhance(0.7)
    fill.paste(img, ((cw - w) // 2, (ch - h) // 2))
    return fill


def _screenshot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    share = rng.uniform(0.5, 0.8)  # of the canvas's area
    scale = rng.uniform(0.6, 1.0)
    pw, ph = round(w * scale), round(h * scale)
    photo = img.resize((pw, ph), Image.BILINEAR)
    cw = round(pw / np.sqrt(share) * rng.uniform(1.0, 1.15))
    ch = max(round(pw * ph / share / cw), int(np.ceil((ph + 4) / 0.94)))  # the whole photo below the title bar
    canvas = Image.new("RGB", (cw, ch), tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, cw, round(0.06 * ch)), fill=(50, 50, 60))
    for k in range(6):
        draw.text((5, round(0.08 * ch + k * 0.02 * ch)), "file %d.jpg  Downloads  1.2 MB" % k, fill=(20, 20, 20))
    canvas.paste(photo, (int(rng.integers(0, max(1, cw - pw))), int(rng.integers(int(np.ceil(0.06 * ch)),
                                                                                 ch - ph + 1))))
    return canvas


def _screenshot_dark(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    share = rng.uniform(0.5, 0.75)
    pw, ph = round(w * 0.7), round(h * 0.7)
    photo = img.resize((pw, ph), Image.LANCZOS)
    cw = round(pw / np.sqrt(share))
    ch = max(round(pw * ph / share / cw), ph + 30)
    canvas = Image.new("RGB", (cw, ch), (30, 30, 34))
    draw = ImageDraw.Draw(canvas)
    for k in range(4):
        draw.text((5, 5 + 12 * k), "IMG_%04d.JPG   3.4 MB   yesterday" % (k + 100), fill=(200, 200, 200))
    canvas.paste(photo, (int(rng.integers(0, cw - pw + 1)), int(rng.integers(0, ch - ph + 1))))
    return canvas


def _watermark(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    img = img.copy()
    draw = ImageDraw.Draw(img)
    w, h = img.size
    draw.text((round(0.6 * w), round(0.9 * h)), "(c) undouble test", fill=(255, 255, 255))
    draw.text((round(0.6 * w), round(0.9 * h) + 12), "(c) undouble test", fill=(0, 0, 0))
    return img


#: Copy kinds: label -> transform (None: the file copied byte for byte).
KINDS = {
    "rotate90": lambda im, rng: im.transpose(Image.ROTATE_270),
    "rotate180": lambda im, rng: im.transpose(Image.ROTATE_180),
    "rotate270": lambda im, rng: im.transpose(Image.ROTATE_90),
    "mirror": lambda im, rng: im.transpose(Image.FLIP_LEFT_RIGHT),
    "flip": lambda im, rng: im.transpose(Image.FLIP_TOP_BOTTOM),
    "transpose": lambda im, rng: im.transpose(Image.TRANSPOSE),
    "crop": _crop,
    "crop_hard": lambda im, rng: _crop(im, rng, 0.24, 0.25),
    "crop_downscale": lambda im, rng: (lambda c: c.resize((round(c.size[0] * 0.6), round(c.size[1] * 0.6)),
                                                          Image.LANCZOS))(_crop(im, rng)),
    "letterbox": _letterbox,
    "letterbox_blur": _letterbox_blur,
    "screenshot": _screenshot,
    "screenshot_dark": _screenshot_dark,
    "stretch": lambda im, rng: im.resize((round(im.size[0] * rng.uniform(1.1, 1.25)), im.size[1]), Image.BICUBIC),
    "reencode": lambda im, rng: im,
    "resize": lambda im, rng: im.resize((im.size[0] // 2, im.size[1] // 2), Image.LANCZOS),
    "brightness": lambda im, rng: ImageEnhance.Brightness(im).enhance(float(rng.choice([0.8, 1.2]))),
    "watermark": _watermark,
    "exact copy": None,
    "grey": lambda im, rng: ImageOps.grayscale(im).convert("RGB"),
    "blur": lambda im, rng: im.filter(ImageFilter.GaussianBlur(1.5)),
}


def make_pillow_corpus(out: str, seed: int = 0, copies: int = 8) -> list[tuple[str, str, str]]:
    """Write the corpus into ``out`` (created); returns the rows of its ``truth.csv``."""
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    names = list(KINDS)
    rows = []
    for p, (name, img) in enumerate(sorted(pictures(rng).items())):
        group = f"p{p:02d}_{name}"
        original = group + "_original.jpg"
        img.save(os.path.join(out, original), quality=92)
        rows.append((original, group, "original"))
        for c, k in enumerate(rng.choice(len(names), min(copies, len(names)), replace=False)):
            kind = names[int(k)]
            stem = f"{group}_c{c}_{kind.replace(' ', '_')}"
            if KINDS[kind] is None:
                fname = stem + ".jpg"
                with open(os.path.join(out, original), "rb") as src, open(os.path.join(out, fname), "wb") as dst:
                    dst.write(src.read())
            elif kind.startswith("screenshot"):
                fname = stem + ".png"
                KINDS[kind](img, rng).save(os.path.join(out, fname))
            else:
                fname = stem + ".jpg"
                quality = int(rng.integers(45, 70)) if kind == "reencode" else 90
                KINDS[kind](img, rng).save(os.path.join(out, fname), quality=quality)
            rows.append((fname, group, kind))
    with open(os.path.join(out, "truth.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "group", "label"])
        writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder to write (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copies", type=int, default=8, help="copy kinds drawn per picture")
    args = ap.parse_args(argv)
    rows = make_pillow_corpus(args.out, args.seed, args.copies)
    print(f"{len(rows)} files, {len({g for _, g, _ in rows})} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
