"""The labelled corpus generator (undouble.corpus)."""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from undouble import corpus


def _digest(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_make_corpus_writes_files_and_truth(tmp_path):
    truth = corpus.make_corpus(tmp_path / "c", n_scenes=2, shots_per_scene=3, copies_per_shot=2,
                               size_range=(96, 128), seed=3, workers=1)
    rows = corpus.read_truth(truth)
    assert len(rows) == 2 * 3 * (1 + 2)
    assert len({r[1] for r in rows}) == 2 * 3  # one group per shot
    assert sum(r[2] == "original" for r in rows) == 6
    assert {r[2] for r in rows} <= set(corpus.BASIC_KINDS) | {"original"}
    for name, group, label in rows:
        path = truth.parent / name
        assert path.is_file() and name.startswith(group)
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert img is not None and max(img.shape[:2]) <= 128
    by_group = {}
    for name, group, label in rows:
        by_group.setdefault(group, []).append(label)
    assert all(labels.count("original") == 1 for labels in by_group.values())


def test_make_corpus_is_deterministic_and_parallel_equals_serial(tmp_path):
    args = dict(n_scenes=4, shots_per_scene=2, copies_per_shot=1, size_range=(64, 80), seed=9)
    corpus.make_corpus(tmp_path / "a", workers=1, **args)
    corpus.make_corpus(tmp_path / "b", workers=2, **args)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    corpus.make_corpus(tmp_path / "c", workers=1, **dict(args, seed=10))
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_kinds_are_selectable_and_exact_copies_are_byte_copies(tmp_path):
    truth = corpus.make_corpus(tmp_path, 2, 2, 2, kinds=["exact copy"], size_range=(64, 64), workers=1)
    rows = corpus.read_truth(truth)
    originals = {g: n for n, g, label in rows if label == "original"}
    copies = [(n, g) for n, g, label in rows if label == "exact copy"]
    assert len(copies) == 2 * 2 * 2
    for name, group in copies:
        assert (tmp_path / name).read_bytes() == (tmp_path / originals[group]).read_bytes()
    with pytest.raises(ValueError, match="unknown copy kinds"):
        corpus.make_corpus(tmp_path / "x", 1, kinds=["sepia"])
    with pytest.raises(ValueError, match="size_range"):
        corpus.make_corpus(tmp_path / "y", 1, size_range=(100, 50))


@pytest.mark.parametrize("kind", [k for k in corpus.ALL_KINDS if k != "exact copy"])
def test_every_transform_kind(kind):
    rng = np.random.default_rng(1)
    img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out, quality = corpus.transform(img, kind, rng)
    assert out.dtype == np.uint8 and 1 <= quality <= 100
    h, w = img.shape[:2]
    if kind in ("rotate90", "rotate270", "transpose"):
        assert out.shape == (w, h, 3)
    if kind == "rotate90":
        assert np.array_equal(out, np.rot90(img, -1))
    if kind == "rotate180":
        assert np.array_equal(out, img[::-1, ::-1])
    if kind == "mirror":
        assert np.array_equal(out, img[:, ::-1])
    if kind == "flip":
        assert np.array_equal(out, img[::-1])
    if kind == "grey":
        assert out.ndim == 2 and out.shape == (h, w)
    if kind == "crop":
        assert 0.84 * h <= out.shape[0] <= 0.96 * h + 1 and 0.84 * w <= out.shape[1] <= 0.96 * w + 1
    if kind == "crop25":
        assert 0.5 * h <= out.shape[0] <= 0.8 * h + 1
    if kind in ("letterbox", "screenshot"):
        assert out.shape[0] >= h and out.shape[1] > w
    if kind == "resize":
        assert out.shape[0] < h and out.shape[1] < w
    if kind in ("brightness", "contrast", "blur", "watermark"):
        assert out.shape == img.shape and not np.array_equal(out, img)


def test_shots_of_a_scene_differ_visibly_in_part_of_the_frame():
    rng = np.random.default_rng(4)
    shots = corpus._shots(rng, 200, 150, 4)
    assert all(s.shape == (150, 200, 3) for s in shots)
    for other in shots[1:]:
        diff = np.abs(other.astype(int).mean(axis=2) - shots[0].astype(int).mean(axis=2))
        assert (diff > 30).mean() >= 0.01  # a visible change (or new content after a camera move)


def test_a_crop_copy_keeps_part_of_what_tells_its_shot_from_the_others():
    img = np.zeros((200, 300, 3), np.uint8)
    differs = [np.zeros((200, 300), bool), np.zeros((200, 300), bool)]
    differs[0][:55, :80] = True  # another shot differs only in the top left corner
    differs[1][145:, 220:] = True  # a third one only in the bottom right corner
    for seed in range(20):
        rng = np.random.default_rng(seed)
        out = corpus._crop(img, rng, 0.10, 0.25, differs)
        again = np.random.default_rng(seed)
        # the crop drawn is the first of the draws that keeps both corners
        for _ in range(50):
            left, right = (int(again.uniform(0.10, 0.25) * 300) for _ in range(2))
            top, bottom = (int(again.uniform(0.10, 0.25) * 200) for _ in range(2))
            if all(m[top:200 - bottom, left:300 - right].mean() >= corpus.CROP_KEEPS_DIFFERENCE for m in differs):
                break
        assert out.shape[:2] == (200 - bottom - top, 300 - right - left)
        for mask in differs:  # 9 of these 20 first draws leave out a corner
            assert mask[top:200 - bottom, left:300 - right].mean() >= corpus.CROP_KEEPS_DIFFERENCE
def test_works_without_scikit_image(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "_photo_cache", [])  # as if scikit-image were not installed
    truth = corpus.make_corpus(tmp_path, 3, 2, 1, size_range=(64, 72), workers=1)
    assert len(corpus.read_truth(truth)) == 3 * 2 * 2


@pytest.mark.parametrize("seed", [0, 1])
def test_scenes_of_one_corpus_are_never_copies_of_each_other(tmp_path, seed):
    """120 scenes, one shot each, no copies: robust mode (which links crops, rotations and windows of any
    picture) must find no group. Scenes built on one photograph turn it by different angles; drawn upright
    at random places, two of them were at times pixel-exact crops of each other."""
    from undouble import Undouble

    corpus.make_corpus(tmp_path, n_scenes=120, shots_per_scene=1, copies_per_shot=0, size_range=(200, 320),
                       seed=seed, workers=2)
    model = Undouble(method="phash", verbose=40, robust=True)
    model.import_data(str(tmp_path))
    model.compute_hash()
    model.group(threshold=10)
    assert model.results["select_pathnames"] == [], model.results["select_pathnames"]


def test_photo_angles_are_distinct_and_less_than_an_eighth_turn():
    assert len(set(corpus.PHOTO_ANGLES)) == len(corpus.PHOTO_ANGLES)
    assert all(abs(a) < 45 for a in corpus.PHOTO_ANGLES)  # a quarter turn apart would be a robust copy
    # the smallest difference of two uses of one photograph among the first 8 (96 photo scenes)
    first = sorted(corpus.PHOTO_ANGLES[:8])
    assert min(b - a for a, b in zip(first, first[1:])) >= 9.0
