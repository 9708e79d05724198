"""The second look of verified grouping (undouble.second_look): crops the hash threshold misses."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from undouble import Undouble, corpus
from undouble.second_look import (best_containers, near_container_candidates, uncontained_rows,
                                  window_container_candidates, window_crop_candidates)
from undouble.verify import make_thumbnails

from imagesets import jpeg_round_trip


def _reference_best(container, orphan, ok, sim, canonical, margin, component=None):
    """best_containers by the definition: per orphan, the verified containers by similarity; keep the best
    unless a container of another component comes within the margin."""
    label = list(range(len(canonical))) if component is None else list(component)
    out = set()
    for o in set(np.asarray(orphan)[ok].tolist()):
        rows = [(float(sim[k]), int(canonical[container[k]]), int(container[k]))
                for k in range(len(orphan)) if ok[k] and orphan[k] == o]
        rows.sort(key=lambda r: (-r[0], r[1]))
        rivals = [r for r in rows[1:] if label[r[2]] != label[rows[0][2]]]
        if not rivals or rows[0][0] - rivals[0][0] > margin:
            out.add((rows[0][2], o))
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("margin", [0.0, 0.02, 0.1])
@pytest.mark.parametrize("grouped", [False, True])
def test_best_containers_against_reference(seed, margin, grouped):
    rng = np.random.default_rng(seed)
    m = 120
    container = rng.integers(0, 40, m)
    orphan = rng.integers(40, 60, m)
    ok = rng.random(m) < 0.7
    sim = rng.choice([0.55, 0.6, 0.61, 0.7, 0.9], m)
    canonical = rng.permutation(60)
    component = rng.integers(0, 8, 60) if grouped else None
    c, o = best_containers(container, orphan, ok, sim, canonical, margin, component=component)
    want = _reference_best(container, orphan, ok, sim, canonical, margin, component)
    assert set(zip(c.tolist(), o.tolist())) == want
    assert len(set(o.tolist())) == o.size  # one container per orphan at most
    if grouped:  # copies of one photo are no rival: more orphans keep a container than without groups
        assert len(want) >= len(_reference_best(container, orphan, ok, sim, canonical, margin))


@pytest.mark.parametrize("rival_similarity, want", [(0.85, set()), (0.7, {(2, 0)})])
def test_second_look_leaves_a_crop_that_fits_two_photos_alike_alone(rival_similarity, want):
    """Both searches' candidates go through best_containers: row 0 (a crop) is two candidate links from
    2 and 3 (different photos; 4 is a verified copy of 2) and fits both; it joins 2 only when 3 is clearly worse."""
    from undouble.second_look import second_look_pairs
    from undouble.verify import THUMB_BYTES, VerifyResult

    n = 5
    sizes = np.array([[760, 570], [800, 600], [800, 600], [800, 600], [800, 600]])
    pair_i, pair_j = np.array([0, 1, 1, 2]), np.array([1, 2, 3, 4])
    ok = np.array([False, False, False, True])
    fits = {(2, 0): 0.9, (4, 0): 0.9, (3, 0): rival_similarity}

    def verify(a, b):
        sim = np.array([fits.get((x, y), 0.1) for x, y in zip(a.tolist(), b.tolist())], np.float32)
        m = sim.size
        return VerifyResult(sim > 0.5, sim, np.zeros(m, np.int8), np.ones(m, np.float32), np.zeros(m, np.int8))

    results = {"img_hash": np.zeros((n, 1), np.uint64), "hash_counts": np.ones(n, np.int64)}
    a, b = second_look_pairs(results, 10, pair_i, pair_j, ok, np.zeros((n, THUMB_BYTES), np.uint8), sizes,
                             np.arange(n), verify=verify)
    assert set(zip(a.tolist(), b.tolist())) == want


def _write(folder, images: dict) -> None:
    """Write RGB images as JPEG (quality 92) under their names."""
    for name, img in images.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])


def _hashed(target) -> Undouble:
    model = Undouble(method="phash", verbose=40)
    model.import_data(target)
    model.compute_hash()
    return model


def _group_names(model: Undouble) -> list:
    return [[p.rsplit("/", 1)[-1] for p in g] for g in model.results["select_pathnames"]]


def _photo(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    return jpeg_round_trip(corpus._shots(np.random.default_rng([seed, 0]), w, h, 1)[0], 92)


def _four_photos_and_a_crop_of_the_first() -> tuple[np.ndarray, np.ndarray]:
    """Thumbnail records and sizes of 4 different photos and (row 4) a 4-6%-per-side crop of row 0."""
    originals = [_photo(s) for s in range(4)]
    big = originals[0]
    h, w = big.shape[:2]
    crop = np.ascontiguousarray(big[int(0.04 * h):int(0.95 * h), int(0.06 * w):int(0.97 * w)])
    images = originals + [crop]
    return make_thumbnails(images), np.array([[im.shape[1], im.shape[0]] for im in images])


def test_window_search_proposes_the_original_of_a_crop_and_not_other_photos():
    thumbs, sizes = _four_photos_and_a_crop_of_the_first()
    container, orphan = window_crop_candidates(thumbs, sizes, np.array([4]))
    assert (0, 4) in set(zip(container.tolist(), orphan.tolist()))
    assert not set(container.tolist()) & {1, 2, 3}
    # a same-size image is never a container, nor one that would make the orphan under 60% of its area
    sizes_same = sizes.copy()
    sizes_same[4] = sizes[0]
    assert window_crop_candidates(thumbs, sizes_same, np.array([4]))[0].size == 0


def test_reverse_window_search_proposes_an_original_for_its_crops_and_not_other_photos():
    thumbs, sizes = _four_photos_and_a_crop_of_the_first()
    # rows 0..3 are alone (orphans); the crop (row 4) is grouped with something else
    orphan, crop_row = window_container_candidates(thumbs, sizes, np.arange(4), np.array([4]))
    assert (0, 4) in set(zip(orphan.tolist(), crop_row.tolist()))
    assert not set(orphan.tolist()) & {1, 2, 3}
    # the same windows as the forward search: the pairs agree
    container, orphan_fwd = window_crop_candidates(thumbs, sizes, np.array([4]))
    assert set(zip(container.tolist(), orphan_fwd.tolist())) == set(zip(orphan.tolist(), crop_row.tolist()))
    sizes_same = sizes.copy()
    sizes_same[4] = sizes[0]
    assert window_container_candidates(thumbs, sizes_same, np.arange(4), np.array([4]))[0].size == 0


def test_uncontained_rows_are_linked_and_inside_no_partner():
    sizes = np.array([[800, 600], [760, 570], [700, 500], [800, 600], [640, 480], [300, 200]])
    # 0 contains 1 (smaller in both); 1 and 2 linked: 2 is smaller than 1, so 2 is inside; 3-4: 4 inside 3;
    # 5 is linked to nothing
    pair_i, pair_j = np.array([0, 1, 3, 0]), np.array([1, 2, 4, 5])
    ok = np.array([True, True, True, False])
    assert uncontained_rows(pair_i, pair_j, ok, sizes).tolist() == [0, 3]


def test_an_original_left_alone_joins_its_crops_grouped_without_it(tmp_path, monkeypatch):
    """End to end: two crops of one photo verify against each other, their original is farther in hash
    than the threshold from both; the reverse window search finds it and it becomes their keeper."""
    shots = corpus._shots(np.random.default_rng([5, 1]), 640, 480, 3)
    base = jpeg_round_trip(shots[0], 92)
    h, w = base.shape[:2]
    crop_a = base[int(0.03 * h):int(0.93 * h), int(0.07 * w):int(0.97 * w)]
    crop_b = base[int(0.04 * h):int(0.92 * h), int(0.08 * w):int(0.96 * w)]
    _write(tmp_path, {"a_original.jpg": base, "b_crop.jpg": crop_a, "c_crop.jpg": crop_b, "d_other.jpg": shots[1],
                      "e_other.jpg": shots[2]})
    model = _hashed(str(tmp_path))
    hashes = [int(v) for v in model.results["img_hash"][:3, 0]]
    far = [bin(hashes[0] ^ hashes[k]).count("1") for k in (1, 2)]
    near = bin(hashes[1] ^ hashes[2]).count("1")
    threshold = min(far) - 1
    assert near <= threshold  # the crops are candidates of each other, the original of neither
    model.group(threshold=threshold)
    groups = _group_names(model)
    assert groups == [["a_original.jpg", "b_crop.jpg", "c_crop.jpg"]]
    assert all(r.startswith("cropped") for r in model.results["select_relation"][0][1:])
    import undouble.second_look as second_look
    monkeypatch.setattr(second_look, "REVERSE_WINDOWS", False)
    model.group(threshold=threshold)  # without the reverse search, the original stays alone
    groups = _group_names(model)
    assert groups == [["b_crop.jpg", "c_crop.jpg"]]


@pytest.mark.parametrize("seed", range(4))
def test_near_container_candidates_against_reference(seed):
    rng = np.random.default_rng(seed)
    n = 300
    base = rng.integers(0, 2 ** 63, 4, dtype=np.int64).astype(np.uint64)
    flips = rng.integers(0, 64, (n, 12))
    hashes = base[rng.integers(0, 4, n)].copy()
    for k in range(n):  # rows near one of 4 bases, 0..12 bits away
        for b in flips[k, :rng.integers(0, 13)]:
            hashes[k] ^= np.uint64(1) << np.uint64(b)
    hashes = hashes.reshape(n, 1)
    sizes = rng.choice([400, 500, 600, 640], size=(n, 2))
    orphans = rng.choice(n, 40, replace=False)
    c, o = near_container_candidates(hashes, sizes, orphans, 14, min_distance=5)
    want = set()
    for x in orphans.tolist():
        for z in range(n):
            d = bin(int(hashes[x, 0]) ^ int(hashes[z, 0])).count("1")
            (wx, hx), (wz, hz) = sizes[x], sizes[z]
            if 5 <= d <= 14 and wx <= wz and hx <= hz and (wx, hx) != (wz, hz) and wx * hx >= 0.6 * wz * hz:
                want.add((z, x))
    assert set(zip(c.tolist(), o.tolist())) == want and len(want) > 0


def _hashed_photo_crop_and_two_other_shots(folder) -> Undouble:
    """A hashed model of a_original, b_crop (7-9% off each side), c_other and d_other (other shots)."""
    shots = corpus._shots(np.random.default_rng([5, 1]), 640, 480, 3)
    base = jpeg_round_trip(shots[0], 92)
    h, w = base.shape[:2]
    crop = base[int(0.07 * h):int(0.95 * h), int(0.09 * w):int(0.93 * w)]
    _write(folder, {"a_original.jpg": base, "b_crop.jpg": crop, "c_other.jpg": shots[1], "d_other.jpg": shots[2]})
    return _hashed(str(folder))


def test_a_crop_in_no_candidate_pair_finds_its_original_within_1_6_times_the_threshold(tmp_path, monkeypatch):
    """End to end, the window searches turned off: a crop farther in hash than the threshold from every
    image is proposed the images within 1.6 x the threshold that could contain it, and joins its original."""
    import undouble.second_look as second_look

    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    monkeypatch.setattr(second_look, "window_crop_candidates", lambda *a, **k: empty)
    monkeypatch.setattr(second_look, "REVERSE_WINDOWS", False)
    model = _hashed_photo_crop_and_two_other_shots(tmp_path)
    hashes = [int(v) for v in model.results["img_hash"][:, 0]]
    far = bin(hashes[0] ^ hashes[1]).count("1")
    threshold = int(np.ceil(far / second_look.NEAR_CONTAINER_FACTOR))
    others = [bin(hashes[1] ^ hashes[k]).count("1") for k in (2, 3)]
    assert far > threshold and min(others) > threshold  # the crop is in no candidate pair
    model.group(threshold=threshold)
    groups = _group_names(model)
    assert groups == [["a_original.jpg", "b_crop.jpg"]]
    monkeypatch.setattr(second_look, "NEAR_CONTAINERS", False)
    model.group(threshold=threshold)
    assert model.results["select_pathnames"] == []  # without the search the crop stays alone


def test_a_crop_far_in_hash_is_grouped_with_its_original(tmp_path):
    """End to end: a 9%-per-side crop whose phash is over the threshold from its original."""
    model = _hashed_photo_crop_and_two_other_shots(tmp_path)
    h0, h1 = model.results["img_hash"][0, 0], model.results["img_hash"][1, 0]
    assert bin(int(h0) ^ int(h1)).count("1") > 6  # the crop is far in hash
    model.group(threshold=6)
    groups = _group_names(model)
    assert groups == [["a_original.jpg", "b_crop.jpg"]]
    assert model.results["select_relation"][0][1].startswith("cropped")


def test_threshold_zero_looks_no_further():
    from undouble.second_look import second_look_pairs

    rng = np.random.default_rng(0)
    thumbs = make_thumbnails([_photo(0), _photo(1)])
    sizes = np.array([[640, 480], [600, 450]])
    results = {"img_hash": rng.integers(0, 2 ** 63, (2, 1)).astype(np.uint64), "hash_counts": None}
    a, b = second_look_pairs(results, 0, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool),
                             thumbs, sizes, np.arange(2), verify=lambda x, y: 1 / 0)
    assert a.size == b.size == 0


def test_the_second_looks_do_not_depend_on_the_input_order(tmp_path):
    """Originals found by the reverse window search and crops found by the near search give the same
    groups whatever the order of the files."""
    shots = corpus._shots(np.random.default_rng([5, 1]), 640, 480, 3)
    base = jpeg_round_trip(shots[0], 92)
    h, w = base.shape[:2]
    images = {
        "a_original.jpg": base,
        "b_crop.jpg": base[int(0.03 * h):int(0.93 * h), int(0.07 * w):int(0.97 * w)],
        "c_crop.jpg": base[int(0.04 * h):int(0.92 * h), int(0.08 * w):int(0.96 * w)],
        "d_other.jpg": shots[1],
        "e_other.jpg": shots[2],
    }
    other = jpeg_round_trip(corpus._shots(np.random.default_rng([6, 1]), 640, 480, 1)[0], 92)
    images["f_original.jpg"] = other
    images["g_crop.jpg"] = other[int(0.07 * h):int(0.95 * h), int(0.09 * w):int(0.93 * w)]
    _write(tmp_path, images)
    files = sorted(str(p) for p in tmp_path.iterdir())

    def groups(paths):
        model = _hashed(paths)
        model.group(threshold=8)
        return sorted(tuple(sorted(g)) for g in _group_names(model))

    reference = groups(files)
    assert ("a_original.jpg", "b_crop.jpg", "c_crop.jpg") in reference
    rng = np.random.default_rng(11)
    for _ in range(2):
        assert groups([files[k] for k in rng.permutation(len(files))]) == reference
