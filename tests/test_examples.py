"""The generated example set, wget, unzip and set_logger."""
import json
import logging
import os
import zipfile

import pytest

import undouble as ud
from undouble.examples import make_synthetic_set


def test_synthetic_set_is_deterministic(tmp_path):
    a = make_synthetic_set(tmp_path / "a", n_originals=12, n_with_duplicates=4, seed=5)
    b = make_synthetic_set(tmp_path / "b", n_originals=12, n_with_duplicates=4, seed=5)
    assert a == b
    assert len(a["groups"]) == 4 and all(len(g) >= 2 for g in a["groups"])
    for name in a["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text()) == a


def test_import_example_returns_existing_image_paths(example_paths, example_manifest):
    assert len(example_paths) == len(example_manifest["files"]) >= 200
    assert all(os.path.isfile(p) for p in example_paths)
    assert example_paths == sorted(example_paths)


def test_flowers_without_network_says_how_to_use_the_built_in_set():
    with pytest.raises(ConnectionError, match="synthetic"):
        ud.import_example("flowers", url="http://127.0.0.1:9/flower_images.zip")


def test_unknown_example_is_a_clear_error():
    with pytest.raises(ValueError, match="synthetic"):
        ud.import_example("mnist-please")


def test_wget_downloads_and_never_overwrites(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    target = tmp_path / "out" / "copy.bin"
    assert ud.wget(source.as_uri(), target) == str(target)
    assert target.read_bytes() == b"payload"
    source.write_bytes(b"changed")
    ud.wget(source.as_uri(), target)
    assert target.read_bytes() == b"payload"  # an existing file is kept as it is
    assert sorted(os.listdir(target.parent)) == ["copy.bin"]  # no partial files left


def test_unzip_refuses_unsafe_paths_and_keeps_existing_files(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("flowers/0001.png", b"new")
        zf.writestr("flowers/0002.png", b"two")
        zf.writestr("../escape.txt", b"bad")
    dest = tmp_path / "dest"
    (dest / "flowers").mkdir(parents=True)
    (dest / "flowers" / "0001.png").write_bytes(b"mine")
    assert ud.unzip(archive, dest) == str(dest)
    assert (dest / "flowers" / "0001.png").read_bytes() == b"mine"
    assert (dest / "flowers" / "0002.png").read_bytes() == b"two"
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("verbose, level", [(10, 10), ("info", 20), ("warning", 30), (40, 40),
                                            ("silent", 60), (0, 60), (4, 20)])
def test_set_logger_takes_the_seed_values(verbose, level):
    logger = logging.getLogger("undouble")
    old = logger.level
    try:
        assert ud.set_logger(verbose) == level
        assert logger.level == level
    finally:
        logger.setLevel(old)


def test_set_logger_rejects_unknown_names():
    with pytest.raises(ValueError, match="verbosity"):
        ud.set_logger("loud")
