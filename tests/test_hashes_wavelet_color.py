"""whash (haar, db4) and colorhash: bit-identical to ImageHash 4.3.2 / PyWavelets / Pillow.

Oracles: ``imagehash.whash`` / ``imagehash.colorhash`` on ``PIL.Image.fromarray(img)``
for the hashes, PyWavelets for every wavelet primitive, Pillow ``convert('HSV')``
for the HSV kernel, and a plain numpy version of the colorhash masks and bins.
Every comparison is exact (``==`` on hex strings, ``np.array_equal`` on arrays).
"""
from __future__ import annotations

import warnings

import imagehash
import numpy as np
import pytest
import pywt
from hypothesis import given, settings, strategies as st
from PIL import Image

from imagesets import degenerate_images, photo_variants, real_photos
from undouble.hashes.color import colorhash_batch
from undouble.hashes.wavelet import filters, whash_db4_batch, whash_haar_batch
from undouble._kernels import colorhash as ck
from undouble._kernels import wavelet as wk
from undouble._kernels.color import rgb_to_hsv
from undouble._kernels.median import median_of
from undouble.hashes import compute_hashes, hash_image

# PyWavelets warns when a db4 level is deeper than its "useful" maximum; ImageHash
# runs those levels anyway, so do we.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MODES = ("haar", "db4")


def ref_whash(img: np.ndarray, mode: str, hash_size: int, **kw) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(imagehash.whash(Image.fromarray(img), hash_size=hash_size, mode=mode, **kw))


def ref_colorhash(img: np.ndarray, binbits: int) -> str:
    return str(imagehash.colorhash(Image.fromarray(img), binbits=binbits))


def ours_whash(img: np.ndarray, mode: str, hash_size: int, **kw) -> str:
    return hash_image(img, f"whash-{mode}", hash_size, **kw)


def check_whash(img: np.ndarray, mode: str, hash_size: int, **kw) -> None:
    ref = ref_whash(img, mode, hash_size, **kw)
    ours = ours_whash(img, mode, hash_size, **kw)
    assert ours == ref, (img.shape, mode, hash_size, kw)


def check_colorhash(img: np.ndarray, binbits: int) -> None:
    ours = hash_image(img, "colorhash", binbits=binbits)
    assert ours == ref_colorhash(img, binbits), (img.shape, binbits)


# --------------------------------------------------------------------------
# Wavelet primitives against PyWavelets
# --------------------------------------------------------------------------

PRIMITIVE_SHAPES = [(1, 1), (1, 9), (2, 2), (3, 5), (7, 4), (8, 8), (9, 13), (16, 16), (21, 34), (64, 35)]


def _test_array(rng: np.random.Generator, shape: tuple[int, int], kind: int) -> np.ndarray:
    if kind == 0:  # pixel-like values (the hash's input)
        return rng.integers(0, 256, shape) / 255.0
    if kind == 1:  # few levels: many exact ties
        return rng.integers(0, 3, shape) / 255.0
    return rng.standard_normal(shape)


@pytest.mark.parametrize("wavelet", MODES)
def test_filters_are_pywavelets(wavelet):
    ours = filters(wavelet)
    w = pywt.Wavelet(wavelet)
    for a, b in zip(ours, (w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi)):
        assert np.array_equal(a, np.asarray(b))


@pytest.mark.parametrize("wavelet", MODES)
def test_dwt_1d_matches_pywt(wavelet):
    dec_lo, dec_hi, _, _ = filters(wavelet)
    rng = np.random.default_rng(1)
    for n in range(1, 40):
        for kind in range(3):
            x = _test_array(rng, (1, n), kind)
            ref_a, ref_d = pywt.dwt(x[0], wavelet)
            assert np.array_equal(wk.dwt_axis(x, dec_lo, 1)[0], ref_a), n
            assert np.array_equal(wk.dwt_axis(x, dec_hi, 1)[0], ref_d), n
            col = np.ascontiguousarray(x.T)
            assert np.array_equal(wk.dwt_axis(col, dec_lo, 0)[:, 0], ref_a), n


@pytest.mark.parametrize("wavelet", MODES)
def test_dwt2_matches_pywt(wavelet):
    dec_lo, dec_hi, _, _ = filters(wavelet)
    rng = np.random.default_rng(2)
    for shape in PRIMITIVE_SHAPES:
        for kind in range(3):
            x = _test_array(rng, shape, kind)
            ref_a, (ref_h, ref_v, ref_d) = pywt.dwt2(x, wavelet)
            aa, da, ad, dd = wk.dwt2(x, dec_lo, dec_hi)
            for ours, ref in ((aa, ref_a), (da, ref_h), (ad, ref_v), (dd, ref_d)):
                assert ours.shape == ref.shape and np.array_equal(ours, ref), (shape, kind)


def test_haar_single_level_inverse_matches_pywt():
    rng = np.random.default_rng(3)
    for h in (1, 2, 4, 16):
        for kind in range(3):
            aa, da, ad, dd = (_test_array(rng, (h, h), kind) for _ in range(4))
            ref = pywt.idwt2((aa, (da, ad, dd)), "haar")
            packed = _packed_reference([aa, (da, ad, dd)])
            dst = np.empty((2 * h, 2 * h))
            wk.haar_inverse_level(aa, h, packed, dst)
            assert np.array_equal(dst, ref), (h, kind)
            assert np.array_equal(wk.haar_waverec2_packed(packed, 1), ref), (h, kind)


def test_haar_single_level_forward_matches_pywt():
    rng = np.random.default_rng(31)
    for side in (2, 4, 16):
        for kind in range(3):
            x = _test_array(rng, (side, side), kind)
            h = side // 2
            approx = np.empty((h, h))
            coeffs = np.zeros((side, side))
            wk.haar_forward_level(x, side, approx, coeffs)
            coeffs[:h, :h] = approx
            assert np.array_equal(coeffs, _packed_reference(pywt.wavedec2(x, "haar", level=1)))


@pytest.mark.parametrize("wavelet", MODES)
def test_wavedec2_approximation_matches_pywt(wavelet):
    dec_lo = filters(wavelet)[0]
    rng = np.random.default_rng(4)
    for shape in [(8, 8), (16, 16), (33, 20), (64, 64), (128, 128)]:
        for levels in range(0, 6):
            for kind in range(3):
                x = _test_array(rng, shape, kind)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = pywt.wavedec2(x, wavelet, level=levels)[0]
                ours = wk.wavedec2_ll(x, dec_lo, levels)
                assert ours.shape == ref.shape and np.array_equal(ours, ref), (shape, levels, kind)
                if wavelet == "haar" and shape[0] == shape[1] and shape[0] % (1 << levels) == 0:
                    fused = wk.haar_wavedec2_ll(x, levels)
                    assert fused.shape == ref.shape and np.array_equal(fused, ref), (shape, levels, kind)


def _packed_reference(coeffs: list) -> np.ndarray:
    """PyWavelets' wavedec2 output in the Mallat layout of ``haar_wavedec2_packed``."""
    out = np.zeros((coeffs[-1][0].shape[0] * 2,) * 2)
    h = coeffs[0].shape[0]
    out[:h, :h] = coeffs[0]
    for cH, cV, cD in coeffs[1:]:
        h = cH.shape[0]
        out[:h, h:2 * h] = cV  # 'ad'
        out[h:2 * h, :h] = cH  # 'da'
        out[h:2 * h, h:2 * h] = cD  # 'dd'
    return out


def test_haar_multilevel_matches_pywt():
    rng = np.random.default_rng(5)
    for side in (2, 4, 8, 32, 128):
        max_level = side.bit_length() - 1
        for levels in range(1, max_level + 1):
            for kind in range(3):
                x = _test_array(rng, (side, side), kind)
                coeffs = pywt.wavedec2(x, "haar", level=levels)
                packed = wk.haar_wavedec2_packed(x, levels)
                assert np.array_equal(packed, _packed_reference(coeffs)), (side, levels, kind)
                assert np.array_equal(wk.haar_waverec2_packed(packed, levels), pywt.waverec2(coeffs, "haar"))
                coeffs[0] = coeffs[0] * 0
                removed = pywt.waverec2(coeffs, "haar")
                assert np.array_equal(wk.remove_haar_ll(x, levels), removed), (side, levels, kind)
    # level 0 (hash_size 1 at image_scale 1): nothing to transform, the approximation is the image
    x = rng.random((1, 1))
    assert np.array_equal(wk.haar_wavedec2_packed(x, 0), x)
    assert np.array_equal(wk.remove_haar_ll(x, 0), np.zeros((1, 1)))


def test_median_matches_numpy():
    rng = np.random.default_rng(6)
    for shape in [(1, 1), (2, 2), (3, 3), (7, 7), (8, 8), (14, 14)]:
        for kind in range(3):
            x = _test_array(rng, shape, kind)
            assert median_of(x.ravel()) == np.median(x)
    x = np.array([[0.1, 0.2], [0.1 + 2 ** -55, 0.3]])
    assert median_of(x.ravel()) == np.median(x)


# --------------------------------------------------------------------------
# HSV and the colorhash kernel
# --------------------------------------------------------------------------

def test_hsv_all_colours_match_pillow():
    v = np.arange(1 << 24, dtype=np.uint32).reshape(4096, 4096)
    rgb = np.empty((4096, 4096, 3), dtype=np.uint8)
    rgb[..., 0] = v >> 16
    rgb[..., 1] = (v >> 8) & 255
    rgb[..., 2] = v & 255
    ref = np.asarray(Image.fromarray(rgb).convert("HSV"))
    ours = rgb_to_hsv(rgb)
    mismatches = int(np.count_nonzero((ours != ref).any(axis=2)))
    assert mismatches == 0


def test_hue_bins_match_numpy_histogram():
    edges = np.linspace(0, 255, 7)
    for h in range(256):
        counts, _ = np.histogram(np.array([h], dtype=np.uint8), bins=edges)
        assert ck.hue_bin(h) == int(np.argmax(counts)), h


def numpy_colorhash(img: np.ndarray, binbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy colorhash from Pillow's L and HSV: ``(counts, bits)``."""
    pil = Image.fromarray(img)
    lum = np.asarray(pil.convert("L")).ravel().astype(np.int64)
    hsv = np.asarray(pil.convert("HSV")).reshape(-1, 3).astype(np.int64)
    hue, sat = hsv[:, 0], hsv[:, 1]
    black = lum < 32
    grey = ~black & (sat < 85)
    colour = ~black & (sat >= 85)
    faint = colour & (sat < 170)
    bright = colour & (sat > 170)
    bins = [(0, 42), (43, 84), (85, 127), (128, 169), (170, 212), (213, 255)]
    faint_counts = [int(np.sum(faint & (hue >= lo) & (hue <= hi))) for lo, hi in bins]
    bright_counts = [int(np.sum(bright & (hue >= lo) & (hue <= hi))) for lo, hi in bins]
    counts = np.array([black.sum(), grey.sum(), colour.sum(), *faint_counts, *bright_counts], dtype=np.int64)
    m = 2 ** binbits
    n = lum.size
    c = max(1, int(colour.sum()))
    values = [min(m - 1, (int(black.sum()) * m) // n), min(m - 1, (int(grey.sum()) * m) // n)]
    values += [min(m - 1, (k * m) // c) for k in faint_counts + bright_counts]
    bits = [((v >> (binbits - 1 - i)) % (2 ** (binbits - i))) != 0 for v in values for i in range(binbits)]
    return counts, np.array(bits, dtype=bool)


def _colour_test_images() -> list[np.ndarray]:
    rng = np.random.default_rng(8)
    imgs = [img for img in degenerate_images().values()]
    imgs += photo_variants(np.random.default_rng(9), 12)
    # a colour cube (every 4th level per channel): all hue bins, S = 85 and 170, L = 31 / 32
    levels = np.arange(0, 256, 4, dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(512, 512, 3)
    imgs.append(np.ascontiguousarray(cube))
    imgs.append(rng.integers(0, 256, (33, 17, 3), dtype=np.uint8))
    return imgs


def test_colorhash_kernel_matches_numpy_reference():
    for img in _colour_test_images():
        stack = img[None, :, :, None] if img.ndim == 2 else img[None]
        counts = ck.colorhash_counts(np.ascontiguousarray(stack[0]))
        for binbits in (1, 2, 3, 5, 8):
            ref_counts, ref_bits = numpy_colorhash(img, binbits)
            assert np.array_equal(counts, ref_counts), img.shape
            bits = np.zeros(14 * binbits, dtype=np.bool_)
            ck.colorhash_bits(counts, img.shape[0] * img.shape[1], binbits, bits)
            assert np.array_equal(bits, ref_bits), (img.shape, binbits)


def _fast_counts(img: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(img[:, :, None] if img.ndim == 2 else img)
    classes = np.zeros(arr.shape[0] * arr.shape[1], dtype=np.uint16)
    counts = np.zeros(ck.N_COUNTS, dtype=np.int64)
    ck.pixel_classes(arr, classes, np.zeros((3, classes.shape[0]), dtype=np.uint8))
    ck.class_counts(classes, classes.shape[0], counts)
    return counts


def test_pixel_classes_match_per_pixel_kernel():
    """The branch-free classification (batch kernel) against ``colorhash_counts``: photos, grey, RGBA."""
    rng = np.random.default_rng(12)
    for img in _colour_test_images():
        arr = img[:, :, None] if img.ndim == 2 else img
        assert np.array_equal(_fast_counts(img), ck.colorhash_counts(np.ascontiguousarray(arr))), img.shape
        if img.ndim == 3:
            rgb = np.ascontiguousarray(img[:, :, :3])
            rgba = np.concatenate([rgb, rng.integers(0, 256, img.shape[:2] + (1,), dtype=np.uint8)], axis=2)
            assert np.array_equal(_fast_counts(rgba), ck.colorhash_counts(rgb))
    for odd in (np.zeros((1, 1, 3), np.uint8), np.full((1, 7), 200, np.uint8), np.full((3, 1, 3), 255, np.uint8)):
        arr = odd[:, :, None] if odd.ndim == 2 else odd
        assert np.array_equal(_fast_counts(odd), ck.colorhash_counts(np.ascontiguousarray(arr)))


def test_pixel_classes_all_colours():
    """Every 24-bit colour once: each pixel's class and the counts equal the plain numpy/Pillow ones.

    The batch kernel classifies by thresholds on float32 quotients
    (``colorhash._classify``); this checks every colour it can see against
    Pillow's own L and HSV, pixel by pixel.
    """
    v = np.arange(1 << 24, dtype=np.uint32).reshape(4096, 4096)
    rgb = np.empty((4096, 4096, 3), dtype=np.uint8)
    rgb[..., 0] = v >> 16
    rgb[..., 1] = (v >> 8) & 255
    rgb[..., 2] = v & 255
    pil = Image.fromarray(rgb)
    lum = np.asarray(pil.convert("L")).ravel()
    hsv = np.asarray(pil.convert("HSV")).reshape(-1, 3)
    hue, sat = hsv[:, 0].astype(np.int32), hsv[:, 1]
    hue_bin = np.minimum(5, hue * 6 // 255)
    expected = np.select([lum < 32, sat < 85, sat < 170, sat == 170], [0, 1, 3 + hue_bin, 2], 9 + hue_bin)
    classes = np.zeros(rgb.shape[0] * rgb.shape[1], dtype=np.uint16)
    ck.pixel_classes(rgb, classes, np.zeros((3, classes.shape[0]), dtype=np.uint8))
    wrong = np.flatnonzero(classes != expected)
    assert wrong.size == 0, [(tuple(rgb.reshape(-1, 3)[i]), int(classes[i]), int(expected[i])) for i in wrong[:5]]
    ref_counts, _ = numpy_colorhash(rgb, 3)
    assert np.array_equal(_fast_counts(rgb), ref_counts)


def _pillow_saturation(cr: np.ndarray, mx: np.ndarray) -> np.ndarray:
    """Pillow's S from ``cr = max - min`` and ``max`` (float32 quotient, float64 scaling)."""
    q = cr.astype(np.float32) / np.maximum(mx, 1).astype(np.float32)
    return np.clip((q.astype(np.float64) * 255.0).astype(np.int64), 0, 255)


def _pillow_hue_bin(h: np.ndarray) -> np.ndarray:
    """Histogram bin of Pillow's hue from its float32 sector value ``h`` (``-1 <= h <= 5``)."""
    wrapped = h.astype(np.float64) / 6.0 + 1.0
    wrapped = np.where(wrapped >= 1.0, wrapped - 1.0, wrapped)
    hue = np.clip((wrapped.astype(np.float32).astype(np.float64) * 255.0).astype(np.int64), 0, 255)
    return np.minimum(5, hue * 6 // 255)


def test_colour_rules_match_pillow_formulas():
    """The integer rules of ``colorhash._classify`` on every input they can see.

    Black from the split weights (``hi + (lo >> 8) < 8064``) against Pillow's L
    on every colour; saturation levels from ``3 cr >= mx``, ``3 cr >= 2 mx``, ``85 cr >= 57 mx``
    against Pillow's float32 quotient; hue bins from ``85 n >= cr`` and
    ``n == cr`` against Pillow's ``h = k +- n / cr`` for each sector.
    (``test_pixel_classes_all_colours`` checks the kernel itself on every
    colour against Pillow.)
    """
    v = np.arange(1 << 24, dtype=np.int64)
    r, g, b = v >> 16, (v >> 8) & 255, v & 255
    lum = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16  # Pillow's L
    hi, lo = 76 * r + 150 * g + 29 * b, 139 * r + 70 * g + 47 * b
    assert hi.max() < 1 << 16 and lo.max() < 1 << 16
    assert np.array_equal(lum < 32, hi + (lo >> 8) < 8064)
    del v, r, g, b, lum, hi, lo

    mx, cr = (a.ravel() for a in np.meshgrid(np.arange(0, 256), np.arange(0, 256), indexing="ij"))
    keep = cr <= mx
    mx, cr = mx[keep], cr[keep]
    sat = _pillow_saturation(cr, mx)
    assert np.array_equal(sat >= 85, 3 * cr >= np.maximum(mx, 1))
    assert np.array_equal(sat >= 170, 3 * cr >= 2 * np.maximum(mx, 1))
    assert np.array_equal(sat >= 171, 85 * cr >= 57 * np.maximum(mx, 1))

    cr, n = (a.ravel() for a in np.meshgrid(np.arange(1, 256), np.arange(0, 256), indexing="ij"))
    keep = n <= cr
    cr, n = cr[keep], n[keep]
    d = n.astype(np.float32) / cr.astype(np.float32)
    one, three, five = np.float32(1), np.float32(3), np.float32(5)
    ramp = (85 * n >= cr).astype(np.int64) + (n == cr)
    sectors = {"1 - d": (one - d, np.zeros_like(ramp)), "3 - d": (three - d, np.full_like(ramp, 2)),
               "5 - d": (five - d, np.full_like(ramp, 4)), "1 + d": (one + d, ramp),
               "3 + d": (three + d, 2 + ramp)}
    for name, (h, expected) in sectors.items():
        assert np.array_equal(_pillow_hue_bin(h), expected), name
    possible = n < cr  # d - 1: r max, g min, b the middle channel, so n == cr needs g == b
    assert np.array_equal(_pillow_hue_bin((d - one)[possible]), (4 + ramp)[possible])


# --------------------------------------------------------------------------
# Hashes against ImageHash
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return real_photos()


def test_whash_real_photos(photos):
    combos = [(m, hs, r) for m in MODES for hs in (4, 8, 16) for r in (True, False)]
    for k, (name, img) in enumerate(photos.items()):
        check_whash(img, "haar", 8)
        check_whash(img, "db4", 8)
        mode, hs, remove = combos[k % len(combos)]  # the other options, spread over the photos
        check_whash(img, mode, hs, remove_max_haar_ll=remove)


def test_colorhash_real_photos(photos):
    for k, img in enumerate(photos.values()):
        check_colorhash(img, 3)
        check_colorhash(img, 2 + k % 4)


@pytest.mark.parametrize("mode", MODES)
def test_whash_photo_variants(mode):
    for img in photo_variants(np.random.default_rng(0), 12):
        for hs in (4, 8, 16):
            for remove in (True, False):
                check_whash(img, mode, hs, remove_max_haar_ll=remove)


def test_colorhash_photo_variants():
    for img in photo_variants(np.random.default_rng(1), 12):
        for binbits in (2, 3, 4, 5):
            check_colorhash(img, binbits)


@pytest.mark.parametrize("mode", MODES)
def test_whash_degenerate_images(mode):
    # ImageHash does not crash on any of them (checked: all sizes 1..16 included)
    for name, img in degenerate_images().items():
        for hs in (4, 8, 16):
            for remove in (True, False):
                check_whash(img, mode, hs, remove_max_haar_ll=remove)


def test_colorhash_degenerate_images():
    for name, img in degenerate_images().items():
        for binbits in (2, 3, 4, 5):
            check_colorhash(img, binbits)


@pytest.mark.parametrize("mode", MODES)
def test_whash_explicit_image_scale(mode):
    rng = np.random.default_rng(10)
    imgs = [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), degenerate_images()["gradient_diag"],
            degenerate_images()["checker_1px"], rng.integers(0, 256, (5, 9), dtype=np.uint8)]
    for img in imgs:
        for hs in (4, 8):
            for scale in (8, 16, 32, 64, 128, 256):
                if scale >= hs:
                    check_whash(img, mode, hs, image_scale=scale)
                    check_whash(img, mode, hs, image_scale=scale, remove_max_haar_ll=False)


@pytest.mark.parametrize("mode", MODES)
def test_whash_small_hash_sizes_and_tiny_images(mode):
    rng = np.random.default_rng(11)
    for shape in [(1, 1), (1, 7), (7, 1), (2, 3), (3, 3), (6, 6), (12, 5)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        for hs in (1, 2, 4, 8):
            check_whash(img, mode, hs)
    check_whash(rng.integers(0, 256, (4, 4), dtype=np.uint8), mode, 1, image_scale=1)


def test_db4_hash_sizes():
    img = np.random.default_rng(12).integers(0, 256, (80, 90), dtype=np.uint8)
    for hs, side in ((4, 10), (8, 14), (16, 22)):
        batch = whash_db4_batch([img], hs, image_scale=8 * hs)
        assert batch.nbits == side * side and batch.shape == (side, side)
        assert len(batch.hex(0)) == (side * side + 3) // 4
    assert whash_db4_batch([img], 8).nbits == 14 * 14
    assert whash_haar_batch([img], 8).nbits == 64
    assert whash_db4_batch([np.zeros((40, 50), np.uint8)], 8).shape == (13, 13)  # as ImageHash


@settings(max_examples=30, deadline=None)
@given(height=st.integers(1, 70), width=st.integers(1, 70), channels=st.sampled_from([0, 3, 4]),
       levels=st.sampled_from([2, 3, 256]), seed=st.integers(0, 2 ** 32 - 1),
       mode=st.sampled_from(MODES), hash_size=st.sampled_from([2, 4, 8, 16]),
       remove=st.booleans(), binbits=st.integers(1, 6))
def test_random_images_match_imagehash(height, width, channels, levels, seed, mode, hash_size, remove,
                                       binbits):
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 0 else (height, width, channels)
    img = (rng.integers(0, levels, shape) * (255 // (levels - 1))).astype(np.uint8)
    check_whash(img, mode, hash_size, remove_max_haar_ll=remove)
    check_colorhash(img, binbits)


def test_batches_match_single_images():
    """Several images of one shape go through the parallel kernel together."""
    rng = np.random.default_rng(13)
    imgs = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(5)]
    imgs += [rng.integers(0, 256, (70, 70), dtype=np.uint8) for _ in range(4)]
    imgs += [rng.integers(0, 256, (33, 20, 4), dtype=np.uint8) for _ in range(3)]
    refs = {
        "whash-haar": lambda img: ref_whash(img, "haar", 8),
        "whash-db4": lambda img: ref_whash(img, "db4", 8, image_scale=64),
        "colorhash": lambda img: ref_colorhash(img, 4),
    }
    options = {"whash-haar": {}, "whash-db4": {"image_scale": 64}, "colorhash": {"binbits": 4}}
    for method, opts in options.items():
        batch = compute_hashes(imgs, method, 8, **opts)
        assert len(batch) == len(imgs)
        for i, img in enumerate(imgs):
            assert batch.hex(i) == hash_image(img, method, 8, **opts) == refs[method](img), (method, i)
    stack = np.stack(imgs[:5])
    assert compute_hashes(stack, "whash").hex(4) == ref_whash(imgs[4], "haar", 8)
    assert compute_hashes(stack, "colorhash").hex(2) == ref_colorhash(imgs[2], 3)


def test_colorhash_ignores_hash_size_and_has_its_shape():
    img = np.random.default_rng(14).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    a = colorhash_batch([img], 4, binbits=5)
    b = colorhash_batch([img], 16, binbits=5)
    assert np.array_equal(a.packed, b.packed)
    assert a.nbits == 70 and a.shape == (14, 5)
    assert a.hex(0) == ref_colorhash(img, 5)


def test_empty_batches():
    assert whash_haar_batch([], 8).packed.shape == (0, 1)
    assert whash_db4_batch([], 8).nbits == 196
    assert colorhash_batch([], binbits=3).packed.shape == (0, 1)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_whash_errors(mode):
    img = np.zeros((64, 64), np.uint8)
    for bad in (0, -4, 3, 6, 12, 2.5, True, "8"):
        with pytest.raises(ValueError, match="hash_size must be a power of 2"):
            hash_image(img, f"whash-{mode}", bad)
    for bad in (0, -8, 3, 24, 2.5):  # ImageHash: AssertionError or (0) OverflowError
        with pytest.raises(ValueError, match="image_scale must be a power of 2"):
            hash_image(img, f"whash-{mode}", 8, image_scale=bad)
    with pytest.raises(AssertionError):  # the reference only asserts
        imagehash.whash(Image.fromarray(img), hash_size=8, image_scale=4, mode=mode)
    with pytest.raises(ValueError, match="larger than image_scale"):
        hash_image(img, f"whash-{mode}", 8, image_scale=4)


def test_db4_mixed_hash_lengths_are_rejected():
    big = np.zeros((80, 80), np.uint8)
    small = np.zeros((40, 40), np.uint8)  # scale 32 -> 13 x 13 instead of 14 x 14
    with pytest.raises(ValueError, match="different sizes"):
        whash_db4_batch([big, small], 8)
    batch = whash_db4_batch([big, small], 8, image_scale=64)
    assert batch.nbits == 196
    assert batch.hex(1) == ref_whash(small, "db4", 8, image_scale=64)
    assert len(whash_haar_batch([big, small], 8)) == 2  # haar is always n x n


def test_colorhash_errors():
    img = np.zeros((8, 8, 3), np.uint8)
    for bad in (0, -1, 25, 2.5, True):
        with pytest.raises(ValueError, match="binbits"):
            hash_image(img, "colorhash", binbits=bad)
