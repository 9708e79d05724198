"""Crop-resistant hash: bit-identical to ImageHash 4.3.2 (the oracle) and its kernels.

ImageHash is the oracle and is required (never skipped). It needs ~0.3 s per
image, so the oracle sets are small and each reference hash is computed once.
"""
from __future__ import annotations

from collections import deque
from functools import lru_cache
from unittest import mock

import imagehash
import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from imagesets import degenerate_images, photo_variants, real_photos
from undouble.hashes.crop import (crop_resistant_batch, hill_table, min_segment_distance,
                                 multihash_difference, multihash_matches, segment_boxes,
                                 segment_hashes, segment_labels, segmentation_plane)
from undouble._kernels.resample import lanczos_axis, resize_plane
from undouble._kernels.segment import (find_segments, gaussian_blur2, median3, order_boxes, resize_crop,
                                       round_half_even)
from undouble.hashes import compute_hashes, from_hex, hash_image
from undouble.resample import lanczos_tables, resize_tables

REF_FUNCS = {
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "phash": imagehash.phash,
    "phash_simple": imagehash.phash_simple,
    "dhash_vertical": imagehash.dhash_vertical,
    "whash-haar": imagehash.whash,
    "whash-db4": lambda im, hash_size=8, **kw: imagehash.whash(im, hash_size=hash_size, mode="db4", **kw),
    "colorhash": lambda im, hash_size=8: imagehash.colorhash(im),
}


def ref_hash(img: np.ndarray, hash_func: str = "dhash", hash_size: int = 8, hash_options=None,
             **options) -> str:
    """``str(imagehash.crop_resistant_hash(...))`` of a uint8 array."""
    func = REF_FUNCS[hash_func]
    extra = dict(hash_options or {})
    inner = func if hash_size == 8 and not extra else (lambda im: func(im, hash_size=hash_size, **extra))
    return str(imagehash.crop_resistant_hash(Image.fromarray(img), hash_func=inner, **options))


@lru_cache(maxsize=None)
def _photos() -> tuple[tuple[str, np.ndarray], ...]:
    return tuple(real_photos().items())


@lru_cache(maxsize=None)
def _photo_refs() -> tuple[str, ...]:
    return tuple(ref_hash(img) for _, img in _photos())


def _ours(images, **options) -> list[str]:
    batch = crop_resistant_batch(list(images), **options)
    return [batch.hex(i) for i in range(len(batch))]


# --------------------------------------------------------------------------
# Primitive kernels vs Pillow
# --------------------------------------------------------------------------

def _filter_inputs():
    rng = np.random.default_rng(5)
    for h in (1, 2, 3, 4, 5, 6, 9, 31, 300):
        for w in (1, 2, 3, 5, 7, 30, 300):
            yield rng.integers(0, 256, (h, w), dtype=np.uint8)
            yield (rng.integers(0, 2, (h, w)) * 255).astype(np.uint8)
    yield np.full((20, 20), 255, np.uint8)


def test_gaussian_blur_matches_pillow():
    n = 0
    for img in _filter_inputs():
        want = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))
        np.testing.assert_array_equal(gaussian_blur2(img), want, err_msg=str(img.shape))
        n += 1
    assert n > 100


def test_median_matches_pillow():
    for img in _filter_inputs():
        want = np.asarray(Image.fromarray(img).filter(ImageFilter.MedianFilter(3)))
        np.testing.assert_array_equal(median3(img), want, err_msg=str(img.shape))


def test_median_matches_sorting_reference():
    img = np.random.default_rng(9).integers(0, 6, (17, 13), dtype=np.uint8)
    padded = np.pad(img, 1, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3)).reshape(17, 13, 9)
    np.testing.assert_array_equal(median3(img), np.sort(windows, axis=-1)[..., 4])


def test_lanczos_axis_matches_host_tables():
    pairs = [(n_in, n_out) for n_in in list(range(1, 70)) + [97, 128, 299, 300, 301, 513, 1000]
             for n_out in (1, 2, 8, 9, 16, 17, 32, 33, 300)]
    for n_in, n_out in pairs:
        bounds, coeffs = lanczos_axis(n_in, n_out)
        if n_in == n_out:
            assert bounds.shape == (0, 2)
            continue
        want_b, want_c = lanczos_tables(n_in, n_out)
        np.testing.assert_array_equal(bounds, want_b, err_msg=f"{n_in}->{n_out}")
        np.testing.assert_array_equal(coeffs, want_c, err_msg=f"{n_in}->{n_out}")


def test_resize_plane_matches_pillow_on_crop_sizes():
    rng = np.random.default_rng(12)
    sizes = [((1, 1), (300, 300)), ((512, 16), (300, 300)), ((16, 512), (300, 300)), ((9, 400), (9, 8)),
             ((400, 9), (9, 8)), ((300, 300), (300, 300)), ((300, 40), (300, 300)), ((97, 131), (8, 9)),
             ((600, 7), (32, 32)), ((2, 3), (17, 300)), ((1000, 700), (300, 300))]
    for (h, w), (out_w, out_h) in sizes:
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
        tables = [np.array(t) if isinstance(t, np.ndarray) else t
                  for t in resize_tables((w, h), (out_w, out_h))]
        got = resize_plane(img, *tables)
        want = np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.LANCZOS))
        np.testing.assert_array_equal(got, want, err_msg=f"{(h, w)} -> {(out_w, out_h)}")


def test_resize_crop_matches_pillow():
    grey = np.asarray(Image.fromarray(real_photos()["astronaut"]).convert("L")).copy()
    rng = np.random.default_rng(2)
    boxes = [(0, 0, 512, 512), (3, 5, 3, 90), (10, 10, 200, 10), (7, 0, 8, 512), (0, 100, 512, 103)]
    for _ in range(20):
        x0, x1 = sorted(rng.integers(0, 513, 2))
        y0, y1 = sorted(rng.integers(0, 513, 2))
        boxes.append((x0, y0, x1, y1))
    for out_w, out_h in ((9, 8), (8, 9), (8, 8), (32, 32)):
        for box in boxes:
            got = np.full((out_h, out_w), 7, np.uint8)
            resize_crop(grey, np.array(box, np.int64), got)
            want = np.asarray(Image.fromarray(grey).crop(box).resize((out_w, out_h), Image.LANCZOS))
            np.testing.assert_array_equal(got, want, err_msg=f"{box} -> {(out_w, out_h)}")


def test_round_half_even_matches_python():
    values = [0.5, 1.5, 2.5, -0.5, 2.4999999999999996, 2.5000000000000004, 7.0, 1e-300, 299.5, 1200.5]
    values += list(np.arange(0, 300) * (7 / 300)) + list((np.arange(0, 301) + 0.5))
    for v in values:
        assert round_half_even(float(v)) == round(float(v)), v


@pytest.mark.parametrize("limit", [0, 1, 3, -1, -5, 100])
def test_order_boxes_matches_host_reference(limit):
    rng = np.random.default_rng(limit + 10)
    for width, height, size in ((512, 512, 300), (7, 600, 300), (1000, 3, 300), (150, 450, 300), (33, 20, 17)):
        count = int(rng.integers(0, 9))
        rows = np.zeros((max(count, 1), 5), np.int64)
        rows[:count, 0] = rng.integers(501, 505, count)  # ties: the sort must be stable
        r = np.sort(rng.integers(0, size, (count, 2)), axis=1)
        c = np.sort(rng.integers(0, size, (count, 2)), axis=1)
        rows[:count, 1], rows[:count, 3] = r[:, 0], r[:, 1]
        rows[:count, 2], rows[:count, 4] = c[:, 0], c[:, 1]
        want = segment_boxes(rows[:count], width, height, size, limit)
        boxes = np.full((max(count, 1), 4), -1, np.int64)
        k = order_boxes(rows.copy(), count, size, limit, width, height, boxes)
        np.testing.assert_array_equal(boxes[:k], want)


def test_hill_table_follows_numpy_float32_comparison():
    values = np.arange(256, dtype=np.float32)
    for thr in (128, 127.5, 0, -3, 300, np.float64(127.99999999), 127.99999999):
        np.testing.assert_array_equal(hill_table(thr), values > thr)
    # a Python float threshold is rounded to float32, as ImageHash's comparison does
    assert not hill_table(127.99999999)[128]


# --------------------------------------------------------------------------
# Region growing vs a pure-python BFS and vs ImageHash's _find_all_segments
# --------------------------------------------------------------------------

def bfs_segments(plane: np.ndarray, is_hill: np.ndarray, min_size: int):
    """Obviously-correct reference: (list of kept pixel sets, exhausted)."""
    h, w = plane.shape
    hills = is_hill[plane]
    seen = np.zeros((h, w), bool)
    segments, segmented = [], 2 * (h + w)

    def grow(start, want):
        region, todo = {start}, deque([start])
        seen[start] = True
        while todo:
            r, c = todo.popleft()
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < h and 0 <= cc < w and not seen[rr, cc] and hills[rr, cc] == want:
                    seen[rr, cc] = True
                    region.add((rr, cc))
                    todo.append((rr, cc))
        return region

    for want in (True, False):
        for r in range(h):
            for c in range(w):
                if want is False and segmented >= h * w:
                    return segments, False
                if seen[r, c] or hills[r, c] != want:
                    continue
                region = grow((r, c), want)
                if len(region) > min_size:
                    segments.append(region)
                if len(region) >= 2:
                    segmented += len(region)
    return segments, segmented < h * w


def imagehash_segments(plane: np.ndarray, threshold, min_size: int):
    """ImageHash's ``_find_all_segments`` with its crash turned into a stop.

    Where no region is left but its valley loop goes on (it would raise
    IndexError), the patched ``_find_region`` fills the "segmented" set so
    the loop ends: the result is ImageHash's segments found so far.
    """
    original = imagehash._find_region
    exhausted = []

    def find_region(remaining, segmented):
        if not remaining.any():
            exhausted.append(True)
            segmented.update(("end", k) for k in range(remaining.size))
            return set()
        return original(remaining, segmented)

    with mock.patch.object(imagehash, "_find_region", find_region):
        segs = imagehash._find_all_segments(plane.astype(np.float32), threshold, min_size)
    return segs, bool(exhausted)


def _our_segments(plane, threshold, min_size):
    labels = np.empty(plane.shape, np.int32)
    out = np.zeros((plane.size + 1, 5), np.int64)
    count, exhausted = find_segments(plane, hill_table(threshold), min_size, labels, out)
    sets = [set(zip(*np.nonzero(labels == k))) for k in range(count)]
    return sets, bool(exhausted), out[:count], labels


def _check_rows(sets, rows):
    for seg, row in zip(sets, rows):
        rr = [p[0] for p in seg]
        cc = [p[1] for p in seg]
        assert tuple(row) == (len(seg), min(rr), min(cc), max(rr), max(cc))


planes = st.integers(1, 14).flatmap(lambda s: st.lists(
    st.sampled_from([0, 90, 128, 129, 200]), min_size=s * s, max_size=s * s).map(
    lambda v: np.array(v, np.uint8).reshape(s, s)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plane=planes, threshold=st.sampled_from([128, 100, 0, 199.5]), min_size=st.integers(-1, 6))
def test_find_segments_matches_imagehash_and_bfs(plane, threshold, min_size):
    ours, exhausted, rows, labels = _our_segments(plane, threshold, min_size)
    want, want_exhausted = imagehash_segments(plane, threshold, min_size)
    bfs, bfs_exhausted = bfs_segments(plane, hill_table(threshold), min_size)
    assert ours == want == bfs  # same pixel sets, same order
    assert exhausted == want_exhausted == bfs_exhausted
    _check_rows(ours, rows)
    kept = np.zeros(plane.shape, bool)
    for k in range(len(ours)):
        kept |= labels == k
    assert not (labels[~kept] >= 0).any()
    if exhausted:  # the unpatched reference crashes exactly there
        with pytest.raises(IndexError):
            imagehash._find_all_segments(plane.astype(np.float32), threshold, min_size)


def test_valley_search_stops_like_imagehash():
    """The early stop drops a late valley (an enclosed pocket) that is big enough."""
    s = 40
    plane = np.zeros((s, s), np.uint8)
    plane[1:10:2, 1:10:2] = 200        # 25 one-pixel hills (never counted)
    plane[30:35, 30:35] = 200          # a ring of hills ...
    plane[31:34, 31:34] = 0            # ... around a 9-pixel valley, found last
    ours, exhausted, rows, labels = _our_segments(plane, 128, 3)
    want, want_exhausted = imagehash_segments(plane, 128, 3)
    bfs, _ = bfs_segments(plane, hill_table(128), 3)
    assert ours == want == bfs and not exhausted and not want_exhausted
    assert [len(x) for x in ours] == [16, s * s - 16 - 9 - 25]
    assert (labels[31:34, 31:34] == -2).all()


def _reference_pixels(img: np.ndarray, size: int = 300) -> np.ndarray:
    """The grey array ImageHash segments (its own Pillow pipeline)."""
    im = Image.fromarray(img).convert("L").resize((size, size), Image.LANCZOS)
    im = im.filter(ImageFilter.GaussianBlur()).filter(ImageFilter.MedianFilter())
    return np.asarray(im)


@pytest.mark.parametrize("name", ["astronaut", "camera", "coins", "text", "colorwheel"])
def test_segments_match_imagehash_on_photos(name):
    img = real_photos()[name]
    pixels = _reference_pixels(img)
    np.testing.assert_array_equal(segmentation_plane(img), pixels)
    want = imagehash._find_all_segments(pixels.astype(np.float32), 128, 500)
    labels, rows, exhausted = segment_labels(img)
    assert not exhausted
    ours = [set(zip(*np.nonzero(labels == k))) for k in range(rows.shape[0])]
    assert len(ours) == len(want) > 0
    assert ours == want
    _check_rows(ours, rows)


# --------------------------------------------------------------------------
# The whole hash vs ImageHash
# --------------------------------------------------------------------------

def test_real_photos_match_imagehash():
    names = [n for n, _ in _photos()]
    ours = _ours(img for _, img in _photos())
    for name, got, want in zip(names, ours, _photo_refs()):
        assert got == want, name
    assert any("," in s for s in ours)


def test_photo_variants_match_imagehash():
    variants = photo_variants(np.random.default_rng(4), 12)
    for img, got in zip(variants, _ours(variants)):
        assert got == ref_hash(img), img.shape


# the tiny sizes and uniform colours not listed add nothing new and cost ~0.3 s each
_SKIP_DEGENERATE = {"uniform_rgb_0", "uniform_rgb_255", "tiny_3", "tiny_5", "tiny_7", "tiny_8", "tiny_15"}


def test_degenerate_images_match_imagehash():
    imgs = {k: v for k, v in degenerate_images().items() if k not in _SKIP_DEGENERATE}
    ours = _ours(imgs.values())
    for (name, img), got in zip(imgs.items(), ours):
        assert got == ref_hash(img), name


def test_segment_order_is_discovery_order_not_size():
    """Without limit_segments ImageHash keeps hills first, then valleys."""
    img = real_photos()["coins"]
    labels, rows, _ = segment_labels(img)
    assert list(rows[:, 0]) != sorted(rows[:, 0], reverse=True)
    assert _ours([img]) == [ref_hash(img)]


def _blocky(draw_shape, cells, channels, seed):
    rng = np.random.default_rng(seed)
    h, w = draw_shape
    small = rng.integers(0, 256, (cells, cells) + ((channels,) if channels else ()), dtype=np.uint8)
    big = np.repeat(np.repeat(small, -(-h // cells), axis=0), -(-w // cells), axis=1)
    return np.ascontiguousarray(big[:h, :w])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 220), w=st.integers(1, 220), cells=st.integers(1, 9),
       channels=st.sampled_from([0, 3, 4]), noise=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_random_images_match_imagehash(h, w, cells, channels, noise, seed):
    img = _blocky((h, w), cells, channels, seed)
    if noise:
        img = np.random.default_rng(seed).integers(0, 256, img.shape, dtype=np.uint8)
    assert _ours([img]) == [ref_hash(img)]


OPTION_CASES = [
    dict(hash_func="ahash"),
    dict(hash_func="phash"),
    dict(hash_func="phash_simple"),
    dict(hash_func="dhash_vertical"),
    dict(hash_func="whash-haar"),
    dict(hash_func="whash-db4", hash_options=dict(image_scale=64)),
    dict(hash_func="colorhash"),
    dict(hash_size=16),
    dict(hash_func="ahash", hash_size=5),
    dict(segment_threshold=100),
    dict(segment_threshold=150.5),
    dict(min_segment_size=50),
    dict(min_segment_size=3000),
    dict(segmentation_image_size=64),
    dict(segmentation_image_size=17, min_segment_size=5),
    dict(segmentation_image_size=4, min_segment_size=0),
    dict(limit_segments=1),
    dict(limit_segments=3, min_segment_size=100),
]


@pytest.mark.parametrize("options", OPTION_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_options_match_imagehash(options):
    imgs = [real_photos()["chelsea"]]
    if "limit_segments" in options or "segment_threshold" in options:
        imgs.append(real_photos()["page"])
    for img, got in zip(imgs, _ours(imgs, **options)):
        assert got == ref_hash(img, **options)


# --------------------------------------------------------------------------
# Where ImageHash crashes or degenerates: documented behaviour
# --------------------------------------------------------------------------

def _checker(n: int, lo: int, hi: int) -> np.ndarray:
    return np.where(np.indices((n, n)).sum(0) % 2 == 0, lo, hi).astype(np.uint8)


def _imagehash_until_crash(img: np.ndarray, **options) -> str:
    """ImageHash, stopping its valley search where it would raise IndexError."""
    original = imagehash._find_region

    def find_region(remaining, segmented):
        if not remaining.any():
            segmented.update(("end", k) for k in range(remaining.size))
            return set()
        return original(remaining, segmented)

    with mock.patch.object(imagehash, "_find_region", find_region):
        return ref_hash(img, **options)


def test_checkerboard_crash_with_default_options():
    img = _checker(900, 1, 254)              # filtered: 127/128, all valley
    img[300:450, 300:450] = _checker(150, 2, 255)  # filtered: 128/129, 1-px hills
    with pytest.raises(IndexError):
        imagehash.crop_resistant_hash(Image.fromarray(img))
    _, rows, exhausted = segment_labels(img)
    assert exhausted and rows.shape[0] == 1
    assert _ours([img]) == [_imagehash_until_crash(img)]


def test_checkerboard_crash_without_segments_gives_whole_image():
    img = _checker(60, 0, 255)
    options = dict(segment_threshold=127, segmentation_image_size=20)
    with pytest.raises(IndexError):
        ref_hash(img, **options)
    _, rows, exhausted = segment_labels(img, **options)
    assert exhausted and rows.shape[0] == 0
    batch = crop_resistant_batch([img], **options)
    assert batch.counts[0] == 1
    assert batch.hex(0) == str(imagehash.dhash(Image.fromarray(img)))


def test_partial_crash_keeps_segments_found_so_far():
    img = _checker(60, 0, 255)
    options = dict(segment_threshold=127, min_segment_size=0, segmentation_image_size=20)
    with pytest.raises(IndexError):
        ref_hash(img, **options)
    got = _ours([img], **options)[0]
    assert got == _imagehash_until_crash(img, **options) and got.count(",") > 10


@pytest.mark.parametrize("profile", [[75, 123], [161, 108, 128, 127, 68],
                                     [129, 77, 69, 101, 117, 128, 102, 178, 139, 195]])
def test_zero_width_boxes_hash_as_black(profile):
    img = np.tile(np.array(profile, np.uint8), (40, 1))
    _, rows, _ = segment_labels(img)
    boxes = segment_boxes(rows, img.shape[1], img.shape[0], 300)
    assert ((boxes[:, 2] == boxes[:, 0]) | (boxes[:, 3] == boxes[:, 1])).any()
    methods = ("dhash", "ahash", "phash") if len(profile) == 2 else ("dhash",)
    for method in methods:
        assert _ours([img], hash_func=method) == [ref_hash(img, hash_func=method)], method


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", ["whash-haar", "colorhash"])
def test_zero_width_boxes_with_crashing_inner_hashes(method):
    """ImageHash's whash and colorhash crash on an empty crop; ours hash one black pixel."""
    img = np.tile(np.array([75, 123], np.uint8), (40, 1))
    with pytest.raises((OverflowError, ValueError)):
        ref_hash(img, hash_func=method)
    _, rows, _ = segment_labels(img)
    boxes = segment_boxes(rows, img.shape[1], img.shape[0], 300)
    func = REF_FUNCS[method]
    want = []
    for x0, y0, x1, y1 in boxes:
        crop = Image.fromarray(img).crop((x0, y0, x1, y1)) if x1 > x0 and y1 > y0 else Image.new("L", (1, 1))
        want.append(str(func(crop)))
    assert _ours([img], hash_func=method) == [",".join(want)]
    assert any(x1 == x0 for x0, _, x1, _ in boxes)


def test_zero_width_box_with_a_crashing_inner_hash_uses_one_black_pixel():
    img = np.tile(np.array([75, 123], np.uint8), (40, 1))
    seen = []

    def inner(crops, hash_size):
        seen.extend(c.shape for c in crops)
        return compute_hashes([np.full((8, 8), c.mean() if c.size else 0, np.uint8) for c in crops],
                              "ahash", hash_size)

    batch = crop_resistant_batch([img], hash_func=inner)
    assert (1, 1) in seen and batch.counts[0] == len(seen)


# --------------------------------------------------------------------------
# Batch layout and API
# --------------------------------------------------------------------------

def test_batch_layout_and_mixed_shapes():
    photos = [img for _, img in _photos()][:6]
    batch = crop_resistant_batch(photos + photos[:2])
    assert batch.nbits == 64 and batch.shape == (8, 8)
    assert batch.packed.dtype == np.uint64 and batch.counts.dtype == np.int64
    assert batch.packed.shape == (8, int(batch.counts.max()))
    for i, img in enumerate(photos):
        assert batch.hex(i) == _photo_refs()[i]
        assert batch.hex(i) == crop_resistant_batch([img]).hex(0)
        segs = segment_hashes(batch, i)
        assert segs.shape == (batch.counts[i], 1)
        assert not batch.packed[i, batch.counts[i]:].any()
        assert [int(s[0]) for s in segs] == [int(from_hex(h)[0]) for h in batch.hex(i).split(",")]
    assert batch.hex(6) == batch.hex(0)


def test_threads_give_the_same_hashes():
    photos = [img for _, img in _photos()][:5] * 2
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = crop_resistant_batch(photos)
    finally:
        numba.set_num_threads(before)
    threaded = crop_resistant_batch(photos)
    np.testing.assert_array_equal(serial.packed, threaded.packed)
    np.testing.assert_array_equal(serial.counts, threaded.counts)
    assert [serial.hex(i) for i in range(5)] == list(_photo_refs()[:5])


def test_registry_and_functional_layer():
    img = real_photos()["camera"]
    assert hash_image(img, "crop_resistant") == _photo_refs()[1]
    batch = compute_hashes([img], "crop-resistant", hash_size=8, min_segment_size=500)
    assert batch.hex(0) == _photo_refs()[1]


def test_inner_hash_with_varying_bit_counts_is_an_error():
    """whash-db4's bit count follows each crop's size unless image_scale is given."""
    with pytest.raises(ValueError, match="image_scale"):
        crop_resistant_batch([real_photos()["chelsea"]], hash_func="whash-db4")


def test_empty_batch_and_bad_options():
    batch = crop_resistant_batch([])
    assert len(batch) == 0 and batch.counts.shape == (0,) and batch.nbits == 64
    with pytest.raises(ValueError):
        crop_resistant_batch([np.zeros((8, 8), np.uint8)], segmentation_image_size=0)
    with pytest.raises(ValueError):
        crop_resistant_batch([np.zeros((8, 8), np.uint8)], hash_func="crop_resistant")


# --------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------

def _pairs():
    photos = dict(_photos())
    a = photos["astronaut"]
    crop = np.ascontiguousarray(a[60:500, 30:400])
    c = photos["coffee"]
    return [(a, crop), (a, photos["chelsea"]), (c, np.ascontiguousarray(c[:, 100:]))]


def test_multihash_difference_matches_imagehash():
    for a, b in _pairs():
        ha = imagehash.crop_resistant_hash(Image.fromarray(a))
        hb = imagehash.crop_resistant_hash(Image.fromarray(b))
        batch = crop_resistant_batch([a, b])
        sa, sb = segment_hashes(batch, 0), segment_hashes(batch, 1)
        assert multihash_difference(sa, sb, 64) == ha - hb
        assert multihash_difference(sb, sa, 64) == hb - ha
        for cutoff in (0, 5, 20, 64):
            assert multihash_difference(sa, sb, 64, cutoff=cutoff) == ha.__sub__(hb, cutoff)
            assert multihash_matches(sa, sb, 64, cutoff=cutoff) == ha.matches(hb, hamming_cutoff=cutoff)
        assert multihash_matches(sa, sb, 64) == ha.matches(hb)
        assert multihash_matches(sb, sa, 64, region_cutoff=2) == hb.matches(ha, region_cutoff=2)
        assert multihash_matches(sa, sb, 64) == (min_segment_distance(sa, sb) <= 16)


def test_multihash_difference_worked_example():
    a = np.array([[0], [0xFF], [0xFFFF_FFFF_FFFF_FFFF]], np.uint64)
    b = np.array([[0b111], [0xFFFF_FFFF_FFFF_FF00]], np.uint64)
    # minima: 3 (<= 16), 5 (<= 16), 8 (<= 16) -> 3 - (3 - 16/192)
    assert multihash_difference(a, b, 64) == 3 - (3 - 16 / 192)
    assert multihash_difference(a[:1], b[1:], 64) == 1.0  # 56 > 16: no match
    assert not multihash_matches(a[:1], b[1:], 64)
    assert multihash_difference(a, b[:0], 64) == 3.0
    assert multihash_difference(a[:0], b, 64) == 0.0


def test_min_segment_distance_brute_force():
    rng = np.random.default_rng(8)
    for _ in range(20):
        a = rng.integers(0, 2**63, (int(rng.integers(1, 6)), 2), dtype=np.uint64)
        b = rng.integers(0, 2**63, (int(rng.integers(1, 6)), 2), dtype=np.uint64)
        want = min(sum(bin(int(x) ^ int(y)).count("1") for x, y in zip(ra, rb)) for ra in a for rb in b)
        assert min_segment_distance(a, b) == want
        assert min_segment_distance(a, b, nbits=128) == want
        assert min_segment_distance(a, b) == min_segment_distance(b, a)
    with pytest.raises(ValueError):
        min_segment_distance(a[:0], b)
