"""Big folders and re-runs (issue 20): measured once, no N x N by default, a fast second run,
the first-run compile said out loud."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import undouble.io.decode as decode
import undouble.keeper as keeper
from undouble import Undouble
from undouble.examples import make_synthetic_set

HIT = "unchanged since the last scan"


def run_cli(*args: str, cache_dir: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, UNDOUBLE_CACHE_DIR=cache_dir, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "undouble", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "photos"
    make_synthetic_set(root, n_originals=14, n_with_duplicates=5, seed=11)
    return root


def _hide(paths):
    """Rename files away: tests run as root, where chmod 000 does not stop reading."""
    for p in paths:
        os.rename(p, p + ".hidden")


def _unhide(paths):
    for p in paths:
        os.rename(p + ".hidden", p)


def _no_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a file was decoded")

    monkeypatch.setattr(decode, "read_image", refuse)
    monkeypatch.setattr(keeper, "compute_blur", refuse)
    monkeypatch.setattr(keeper, "image_resolution", refuse)


# --------------------------------------------------------------------------- measured once
def test_group_opens_no_file(folder, monkeypatch):
    model = Undouble(verbose=30, keep_images=False)
    model.import_data(str(folder))
    model.compute_hash()
    paths = list(model.results["pathnames"])
    _no_decoding(monkeypatch)
    _hide(paths)
    try:
        model.group(threshold=10)
    finally:
        _unhide(paths)
    assert model.results["select_pathnames"], "the set has planted duplicates"
    sharp = model.results["sharpness"]
    for ranks in model._keeper_ranks:  # every score shown is the one the import measured
        for r in ranks:
            assert r.blur == sharp[paths.index(r.path)]


def test_sharpness_greyness_and_thumbs_come_from_the_cache(folder, tmp_path, monkeypatch):
    cache = str(tmp_path / "hashes.sqlite3")
    first = Undouble(verbose=30, cache=cache)
    first.import_data(str(folder))
    first.compute_hash()
    first.group(threshold=10)
    r1 = first.results
    assert r1["sharpness"].dtype == np.float64 and np.isfinite(r1["sharpness"]).all()
    assert r1["is_grey"].dtype == bool and r1["is_grey"].shape == (len(r1["pathnames"]),)

    _no_decoding(monkeypatch)
    second = Undouble(verbose=30, cache=cache)
    second.import_data(str(folder))
    second.compute_hash()
    second.group(threshold=10)
    r2 = second.results
    assert r2["pathnames"] == r1["pathnames"]
    for key in ("sharpness", "blur_pixels", "is_grey", "img_hash"):
        assert np.array_equal(r2[key], r1[key]), key
    assert (r1["thumbs"] is None) == (r2["thumbs"] is None)
    if r1["thumbs"] is not None:
        assert np.array_equal(r1["thumbs"], r2["thumbs"])
    assert r2["select_pathnames"] == r1["select_pathnames"]


def test_thumbnails_are_made_and_cached_when_verify_provides_them(folder, tmp_path, monkeypatch):
    """The hook for issue 18: make_thumbnail's records land in results['thumbs'] and the cache."""
    import undouble.io.measure as measure

    def fake_thumbnail(pixels):
        return np.array([pixels.shape[0] % 256, pixels.shape[1] % 256, int(pixels.mean())], np.uint8)

    monkeypatch.setattr(measure, "thumbnail_maker", lambda: fake_thumbnail)
    monkeypatch.setattr("undouble.io.pipeline.thumbnail_maker", lambda: fake_thumbnail)
    monkeypatch.setattr("undouble.io.thumbnail_maker", lambda: fake_thumbnail)
    cache = str(tmp_path / "hashes.sqlite3")
    first = Undouble(verbose=30, cache=cache, keep_images=False)
    first.import_data(str(folder))
    thumbs = first.results["thumbs"]
    assert thumbs.dtype == np.uint8 and thumbs.shape == (len(first.results["pathnames"]), 3)
    path = first.results["pathnames"][0]
    pixels = decode.read_image(path, (128, 128)).pixels
    assert thumbs[0].tolist() == fake_thumbnail(pixels).tolist()
    _no_decoding(monkeypatch)
    second = Undouble(verbose=30, cache=cache, keep_images=False)
    second.import_data(str(folder))
    assert np.array_equal(second.results["thumbs"], thumbs)


# --------------------------------------------------------------------------- no N x N by default
def test_feat_only_when_small_or_asked(folder, monkeypatch):
    import undouble.model as model_module

    model = Undouble(verbose=30)
    model.import_data(str(folder))
    n = len(model.results["pathnames"])
    assert model.compute_hash().shape == (n, n)  # small: built unasked
    reference = model.group(threshold=10)["select_pathnames"]
    assert model.compute_hash(feat=False) is None and model.results["feat"] is None
    monkeypatch.setattr(model_module, "FEAT_AUTO_BUDGET", n * n - 1)
    assert model.compute_hash() is None
    assert model.compute_hash(feat=True).shape == (n, n)  # asked: within memory_budget
    model.compute_hash(feat=False)
    assert model.group(threshold=10)["select_pathnames"] == reference
    figures = model.plot(show=False, max_groups=1)
    assert len(figures) == 1
    plan = model.move(dry_run=True, yes=True)
    assert plan is None


def test_grouping_never_builds_the_matrix(monkeypatch):
    import undouble.distance as distance
    from undouble.grouping import group_hashes

    def refuse(*args, **kwargs):
        raise AssertionError("hamming_matrix called by grouping")

    monkeypatch.setattr(distance, "hamming_matrix", refuse)
    rng = np.random.default_rng(3)
    h = rng.integers(0, 2 ** 63, (300, 1), dtype=np.uint64)
    h[1] = h[0] ^ np.uint64(0b101)
    groups = group_hashes(h, 4, memory_budget=1 << 40)
    assert [g.tolist() for g in groups if 0 in g] == [[0, 1]]


# --------------------------------------------------------------------------- a fast second run
def test_method_aliases_match_the_registry():
    from undouble.cli import METHOD_ALIASES
    from undouble.hashes.registry import _ALIASES

    assert METHOD_ALIASES == _ALIASES


def test_parsing_the_command_line_loads_no_kernel():
    code = ("import sys; from undouble.cli import build_parser; "
            "build_parser().parse_args(['scan', '.', '--method', 'whash', '--threshold', '3']); "
            "print(sorted(m for m in ('numba', 'cv2', 'scipy', 'undouble.hashes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_second_scan_is_identical_and_loads_nothing_heavy(folder, tmp_path):
    cache_dir = str(tmp_path / "cache")
    base = ("scan", str(folder), "--threshold", "10")
    uncached = run_cli(*base, "--no-cache", cache_dir=cache_dir)
    assert uncached.returncode == 0, uncached.stderr
    first = run_cli(*base, cache_dir=cache_dir)
    second = run_cli(*base, cache_dir=cache_dir)
    assert first.returncode == second.returncode == 0, second.stderr
    assert uncached.stdout == first.stdout == second.stdout
    assert HIT in second.stderr
    for fmt in ("--json", "--csv"):
        a = run_cli(*base, fmt, "--no-cache", cache_dir=cache_dir)
        run_cli(*base, fmt, cache_dir=cache_dir)
        b = run_cli(*base, fmt, cache_dir=cache_dir)
        assert a.stdout == b.stdout and HIT in b.stderr
    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    run_cli(*base, "--no-cache", "-o", str(out_a), cache_dir=cache_dir)
    run_cli(*base, "-o", str(out_b), cache_dir=cache_dir)
    got = run_cli(*base, "-o", str(out_b), cache_dir=cache_dir)
    assert HIT in got.stderr and json.loads(out_a.read_text()) == json.loads(out_b.read_text())

    # a hit imports neither NumPy, OpenCV, Numba nor tqdm
    code = ("import sys, runpy; sys.argv = ['undouble', 'scan', %r, '--threshold', '10', '-q'];\n"
            "from undouble.cli import main; rc = main();\n"
            "sys.stderr.write(repr(sorted(m for m in ('numpy', 'cv2', 'numba', 'tqdm', 'PIL') "
            "if m in sys.modules)))") % str(folder)
    env = dict(os.environ, UNDOUBLE_CACHE_DIR=cache_dir)
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert probe.stdout == first.stdout and probe.stderr.strip() == "[]", probe.stderr


def test_a_changed_folder_is_scanned_again(tmp_path):
    root = tmp_path / "photos"
    manifest = make_synthetic_set(root, n_originals=6, n_with_duplicates=2, seed=5)
    cache_dir = str(tmp_path / "cache")
    base = ("scan", str(root), "--threshold", "10", "--json")
    first = run_cli(*base, cache_dir=cache_dir)
    group = manifest["groups"][0]
    victim = root / group[-1]
    os.remove(victim)  # a duplicate is gone
    second = run_cli(*base, cache_dir=cache_dir)
    assert HIT not in second.stderr
    assert str(victim) in first.stdout and str(victim) not in second.stdout
    other = run_cli(*base[:-1], "--threshold", "0", "--json", cache_dir=cache_dir)  # other options: no hit
    assert HIT not in other.stderr
    again = run_cli(*base, cache_dir=cache_dir)
    assert HIT in again.stderr and again.stdout == second.stdout
    os.utime(root / group[0], ns=(time.time_ns(), time.time_ns() + 10 ** 9))  # touched
    touched = run_cli(*base, cache_dir=cache_dir)
    assert HIT not in touched.stderr and touched.stdout == second.stdout


def test_a_broken_memo_table_is_a_miss(folder, tmp_path):
    import sqlite3

    cache_dir = tmp_path / "cache"
    base = ("scan", str(folder), "--threshold", "10")
    first = run_cli(*base, cache_dir=str(cache_dir))
    with sqlite3.connect(cache_dir / "hashes.sqlite3") as conn:
        conn.execute("UPDATE scan_memo SET result = 'not json'")
    second = run_cli(*base, cache_dir=str(cache_dir))
    assert second.returncode == 0 and second.stdout == first.stdout and HIT not in second.stderr


# --------------------------------------------------------------------------- the compile notice
def test_compile_notice_appears_once(tmp_path, monkeypatch, caplog):
    import logging

    import undouble.warmup as warmup
    from undouble._logging import logger

    monkeypatch.setenv("UNDOUBLE_CACHE_DIR", str(tmp_path))
    calls = []
    real = warmup.warm_kernels
    monkeypatch.setattr(warmup, "warm_kernels", lambda *a, **k: (calls.append(a), real(*a, **k)))
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="undouble"):
            images = np.random.default_rng(0).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
            for _ in range(3):
                model = Undouble(method="dhash", verbose=20)
                model.import_data(images)
                model.compute_hash()
    finally:
        logger.removeHandler(caplog.handler)
    notices = [r for r in caplog.records if "compiling the dhash kernels, first run only" in r.getMessage()]
    assert len(notices) == 1 and len(calls) == 1
    assert warmup.kernels_marker("dhash").exists()
    assert not warmup.kernels_marker("ahash").exists()


def test_warmup_command_writes_the_markers(tmp_path):
    first = run_cli("warmup", "--method", "ahash", "whash", cache_dir=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [line for line in first.stdout.splitlines() if line.endswith(" s)")]
    assert [line.split(":")[0] for line in first.stdout.splitlines()] == ["ahash", "whash-haar"]
    assert "compiled" in first.stdout and first.stderr.count("first run only") == 2
    second = run_cli("warmup", "--method", "ahash", cache_dir=str(tmp_path))
    assert "ready" in second.stdout and "first run only" not in second.stderr


def test_pixels_are_grey_is_the_plain_numpy_rule():
    from undouble.io.measure import GREY_TOLERANCE, pixels_are_grey

    rng = np.random.default_rng(1)
    for _ in range(300):
        a = rng.integers(0, 256, (int(rng.integers(1, 60)), int(rng.integers(1, 60)), 3), dtype=np.uint8)
        if rng.random() < 0.7:  # near-grey: channels a few levels apart
            a[..., 1] = a[..., 0]
            a[..., 2] = np.clip(a[..., 0].astype(int) + rng.integers(-8, 9, a.shape[:2]), 0, 255)
        spread = a.max(axis=-1).astype(int) - a.min(axis=-1)
        assert pixels_are_grey(a) == (np.count_nonzero(spread > GREY_TOLERANCE) <= 0.001 * spread.size)
    assert pixels_are_grey(np.zeros((5, 5), np.uint8))


def test_count_spread_above_kernel_against_numpy():
    from undouble._kernels.color import count_spread_above

    rng = np.random.default_rng(2)
    for _ in range(100):
        a = rng.integers(0, 256, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), int(rng.integers(3, 5))),
                         dtype=np.uint8)
        view = a[::2, ::3] if rng.random() < 0.5 else a  # strided views too
        tolerance = int(rng.integers(0, 256))
        rgb = view[..., :3].astype(int)
        expected = np.count_nonzero(rgb.max(axis=-1) - rgb.min(axis=-1) > tolerance)
        assert count_spread_above(view, tolerance) == expected


def _area_axis_loop(n_in, n_out):
    """Reference: the area weights of one axis, one output pixel at a time."""
    import math

    scale = n_in / n_out
    start, index, weight = [0], [], []
    for o in range(n_out):
        lo, hi = o * scale, min((o + 1) * scale, float(n_in))
        taken = []
        for i in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
            overlap = min(hi, i + 1.0) - max(lo, float(i))
            if overlap > 1e-3:
                taken.append((i, overlap))
        covered = sum(w for _, w in taken)
        index.extend(i for i, _ in taken)
        weight.extend(w / covered for _, w in taken)
        start.append(len(index))
    return np.asarray(start, np.int64), np.asarray(index, np.int64), np.asarray(weight, np.float32)


def test_vectorised_area_tables_are_the_loop_bit_for_bit():
    from undouble.preprocess import area_axis

    rng = np.random.default_rng(0)
    pairs = [(n, m) for n in range(1, 48) for m in range(1, n + 1)]
    pairs += [(int(a), int(b)) for a, b in zip(rng.integers(100, 5000, 200), rng.integers(1, 300, 200)) if b <= a]
    for n, m in pairs:
        for got, want in zip(area_axis(n, m), _area_axis_loop(n, m)):
            assert got.dtype == want.dtype and np.array_equal(got, want), (n, m)


def test_clearing_the_cache_forgets_the_scan(folder, tmp_path):
    cache_dir = tmp_path / "cache"
    base = ("scan", str(folder), "--threshold", "10")
    first = run_cli(*base, cache_dir=str(cache_dir))
    cleared = run_cli("cache", "--clear", "--cache", str(cache_dir / "hashes.sqlite3"), cache_dir=str(cache_dir))
    assert cleared.returncode == 0, cleared.stderr
    again = run_cli(*base, cache_dir=str(cache_dir))
    assert HIT not in again.stderr and again.stdout == first.stdout


@pytest.mark.parametrize("verify", [True, False])
def test_row_order_ranks_every_group_as_rank_keepers_does(verify):
    """group() orders members by one total order of all rows (no per-group ranking): for any
    subset it must be the order of keeper.rank_keepers on the same recorded facts, ties included."""
    from undouble import _model_groups as mg

    rng = np.random.default_rng(7)
    n = 400
    model = Undouble(method="phash", verify=verify)
    paths = [f"/photos/{'ab'[k % 2]}/img{int(rng.integers(50)):03d}_{k}.jpg" for k in range(n)]
    sides = rng.choice([640, 800, 1024], size=(n, 2))
    blur = rng.choice([np.nan, 10.0, 12.5, 30.0], size=n)
    model.results = {
        "source": "files", "pathnames": paths, "resolution": sides,
        "filestats": {p: (int(rng.choice([1000, 2000, 3000])), 0) for p in paths},
        "sharpness": blur, "blur_pixels": np.full(n, 4096), "damaged": rng.random(n) < 0.1,
        "is_grey": rng.random(n) < 0.3,
    }
    rank = mg.keeper_rank_of_rows(model, refresh=True)
    assert sorted(rank.tolist()) == list(range(n))
    for _ in range(60):
        members = rng.choice(n, size=int(rng.integers(2, 12)), replace=False).astype(np.int64)
        fast = [paths[i] for i in members[mg.keeper_positions(model, members, record=False)]]
        slow = [r.path for r in mg.rank_members(model, members)]
        assert fast == slow
    lazy = mg.LazyKeeperRanks(model, [np.array([3, 1, 2]), np.array([5, 4])])
    ruled = [r.path for r in mg.rank_members(model, [5, 4])]
    # each group's first row is its keeper (verified grouping may keep another than the rule's first)
    assert len(lazy) == 2 and [r.path for r in lazy[-1]] == [paths[5]] + [p for p in ruled if p != paths[5]]
    assert [r.rank for r in lazy[-1]] == [0, 1]
