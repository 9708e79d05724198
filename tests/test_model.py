"""The seed's examples, run as a user would, on the built-in example set."""
import logging
import os

import numpy as np
import pytest

import undouble as ud
from undouble import Undouble


@pytest.fixture(scope="module")
def hashed_model(example_paths):
    model = Undouble(method="phash", hash_size=8, verbose=30)
    model.import_data(example_paths)
    model.compute_hash()
    return model


def _name_groups(model):
    return sorted(sorted(os.path.basename(p) for p in g) for g in model.results["select_pathnames"])


def test_import_keys_as_the_seed_prints(example_paths):
    model = Undouble(ext=["png", "tiff", "jpg", "jfif"], grayscale=False, dim=(128, 128), verbose=30)
    model.import_data(example_paths)
    keys = list(model.results.keys())
    assert keys[:4] == ["img", "feat", "pathnames", "filenames"]
    assert model.results["feat"] is None
    n = len(example_paths)
    assert model.results["img"].shape == (n, 128, 128, 3)
    assert model.results["img"].dtype == np.uint8
    assert model.results["filenames"] == [os.path.basename(p) for p in model.results["pathnames"]]
    assert model.results["skipped"] == []


def test_compute_hash_fills_feat(hashed_model):
    r = hashed_model.results
    n = len(r["pathnames"])
    feat = r["feat"]
    assert feat.shape == (n, n) and feat.dtype == np.uint8
    assert np.array_equal(feat, feat.T) and not feat.diagonal().any()
    assert r["img_hash"].shape == (n, 1) and r["img_hash"].dtype == np.uint64
    assert r["img_hash_bin"].shape == (n, 64) and r["img_hash_bin"].dtype == np.bool_
    assert all(len(h) == 16 for h in r["img_hash_hex"])
    # feat is the popcount of the XOR of the hash bits, checked with plain numpy
    bits = r["img_hash_bin"]
    for i in (0, 5, n - 1):
        assert np.array_equal(feat[i], (bits[i] != bits).sum(axis=1))


def test_hashes_match_hash_image_on_the_preprocessed_images(hashed_model):
    r = hashed_model.results
    for i in (0, 17, 101):
        assert r["img_hash_hex"][i] == ud.hash_image(r["img"][i], "phash", 8)


def test_groups_at_threshold_10_are_the_planted_duplicates(hashed_model, example_manifest):
    expected = sorted(sorted(g) for g in example_manifest["groups"])
    hashed_model.params["verify"] = False  # hash alone: exactly the planted groups
    try:
        hashed_model.group(threshold=10)
    finally:
        hashed_model.params["verify"] = True
    assert _name_groups(hashed_model) == expected
    hashed_model.group(threshold=10)  # verified: never joins what was not planted together
    verified = _name_groups(hashed_model)
    assert len(verified) == len(expected)
    assert all(any(set(v) <= set(e) for e in expected) for v in verified)


def test_threshold_0_groups_only_identical_hashes(hashed_model, example_manifest):
    results = hashed_model.group(threshold=0)
    hexes = results["img_hash_hex"]
    for idx in results["select_idx"]:
        assert len({hexes[i] for i in idx}) == 1
    # every exact byte copy is found
    copies = [g for g in example_manifest["groups"] if any("_copy." in name for name in g)]
    found = [set(g) for g in _name_groups(hashed_model)]
    for g in copies:
        pair = {g[0], next(n for n in g if "_copy." in n)}
        assert any(pair <= f for f in found)


def test_group_results_are_aligned(hashed_model):
    r = hashed_model.group(threshold=10)
    assert len(r["select_pathnames"]) == len(r["select_scores"]) == len(r["select_idx"]) == r["stats"]["n_groups"]
    for paths, scores, idx in zip(r["select_pathnames"], r["select_scores"], r["select_idx"]):
        assert paths == [r["pathnames"][i] for i in idx]
        assert scores[0] == 0
        assert np.array_equal(scores, r["feat"][idx[0], idx])
        assert len(set(idx.tolist())) == len(idx)
    assert r["stats"]["n_grouped_images"] == sum(len(i) for i in r["select_idx"])


def test_keeper_is_the_highest_resolution(hashed_model):
    r = hashed_model.group(threshold=10)
    for idx in r["select_idx"]:
        pixels = r["resolution"][idx].prod(axis=1)
        assert pixels[0] == pixels.max()


def test_group_logs_the_seed_lines(hashed_model):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("undouble")
    handler, old_level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        r = hashed_model.group(threshold=10)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    n_groups, n_images = r["stats"]["n_groups"], r["stats"]["n_grouped_images"]
    assert f"Number of groups with similar images detected: {n_groups}" in records
    assert f"[{n_groups}] groups are detected for [{n_images}] images." in records


def test_compute_hash_uses_init_hash_size(example_paths):
    model = Undouble(method="ahash", hash_size=16, verbose=30)
    model.import_data(example_paths[:5])
    model.compute_hash()
    assert model.results["img_hash_bin"].shape == (5, 256)
    assert model.results["img_hash"].shape == (5, 4)
    model.compute_hash(method="dhash", hash_size=6)
    assert model.results["img_hash_bin"].shape == (5, 36)
    assert model.params["method"] == "dhash"


def test_steps_out_of_order_raise_clear_errors():
    model = Undouble(verbose=30)
    with pytest.raises(RuntimeError, match="import_data"):
        model.compute_hash()
    model.import_data(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(RuntimeError, match="compute_hash"):
        model.group()


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown hash method"):
        Undouble(method="sha256")


def test_grayscale_copy_of_colour_photo_matches(tmp_path):
    from PIL import Image
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from imagesets import real_photos

    photo = real_photos()["chelsea"]
    Image.fromarray(photo).save(tmp_path / "colour.png")
    Image.fromarray(photo).convert("L").save(tmp_path / "grey.png")
    model = Undouble(method="phash", verbose=30)
    model.import_data(str(tmp_path))
    model.compute_hash()
    assert model.results["feat"][0, 1] <= 2


def test_memory_budget_off_gives_the_same_groups(example_paths, hashed_model):
    dense = hashed_model.group(threshold=10)
    expected = [list(p) for p in dense["select_pathnames"]]
    expected_scores = [s.tolist() for s in dense["select_scores"]]
    model = Undouble(method="phash", memory_budget=0, verbose=30)
    model.import_data(example_paths)
    assert model.compute_hash() is None and model.results["feat"] is None
    r = model.group(threshold=10)
    assert [list(p) for p in r["select_pathnames"]] == expected
    assert [s.tolist() for s in r["select_scores"]] == expected_scores


@pytest.mark.parametrize("method, nbits", [("whash-db4", 196), ("colorhash", 42), ("whash-haar", 64)])
def test_feat_dtype_follows_the_bit_count(example_paths, method, nbits):
    model = Undouble(method=method, verbose=30)
    model.import_data(example_paths[:12])
    feat = model.compute_hash()
    assert model.results["hash_nbits"] == nbits
    assert feat.dtype == np.uint8 and feat.shape == (12, 12)
    bits = model.results["img_hash_bin"][:, :nbits]
    assert np.array_equal(feat[3], (bits[3] != bits).sum(axis=1))


def test_crop_resistant_end_to_end(example_paths, example_manifest):
    names = example_manifest["groups"][0]
    folder = os.path.dirname(example_paths[0])
    files = [os.path.join(folder, n) for n in names] + example_paths[:6]
    model = Undouble(method="crop-resistant", verbose=30)
    model.import_data(files)
    model.compute_hash()
    counts = model.results["hash_counts"]
    assert counts is not None and (counts >= 1).all()
    assert all(len(h.split(",")) == c for h, c in zip(model.results["img_hash_hex"], counts))
    r = model.group(threshold=8)
    grouped = [set(map(os.path.basename, g)) for g in r["select_pathnames"]]
    assert any(set(names) <= g for g in grouped)


def _photo_pair(folder, size=(1024, 768)):
    """A sharp JPEG and a blurred copy of the same size (decoded reduced at dim 128)."""
    import cv2
    import skimage.data

    rgb = cv2.resize(skimage.data.astronaut(), size, interpolation=cv2.INTER_AREA)
    sharp, blurry = os.path.join(folder, "z_sharp.jpg"), os.path.join(folder, "a_blurry.jpg")
    cv2.imwrite(sharp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    soft = cv2.GaussianBlur(rgb, (0, 0), 1.2)
    # the blurred copy is the larger file, so that only the sharpness can put the sharp one first
    cv2.imwrite(blurry, cv2.cvtColor(soft, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert os.path.getsize(blurry) > os.path.getsize(sharp)
    return sharp, blurry


def _canonical_sharpness(path):
    """Reference: the file decoded in full by OpenCV, in grey, area-resized by the largest power
    of two (<= 8) that keeps both sides >= 64 (rounded up); variance of OpenCV's float Laplacian."""
    import cv2

    grey = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    s = next(s for s in (8, 4, 2, 1) if 2 * -(-min(h, w) // s) >= 128)
    grey = cv2.resize(grey, (-(-w // s), -(-h // s)), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()), grey.size


def _hide(paths):
    """Rename files away (tests run as root, where chmod 000 does not stop reading)."""
    for p in paths:
        os.rename(p, p + ".hidden")


def _unhide(paths):
    for p in paths:
        os.rename(p + ".hidden", p)


def test_group_ranks_from_the_import_without_opening_any_file(tmp_path, monkeypatch):
    import undouble.keeper as keeper
    from undouble.io import read_image

    sharp, blurry = _photo_pair(tmp_path)
    model = Undouble(method="phash", verbose=30)
    model.import_data(os.fspath(tmp_path))
    model.compute_hash()
    res = model.results
    assert res["sharpness"] is res["blur"] and res["sharpness"].dtype == np.float64
    for k, path in enumerate(res["pathnames"]):
        assert read_image(path, (128, 128)).pixels.shape[:2] == (96, 128)  # decoded at 1/8
        want, pixels = _canonical_sharpness(path)  # from the full decoding: the same scale
        assert res["sharpness"][k] == pytest.approx(want, rel=0.01)
        assert res["blur_pixels"][k] == pixels == 128 * 96
    assert res["is_grey"].tolist() == [False, False]

    def no_decoding(*args, **kwargs):
        raise AssertionError("group() must not open the files")

    monkeypatch.setattr(keeper, "compute_blur", no_decoding)
    monkeypatch.setattr(keeper, "image_resolution", no_decoding)
    _hide([sharp, blurry])
    try:
        model.group(threshold=10)
    finally:
        _unhide([sharp, blurry])
    assert res["select_pathnames"] == [[sharp, blurry]]
    assert model._keeper_ranks[0][0].reason.startswith("sharpest")

    journal = model.move(yes=True)  # the move keeps the keeper group() chose
    assert os.path.isfile(sharp) and not os.path.exists(blurry)
    ud.undo(journal)
    assert os.path.isfile(blurry)


def test_equal_resolutions_compare_at_one_scale_whatever_their_decoding(tmp_path):
    import cv2

    sharp, blurry = _photo_pair(tmp_path)
    png = os.path.join(tmp_path, "m_blurry.png")  # same size, decoded in full (the JPEGs at 1/8)
    cv2.imwrite(png, cv2.GaussianBlur(cv2.imread(sharp), (0, 0), 2.0))
    model = Undouble(method="phash", verbose=30)
    model.import_data(os.fspath(tmp_path))
    model.compute_hash()
    assert len(set(model.results["blur_pixels"].tolist())) == 1
    _hide([sharp, blurry, png])
    try:
        model.group(threshold=12)
    finally:
        _unhide([sharp, blurry, png])
    (group,) = model.results["select_pathnames"]
    assert group == [sharp, blurry, png]  # sharpest first, the blurrier PNG last
    ranks = {r.path: r for r in model._keeper_ranks[0]}
    for path in group:
        assert ranks[path].blur == pytest.approx(_canonical_sharpness(path)[0], rel=0.01)



# ----------------------------------------------------------------------------- threshold checks
def _small_model():
    rng = np.random.default_rng(0)
    model = Undouble(method="ahash", hash_size=8, verbose=30, threshold=4, verify=False)  # hash semantics: random images
    model.import_data(rng.integers(0, 256, (4, 32, 32), dtype=np.uint8))
    model.compute_hash()
    return model


@pytest.mark.parametrize("bad", [64, 1000])
def test_threshold_at_or_above_the_bit_count_is_refused(bad):
    model = _small_model()
    with pytest.raises(ValueError, match="64 bits"):
        model.group(threshold=bad)
    assert model.params["threshold"] == 4
    assert model.group(threshold=63)["stats"]["n_groups"] == 1  # every pair is within 63 bits


@pytest.mark.parametrize("bad", [3.7, -1, "3", None.__class__])
def test_a_failed_group_call_leaves_the_threshold_unchanged(bad):
    model = _small_model()
    with pytest.raises(ValueError):
        model.group(threshold=bad)
    assert model.params["threshold"] == 4
    assert model.group()["stats"]["threshold"] == 4  # later calls still work
    assert model.group(threshold=3.0)["stats"]["threshold"] == 3
