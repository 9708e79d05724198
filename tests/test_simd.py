"""The vector operations of ``undouble._kernels.simd`` (int32 x 8, 16-bit pairs, float64 x 4) against numpy and Pillow.

Each operation is run inside a small jitted function and compared with the
same arithmetic done by numpy in int64 and wrapped to int32 (vector integer
arithmetic wraps exactly as Numba's ``np.int32`` arithmetic does).
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from PIL import Image

from undouble._kernels.simd import (fadd, fload, fload_even, fload_odd, fmul, fmuladd, fsplat, fstore,
                                    fstore_interleaved, transpose8, vgrey_pairs, vgrey_rgb, vload, vmadd, vmadd_pairs,
                                    vround_clip8, vsplat, vstore)


def wrap32(values: np.ndarray) -> np.ndarray:
    return ((values.astype(np.int64) + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)


@njit
def _madd_all(acc, a, b, out):
    for i in range(0, acc.shape[0], 8):
        vstore(out, i, vmadd(vload(acc, i), vload(a, i), vload(b, i)))


@njit
def _splat_madd(acc, a, scalar, out):
    for i in range(0, acc.shape[0], 8):
        vstore(out, i, vmadd(vload(acc, i), vload(a, i), vsplat(scalar)))


@njit
def _clip_all(acc, shift, out):
    for i in range(0, acc.shape[0], 8):
        vstore(out, i, vround_clip8(vload(acc, i), shift))


@njit
def _load_store_at(src, index, dst, dst_index):
    vstore(dst, dst_index, vload(src, index))


@njit
def _grey_all(rgb_bytes, out):
    for p in range(0, out.shape[0] - 8, 8):
        vstore(out, p, vgrey_rgb(rgb_bytes, 3 * p))


@njit
def _grey_pairs_all(rgb_bytes, out):
    for p in range(0, 2 * out.shape[0] - 16, 16):
        vstore(out, p // 2, vgrey_pairs(rgb_bytes, 3 * p))


@njit
def _madd_pairs_all(acc, a, b, out):
    for i in range(0, acc.shape[0], 8):
        vstore(out, i, vmadd_pairs(vload(acc, i), vload(a, i), vload(b, i)))


@njit
def _transpose_one(src, src_index, src_stride, dst, dst_index, dst_stride):
    transpose8(src, src_index, src_stride, dst, dst_index, dst_stride)


def _cpu_context():
    from numba.core.registry import cpu_target

    return cpu_target.target_context


def random_int32(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(-2 ** 31, 2 ** 31, n, dtype=np.int64).astype(np.int32)


def test_vmadd_wraps_like_int32():
    rng = np.random.default_rng(0)
    acc, a, b = (random_int32(rng, 4096) for _ in range(3))
    out = np.zeros_like(acc)
    _madd_all(acc, a, b, out)
    expected = wrap32(acc.astype(np.int64) + wrap32(a.astype(np.int64) * b.astype(np.int64)))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("scalar", [0, 1, -1, 4194304, -123457, 2 ** 31 - 1])
def test_vsplat_broadcasts(scalar):
    rng = np.random.default_rng(1)
    acc, a = random_int32(rng, 64), rng.integers(0, 256, 64).astype(np.int32)
    out = np.zeros_like(acc)
    _splat_madd(acc, a, scalar, out)
    np.testing.assert_array_equal(out, wrap32(acc.astype(np.int64) + a.astype(np.int64) * scalar))


def test_vround_clip8_is_pillows_clip8():
    rng = np.random.default_rng(2)
    acc = np.concatenate([random_int32(rng, 4000),
                          np.array([0, -1, 2 ** 22 - 1, 2 ** 22, 255 << 22, (256 << 22) - 1, 256 << 22,
                                    2 ** 31 - 1, -2 ** 31, -(2 ** 22), 1 << 21, 3 << 21, 7, 8, 9, 10],
                                   dtype=np.int32)])
    out = np.zeros_like(acc)
    _clip_all(acc, 22, out)
    np.testing.assert_array_equal(out, np.clip(acc.astype(np.int64) >> 22, 0, 255))


def test_vload_vstore_any_offset():
    src = np.arange(40, dtype=np.int32)
    for index in range(0, 33):
        for dst_index in (0, 3, 8, 13):
            dst = np.full(24, -5, dtype=np.int32)
            _load_store_at(src, index, dst, dst_index)
            expected = np.full(24, -5, dtype=np.int32)
            expected[dst_index:dst_index + 8] = src[index:index + 8]
            np.testing.assert_array_equal(dst, expected)


@pytest.mark.parametrize("portable", [False, True])
def test_vgrey_rgb_matches_pillow_on_every_colour(portable, monkeypatch):
    """All 16,777,216 RGB colours, eight to a vector, against Pillow's ``convert('L')``.

    Both code paths: ``vpmaddwd`` (AVX2 targets) and the portable multiplies
    (compiled here by setting ``simd.FORCE_PORTABLE`` for a fresh function).
    """
    from undouble._kernels import simd

    monkeypatch.setattr(simd, "FORCE_PORTABLE", portable)
    grey_all = njit(_grey_all.py_func)  # compiled now, under the flag
    levels = np.arange(256, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(4096, 4096, 3)
    expected = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.int32).ravel()
    # 8 spare pixels at the end: vgrey_rgb reads 4 bytes past its 24
    flat = np.concatenate([rgb.reshape(-1), np.zeros(24, dtype=np.uint8)])
    out = np.full(4096 * 4096 + 8, -1, dtype=np.int32)
    grey_all(flat, out)
    asm = "".join(grey_all.inspect_asm().values())
    if not portable and simd._has_avx2(_cpu_context()):
        assert "vpmaddwd" in asm  # the AVX2 path was the one compiled and tested
    np.testing.assert_array_equal(out[:4096 * 4096], expected)


@pytest.mark.parametrize("portable", [False, True])
def test_vgrey_pairs_matches_pillow_on_every_colour(portable, monkeypatch):
    """``vgrey_pairs``: all 16,777,216 colours, sixteen to a vector, as uint16 in order, both code paths."""
    from undouble._kernels import simd

    monkeypatch.setattr(simd, "FORCE_PORTABLE", portable)
    grey_pairs_all = njit(_grey_pairs_all.py_func)
    levels = np.arange(256, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(4096, 4096, 3)
    expected = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16).ravel()
    flat = np.concatenate([rgb.reshape(-1), np.zeros(48, dtype=np.uint8)])  # it reads 4 bytes past its 48
    out = np.full((4096 * 4096 + 16) // 2, -1, dtype=np.int32)
    grey_pairs_all(flat, out)
    asm = "".join(grey_pairs_all.inspect_asm().values())
    if not portable and simd._has_avx2(_cpu_context()):
        assert "vpmaddwd" in asm
    np.testing.assert_array_equal(out.view(np.uint16)[:4096 * 4096], expected)


def _signed16(words: np.ndarray, half: int) -> np.ndarray:
    return ((words.astype(np.int64) >> (16 * half)) & 0xFFFF).astype(np.uint16).view(np.int16).astype(np.int64)


@pytest.mark.parametrize("portable", [False, True])
def test_vmadd_pairs_is_pmaddwd(portable, monkeypatch):
    """``acc + lo*lo + hi*hi`` on signed 16-bit halves, wrapped to int32: random words and the extremes."""
    from undouble._kernels import simd

    monkeypatch.setattr(simd, "FORCE_PORTABLE", portable)
    madd_pairs_all = njit(_madd_pairs_all.py_func)
    rng = np.random.default_rng(5)
    extremes = np.array([0, 1, -1, 0x7FFF, 0x8000, 0x7FFF7FFF, -0x7FFF8000, 0xFFFF, 0x10000, 255 | (255 << 16)],
                        dtype=np.int64).astype(np.int32)
    a = np.concatenate([random_int32(rng, 4004), np.repeat(extremes, 10)])  # 4104 words: whole vectors
    b = np.concatenate([random_int32(rng, 4004), np.tile(extremes, 10)])
    acc = random_int32(rng, a.size)
    out = np.zeros_like(acc)
    madd_pairs_all(acc, a, b, out)
    products = _signed16(a, 0) * _signed16(b, 0) + _signed16(a, 1) * _signed16(b, 1)
    np.testing.assert_array_equal(out, wrap32(acc.astype(np.int64) + products))
    if not portable and simd._has_avx2(_cpu_context()):
        asm = "".join(madd_pairs_all.inspect_asm().values())
        # on a CPU with AVX-512 VNNI, LLVM fuses the add into the multiply-add of word pairs: vpdpwssd
        assert "vpmaddwd" in asm or "vpdpwssd" in asm


def test_transpose8_moves_every_value_once():
    rng = np.random.default_rng(3)
    for src_stride, dst_stride, src_index, dst_index in [(8, 8, 0, 0), (11, 9, 5, 2), (64, 16, 130, 7)]:
        src = random_int32(rng, src_index + 8 * src_stride + 8)
        dst = np.full(dst_index + 8 * dst_stride + 8, -3, dtype=np.int32)
        _transpose_one(src, src_index, src_stride, dst, dst_index, dst_stride)
        block = np.array([[src[src_index + i * src_stride + j] for j in range(8)] for i in range(8)])
        expected = np.full_like(dst, -3)
        for j in range(8):
            expected[dst_index + j * dst_stride:dst_index + j * dst_stride + 8] = block[:, j]
        np.testing.assert_array_equal(dst, expected)


def test_type_errors_are_clear():
    @njit
    def load_int64(arr):
        return vload(arr, 0)

    with pytest.raises(Exception, match="1-D C-contiguous int32"):
        load_int64(np.zeros(8, dtype=np.int64))


@njit
def _fmuladd_all(acc, a, b, scalar, out, out_splat):
    for i in range(0, acc.shape[0], 4):
        fstore(out, i, fmuladd(fload(acc, i), fload(a, i), fload(b, i)))
        fstore(out_splat, i, fmuladd(fload(acc, i), fsplat(scalar), fload(b, i)))


def test_float64_vectors_multiply_add():
    """``fmuladd`` is ``acc + a * b`` with at most the two roundings of doing it in steps (or one, fused)."""
    rng = np.random.default_rng(4)
    acc, a, b = (rng.normal(0, 1e3, 400) for _ in range(3))
    out, out_splat = np.zeros(400), np.zeros(400)
    _fmuladd_all(acc, a, b, 2.5, out, out_splat)
    for got, factor in ((out, a), (out_splat, np.full(400, 2.5))):
        exact = acc + factor * b  # numpy: two roundings
        assert np.all(np.abs(got - exact) <= 2 * np.spacing(np.abs(exact) + np.abs(factor * b)))
        assert np.abs(got - exact).max() < 1e-9
    integers = rng.integers(-1000, 1000, (3, 64)).astype(np.float64)
    out = np.zeros(64)
    _fmuladd_all(integers[0], integers[1], integers[2], 3, out, np.zeros(64))
    np.testing.assert_array_equal(out, integers[0] + integers[1] * integers[2])  # exact on small integers


@njit
def _float_pairs_ops(a, b, sums, products, evens, odds, interleaved):
    for i in range(0, a.shape[0], 4):
        fstore(sums, i, fadd(fload(a, i), fload(b, i)))
        fstore(products, i, fmul(fload(a, i), fload(b, i)))
    for i in range(0, a.shape[0] - 8 + 1, 8):
        fstore(evens, i // 2, fload_even(a, i))
        fstore(odds, i // 2, fload_odd(a, i))
        fstore_interleaved(interleaved, i, fload(a, i // 2), fload(b, i // 2))


def test_float64_exact_ops_and_strided_access():
    """``fadd``/``fmul`` round once, like numpy (never fused); even/odd loads and the interleaved store move values only."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(0, 1e3, 64), rng.normal(0, 1e-3, 64)
    a[:4] = [0.1, -0.0, 1e308, 2.0 ** -1074]
    sums, products, evens, odds, interleaved = (np.full(64, np.nan) for _ in range(5))
    _float_pairs_ops(a, b, sums, products, evens, odds, interleaved)
    np.testing.assert_array_equal(sums, a + b)
    np.testing.assert_array_equal(products, a * b)
    np.testing.assert_array_equal(evens[:32], a[0::2])
    np.testing.assert_array_equal(odds[:32], a[1::2])
    expected = np.empty(64)
    for i in range(0, 64, 8):
        expected[i:i + 8:2], expected[i + 1:i + 8:2] = a[i // 2:i // 2 + 4], b[i // 2:i // 2 + 4]
    np.testing.assert_array_equal(interleaved, expected)
    # (1 + 2**-30)**2 - 1 is 2**-29 with the product rounded first, 2**-29 + 2**-60 if fused
    x = np.full(4, 1.0 + 2.0 ** -30)
    out = np.zeros(4)
    _mul_then_add(x, x, np.full(4, -1.0), out)
    np.testing.assert_array_equal(out, np.full(4, 2.0 ** -29))


@njit
def _mul_then_add(a, b, c, out):
    fstore(out, 0, fadd(fmul(fload(a, 0), fload(b, 0)), fload(c, 0)))
