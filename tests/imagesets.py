"""Images shared by the tests: real photos and the degenerate families of hashes.md.

Real photos are the ones bundled inside the scikit-image wheel (no network).
"""
from __future__ import annotations

import numpy as np

PHOTO_NAMES = ("astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
               "immunohistochemistry", "moon", "page", "rocket", "text", "logo", "brick",
               "clock", "colorwheel", "microaneurysms")


def real_photos() -> dict[str, np.ndarray]:
    """The photos bundled with scikit-image, as uint8 arrays (grey, RGB or RGBA)."""
    import skimage.data

    return {name: np.ascontiguousarray(getattr(skimage.data, name)()) for name in PHOTO_NAMES}


def photo_variants(rng: np.random.Generator, count: int = 12) -> list[np.ndarray]:
    """Crops of the real photos at several sizes, including very tall and very wide ones."""
    photos = list(real_photos().values())
    shapes = [(512, 16), (16, 512), (300, 40), (40, 300), (97, 131), (64, 64), (33, 257),
              (257, 33), (128, 128), (9, 400), (400, 9), (200, 150)]
    out = []
    for k in range(count):
        img = photos[k % len(photos)]
        h, w = shapes[k % len(shapes)]
        h, w = min(h, img.shape[0]), min(w, img.shape[1])
        y = int(rng.integers(0, img.shape[0] - h + 1))
        x = int(rng.integers(0, img.shape[1] - w + 1))
        out.append(np.ascontiguousarray(img[y:y + h, x:x + w]))
    return out


def degenerate_images() -> dict[str, np.ndarray]:
    """The degenerate families listed at the end of hashes.md (uint8 arrays)."""
    imgs: dict[str, np.ndarray] = {}
    for value in (0, 128, 255):
        imgs[f"uniform_{value}"] = np.full((64, 64), value, np.uint8)
        imgs[f"uniform_rgb_{value}"] = np.full((48, 80, 3), value, np.uint8)
    ramp = np.linspace(0, 255, 96).astype(np.uint8)
    imgs["gradient_h"] = np.tile(ramp, (64, 1))
    imgs["gradient_v"] = np.tile(ramp[:64, None], (1, 96))
    imgs["gradient_diag"] = ((np.add.outer(np.arange(80), np.arange(80)) * 255) // 158).astype(np.uint8)
    rng = np.random.default_rng(7)
    half = rng.integers(0, 256, (64, 32), dtype=np.uint8)
    imgs["mirror_lr"] = np.hstack([half, half[:, ::-1]])
    square = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    imgs["transpose_sym"] = np.triu(square) + np.triu(square, 1).T
    blocks = np.zeros((64, 64), np.uint8)
    blocks[:32, :32] = 200
    blocks[32:, 32:] = 200
    imgs["two_level_blocks"] = blocks
    imgs["two_level_stripes"] = np.where((np.arange(72) // 9) % 2 == 0, 30, 220).astype(np.uint8)[None, :].repeat(40, 0)
    imgs["checker_1px"] = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)
    imgs["checker_1px_odd"] = ((np.indices((31, 47)).sum(0) % 2) * 255).astype(np.uint8)
    imgs["tall"] = rng.integers(0, 256, (600, 7), dtype=np.uint8)
    imgs["wide"] = rng.integers(0, 256, (7, 600), dtype=np.uint8)
    for size in (2, 3, 4, 5, 7, 8, 9, 15, 16):
        imgs[f"tiny_{size}"] = rng.integers(0, 256, (size, size), dtype=np.uint8)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    imgs["rgba"] = rgba
    imgs["noise_rgb"] = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    imgs["noise_grey"] = rng.integers(0, 256, (90, 70), dtype=np.uint8)
    return imgs


def pil_special_modes():
    """PIL images in palette, 16-bit and LA modes (the conversion is documented in hashes.py)."""
    from PIL import Image

    rng = np.random.default_rng(11)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    return {
        "palette": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "la": Image.fromarray(rng.integers(0, 256, (40, 60), dtype=np.uint8)).convert("LA"),
        "i16": Image.fromarray(rng.integers(0, 65535, (40, 60), dtype=np.uint16)),
    }


def jpeg_round_trip(img: np.ndarray, quality: int = 90) -> np.ndarray:
    """Round-trip through JPEG, as files are."""
    import cv2

    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def verify_two(a: np.ndarray, b: np.ndarray):
    """:func:`undouble.verify.verify_pairs` of one pair of images, from their thumbnails and sizes."""
    from undouble.verify import make_thumbnails, verify_pairs

    thumbs = make_thumbnails([a, b])
    sizes = np.array([[a.shape[1], a.shape[0]], [b.shape[1], b.shape[0]]])
    return verify_pairs(thumbs, sizes, [0], [1])
