"""The hash cache against hostile input (issue 19): malformed rows, files that are not a cache, non-UTF-8 names."""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3

import numpy as np
import pytest

import undouble.io as uio
from undouble import Undouble
from undouble.cache import APPLICATION_ID, CacheEntry, HashCache, NotACacheError, check_cache_file
from undouble.cli import main
from undouble.examples import make_synthetic_set


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-cache") / "photos"
    make_synthetic_set(root, n_originals=6, n_with_duplicates=2, seed=11)
    return root


@pytest.fixture
def decodes(monkeypatch):
    """Paths decoded by io.read_image (patched where the pipeline looks it up)."""
    seen: list[str] = []
    real = uio.read_image

    def counting(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(uio.decode, "read_image", counting)
    return seen


@pytest.fixture
def errors(caplog):
    logger = logging.getLogger("undouble")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def run_model(target, cache):
    model = Undouble(method="phash", verbose=30, cache=cache)
    model.import_data(str(target))
    model.compute_hash()
    model.group(threshold=10)
    return model


# --------------------------------------------------------------------------- malformed rows
MALFORMED = {
    "short-blob": "UPDATE hashes SET packed = x'0102' WHERE path = ?",
    "blob-of-two-hashes": "UPDATE hashes SET packed = CAST(packed || packed AS BLOB) WHERE path = ?",
    "non-utf8-text": "UPDATE hashes SET packed = CAST(x'ff00fe' AS TEXT) WHERE path = ?",
    "text-in-size": "UPDATE hashes SET size = 'big' WHERE path = ?",
    "text-hash": "UPDATE hashes SET packed = 'not a blob' WHERE path = ?",
    "half-null-grid": "UPDATE hashes SET grid_h = NULL WHERE path = ?",
    "float-width": "UPDATE hashes SET width = 12.5 WHERE path = ?",
    "bad-warnings": "UPDATE hashes SET warnings = '{not json' WHERE path = ?",
}


@pytest.mark.parametrize("damage", sorted(MALFORMED))
def test_a_malformed_row_is_a_miss_and_is_rewritten(folder, tmp_path, decodes, damage):
    cache = tmp_path / "hashes.sqlite3"
    first = run_model(folder, cache)
    victim = first.results["pathnames"][2]
    conn = sqlite3.connect(cache)
    with conn:
        assert conn.execute(MALFORMED[damage], (victim,)).rowcount == 1
    conn.close()

    decodes.clear()
    again = run_model(folder, cache)  # never fails
    assert decodes == [victim]  # only the file of the bad row is decoded again
    assert again.results["pathnames"] == first.results["pathnames"]
    assert np.array_equal(again.results["img_hash"], first.results["img_hash"])
    assert again.results["select_pathnames"] == first.results["select_pathnames"]

    decodes.clear()
    run_model(folder, cache)  # the row was rewritten: everything is a hit now
    assert decodes == []


def test_prune_removes_malformed_rows_and_keeps_good_ones(tmp_path):
    files = [tmp_path / f"{name}.jpg" for name in ("good", "bad", "null")]
    for f in files:
        f.write_bytes(b"x" * 10)

    def entry(f):
        st = os.stat(f)
        return CacheEntry(str(f), st.st_size, st.st_mtime_ns, np.array([5], np.uint64), 64, None, (8, 8), 3, 2)

    path = tmp_path / "c.sqlite3"
    with HashCache(path) as cache:
        cache.store([entry(f) for f in files], ("k", "{}"))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE hashes SET mtime_ns = 'yesterday' WHERE path = ?", (str(files[1]),))
        conn.execute("UPDATE hashes SET blur_pixels = x'00' WHERE path = ?", (str(files[2]),))
    conn.close()
    with HashCache(path) as cache:
        assert sorted(cache.lookup([str(f) for f in files], "k")) == [str(files[0])]
        assert cache.prune() == 2
        assert cache.count() == 1
        assert list(cache.lookup([str(f) for f in files], "k")) == [str(files[0])]


def test_damaged_and_warnings_round_trip(tmp_path):
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x" * 10)
    st = os.stat(f)
    notes = ("Corrupt JPEG data: premature end of data segment", "second message")
    with HashCache(tmp_path / "c.sqlite3") as cache:
        cache.store([CacheEntry(str(f), st.st_size, st.st_mtime_ns, np.array([7], np.uint64), 64, None, (8, 8),
                                30, 20, 1.5, 600, True, notes)], ("k", "{}"))
        hit = cache.lookup([str(f)], "k")[str(f)]
    assert hit.damaged is True and hit.warnings == notes


def test_an_older_cache_gets_the_new_columns_in_place(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)  # the table of schema 2 before damaged/warnings, no application_id
    with conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema', '2')")
        conn.execute("CREATE TABLE hashes (path TEXT NOT NULL, params TEXT NOT NULL, size INTEGER NOT NULL,"
                     " mtime_ns INTEGER NOT NULL, packed BLOB NOT NULL, nbits INTEGER NOT NULL, segments INTEGER,"
                     " grid_h INTEGER, grid_w INTEGER, width INTEGER NOT NULL, height INTEGER NOT NULL, blur REAL,"
                     " blur_pixels INTEGER NOT NULL DEFAULT 0, stored REAL NOT NULL, PRIMARY KEY (path, params))"
                     " WITHOUT ROWID")
        conn.execute("INSERT INTO hashes VALUES ('/x.jpg', 'k', 1, 2, x'0700000000000000', 64, NULL, 8, 8, 3, 2,"
                     " NULL, 0, 0)")
    conn.close()
    with HashCache(path) as cache:
        hit = cache.lookup(["/x.jpg"], "k", stats={"/x.jpg": (1, 2)})["/x.jpg"]
        assert hit.damaged is False and hit.warnings == () and int(hit.packed[0]) == 7
    assert int.from_bytes(path.read_bytes()[68:72], "big") == APPLICATION_ID


# --------------------------------------------------------------------------- files that are not a cache
def _other_app_db(path, app_id=0):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('Ada', '123')")
        if app_id:
            conn.execute(f"PRAGMA application_id = {app_id}")
    conn.close()


def _foreign_file(kind, path, photos):
    if kind == "photo":
        shutil.copyfile(sorted(photos.glob("*.jpg"))[0], path)
    elif kind == "text":
        path.write_text("my notes\n" * 100)
    elif kind == "other-app-db":
        _other_app_db(path)
    else:
        _other_app_db(path, app_id=0x12345678)


@pytest.mark.parametrize("kind", ["photo", "text", "other-app-db", "other-app-id"])
def test_a_file_that_is_not_a_cache_is_refused_and_left_alone(folder, tmp_path, errors, capsys, kind):
    target = tmp_path / "precious.sqlite3"
    _foreign_file(kind, target, folder)
    before = target.read_bytes()

    with pytest.raises(NotACacheError, match="not an undouble hash cache"):
        HashCache(target)
    with pytest.raises(ValueError):
        check_cache_file(target)
    model = run_model(folder, target)  # the API logs the refusal and runs without a cache
    assert len(model.results["pathnames"]) == len([*folder.glob("*.jpg"), *folder.glob("*.png")])
    assert any("refused" in r.getMessage() and r.levelno == logging.ERROR for r in errors.records)
    capsys.readouterr()
    assert main(["scan", str(folder), "--cache", str(target), "-q"]) == 2
    assert "not an undouble hash cache" in capsys.readouterr().err
    assert main(["cache", "--cache", str(target), "--prune"]) == 2

    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["precious.sqlite3"]  # nothing moved aside, nothing created


def test_a_recognised_cache_is_accepted(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    check_cache_file(empty)  # an empty file is an empty database
    check_cache_file(tmp_path / "missing.sqlite3")
    made = tmp_path / "made.sqlite3"
    HashCache(made).close()
    assert int.from_bytes(made.read_bytes()[68:72], "big") == APPLICATION_ID
    check_cache_file(made)
    with pytest.raises(NotACacheError, match="folder"):
        check_cache_file(tmp_path)


# --------------------------------------------------------------------------- non-UTF-8 file names
def test_a_non_utf8_file_name_works_with_the_cache_twice(folder, tmp_path, decodes):
    root = tmp_path / "photos"
    shutil.copytree(folder, root)
    src = sorted(root.glob("*.jpg"))[0]
    odd = os.path.join(os.fsencode(root), b"\xff\xfe.jpg")
    shutil.copyfile(src, odd)
    odd_name = os.fsdecode(odd)
    cache = tmp_path / "hashes.sqlite3"

    first = run_model(root, cache)
    assert odd_name in first.results["pathnames"]
    assert any(odd_name in group and str(src) in group for group in first.results["select_pathnames"])
    decodes.clear()
    second = run_model(root, cache)
    assert decodes == []  # every file, the odd one included, came from the cache
    assert second.results["pathnames"] == first.results["pathnames"]
    assert np.array_equal(second.results["img_hash"], first.results["img_hash"])
    with HashCache(cache) as opened:
        assert odd_name in opened.lookup([odd_name], second._cache_key())
        assert opened.prune() == 0  # prune finds the file by its bytes
    os.remove(odd)
    with HashCache(cache) as opened:
        assert opened.prune() == 1
