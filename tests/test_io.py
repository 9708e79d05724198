"""Ingestion: every format, every bad file, EXIF orientations, reduced decoding, image storage."""
from __future__ import annotations

import builtins
import collections
import logging
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

import undouble.io as uio
from undouble import Undouble
from undouble.hashes import hash_image
from undouble.preprocess import preprocess

pillow_heif = pytest.importorskip("pillow_heif")  # CI installs it with the test extra

DIM = (128, 128)


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def _small(name: str, width: int = 320) -> np.ndarray:
    """A scikit-image photo resized to ``width`` pixels wide (keeps the encoders quick)."""
    import cv2

    img = _photo(name)
    height = round(img.shape[0] * width / img.shape[1])
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def _camera_like(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A scikit-image photo upscaled to camera size with fine texture and sensor noise."""
    import cv2

    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel"]
    base = _photo(names[seed % len(names)])
    rng = np.random.default_rng(seed)
    big = cv2.resize(base, size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    texture = cv2.resize(rng.normal(0, 6, (size[1] // 4, size[0] // 4)).astype(np.float32), size)
    big += texture.astype(np.int16)[:, :, None]
    big += rng.integers(-7, 8, big.shape, dtype=np.int8)  # sensor noise
    return np.clip(big, 0, 255).astype(np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels, with no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A complete-looking JPEG whose frame header claims ``width x height``."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 64 + b"\xff\xd9"


# --------------------------------------------------------------------------
# The fixture folder: good images in every format, and every kind of bad file
# --------------------------------------------------------------------------

GOOD_SOURCES = {  # file name -> photo it holds
    "photo.jpg": "astronaut",
    "upper case.JPG": "chelsea",
    "photo.jpeg": "coffee",
    "photo.jfif": "rocket",
    "lossless.png": "astronaut",
    "photo.tif": "chelsea",
    "photo.tiff": "coffee",
    "photo.bmp": "rocket",
    "photo.webp": "immunohistochemistry",
    "photo.heic": "chelsea",
    "photo.heif": "coffee",
    "photo.avif": "astronaut",
    "naïve café 写真.jpg": "coffee",
}
SPECIAL = ["grey16.png", "rgb16.png", "cmyk.jpg", "palette_alpha.png", "la.png", "grey.jpg", "bilevel.png",
           "rgba.png", "float.tif", "animated.gif"]

BAD = {  # file name -> words its reason must contain
    "empty.jpg": "empty",
    "truncated.jpg": "truncated",
    "truncated.png": "truncated",
    "corrupt.jpg": "corrupt",
    "corrupt.png": "corrupt",
    "text.jpg": "not an image",
    "page.png": "not an image",
    "bomb.png": "too large",
    "bomb.jpg": "too large",
    "broken link.jpg": "broken symbolic link",
    "loop_a.jpg": "symbolic link loop",
    "loop_b.jpg": "symbolic link loop",
    "pipe.png": "not a regular file",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest")
    for name, photo in GOOD_SOURCES.items():
        img = Image.fromarray(_small(photo))
        opts = {"quality": 92} if name.lower().endswith((".jpg", ".jpeg", ".jfif", ".webp", ".heic", ".heif",
                                                         ".avif")) else {}
        fmt = {".jfif": "JPEG", ".heif": "HEIF"}.get(os.path.splitext(name)[1].lower())
        img.save(folder / name, format=fmt, **opts)
    # special colour modes
    rng = np.random.default_rng(1)
    grey = _small("camera")[:, :, 0]
    Image.fromarray(grey.astype(np.uint16) * 256 + rng.integers(0, 256, grey.shape).astype(np.uint16)).save(folder / "grey16.png")
    import cv2

    rgb16 = _small("coffee").astype(np.uint16) * 257
    cv2.imwrite(str(folder / "rgb16.png"), rgb16[:, :, ::-1])
    Image.fromarray(_small("rocket")).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    pal = Image.fromarray(_small("astronaut")).quantize(64)
    pal.info["transparency"] = 0
    pal.save(folder / "palette_alpha.png", transparency=0)
    Image.fromarray(np.dstack([grey, (grey > 100).astype(np.uint8) * 255])).convert("LA").save(folder / "la.png")
    Image.fromarray(grey).save(folder / "grey.jpg", quality=92)
    Image.fromarray(grey > 128).save(folder / "bilevel.png")
    rgba = np.dstack([_small("chelsea"), np.full(_small("chelsea").shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(folder / "rgba.png")
    Image.fromarray(grey.astype(np.float32) / 255.0).save(folder / "float.tif")
    first = Image.fromarray(_small("chelsea")).quantize(128)
    second = Image.fromarray(_small("astronaut")[:213]).quantize(128)
    first.save(folder / "animated.gif", save_all=True, append_images=[second], duration=100, loop=0)
    # bad files
    (folder / "empty.jpg").write_bytes(b"")
    full = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    png = (folder / "lossless.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                                         + b"\x00\x11" * 400)
    (folder / "corrupt.png").write_bytes(png[:33] + struct.pack(">I", 5000) + b"IDAT" + bytes(range(256)) * 20)
    (folder / "text.jpg").write_text("this is not a picture\n" * 20)
    (folder / "page.png").write_text("<html><body>404 not found</body></html>")
    (folder / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    (folder / "bomb.jpg").write_bytes(_jpeg_with_size(60_000, 60_000))
    os.symlink(folder / "does-not-exist.jpg", folder / "broken link.jpg")
    os.symlink(folder / "loop_b.jpg", folder / "loop_a.jpg")
    os.symlink(folder / "loop_a.jpg", folder / "loop_b.jpg")
    os.mkfifo(folder / "pipe.png")
    return folder


@pytest.fixture(scope="module")
def imported(corpus):
    model = Undouble(verbose=30, dim=DIM)
    handler = _Collect()
    logger = logging.getLogger("undouble")
    logger.addHandler(handler)
    try:
        model.import_data(str(corpus))
    finally:
        logger.removeHandler(handler)
    return model, handler.records


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_good_file_is_imported(imported):
    model, _ = imported
    names = set(model.results["filenames"])
    assert names == set(GOOD_SOURCES) | set(SPECIAL)
    assert model.results["img"].shape == (len(names), DIM[1], DIM[0], 3)


def test_every_bad_file_is_skipped_once_with_a_fitting_reason(imported, corpus):
    model, records = imported
    skipped = model.results["skipped"]
    counts = collections.Counter(os.path.basename(p) for p, _ in skipped)
    assert set(counts) == set(BAD)
    assert all(c == 1 for c in counts.values()), counts
    reasons = {os.path.basename(p): r for p, r in skipped}
    for name, words in BAD.items():
        assert words in reasons[name].lower(), (name, reasons[name])
    logged = collections.Counter(os.path.basename(r.args[0]) for r in records if r.msg.startswith("Skipped"))
    assert logged == counts  # each logged once, with its path


def test_images_match_their_sources(imported, corpus):
    """Colours in RGB order, every format close to the array it was written from."""
    model, _ = imported
    results = model.results
    for name, photo in GOOD_SOURCES.items():
        source = _small(photo)
        decoded = uio.read_image(corpus / name)
        assert (decoded.width, decoded.height) == (source.shape[1], source.shape[0]), name
        got = decoded.pixels.astype(int)
        assert np.abs(got - source).mean() < 4, name
        assert np.abs(got.mean(axis=(0, 1)) - source.mean(axis=(0, 1))).max() < 2, name  # not BGR
        i = results["filenames"].index(name)
        assert _hamming(hash_image(results["img"][i]), hash_image(preprocess(source, DIM))) <= 6, name


def test_special_modes_convert_as_documented(imported, corpus):
    model, _ = imported
    r = model.results

    def row(name):
        return r["img"][r["filenames"].index(name)].astype(int)

    grey = _small("camera")[:, :, 0]
    grey_rgb = np.repeat(grey[:, :, None], 3, axis=2)
    # 16-bit grey keeps the high byte (x >> 8 of x = 256 g + noise < 256 is g)
    assert np.array_equal(row("grey16.png"), preprocess(grey_rgb, DIM))
    assert np.array_equal(row("rgb16.png"), preprocess(_small("coffee"), DIM))
    cmyk = uio.read_image(corpus / "cmyk.jpg").pixels
    assert np.array_equal(cmyk, np.asarray(Image.open(corpus / "cmyk.jpg").convert("RGB")))  # Pillow's conversion
    assert np.abs(cmyk.astype(int) - _small("rocket")).mean() < 4
    pal = np.asarray(Image.open(corpus / "palette_alpha.png").convert("RGB"))
    assert np.array_equal(row("palette_alpha.png"), preprocess(pal, DIM))  # colours under transparency kept
    assert np.array_equal(row("la.png"), preprocess(grey_rgb, DIM))
    assert np.array_equal(row("rgba.png"), preprocess(_small("chelsea"), DIM))
    bilevel = np.repeat(((grey > 128) * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    assert np.array_equal(row("bilevel.png"), preprocess(bilevel, DIM))
    f = np.asarray(Image.open(corpus / "float.tif"), dtype=np.float64)
    scaled = np.clip(np.rint(f * 255.0 / f.max()), 0, 255).astype(np.uint8)
    assert np.array_equal(row("float.tif"), preprocess(np.repeat(scaled[:, :, None], 3, axis=2), DIM))
    first = np.asarray(Image.open(corpus / "animated.gif").convert("RGB"))
    assert np.array_equal(row("animated.gif"), preprocess(first, DIM))
    # resolution is the original size
    assert tuple(r["resolution"][r["filenames"].index("grey16.png")]) == (grey.shape[1], grey.shape[0])


def test_to_rgb_array_modes():
    grey16 = np.array([[0, 255, 256, 65535]], np.uint16)
    out = uio.to_rgb_array(Image.fromarray(grey16))
    assert out.shape == (1, 4, 3) and out[0, :, 0].tolist() == [0, 0, 1, 255]
    i32 = Image.fromarray(np.array([[0, 100, 200]], np.int32))
    assert uio.to_rgb_array(i32)[0, :, 1].tolist() == [0, 100, 200]
    f = Image.fromarray(np.array([[-1.0, 0.5, 1.0, np.nan]], np.float32))
    assert uio.to_rgb_array(f)[0, :, 2].tolist() == [0, 128, 255, 0]
    la = Image.merge("LA", [Image.fromarray(np.array([[10, 20]], np.uint8)),
                            Image.fromarray(np.array([[0, 255]], np.uint8))])
    assert uio.to_rgb_array(la)[0].tolist() == [[10, 10, 10], [20, 20, 20]]


def test_names_with_spaces_and_non_ascii(imported):
    model, _ = imported
    assert "naïve café 写真.jpg" in model.results["filenames"]
    assert "upper case.JPG" in model.results["filenames"]


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------

def test_bombs_are_refused_before_decoding(corpus):
    before = Image.MAX_IMAGE_PIXELS
    for name in ("bomb.png", "bomb.jpg"):
        start = time.perf_counter()
        with pytest.raises(uio.ImageReadError, match="too large"):
            uio.read_image(corpus / name, DIM)
        assert time.perf_counter() - start < 1.0
    assert Image.MAX_IMAGE_PIXELS == before  # Pillow's own limit is given back


def test_max_pixels_is_ours_not_pillows(corpus, tmp_path):
    with pytest.raises(uio.ImageReadError, match="too large"):
        uio.read_image(corpus / "photo.jpg", DIM, max_pixels=1000)
    with pytest.raises(uio.ImageReadError, match="too large"):
        uio.read_image(corpus / "lossless.png", DIM, max_pixels=1000)
    # a large-but-allowed image passes even when Pillow's limit is lower
    Image.new("L", (300, 200)).save(tmp_path / "wide.png")
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 1000
    try:
        assert uio.read_image(tmp_path / "wide.png", DIM, max_pixels=10 ** 6).pixels.shape == (200, 300, 3)
    finally:
        Image.MAX_IMAGE_PIXELS = old


def test_permission_denied_is_reported(corpus, tmp_path, monkeypatch):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((corpus / "photo.jpg").read_bytes())
    other = tmp_path / "fine.png"
    other.write_bytes((corpus / "lossless.png").read_bytes())
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if os.fspath(file) == str(secret):
            raise PermissionError(13, "Permission denied", str(secret))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)  # works as root too
    model = Undouble(verbose=60, dim=DIM)
    model.import_data(str(tmp_path))
    assert model.results["filenames"] == ["fine.png"]
    assert model.results["skipped"] == [(str(secret), "permission denied: Permission denied")]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_for_real(corpus, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes((corpus / "photo.jpg").read_bytes())
    secret.chmod(0)
    try:
        with pytest.raises(uio.ImageReadError, match="permission denied"):
            uio.read_image(secret)
    finally:
        secret.chmod(0o644)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.7, 0.999])
def test_truncated_jpeg_anywhere(corpus, tmp_path, fraction):
    data = (corpus / "photo.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(uio.ImageReadError, match="truncated|corrupt"):
        uio.read_image(path, DIM)


def test_list_images_reports_links(corpus):
    paths, skipped = uio.list_images(corpus)
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert reasons == {"broken link.jpg": "broken symbolic link", "loop_a.jpg": "symbolic link loop",
                       "loop_b.jpg": "symbolic link loop"}
    assert not any(os.path.basename(p) in reasons for p in paths)


def test_a_decoder_crash_is_a_skip_not_a_stop(corpus, tmp_path, monkeypatch):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes((corpus / "lossless.png").read_bytes())
    real = uio.read_image

    def flaky(path, *args, **kwargs):
        if os.path.basename(path) == "a.png":
            raise ZeroDivisionError("decoder bug")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(uio.decode, "read_image", flaky)
    model = Undouble(verbose=60, dim=DIM)
    model.import_data(str(tmp_path))
    assert model.results["filenames"] == ["b.png"]
    assert "unexpected error" in model.results["skipped"][0][1]


# --------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------

_STORE = {  # orientation -> how the upright image is stored so that the tag turns it back
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def test_apply_orientation_is_exif_transpose():
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for o in range(1, 9):
        img = Image.fromarray(arr)
        img.getexif()[0x0112] = o
        expected = np.asarray(ImageOps.exif_transpose(img))
        assert np.array_equal(uio.apply_orientation(arr, o), expected), o


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "heic"])
def test_all_eight_orientations_group_with_the_upright_copy(tmp_path, ext):
    import cv2

    size = (240, 160) if ext == "heic" else (480, 320)  # x265 is slow
    upright = Image.fromarray(cv2.resize(_photo("chelsea"), size, interpolation=cv2.INTER_AREA))
    opts = {"jpg": {"quality": 95}, "png": {}, "webp": {"quality": 95}, "heic": {"quality": 95}}[ext]
    upright.save(tmp_path / f"upright.{ext}", **opts)
    for o, transpose in _STORE.items():
        stored = upright if transpose is None else upright.transpose(transpose)
        exif = Image.Exif()
        exif[0x0112] = o
        stored.save(tmp_path / f"tag{o}.{ext}", exif=exif.tobytes(), **opts)
    Image.fromarray(_small("astronaut", 240)).save(tmp_path / f"other.{ext}", **opts)  # must stay apart
    model = Undouble(verbose=60, dim=DIM)
    model.import_data(str(tmp_path))
    model.compute_hash()
    results = model.group(threshold=4)
    groups = [sorted(os.path.basename(p) for p in g) for g in results["select_pathnames"]]
    assert groups == [sorted([f"upright.{ext}"] + [f"tag{o}.{ext}" for o in range(1, 9)])]
    res = {n: tuple(r) for n, r in zip(results["filenames"], results["resolution"].tolist())}
    assert all(res[f"tag{o}.{ext}"] == size for o in range(1, 9))


def test_opencv_and_pillow_paths_agree_on_orientation(tmp_path):
    import cv2

    upright = Image.fromarray(cv2.resize(_photo("coffee"), (1200, 800), interpolation=cv2.INTER_CUBIC))
    for o, transpose in _STORE.items():
        stored = upright if transpose is None else upright.transpose(transpose)
        exif = Image.Exif()
        exif[0x0112] = o
        stored.save(tmp_path / f"t{o}.jpg", exif=exif.tobytes(), quality=95)
        for dim in (None, (64, 96)):
            a = uio.read_image(tmp_path / f"t{o}.jpg", dim)
            b = uio.read_image(tmp_path / f"t{o}.jpg", dim, backend="pillow")
            assert (a.width, a.height) == (b.width, b.height) == (1200, 800)
            assert a.pixels.shape == b.pixels.shape
            assert np.abs(a.pixels.astype(int) - b.pixels).mean() < 0.5


# --------------------------------------------------------------------------
# Reduced decoding
# --------------------------------------------------------------------------

REDUCED_MEAN_BOUND = 0.5  # bits, phash hash_size 8; the measured mean is in io.py's docstring
REDUCED_MAX_BOUND = 6


def test_reduced_decoding_matches_full_decoding(tmp_path):
    sizes = [(4000, 3000), (2448, 3264), (2048, 1536), (1280, 960)]
    diffs = []
    for k, size in enumerate(sizes):
        path = tmp_path / f"cam{k}.jpg"
        Image.fromarray(_camera_like(k, size)).save(path, quality=90)
        reduced = uio.read_image(path, DIM)
        full = uio.read_image(path, None)
        assert reduced.pixels.shape[0] < full.pixels.shape[0]
        assert 2 * min(reduced.pixels.shape[:2]) >= max(DIM)  # the rule: both axes >= dim / 2
        assert (reduced.width, reduced.height) == (full.width, full.height) == size
        diffs.append(_hamming(hash_image(preprocess(reduced.pixels, DIM)), hash_image(preprocess(full.pixels, DIM))))
    assert np.mean(diffs) <= REDUCED_MEAN_BOUND and max(diffs) <= REDUCED_MAX_BOUND, diffs


def test_reduction_rule():
    """The largest reduction whose (rounded up) result keeps at least half of dim on both axes."""
    assert uio.jpeg.DECODE_RULE == "half-dim"
    assert uio._reduction_for(4000, 3000, (128, 128)) == 8
    assert uio._reduction_for(1280, 960, (128, 128)) == 8    # 160 x 120
    assert uio._reduction_for(1024, 768, (128, 128)) == 8    # 128 x 96
    assert uio._reduction_for(1017, 505, (128, 128)) == 8    # 128 x 64 (rounded up)
    assert uio._reduction_for(1017, 504, (128, 128)) == 4    # 1/8 would be 128 x 63
    assert uio._reduction_for(640, 480, (128, 128)) == 4     # 160 x 120; 1/8 would be 80 x 60
    assert uio._reduction_for(255, 255, (128, 128)) == 4     # 64 x 64
    assert uio._reduction_for(127, 127, (128, 128)) == 2     # 64 x 64
    assert uio._reduction_for(100, 100, (128, 128)) == 1     # 1/2 would be 50 x 50
    assert uio._reduction_for(1024, 768, (64, 256)) == 4     # the height needs 128: 256 x 192
    assert uio._reduction_for(4000, 3000, (600, 600)) == 8   # 500 x 375
    assert uio._reduction_for(4000, 3000, (1200, 1200)) == 4
    assert uio._reduction_for(4000, 3000, None) == 1


@pytest.mark.parametrize("rule, size, dim, want", [
    ("dim", (1024, 768), (128, 128), 4),        # the old rule: both axes >= dim, short side >= 128
    ("dim", (2048, 1536), (128, 128), 8),
    ("dim", (500, 400), (128, 128), 2),
    ("long-half", (640, 480), (128, 128), 8),   # 80 x 60: the long side 80 >= 64
    ("long-half", (505, 100), (128, 128), 8),   # 64 x 13
    ("long-half", (504, 100), (128, 128), 4),   # 1/8 would be 63 x 13
])
def test_the_other_reduction_rules(monkeypatch, rule, size, dim, want):
    """The rules the benchmark compares (bench_decode_rule.py), each against its definition."""
    monkeypatch.setattr(uio.jpeg, "DECODE_RULE", rule)
    assert uio._reduction_for(*size, dim) == want


def test_canonical_size_is_the_jpeg_decoding_size_at_dim_128(tmp_path):
    """A JPEG decoded at the default dim needs no resize for its sharpness."""
    from undouble.io.measure import reduced_size

    for k, size in enumerate([(1024, 768), (640, 480), (300, 200), (100, 90), (2448, 3264)]):
        path = tmp_path / f"c{k}.jpg"
        Image.fromarray(_camera_like(k, size)).save(path, quality=90)
        h, w = uio.read_image(path, (128, 128)).pixels.shape[:2]
        assert reduced_size(*size) == (w, h)
    assert reduced_size(640, 480) == (160, 120)


# --------------------------------------------------------------------------
# Where images are kept
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    from undouble.examples import make_synthetic_set

    folder = tmp_path_factory.mktemp("small")
    make_synthetic_set(folder, n_originals=24, n_with_duplicates=6, seed=5)
    return folder


def test_keep_images_modes_give_the_same_results(small_set):
    ref = Undouble(verbose=60, keep_images=True)
    ref.import_data(str(small_set))
    ref.compute_hash()
    assert ref.results["img_storage"] == "memory" and isinstance(ref.results["img"], np.ndarray)
    for keep, storage in (("disk", "disk"), (False, "none"), ("auto", "none")):
        limit = 1000 if keep == "auto" else uio.DEFAULT_IMAGE_MEMORY_LIMIT
        model = Undouble(verbose=60, keep_images=keep, image_memory_limit=limit)
        model.import_data(str(small_set))
        assert model.results["img_storage"] == storage
        if storage == "disk":
            assert isinstance(model.results["img"], np.memmap)
        model.compute_hash()
        assert np.array_equal(model.results["img_hash"], ref.results["img_hash"])
        for i in (0, 7, len(ref.results["pathnames"]) - 1):
            expected = ref.results["img"][i]
            assert np.array_equal(uio.load_preprocessed(model, i), expected)
            assert np.array_equal(uio.load_preprocessed(model.results, i), expected)
            assert np.array_equal(np.asarray(model.results["img"][i]), expected)
        # another method afterwards: from the kept images, or by decoding again
        model.compute_hash(method="dhash")
        ref_d = Undouble(verbose=60, method="dhash")
        ref_d.import_data(str(small_set))
        ref_d.compute_hash()
        assert np.array_equal(model.results["img_hash"], ref_d.results["img_hash"])


def test_robust_mode_keeps_images_past_the_limit_on_disk(small_set):
    plain = Undouble(verbose=60, image_memory_limit=1000)
    plain.import_data(str(small_set))
    robust = Undouble(verbose=60, image_memory_limit=1000, robust=True)
    robust.import_data(str(small_set))
    assert plain.results["img_storage"] == "none" and robust.results["img_storage"] == "disk"
    assert isinstance(robust.results["img"], np.memmap)
    assert np.array_equal(np.asarray(robust.results["img"][3]), uio.load_preprocessed(plain, 3))


def test_load_preprocessed_without_images_decodes_the_file(small_set):
    model = Undouble(verbose=60, keep_images=False)
    model.import_data(str(small_set))
    results = dict(model.results)
    results["img"] = None
    expected = uio.load_file(results["pathnames"][3], DIM)[0]
    assert np.array_equal(uio.load_preprocessed(results, 3), expected)


def test_choose_storage_rule(tmp_path):
    assert uio.choose_storage("auto", 10, 100, memory_limit=10_000) == "memory"
    assert uio.choose_storage("auto", 100, 100, memory_limit=10_000, folder=str(tmp_path)) == "memory"
    assert uio.choose_storage("auto", 101, 100, memory_limit=10_000, folder=str(tmp_path)) == "none"
    assert os.listdir(tmp_path) == []  # above the limit nothing is written
    # robust mode's choice above the limit: the memory-mapped file
    assert uio.choose_storage("auto", 101, 100, memory_limit=10_000, folder=str(tmp_path), above_limit="disk") == "disk"
    assert uio.choose_storage("auto", 100, 100, memory_limit=10_000, folder=str(tmp_path), above_limit="disk") == "memory"
    assert uio.choose_storage(True, 10 ** 9, 100) == "memory"
    assert uio.choose_storage(False, 1, 1) == "none"
    assert uio.choose_storage("disk", 1, 1) == "disk"
    with pytest.raises(ValueError, match="keep_images"):
        uio.choose_storage("somewhere", 1, 1)


def test_populated_empty_is_a_writable_array_of_the_shape():
    import mmap

    small = uio.populated_empty((3, 4), np.uint8)
    assert small.shape == (3, 4) and small.dtype == np.uint8 and small.flags.writeable
    big = uio.populated_empty((5, 1024, 1024, 4), np.float32)  # 80 MiB: mapped at once where possible
    assert big.shape == (5, 1024, 1024, 4) and big.dtype == np.float32 and big.flags.writeable
    big[4, 1023, 1023, 3] = 7.5
    big[0] = 1.0
    assert big[4, 1023, 1023, 3] == 7.5 and float(big[0].sum()) == 1024 * 1024 * 4
    if hasattr(mmap, "MAP_POPULATE"):
        base = big
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert isinstance(getattr(base, "obj", base), mmap.mmap)  # NumPy holds the mapping through a memoryview


def test_disk_store_removes_its_file(tmp_path):
    arr = uio.disk_array((4, 8, 8, 3), str(tmp_path))
    arr[:] = 7
    assert int(arr.sum()) == 4 * 8 * 8 * 3 * 7
    if os.name == "posix":
        assert os.listdir(tmp_path) == []  # unlinked at once, data kept by the mapping


def test_map_threads_keeps_order_and_bounds_the_queue():
    lock = threading.Lock()
    state = {"started": 0, "yielded": 0, "ahead": 0}

    def work(x):
        with lock:
            state["started"] += 1
            state["ahead"] = max(state["ahead"], state["started"] - state["yielded"])
        time.sleep(0.0005)
        return x * 2

    out = []
    for value in uio.map_threads(work, list(range(400)), n_jobs=2, window=8):
        out.append(value)
        with lock:
            state["yielded"] += 1
    assert out == [2 * x for x in range(400)]
    assert state["ahead"] <= 8 + 1
    # in batches: the same order, every item once, at most the window (in whole batches) ahead
    state.update(started=0, yielded=0, ahead=0)
    out = []
    for value in uio.map_threads(work, list(range(403)), n_jobs=2, window=12, batch=5):
        out.append(value)
        with lock:
            state["yielded"] += 1
    assert out == [2 * x for x in range(403)]
    assert state["ahead"] <= 4 * 5 + 5  # two batches per thread pending, and the one being yielded


def test_ingest_hashes_in_chunks_like_one_call(small_set):
    from undouble.hashes import compute_hashes

    paths, _ = uio.list_images(small_set)
    fn = lambda stack: compute_hashes(stack, "phash", 8)  # noqa: E731
    got = uio.ingest(paths, DIM, hash_fn=fn, chunk=5, n_jobs=2, keep_images=True)
    whole = compute_hashes(got.images, "phash", 8)
    assert np.array_equal(got.hashes.packed, whole.packed)
    crop = uio.ingest(paths[:12], DIM, hash_fn=lambda s: compute_hashes(s, "crop-resistant", 8), chunk=5,
                      keep_images=True)
    assert np.array_equal(crop.hashes.counts, compute_hashes(crop.images, "crop-resistant", 8).counts)


def test_ingest_measures_each_decoded_image_on_the_canonical_scale(small_set):
    import cv2

    from undouble.io.measure import SHARPNESS_SIDE

    paths, _ = uio.list_images(small_set)
    got = uio.ingest(paths, DIM, n_jobs=2, keep_images=False)
    n = len(got.paths)
    assert got.sharpness.shape == got.sharpness_pixels.shape == got.is_grey.shape == (n,)
    assert got.blur is got.sharpness
    for k, path in enumerate(got.paths):
        decoded = uio.read_image(path, DIM)
        w, h = decoded.width, decoded.height
        # reference: plain OpenCV on the decoded pixels, at the original's size reduced by the
        # largest power of two that keeps both sides >= SHARPNESS_SIDE / 2 (rounded up)
        s = next((s for s in (8, 4, 2) if 2 * -(-min(w, h) // s) >= SHARPNESS_SIDE), 1)
        img = cv2.cvtColor(decoded.pixels, cv2.COLOR_RGB2GRAY)
        if img.shape[:2] != (-(-h // s), -(-w // s)):
            img = cv2.resize(img, (-(-w // s), -(-h // s)), interpolation=cv2.INTER_AREA)
        grey = img
        # the area kernel gives OpenCV's INTER_AREA means up to float rounding: a level where a
        # mean ends in .5, which a 2x reduction makes common (measured up to 1 % of the variance on
        # these 160 x 120 PNGs); another scale would change it by far more
        assert got.sharpness[k] == pytest.approx(cv2.Laplacian(grey, cv2.CV_64F).var(), rel=0.02)
        assert got.sharpness_pixels[k] == grey.size
    off = uio.ingest(paths, DIM, n_jobs=2, keep_images=False, measure_blur=False)
    assert np.isnan(off.sharpness).all() and (off.sharpness_pixels == 0).all() and off.thumbs is None


def test_is_grey_tells_a_grey_copy_from_its_colour_original(tmp_path):
    from undouble.io.measure import measure_decoded

    rgb = _camera_like(3, (400, 300))
    grey = np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "colour.jpg", quality=85)
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=85)  # stored as a 3-channel JPEG
    got = uio.ingest([str(tmp_path / "colour.jpg"), str(tmp_path / "grey.jpg")], DIM, n_jobs=1, keep_images=False)
    assert got.is_grey.tolist() == [False, True]
    assert measure_decoded(grey).is_grey and not measure_decoded(rgb).is_grey
    tinted = grey.copy()
    tinted[:40, :40, 0] = 255  # a red patch: 1.3 % of the pixels are colour
    assert not measure_decoded(tinted).is_grey


@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 3), (40, 30, 4), (40, 30, 1), (7,), (40, 30, 3, 2)])
def test_scale_to_255_table_is_the_float_formula(shape):
    from undouble.preprocess import scale_to_255

    x = np.random.default_rng(3).integers(0, 180, shape, dtype=np.uint8)
    expected = np.clip(np.rint(x.astype(np.float64) * (255.0 / float(x.max()))), 0, 255).astype(np.uint8)
    out = scale_to_255(x)
    assert out.shape == x.shape and np.array_equal(out, expected)


def _with_chunk(png: bytes, kind: bytes, payload: bytes) -> bytes:
    """``png`` with one more chunk right after IHDR."""
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return png[:33] + chunk + png[33:]


def test_png_through_opencv_gives_pillows_pixels(tmp_path, monkeypatch):
    import cv2

    rgb = _small("coffee")
    rng = np.random.default_rng(4)
    grey = rgb[:, :, 1]
    alpha = rng.integers(0, 256, grey.shape, dtype=np.uint8)
    files = {}

    def save(name, image, **kw):
        path = tmp_path / name
        image.save(path, **kw)
        files[name] = path

    save("rgb.png", Image.fromarray(rgb))
    save("rgba.png", Image.fromarray(np.dstack([rgb, alpha])))
    save("l.png", Image.fromarray(grey))
    save("la.png", Image.fromarray(np.dstack([grey, alpha])).convert("LA"))
    save("p.png", Image.fromarray(rgb).quantize(200))
    save("p_trns.png", Image.fromarray(rgb).quantize(200), transparency=3)
    save("l_trns.png", Image.fromarray(grey), transparency=17)
    save("rgb_trns.png", Image.fromarray(rgb), transparency=(10, 20, 30))
    save("p4.png", Image.fromarray(rgb).quantize(16), bits=4)
    save("bilevel.png", Image.fromarray(grey > 120))
    save("i16.png", Image.fromarray(grey.astype(np.uint16) * 257 + 3))
    for name, image in {"rgb16.png": rgb.astype(np.uint16) * 257 + 100,
                        "rgba16.png": np.dstack([rgb, alpha]).astype(np.uint16) * 257}.items():
        cv2.imwrite(str(tmp_path / name), np.ascontiguousarray(image[:, :, [2, 1, 0] + ([3] if image.shape[2] == 4 else [])]))
        files[name] = tmp_path / name
    plain = (tmp_path / "rgb.png").read_bytes()
    (tmp_path / "gamma.png").write_bytes(_with_chunk(plain, b"gAMA", struct.pack(">I", 100000)))
    files["gamma.png"] = tmp_path / "gamma.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif6.png", Image.fromarray(rgb), exif=exif.tobytes())

    pillow_calls = []
    real = uio._decode_pillow
    monkeypatch.setattr(uio.decode, "_decode_pillow", lambda *a, **k: pillow_calls.append(1) or real(*a, **k))
    by_pillow = {"p4.png", "bilevel.png", "exif6.png"}  # low bit depths and EXIF stay with Pillow
    for name, path in files.items():
        pillow_calls.clear()
        auto = uio.read_image(path, DIM)
        assert bool(pillow_calls) == (name in by_pillow), name
        reference = uio.read_image(path, DIM, backend="pillow")
        assert auto.pixels.dtype == np.uint8 and auto.pixels.shape == reference.pixels.shape, name
        assert np.array_equal(auto.pixels, reference.pixels), name
        assert (auto.width, auto.height) == (reference.width, reference.height), name
    assert uio.read_image(files["exif6.png"], DIM).pixels.shape[:2] == rgb.shape[1::-1]  # rotated


def test_png_chunk_walk():
    png = _png_header_only(300, 200)
    info = uio.png_info(png)
    assert (info.width, info.height, info.complete, info.has_exif) == (300, 200, True, False)
    assert uio.png_info(png[:-12]).complete is False  # no IEND
    assert uio.png_info(png[:-4]).complete is False  # IEND cut
    assert uio.png_info(_with_chunk(png, b"eXIf", b"MM\x00*")).has_exif
    assert uio.png_info(b"GIF89a" + png[6:]) is None


def test_damaged_png_with_an_end_chunk_is_still_refused(tmp_path):
    import io as _bytes_io

    buf = _bytes_io.BytesIO()
    Image.fromarray(_small("coffee")).save(buf, format="PNG")
    png = buf.getvalue()
    info = uio.png_info(png)
    assert info.complete and not info.has_exif

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    at, idat = 8, b""
    while at < len(png):
        length = struct.unpack_from(">I", png, at)[0]
        if png[at + 4:at + 8] == b"IDAT":
            idat += png[at + 8:at + 8 + length]
        at += 12 + length
    head = png[:33]  # signature + IHDR
    zeroed = bytearray(idat)
    zeroed[len(idat) // 2:len(idat) // 2 + 64] = bytes(64)
    cases = {"short.png": (head + chunk(b"IDAT", idat[:len(idat) // 2]) + chunk(b"IEND", b""), "truncated"),
             "garbled.png": (head + chunk(b"IDAT", bytes(zeroed)) + chunk(b"IEND", b""), "corrupt")}
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(uio.ImageReadError, match=reason):
            uio.read_image(tmp_path / name, DIM)


@pytest.mark.parametrize("raw_limit", [uio._RAW_BYTES_LIMIT, 1])
def test_decoding_ahead_of_slow_kernels_gives_the_same_rows(corpus, monkeypatch, raw_limit):
    """While the kernels load, workers hand back decoded pixels; rows and skips keep the input order."""
    from undouble.hashes import compute_hashes

    paths = sorted(os.path.join(corpus, name) for name in os.listdir(corpus))
    hash_fn = lambda stack: compute_hashes(stack, "phash", 8)  # noqa: E731
    reference = uio.ingest(paths, DIM, hash_fn=hash_fn, n_jobs=2, keep_images=True)
    real = uio._load_kernels
    finished_raw = []

    def slow(*args, **kwargs):
        thread, ready = real(*args, **kwargs)
        late = threading.Event()

        def release():
            thread.join()
            time.sleep(0.4)  # every worker is done decoding by now
            late.set()

        threading.Thread(target=release, daemon=True).start()
        return thread, late

    monkeypatch.setattr(uio.pipeline, "_load_kernels", slow)
    monkeypatch.setattr(uio.pipeline, "_RAW_BYTES_LIMIT", raw_limit)
    original_finish = uio.finish_decoded
    monkeypatch.setattr(uio.pipeline, "finish_decoded", lambda *a, **k: finished_raw.append(
        threading.current_thread() is threading.main_thread()) or original_finish(*a, **k))
    got = uio.ingest(paths, DIM, hash_fn=hash_fn, n_jobs=2, keep_images=True)
    assert 0 < sum(finished_raw) <= len(got.paths)  # some rows were decoded ahead and finished by the caller
    assert got.paths == reference.paths and got.skipped == reference.skipped
    assert np.array_equal(got.images, reference.images)
    assert np.array_equal(got.hashes.packed, reference.hashes.packed)
    assert np.array_equal(got.blur, reference.blur) and np.array_equal(got.resolution, reference.resolution)
