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
    local = ("file", "http", "https")
    assert ud.wget(source.as_uri(), target, schemes=local) == str(target)
    assert target.read_bytes() == b"payload"
    source.write_bytes(b"changed")
    ud.wget(source.as_uri(), target, schemes=local)
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


# ----------------------------------------------------------------------------- hostile input (issue 19)
def test_wget_accepts_only_http_by_default(tmp_path):
    source = tmp_path / "secret.txt"
    source.write_bytes(b"local file")
    with pytest.raises(ValueError, match="only http, https"):
        ud.wget(source.as_uri(), tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


def test_wget_limit_counts_the_bytes_that_arrive(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 5000)
    target = tmp_path / "out" / "big.bin"
    with pytest.raises(ValueError, match="limit"):
        ud.wget(source.as_uri(), target, schemes=("file",), max_bytes=4096)
    assert not target.exists() and os.listdir(target.parent) == []  # no partial file


def test_unzip_compares_paths_not_string_prefixes(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../dest_sibling/x.txt", b"bad")
        zf.writestr("../dest/../dest_sibling/y.txt", b"bad")
        zf.writestr("ok.txt", b"good")
    dest = tmp_path / "dest"
    ud.unzip(archive, dest)
    assert not (tmp_path / "dest_sibling").exists()
    assert (dest / "ok.txt").read_bytes() == b"good"


def test_unzip_total_size_limit_is_checked_while_streaming(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.txt", b"s" * 100)
        zf.writestr("big.bin", b"\0" * 300_000)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="limit"):  # refused from the headers already
        ud.unzip(archive, dest, max_bytes=200_000)
    assert not (dest / "big.bin").exists()
    # headers that claim little (here: their sum is hidden): the bytes are counted as they come
    import undouble.examples as ex

    monkeypatch.setattr(ex, "_declared_size", lambda members: 0)
    with pytest.raises(ValueError, match="limit"):
        ud.unzip(archive, dest, max_bytes=200_000)
    assert (dest / "small.txt").read_bytes() == b"s" * 100
    assert not (dest / "big.bin").exists()  # the partial member was removed


def test_unzip_removes_a_partial_member_after_a_failure(tmp_path, monkeypatch):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.bin", b"a" * (3 << 20))
    import undouble.examples as ex

    real, calls = ex._copy_limited, [0]

    def failing(src, out, budget, what):
        out.write(src.read(1 << 20))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex, "_copy_limited", failing)
    with pytest.raises(OSError):
        ud.unzip(archive, tmp_path / "dest")
    assert not (tmp_path / "dest" / "a.bin").exists()
    monkeypatch.setattr(ex, "_copy_limited", real)
    ud.unzip(archive, tmp_path / "dest")  # the next run extracts it whole
    assert (tmp_path / "dest" / "a.bin").read_bytes() == b"a" * (3 << 20)


def test_unzip_skips_a_member_whose_path_runs_through_a_file(tmp_path, caplog):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("photo.jpg/inner.txt", b"x")
        zf.writestr("photo.jpg/sub/", b"")
        zf.writestr("after.txt", b"after")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "photo.jpg").write_bytes(b"mine")
    with caplog.at_level(logging.WARNING, logger="undouble"):
        ud.unzip(archive, dest)
    assert "runs through an existing file" in caplog.text
    assert (dest / "photo.jpg").read_bytes() == b"mine"
    assert (dest / "after.txt").read_bytes() == b"after"
