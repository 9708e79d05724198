"""Pixel-level verification of candidate pairs (undouble.verify, undouble._kernels.verify)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from undouble import corpus
from undouble._kernels import verify as K
from undouble.verify import (CHROMA_SIZE, DEFAULT_PARAMS, EXTRA_BYTES, FINE_OFFSET, FINE_SIZE, REL_CROPPED, REL_DIFFERENT, REL_EDITED, REL_REENCODED, REL_RESIZED,
                             REL_SAME_PIXELS, RELATION_NAMES, THUMB_BYTES, THUMB_SIZE, is_greyscale,
                             make_thumbnail, make_thumbnails, relation_name, thumbnail_grey, verify_pairs)
from imagesets import jpeg_round_trip as _jpeg, verify_two as _verify_two

S = THUMB_SIZE




@pytest.fixture(scope="module")
def shots():
    """Shots of 4 scenes, 4 shots each (uint8 RGB, 640 x 480 as in the corpus): shot 0 is the original of each scene."""
    out = []
    for scene in range(4):
        rng = np.random.default_rng([11, scene])
        w, h = (640, 480) if scene % 2 == 0 else (480, 640)
        out.append([_jpeg(s, 92) for s in corpus._shots(rng, w, h, 4)])
    return out


EXPECTED = {
    "resize": {"resized"},
    "reencode": {"re-encoded"},
    "brightness": {"edited"},
    "contrast": {"edited"},
    "blur": {"re-encoded", "edited"},
    "grey": {"edited"},
    "watermark": {"re-encoded", "edited"},
}


@pytest.mark.parametrize("kind", sorted(EXPECTED) + ["crop", "exact copy"])
def test_accepts_every_copy_kind_with_the_right_relation(shots, kind):
    rng = np.random.default_rng(5)
    rejected = []
    for scene in shots:
        original = scene[0]
        if kind == "exact copy":
            copy = original.copy()
        else:
            copy, quality = corpus.transform(original, kind, rng)
            copy = _jpeg(copy, quality)
        res = _verify_two(original, copy)
        if not res.ok[0]:
            rejected.append(res)
            continue
        assert 0.5 <= res.similarity[0] <= 1.0
        name = res.names()[0]
        if kind == "exact copy":
            assert res.relation[0] == REL_SAME_PIXELS and name == "same pixels"
        elif kind == "crop":
            assert res.relation[0] == REL_CROPPED
            h, w = original.shape[:2]
            true_fraction = copy.shape[0] * copy.shape[1] / (h * w)
            assert abs(res.area_fraction[0] - true_fraction) < 1e-3
            assert name == f"cropped ({round(100 * true_fraction)}% of the keeper's area)"
            assert res.container[0] == 0
            swapped = _verify_two(copy, original)
            assert swapped.ok[0] and swapped.container[0] == 1
        elif kind == "grey" and is_greyscale(make_thumbnail(original))[0]:
            assert name == "re-encoded"  # the greyscale copy of a greyscale photo
        else:
            assert name in EXPECTED[kind], (kind, name)
    # The watermarks of make_corpus sit along an edge or near a corner (overlay_change); a logo that reaches
    # further than overlay_corner fine blocks (19%) into the frame is judged as any local change (1 of 4 here).
    allowed = 1 if kind == "watermark" else 0
    assert len(rejected) <= allowed, (kind, rejected)


def test_rejects_same_scene_different_shots(shots):
    pairs = rejected = 0
    for scene in shots:
        thumbs = make_thumbnails(scene)
        sizes = np.array([[s.shape[1], s.shape[0]] for s in scene])
        i, j = np.triu_indices(len(scene), 1)
        res = verify_pairs(thumbs, sizes, i, j)
        pairs += i.size
        rejected += int((~res.ok).sum())
        assert np.all(res.relation[~res.ok] == REL_DIFFERENT)
    assert rejected >= 0.9 * pairs, f"{pairs - rejected} of {pairs} hard negatives accepted"


def test_rejects_a_moved_object_and_a_panned_frame(shots):
    base = shots[0][0]
    h, w = base.shape[:2]
    edited = base.copy()
    cv2.circle(edited, (w // 2, h // 2), h // 8, (250, 30, 30), -1)
    assert not _verify_two(base, _jpeg(edited)).ok[0]
    # the camera moved by 4%: new content at the right edge
    rng = np.random.default_rng(3)
    wide = cv2.resize(base, (w * 11 // 10, h), interpolation=cv2.INTER_LINEAR)
    wide[:, w:] = rng.integers(0, 255, (h, wide.shape[1] - w, 3), dtype=np.uint8)
    d = w * 4 // 100
    assert not _verify_two(wide[:, :w], wide[:, d:w + d]).ok[0]
    # an unrelated image of the same size
    assert not _verify_two(base, shots[1][0] if shots[1][0].shape == base.shape else shots[2][0]).ok[0]


def test_greyscale_flag_and_record_layout():
    rng = np.random.default_rng(4)
    colour = cv2.resize(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), (300, 200), interpolation=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    thumbs = make_thumbnails([colour, grey, np.repeat(grey[:, :, None], 3, axis=2)])
    assert thumbs.shape == (3, THUMB_BYTES) and thumbs.dtype == np.uint8
    assert is_greyscale(thumbs).tolist() == [False, True, True]
    area = cv2.resize(colour.astype(np.float32), (S, S), interpolation=cv2.INTER_AREA)
    grey = area @ np.array([0.299, 0.587, 0.114], np.float32)
    binomial = np.array([0.25, 0.5, 0.25], np.float32)
    expected = cv2.sepFilter2D(grey, -1, binomial, binomial, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(thumbnail_grey(thumbs)[0].astype(int) - expected).max() <= 1
    # colour-difference planes: 3 x 3 cell means of (B - Y)/2 + 128 and (R - Y)/2 + 128
    cells = area.reshape(CHROMA_SIZE, 3, CHROMA_SIZE, 3, 3).mean(axis=(1, 3))
    luma = cells @ np.array([0.299, 0.587, 0.114])
    planes = thumbs[0, S * S + EXTRA_BYTES:FINE_OFFSET].reshape(2, CHROMA_SIZE, CHROMA_SIZE).astype(float)
    assert np.abs(planes[0] - ((cells[..., 2] - luma) / 2 + 128)).max() <= 0.6
    assert np.abs(planes[1] - ((cells[..., 0] - luma) / 2 + 128)).max() <= 0.6
    assert np.all(thumbs[1, S * S + EXTRA_BYTES:FINE_OFFSET] == 128)
    # the fine grey plane: the same recipe at FINE_SIZE
    assert THUMB_BYTES == FINE_OFFSET + FINE_SIZE * FINE_SIZE
    fine_area = cv2.resize(colour.astype(np.float32), (FINE_SIZE, FINE_SIZE), interpolation=cv2.INTER_AREA)
    fine_expected = cv2.sepFilter2D(fine_area @ np.array([0.299, 0.587, 0.114], np.float32), -1, binomial, binomial,
                                    borderType=cv2.BORDER_REPLICATE)
    fine = thumbs[0, FINE_OFFSET:].reshape(FINE_SIZE, FINE_SIZE).astype(int)
    assert np.abs(fine - fine_expected).max() <= 1
    assert np.array_equal(thumbs[1, FINE_OFFSET:], thumbs[2, FINE_OFFSET:])


def _reference_area(img: np.ndarray, s: int) -> np.ndarray:
    """Area average with exact pixel-overlap weights, one output pixel at a time."""
    h, w = img.shape[:2]
    img = img.reshape(h, w, -1).astype(np.float64)
    out = np.zeros((s, s, img.shape[2]))
    for v in range(s):
        for u in range(s):
            y0, y1 = v * h / s, (v + 1) * h / s
            x0, x1 = u * w / s, (u + 1) * w / s
            wy = np.clip(np.minimum(np.arange(h) + 1, y1) - np.maximum(np.arange(h), y0), 0, None)
            wx = np.clip(np.minimum(np.arange(w) + 1, x1) - np.maximum(np.arange(w), x0), 0, None)
            out[v, u] = np.einsum("y,x,yxc->c", wy, wx, img) / (wy.sum() * wx.sum())
    return out


@pytest.mark.parametrize("shape", [(48, 48, 3), (61, 100, 3), (97, 50, 1), (200, 130, 3)])
def test_area_kernel_against_reference(shape):
    img = np.random.default_rng(shape[0]).integers(0, 256, shape, dtype=np.uint8)
    out = np.empty((S, S, shape[2]), np.float32)
    K.area_bins(img, S, out)
    np.testing.assert_allclose(out, _reference_area(img, S), atol=0.02)


def _reference_compare(ga, gb, fx, fy, tx, ty, nb, edge, floor):
    """The measure written out on whole arrays: bilinear window, z-scores, block and strip residuals."""
    s = gb.shape[0]
    coords = np.arange(s) + 0.5

    def src(t, f):
        x = np.clip(t + f * coords - 0.5, 0, s - 1)
        i0 = np.minimum(x.astype(int), s - 2)
        return i0, x - i0

    yi, yw = src(ty, fy)
    xi, xw = src(tx, fx)
    A = ga.astype(np.float64)
    a = ((A[yi][:, xi] * (1 - xw) + A[yi][:, xi + 1] * xw) * (1 - yw)[:, None]
         + (A[yi + 1][:, xi] * (1 - xw) + A[yi + 1][:, xi + 1] * xw) * yw[:, None])
    b = gb.astype(np.float64)
    za = (a - a.mean()) / max(a.std(), floor)
    zb = (b - b.mean()) / max(b.std(), floor)
    r = (zb - za) ** 2
    band = (np.arange(s) * nb) // s
    blocks = np.array([r[np.ix_(band == p, band == q)].mean() for p in range(nb) for q in range(nb)])
    strips = [r[:, :edge].mean(), r[:, s - edge:].mean(), r[:edge].mean(), r[s - edge:].mean()]
    order = np.sort(blocks)[::-1]
    rho = ((a - a.mean()) * (b - b.mean())).mean() / (max(a.std(), floor) * max(b.std(), floor))
    grid = blocks.reshape(nb, nb)
    core = [grid[p, q] for p in range(1, nb - 1) for q in range(1, nb - 1)
            if not (p in (1, nb - 2) and q in (1, nb - 2))]
    return dict(glob=r.mean(), worst=order[0], second=order[1], edge=max(strips), median=np.median(blocks),
                maxdiff=np.abs(a - b).max(), rho=rho, core=max(core, default=0.0))


def _adversarial_pairs():
    rng = np.random.default_rng(2)
    smooth = cv2.resize(rng.integers(0, 256, (6, 6), dtype=np.uint8), (S, S), interpolation=cv2.INTER_CUBIC)
    yield rng.integers(0, 256, (S, S), dtype=np.uint8), rng.integers(0, 256, (S, S), dtype=np.uint8)
    yield smooth, np.clip(smooth.astype(int) * 2 - 40, 0, 255).astype(np.uint8)
    yield np.zeros((S, S), np.uint8), np.zeros((S, S), np.uint8)            # all black
    yield np.full((S, S), 200, np.uint8), np.full((S, S), 201, np.uint8)     # flat
    yield np.zeros((S, S), np.uint8), smooth                                 # flat against texture
    yield smooth, 255 - smooth                                               # inverted
    one = np.zeros((S, S), np.uint8)
    one[S // 2, S // 3] = 255
    yield one, np.zeros((S, S), np.uint8)                                    # a single pixel


@pytest.mark.parametrize("window", [(1.0, 1.0, 0.0, 0.0), (0.9, 0.85, 2.25, 5.5), (0.8, 0.8, 9.6, 0.0)])
def test_compare_kernel_against_reference(window):
    out = np.empty(K.N_COMPARE)
    for ga, gb in _adversarial_pairs():
        K.compare(ga, gb, *window, 6, 2, 4.0, out)
        ref = _reference_compare(ga, gb, *window, 6, 2, 4.0)
        got = dict(glob=out[K.C_GLOBAL], worst=out[K.C_WORST], second=out[K.C_SECOND], edge=out[K.C_EDGE],
                   median=out[K.C_MEDIAN], maxdiff=out[K.C_MAXDIFF], rho=out[K.C_RHO], core=out[K.C_WORST_CORE])
        for key in ref:
            assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-6), key


def test_tiny_flat_and_black_images_do_not_break():
    black = np.zeros((3, 2, 3), np.uint8)
    flat = np.full((5, 7), 128, np.uint8)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    imgs = [black, black.copy(), flat, noise]
    thumbs = make_thumbnails(imgs)
    sizes = np.array([[im.shape[1], im.shape[0]] for im in imgs])
    i, j = np.triu_indices(4, 1)
    res = verify_pairs(thumbs, sizes, i, j)
    verdict = dict(zip(zip(i.tolist(), j.tolist()), res.ok.tolist()))
    assert verdict[(0, 1)] and res.relation[0] == REL_SAME_PIXELS
    assert not verdict[(0, 3)] and not verdict[(2, 3)]
    assert np.all((res.similarity >= 0) & (res.similarity <= 1))
    empty = verify_pairs(thumbs, sizes, [], [])
    assert empty.ok.size == 0


def test_pairs_are_independent_and_symmetric_in_verdict(shots):
    imgs = [shots[0][0], _jpeg(shots[0][0], 60), shots[0][1], shots[1][0]]
    thumbs = make_thumbnails(imgs)
    sizes = np.array([[im.shape[1], im.shape[0]] for im in imgs])
    i, j = np.triu_indices(4, 1)
    fwd = verify_pairs(thumbs, sizes, i, j)
    back = verify_pairs(thumbs, sizes, j, i)
    np.testing.assert_array_equal(fwd.ok, back.ok)
    one = verify_pairs(thumbs, sizes, i[:1], j[:1])
    assert one.ok[0] == fwd.ok[0] and one.similarity[0] == fwd.similarity[0]
    assert fwd.ok[0] and fwd.relation[0] == REL_REENCODED


def test_relation_names_and_codes():
    assert relation_name(REL_CROPPED, 0.8712) == "cropped (87% of the keeper's area)"
    assert relation_name(REL_RESIZED) == "resized"
    assert relation_name(REL_EDITED) == "edited"
    names = set(RELATION_NAMES.values())
    for reserved in ("rotated 90", "rotated 180", "rotated 270", "mirrored", "flipped", "transposed",
                     "in a larger image", "same pixels", "re-encoded"):
        assert reserved in names
    assert len(names) == len(RELATION_NAMES)
    with pytest.raises(ValueError):
        relation_name(99)


def test_bad_input_gets_a_clear_message():
    thumbs = make_thumbnails([np.zeros((8, 8), np.uint8)] * 2)
    with pytest.raises(ValueError, match="sizes"):
        verify_pairs(thumbs, np.ones((3, 2)), [0], [1])
    with pytest.raises(IndexError):
        verify_pairs(thumbs, np.ones((2, 2)), [0], [2])
    with pytest.raises(ValueError, match="records"):
        verify_pairs(thumbs[:, :10], np.ones((2, 2)), [0], [1])
    with pytest.raises(TypeError):
        make_thumbnail(np.zeros((8, 8), np.float32))
    assert DEFAULT_PARAMS.as_array().shape == (K.N_PARAMS,)


def test_identity_fast_path_against_reference():
    """compare_identity (per-image sums + the pair's cross term) = the reference at the identity."""
    nb, edge, floor = 8, 2, 4.0
    out = np.empty(K.N_COMPARE)
    acc = np.empty((nb * nb + 4, 6))
    cross = np.empty(nb * nb + 4)
    colbuf = np.empty(S, np.int32)
    coltot = np.empty(S, np.int64)
    sums_a = np.empty((nb * nb + 4, 3))
    sums_b = np.empty((nb * nb + 4, 3))
    for ga, gb in _adversarial_pairs():
        ga = np.ascontiguousarray(ga)
        gb = np.ascontiguousarray(gb)
        K.identity_sums(ga, nb, edge, sums_a)
        K.identity_sums(gb, nb, edge, sums_b)
        K.compare_identity(ga.reshape(-1), gb.reshape(-1), sums_a, sums_b, nb, floor, acc, cross, colbuf, coltot,
                           edge, out)
        ref = _reference_compare(ga, gb, 1.0, 1.0, 0.0, 0.0, nb, edge, floor)
        got = dict(glob=out[K.C_GLOBAL], worst=out[K.C_WORST], second=out[K.C_SECOND], edge=out[K.C_EDGE],
                   median=out[K.C_MEDIAN], rho=out[K.C_RHO], core=out[K.C_WORST_CORE])
        for key in got:
            assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-6), key


@pytest.mark.parametrize("n", [1, 2, 5, 64, 65])
def test_select_is_the_kth_smallest(n):
    rng = np.random.default_rng(n)
    for values in (rng.random(n), np.zeros(n), rng.integers(0, 3, n).astype(float)):
        for k in range(n):
            assert K._select(values.copy(), k) == np.sort(values)[k]


def _reference_rank(g: np.ndarray) -> np.ndarray:
    """Mid-rank of each pixel's grey level among all pixels, scaled to 0..255 and rounded."""
    flat = g.reshape(-1).astype(int)
    below = np.array([(flat < v).sum() for v in flat])
    equal = np.array([(flat == v).sum() for v in flat])
    mid = below + 0.5 * (equal - 1)
    return np.floor(mid * 255.0 / max(flat.size - 1, 1) + 0.5).astype(np.uint8).reshape(g.shape)


def test_rank_thumbnail_against_reference_and_tone_curves():
    out = np.empty((S, S), np.uint8)
    for ga, gb in _adversarial_pairs():
        for g in (ga, gb):
            K.rank_thumbnail(np.ascontiguousarray(g), out)
            np.testing.assert_array_equal(out, _reference_rank(g))
    # any increasing tone curve that merges no levels leaves the ranks unchanged
    g = np.random.default_rng(1).permutation(np.arange(S * S) % 128).reshape(S, S).astype(np.uint8)
    ga = np.empty_like(out)
    gb = np.empty_like(out)
    K.rank_thumbnail(g, ga)
    curve = (np.arange(256) + np.arange(256) ** 2 // 128).clip(0, 255).astype(np.uint8)  # increasing on 0..127
    K.rank_thumbnail(curve[g], gb)
    np.testing.assert_array_equal(ga, gb)


def _reference_chroma_local(ca: np.ndarray, cb: np.ndarray) -> float:
    a = ca.astype(float) - ca.reshape(2, -1).mean(axis=1)[:, None, None]
    b = cb.astype(float) - cb.reshape(2, -1).mean(axis=1)[:, None, None]
    gain = (a * b).sum() / (a * a).sum() if (a * a).sum() > 1e-9 else 1.0
    gain = min(max(gain, 0.5), 2.0)
    dist = np.sqrt(((b - gain * a) ** 2).sum(axis=0))
    windows = 0.25 * (dist[:-1, :-1] + dist[1:, :-1] + dist[:-1, 1:] + dist[1:, 1:])
    return max(windows.max() - 2 * np.median(dist), 0.0)


def test_chroma_local_against_reference():
    rng = np.random.default_rng(8)
    c = CHROMA_SIZE
    smooth = np.stack([cv2.resize(rng.integers(90, 170, (4, 4), dtype=np.uint8), (c, c),
                                  interpolation=cv2.INTER_CUBIC) for _ in range(2)])
    blob = smooth.copy()
    blob[:, 5:8, 9:12] = [[[200]], [[60]]]
    cases = [(smooth, smooth), (smooth, blob), (np.full((2, c, c), 128, np.uint8), blob),
             (np.full((2, c, c), 128, np.uint8), np.full((2, c, c), 128, np.uint8)),
             (smooth, np.clip((smooth.astype(int) - 128) * 3 // 2 + 128, 0, 255).astype(np.uint8)),
             (rng.integers(0, 256, (2, c, c), dtype=np.uint8), rng.integers(0, 256, (2, c, c), dtype=np.uint8))]
    for ca, cb in cases:
        assert K.chroma_local(ca, cb) == pytest.approx(_reference_chroma_local(ca, cb), rel=1e-9, abs=1e-9)
    assert K.chroma_local(smooth, blob) > DEFAULT_PARAMS.chroma_local_max  # a new object of another hue
    assert K.chroma_local(smooth, cases[4][1]) < 1.0                         # more saturation everywhere


def test_gamma_and_clipped_copies_pass_and_an_isoluminant_object_does_not(shots):
    base = shots[0][0]
    x = base.astype(np.float32)
    for copy in (255 * (x / 255) ** 0.7, 255 * (x / 255) ** 1.4, x * 1.35, x + 35, x - 35):
        assert _verify_two(base, _jpeg(np.clip(copy, 0, 255).astype(np.uint8))).ok[0]
    # an object of another hue whose luma equals what it covers (+60 red, -30.6 green), in the two
    # colourful scenes; a greyscale-flagged image gets no colour test (a grey copy has no colour either)
    for scene in (shots[1], shots[3]):
        base = scene[0]
        h, w = base.shape[:2]
        box = (slice(h // 3, h // 3 + h // 6), slice(w // 3, w // 3 + w // 6))
        luma = base[box].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        edited = base.copy()
        edited[box] = np.clip(np.stack([luma + 60, luma - 30.6, luma], axis=2), 0, 255).astype(np.uint8)
        assert not is_greyscale(make_thumbnail(base))[0]
        assert not _verify_two(base, _jpeg(edited)).ok[0]


def _reference_local_change(ga, gb, fx, fy, tx, ty, nb, floor, eps, ring=1):
    """``local_change`` written out: the bilinear window, global z-scores, per interior block the centred share."""
    s = gb.shape[0]
    coords = np.arange(s) + 0.5

    def src(t, f):
        x = np.clip(t + f * coords - 0.5, 0, s - 1)
        i0 = np.minimum(x.astype(int), s - 2)
        return i0, x - i0

    yi, yw = src(ty, fy)
    xi, xw = src(tx, fx)
    A = ga.astype(np.float64)
    a = ((A[yi][:, xi] * (1 - xw) + A[yi][:, xi + 1] * xw) * (1 - yw)[:, None]
         + (A[yi + 1][:, xi] * (1 - xw) + A[yi + 1][:, xi + 1] * xw) * yw[:, None])
    b = gb.astype(np.float64)
    za = a / max(a.std(), floor)
    zb = b / max(b.std(), floor)
    band = (np.arange(s) * nb) // s
    shares = []
    for p in range(ring, nb - ring):
        for q in range(ring, nb - ring):
            cell = np.ix_(band == p, band == q)
            da = za[cell] - za[cell].mean()
            db = zb[cell] - zb[cell].mean()
            shares.append(((da - db) ** 2).sum() / ((da ** 2).sum() + (db ** 2).sum() + eps * da.size))
    order = np.sort(shares + [0.0, 0.0])[::-1]  # the kernel's worst and second start at 0
    return order[0], order[1]


def _adversarial_fine_pairs():
    f = FINE_SIZE
    rng = np.random.default_rng(8)
    smooth = cv2.resize(rng.integers(0, 256, (9, 9), dtype=np.uint8), (f, f), interpolation=cv2.INTER_CUBIC)
    yield rng.integers(0, 256, (f, f), dtype=np.uint8), rng.integers(0, 256, (f, f), dtype=np.uint8)
    yield smooth, np.clip(smooth.astype(int) * 2 - 40, 0, 255).astype(np.uint8)   # saturated
    yield np.zeros((f, f), np.uint8), np.zeros((f, f), np.uint8)                     # all black
    yield np.full((f, f), 200, np.uint8), np.full((f, f), 201, np.uint8)             # flat
    yield np.zeros((f, f), np.uint8), smooth                                          # flat against texture
    yield smooth, 255 - smooth                                                        # inverted
    patched = smooth.copy()
    patched[30:40, 30:40] = rng.integers(0, 256, (10, 10), dtype=np.uint8)
    yield smooth, patched                                                             # new content in 1.6%


@pytest.mark.parametrize("window", [(1.0, 1.0, 0.0, 0.0), (0.9, 0.85, 3.75, 9.2), (0.8, 0.8, 16.0, 0.0)])
def test_local_change_kernel_against_reference(window):
    out = np.empty(2)
    for ga, gb in _adversarial_fine_pairs():
        for nb, eps, ring in ((16, 0.02, 1), (10, 0.5, 1), (16, 0.02, 2)):
            K.local_change(ga, gb, *window, nb, 4.0, eps, out, ring)
            ref = _reference_local_change(ga, gb, *window, nb, 4.0, eps, ring)
            assert out[0] == pytest.approx(ref[0], rel=1e-6, abs=1e-9)
            assert out[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-9)
    # tiny: a 4 x 4 plane in 3 x 3 blocks has one interior block
    tiny = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    K.local_change(tiny, tiny[::-1].copy(), 1.0, 1.0, 0.0, 0.0, 3, 4.0, 0.02, out)
    ref = _reference_local_change(tiny, tiny[::-1].copy(), 1.0, 1.0, 0.0, 0.0, 3, 4.0, 0.02)
    assert out[0] == pytest.approx(ref[0]) and out[1] == 0.0


def test_local_change_separates_copies_from_new_content():
    f = FINE_SIZE
    rng = np.random.default_rng(9)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (f, f)).astype(np.float32), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    out = np.empty(2)
    brighter = np.clip(texture.astype(int) * 1.2 + 10, 0, 255).astype(np.uint8)
    K.local_change(texture, brighter, 1.0, 1.0, 0.0, 0.0, 16, 4.0, 0.02, out)
    assert out[0] < 0.1
    other = texture.copy()
    other[35:45, 35:45] = np.roll(texture, 23, axis=1)[35:45, 35:45]   # other texture, same statistics
    K.local_change(texture, other, 1.0, 1.0, 0.0, 0.0, 16, 4.0, 0.02, out)
    assert out[0] > DEFAULT_PARAMS.fine_worst_max and out[1] > DEFAULT_PARAMS.fine_second_max


@pytest.mark.parametrize("seed, scene, first, second", [(27, 3, 0, 1), (34, 5, 0, 2)])
def test_second_stage_rejects_what_the_coarse_thumbnail_averages_away(seed, scene, first, second):
    """Two shots of one scene that the 48 px measure alone accepts (found by searching make_corpus's shots)."""
    import dataclasses
    rng = np.random.default_rng([seed, scene])
    w, h = (640, 480) if scene % 2 == 0 else (480, 640)
    shots = [_jpeg(s, 92) for s in corpus._shots(rng, w, h, max(first, second) + 1)]
    thumbs = make_thumbnails([shots[first], shots[second]])
    sizes = np.array([[w, h], [w, h]])
    coarse_only = dataclasses.replace(DEFAULT_PARAMS, fine_worst_max=1e9, fine_second_max=1e9)
    assert verify_pairs(thumbs, sizes, [0], [1], coarse_only).ok[0]
    both = verify_pairs(thumbs, sizes, [0], [1])
    assert not both.ok[0] and both.relation[0] == REL_DIFFERENT and both.similarity[0] < 0.5
    # and a re-encoded copy passes both stages
    copy = make_thumbnails([shots[first], _jpeg(shots[first], 80)])
    assert verify_pairs(copy, sizes, [0], [1]).ok[0]


def test_noise_widens_the_thresholds_of_low_contrast_pairs_only():
    """score_of divides by 1 + (noise / contrast)^2: a low-contrast pair gets room for a few grey levels
    of resampling noise, a contrasted one practically none."""
    import dataclasses

    from undouble.verify import DEFAULT_PARAMS

    cmp = np.zeros(K.N_COMPARE)
    cmp[K.C_RHO] = 0.9
    cmp[K.C_WORST_IN] = 0.2
    cmp[K.C_MEDIAN] = 0.01
    off = dataclasses.replace(DEFAULT_PARAMS, noise=0.0).as_array()
    on = dataclasses.replace(DEFAULT_PARAMS, noise=6.0).as_array()
    for contrast, widen in ((10.0, 1.36), (60.0, 1.01)):
        cmp[K.C_STD_A] = cmp[K.C_STD_B] = contrast
        assert K.score_of(cmp, off) == pytest.approx(K.score_of(cmp, on) * widen)
    cmp[K.C_STD_A] = 2.0  # under sigma_floor: the floor is the contrast
    assert K.score_of(cmp, off) == pytest.approx(K.score_of(cmp, on) * (1 + (6.0 / on[K.P_SIGMA_FLOOR]) ** 2))


def test_chroma_noise_widens_the_colour_test_of_near_grey_planes():
    import dataclasses

    from undouble.verify import DEFAULT_PARAMS

    rng = np.random.default_rng(3)
    ea = np.array([120, 118, 121, 3, 0, 0, 0, 0], np.uint8)
    ca = (128 + rng.normal(0, 2, (2, CHROMA_SIZE, CHROMA_SIZE))).clip(0, 255).astype(np.uint8)
    cb = ca.copy()
    cb[:, :4, :4] = np.clip(cb[:, :4, :4].astype(int) + 3, 0, 255)  # a few levels of change in one corner
    off = dataclasses.replace(DEFAULT_PARAMS, chroma_noise=0.0).as_array()
    on = dataclasses.replace(DEFAULT_PARAMS, chroma_noise=4.0).as_array()
    s = DEFAULT_PARAMS.as_array()
    loose = K.chroma_score(ca, cb, ea, ea, 1.0, 1.0, 0.0, 0.0, 48, on)
    strict = K.chroma_score(ca, cb, ea, ea, 1.0, 1.0, 0.0, 0.0, 48, off)
    assert loose < strict
    grey = ea.copy()
    grey[4] = 1  # a greyscale image has no colour test at all
    assert K.chroma_score(ca, cb, grey, ea, 1.0, 1.0, 0.0, 0.0, 48, on) == 0.0
    assert s[K.P_CHROMA_NOISE] == 4.0


def _reference_identity_sums(ga, gb, nb, edge):
    """Block and border-strip sums of a, b, a*a, b*b, a*b and the pixel count, with numpy integers."""
    a, b = ga.astype(np.int64), gb.astype(np.int64)
    s = a.shape[0]
    terms = [a, b, a * a, b * b, a * b]
    band = (np.arange(s) * nb) // s
    out = np.zeros((nb * nb + 4, 6))
    for p in range(nb):
        for q in range(nb):
            cell = np.ix_(band == p, band == q)
            out[p * nb + q] = [t[cell].sum() for t in terms] + [a[cell].size]
    left = np.arange(s) < edge
    right = (np.arange(s) >= s - edge) & ~left
    for k, (rows, cols) in enumerate([(slice(None), left), (slice(None), right),
                                      (np.arange(s) < edge, slice(None)),
                                      ((np.arange(s) >= s - edge) & ~(np.arange(s) < edge), slice(None))]):
        out[nb * nb + k] = [t[rows][:, cols].sum() for t in terms] + [a[rows][:, cols].size]
    return out


@pytest.mark.parametrize("s, nb, edge", [(48, 8, 2), (80, 16, 0), (16, 4, 1), (50, 6, 3), (7, 3, 4), (9, 9, 1)])
def test_accumulate_identity_is_exactly_the_integer_sums(s, nb, edge):
    rng = np.random.default_rng(s * 100 + nb)
    for ga, gb in [(rng.integers(0, 256, (s, s), dtype=np.uint8), rng.integers(0, 256, (s, s), dtype=np.uint8)),
                   (np.full((s, s), 255, np.uint8), np.full((s, s), 255, np.uint8)),
                   (np.zeros((s, s), np.uint8), np.full((s, s), 255, np.uint8))]:
        acc = np.zeros((nb * nb + 4, 6))
        K._accumulate_identity(ga, gb, nb, edge, acc)
        np.testing.assert_array_equal(acc, _reference_identity_sums(ga, gb, nb, edge))


def _reference_window_sums(ga, gb, fx, fy, tx, ty, nb, edge):
    """``_accumulate_window`` written out in plain Python: the bilinear samples of A (rows first), then per
    block the column sums over the block's rows, added column by column; strips the same way."""
    s = gb.shape[0]

    def coord(t, f, i):
        x = min(max(t + f * (i + 0.5) - 0.5, 0.0), s - 1.0)
        i0 = min(int(x), s - 2)
        return i0, x - i0

    a = np.empty((s, s))
    for v in range(s):
        yi, yw = coord(ty, fy, v)
        row = [float(ga[yi, x]) * (1.0 - yw) + float(ga[yi + 1, x]) * yw for x in range(s)]
        for u in range(s):
            xi, xw = coord(tx, fx, u)
            a[v, u] = row[xi] * (1.0 - xw) + row[xi + 1] * xw
    b = gb.astype(np.float64)
    terms = [a, b, a * a, b * b, a * b]
    out = np.zeros((nb * nb + 4, 6))
    band = [(v * nb) // s for v in range(s)]
    for p in range(nb):
        rows = [v for v in range(s) if band[v] == p]
        for u in range(s):
            k = p * nb + (u * nb) // s
            for q, t in enumerate(terms):
                column = 0.0
                for v in rows:
                    column += t[v, u]
                out[k, q] += column
            out[k, 5] += len(rows)
    for j, rows in ((2, [v for v in range(s) if v < edge]), (3, [v for v in range(s) if edge <= v >= s - edge])):
        for v in rows:
            for u in range(s):
                for q, t in enumerate(terms):
                    out[nb * nb + j, q] += t[v, u]
            out[nb * nb + j, 5] += s
    for j, cols in ((0, [u for u in range(s) if u < edge]), (1, [u for u in range(s) if edge <= u >= s - edge])):
        for u in cols:
            for q, t in enumerate(terms):
                column = 0.0
                for p in range(nb):
                    part = 0.0
                    for v in range(s):
                        if band[v] == p:
                            part += t[v, u]
                    column += part
                out[nb * nb + j, q] += column
            out[nb * nb + j, 5] += s
    return out, float(np.abs(a - b).max())


@pytest.mark.parametrize("s, nb, edge, window", [(48, 8, 2, (0.9, 0.85, 2.25, 5.5)), (80, 16, 0, (0.8, 0.8, 16.0, 0.0)),
                                                 (50, 6, 3, (0.93, 0.8, 1.7, 9.1)), (9, 3, 5, (0.85, 0.9, 0.6, 0.3))])
def test_accumulate_window_is_the_plain_sums_in_their_order(s, nb, edge, window):
    rng = np.random.default_rng(s + nb)
    ga = rng.integers(0, 256, (s, s), dtype=np.uint8)
    gb = rng.integers(0, 256, (s, s), dtype=np.uint8)
    acc = np.zeros((nb * nb + 4, 6))
    maxdiff = K._accumulate_window(ga, gb, *window, nb, edge, acc)
    ref, ref_max = _reference_window_sums(ga, gb, *window, nb, edge)
    np.testing.assert_array_equal(acc, ref)
    assert maxdiff == ref_max
