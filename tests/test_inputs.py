"""The input forms of import_data, and the folder scan."""
import os

import numpy as np
import pytest
from PIL import Image

from undouble import Undouble
from undouble.io import list_images


def _write(path, seed, size=(64, 48)):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize(size, Image.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return str(path)


@pytest.fixture
def tree(tmp_path):
    _write(tmp_path / "a.png", 1)
    _write(tmp_path / "B.JPG", 2)
    _write(tmp_path / "sub" / "c.jpeg", 3)
    _write(tmp_path / "sub" / "deeper" / "d.Png", 4)
    _write(tmp_path / "undouble" / "moved.png", 5)
    _write(tmp_path / "sub" / "undouble" / "moved2.png", 6)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_scan_is_recursive_case_insensitive_and_skips_output(tree):
    paths, skipped = list_images(tree, ["png", "jpg", "jpeg"])
    names = sorted(os.path.relpath(p, tree) for p in paths)
    assert names == ["B.JPG", "a.png", os.path.join("sub", "c.jpeg"), os.path.join("sub", "deeper", "d.Png")]
    assert skipped == []


def test_import_folder(tree):
    model = Undouble(verbose=30)
    model.import_data(str(tree))
    assert len(model.results["pathnames"]) == 4
    assert model.results["img"].shape == (4, 128, 128, 3)


def test_import_list_and_single_file(tree):
    files = [str(tree / "a.png"), str(tree / "B.JPG")]
    model = Undouble(verbose=30, dim=(32, 16))
    model.import_data(files)
    assert model.results["pathnames"] == [os.path.abspath(f) for f in files]
    assert model.results["img"].shape == (2, 16, 32, 3)
    model.import_data(files[1])
    assert model.results["filenames"] == ["B.JPG"]


def test_import_missing_path_is_clear():
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        Undouble(verbose=30).import_data("/nonexistent/folder/xyz")


def test_array_grey_stack():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 200, (5, 40, 30), dtype=np.uint8)
    model = Undouble(verbose=30, dim=(20, 10), grayscale=True)
    model.import_data(data)
    img = model.results["img"]
    assert img.shape == (5, 10, 20) and img.dtype == np.uint8
    same_size = Undouble(verbose=30, dim=(30, 40))
    same_size.import_data(data)
    for raw, scaled in zip(data, same_size.results["img"]):  # x * 255 / max(x), rounded
        assert np.array_equal(scaled, np.rint(raw * (255.0 / raw.max())).astype(np.uint8))
    model.compute_hash()
    assert model.results["feat"].shape == (5, 5)


def test_array_rgb_stack_and_float_input():
    rng = np.random.default_rng(1)
    data = rng.random((3, 24, 24, 3))
    model = Undouble(verbose=30, dim=(16, 16))
    model.import_data(data)
    assert model.results["img"].shape == (3, 16, 16, 3)
    model = Undouble(verbose=30, dim=(24, 24))
    model.import_data(data)
    assert [img.max() for img in model.results["img"]] == [255, 255, 255]


def test_two_d_array_reshapes_to_dim():
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (4, 8 * 6), dtype=np.uint8)
    model = Undouble(verbose=30, dim=(8, 6))
    model.import_data(grey)
    assert model.results["img"].shape == (4, 6, 8)
    rgb = rng.integers(0, 256, (4, 8 * 6 * 3), dtype=np.uint8)
    model.import_data(rgb)
    assert model.results["img"].shape == (4, 6, 8, 3)


def test_two_d_array_that_cannot_be_reshaped_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot be reshaped"):
        Undouble(verbose=30, dim=(8, 6)).import_data(np.zeros((4, 50), np.uint8))


def test_black_image_stays_black():
    model = Undouble(verbose=30, dim=(8, 8))
    model.import_data(np.zeros((2, 16, 16), np.uint8))
    assert not model.results["img"].any()


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    _write(tmp_path / "good.png", 1)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    model = Undouble(verbose=50)
    model.import_data(str(tmp_path))
    assert model.results["filenames"] == ["good.png"]
    reasons = {os.path.basename(p): r for p, r in model.results["skipped"]}
    assert set(reasons) == {"empty.jpg", "text.png", "truncated.png"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text.png"]
    assert reasons["truncated.png"]


def test_exif_rotated_photo_matches_upright_copy(tmp_path):
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    upright = Image.fromarray(coarse).resize((280, 200), Image.BICUBIC)
    upright.save(tmp_path / "upright.jpg", quality=95)
    # stored rotated; the EXIF tag (6 = rotate 90 CW to display) turns it back
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "tagged.jpg", quality=95, exif=exif.tobytes())
    model = Undouble(verbose=30)
    model.import_data(str(tmp_path))
    model.compute_hash()
    assert model.results["feat"][0, 1] <= 4
    assert model.results["resolution"].tolist() == [[280, 200], [280, 200]]
