"""Keeper ranking and the blur score."""
from __future__ import annotations

import itertools
import os

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from undouble.keeper import compute_blur, image_resolution, rank_keepers


def _sharp(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _blurry(h: int, w: int, seed: int = 0) -> np.ndarray:
    return cv2.GaussianBlur(_sharp(h, w, seed), (0, 0), 4)


def _save(path, arr, pad: int = 0) -> str:
    """Save a PNG; pad adds a text chunk, making the file larger without changing pixels."""
    info = PngImagePlugin.PngInfo()
    if pad:
        info.add_text("padding", "x" * pad)
    Image.fromarray(arr).save(path, pnginfo=info)
    return os.fspath(path)


# ----------------------------------------------------------------------------- blur
def test_blur_of_flat_image_is_zero():
    assert compute_blur(np.full((20, 30), 77, np.uint8)) == 0.0
    assert compute_blur(np.full((20, 30, 3), 200, np.uint8)) == 0.0


def test_blur_is_variance_of_laplacian_of_grey():
    rgb = _sharp(40, 50, seed=3)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    expected = cv2.Laplacian(grey, cv2.CV_64F).var()
    assert compute_blur(rgb) == pytest.approx(expected, rel=1e-12)
    assert compute_blur(grey) == pytest.approx(expected, rel=1e-12)
    assert compute_blur(grey[:, :, None]) == pytest.approx(expected, rel=1e-12)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert compute_blur(rgba) == pytest.approx(expected, rel=1e-12)
    assert compute_blur(Image.fromarray(rgb)) == pytest.approx(
        cv2.Laplacian(np.asarray(Image.fromarray(rgb).convert("L")), cv2.CV_64F).var())


def test_blur_sharp_beats_blurry():
    assert compute_blur(_sharp(64, 64)) > 100 > compute_blur(_blurry(64, 64))


def test_blur_from_path_decodes_full_resolution(tmp_path):
    rgb = _sharp(300, 400, seed=5)
    path = _save(tmp_path / "a.png", rgb)
    # a PNG is lossless: the file gives the same score as the array (full size decode)
    assert compute_blur(path) == pytest.approx(compute_blur(rgb), rel=1e-9)
    # a reduced decode would give a clearly different score
    half = cv2.resize(rgb, (200, 150), interpolation=cv2.INTER_AREA)
    assert abs(compute_blur(path) - compute_blur(half)) > 0.05 * compute_blur(rgb)
    assert compute_blur(tmp_path / "a.png") == compute_blur(path)  # PathLike


def test_blur_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        compute_blur(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError):
        compute_blur(bad)
    with pytest.raises(ValueError):
        compute_blur(np.zeros((2, 3, 5), np.uint8))


# ----------------------------------------------------------------------------- ranking
def test_image_resolution_reads_header(tmp_path):
    path = _save(tmp_path / "r.png", _sharp(30, 70))
    assert image_resolution(path) == (70, 30)


def test_resolution_beats_blur(tmp_path):
    big_blurry = _save(tmp_path / "z_big.png", _blurry(80, 100))
    small_sharp = _save(tmp_path / "a_small.png", _sharp(40, 50), pad=200_000)
    ranks = rank_keepers([small_sharp, big_blurry])
    assert [r.path for r in ranks] == [big_blurry, small_sharp]
    assert ranks[0].reason == "highest resolution (100x80)"
    assert ranks[0].rank == 0 and ranks[0].is_keeper and ranks[1].rank == 1
    assert ranks[1].reason.startswith("lower resolution (50x40 < 100x80)")
    assert ranks[0].blur < ranks[1].blur  # it won despite being blurrier and smaller
    assert ranks[0].size < ranks[1].size


def test_blur_beats_size(tmp_path):
    sharp = _save(tmp_path / "z_sharp.png", _sharp(60, 60, seed=1))
    blurry_big = _save(tmp_path / "a_blurry.png", _blurry(60, 60, seed=1), pad=300_000)
    ranks = rank_keepers([blurry_big, sharp])
    assert ranks[0].path == sharp
    assert ranks[0].reason.startswith("sharpest (blur ")
    assert ranks[1].reason.startswith("blurrier")
    assert os.path.getsize(blurry_big) > os.path.getsize(sharp)


def test_size_beats_path(tmp_path):
    arr = _sharp(30, 30, seed=2)
    small = _save(tmp_path / "a.png", arr)
    large = _save(tmp_path / "b.png", arr, pad=5000)
    ranks = rank_keepers([small, large])
    assert ranks[0].path == large
    assert ranks[0].reason.startswith("largest file")
    assert ranks[1].reason.startswith("smaller file")
    assert ranks[0].blur == ranks[1].blur


def test_path_breaks_exact_ties_whatever_the_order(tmp_path):
    arr = _sharp(30, 30, seed=4)
    paths = [_save(tmp_path / name, arr) for name in ("c.png", "a.png", "b.png")]
    expected = sorted(paths)
    for perm in itertools.permutations(paths):
        ranks = rank_keepers(list(perm))
        assert [r.path for r in ranks] == expected
    assert rank_keepers(paths)[0].reason == "first path at equal resolution, sharpness and file size"
    assert rank_keepers(paths)[1].reason.startswith("later path")


def test_ranking_is_order_independent_mixed(tmp_path):
    paths = [
        _save(tmp_path / "1.png", _sharp(50, 50, 1)),
        _save(tmp_path / "2.png", _blurry(50, 50, 1)),
        _save(tmp_path / "3.png", _sharp(20, 80, 2)),  # 1600 px < 2500 px
        _save(tmp_path / "4.png", _sharp(60, 60, 3)),
        _save(tmp_path / "5.png", _blurry(50, 50, 1), pad=10000),
    ]
    orders = {tuple(r.path for r in rank_keepers(list(p)))
              for p in itertools.permutations(paths)}
    assert len(orders) == 1
    order = orders.pop()
    # 4 (most pixels), 1 (sharp 50x50), then the two blurry 50x50 (larger file first), then 3
    assert order == (paths[3], paths[0], paths[4], paths[1], paths[2])


def test_unreadable_files_rank_last_and_duplicates_once(tmp_path):
    good = _save(tmp_path / "good.png", _sharp(10, 10))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    missing = os.fspath(tmp_path / "missing.png")
    ranks = rank_keepers([os.fspath(broken), missing, good, good])
    assert [r.path for r in ranks][0] == good
    assert len(ranks) == 3
    assert all(not r.readable and r.pixels == 0 for r in ranks[1:])
    assert all(r.reason.startswith("unreadable") for r in ranks[1:])
    only = rank_keepers([good])
    assert only[0].reason == "only image (10x10)"


def test_all_blur_false_only_decodes_ties(tmp_path):
    a = _save(tmp_path / "a.png", _sharp(40, 40, 1))
    b = _save(tmp_path / "b.png", _sharp(40, 40, 2))
    c = _save(tmp_path / "c.png", _sharp(20, 20, 3))
    ranks = {r.path: r for r in rank_keepers([a, b, c], all_blur=False)}
    assert ranks[a].blur is not None and ranks[b].blur is not None
    assert ranks[c].blur is None
    full = rank_keepers([a, b, c])
    assert [r.path for r in full] == [r.path for r in rank_keepers([a, b, c], all_blur=False)]
    assert all(r.blur is not None for r in full)


# ----------------------------------------------------------------------------- known data
def test_laplacian_variance_matches_the_float64_laplacian():
    import skimage.data

    from undouble.keeper import laplacian_variance

    photos = [skimage.data.camera(), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY),
              _sharp(7, 300)[:, :, 0], np.zeros((1, 1), np.uint8), np.full((3, 5), 255, np.uint8)]
    for grey in photos:
        expected = cv2.Laplacian(grey, cv2.CV_64F).var()
        assert laplacian_variance(grey) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    floats = _sharp(20, 30)[:, :, 0].astype(np.float64) / 7
    assert laplacian_variance(floats) == cv2.Laplacian(floats, cv2.CV_64F).var()


def test_known_resolution_and_size_open_no_file(tmp_path):
    paths = [os.fspath(tmp_path / name) for name in ("a.jpg", "b.jpg", "c.jpg")]  # none exists
    ranks = rank_keepers(paths, resolutions=[(10, 10), (30, 20), (20, 30)], file_sizes=[5, 6, 7],
                         blur_scores=[1.0, 2.0, 3.0], blur_sizes=[100, 600, 600])
    assert [r.path for r in ranks] == [paths[2], paths[1], paths[0]]
    assert ranks[0].reason.startswith("sharpest (blur 3.0)")
    assert all(r.readable for r in ranks)
    assert [r.blur for r in ranks] == [3.0, 2.0, 1.0]


def test_scores_measured_at_different_sizes_are_not_compared(tmp_path):
    sharp = _save(tmp_path / "sharp.png", _sharp(40, 40))
    blurry = _save(tmp_path / "blurry.png", _blurry(40, 40), pad=5000)
    # the given scores claim the blurry one is sharper, but at another size: the files decide
    ranks = rank_keepers([blurry, sharp], resolutions=[(40, 40), (40, 40)], file_sizes=[9, 9],
                         blur_scores=[500.0, 1.0], blur_sizes=[1600, 400], all_blur=False)
    assert ranks[0].path == sharp
    assert ranks[0].blur == pytest.approx(compute_blur(sharp))
    # measured at the same size they are trusted, and no file is decoded
    ranks = rank_keepers([blurry, sharp], resolutions=[(40, 40), (40, 40)], file_sizes=[9, 9],
                         blur_scores=[500.0, 1.0], blur_sizes=[400, 400], all_blur=False)
    assert ranks[0].path == blurry
    # a missing score also sends the tie to the files
    ranks = rank_keepers([blurry, sharp], resolutions=[(40, 40), (40, 40)], file_sizes=[9, 9],
                         blur_scores=[500.0, float("nan")], blur_sizes=[400, 400], all_blur=False)
    assert ranks[0].path == sharp


def test_known_data_must_be_aligned(tmp_path):
    with pytest.raises(ValueError, match="resolutions has 1 entries for 2 paths"):
        rank_keepers(["a", "b"], resolutions=[(1, 1)], file_sizes=[1, 2])


# ----------------------------------------------------------------------------- vanished member
def test_member_vanished_before_ranking_ranks_last_with_reason(tmp_path):
    """Same resolution, blur measured at different sizes (so files are decoded) and one
    file deleted in between: it used to raise TypeError formatting a None blur."""
    keep = _save(tmp_path / "keep.png", _sharp(40, 50, seed=1))
    gone = _save(tmp_path / "gone.png", _blurry(40, 50, seed=1))
    third = _save(tmp_path / "third.png", _blurry(40, 50, seed=2))
    os.remove(gone)
    ranks = rank_keepers([gone, keep, third], all_blur=False, resolutions=[(50, 40)] * 3,
                         file_sizes=[100, 100, 100], blur_scores=[5.0, 9.0, 7.0],
                         blur_sizes=[2000, 500, 2000])
    assert [r.path for r in ranks] == [keep, third, gone]
    assert ranks[-1].readable is False
    assert "vanished" in ranks[-1].reason
    assert ranks[0].reason.startswith("sharpest")


def test_blur_unknown_for_one_member_is_described_not_a_crash(tmp_path, monkeypatch):
    import undouble.keeper as kp

    a = _save(tmp_path / "a.png", _sharp(40, 50, seed=1))
    b = _save(tmp_path / "b.png", _sharp(40, 50, seed=2))
    real = kp.compute_blur

    def flaky(path):
        if os.fspath(path) == b:
            raise ValueError("cannot decode")
        return real(path)

    monkeypatch.setattr(kp, "compute_blur", flaky)
    ranks = rank_keepers([a, b], all_blur=False)
    assert [r.path for r in ranks] == [a, b]
    assert "unknown" in ranks[1].reason
