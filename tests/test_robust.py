"""Robust mode (undouble.robust, undouble._kernels.robust): orientations, crops, containment."""
from __future__ import annotations

import dataclasses

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from undouble import corpus
from undouble import robust as R
from undouble import robust_grouping as RG
from undouble import robust_refine as RR
from undouble._kernels import robust as K
from undouble.verify import make_thumbnail, make_thumbnails


def _bits(word: int, nbits: int = 64) -> np.ndarray:
    return np.array([(int(word) >> (nbits - 1 - k)) & 1 for k in range(nbits)], bool)


def _smooth_images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w), np.uint8)
    for i in range(n):
        grid = rng.uniform(0, 255, (6, 6)).astype(np.float32)
        img = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 8, (h, w))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


# ------------------------------------------------------------------ kernels against references
def test_orientation_hashes_match_imagehash_on_transformed_images():
    """The 8 hashes from one DCT equal ImageHash's phash of the actually rotated / flipped image."""
    grey = _smooth_images(12, 32, 32)
    got = np.zeros((len(grey), 8), np.uint64)
    K.orientation_hashes(grey, 8, got)
    for i, img in enumerate(grey):
        for o in range(8):
            moved = R.orient_array(img, o)
            want = imagehash.phash(Image.fromarray(moved)).hash.reshape(-1)
            np.testing.assert_array_equal(_bits(got[i, o]), want, err_msg=f"image {i} orientation {o}")


def test_orient_array_codes():
    a = np.arange(6).reshape(2, 3)
    assert np.array_equal(R.orient_array(a, 1), np.rot90(a, -1))
    assert np.array_equal(R.orient_array(a, 3), np.rot90(a, 1))
    assert np.array_equal(R.orient_array(a, 4), a[:, ::-1])
    assert np.array_equal(R.orient_array(a, 5), a[::-1])
    assert np.array_equal(R.orient_array(a, 6), a.T)
    for o in range(8):
        back = R.orient_array(R.orient_array(a, o), R.INVERSE_ORIENTATION[o])
        assert np.array_equal(back, a), o


def _window_hash_reference(img: np.ndarray, window, nfreq: int = 8, sign: bool = False) -> np.ndarray:
    """Slow reference: the window's low nfreq x nfreq DCT by explicit sums over covered pixel parts, each bit
    the coefficient above the median (``sign``: above 0)."""
    h, w = img.shape
    x0, y0, x1, y1 = window[0] * w, window[1] * h, window[2] * w, window[3] * h

    def basis(length, lo, hi):
        out = np.zeros((nfreq, length))
        for x in range(length):
            a, b = max(lo, x), min(hi, x + 1)
            if b > a:
                u = ((a + b) / 2 - lo) / (hi - lo)
                out[:, x] = (b - a) * np.cos(np.pi * np.arange(nfreq) * u)
        return out

    coef = basis(h, y0, y1) @ img.astype(float) @ basis(w, x0, x1).T
    return (coef > (0.0 if sign else np.median(coef))).reshape(-1)


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_median_by_ranks_matches_numpy(n):
    """The median by ranks equals numpy's on random values, heavy ties and constant rows."""
    rng = np.random.default_rng(n)
    rows = [rng.normal(size=n), np.round(rng.normal(size=n)), np.full(n, 3.0), np.sort(rng.normal(size=n)),
            np.sort(rng.normal(size=n))[::-1].copy(), rng.integers(0, 2, n).astype(float)]
    for row in rows:
        buf = np.zeros(64)
        buf[:n] = row
        got = K._median_by_ranks(buf, n, np.empty(64))
        assert got == np.median(row)
        assert buf[:n].tolist() == row.tolist()  # left as it was


def test_grid_window_hashes_match_reference():
    grey = _smooth_images(3, 48, 48, seed=1)
    xints = np.array([[0.0, 1.0], [0.1, 0.7], [0.33, 0.91]])
    yints = np.array([[0.0, 1.0], [0.25, 0.8]])
    out = np.zeros((3, 6), np.uint64)
    K.grid_window_hashes(grey, xints, yints, 8, out)
    for i in range(3):
        for b, (ylo, yhi) in enumerate(yints):
            for a, (xlo, xhi) in enumerate(xints):
                want = _window_hash_reference(grey[i], (xlo, ylo, xhi, yhi))
                np.testing.assert_array_equal(_bits(out[i, b * 3 + a]), want)
    # other sizes go through the generic loop (8 through eight running sums): the same reference
    for nfreq in (4, 6):
        small = np.zeros((3, 6), np.uint64)
        K.grid_window_hashes(grey, xints, yints, nfreq, small)
        for i in range(3):
            for b, (ylo, yhi) in enumerate(yints):
                for a, (xlo, xhi) in enumerate(xints):
                    want = _window_hash_reference(grey[i], (xlo, ylo, xhi, yhi), nfreq)
                    np.testing.assert_array_equal(_bits(small[i, b * 3 + a], nfreq * nfreq), want)
    # the full-frame window is the upright orientation hash
    full = np.zeros((3, 8), np.uint64)
    K.orientation_hashes(grey, 8, full)
    np.testing.assert_array_equal(out[:, 0], full[:, 0])


@pytest.mark.parametrize("nfreq", [8, 6])
def test_grid_window_sign_hashes_match_reference(nfreq):
    """The sign hashes of the crop search: each bit a cosine coefficient above 0, not the median."""
    grey = _smooth_images(3, 48, 48, seed=3)
    xints = np.array([[0.0, 1.0], [0.1, 0.7], [0.33, 0.91], [0.5, 1.0]])
    yints = np.array([[0.0, 1.0], [0.25, 0.8], [0.05, 0.6]])
    out = np.zeros((3, 12), np.uint64)
    K.grid_window_hashes(grey, xints, yints, nfreq, out, True)
    median = np.zeros((3, 12), np.uint64)
    K.grid_window_hashes(grey, xints, yints, nfreq, median)
    assert (out != median).any()  # another hash than the median's
    for i in range(3):
        for b, (ylo, yhi) in enumerate(yints):
            for a, (xlo, xhi) in enumerate(xints):
                want = _window_hash_reference(grey[i], (xlo, ylo, xhi, yhi), nfreq, sign=True)
                np.testing.assert_array_equal(_bits(out[i, b * 4 + a], nfreq * nfreq), want)
    # the index side of the search: the same hash of the whole thumbnail
    thumbs = make_thumbnails([np.dstack([g] * 3) for g in _smooth_images(4, 60, 80, seed=4)])
    grey48 = R._grey(thumbs)
    whole = R.window_index_hashes(thumbs)
    for i in range(4):
        want = _window_hash_reference(grey48[i], (0.0, 0.0, 1.0, 1.0), sign=True)
        np.testing.assert_array_equal(_bits(whole[i]), want)


def _window_coef_reference(img: np.ndarray, window) -> np.ndarray:
    """The 8 x 8 float64 coefficients of :func:`_window_hash_reference` (its sign hash: ``coef > 0``)."""
    h, w = img.shape
    x0, y0, x1, y1 = window[0] * w, window[1] * h, window[2] * w, window[3] * h

    def basis(length, lo, hi):
        out = np.zeros((8, length))
        for x in range(length):
            a, b = max(lo, x), min(hi, x + 1)
            if b > a:
                out[:, x] = (b - a) * np.cos(np.pi * np.arange(8) * (((a + b) / 2 - lo) / (hi - lo)))
        return out

    return basis(h, y0, y1) @ img.astype(float) @ basis(w, x0, x1).T


def test_grid_sign_hashes_match_reference_on_photos():
    """The float32 matrix products of grid_sign_hashes give the sign hash of every window of the grid, on the
    thumbnails of real photos and flat or black images, a bit other than the float64 reference's only where
    that coefficient is within rounding of 0 (on a flat image all but the DC one are: their signs are
    rounding noise in float64 too)."""
    from imagesets import real_photos

    images = [np.dstack([p] * 3) if p.ndim == 2 else p[..., :3] for p in real_photos().values()]
    images += [np.zeros((40, 60, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)]
    grey = R._grey(make_thumbnails(images))
    ints = R.window_grid()[::7]  # 8 of the 50 intervals: 64 windows per image
    got = R.grid_sign_hashes(grey, ints, ints)
    assert got.shape == (len(images), len(ints) ** 2)
    close, checked = 0, 0
    for i in range(len(images)):
        for b, (ylo, yhi) in enumerate(ints):
            for a, (xlo, xhi) in enumerate(ints):
                coef = _window_coef_reference(grey[i], (xlo, ylo, xhi, yhi)).reshape(-1)
                wrong = _bits(got[i, b * len(ints) + a]) != (coef > 0)
                scale = np.abs(coef).max()
                assert (np.abs(coef[wrong]) <= 1e-5 * scale).all(), (i, a, b, coef[wrong], scale)
                if i < len(images) - 2:
                    close += int(wrong.sum())
                    checked += coef.size
    assert close <= checked // 10_000  # the photos: none at all here
    assert (got[-2] == 0).all()  # black: every coefficient exactly 0, no bit set
    assert (got[-1] >> np.uint64(63) == 1).all()  # flat: the DC coefficient is above 0
    # the chunks of the matrix products do not change a hash
    np.testing.assert_array_equal(R.grid_sign_hashes(grey[3:], ints, ints), got[3:])


@pytest.mark.parametrize("nfreq", [1, 2, 8])
def test_axis_basis_by_recurrence_matches_the_cosines(nfreq):
    """The Chebyshev recurrence of the grid's and the boxes' bases gives _axis_basis' weights (one cosine per
    weight) up to rounding, for intervals inside, across and beyond the ends of the axis."""
    rng = np.random.default_rng(nfreq)
    for _ in range(200):
        lo = rng.uniform(-5, 40)
        hi = lo + rng.uniform(0.3, 48)
        want, got = np.full((nfreq, 48), np.nan), np.full((nfreq, 48), np.nan)
        K._axis_basis(48, lo, hi, nfreq, want)
        K._axis_basis(48, lo, hi, nfreq, got, True)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _window_record_reference(record: np.ndarray, window) -> np.ndarray:
    """Reference for :func:`undouble._kernels.window_record.window_record` in numpy: each plane sampled
    bilinearly (float32) at the centres of its output pixels mapped into the window, edges replicated
    (what ``cv2.warpAffine`` with INTER_LINEAR and BORDER_REPLICATE does in OpenCV 5), rounded; the colour
    facts from the float64 means."""
    from undouble import verify as V

    def plane_window(plane, size):
        x0, y0, x1, y1 = window
        fx = (x1 - x0) * np.arange(size) + (x0 * size + 0.5 * (x1 - x0) - 0.5)
        fy = (y1 - y0) * np.arange(size) + (y0 * size + 0.5 * (y1 - y0) - 0.5)
        ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
        tx, ty = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)[:, None]
        xa, xb = np.clip(ix, 0, size - 1), np.clip(ix + 1, 0, size - 1)
        ya, yb = np.clip(iy, 0, size - 1), np.clip(iy + 1, 0, size - 1)
        p = plane.astype(np.float32)
        top = p[ya][:, xa] + tx * (p[ya][:, xb] - p[ya][:, xa])
        bottom = p[yb][:, xa] + tx * (p[yb][:, xb] - p[yb][:, xa])
        return top + ty * (bottom - top)

    s, c, f = V.THUMB_SIZE, V.CHROMA_SIZE, V.FINE_SIZE
    out = record.copy()
    planes = {}
    for name, start, side in (("y", 0, s), ("cb", s * s + V.EXTRA_BYTES, c), ("cr", s * s + V.EXTRA_BYTES + c * c, c),
                              ("fine", V.FINE_OFFSET, f)):
        planes[name] = plane_window(record[start:start + side * side].reshape(side, side), side)
        out[start:start + side * side] = np.clip(np.rint(planes[name]), 0, 255).astype(np.uint8).reshape(-1)
    if record[s * s + 4] == 0:
        y = float(planes["y"].astype(np.float64).mean())
        blue, red = y + 2 * (planes["cb"].astype(np.float64).mean() - 128), y + 2 * (planes["cr"].astype(np.float64).mean() - 128)
        out[s * s:s * s + 3] = np.clip(np.rint([red, (y - 0.299 * red - 0.114 * blue) / 0.587, blue]), 0, 255)
    return out


def test_window_record_kernel_matches_the_reference():
    """Windows inside, across and beyond the frame of colour and grey records: the reference's bytes."""
    images = [_photo(40 + k, 300 + 37 * k, 240 - 11 * k) for k in range(4)]
    images.append(cv2.cvtColor(cv2.cvtColor(images[0], cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB))
    records = make_thumbnails(images)
    assert records[-1, 48 * 48 + 4] == 1 and records[0, 48 * 48 + 4] == 0  # a grey and a colour record
    rng = np.random.default_rng(8)
    for record in records:
        for _ in range(40):
            x0, y0 = rng.uniform(-0.1, 0.5, 2)
            window = (x0, y0, x0 + rng.uniform(0.3, 0.8), y0 + rng.uniform(0.3, 0.8))
            np.testing.assert_array_equal(RR._window_record(record, window), _window_record_reference(record, window))


def test_box_grid_hashes_match_grid_window_hashes():
    grey = _smooth_images(4, 48, 48, seed=2)
    rng = np.random.default_rng(5)
    owners = np.array([3, 0, 3, 1])
    lo = rng.uniform(0.0, 0.3, (4, 3, 2))
    xints = np.stack([lo[..., 0], lo[..., 0] + rng.uniform(0.5, 0.7, (4, 3))], axis=2)
    yints = np.stack([lo[..., 1], lo[..., 1] + rng.uniform(0.5, 0.7, (4, 3))], axis=2)
    for sign in (False, True):
        out = np.zeros((4, 9), np.uint64)
        K.box_grid_hashes(grey, owners, xints, yints, 8, out, sign)
        for k, i in enumerate(owners):
            want = np.zeros((1, 9), np.uint64)
            K.grid_window_hashes(grey[i:i + 1], xints[k], yints[k], 8, want, sign)
            np.testing.assert_array_equal(out[k], want[0])


def _content_boxes_reference(plane, step, fraction):
    """content_boxes by its definition, with plain Python lists."""
    f = plane.shape[0]
    p = plane.astype(int)

    def surplus(along_rows):
        out = [0]
        for k in range(1, f):
            d = (p[k] - p[k - 1]) if along_rows else (p[:, k] - p[:, k - 1])
            out.append(abs(int((d > step).sum()) - int((d < -step).sum())))
        return out

    def two_best(counts, lo, hi):
        ok = [k for k in range(lo, hi) if counts[k] >= int(fraction * f)]
        if not ok:
            return [-1]
        first = max(ok, key=lambda k: (counts[k], -k))
        rest = [k for k in ok if abs(k - first) > max(1, f // 20)]
        return [first] + ([max(rest, key=lambda k: (counts[k], -k))] if rest else [])

    def centre(counts, k):
        lo, hi = k, k
        while lo - 1 >= 1 and counts[lo - 1] >= counts[k] / 2:
            lo -= 1
        while hi + 1 < f and counts[hi + 1] >= counts[k] / 2:
            hi += 1
        return sum(counts[t] * t for t in range(lo, hi + 1)) / sum(counts[lo:hi + 1])

    cols, rows = surplus(False), surplus(True)
    sides = [two_best(cols, 1, f // 2), two_best(rows, 1, f // 2), two_best(cols, f // 2, f), two_best(rows, f // 2, f)]
    out = []
    for x0 in sides[0]:
        for y0 in sides[1]:
            for x1 in sides[2]:
                for y1 in sides[3]:
                    if max(x0, y0, x1, y1) < 0:
                        continue
                    out.append((centre(cols, x0) / f if x0 >= 0 else 0.0, centre(rows, y0) / f if y0 >= 0 else 0.0,
                                centre(cols, x1) / f if x1 >= 0 else 1.0, centre(rows, y1) / f if y1 >= 0 else 1.0))
    return out


def test_content_boxes_match_reference_and_find_a_pasted_photo():
    rng = np.random.default_rng(9)
    screen = np.full((80, 80), 235, np.uint8)
    screen[:4] = 60  # a title bar
    photo = _smooth_images(1, 40, 44, seed=3)[0] // 2  # darker than the screen
    screen[20:60, 28:72] = photo  # x 0.35..0.9, y 0.25..0.75
    planes = np.stack([screen, _smooth_images(1, 80, 80, seed=4)[0], rng.integers(0, 256, (80, 80)).astype(np.uint8)])
    out = np.empty((3, 16, 4))
    K.content_boxes(planes, 6, 0.25, 0.0, out)  # every box
    for i in range(3):
        got = [tuple(b) for b in out[i] if not np.isnan(b[0])]
        want = _content_boxes_reference(planes[i], 6, 0.25)
        np.testing.assert_allclose(sorted(got), sorted(want), atol=1e-12)
    framed = np.empty((3, 16, 4))
    K.content_boxes(planes, 6, 0.25, 0.4, framed)  # only those with a flat outside
    for i in range(3):
        kept = [tuple(b) for b in framed[i] if not np.isnan(b[0])]
        assert set(kept) <= {tuple(b) for b in out[i] if not np.isnan(b[0])}
        if i == 0:
            best = min(kept, key=lambda b: np.abs(np.array(b) - np.array([0.35, 0.25, 0.9, 0.75])).max())
            assert np.abs(np.array(best) - np.array([0.35, 0.25, 0.9, 0.75])).max() <= 1.0 / 80
        else:  # a photo's own edges have more photo outside them, not a screen
            assert kept == []
    assert not np.isnan(out[1, :, 0]).all()  # the smooth photo had boxes before the frame test


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_query_index_matches_brute_force(radius):
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 300).astype(np.uint64)
    # queries: noisy copies of some rows (0..9 flipped bits) plus random words
    q = []
    for k in range(200):
        word = int(base[k % 300])
        for bit in rng.choice(64, int(rng.integers(0, 10)), replace=False):
            word ^= 1 << int(bit)
        q.append(word)
    q = np.array(q + list(rng.integers(0, 2**63, 50, dtype=np.uint64)), np.uint64)
    owners = rng.integers(0, 300, q.size)
    threshold = 4 * (radius + 1) - 1
    qi, j, d = R.search_pairs(q, owners, base, threshold, radius=radius)
    got = set(zip(qi.tolist(), j.tolist()))
    assert len(got) == qi.size  # each pair once
    want = set()
    for a in range(q.size):
        dist = np.array([bin(int(q[a]) ^ int(x)).count("1") for x in base])
        for b in np.flatnonzero(dist <= threshold):
            if b != owners[a]:
                want.add((a, int(b)))
    assert got == want
    assert all(bin(int(q[a]) ^ int(base[b])).count("1") == dd for a, b, dd in zip(qi, j, d))


def test_build_index_marks_the_occupied_buckets():
    """The occupancy bits that let a query skip empty buckets: set exactly for the keys some hash has."""
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**63, 500, dtype=np.uint64)
    starts, rows, keyed, occupied = K.build_index(hashes, R._SHIFTS, R._KEYBITS)
    for c, shift in enumerate(R._SHIFTS):
        keys = {(int(h) >> int(shift)) & 0xFFFF for h in hashes}
        bits = {64 * word + bit for word in range(occupied.shape[1]) for bit in range(64)
                if (int(occupied[c, word]) >> bit) & 1}
        assert bits == keys
        assert np.array_equal(np.sort(rows[c]), np.arange(500))
        np.testing.assert_array_equal(keyed[c], hashes[rows[c]])


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_near_buckets_marks_every_key_within_the_radius_of_an_occupied_one(radius):
    """The dilated bitmap that lets a query skip a chunk on one look-up, against a set computed key by key
    (8-bit keys: 256 of them)."""
    rng = np.random.default_rng(11 + radius)
    keys = rng.choice(256, 9, replace=False)
    occupied = np.zeros((1, 4), np.uint64)
    for key in keys:
        occupied[0, key >> 6] |= np.uint64(1) << np.uint64(key & 63)
    near = K.near_buckets(occupied, 8, radius)
    want = {other for other in range(256) for key in keys if bin(int(key) ^ other).count("1") <= radius}
    got = {64 * word + bit for word in range(4) for bit in range(64) if (int(near[0, word]) >> bit) & 1}
    assert got == want
    assert len(want) < 256  # some keys are far from all: the skip is tested


def test_orient_thumbnail_equals_thumbnail_of_rotated_image():
    rng = np.random.default_rng(3)
    grid = rng.uniform(0, 255, (5, 7, 3)).astype(np.float32)
    img = np.clip(cv2.resize(grid, (140, 100), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    rec = make_thumbnail(img)
    for o in range(8):
        want = make_thumbnail(R.orient_array(img, o)).astype(int)
        got = R.orient_thumbnail(rec, o).astype(int)
        assert np.abs(got - want).max() <= 1, o


# ------------------------------------------------------------------ finding and rejecting
def _load(folder, rows):
    imgs, sizes = [], []
    for name, _, _ in rows:
        im = cv2.cvtColor(cv2.imread(str(folder / name)), cv2.COLOR_BGR2RGB)
        sizes.append((im.shape[1], im.shape[0]))
        imgs.append(im)
    small = np.stack([cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in imgs])
    return make_thumbnails(imgs), np.array(sizes), small


@pytest.fixture(scope="module")
def robust_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robust_corpus")
    truth = corpus.make_corpus(folder, 8, shots_per_scene=2, copies_per_shot=len(corpus.ROBUST_KINDS),
                               kinds="robust", size_range=(300, 420), seed=11, workers=1)
    rows = corpus.read_truth(truth)
    thumbs, sizes, small = _load(folder, rows)
    links = R.find_robust_links(thumbs, sizes, images=small)
    return rows, links, folder


def _linked(links):
    pairs = {}
    for k in range(len(links)):
        pairs[(int(links.a[k]), int(links.b[k]))] = k
        pairs[(int(links.b[k]), int(links.a[k]))] = k
    return pairs


def test_every_robust_kind_is_found(robust_corpus):
    rows, links, _ = robust_corpus
    pairs = _linked(links)
    original = {g: i for i, (_, g, label) in enumerate(rows) if label == "original"}
    found, total = {}, {}
    for i, (_, g, label) in enumerate(rows):
        if label in ("original", "stretch"):  # a stretch is an upright full-frame copy: the normal search's
            continue
        total[label] = total.get(label, 0) + 1
        found[label] = found.get(label, 0) + ((i, original[g]) in pairs)
    assert set(total) == set(corpus.ROBUST_KINDS) - {"stretch"}
    for label in total:
        # 0.8 on these few small files; the target of 0.9 per kind is measured by benchmarks/bench_robust.py
        assert found[label] >= 0.8 * total[label], (label, found[label], total[label])


def test_relation_names(robust_corpus):
    rows, links, _ = robust_corpus
    pairs = _linked(links)
    original = {g: i for i, (_, g, label) in enumerate(rows) if label == "original"}
    expect = {"rotate90": "rotated 90", "rotate180": "rotated 180", "rotate270": "rotated 270",
              "mirror": "mirrored", "flip": "flipped", "transpose": "transposed"}
    checked = 0
    for i, (_, g, label) in enumerate(rows):
        keeper = original[g]
        k = pairs.get((i, keeper))
        if k is None:
            continue
        if label in expect:
            assert RG.member_relations(np.array([keeper, i]), links)[1] == expect[label]
            # seen from the copy, the original is turned back
            back = RG.member_relations(np.array([i, keeper]), links)[1]
            assert back == {"rotate90": "rotated 270", "rotate270": "rotated 90"}.get(label, expect[label])
            checked += 1
        elif label in ("crop25", "crop_downscale"):
            name = RG.member_relations(np.array([keeper, i]), links)[1]
            assert name.startswith("cropped (") and name.endswith("% of the keeper's area)")
            percent = int(name[len("cropped ("):].split("%")[0])
            assert 25 <= percent <= 90, name
            checked += 1
        elif label in ("letterbox", "screenshot"):  # the copy contains the original
            assert RG.container_first(np.array([keeper, i]), links)[0] == i
            assert RG.member_relations(np.array([keeper, i]), links)[1] == "in a larger image"
            checked += 1
    assert checked >= 40


def test_far_rule_keeps_every_true_link_and_checks_less(robust_corpus, monkeypatch):
    """With verified groups (each original with its stretched copies: pictures of a scene that have verified
    copies), skipping the far window candidates between them keeps every link between copies of one
    shot that checking all of them finds, and checks fewer candidates."""
    rows, _, folder = robust_corpus
    thumbs, sizes, small = _load(folder, rows)
    groups = {}
    for i, (_, g, label) in enumerate(rows):
        if label in ("original", "stretch"):
            groups.setdefault(g, []).append(i)
    known = np.full(len(rows), -1)
    for k, members in enumerate(groups.values()):
        known[members] = k
    assert (np.bincount(known[known >= 0]) >= 2).sum() >= 8  # shots with a verified copy: anchored
    checked = []
    real = R.verify_windows
    monkeypatch.setattr(R, "verify_windows", lambda th, sz, a, *args, **kw: checked.append(len(a)) or
                        real(th, sz, a, *args, **kw))
    every = R.find_robust_links(thumbs, sizes, dataclasses.replace(R.DEFAULT_ROBUST, near_threshold=-1),
                                images=small, known_groups=known)
    all_checks = sum(checked)
    checked.clear()
    ruled = R.find_robust_links(thumbs, sizes, images=small, known_groups=known)
    assert sum(checked) < all_checks
    shot = [g for _, g, _ in rows]

    def true_pairs(links):
        return {(min(a, b), max(a, b)) for a, b in zip(links.a.tolist(), links.b.tolist()) if shot[a] == shot[b]}

    assert true_pairs(every) and true_pairs(ruled) >= true_pairs(every)


def test_distinct_shots_of_a_scene_are_not_linked(robust_corpus):
    rows, links, _ = robust_corpus
    originals = [i for i, (_, _, label) in enumerate(rows) if label == "original"]
    pairs = _linked(links)
    for a in originals:
        for b in originals:
            if a < b:
                assert (a, b) not in pairs, (rows[a][0], rows[b][0])


def test_orientation_checks_beside_the_window_search_give_the_same_links(robust_corpus, monkeypatch):
    """The orientation checks run in a thread beside the window search where Numba's threading layer allows
    two parallel kernels at once; the links are those of running them first, and without such a layer
    they are never run beside."""
    rows, links, folder = robust_corpus
    thumbs, sizes, small = _load(folder, rows)
    from undouble._kernels import hamming

    hamming.dense_1w(np.arange(8, dtype=np.uint64), np.zeros((8, 8), np.int64))  # a parallel kernel: Numba picks its layer
    started = []
    real_background = R._background

    def counted(work):
        started.append(work)
        return real_background(work)

    monkeypatch.setattr(R, "_background", counted)
    beside = R.find_robust_links(thumbs, sizes, images=small)
    assert bool(started) == R._parallel_kernels_threadsafe()
    monkeypatch.setattr(R, "_parallel_kernels_threadsafe", lambda: False)
    started.clear()
    first = R.find_robust_links(thumbs, sizes, images=small)
    assert not started
    for field in ("a", "b", "orientation", "relation", "similarity", "area_fraction", "container", "framed"):
        np.testing.assert_array_equal(getattr(beside, field), getattr(first, field))
    assert len(first) == len(links) > 0


def _photo(seed: int, width: int = 400, height: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return corpus._shots(rng, width, height, 1)[0]


def _links_of(images, params=R.DEFAULT_ROBUST):
    small = np.stack([cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in images])
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    return R.find_robust_links(make_thumbnails(images), sizes, params, images=small)


def test_overlapping_crops_with_different_content_are_rejected():
    base = _photo(5, 560, 300)
    left, right = base[:, :400], base[:, 160:]  # overlap 240 of 400 columns: each has content the other lacks
    mid = base[:, 80:480]
    links = _links_of([left, right, mid])
    assert len(links) == 0, [(int(a), int(b)) for a, b in zip(links.a, links.b)]


def test_photo_in_an_unrelated_screenshot_is_rejected_and_in_its_own_is_found():
    photo, other = _photo(21), _photo(22)
    rng = np.random.default_rng(0)
    shot_other = corpus.transform(other, "screenshot", rng)[0]
    shot_own = corpus.transform(photo, "screenshot", rng)[0]
    links = _links_of([photo, shot_other, shot_own])
    pairs = _linked(links)
    assert (0, 1) not in pairs
    assert (0, 2) in pairs
    assert int(links.container[pairs[(0, 2)]]) == 2


def test_enlargement_of_a_contained_image():
    # a 200 x 100 crop matching a quarter of a 400 x 200 frame was saved as cut: 1; at half size: 0.5;
    # a 400 x 200 photo matching that quarter shows it in twice the detail: 2
    container = np.array([[400, 200]] * 3)
    contained = np.array([[200, 100], [100, 50], [400, 200]])
    np.testing.assert_allclose(R.enlargement(container, contained, np.full(3, 0.25)), [1.0, 0.5, 2.0])


def test_a_closer_view_is_no_crop_but_a_cut_or_downscaled_crop_and_a_reduced_paste_are():
    """A photo that shows a part of another in more detail (a zoomed shot of the same scene, or another scene
    cut from one base photo at a higher zoom) matches a window of it pixel for pixel once resampled, but has
    more pixels than that window: it is no crop (RobustParams.max_crop_scale). A crop as cut, a crop then
    downscaled and a photo pasted at half size into a screenshot (a frame) are still found."""
    photo = _photo(23, 600, 450)
    part = photo[60:390, 90:530]  # 440 x 330: 54% of the area
    closer = cv2.resize(part, (616, 462), interpolation=cv2.INTER_CUBIC)  # 1.4x the window's pixels
    small = cv2.resize(part, (264, 198), interpolation=cv2.INTER_AREA)
    screen = np.full((310, 420, 3), 235, np.uint8)  # the photo at half size fills 52% of it
    screen[:20] = (60, 60, 70)
    screen[60:285, 90:390] = cv2.resize(photo, (300, 225), interpolation=cv2.INTER_AREA)
    images = [photo, part, closer, small, screen]
    pairs = _linked(_links_of(images))
    assert (0, 1) in pairs and (0, 3) in pairs and (0, 4) in pairs, sorted(pairs)
    assert (0, 2) not in pairs, sorted(pairs)
    # without the limit the closer view is linked as a crop
    assert (0, 2) in _linked(_links_of(images, dataclasses.replace(R.DEFAULT_ROBUST, max_crop_scale=0.0)))


def test_consistent_group_pairs_needs_most_checks_between_two_groups_to_pass():
    """Groups {0, 1, 2} and {3, 4}, rows 5 and 6 in none: between the two groups 2 of 5 checks pass (two shots
    of a scene near the verifier's limit), so none counts; 5 against group {0, 1, 2}: 2 of 3 pass; 5 against 6:
    its one check."""
    known = np.array([0, 0, 0, 1, 1, -1, -1])
    a = np.array([0, 1, 2, 3, 4, 5, 5, 5, 6])
    b = np.array([3, 3, 4, 0, 1, 0, 1, 2, 5])
    ok = np.array([True, False, True, False, False, True, True, False, True])
    got = R.consistent_group_pairs(known, a, b, ok)
    # the reference: the share of passed checks per unordered pair of groups (a row in none is its own group)
    label = [int(g) if g >= 0 else 100 + r for r, g in enumerate(known)]
    want = []
    for k in range(a.size):
        key = {label[a[k]], label[b[k]]}
        same = [j for j in range(a.size) if {label[a[j]], label[b[j]]} == key]
        want.append(2 * sum(ok[j] for j in same) >= len(same))
    assert got.tolist() == want == [False] * 5 + [True, True, True, True]


def _far_candidates_reference(known, n, a, b, linked_a, linked_b):
    """Slow reference of ``far_candidates_to_check``: components by repeated merging of sets."""
    sets = [{r} for r in range(n)]
    pairs = [(r, q) for r in range(n) for q in range(n) if known is not None and known[r] >= 0 and known[r] == known[q]]
    pairs += list(zip(linked_a, linked_b))
    for x, y in pairs:
        sx = next(s for s in sets if x in s)
        sy = next(s for s in sets if y in s)
        if sx is not sy:
            sets.remove(sy)
            sx |= sy
    anchored = set()
    if known is not None:
        for r in range(n):
            if known[r] >= 0 and sum(1 for q in range(n) if known[q] == known[r]) >= 2:
                anchored.add(r)
    out = []
    for x, y in zip(a, b):
        sx = next(s for s in sets if x in s)
        sy = next(s for s in sets if y in s)
        out.append(sx is sy or not (sx & anchored and sy & anchored))
    return out


def test_far_candidates_are_checked_unless_they_join_two_pictures_with_verified_copies():
    """Groups {0, 1} and {2, 3} (two pictures with verified copies), {4} alone, row 5 linked to 0, rows 6 and 7
    linked to each other, row 8 in none. A far candidate between the two groups is skipped (most are
    other shots of a scene); inside one component, or touching a component without a verified group of two,
    it is checked."""
    known = np.array([0, 0, 1, 1, 2, -1, -1, -1, -1])
    linked_a, linked_b = np.array([5, 6]), np.array([0, 7])
    a = np.array([0, 2, 5, 0, 4, 6, 2, 8, 1, 5])
    b = np.array([2, 1, 3, 5, 0, 3, 7, 3, 0, 1])
    got = R.far_candidates_to_check(known, 9, a, b, linked_a, linked_b)
    want = _far_candidates_reference(known, 9, a.tolist(), b.tolist(), linked_a.tolist(), linked_b.tolist())
    assert got.tolist() == want == [False, False, False, True, True, True, True, True, True, True]
    # without verified groups nothing is anchored: every far candidate is checked
    assert R.far_candidates_to_check(None, 9, a, b, linked_a, linked_b).all()
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = 12
        known = rng.integers(-1, 4, n)
        a, b = rng.integers(0, n, 15), rng.integers(0, n, 15)
        la, lb = rng.integers(0, n, 3), rng.integers(0, n, 3)
        assert R.far_candidates_to_check(known, n, a, b, la, lb).tolist() == \
            _far_candidates_reference(known, n, a.tolist(), b.tolist(), la.tolist(), lb.tolist())


def _closest_per_image_reference(a, b, distance, limit):
    """The cap written out: candidates by distance then position, each kept while both its rows are under the limit."""
    count, kept = {}, []
    for k in sorted(range(len(a)), key=lambda k: (distance[k], k)):
        if count.get(a[k], 0) < limit and count.get(b[k], 0) < limit:
            kept.append(k)
            count[a[k]] = count.get(a[k], 0) + 1
            count[b[k]] = count.get(b[k], 0) + 1
    return sorted(kept)


@pytest.mark.parametrize("limit", [0, 1, 2, 5])
def test_closest_per_image_matches_reference(limit):
    rng = np.random.default_rng(limit)
    n = 30
    a = rng.integers(0, n, 400)
    b = (a + rng.integers(1, n, 400)) % n
    distance = rng.integers(0, 13, 400)
    got = R.closest_per_image(a, b, distance, limit, n)
    want = list(range(400)) if limit <= 0 else _closest_per_image_reference(a.tolist(), b.tolist(), distance.tolist(),
                                                                              limit)
    assert got.tolist() == want
    if limit > 0:
        assert np.bincount(np.concatenate([a[got], b[got]]), minlength=n).max() <= limit
        assert got.size < 400  # the cap binds here


def test_candidates_per_image_caps_the_window_candidates_checked(monkeypatch):
    """A photo with three crops: three window links; with one candidate per image, one (the closest), and the
    cap is what drops the others."""
    photo = _photo(31, 600, 450)
    crops = [photo[30:420, 40:560], photo[0:380, 0:500], photo[60:450, 90:600]]
    images = [photo] + crops
    checked = []
    real = R.verify_windows
    monkeypatch.setattr(R, "verify_windows", lambda th, sz, a, b, *args, **kw: checked.append(len(a)) or
                        real(th, sz, a, b, *args, **kw))
    full = _links_of(images)
    checked_full, checked[:] = sum(checked), []  # the near round and the far one
    assert sorted(p for p in _linked(full) if p[0] < p[1]) == [(0, 1), (0, 2), (0, 3)]
    one = _links_of(images, dataclasses.replace(R.DEFAULT_ROBUST, candidates_per_image=1))
    assert len(one) == 1
    assert checked_full >= 3 and sum(checked) == 1


def test_a_real_photo_shrunk_into_a_screenshot_is_found(monkeypatch):
    """skimage's rocket at 60% in a screen: more pixels in the photo than in its region, so only a frame may hold
    it, and the coarse window (before the fine alignment) lies a pixel or two off the frame's edge."""
    import skimage.data

    photo = cv2.resize(skimage.data.rocket(), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    h, w = photo.shape[:2]
    small = cv2.resize(photo, (w * 6 // 10, h * 6 // 10), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    screen = np.full((int(sh / 0.78), int(sw / 0.78), 3), 240, np.uint8)
    screen[:screen.shape[0] // 16] = (50, 50, 60)
    y0, x0 = (screen.shape[0] - sh) // 2 + 10, (screen.shape[1] - sw) // 2
    screen[y0:y0 + sh, x0:x0 + sw] = small
    links = _links_of([photo, screen])
    pairs = _linked(links)
    assert (0, 1) in pairs and bool(links.framed[pairs[(0, 1)]])
    # a coarse window a pixel or two off the frame's edge (as without the refinement's margins) looks framed
    # when looked at 4 pixels deep; at 2 only when the plain edges do not vote or a flat edge breaks the tie
    # (else the pair is never aligned finely)
    monkeypatch.setattr(RR, "REFINE_MARGINS", (0, 0))
    assert (0, 1) in _linked(_links_of([photo, screen]))
    monkeypatch.setattr(R, "PRECHECK_FRAME_DEPTHS", (2.0,))
    import undouble.robust_frames as RF

    assert (0, 1) in _linked(_links_of([photo, screen]))  # the sky's edge, plain on both sides, does not vote
    monkeypatch.setattr(RF, "FRAME_PLAIN_STEP", 0.0)  # when it votes and no flat edge breaks the tie, only
    monkeypatch.setattr(RF, "FRAME_TIE_RATIO", 0.0)  # the look 4 pixels deep found it
    assert (0, 1) not in _linked(_links_of([photo, screen]))


def test_undouble_robust_groups_keeper_is_the_container_and_relations(tmp_path):
    from undouble import Undouble

    photo = _photo(31, 480, 360)
    rng = np.random.default_rng(4)
    files = {
        "a_original.jpg": photo,
        "b_rot90.jpg": np.ascontiguousarray(np.rot90(photo, -1)),
        "c_mirror.jpg": np.ascontiguousarray(photo[:, ::-1]),
        "d_crop.jpg": photo[60:320, 70:420],
        "e_other.jpg": _photo(32, 480, 360),
    }
    for name, img in files.items():
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    plain = Undouble(method="phash", verbose=40)
    plain.import_data(str(tmp_path))
    plain.compute_hash()
    plain.group(threshold=10)
    plain_groups = [sorted(p.split("/")[-1] for p in g) for g in plain.results["select_pathnames"]]
    assert not any("b_rot90.jpg" in g or "c_mirror.jpg" in g for g in plain_groups), plain_groups
    assert "robust" not in plain.results["stats"]
    model = Undouble(method="phash", verbose=40, robust=True)
    model.import_data(str(tmp_path))
    model.compute_hash()
    model.group(threshold=10)
    groups = [[p.split("/")[-1] for p in g] for g in model.results["select_pathnames"]]
    assert len(groups) == 1, groups
    assert groups[0][0] == "a_original.jpg"  # contains the crop: the keeper, though the crop is sharper
    assert sorted(groups[0]) == ["a_original.jpg", "b_rot90.jpg", "c_mirror.jpg", "d_crop.jpg"]
    relation = dict(zip(groups[0], model.results["select_relation"][0]))
    assert relation["b_rot90.jpg"] == "rotated 90"
    assert relation["c_mirror.jpg"] == "mirrored"
    assert relation["d_crop.jpg"].startswith("cropped (") and "% of the keeper's area)" in relation["d_crop.jpg"]
    assert model.results["stats"]["robust"] is True


def _sample_reference(plane, window, size):
    """Bilinear samples at output pixel centres, edges replicated (numpy, one pixel at a time)."""
    h, w = plane.shape
    x0, y0, x1, y1 = window
    out = np.empty((size, size))
    for v in range(size):
        fy = min(max(y0 * h + (v + 0.5) * (y1 - y0) * h / size - 0.5, 0.0), h - 1.0)
        iy = min(int(fy), h - 2)
        for u in range(size):
            fx = min(max(x0 * w + (u + 0.5) * (x1 - x0) * w / size - 0.5, 0.0), w - 1.0)
            ix = min(int(fx), w - 2)
            ty, tx = fy - iy, fx - ix
            out[v, u] = ((1 - ty) * ((1 - tx) * plane[iy, ix] + tx * plane[iy, ix + 1])
                         + ty * ((1 - tx) * plane[iy + 1, ix] + tx * plane[iy + 1, ix + 1]))
    return out


#: Edge moves (x0, y0, x1, y1) of the descent: each edge alone, then each axis shifted, then scaled.
_MOVES = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (1, 0, 1, 0), (0, 1, 0, 1), (-1, 0, 1, 0),
          (0, -1, 0, 1)]


def _descent_reference(plane_a, plane_b, start, steps, moves=_MOVES):
    """The coordinate descent of refine_window with numpy's correlation: each move -step then +step, kept
    when it lowers 1 - correlation by more than 1e-6, up to 8 rounds per step."""
    size = plane_b.shape[0]

    def cost(wd):
        return 1 - np.corrcoef(_sample_reference(plane_a, wd, size).ravel(), plane_b.ravel())[0, 1]

    best, best_cost = np.array(start, float), cost(start)
    for step in steps:
        improved, rounds = True, 0
        while improved and rounds < 8:
            improved, rounds = False, rounds + 1
            for move in moves:
                for sign in (-1.0, 1.0):
                    trial = best + sign * step * np.array(move, float)
                    if trial[2] - trial[0] < 0.2 or trial[3] - trial[1] < 0.2:
                        continue
                    c = cost(trial)
                    if c < best_cost - 1e-6:
                        best, best_cost, improved = trial, c, True
                        break
    return best, best_cost


def test_refine_window_shifts_and_scales_out_of_a_single_edge_trap():
    """A window centred right but 8% too narrow, over a photo with one sharp upright feature in the middle and
    mild texture elsewhere: moving one edge out shifts the feature by half the step, which costs more than the
    better scale gains, so no single edge move helps; scaling both edges of the axis together does (on a
    generated crop of a rocket photo the verifier then gave 0.83 instead of 0.45)."""
    h, w = 64, 64
    plane_a = _smooth_images(1, h, w, seed=11)[0].astype(np.float64) * 0.3  # mild texture everywhere
    plane_a[:, 31:33] += 150.0  # a sharp upright feature in the middle (the rocket)
    plane_a = cv2.GaussianBlur(plane_a, (0, 0), 0.8)
    true_window = (0.05, 0.1, 0.95, 0.9)
    plane_b = _sample_reference(plane_a, true_window, 24)
    start = np.array([0.09, 0.1, 0.91, 0.9])
    steps = np.array([0.02, 0.01, 0.005])
    single, _ = _descent_reference(plane_a, plane_b, start, steps, _MOVES[:4])
    both, both_cost = _descent_reference(plane_a, plane_b, start, steps)
    out = np.empty(4)
    cost = K.refine_window(plane_a, plane_b, start, steps, out)
    np.testing.assert_allclose(out, both, atol=1e-12)
    assert abs(cost - both_cost) < 1e-9
    assert np.abs(out - true_window).max() <= 0.006
    assert np.abs(single - true_window).max() >= 0.02  # the edges alone stay caught


def test_window_mismatch_and_refine_match_reference():
    plane_a = _smooth_images(1, 40, 40, seed=7)[0].astype(np.float64)
    true_window = (0.2, 0.15, 0.8, 0.85)
    plane_b = _sample_reference(plane_a, true_window, 16)
    buf = np.empty((16, 16))
    for window in [(0.0, 0.0, 1.0, 1.0), (0.1, 0.2, 0.7, 0.9), (-0.05, 0.1, 0.9, 1.05)]:
        sampled = _sample_reference(plane_a, window, 16)
        want = 1 - np.corrcoef(sampled.ravel(), plane_b.ravel())[0, 1]
        got = K.window_mismatch(plane_a, plane_b, *window, buf)
        assert abs(got - want) < 1e-9
        centred = plane_b - plane_b.mean()
        fast = K._fast_mismatch(plane_a, centred, float((centred ** 2).sum()), *window, np.empty(16, np.int64),
                                np.empty(16))
        assert abs(fast - want) < 1e-9
        # the samples within 2 of the grid's edge left out
        inner = np.s_[2:14, 2:14]
        want = 1 - np.corrcoef(sampled[inner].ravel(), plane_b[inner].ravel())[0, 1]
        assert abs(K.window_mismatch(plane_a, plane_b, *window, buf, 2) - want) < 1e-9
        centred = np.zeros_like(plane_b)
        centred[inner] = plane_b[inner] - plane_b[inner].mean()
        fast = K._fast_mismatch(plane_a, centred, float((centred ** 2).sum()), *window, np.empty(16, np.int64),
                                np.empty(16), 2)
        assert abs(fast - want) < 1e-9
    # the coordinate descent, written out
    steps = np.array([0.02, 0.01])
    start = np.array([0.25, 0.1, 0.8, 0.9])
    best, best_cost = _descent_reference(plane_a, plane_b, start, steps)
    out = np.empty(4)
    got_cost = K.refine_window(plane_a, plane_b, start, steps, out)
    np.testing.assert_allclose(out, best, atol=1e-12)
    assert abs(got_cost - best_cost) < 1e-9
    assert np.abs(out - np.array(true_window)).max() <= 0.02  # and it found the window
    # with a margin, the descent on the interior's correlation
    assert abs(K.refine_window(plane_a, plane_b, start, steps, out, 2)
               - K.window_mismatch(plane_a, plane_b, *out, buf, 2)) < 1e-9


def _align_reference(plane_a, plane_b, start, margin=0, max_steps=12, tolerance=1e-4, max_move=0.05):
    """align_window written out with numpy: the samples (_sample_reference), their derivatives in the four
    edges by central differences, and each step the maximum of the linearised correlation in closed form
    (Evangelidis and Psarakis 2008), with the kernel's stopping rules."""
    size = plane_b.shape[0]
    inner = np.s_[margin:size - margin, margin:size - margin]
    target = plane_b[inner].ravel() - plane_b[inner].mean()

    def samples(window):
        return _sample_reference(plane_a, window, size)[inner].ravel()

    current = np.array(start, float)
    best_window, best = current.copy(), -np.inf
    for step in range(max_steps + 1):
        values = samples(current)
        centred = values - values.mean()
        if centred @ centred <= 0:
            break
        correlation = centred @ target / np.sqrt((centred @ centred) * (target @ target))
        if correlation > best + 1e-9:
            best, best_window = correlation, current.copy()
        elif step > 0:
            break
        if step == max_steps:
            break
        eps = 1e-7
        grads = np.stack([(samples(current + eps * np.eye(4)[j]) - samples(current - eps * np.eye(4)[j])) / (2 * eps)
                          for j in range(4)], axis=1)
        grads -= grads.mean(axis=0)
        hess = grads.T @ grads
        hess += np.eye(4) * (1e-9 * np.trace(hess) + 1e-12)
        g_a, g_b = grads.T @ centred, grads.T @ target
        h_ga, h_gb = np.linalg.solve(hess, g_a), np.linalg.solve(hess, g_b)
        den = centred @ target - g_b @ h_ga
        if den <= 0:
            break
        delta = (centred @ centred - g_a @ h_ga) / den * h_gb - h_ga
        largest = np.abs(delta).max()
        delta *= min(1.0, max_move / largest) if largest > 0 else 1.0
        current = current + delta
        if current[2] - current[0] < 0.2 or current[3] - current[1] < 0.2 or np.abs(delta).max() < tolerance:
            break
    return best_window, 1 - best


def test_solve4_matches_numpy():
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = rng.normal(size=(4, 4))
        h = m @ m.T + 0.1 * np.eye(4)
        g = rng.normal(size=4)
        out = np.empty(4)
        assert K._solve4(h, g, out)
        np.testing.assert_allclose(out, np.linalg.solve(h, g), rtol=1e-9, atol=1e-12)
    assert not K._solve4(-np.eye(4), np.ones(4), np.empty(4))  # not positive definite


@pytest.mark.parametrize("margin", [0, 2])
def test_align_window_matches_reference_and_finds_the_window(margin):
    plane_a = cv2.GaussianBlur(_smooth_images(1, 48, 56, seed=9)[0].astype(np.float64), (0, 0), 1.0)
    true_window = (0.12, 0.2, 0.83, 0.9)
    plane_b = _sample_reference(plane_a, true_window, 20)
    for start in [(0.14, 0.18, 0.85, 0.91), (0.1, 0.22, 0.8, 0.88), (0.12, 0.2, 0.83, 0.9)]:
        out = np.empty(4)
        got = K.align_window(plane_a, plane_b, np.array(start), out, margin)
        want_window, want = _align_reference(plane_a, plane_b, start, margin)
        np.testing.assert_allclose(out, want_window, atol=1e-5)
        assert abs(got - want) < 1e-6
        assert np.abs(out - np.array(true_window)).max() <= 0.002, (start, out)
        # never worse than where it started
        buf = np.empty((20, 20))
        assert got <= K.window_mismatch(plane_a, plane_b, *start, buf, margin) + 1e-12


def test_align_window_stops_where_the_correlation_falls():
    """Unrelated noise: each step is checked, and the window returned is the best one met (at most the start's
    mismatch); a flat target has no correlation at all (mismatch 1, the start returned)."""
    rng = np.random.default_rng(2)
    plane_a = rng.uniform(0, 255, (40, 40))
    plane_b = rng.uniform(0, 255, (16, 16))
    start = np.array([0.1, 0.1, 0.9, 0.9])
    out = np.empty(4)
    got = K.align_window(plane_a, plane_b, start, out)
    assert got <= K.window_mismatch(plane_a, plane_b, *start, np.empty((16, 16))) + 1e-12
    want_window, want = _align_reference(plane_a, plane_b, start)
    np.testing.assert_allclose(out, want_window, atol=1e-5)
    assert K.align_window(plane_a, np.full((16, 16), 7.0), start, out) == 1.0
    np.testing.assert_array_equal(out, start)


def test_refinement_keeps_a_photo_in_a_bright_screen_at_its_edges(monkeypatch):
    """A dark photo in a bright screen: the screen bleeds into the window's outer samples, and without the
    margin the window shrank past the photo's edges (on a generated screenshot the verifier then gave 0.40
    instead of 0.90: the photo missed)."""
    photo = np.clip(_photo(34, 420, 300).astype(np.float32) * 0.35, 0, 255).astype(np.uint8)  # a night shot
    screen = np.full((520, 700, 3), 235, np.uint8)
    screen[:30] = (60, 60, 70)
    screen[40:340, 150:570] = photo
    true = np.array([150 / 700, 40 / 520, 570 / 700, 340 / 520])
    small_a = cv2.resize(screen, (128, 128), interpolation=cv2.INTER_AREA)
    small_b = cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA)
    plane_a, plane_b = R._grey_plane(small_a), R._grey_plane(small_b)
    off = np.array([0.02, -0.015, 0.01, 0.02])  # a grid window near the photo
    for start in (true, true + off):
        window = R._refine_two_levels(plane_a, plane_b, start)
        assert window is not None and np.abs(window - true).max() <= 0.003, (window, true)
    monkeypatch.setattr(RR, "REFINE_MARGINS", (0, 0))
    for start in (true, true + off):
        shrunk = R._refine_two_levels(plane_a, plane_b, start)
        assert shrunk is not None, start
        assert np.all(shrunk[:2] >= true[:2] + 0.007) and np.all(shrunk[2:] <= true[2:] - 0.007), (shrunk, true)


def test_two_level_refine_finds_a_crop_and_gates_out_another_shot():
    """The coarse gate lets a real crop through to the fine level and stops another shot of the scene."""
    rng = np.random.default_rng(3)
    shot, other_shot = corpus._shots(rng, 400, 300, 2)
    crop = shot[30:270, 40:360]  # x 0.1..0.9, y 0.1..0.9
    plane = R._grey_plane(cv2.resize(shot, (128, 128), interpolation=cv2.INTER_AREA))
    plane_crop = R._grey_plane(cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA))
    plane_other = R._grey_plane(cv2.resize(other_shot, (128, 128), interpolation=cv2.INTER_AREA))
    start = np.array([0.05, 0.05, 0.85, 0.85])
    window = R._refine_two_levels(plane, plane_crop, start)
    assert window is not None
    assert np.abs(window - np.array([0.1, 0.1, 0.9, 0.9])).max() <= 0.02
    _, correlation = R.refine_window(cv2.resize(plane, (64, 64), interpolation=cv2.INTER_AREA),
                                     cv2.resize(plane_other, (32, 32), interpolation=cv2.INTER_AREA), start,
                                     (0.02, 0.01), return_correlation=True)
    assert (R._refine_two_levels(plane, plane_other, start) is None) == (correlation < R.COARSE_CORRELATION_GATE)
    noise = np.random.default_rng(4).uniform(0, 255, (128, 128)).astype(np.float32)
    assert R._refine_two_levels(plane, noise, start) is None


def test_two_level_refine_stops_at_the_fine_gate(monkeypatch):
    """A crop overlaid with a pattern that only the fine level sees (a checkerboard of 4 px cells, averaged
    away on the 32 px plane): it passes the coarse gate and stops at the fine one; without that gate its
    window is found."""
    rng = np.random.default_rng(3)
    shot, _ = corpus._shots(rng, 400, 300, 2)
    plane = R._grey_plane(cv2.resize(shot, (128, 128), interpolation=cv2.INTER_AREA))
    plane_crop = R._grey_plane(cv2.resize(shot[30:270, 40:360], (128, 128), interpolation=cv2.INTER_AREA))
    yy, xx = np.mgrid[:128, :128]
    patterned = plane_crop + np.where((yy // 4 + xx // 4) % 2 == 0, 60.0, -60.0).astype(np.float32)
    start = np.array([0.05, 0.05, 0.85, 0.85])
    (fine_a, coarse_a), (fine_b, coarse_b) = RR.container_planes(plane), RR.contained_planes(patterned)
    coarse, coarse_correlation = RR._refine_smoothed(coarse_a, coarse_b, start, RR.COARSE_STEPS,
                                                     RR.REFINE_MARGINS[0])
    out = np.empty(4)
    fine_correlation = 1 - K.align_window(fine_a, fine_b, coarse, out, RR.REFINE_MARGINS[1], RR.FINE_ALIGN_STEPS,
                                          RR.FINE_ALIGN_TOLERANCE)
    assert coarse_correlation >= RR.COARSE_CORRELATION_GATE > 0
    assert fine_correlation < RR.FINE_CORRELATION_GATE
    assert R._refine_two_levels(plane, patterned, start) is None
    monkeypatch.setattr(RR, "FINE_CORRELATION_GATE", 0.0)
    window = R._refine_two_levels(plane, patterned, start)
    assert window is not None and np.abs(window - np.array([0.1, 0.1, 0.9, 0.9])).max() <= 0.01


def _links(rows):
    """RobustLinks from (a, b, container) triples (-1: full frame, rotated 90)."""
    a = np.array([r[0] for r in rows], np.int64)
    b = np.array([r[1] for r in rows], np.int64)
    c = np.array([r[2] for r in rows], np.int64)
    n = len(rows)
    return R.RobustLinks(a, b, np.where(c < 0, 1, 0).astype(np.int8), np.where(c < 0, 6, 5).astype(np.int8),
                         np.ones(n, np.float32), np.where(c < 0, 1.0, 0.5).astype(np.float32), c)


def test_a_crop_placed_in_its_own_photo_is_not_pulled_into_another():
    # normal groups {0, 1, 2} (row 2 a crop verified inside keeper 0) and {3, 4}; row 5: a crop of nobody's group
    known = np.array([0, 0, 0, 1, 1, -1])
    placed = np.array([False, False, True, False, False, False])
    # 2 inside 3 (another shot), 2 inside 4 framed (kept), 5 inside 3, 1 rotated copy of 4 (full frame)
    links = _links([(3, 2, 3), (4, 2, 4), (3, 5, 3), (1, 4, -1)])
    links = R.RobustLinks(*(getattr(links, f) for f in ("a", "b", "orientation", "relation", "similarity",
                                                         "area_fraction", "container")),
                          np.array([False, True, False, False]))
    kept = RG.keep_placed_crops(links, known, placed)
    got = set(zip(kept.a.tolist(), kept.b.tolist()))
    assert got == {(4, 2), (3, 5), (1, 4)}
    assert RG.keep_placed_crops(links, known, np.zeros(6, bool)) is links  # nothing placed: nothing dropped
    # and through robust_groups: the crop's own group and the other shot's group stay apart
    groups = [np.array([0, 1, 2]), np.array([3, 4])]
    plain = _links([(3, 2, 3)])
    made = RG.robust_groups(groups, plain, 6, lambda rows: np.arange(len(rows)), np.zeros((6, 10), np.uint8),
                            np.full((6, 2), 100), [["keeper", "re-encoded", "cropped (80% of the keeper's area)"],
                                                   ["keeper", "resized"]], [np.ones(3), np.ones(2)])
    assert sorted(sorted(g.rows.tolist()) for g in made) == [[0, 1, 2], [3, 4]]


def test_framed_by_keeper_tells_a_letterbox_keeper_from_a_photo_keeper():
    """The normal verifier calls the photo inside a letterbox a crop of it (placed); that photo is the
    letterbox's whole content, so its links to larger images of the photo must not be dropped as those of
    a crop placed in its photo are. A crop of a photo keeper stays placed."""
    photo = _photo(41, 400, 300)
    boxed = cv2.copyMakeBorder(photo, 0, 0, 80, 80, cv2.BORDER_CONSTANT, value=(0, 0, 0))  # 300 / 560 wide
    crop = photo[30:270, 40:360]
    thumbs = make_thumbnails([boxed, photo, photo, crop])
    groups = [np.array([0, 1]), np.array([2, 3])]
    area = [np.array([1.0, 400 / 560]), np.array([1.0, (240 * 320) / (300 * 400)])]
    placed = np.array([False, True, False, True])
    got = RG.framed_by_keeper(groups, area, placed, thumbs)
    assert got.tolist() == [False, True, False, False]
    # the area must match the whole content: a crop of the photo inside the letterbox stays placed
    for part in (0.22, 0.36, 0.5):  # the first two: boxes that the photo's own edges cut out of its frame
        got = RG.framed_by_keeper(groups, [np.array([1.0, part]), area[1]], placed, thumbs)
        assert not got.any(), part


def test_split_by_keeper_does_not_join_two_photos_through_one_ambiguous_crop():
    # rows 0, 1: two shots with one normal group each ({0, 2} and {1, 3}); row 4: a crop inside both
    known = np.array([0, 1, 0, 1, -1])
    links = _links([(0, 4, 0), (1, 4, 1)])
    merged = RG.merge_groups([np.array([0, 2]), np.array([1, 3])], links, 5)
    assert [g.tolist() for g in merged] == [[0, 1, 2, 3, 4]]
    groups = RG.split_by_keeper(np.array([2, 0, 3, 1, 4]), known, links)  # keeper ranking: 2 best
    assert [g.tolist() for g in groups] == [[0, 2, 4], [3, 1]]  # 0 contains 4: the container beats 2; 4 only once


def test_split_by_keeper_a_frame_keeper_reaches_a_larger_image_of_its_photo():
    """Row 0 a plain letterbox of photo 1 (the keeper by rank), row 2 a letterbox whose fill is the photo
    blurred (not flat: it looks like more photo, so not framed), row 3 another shot that holds photo 1 much
    worse than row 2 does. The letterbox's whole content is its photo, so the walk goes on from the photo as
    from the keeper: up into row 2, but not into row 3 (a crop goes up only into a container about as good
    as its best one). Before, row 2 was left alone."""
    known = np.full(4, -1)
    links = _links([(0, 1, 0), (2, 1, 2), (3, 1, 3)])
    links = R.RobustLinks(*(getattr(links, f) for f in ("a", "b", "orientation", "relation")),
                          np.array([0.99, 0.98, 0.85], np.float32), links.area_fraction, links.container,
                          np.array([True, False, False]))
    groups = RG.split_by_keeper(np.array([0, 1, 2, 3]), known, links)
    assert [g.tolist() for g in groups] == [[0, 1, 2]]
    # a crop of the keeper's photo still does not go up into another photo that holds it too
    links = _links([(0, 1, 0), (1, 4, 1), (2, 4, 2)])
    links = R.RobustLinks(*(getattr(links, f) for f in ("a", "b", "orientation", "relation", "similarity",
                                                         "area_fraction", "container")),
                          np.array([True, False, False]))
    groups = RG.split_by_keeper(np.array([0, 1, 2, 4]), np.full(5, -1), links)
    assert [g.tolist() for g in groups] == [[0, 1, 4]]


def test_container_first_and_member_relations():
    links = _links([(0, 1, -1), (2, 0, 2)])  # 1 = 0 rotated 90; 2 contains 0
    order = RG.container_first(np.array([0, 1, 2]), links)
    assert order.tolist() == [2, 0, 1]
    assert RG.member_relations(np.array([0, 1, 2]), links) == [None, "rotated 90", "in a larger image"]
    assert RG.member_relations(np.array([2, 0, 1]), links) == [None, "cropped (50% of the keeper's area)", None]
    assert RG.member_relations(np.array([1, 0]), links) == [None, "rotated 270"]


def test_split_by_keeper_a_member_left_alone_joins_the_group_of_its_link():
    # rows 0, 1, 2: one normal group (keeper 1 by rank); 3 is row 0 rotated (linked to 0 only)
    known = np.array([0, 0, 0, -1])
    links = _links([(0, 3, -1)])
    groups = RG.split_by_keeper(np.array([1, 0, 2, 3]), known, links)
    assert [g.tolist() for g in groups] == [[1, 0, 2, 3]]
    assert RG.member_relations(groups[0], links) == [None, None, None, None]


def test_every_robust_kind_is_grouped_with_its_original(robust_corpus):
    """End to end (Undouble(robust=True) on the files): each copy shares a group with its original."""
    from undouble import Undouble

    rows, _, folder = robust_corpus
    model = Undouble(method="phash", verbose=40, robust=True)
    model.import_data(str(folder))
    model.compute_hash()
    model.group(threshold=10)
    group_of = {}
    for k, members in enumerate(model.results["select_pathnames"]):
        for path in members:
            group_of[path.replace("\\", "/").split("/")[-1]] = k
    original = {g: name for name, g, label in rows if label == "original"}
    found, total = {}, {}
    for name, g, label in rows:
        if label == "original":
            continue
        total[label] = total.get(label, 0) + 1
        hit = name in group_of and group_of[name] == group_of.get(original[g], -1)
        found[label] = found.get(label, 0) + int(hit)
    assert set(total) == set(corpus.ROBUST_KINDS)
    for label in total:
        assert found[label] >= 0.8 * total[label], (label, found[label], total[label])
    # no group holds two different shots' originals
    for members in model.results["select_pathnames"]:
        shots = {corpus_group for name, corpus_group, label in rows
                 if label == "original" and name in {p.replace("\\", "/").split("/")[-1] for p in members}}
        assert len(shots) <= 1, members
    # the keeper rankings (made when read): each group's members, in the group's order, with their ranks
    # among the rows of the joined component they come from (the keeper rule: one order of all rows)
    from undouble._model_groups import keeper_rank_of_rows
    rule = keeper_rank_of_rows(model, refresh=True)
    groups = model.results["select_idx"]
    assert len(model._keeper_ranks) == len(groups) > 0
    for g, rows in enumerate(groups):
        ranks = model._keeper_ranks[g]
        assert [r.path for r in ranks] == [model.results["pathnames"][i] for i in rows]
        by_rank = [i for _, i in sorted(zip((r.rank for r in ranks), rows.tolist()))]
        assert by_rank == sorted(rows.tolist(), key=lambda i: rule[i])
        assert len({r.rank for r in ranks}) == len(ranks) and all(r.reason for r in ranks)


def test_oriented_copies_decoded_at_a_reduced_scale_are_verified(tmp_path):
    """Files decoded at 1/8 (986 x 555 is padded to whole blocks at the right and bottom): a rotation or mirror
    moves the padding to the other side, a sub-pixel shift of the thumbnails that fails the plain check of
    this photo; the realigned check accepts every orientation and still rejects another shot of the scene."""
    from undouble import Undouble
    from undouble.robust_grouping import thumbs_and_sizes
    from undouble.verify import verify_pairs

    photo, other = corpus._shots(np.random.default_rng(25), 986, 555, 2)
    files = {f"o{o}.jpg": R.orient_array(photo, o) for o in (0, 1, 3, 4, 5)}
    files.update({f"x{o}.jpg": R.orient_array(other, o) for o in (1, 4)})
    for name, img in files.items():
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    model = Undouble(method="phash", verbose=40)
    model.import_data(str(tmp_path))
    names = [p.replace("\\", "/").split("/")[-1] for p in model.results["pathnames"]]
    thumbs, sizes = thumbs_and_sizes(model.results)
    first = names.index("o0.jpg")
    plain_failed = 0
    for o in (1, 3, 4, 5):
        copy = names.index(f"o{o}.jpg")
        ok, res = R.verify_orientations(thumbs, sizes, np.array([first]), np.array([copy]), np.array([o]))
        assert ok[0], (o, res.similarity)
        plain = verify_pairs(np.stack([R.orient_thumbnail(thumbs[first], o), thumbs[copy]]),
                             np.stack([sizes[copy], sizes[copy]]), np.array([0]), np.array([1]))
        plain_failed += int(not plain.ok[0])
    assert plain_failed >= 1  # the realignment was needed
    for o in (1, 4):
        ok, res = R.verify_orientations(thumbs, sizes, np.array([first]), np.array([names.index(f"x{o}.jpg")]),
                                        np.array([o]))
        assert not ok[0], (o, res.similarity)
    # all of them in one batch, where one oriented record serves every candidate of its (image, orientation),
    # realigned or not: the verdicts and similarities of one call per pair
    pairs = [(first, names.index(f"o{o}.jpg"), o) for o in (1, 3, 4, 5)]
    pairs += [(first, names.index(f"x{o}.jpg"), o) for o in (1, 4)]
    turned = files["o1.jpg"]  # the orientation taking it to each other file
    pairs += [(names.index("o1.jpg"), names.index(f"o{o}.jpg"),
               next(c for c in range(8) if np.array_equal(R.orient_array(turned, c), files[f"o{o}.jpg"])))
              for o in (0, 3, 4)]
    a, b, o = (np.array(x) for x in zip(*pairs))
    ok, res = R.verify_orientations(thumbs, sizes, a, b, o)
    assert np.unique(a * 8 + o).size < a.size  # records shared
    for k in range(a.size):
        one_ok, one = R.verify_orientations(thumbs, sizes, a[k:k + 1], b[k:k + 1], o[k:k + 1])
        assert ok[k] == one_ok[0] and res.similarity[k] == one.similarity[0], k
    assert ok[:4].all() and not ok[4:6].any() and ok[6:].all()


def test_orientation_realignment_does_not_move_a_second_shot_onto_its_scene(tmp_path, monkeypatch):
    """A second shot of the cameraman (turned 2 degrees, moved 3-4%, brighter, an object added), flipped: the
    plain oriented check rejects it, and a realignment that may move each edge 3% aligned the shots well
    enough to pass (0.75); a file's padding needs at most about 2% (ORIENT_SHIFT_MAX)."""
    import skimage.data
    from PIL import Image, ImageDraw, ImageEnhance

    from undouble import Undouble
    from undouble.robust_grouping import thumbs_and_sizes

    photo = Image.fromarray(skimage.data.camera()).convert("RGB").resize((900, 900), Image.LANCZOS)
    shot = photo.rotate(2.0, resample=Image.BICUBIC).crop((36, 27, 882, 891)).resize((900, 900), Image.BICUBIC)
    shot = ImageEnhance.Brightness(shot).enhance(1.15)
    ImageDraw.Draw(shot).ellipse((500, 300, 572, 372), fill=(200, 40, 90))
    photo.save(tmp_path / "a.jpg", quality=92)
    shot.transpose(Image.FLIP_TOP_BOTTOM).save(tmp_path / "b.jpg", quality=90)
    model = Undouble(method="phash", verbose=40)
    model.import_data(str(tmp_path))
    thumbs, sizes = thumbs_and_sizes(model.results)
    names = [p.replace("\\", "/").split("/")[-1] for p in model.results["pathnames"]]
    a, b = np.array([names.index("a.jpg")]), np.array([names.index("b.jpg")])
    ok, res = R.verify_orientations(thumbs, sizes, a, b, np.array([5]))
    assert not ok[0], res.similarity
    monkeypatch.setattr(R, "ORIENT_SHIFT_MAX", 0.03)
    ok, res = R.verify_orientations(thumbs, sizes, a, b, np.array([5]))
    assert ok[0], res.similarity  # the bound is what rejects it


def test_orientation_realignment_is_tried_only_for_similar_pairs(monkeypatch):
    """A failed oriented pair is realigned only when it was similar enough (ORIENT_RETRY_SIMILARITY; the
    realigned copies are in test_oriented_copies_decoded_at_a_reduced_scale_are_verified): an unrelated
    photo is not."""
    from undouble import robust_refine as RR

    photo, other = _photo(26, 480, 360), _photo(27, 480, 360)
    images = [photo, photo, np.ascontiguousarray(np.rot90(other, -1))]
    thumbs = make_thumbnails(images)
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    calls = []
    real = RR.align_window
    monkeypatch.setattr(R, "align_window", lambda *args, **kw: calls.append(1) or real(*args, **kw))
    _, res = R.verify_orientations(thumbs, sizes, np.array([0]), np.array([2]), np.array([1]))
    assert not res.ok[0] and res.similarity[0] < R.ORIENT_RETRY_SIMILARITY and not calls
    monkeypatch.setattr(R, "ORIENT_RETRY_SIMILARITY", -1.0)  # without the bound the unrelated pair is realigned
    R.verify_orientations(thumbs, sizes, np.array([0]), np.array([2]), np.array([1]))
    assert calls


@pytest.mark.parametrize("count", [0, 1, 15, 33, 100, 1001])
def test_each_in_threads_calls_every_index_once(count):
    seen = np.zeros(count, np.int64)

    def work(k):
        seen[k] += 1

    R._each_in_threads(work, count)
    assert seen.tolist() == [1] * count


def _edge_strips(plane: np.ndarray, window, depth: float) -> list:
    """Reference for :func:`undouble._kernels.frames.framed_window`: (outside, inside) pixel rows along each
    edge of ``window`` (fractions) that lies ``depth`` + 1 pixels or more inside the frame of ``plane``."""
    h, w = plane.shape
    x0, y0, x1, y1 = window[0] * w, window[1] * h, window[2] * w, window[3] * h
    ys = np.arange(max(0, int(np.ceil(y0))), min(h, int(np.floor(y1))))
    xs = np.arange(max(0, int(np.ceil(x0))), min(w, int(np.floor(x1))))
    out = []
    if x0 >= depth + 1 and ys.size > 2:
        out.append((plane[ys, int(np.floor(x0 - depth))], plane[ys, min(w - 1, int(np.ceil(x0 + depth)))]))
    if x1 <= w - depth - 1 and ys.size > 2:
        out.append((plane[ys, int(np.ceil(x1 + depth)) - 1], plane[ys, max(0, int(np.floor(x1 - depth)) - 1)]))
    if y0 >= depth + 1 and xs.size > 2:
        out.append((plane[int(np.floor(y0 - depth)), xs], plane[min(h - 1, int(np.ceil(y0 + depth))), xs]))
    if y1 <= h - depth - 1 and xs.size > 2:
        out.append((plane[int(np.ceil(y1 + depth)) - 1, xs], plane[max(0, int(np.floor(y1 - depth)) - 1), xs]))
    return out


def _is_framed_reference(plane: np.ndarray, window, depth: float = 2.0) -> bool:
    """The frame votes of :func:`undouble.robust_frames.is_framed`, edge by edge in numpy."""
    from undouble import robust_frames as F

    votes = voters = flat = 0
    for outside, inside in _edge_strips(np.asarray(plane, np.float64), np.asarray(window, np.float64), depth):
        step_out, step_in = float(np.abs(np.diff(outside)).mean()), float(np.abs(np.diff(inside)).mean())
        ratio = step_out / (step_in + 1e-6)
        flat += ratio < F.FRAME_TIE_RATIO
        related = np.corrcoef(outside, inside)[0, 1] if outside.std() > 0 and inside.std() > 0 else 0.0
        framed = ratio < F.FRAME_FLAT_RATIO or (ratio < F.FRAME_UNRELATED_RATIO and related < F.FRAME_UNRELATED_CORR)
        if not framed and max(step_out, step_in) < F.FRAME_PLAIN_STEP:
            continue
        voters += 1
        votes += framed
    return voters > 0 and (2 * votes > voters or (2 * votes == voters and flat > 0))


def test_is_framed_kernel_matches_the_numpy_reference():
    """Letterboxes, screenshots, crops and random windows of photos and of flat or noisy screens: the kernel
    gives the reference's verdict every time (float32 and float64 planes, two depths)."""
    rng = np.random.default_rng(21)
    planes = []
    for seed in range(4):
        photo = cv2.cvtColor(_photo(30 + seed, 120, 96), cv2.COLOR_RGB2GRAY).astype(np.float32)
        planes.append(cv2.copyMakeBorder(photo, 16, 16, 4, 4, cv2.BORDER_CONSTANT, value=0))
        screen = np.full((128, 128), 225.0, np.float32) + rng.normal(0, 0.5, (128, 128)).astype(np.float32)
        screen[20:20 + 96, 4:124] = photo
        planes += [screen, photo]
    verdicts = []
    for plane in planes:
        h, w = plane.shape
        for _ in range(60):
            x0, y0 = rng.uniform(-0.05, 0.4, 2)
            x1, y1 = x0 + rng.uniform(0.3, 1.0), y0 + rng.uniform(0.3, 1.0)
            window = (x0, y0, x1, y1)
            for depth in (2.0, 4.0):
                expected = _is_framed_reference(plane, window, depth)
                assert R.is_framed(plane, window, depth) == expected, (window, depth)
                assert R.is_framed(plane.astype(np.float64), window, depth) == expected
                verdicts.append(expected)
    assert 0.05 < np.mean(verdicts) < 0.95  # both verdicts are exercised


def test_is_framed_tells_a_border_or_screen_from_more_photo():
    photo = cv2.cvtColor(_photo(14, 400, 300), cv2.COLOR_RGB2GRAY).astype(np.float32)
    # letterbox: the photo in a black border, 40 px left and right, 20 px top and bottom
    boxed = cv2.copyMakeBorder(photo, 20, 20, 40, 40, cv2.BORDER_CONSTANT, value=0)
    window = (40 / 480, 20 / 340, 440 / 480, 320 / 340)
    assert R.is_framed(boxed, window)
    # a crop's surroundings continue the photo
    assert not R.is_framed(photo, (0.15, 0.12, 0.8, 0.85))
    # a window at the frame's edges has no outside: no evidence
    assert not R.is_framed(photo, (0.0, 0.0, 1.0, 1.0))


def test_is_framed_ignores_edges_plain_on_both_sides():
    """A photo whose top is a plain dark sky, pasted into a light screen whose left side has faint text up to
    the photo: the top and left edges are plain on both sides, so only the right and bottom edges (a flat
    screen against the photo) vote, and the paste is framed; with the plain edges voting it was not, and
    the closer-view limit then dropped a screenshot of a rocket photo."""
    rng = np.random.default_rng(4)
    h, w = 90, 120
    photo = np.full((h, w), 40.0) + rng.normal(0, 0.4, (h, w))  # a plain dark sky ...
    photo[60:, 40:] = cv2.GaussianBlur(rng.uniform(0, 255, (30, w - 40)), (0, 0), 1.0)  # ... a busy ground ...
    photo[20:, 55:65] = 220.0  # ... and the rocket
    screen = np.full((128, 160), 230.0) + rng.normal(0, 0.6, (128, 160))  # a light screen, a little noisy
    screen[:, :18] += rng.normal(0, 0.9, (128, 18))  # faint text left of the photo
    screen[20:110, 18:138] = photo
    window = (18 / 160, 20 / 128, 138 / 160, 110 / 128)
    assert R.is_framed(screen, window)
    from undouble.robust_frames import FRAME_PLAIN_STEP
    strips = _edge_strips(screen.astype(np.float64), np.array(window), 2.0)
    plain = [max(np.abs(np.diff(o)).mean(), np.abs(np.diff(i)).mean()) < FRAME_PLAIN_STEP for o, i in strips]
    assert sum(plain) == 2  # left and top: the plain ones
    # a crop of the same photo: its edges continue the photo
    assert not R.is_framed(screen, (0.2, 0.25, 0.8, 0.8))


def test_is_framed_breaks_a_tie_with_a_flat_edge():
    """A photo pasted at a screen's bottom right corner: only its left and top edges lie inside, the left one
    against a flat screen, the top one under a line of text. One vote each way: the flat edge breaks the tie.
    A crop at a photo's corner (its two inner edges continue the photo) stays a crop."""
    photo = cv2.cvtColor(_photo(15, 300, 220), cv2.COLOR_RGB2GRAY).astype(np.float64)
    screen = np.full((300, 400), 225.0)
    rng = np.random.default_rng(2)
    screen[72:80, 100:400] = np.where(rng.uniform(size=(8, 300)) < 0.4, 40.0, 225.0)  # text above the photo
    screen[80:300, 100:400] = photo
    window = (100 / 400, 80 / 300, 1.0, 1.0)
    assert R.is_framed(screen, window)
    from undouble.robust_frames import FRAME_TIE_RATIO
    strips = _edge_strips(screen, np.array(window), 2.0)
    ratios = [np.abs(np.diff(o)).mean() / np.abs(np.diff(i)).mean() for o, i in strips]
    assert len(ratios) == 2 and min(ratios) < FRAME_TIE_RATIO and max(ratios) > 0.75  # a tie, one edge flat
    assert not R.is_framed(photo, (0.3, 0.25, 1.0, 1.0))


def test_frame_line_correlation_matches_numpy():
    from undouble._kernels.frames import _line_correlation
    rng = np.random.default_rng(3)
    for _ in range(20):
        plane = rng.integers(0, 256, (5, 37)).astype(np.float64)
        plane[3] = 0.3 * plane[1] + rng.integers(0, 256, 37)
        assert _line_correlation(plane, 1, 3, 2, 30, True) == pytest.approx(
            np.corrcoef(plane[1, 2:30], plane[3, 2:30])[0, 1], abs=1e-12)
        assert _line_correlation(plane.T.copy(), 1, 3, 2, 30, False) == pytest.approx(
            np.corrcoef(plane[1, 2:30], plane[3, 2:30])[0, 1], abs=1e-12)
    flat = rng.normal(size=(2, 9))
    flat[0] = 7.0
    assert _line_correlation(flat, 0, 1, 0, 9, True) == 0.0  # a constant line: no correlation


def test_best_per_group_pair_keeps_the_closest_candidates_of_each_pair_of_groups():
    known = np.array([0, 0, 0, 1, 1, -1, -1])  # groups {0, 1, 2}, {3, 4}; 5 and 6 alone
    a = np.array([0, 1, 2, 0, 5, 5, 6])
    b = np.array([3, 4, 3, 5, 3, 4, 3])
    d = np.array([8, 4, 6, 2, 10, 6, 4])
    # pair of groups (0, 1): candidates 0, 1, 2 at 8, 4, 6; (0, 5): 3; (5, 1): 4, 5 at 10, 6; (6, 1): 6
    assert R.best_per_group_pair(known, a, b, d, keep=1).tolist() == [1, 3, 5, 6]
    assert R.best_per_group_pair(known, a, b, d, keep=2).tolist() == [1, 2, 3, 4, 5, 6]


def _flip_bits(word: int, bits) -> np.uint64:
    for k in bits:
        word ^= 1 << k
    return np.uint64(word)


def test_group_representatives_one_typical_colour_member_of_each_group_of_three_or_more():
    from undouble.verify import THUMB_BYTES, THUMB_SIZE

    h = 0x0F0F_3C3C_A5A5_5A5A
    # group 0: a stretched copy with the most pixels, a grey copy, then three colour copies of one aspect
    # ratio: the one nearest to all the others (2) wins over the one with more pixels (3, far from them)
    upright = np.array([h, h, _flip_bits(h, [0]), _flip_bits(h, range(20, 32)), _flip_bits(h, [40, 41]),
                        h, h, h], np.uint64)
    sizes = np.array([[1000, 600], [800, 600], [800, 600], [900, 675], [800, 600], [300, 200], [300, 200],
                      [50, 50]])
    labels = np.array([0, 0, 0, 0, 0, 1, 1, -1])
    thumbs = np.zeros((8, THUMB_BYTES), np.uint8)
    thumbs[1, THUMB_SIZE * THUMB_SIZE + 4] = 1  # row 1 is greyscale
    # a group of two cannot tell its original: both stay, as does a row in no group
    assert R.group_representatives(labels, sizes, upright, thumbs).tolist() == [2, 5, 6, 7]
    # the grey copy would win when in colour; the stretched one when of the usual aspect ratio
    thumbs[1] = 0
    assert R.group_representatives(labels, sizes, upright, thumbs).tolist() == [1, 5, 6, 7]
    sizes[0] = (1000, 750)
    assert R.group_representatives(labels, sizes, upright, thumbs).tolist() == [0, 5, 6, 7]


def test_largest_copy_sizes_matches_a_loop():
    rng = np.random.default_rng(4)
    n = 300
    labels = rng.integers(-1, 25, n)
    base = rng.choice([(4, 3), (3, 4), (16, 9), (1, 1)], n)
    scale = rng.integers(50, 400, n)
    sizes = base * scale[:, None]
    sizes[::7, 0] = (sizes[::7, 0] * 1.2).astype(np.int64)  # stretched copies: another aspect ratio
    got = R.largest_copy_sizes(labels, sizes)
    aspect = np.log(sizes[:, 0] / sizes[:, 1])
    for i in range(n):
        same = [j for j in range(n) if (j == i or (labels[i] >= 0 and labels[j] == labels[i]))
                and abs(aspect[j] - aspect[i]) < 0.01]
        best = max(same, key=lambda j: (int(sizes[j].prod()), -j))
        assert int(got[i].prod()) == int(sizes[best].prod()), i


def test_window_candidates_of_some_containers_are_those_of_all_restricted_to_them():
    photos = [_photo(30 + k, 420, 320) for k in range(3)]
    images = photos + [p[40:260, 50:360] for p in photos] + [cv2.resize(photos[0][20:300, 30:400], (250, 190))]
    thumbs = make_thumbnails(images)
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    upright = R.window_index_hashes(thumbs)
    every = R.window_candidates(thumbs, upright, sizes=sizes, return_distance=True)
    assert {(0, 3), (1, 4), (2, 5), (0, 6)} <= set(zip(every[0].tolist(), every[1].tolist()))
    some = np.array([0, 2, 5])
    got = R.window_candidates(thumbs, upright, sizes=sizes, return_distance=True, containers=some)
    keep = np.isin(every[0], some)
    for x, y in zip(got, every):
        np.testing.assert_array_equal(x, y[keep])


def test_closer_views_are_judged_on_the_largest_copies():
    """A closer view downscaled below the region it matches passes the limit on its own; its normal group
    holds the full-size closer view, so the link is judged at that size (RobustParams.max_crop_scale). The
    other way round, a crop as cut is a crop of a downscaled copy of its photo once that copy's group holds
    the photo at full size."""
    photo = _photo(23, 600, 450)
    part = photo[60:390, 90:530]  # 440 x 330
    closer = cv2.resize(part, (616, 462), interpolation=cv2.INTER_CUBIC)  # 1.4x the window's pixels
    reduced = cv2.resize(closer, (370, 277), interpolation=cv2.INTER_AREA)  # 0.84x the window's pixels
    half = cv2.resize(photo, (300, 225), interpolation=cv2.INTER_AREA)  # the part has 2x its window's pixels
    images = [photo, closer, reduced, half, part]
    small = np.stack([cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in images])
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    thumbs = make_thumbnails(images)
    alone = _linked(R.find_robust_links(thumbs, sizes, images=small, known_groups=np.full(5, -1)))
    assert (0, 2) in alone and (0, 4) in alone, sorted(alone)
    assert (0, 1) not in alone and (3, 4) not in alone, sorted(alone)
    grouped = _linked(R.find_robust_links(thumbs, sizes, images=small, known_groups=np.array([0, 1, 1, 0, -1])))
    assert (0, 2) not in grouped and (0, 1) not in grouped, sorted(grouped)
    assert (0, 4) in grouped and (3, 4) in grouped, sorted(grouped)
    # hash-only groups (verify=False) may hold different pictures: each image counts its own pixels
    hashed = _linked(R.find_robust_links(thumbs, sizes, images=small, known_groups=np.array([0, 1, 1, 0, -1]),
                                         groups_are_copies=False))
    assert (0, 2) in hashed and (3, 4) not in hashed, sorted(hashed)


def test_verify_windows_gives_the_same_in_chunks_of_any_size(monkeypatch):
    photos = [_photo(40 + k, 420, 320) for k in range(3)]
    images = photos + [p[40:260, 50:360] for p in photos]
    small = [cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in images]
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    thumbs = make_thumbnails(images)
    a = np.array([0, 1, 2, 0, 1, 2, 0])
    b = np.array([3, 4, 5, 4, 5, 3, 5])
    windows = np.tile([0.1, 0.1, 0.85, 0.8], (7, 1))
    whole = R.verify_windows(thumbs, sizes, a, b, windows, images=small)
    assert whole[0][:3].all() and not whole[0][3:].any(), whole
    monkeypatch.setattr(R, "REFINE_CHUNK", 2)
    for x, y in zip(R.verify_windows(thumbs, sizes, a, b, windows, images=small), whole):
        np.testing.assert_array_equal(x, y)


def test_verify_windows_leaves_whole_frame_windows_unverified(monkeypatch):
    """With whole_frame_area, a window that refines to the whole frame (a copy of the same framing, the normal
    search's business) fails without records; a crop's window is verified as before."""
    photos = [_photo(50 + k, 420, 320) for k in range(2)]
    images = photos + [cv2.resize(photos[0], (400, 305), interpolation=cv2.INTER_AREA), photos[1][40:260, 50:360]]
    small = [cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in images]
    sizes = np.array([(im.shape[1], im.shape[0]) for im in images])
    thumbs = make_thumbnails(images)
    a, b = np.array([0, 1]), np.array([2, 3])
    windows = np.array([[0.0, 0.05, 1.0, 0.95], [0.1, 0.1, 0.85, 0.8]])
    made = []
    real_record = R._image_window_record
    monkeypatch.setattr(R, "_image_window_record", lambda *args, **kw: made.append(1) or real_record(*args, **kw))
    every = R.verify_windows(thumbs, sizes, a, b, windows, images=small)
    assert every[0].all() and every[1][0] >= R.WHOLE_FRAME_AREA > every[1][1], every  # both pass unchecked
    assert len(made) == 4  # two records per candidate
    made.clear()
    skipped = R.verify_windows(thumbs, sizes, a, b, windows, images=small, whole_frame_area=R.WHOLE_FRAME_AREA)
    assert not skipped[0][0] and skipped[0][1], skipped
    assert skipped[1][1] == every[1][1] and skipped[2][1] == every[2][1]
    assert len(made) == 2  # the crop's only


def test_supported_first_reorders_only_ties_of_the_keeper_rule():
    from undouble._model_groups import supported_first

    members = np.array([10, 11, 12, 13, 14])
    tie_class = np.zeros(20, np.int64)
    tie_class[[10, 11, 12]] = 400  # three of one resolution, then two smaller ones
    tie_class[[13, 14]] = 100
    support = np.ones(20, np.int64)
    support[[12, 14]] = 3
    order = np.array([0, 1, 2, 3, 4])
    assert supported_first(order, members, tie_class, support).tolist() == [2, 0, 1, 4, 3]
    # a larger verified group never passes a member the rule ranks before it on resolution
    order = np.array([3, 4, 0, 1, 2])
    tie_class[[13, 14]] = 900
    assert supported_first(order, members, tie_class, support).tolist() == [4, 3, 2, 0, 1]


def test_robust_keeper_is_an_upright_copy_when_a_rotated_one_ties_on_the_rule(tmp_path):
    """The rotated copy is as large as the original, and its JPEG artefacts make it the "sharpest": the keeper
    rule alone keeps it; the original shares its orientation with its two verified copies and is kept."""
    from PIL import Image

    from undouble import Undouble

    photo = _photo(33, 480, 360)
    Image.fromarray(photo).save(tmp_path / "b_original.png")
    Image.fromarray(np.clip(photo.astype(np.int16) + 12, 0, 255).astype(np.uint8)).save(tmp_path / "c_brighter.png")
    Image.fromarray(np.clip(photo.astype(np.int16) - 12, 0, 255).astype(np.uint8)).save(tmp_path / "d_darker.png")
    Image.fromarray(np.ascontiguousarray(np.rot90(photo, -1))).save(tmp_path / "a_rotated.jpg", quality=60)
    model = Undouble(method="phash", verbose=40, robust=True)
    model.import_data(str(tmp_path))
    model.compute_hash()
    model.group(threshold=10)
    groups = [[p.replace("\\", "/").split("/")[-1] for p in g] for g in model.results["select_pathnames"]]
    assert len(groups) == 1 and len(groups[0]) == 4, groups
    assert groups[0][0] != "a_rotated.jpg", groups
    relation = dict(zip(groups[0], model.results["select_relation"][0]))
    assert relation["a_rotated.jpg"] == "rotated 90", relation
