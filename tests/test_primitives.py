"""Shared primitives against Pillow / scipy / numpy and slow reference versions.

Every Numba kernel used by the basic hashes is checked here against an
independent, obviously correct reference (pure Python or plain numpy), and
where a library defines the behaviour (Pillow's resize and convert('L'),
scipy's DCT, numpy's median and mean), against that library exactly.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fftpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from undouble._kernels import dct as dctk
from undouble._kernels.bits import pack_rows, unpack_rows
from undouble._kernels.color import rgb_to_l
from undouble._kernels.median import median_of, select_in_place
from undouble._kernels.resample import (grey_pairs_into, grey_rows_into, pair_taps, pair_taps_pass, resize_image,
                                       resize_plane, resize_work, taps_pass, transpose_into)
from undouble.hashes import read_only_tables, to_grey_stack
from undouble.resample import resize_lanczos, resize_tables

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def pil_lanczos(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(plane).resize(size, Image.Resampling.LANCZOS))


def random_plane(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "constant":
        return np.full((h, w), rng.integers(0, 256), dtype=np.uint8)
    if kind == "levels":
        levels = rng.integers(0, 256, int(rng.integers(2, 5)))
        return levels[rng.integers(0, len(levels), (h, w))].astype(np.uint8)
    # extremes: 0/255 only, the worst case for clamping of Lanczos overshoot
    return (rng.integers(0, 2, (h, w)) * 255).astype(np.uint8)


KINDS = ("noise", "constant", "levels", "extremes")


# --------------------------------------------------------------------------
# Slow reference of the Lanczos resize, written from hashes.md
# --------------------------------------------------------------------------

def ref_lanczos(x: float) -> float:
    def sinc(v: float) -> float:
        return 1.0 if v == 0.0 else math.sin(math.pi * v) / (math.pi * v)
    return sinc(x) * sinc(x / 3.0) if -3.0 <= x < 3.0 else 0.0


def ref_taps(n_in: int, n_out: int) -> list[tuple[int, list[int]]]:
    """(first input index, integer weights) per output index."""
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = 3.0 * fs
    inv_fs = 1.0 / fs  # Pillow multiplies by 1/filterscale
    taps = []
    for o in range(n_out):
        center = (o + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))
        count = min(n_in, int(center + support + 0.5)) - xmin
        w = [ref_lanczos((x + xmin - center + 0.5) * inv_fs) for x in range(count)]
        total = 0.0
        for v in w:
            total += v
        if total != 0.0:
            w = [v / total for v in w]
        k = [int(v * 2 ** 22 + 0.5) if v >= 0 else int(v * 2 ** 22 - 0.5) for v in w]
        taps.append((xmin, k))
    return taps


def ref_pass_rows(src: np.ndarray, n_out: int) -> np.ndarray:
    """Horizontal integer pass, one output column at a time."""
    out = np.empty((src.shape[0], n_out), dtype=np.uint8)
    for o, (xmin, k) in enumerate(ref_taps(src.shape[1], n_out)):
        acc = (1 << 21) + src[:, xmin:xmin + len(k)].astype(np.int64) @ np.asarray(k, dtype=np.int64)
        out[:, o] = np.clip(acc >> 22, 0, 255)
    return out


def ref_resize(src: np.ndarray, w_out: int, h_out: int) -> np.ndarray:
    h_in, w_in = src.shape
    dh = h_in - h_out

    def horizontal(a):
        return ref_pass_rows(a, w_out) if a.shape[1] != w_out else a

    def vertical(a):
        return ref_pass_rows(a.T, h_out).T if a.shape[0] != h_out else a

    if dh > 0 and dh > 2 * (w_in - w_out):
        return np.ascontiguousarray(horizontal(vertical(src)))
    return np.ascontiguousarray(vertical(horizontal(src)))


@SETTINGS
@given(h=st.integers(1, 300), w=st.integers(1, 300), h_out=st.integers(1, 80), w_out=st.integers(1, 80),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 32 - 1))
def test_resize_matches_pillow(h, w, h_out, w_out, kind, seed):
    plane = random_plane(np.random.default_rng(seed), h, w, kind)
    ours = resize_lanczos(plane, (w_out, h_out))
    assert ours.shape == (h_out, w_out)
    np.testing.assert_array_equal(ours, pil_lanczos(plane, (w_out, h_out)))


@pytest.mark.parametrize("shape,size", [
    ((600, 7), (8, 8)), ((7, 600), (8, 8)), ((512, 16), (9, 8)), ((16, 512), (8, 9)),
    ((400, 9), (32, 32)), ((9, 400), (32, 32)), ((5, 3), (64, 64)), ((1, 1), (8, 9)),
    ((300, 40), (40, 100)), ((41, 300), (200, 40)), ((33, 33), (33, 33)), ((64, 64), (64, 8)),
])
def test_resize_pass_order_cases(shape, size):
    plane = random_plane(np.random.default_rng(sum(shape)), *shape, "extremes")
    expected = pil_lanczos(plane, size)
    np.testing.assert_array_equal(resize_lanczos(plane, size), expected)
    np.testing.assert_array_equal(ref_resize(plane, *size), expected)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 60), w=st.integers(1, 60), h_out=st.integers(1, 70), w_out=st.integers(1, 70),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 32 - 1))
def test_resize_kernel_matches_slow_reference(h, w, h_out, w_out, kind, seed):
    plane = random_plane(np.random.default_rng(seed), h, w, kind)
    tables = read_only_tables(resize_tables((w, h), (w_out, h_out)))
    np.testing.assert_array_equal(resize_plane(plane, *tables), ref_resize(plane, w_out, h_out))


def fused_resize(img: np.ndarray, size: tuple[int, int], out_rows: int | None = None,
                 garbage: np.random.Generator | None = None) -> np.ndarray:
    """``resize_image`` (grey conversion fused with the resize) of one H x W (x C) image.

    With ``out_rows``, only that many rows are computed and returned. With
    ``garbage``, the work buffers are filled with random values first (a
    batch reuses them from image to image; their padding must not matter).
    """
    arr = img[:, :, None] if img.ndim == 2 else img
    h, w = arr.shape[:2]
    row_b, row_c, col_b, col_c, vfirst = read_only_tables(resize_tables((w, h), size))
    h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(h, w, row_b, row_c, col_b, col_c)
    if garbage is not None:
        for buf in (band, buf_a, buf_b):
            buf[:] = garbage.integers(-2 ** 31, 2 ** 31, buf.shape[0], dtype=np.int64).astype(np.int32)
    rows = size[1] if out_rows is None else out_rows
    out = resize_image(np.ascontiguousarray(arr), row_b, h_taps, pairs, col_b, v_taps, vfirst, band, buf_a, buf_b,
                       small, rows)
    assert out.dtype == np.int32 and out.shape == (size[1], size[0])
    out = out[:rows]
    assert out.min() >= 0 and out.max() <= 255
    return out.astype(np.uint8)


def pil_grey_lanczos(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(img).convert("L").resize(size, Image.Resampling.LANCZOS))


def test_fused_resize_matches_pillow_on_photos():
    from imagesets import photo_variants, real_photos

    images = list(real_photos().values()) + photo_variants(np.random.default_rng(11), 16)
    for img in images:
        for size in [(8, 8), (9, 8), (8, 9), (32, 32), (64, 64), (17, 5), (img.shape[1], 8), (8, img.shape[0])]:
            np.testing.assert_array_equal(fused_resize(img, size), pil_grey_lanczos(img, size),
                                          err_msg=f"{img.shape} -> {size}")


@pytest.mark.parametrize("shape,size", [
    ((1, 1), (8, 8)), ((1, 1), (1, 1)), ((1, 37), (8, 8)), ((37, 1), (8, 8)), ((1, 200), (9, 8)),
    ((200, 1), (8, 9)), ((2, 3), (5, 7)), ((5, 3), (64, 64)), ((3, 5), (2, 2)), ((600, 7), (8, 8)),
    ((7, 600), (8, 8)), ((512, 16), (9, 8)), ((300, 40), (40, 100)), ((41, 300), (200, 40)),
    ((33, 33), (33, 33)), ((64, 64), (64, 8)), ((64, 64), (8, 64)), ((128, 128), (32, 32)),
    ((31, 29), (30, 30)), ((1000, 3), (3, 8)), ((3, 1000), (8, 3)), ((24, 16), (16, 24)), ((20, 12), (12, 20)),
])
@pytest.mark.parametrize("channels", [0, 1, 3, 4])
def test_fused_resize_odd_sizes(shape, size, channels):
    """Tiny, 1 px, tall, wide, up- and downscaling; sizes that are not multiples of 8 (the buffer padding)."""
    rng = np.random.default_rng(sum(shape) + channels)
    full = shape if channels == 0 else (*shape, channels)
    for kind in KINDS:
        img = random_plane(rng, shape[0], int(np.prod(full[1:])), kind).reshape(full)
        if channels == 1:
            expected = pil_grey_lanczos(img[:, :, 0], size)
        else:
            expected = pil_grey_lanczos(img, size)
        np.testing.assert_array_equal(fused_resize(img, size), expected, err_msg=f"{full} -> {size} {kind}")


def test_fused_resize_first_rows_only():
    """``out_rows`` (phash_simple keeps the first n rows): those rows equal the full resize's."""
    from imagesets import photo_variants

    rng = np.random.default_rng(13)
    images = photo_variants(np.random.default_rng(14), 8) + [rng.integers(0, 256, (50, 300, 3), dtype=np.uint8)]
    for img in images:
        for size, rows in [((32, 32), 8), ((32, 32), 1), ((64, 64), 16), ((40, 5), 2), ((33, 33), 33),
                           ((img.shape[1], 32), 8), ((32, img.shape[0]), 8)]:
            expected = pil_grey_lanczos(img, size)[:rows]
            np.testing.assert_array_equal(fused_resize(img, size, rows), expected, err_msg=f"{img.shape} {size}")


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 90), w=st.integers(1, 90), h_out=st.integers(1, 70), w_out=st.integers(1, 70),
       channels=st.sampled_from([1, 3, 4]), kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 32 - 1))
def test_fused_resize_matches_slow_reference(h, w, h_out, w_out, channels, kind, seed):
    img = random_plane(np.random.default_rng(seed), h, w * channels, kind).reshape(h, w, channels)
    if channels == 1:
        grey = img[:, :, 0]
    else:
        r, g, b = (img[..., c].astype(np.uint32) for c in range(3))
        grey = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)
    np.testing.assert_array_equal(fused_resize(img, (w_out, h_out)), ref_resize(grey, w_out, h_out))


def test_fused_resize_ignores_stale_buffers():
    """The padding of the work buffers holds values left by earlier images: they never reach a result."""
    rng = np.random.default_rng(21)
    for shape, size in [((128, 128, 3), (8, 8)), ((128, 128, 3), (32, 32)), ((61, 93, 3), (9, 8)),
                        ((93, 61, 4), (8, 9)), ((45, 300, 1), (17, 5)), ((300, 45, 3), (5, 17)),
                        ((20, 20, 3), (64, 40)), ((37, 37, 3), (37, 5)), ((37, 37, 3), (5, 37))]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = pil_grey_lanczos(img[:, :, 0] if shape[2] == 1 else img, size)
        for _ in range(3):
            np.testing.assert_array_equal(fused_resize(img, size, garbage=rng), expected, err_msg=f"{shape} {size}")


def test_taps_pass_matches_numpy():
    """``taps_pass``: each output row a tap-weighted sum of input rows, Pillow's rounding, on every column block."""
    from undouble.resample import lanczos_tables

    rng = np.random.default_rng(5)
    for n_in, n_out, cols in [(128, 8, 128), (128, 32, 32), (128, 9, 8), (40, 100, 72), (7, 3, 16), (300, 5, 104)]:
        bounds, coeffs = lanczos_tables(n_in, n_out)
        src = rng.integers(0, 256, (n_in, cols)).astype(np.int32)
        expected = np.empty((n_out, cols), dtype=np.int64)
        for r in range(n_out):
            first, count = bounds[r]
            acc = (1 << 21) + coeffs[r, :count] @ src[first:first + count].astype(np.int64)
            expected[r] = np.clip(acc >> 22, 0, 255)
        dst = np.full(3 + n_out * (cols + 8), -1, dtype=np.int32)
        taps_pass(src.ravel(), cols, cols, bounds, coeffs.astype(np.int32), dst, 3, cols + 8, n_out)
        got = dst[3:].reshape(n_out, cols + 8)
        np.testing.assert_array_equal(got[:, :cols], expected)
        assert (got[:, cols:] == -1).all()  # nothing written past ``cols``
        assert dst[:3].tolist() == [-1, -1, -1]


def test_pair_taps_split_every_tap_exactly():
    """``pair_taps``: ``512 a + b`` gives back each tap, 0 outside its bounds, both halves within 16 bits."""
    from undouble.resample import lanczos_tables

    rng = np.random.default_rng(8)
    tables = [lanczos_tables(n_in, n_out) for n_in, n_out in [(128, 8), (128, 9), (128, 32), (7, 3), (5, 64), (3, 2)]]
    bounds = np.array([[3, 5], [0, 1], [10, 4]], dtype=np.int64)
    extreme = np.array([[2 ** 23 - 1, -(2 ** 23), 255, -256, 256], [-1, 0, 0, 0, 0], [511, -511, 2 ** 22, 1, 0]])
    tables.append((bounds, extreme))
    tables.append((bounds, rng.integers(-(2 ** 23), 2 ** 23, (3, 5))))
    for bounds, coeffs in tables:
        pairs = pair_taps(bounds, coeffs.astype(np.int32))
        for r, (first, count) in enumerate(bounds):
            first_pair, n_pairs = pairs[r, :2]
            assert 2 * first_pair <= first and first + count <= 2 * (first_pair + n_pairs) <= first + count + 1
            words = pairs[r, 2:2 + 2 * n_pairs].astype(np.int64)
            hi, lo = words[0::2], words[1::2]
            for side in range(2):
                a = ((hi >> (16 * side)) & 0xFFFF).astype(np.uint16).view(np.int16).astype(np.int64)
                b = ((lo >> (16 * side)) & 0xFFFF).astype(np.uint16).view(np.int16).astype(np.int64)
                assert (b >= -256).all() and (b < 256).all()
                positions = 2 * (first_pair + np.arange(n_pairs)) + side
                expected = np.where((positions >= first) & (positions < first + count),
                                    coeffs[r, np.clip(positions - first, 0, coeffs.shape[1] - 1)], 0)
                np.testing.assert_array_equal(512 * a + b, expected)


def test_pair_taps_pass_equals_taps_pass():
    """The pass on pixel pairs gives ``taps_pass``'s pixels, on Lanczos taps and on extreme random taps."""
    from undouble.resample import lanczos_tables

    rng = np.random.default_rng(9)
    cases = [(n_in, n_out, cols, *lanczos_tables(n_in, n_out))
             for n_in, n_out, cols in [(128, 8, 32), (128, 9, 40), (128, 32, 32), (127, 32, 8), (7, 3, 16),
                                       (301, 5, 104), (40, 100, 72)]]
    for n_in, cols in [(60, 32), (13, 8)]:  # random taps of either sign, up to 2**21: any sum fits in int32
        bounds = np.array([[s, rng.integers(1, n_in - s + 1)] for s in rng.integers(0, n_in, 6)], dtype=np.int64)
        cases.append((n_in, 6, cols, bounds, rng.integers(-(2 ** 21), 2 ** 21, (6, n_in))))
    for n_in, n_out, cols, bounds, coeffs in cases:
        taps = coeffs.astype(np.int32)
        src = rng.integers(0, 256, (n_in, cols)).astype(np.int32)
        expected = np.full(n_out * cols, -1, dtype=np.int32)
        taps_pass(src.ravel(), cols, cols, bounds, taps, expected, 0, cols, n_out)
        padded = np.vstack([src, rng.integers(-(2 ** 15), 2 ** 15, (1, cols))])  # odd n_in: a garbage partner
        n_pairs = (n_in + 1) // 2
        paired = (padded[0:2 * n_pairs:2].astype(np.int64) & 0xFFFF) | (
            (padded[1:2 * n_pairs:2].astype(np.int64) & 0xFFFF) << 16)
        paired = paired.astype(np.uint32).view(np.int32)
        dst = np.full(n_out * cols + 5, -1, dtype=np.int32)
        paired = np.ascontiguousarray(paired).ravel()
        pairs = pair_taps(bounds, taps)
        pair_taps_pass(paired, cols, cols, pairs, dst, 2, cols, n_out, False)
        np.testing.assert_array_equal(dst[2:2 + n_out * cols], expected, err_msg=f"{n_in} {n_out} {cols}")
        assert dst[:2].tolist() == [-1, -1] and (dst[2 + n_out * cols:] == -1).all()
        # packed: uint16 results, two to a word, rows ``cols // 2 + 4`` words apart from word 1
        stride = cols // 2 + 4
        dst = np.full(1 + n_out * stride, -1, dtype=np.int32)
        pair_taps_pass(paired, cols, cols, pairs, dst, 1, stride, n_out, True)
        words = dst[1:].reshape(n_out, stride)
        np.testing.assert_array_equal(np.ascontiguousarray(words[:, :cols // 2]).view(np.uint16),
                                      expected.reshape(n_out, cols))
        assert dst[0] == -1 and (words[:, cols // 2:] == -1).all()


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_grey_pairs_into_matches_pillow(channels):
    """uint16 grey rows: widths 1 to 40 and some to 150 (four vectors a step), rows filling the stride or not."""
    rng = np.random.default_rng(10 + channels)
    for width in list(range(1, 41)) + [63, 64, 65, 96, 127, 128, 129, 150]:
        img = rng.integers(0, 256, (5, width, channels), dtype=np.uint8)
        pil = img[:, :, 0] if channels == 1 else img
        expected = np.asarray(Image.fromarray(pil).convert("L"), dtype=np.uint16)
        for y0, rows in [(0, 5), (2, 3), (4, 1)]:
            for stride in sorted({(width + 1) // 2 + 3} | ({width // 2} if width % 2 == 0 else set())):
                dst = np.full(rows * stride, -7, dtype=np.int32)
                grey_pairs_into(img, y0, rows, dst, stride)
                got = dst.view(np.uint16).reshape(rows, 2 * stride)
                np.testing.assert_array_equal(got[:, :width], expected[y0:y0 + rows], err_msg=f"{width} {y0} {stride}")
                assert (dst.reshape(rows, stride)[:, (width + 1) // 2:] == -7).all()


def test_transpose_into_matches_numpy():
    rng = np.random.default_rng(6)
    for rows, cols, src_stride, dst_stride in [(8, 8, 8, 8), (16, 24, 24, 16), (24, 8, 40, 32), (128, 128, 128, 128)]:
        src = rng.integers(-2 ** 31, 2 ** 31, rows * src_stride, dtype=np.int64).astype(np.int32)
        dst = np.zeros(cols * dst_stride, dtype=np.int32)
        transpose_into(src, rows, cols, src_stride, dst, dst_stride)
        expected = src.reshape(rows, src_stride)[:, :cols].T
        np.testing.assert_array_equal(dst.reshape(cols, dst_stride)[:, :rows], expected)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_grey_rows_into_matches_pillow(channels):
    """Every width from 1 to 40 (the vector path, its tail and the last pixels of the image), any first row."""
    rng = np.random.default_rng(channels)
    for width in range(1, 41):
        img = rng.integers(0, 256, (5, width, channels), dtype=np.uint8)
        pil = img[:, :, 0] if channels == 1 else img
        expected = np.asarray(Image.fromarray(pil).convert("L"), dtype=np.int32)
        for y0, rows in [(0, 5), (2, 3), (4, 1)]:
            stride = width + 3
            dst = np.full(rows * stride, -7, dtype=np.int32)
            grey_rows_into(img, y0, rows, dst, stride)
            got = dst.reshape(rows, stride)
            np.testing.assert_array_equal(got[:, :width], expected[y0:y0 + rows], err_msg=f"{width} {y0}")
            assert (got[:, width:] == -7).all()


def test_resize_tables_match_reference_taps():
    from undouble.resample import lanczos_tables

    for n_in, n_out in [(1, 8), (7, 8), (8, 7), (600, 8), (33, 257), (257, 33), (100, 32), (31, 32)]:
        bounds, coeffs = lanczos_tables(n_in, n_out)
        for o, (xmin, k) in enumerate(ref_taps(n_in, n_out)):
            assert bounds[o, 0] == xmin and bounds[o, 1] == len(k)
            assert list(coeffs[o, :len(k)]) == k
            assert not coeffs[o, len(k):].any()


# --------------------------------------------------------------------------
# Grey conversion
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def all_colours() -> np.ndarray:
    """Every 24-bit colour once, as a 4096 x 4096 RGB image."""
    v = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.empty((1 << 24, 3), dtype=np.uint8)
    rgb[:, 0] = v >> 16
    rgb[:, 1] = (v >> 8) & 0xFF
    rgb[:, 2] = v & 0xFF
    return rgb.reshape(4096, 4096, 3)


def test_grey_conversion_all_colours(all_colours):
    expected = np.asarray(Image.fromarray(all_colours).convert("L"))
    np.testing.assert_array_equal(rgb_to_l(all_colours), expected)
    r, g, b = (all_colours[..., c].astype(np.uint32) for c in range(3))
    formula = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)
    np.testing.assert_array_equal(formula, expected)


def test_grey_stack_and_alpha_ignored():
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 23, 31, 4), dtype=np.uint8)
    grey = to_grey_stack(rgba)
    for img, g in zip(rgba, grey):
        np.testing.assert_array_equal(g, np.asarray(Image.fromarray(img, "RGBA").convert("L")))
        np.testing.assert_array_equal(g, np.asarray(Image.fromarray(img[..., :3]).convert("L")))


def test_grey_stack_flat_and_strided_paths():
    """The flat loop over the whole stack: RGB, RGBA, and non-contiguous views of them."""
    from undouble._kernels.hashes import grey_stack

    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (4, 17, 9, 4), dtype=np.uint8)
    for stack in (np.ascontiguousarray(rgba[..., :3]), rgba, rgba[..., :3], rgba[:, ::2], rgba[::2]):
        expected = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img[..., :3])).convert("L"))
                             for img in stack])
        np.testing.assert_array_equal(grey_stack(stack), expected)


# --------------------------------------------------------------------------
# DCT, median, mean
# --------------------------------------------------------------------------

def dct_families(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    half = rng.integers(0, 256, (n, (n + 1) // 2))
    sym = rng.integers(0, 256, (n, n))
    ramp = np.arange(n) * 255 // max(n - 1, 1)
    return [
        np.zeros((n, n)), np.full((n, n), 255), np.full((n, n), 128),
        np.tile(ramp, (n, 1)), np.tile(ramp[:, None], (1, n)),
        np.hstack([half, half[:, ::-1]])[:, :n], np.triu(sym) + np.triu(sym, 1).T,
        (np.indices((n, n)).sum(0) % 2) * 255, rng.integers(0, 2, (n, n)) * 200,
        rng.integers(0, 256, (n, n)),
    ]


@pytest.mark.parametrize("n", list(range(2, 41)) + [44, 48, 56, 64, 100, 128])
def test_dct_matches_scipy_exactly(n):
    rng = np.random.default_rng(n)
    for img in dct_families(n, rng):
        pixels = np.clip(img, 0, 255).astype(np.uint8)
        x = pixels.astype(np.float64)
        # ImageHash calls scipy.fftpack on the uint8 pixels
        ref2 = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
        np.testing.assert_array_equal(dctk.dct2(x), ref2)
        np.testing.assert_array_equal(dctk.dct_last_axis(x), scipy.fftpack.dct(pixels))
        for rows in sorted({1, 2, n // 4, n // 2, n}):
            if rows >= 1:
                np.testing.assert_array_equal(dctk.dct2_top_left(x, rows), ref2[:rows])
                np.testing.assert_array_equal(dctk.dct_last_axis(np.ascontiguousarray(x[:rows])),
                                              scipy.fftpack.dct(pixels)[:rows])


def test_median_matches_numpy():
    rng = np.random.default_rng(5)
    for size in list(range(1, 30)) + [64, 100, 256, 257]:
        for values in (rng.standard_normal(size), rng.integers(-3, 4, size).astype(np.float64),
                       np.zeros(size), rng.standard_normal(size) * 10.0 ** rng.integers(-200, 200, size)):
            assert median_of(values) == np.median(values)


def test_selection_median_matches_numpy_and_sort():
    """Quickselect median (phash, whash): numpy's median, and ``select_in_place`` is the sorted value."""
    rng = np.random.default_rng(6)
    for size in [1, 2, 3, 4, 5, 63, 64, 65, 196, 197, 1000]:
        families = (rng.standard_normal(size), rng.integers(0, 3, size).astype(np.float64),
                    np.sort(rng.standard_normal(size)), np.sort(rng.standard_normal(size))[::-1].copy(),
                    np.full(size, -0.5), np.where(rng.random(size) < 0.5, 0.0, -0.0))
        for values in families:
            before = values.copy()
            assert median_of(values) == np.median(values)
            np.testing.assert_array_equal(values, before)  # the input is left as it was
            for k in {0, size // 2, size - 1}:
                work = values.copy()
                assert select_in_place(work, k) == np.sort(values)[k]
                assert np.all(work[:k] <= work[k]) and np.all(work[k + 1:] >= work[k])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=300))
def test_selection_median_hypothesis(values):
    arr = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.median(arr)
    got = median_of(arr)
    assert got == expected or (np.isnan(got) and np.isnan(expected))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 64, 127, 128, 129, 200, 1000, 5000])
def test_pairwise_sum_matches_numpy(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 12, n)
        assert dctk.pairwise_sum(a, 0, n) == np.add.reduce(a)
        assert dctk.pairwise_sum(np.concatenate([[1e300], a]), 1, n) == np.add.reduce(a)


@pytest.mark.parametrize("n,factor", [(2, 1), (2, 4), (3, 2), (4, 4), (5, 4), (7, 1), (8, 1), (8, 2), (8, 4),
                                      (11, 4), (16, 4), (23, 2), (32, 4), (91, 2), (100, 1), (128, 1), (181, 2)])
def test_numpy_mean_2d_matches_numpy(n, factor):
    """The phash_simple block ``d[:n, 1:n+1]`` of an N x N array, awkward magnitudes."""
    rng = np.random.default_rng(n * 10 + factor)
    size = n * factor
    for _ in range(3):
        big = rng.standard_normal((size, size)) * 10.0 ** rng.integers(-10, 10, (size, size))
        block = big[:n, 1:n + 1]
        assert dctk.numpy_mean_2d(block) == block.mean()


# --------------------------------------------------------------------------
# Bit packing
# --------------------------------------------------------------------------

def ref_pack(bits: np.ndarray) -> np.ndarray:
    n, nbits = bits.shape
    words = (nbits + 63) // 64
    padded = np.zeros((n, words * 64), dtype=np.uint8)
    padded[:, :nbits] = bits
    return np.packbits(padded, axis=1).view(">u8").astype(np.uint64).reshape(n, words)


@pytest.mark.parametrize("nbits", [1, 4, 42, 63, 64, 65, 100, 196, 256, 484])
def test_pack_unpack_match_packbits(nbits):
    rng = np.random.default_rng(nbits)
    bits = rng.integers(0, 2, (17, nbits)).astype(np.bool_)
    bits[0] = True
    bits[1] = False
    packed = pack_rows(bits)
    np.testing.assert_array_equal(packed, ref_pack(bits))
    np.testing.assert_array_equal(unpack_rows(packed, nbits), bits)
    ref_unpacked = np.unpackbits(packed.astype(">u8").view(np.uint8).reshape(17, -1), axis=1)[:, :nbits]
    np.testing.assert_array_equal(ref_unpacked.astype(np.bool_), bits)


# --------------------------------------------------------------------------
# phash's certified matrix path (``dct.phash_bits_certified``)
# --------------------------------------------------------------------------

def _certified_cases() -> list[tuple[str, np.ndarray]]:
    from imagesets import degenerate_images, photo_variants, real_photos

    cases = [(name, img) for name, img in real_photos().items()]
    cases += [(f"variant_{k}", img) for k, img in enumerate(photo_variants(np.random.default_rng(31), 24))]
    cases += list(degenerate_images().items())
    return cases


@pytest.mark.parametrize("hash_size,factor", [(8, 4), (5, 4), (16, 4), (8, 1), (7, 2)])
def test_phash_certified_path_equals_ducc_path(hash_size, factor):
    """Bits identical to the exact DUCC path; the fast path decides photos, never the tied degenerate images."""
    size = hash_size * factor
    work_buffers = dctk.dct_block_work(hash_size, size)
    count = hash_size * hash_size
    fast_photos = photos = ties = 0
    for name, img in _certified_cases():
        small = fused_resize(img, (size, size)).astype(np.int32)
        ours = np.zeros(count, dtype=np.bool_)
        exact = np.zeros(count, dtype=np.bool_)
        fast = dctk.phash_bits_certified(small, hash_size, work_buffers, np.empty(count),
                                         np.empty(count), ours)
        dctk.phash_bits(small, hash_size, exact)
        np.testing.assert_array_equal(ours, exact, err_msg=name)
        block = scipy.fftpack.dct(scipy.fftpack.dct(small.astype(np.float64), axis=0), axis=1)[:hash_size, :hash_size]
        ordered = np.sort(block.ravel())
        upper = count // 2 if count % 2 == 0 else count // 2 + 1
        if ordered[upper] == ordered[upper - 1]:  # an exact tie at the median: only the DUCC path may decide
            ties += 1
            assert not fast, name
        elif not name.startswith(("uniform", "gradient", "mirror", "transpose", "two_level", "checker")):
            photos += 1
            fast_photos += bool(fast)
    assert ties > 0  # the degenerate families do tie (uniform images at least)
    assert fast_photos >= 0.9 * photos


def test_phash_certified_bound_has_a_wide_margin():
    """The matrix block is within 1/1000 of ``delta`` of scipy's values on photos and noise (documented margin)."""
    rng = np.random.default_rng(32)
    images = [img for _, img in _certified_cases()] + [rng.integers(0, 256, (64, 64), dtype=np.uint8)
                                                       for _ in range(8)]
    for hash_size, size in [(8, 32), (16, 64), (4, 16), (7, 14), (5, 5), (3, 21)]:
        buffers = dctk.dct_block_work(hash_size, size)
        k, y = np.meshgrid(np.arange(hash_size), np.arange(size), indexing="ij")
        np.testing.assert_allclose(buffers[0], 2 * np.cos(np.pi * k * (2 * y + 1) / (2 * size)), rtol=0, atol=1e-15)
        for img in images:
            small = fused_resize(img, (size, size)).astype(np.int32)
            block = np.empty(hash_size * hash_size)
            total = dctk.dct_low_block(small, hash_size, *buffers, block)
            assert total == small.sum()
            ref = scipy.fftpack.dct(scipy.fftpack.dct(small.astype(np.float64), axis=0), axis=1)
            error = np.abs(block - ref[:hash_size, :hash_size].ravel()).max()
            assert error <= 4.0 * 2.0 ** -30 * total / 1000 + 0.0, (error, total)
