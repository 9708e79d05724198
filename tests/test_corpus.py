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


def test_works_without_scikit_image(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "_photo_cache", [])  # as if scikit-image were not installed
    truth = corpus.make_corpus(tmp_path, 3, 2, 1, size_range=(64, 72), workers=1)
    assert len(corpus.read_truth(truth)) == 3 * 2 * 2
