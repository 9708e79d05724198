"""ahash, dhash, dhash_vertical, phash and phash_simple against ImageHash 4.3.2.

The oracle is ImageHash itself on ``PIL.Image.fromarray`` of the same pixels:
no expected hash here comes from our own code. The only literal hashes are the
check values of hashes.md (and they are asserted against ImageHash too).
"""
from __future__ import annotations

import imagehash
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imagesets import degenerate_images, photo_variants, pil_special_modes, real_photos
from undouble.hashes import compute_hashes, from_hex, hash_image, hash_images, pack_bits, to_bits, to_hex

ORACLE = {
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "dhash_vertical": imagehash.dhash_vertical,
    "phash": imagehash.phash,
    "phash_simple": imagehash.phash_simple,
}
METHODS = tuple(ORACLE)
DCT_METHODS = ("phash", "phash_simple")
HASH_SIZES = (4, 5, 7, 8, 16)


def oracle(image, method: str, hash_size: int, **options) -> str:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return str(ORACLE[method](pil, hash_size=hash_size, **options))


def assert_same(image, method: str, hash_size: int, label: str = "", **options) -> None:
    ours = hash_image(image, method, hash_size, **options)
    ref = oracle(image, method, hash_size, **options)
    shape = getattr(image, "shape", None) or getattr(image, "size", None)
    assert ours == ref, f"{method} n={hash_size} {options} on {label} {shape}: ours {ours} != ImageHash {ref}"


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return real_photos()


# --------------------------------------------------------------------------
# Real images
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_real_photos(photos, method):
    for name, img in photos.items():
        for n in HASH_SIZES:
            assert_same(img, method, n, name)


@pytest.mark.parametrize("method", METHODS)
def test_photo_crops_tall_and_wide(method):
    for k, img in enumerate(photo_variants(np.random.default_rng(2024), count=24)):
        for n in HASH_SIZES:
            assert_same(img, method, n, f"variant {k}")


@pytest.mark.parametrize("method", DCT_METHODS)
@pytest.mark.parametrize("factor", [1, 2, 3, 5])
def test_highfreq_factor(photos, method, factor):
    images = [photos["astronaut"], photos["camera"], photos["coins"]]
    images += [degenerate_images()[k] for k in ("uniform_128", "gradient_h", "transpose_sym", "tiny_3")]
    for img in images:
        for n in (2, 5, 8):
            assert_same(img, method, n, highfreq_factor=factor)


def test_phash_simple_factor_one_keeps_n_minus_one_columns():
    img = real_photos()["camera"]
    batch = compute_hashes([img], "phash_simple", 8, highfreq_factor=1)
    assert batch.nbits == 56 and batch.shape == (8, 7)
    assert batch.hex(0) == oracle(img, "phash_simple", 8, highfreq_factor=1)


# --------------------------------------------------------------------------
# Degenerate families (ties, exact zeros of the DCT, pass order)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_degenerate_images(method):
    for name, img in degenerate_images().items():
        for n in HASH_SIZES:
            assert_same(img, method, n, name)


@pytest.mark.parametrize("value", [0, 1, 128, 254, 255])
def test_uniform_image_check_values(value):
    img = np.full((50, 70, 3), value, np.uint8)
    # hashes.md: a uniform image phashes to 8000000000000000 (only the DC term is above the
    # median), except black, whose DC term is 0 too
    expected = "8000000000000000" if value else "0000000000000000"
    assert hash_image(img, "phash") == expected == oracle(img, "phash", 8)
    for method in METHODS:
        assert_same(img, method, 8, f"uniform {value}")


# --------------------------------------------------------------------------
# Random arrays
# --------------------------------------------------------------------------

def make_image(rng: np.random.Generator, h: int, w: int, colour: bool, kind: str) -> np.ndarray:
    shape = (h, w, 3) if colour else (h, w)
    if kind == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "constant":
        return np.full(shape, rng.integers(0, 256), dtype=np.uint8)
    levels = rng.integers(0, 256, (int(rng.integers(2, 5)),) + shape[2:])
    return levels[rng.integers(0, len(levels), (h, w))].astype(np.uint8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(h=st.integers(1, 300), w=st.integers(1, 300), colour=st.booleans(),
       kind=st.sampled_from(["noise", "constant", "levels"]), hash_size=st.sampled_from([2, 3, 4, 5, 7, 8, 16]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_arrays(h, w, colour, kind, hash_size, seed):
    img = make_image(np.random.default_rng(seed), h, w, colour, kind)
    for method in METHODS:
        assert_same(img, method, hash_size, kind)


# --------------------------------------------------------------------------
# PIL modes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["palette", "la", "i16"])
@pytest.mark.parametrize("method", METHODS)
def test_pil_special_modes_match_imagehash(mode, method):
    """A PIL image is converted the way ImageHash's convert('L') sees it.

    Palette -> RGB -> L gives the same grey as Pillow's P -> L; LA -> RGBA ->
    L returns the L channel; I;16 goes through Pillow's own convert('L').
    """
    pil = pil_special_modes()[mode]
    for n in (4, 8):
        assert_same(pil, method, n, mode)


def test_special_mode_arrays():
    modes = pil_special_modes()
    # LA as an H x W x 2 array: the alpha plane is ignored, as ImageHash ignores it
    la = np.asarray(modes["la"])
    assert la.shape[2] == 2
    for method in METHODS:
        assert hash_image(la, method) == oracle(modes["la"], method, 8)
    # a 16-bit array is refused: scaling it to 8 bits is the caller's choice
    with pytest.raises(TypeError):
        hash_image(np.asarray(modes["i16"]), "phash")
    # a palette image's array holds indices, hashed as grey levels (not the palette colours)
    indices = np.asarray(modes["palette"])
    assert indices.ndim == 2
    for method in METHODS:
        assert hash_image(indices, method) == oracle(Image.fromarray(indices, "L"), method, 8)


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_stack_equals_single_images(method):
    rng = np.random.default_rng(9)
    stacks = [rng.integers(0, 256, (6, 50, 70, 3), dtype=np.uint8),
              rng.integers(0, 256, (5, 33, 90), dtype=np.uint8),
              rng.integers(0, 256, (3, 40, 40, 4), dtype=np.uint8),
              np.full((4, 32, 32), 77, dtype=np.uint8)]
    for stack in stacks:
        packed = hash_images(stack, method, 8)
        assert packed.dtype == np.uint64 and packed.shape == (len(stack), 1)
        for img, row in zip(stack, packed):
            single = hash_image(img, method, 8)
            assert to_hex(row, 64) == single
            np.testing.assert_array_equal(row, from_hex(single))
    # a list of mixed shapes is split into groups and put back in order
    mixed = [stacks[0][0], stacks[1][0], stacks[0][1], stacks[2][0], stacks[1][1]]
    batch = compute_hashes(mixed, method, 5)
    assert batch.nbits == 25
    assert [batch.hex(i) for i in range(len(mixed))] == [oracle(img, method, 5) for img in mixed]


# --------------------------------------------------------------------------
# Hex and bit conversions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("nbits", [4, 25, 42, 49, 63, 64, 65, 196, 256])
def test_hex_round_trips(nbits):
    rng = np.random.default_rng(nbits)
    for bits in (rng.integers(0, 2, nbits).astype(bool), np.ones(nbits, bool), np.zeros(nbits, bool)):
        packed = pack_bits(bits)
        assert packed.shape == ((nbits + 63) // 64,)
        text = to_hex(packed, nbits)
        assert text == imagehash._binary_array_to_hex(bits)
        assert len(text) == (nbits + 3) // 4
        np.testing.assert_array_equal(from_hex(text, nbits), packed)
        np.testing.assert_array_equal(to_bits(packed, nbits), bits)
        # unused low bits of the last word stay zero
        spare = 64 * packed.shape[0] - nbits
        assert int(packed[-1]) & ((1 << spare) - 1) == 0
    if nbits % 4 == 0:
        text = to_hex(pack_bits(rng.integers(0, 2, nbits).astype(bool)), nbits)
        np.testing.assert_array_equal(from_hex(text), from_hex(text, nbits))


def test_hex_check_values():
    grid = np.zeros((8, 8), bool)
    grid[0, 0] = True
    assert to_hex(pack_bits(grid.ravel()), 64) == "8000000000000000" == str(imagehash.ImageHash(grid))
    grid = np.zeros((8, 8), bool)
    grid[7, 7] = True
    assert to_hex(pack_bits(grid.ravel()), 64) == "0000000000000001" == str(imagehash.ImageHash(grid))
    stack = np.stack([np.eye(8, dtype=bool).ravel(), ~np.eye(8, dtype=bool).ravel()])
    packed = pack_bits(stack)
    np.testing.assert_array_equal(to_bits(packed, 64), stack)
    with pytest.raises(ValueError):
        from_hex("1ff", 8)


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [1, 0, -3, 2.5])
def test_hash_size_below_two_raises(method, bad):
    img = np.zeros((20, 20), np.uint8)
    with pytest.raises(ValueError, match="hash_size"):
        hash_image(img, method, bad)
    if method in ("ahash", "phash", "dhash") and bad in (1, 0, -3):
        with pytest.raises(ValueError):  # the reference refuses these too
            oracle(img, method, bad)


@pytest.mark.parametrize("method", DCT_METHODS)
@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", None])
def test_bad_highfreq_factor_raises(method, bad):
    with pytest.raises(ValueError, match="highfreq_factor"):
        hash_image(np.zeros((20, 20), np.uint8), method, 8, highfreq_factor=bad)
