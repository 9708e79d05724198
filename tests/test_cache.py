"""The persistent hash cache: hits, misses, invalidation, concurrency, corruption."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import undouble.io as uio
from undouble import Undouble
from undouble.cache import CacheEntry, HashCache, LazyImages, hash_params
from undouble.examples import make_synthetic_set


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache") / "photos"
    manifest = make_synthetic_set(root, n_originals=10, n_with_duplicates=3, seed=5)
    return root, manifest


@pytest.fixture
def decodes(monkeypatch):
    """Paths decoded by io.read_image, in order (patched where io looks it up: undouble.io.decode)."""
    seen: list[str] = []
    real = uio.read_image

    def counting(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(uio.decode, "read_image", counting)
    return seen


def run_model(target, cache, method="phash", threshold=10, **kwargs):
    model = Undouble(method=method, verbose=30, cache=cache, **kwargs)
    model.import_data(str(target))
    model.compute_hash()
    model.group(threshold=threshold)
    return model


@pytest.fixture(scope="module")
def reference(folder):
    """The same run without a cache."""
    root, _ = folder
    return run_model(root, cache=False)


def same_results(a, b):
    ra, rb = a.results, b.results
    assert ra["pathnames"] == rb["pathnames"]
    assert np.array_equal(ra["img_hash"], rb["img_hash"])
    assert ra["img_hash_hex"] == rb["img_hash_hex"]
    assert np.array_equal(ra["resolution"], rb["resolution"])
    assert ra["select_pathnames"] == rb["select_pathnames"]
    assert np.array_equal(ra["blur"], rb["blur"]) and np.array_equal(ra["blur_pixels"], rb["blur_pixels"])
    assert np.isfinite(ra["blur"]).all()
    if ra["feat"] is not None:
        assert np.array_equal(ra["feat"], rb["feat"])


# --------------------------------------------------------------------------- hits and misses
def test_second_run_decodes_nothing(folder, reference, tmp_path, decodes):
    root, manifest = folder
    cache = tmp_path / "hashes.sqlite3"
    first = run_model(root, cache)
    assert len(decodes) == len(manifest["files"])
    same_results(first, reference)
    assert HashCache(cache).count() == len(manifest["files"])

    decodes.clear()
    second = run_model(root, cache)
    assert decodes == []  # every hash came from the cache: no file decoded
    same_results(second, reference)
    assert isinstance(second.results["img"], LazyImages)
    assert second.results["img"].shape == reference.results["img"].shape
    assert second.results["filestats"] == reference.results["filestats"]
    # images are still there when asked for, decoded on demand
    assert np.array_equal(second.results["img"][3], reference.results["img"][3])
    assert decodes == [second.results["pathnames"][3]]
    assert np.array_equal(np.asarray(second.results["img"]), reference.results["img"])


def test_touching_one_file_rehashes_only_that_file(folder, tmp_path, decodes):
    root, manifest = folder
    work = tmp_path / "photos"
    import shutil

    shutil.copytree(root, work)
    cache = tmp_path / "hashes.sqlite3"
    run_model(work, cache)
    touched = str(work / manifest["files"][2])
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    decodes.clear()
    model = run_model(work, cache)
    assert decodes == [touched]
    assert model.results["filestats"][touched][1] == st.st_mtime_ns + 1_000_000_000

    # new content of the same size: mtime changes, the new pixels are hashed
    other = str(work / manifest["files"][4])
    replacement = str(work / manifest["files"][5])
    data = open(replacement, "rb").read()
    with open(other, "wb") as fh:
        fh.write(data)
    decodes.clear()
    model = run_model(work, cache)
    assert decodes == [other]
    rows = model.results["pathnames"]
    assert model.results["img_hash_hex"][rows.index(other)] == model.results["img_hash_hex"][rows.index(replacement)]

    # a new file is a miss, a vanished one is simply gone
    shutil.copyfile(replacement, work / "new_copy.jpg")
    os.remove(touched)
    decodes.clear()
    model = run_model(work, cache)
    assert decodes == [str(work / "new_copy.jpg")]
    assert touched not in model.results["pathnames"]


@pytest.mark.parametrize("change", [
    {"hash_size": 16},
    {"method": "dhash"},
    {"grayscale": True},
    {"dim": (64, 64)},
    {"highfreq_factor": 2},
])
def test_every_hash_parameter_is_part_of_the_key(folder, tmp_path, decodes, change):
    root, manifest = folder
    cache = tmp_path / "hashes.sqlite3"
    run_model(root, cache)
    decodes.clear()
    run_model(root, cache, **change)
    assert len(decodes) == len(manifest["files"])  # another key: nothing reused
    decodes.clear()
    run_model(root, cache, **change)
    assert decodes == []


def test_compute_hash_with_another_method_decodes_lazily(folder, tmp_path, decodes):
    root, manifest = folder
    cache = tmp_path / "hashes.sqlite3"
    run_model(root, cache, method="phash")
    decodes.clear()
    model = Undouble(method="phash", verbose=30, cache=cache)
    model.import_data(str(root))
    assert decodes == []
    model.compute_hash(method="ahash")  # not cached for ahash: the images are needed now
    assert len(decodes) == len(manifest["files"])
    expected = Undouble(method="ahash", verbose=30)
    expected.import_data(str(root))
    expected.compute_hash()
    assert model.results["img_hash_hex"] == expected.results["img_hash_hex"]
    decodes.clear()
    model.compute_hash(method="ahash")  # now cached, and the rows are in memory anyway
    assert decodes == []


def test_crop_resistant_segments_round_trip(folder, tmp_path, decodes):
    root, _ = folder
    cache = tmp_path / "hashes.sqlite3"
    first = run_model(root, cache, method="crop-resistant", threshold=0)
    decodes.clear()
    second = run_model(root, cache, method="crop-resistant", threshold=0)
    assert decodes == []
    assert np.array_equal(first.results["hash_counts"], second.results["hash_counts"])
    assert first.results["img_hash_hex"] == second.results["img_hash_hex"]
    assert second.results["hash_shape"] == first.results["hash_shape"]
    assert np.array_equal(first.results["feat"], second.results["feat"])


def test_array_inputs_are_not_cached(tmp_path):
    cache = tmp_path / "hashes.sqlite3"
    model = Undouble(method="ahash", verbose=30, cache=cache)
    model.import_data(np.zeros((3, 16, 16, 3), np.uint8))
    model.compute_hash()
    assert HashCache(cache).count() == 0


def test_keys():
    a = hash_params("phash", 8, {}, (128, 128), False)
    assert a == hash_params("phash", 8, {}, [128, 128], False)
    assert a[0] != hash_params("phash", 8, {"highfreq_factor": 4}, (128, 128), False)[0]
    assert a[0] != hash_params("phash", 8, {}, (128, 128), True)[0]
    assert '"pillow"' in a[1] and '"undouble"' in a[1] and '"pipeline"' in a[1]
    assert hash_params("crop-resistant", 8, {"hash_func": lambda imgs, n: None}, (128, 128), False) is None


# --------------------------------------------------------------------------- concurrency
WRITER = textwrap.dedent("""
    import sys, numpy as np
    from undouble.cache import CacheEntry, HashCache
    path, tag, barrier = sys.argv[1], sys.argv[2], sys.argv[3]
    cache = HashCache(path, timeout=5)
    open(barrier + "." + tag, "w").close()
    import os, time
    while not all(os.path.exists(barrier + "." + t) for t in ("a", "b")):
        time.sleep(0.01)
    for batch in range(40):
        entries = [CacheEntry(f"/x/{tag}/{batch}/{k}.jpg", k, batch, np.array([k, batch], np.uint64),
                              128, None, (8, 16), 10, 20) for k in range(50)]
        assert cache.store(entries, ("key", "{}")) == 50, "store failed"
        assert len(cache.lookup([e.path for e in entries], "key",
                                stats={e.path: (e.size, e.mtime_ns) for e in entries})) == 50
    print("ok")
""")


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.sqlite3"
    barrier = str(tmp_path / "ready")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, barrier], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    cache = HashCache(path)
    assert cache.count() == 2 * 40 * 50
    hit = cache.lookup(["/x/b/39/7.jpg"], "key", stats={"/x/b/39/7.jpg": (7, 39)})
    assert np.array_equal(hit["/x/b/39/7.jpg"].packed, [7, 39])


def test_two_threads_run_the_pipeline_on_one_cache(folder, reference, tmp_path):
    root, _ = folder
    cache = tmp_path / "hashes.sqlite3"
    models, errors = [], []

    def work():
        try:
            models.append(run_model(root, cache))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for m in models:
        same_results(m, reference)
    assert HashCache(cache).count() == len(reference.results["pathnames"])


# --------------------------------------------------------------------------- corruption and failures
def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def caplog_undouble(caplog):
    logger = logging.getLogger("undouble")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.mark.parametrize("damage", ["pages"])  # a file that is not SQLite is refused: test_cache_hardening
def test_a_corrupt_cache_is_moved_aside_and_rebuilt(folder, reference, tmp_path, decodes, caplog_undouble, damage):
    root, manifest = folder
    cache = tmp_path / "hashes.sqlite3"
    with HashCache(cache) as shared:  # closing the last connection checkpoints the WAL into the file
        run_model(root, shared)
    for extra in ("-wal", "-shm"):
        if os.path.exists(str(cache) + extra):
            os.remove(str(cache) + extra)
    if damage == "garbage":
        cache.write_bytes(b"this is not an sqlite database" * 200)
    else:  # keep the header, wreck the pages that hold the table
        data = bytearray(cache.read_bytes())
        assert len(data) > 8192
        data[4096:] = b"\xa5" * (len(data) - 4096)
        cache.write_bytes(bytes(data))
    decodes.clear()
    model = run_model(root, cache)  # never fatal
    same_results(model, reference)
    assert len(decodes) == len(manifest["files"])
    assert any("corrupt" in w for w in _warnings(caplog_undouble))
    assert [p for p in os.listdir(tmp_path) if ".corrupt-" in p]
    decodes.clear()
    run_model(root, cache)  # the rebuilt cache works
    assert decodes == []


def test_an_unusable_cache_location_is_not_fatal(folder, reference, tmp_path, caplog_undouble):
    root, _ = folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    model = run_model(root, blocker / "sub" / "hashes.sqlite3")
    same_results(model, reference)
    assert any("cannot be used" in w for w in _warnings(caplog_undouble))


def test_store_and_lookup_match_size_and_mtime(tmp_path):
    cache = HashCache(tmp_path / "c.sqlite3")
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x" * 10)
    st = os.stat(f)
    entry = CacheEntry(str(f), st.st_size, st.st_mtime_ns, np.array([1, 2, 3, 4], np.uint64), 64, 4, (8, 8), 30, 20)
    assert cache.store([entry], ("k", "{}")) == 1
    hit = cache.lookup([str(f)], "k")[str(f)]
    assert (hit.segments, hit.grid, hit.resolution, hit.nbits) == (4, (8, 8), (30, 20), 64)
    assert np.array_equal(hit.packed, entry.packed)
    assert cache.lookup([str(f)], "other") == {}
    assert cache.lookup([str(f)], "k", stats={str(f): (st.st_size + 1, st.st_mtime_ns)}) == {}
    assert cache.lookup([str(tmp_path / "missing.jpg")], "k") == {}
    cache.clear()
    assert cache.count() == 0


def test_lazy_images_indexing():
    rows = [np.full((2, 3), i, np.uint8) if i % 2 else None for i in range(5)]
    loads = []

    def loader(i):
        loads.append(i)
        return np.full((2, 3), i, np.uint8)

    imgs = LazyImages(rows, loader, (2, 3))
    assert imgs.shape == (5, 2, 3) and imgs.ndim == 3 and len(imgs) == 5 and imgs.n_loaded == 2
    assert imgs[1][0, 0] == 1 and loads == []
    assert imgs[-1][0, 0] == 4 and loads == [4]
    assert imgs[0, 1, 2] == 0
    assert imgs[1:4].shape == (3, 2, 3)
    assert np.array_equal(imgs[[3, 0]][:, 0, 0], [3, 0])
    assert np.array_equal(imgs[np.array([True, False, False, False, True])][:, 0, 0], [0, 4])
    full = np.asarray(imgs)
    assert full.shape == (5, 2, 3) and np.array_equal(full[:, 0, 0], np.arange(5))
    assert sorted(set(loads)) == [0, 2, 4] and imgs.n_loaded == 5
    with pytest.raises(IndexError):
        imgs[5]


def test_blur_round_trip_and_an_older_schema_is_emptied(tmp_path):
    import sqlite3

    path = tmp_path / "c.sqlite3"
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x" * 10)
    st = os.stat(f)
    words = np.array([7], np.uint64)
    with HashCache(path) as cache:
        cache.store([CacheEntry(str(f), st.st_size, st.st_mtime_ns, words, 64, None, (8, 8), 30, 20, 123.5, 600),
                     CacheEntry(str(tmp_path / "b.jpg"), 1, 1, words, 64, None, (8, 8), 30, 20)], ("k", "{}"))
        hit = cache.lookup([str(f)], "k")[str(f)]
        assert (hit.blur, hit.blur_pixels) == (123.5, 600)
        unknown = cache.lookup([str(tmp_path / "b.jpg")], "k", stats={str(tmp_path / "b.jpg"): (1, 1)})
        assert np.isnan(unknown[str(tmp_path / "b.jpg")].blur)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '1' WHERE name = 'schema'")  # as written by an older undouble
    conn.commit()
    conn.close()
    with HashCache(path) as cache:
        assert cache.count() == 0


def test_prune_removes_rows_of_gone_and_changed_files_only(tmp_path, capsys):
    import sqlite3

    from undouble.cli import main

    files = {name: tmp_path / name for name in ("kept.jpg", "changed.jpg", "gone.jpg")}
    for f in files.values():
        f.write_bytes(b"x" * 10)
    words = np.array([1], np.uint64)

    def entry(f):
        st = os.stat(f)
        return CacheEntry(str(f), st.st_size, st.st_mtime_ns, words, 64, None, (8, 8), 3, 2)

    path = tmp_path / "c.sqlite3"
    with HashCache(path) as cache:
        cache.store([entry(f) for f in files.values()], ("key-a", "{a}"))
        cache.store([entry(files["changed.jpg"])], ("key-b", "{b}"))
        assert cache.count() == 4
    files["changed.jpg"].write_bytes(b"y" * 11)
    files["gone.jpg"].unlink()

    assert main(["cache", "--cache", str(path)]) == 0
    assert "4 rows" in capsys.readouterr().out
    assert main(["cache", "--cache", str(path), "--prune"]) == 0
    assert "removed 3 stale rows, 1 left" in capsys.readouterr().out
    with HashCache(path) as cache:
        assert list(cache.lookup([str(files["kept.jpg"])], "key-a")) == [str(files["kept.jpg"])]
        assert cache.prune() == 0  # nothing stale any more
    conn = sqlite3.connect(path)
    assert [k for (k,) in conn.execute("SELECT key FROM params")] == ["key-a"]  # key-b had only stale rows
    conn.close()
    assert files["kept.jpg"].read_bytes() == b"x" * 10 and files["changed.jpg"].exists()  # files untouched

    assert main(["cache", "--cache", str(path), "--clear"]) == 0
    assert "removed 1 rows" in capsys.readouterr().out
    assert main(["cache", "--cache", str(tmp_path / "none.sqlite3")]) == 0
    assert "no hash cache yet" in capsys.readouterr().out
    assert not (tmp_path / "none.sqlite3").exists()
