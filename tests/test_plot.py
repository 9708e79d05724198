"""Figures of groups and hashes, rendered with the Agg backend and checked by content.

A few PNGs are written as artefacts of the test run, into ``$UNDOUBLE_ARTIFACTS``
or ``artifacts/`` at the repository root (git-ignored).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from undouble import Undouble  # noqa: E402
from undouble.examples import make_synthetic_set  # noqa: E402
from undouble.keeper import rank_keepers  # noqa: E402
from undouble.thumbnail import read_thumbnail  # noqa: E402
from matplotlib.backend_bases import KeyEvent  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    root = os.environ.get("UNDOUBLE_ARTIFACTS") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "artifacts")
    path = Path(root) / "plots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot") / "photos"
    manifest = make_synthetic_set(root, n_originals=8, n_with_duplicates=3, seed=11)
    return root, manifest


@pytest.fixture(scope="module")
def grouped(folder):
    root, _ = folder
    model = Undouble(method="phash", verbose=30)
    model.import_data(str(root))
    model.compute_hash()
    model.group(threshold=10)
    return model


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    """Headless: showing a figure would be a bug when saving."""
    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() called")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


# --------------------------------------------------------------------------- plot()
def test_one_figure_per_group_with_titles(grouped, artifacts):
    results = grouped.results
    figs = grouped.plot(savedir=artifacts / "groups")
    assert len(figs) == len(results["select_pathnames"]) > 0
    for g, (fig, paths, scores) in enumerate(zip(figs, results["select_pathnames"], results["select_scores"])):
        axes = _image_axes(fig)
        assert len(axes) == len(paths)  # empty grid cells are removed
        # the sharpness the import measured (canonical scale), not a new full decoding
        ranks = {r.path: r for r in grouped._rank_members(results["select_idx"][g], all_blur=True)}
        for i, path in zip(results["select_idx"][g], paths):
            assert ranks[path].blur == results["sharpness"][i]
        for k, (ax, path, score) in enumerate(zip(axes, paths, scores)):
            title = ax.get_title()
            name = os.path.basename(path)
            assert title.startswith("KEEP " if k == 0 else name[:10])
            assert ("KEEP" in title) == (k == 0)
            r = ranks[path]
            assert f"d={int(score)}" in title
            assert f"blur {r.blur:.0f}" in title
            assert f"{r.width}x{r.height}" in title
        suptitle = fig._suptitle.get_text()
        assert suptitle.startswith(f"Group {g + 1} of {len(figs)}: {len(paths)} images")
        assert ranks[paths[0]].reason in suptitle
        png = artifacts / "groups" / f"group_{g + 1:04d}.png"
        assert png.read_bytes()[:8] == PNG


def test_max_groups_and_savedir(grouped, tmp_path):
    figs = grouped.plot(max_groups=1, savedir=tmp_path)
    assert len(figs) == 1
    assert sorted(os.listdir(tmp_path)) == ["group_0001.png"]
    assert grouped.plot(max_groups=0, savedir=tmp_path) == []
    with pytest.raises(ValueError, match="max_groups"):
        grouped.plot(max_groups=-1, savedir=tmp_path)


def test_plot_from_an_array_input(folder):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    stack = np.concatenate([base, base[:2]])  # rows 4, 5 repeat rows 0, 1
    model = Undouble(method="ahash", verbose=30)
    model.import_data(stack)
    model.compute_hash()
    model.group(threshold=0)
    figs = model.plot(show=False)
    assert len(figs) == 2
    for fig in figs:
        titles = [ax.get_title() for ax in _image_axes(fig)]
        assert titles[0].startswith("KEEP image_")
        assert re.search(r"d=0 \| blur \d+ \| 64x48", titles[0])
        assert all(re.search(r"d=0 same pixels \| blur \d+ \| 64x48", t) for t in titles[1:])  # verified


# --------------------------------------------------------------------------- plot_hash()
@pytest.mark.parametrize("method, grid", [
    ("phash", (8, 8)),
    ("colorhash", (14, 3)),
    ("whash-db4", (14, 14)),
    ("ahash", (8, 8)),
])
def test_plot_hash_grid_shapes(folder, artifacts, method, grid):
    root, manifest = folder
    model = Undouble(method=method, verbose=30)
    model.import_data(str(root))
    model.compute_hash()
    figs = model.plot_hash(idx=[0, 1], savedir=artifacts / "hashes")
    assert len(figs) == 2
    for i, fig in zip([0, 1], figs):
        img_ax, bits_ax = _image_axes(fig)
        assert img_ax.get_title() == model.results["filenames"][i]
        bits = np.asarray(bits_ax.images[0].get_array())
        assert bits.shape == grid
        expected = model.results["img_hash_bin"][i][: grid[0] * grid[1]].reshape(grid)
        assert np.array_equal(bits.astype(bool), expected)
        assert bits_ax.get_title().startswith(f"{method} {grid[0]}x{grid[1]}")
        assert model.results["img_hash_hex"][i][:16] in bits_ax.get_title().replace("\n", "")
        assert (artifacts / "hashes" / f"hash_{method}_{i:05d}.png").read_bytes()[:8] == PNG


def test_plot_hash_crop_resistant_draws_segment_boxes(folder, artifacts):
    root, _ = folder
    model = Undouble(method="crop-resistant", verbose=30)
    model.import_data(str(root))
    model.compute_hash()
    figs = model.plot_hash(idx=[0, 2], savedir=artifacts / "hashes")
    for i, fig in zip([0, 2], figs):
        count = int(model.results["hash_counts"][i])
        axes = _image_axes(fig)
        assert len(axes) == 1 + count
        img_ax = axes[0]
        assert f"{count} segments" in img_ax.get_title()
        boxes = [p for p in img_ax.patches if isinstance(p, Rectangle)]
        assert len(boxes) == count
        segments = model.results["img_hash_hex"][i].split(",")
        for s, ax in enumerate(axes[1:]):
            title = ax.get_title().split("\n", 1)
            assert title[0] == f"segment {s + 1}" and title[1].replace("\n", "") == segments[s]
            assert np.asarray(ax.images[0].get_array()).shape == (8, 8)
            assert ax.spines["top"].get_edgecolor() == boxes[s].get_edgecolor()


def test_plot_hash_by_filename_and_errors(grouped, tmp_path):
    names = grouped.results["filenames"][:2]
    figs = grouped.plot_hash(filenames=names, savedir=tmp_path)
    assert [_image_axes(f)[0].get_title() for f in figs] == names
    one = grouped.plot_hash(filenames=grouped.results["pathnames"][3], savedir=tmp_path)
    assert _image_axes(one[0])[0].get_title() == grouped.results["filenames"][3]
    with pytest.raises(ValueError, match="not among the imported files"):
        grouped.plot_hash(filenames=["nope.png"], savedir=tmp_path)
    with pytest.raises(ValueError, match="idx"):
        grouped.plot_hash(savedir=tmp_path)
    with pytest.raises(IndexError):
        grouped.plot_hash(idx=10_000, savedir=tmp_path)


def test_plots_read_the_files_not_the_images_the_cache_left_on_disk(folder, tmp_path):
    root, _ = folder
    cache = tmp_path / "hashes.sqlite3"
    for _ in range(2):
        model = Undouble(method="phash", verbose=30, cache=cache)
        model.import_data(str(root))
        model.compute_hash()
        model.group(threshold=10)
    img = model.results["img"]
    assert img.n_loaded == 0  # all hashes came from the cache: nothing decoded yet
    figs = model.plot(max_groups=1, savedir=tmp_path)
    shown = np.asarray(_image_axes(figs[0])[0].images[0].get_array())
    first = int(model.results["select_idx"][0][0])
    assert np.array_equal(shown, read_thumbnail(model.results["pathnames"][first], 320))
    assert img.n_loaded == 0  # the 128 x 128 preprocessed rows are not what is shown


# --------------------------------------------------------------------------- true aspect, screen, speed
def test_group_images_are_the_files_at_their_true_aspect(grouped):
    results = grouped.results
    figs = grouped.plot(show=False)
    portrait = landscape = 0
    for fig, idx in zip(figs, results["select_idx"]):
        for ax, i in zip(_image_axes(fig), idx):
            shown = np.asarray(ax.images[0].get_array())
            w, h = (int(v) for v in results["resolution"][i])
            assert shown.shape[:2] != (128, 128)
            assert max(shown.shape[:2]) == min(320, max(w, h))
            assert abs(shown.shape[1] / shown.shape[0] - w / h) < 0.02
            portrait += h > w
            landscape += w > h
    assert portrait and landscape  # the corpus has both, and neither is squashed


def test_on_screen_one_paged_figure_that_fits_the_screen(grouped, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.get_fignums()))
    n = len(grouped.results["select_idx"])
    figs = grouped.plot()
    assert shown == [[figs[0].number]] and len(figs) == 1  # one window, shown once
    fig = figs[0]
    width, height = fig.get_size_inches() * 100  # matplotlib's on-screen dpi
    assert width <= 1366 and height + 140 <= 768  # room for a panel, the title bar and the toolbar

    def press(name):
        fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, name, 10, 10))
        return fig._suptitle.get_text()

    assert fig._suptitle.get_text().startswith(f"Group 1 of {n}")
    assert "n/right next" in fig._suptitle.get_text()  # the keys are on screen
    assert press("n").startswith(f"Group 2 of {n}")
    assert len(_image_axes(fig)) == len(grouped.results["select_idx"][1])
    assert press("left").startswith(f"Group 1 of {n}")
    assert press("p").startswith(f"Group 1 of {n}")  # stays on the first
    toolbar = fig.canvas.toolbar
    assert toolbar is None or not str(getattr(toolbar.mode, "value", toolbar.mode))  # 'p' did not start panning
    assert press("end").startswith(f"Group {n} of {n}")


def test_on_screen_max_groups_bounds_the_pages(grouped, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    fig = grouped.plot(max_groups=2)[0]
    for _ in range(3):
        fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, "n", 10, 10))
    assert fig._suptitle.get_text().startswith(f"Group 2 of {len(grouped.results['select_idx'])}")
    assert "(2/2 shown)" in fig._suptitle.get_text()


def test_saving_registers_no_window(grouped, tmp_path):
    plt.close("all")
    figs = grouped.plot(savedir=tmp_path)
    assert plt.get_fignums() == []  # nothing pyplot could ever show
    assert len(figs) == len(os.listdir(tmp_path)) == len(grouped.results["select_idx"])


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("n", [5, 27])
def test_no_text_overlaps_at_any_group_size(n):
    rng = np.random.default_rng(n)
    base = rng.integers(0, 256, (1, 60, 90, 3), dtype=np.uint8)
    model = Undouble(method="ahash", verbose=30)
    model.import_data(np.repeat(base, n, axis=0))
    model.compute_hash()
    model.group(threshold=0)
    fig = model.plot(show=False)[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    axes = _image_axes(fig)
    assert len(axes) == n
    titles = [ax.title.get_window_extent(renderer) for ax in axes]
    boxes = [ax.get_window_extent(renderer) for ax in axes]
    suptitle = fig._suptitle.get_window_extent(renderer)
    figure_box = fig.bbox
    for k, t in enumerate(titles):
        assert figure_box.x0 <= t.x0 and t.x1 <= figure_box.x1 and t.y1 <= figure_box.y1
        assert not _overlaps(t, suptitle)
        for j in range(n):
            assert not _overlaps(t, boxes[j]), (k, j)
            if j != k:
                assert not _overlaps(t, titles[j]), (k, j)


def _white_bands(path) -> tuple[float, float]:
    """Fractions of the image's rows and columns that are entirely white."""
    from PIL import Image

    grey = np.asarray(Image.open(path).convert("L"))
    white = grey >= 250
    return float(white.all(axis=1).mean()), float(white.all(axis=0).mean())


@pytest.mark.parametrize("method", ["phash", "colorhash", "whash-db4"])
def test_plot_hash_has_no_white_bands(folder, tmp_path, method):
    root, _ = folder
    model = Undouble(method=method, verbose=30)
    model.import_data(str(root))
    model.compute_hash()
    model.plot_hash(idx=0, savedir=tmp_path)
    rows, cols = _white_bands(tmp_path / f"hash_{method}_00000.png")
    assert rows < 0.15 and cols < 0.2, (rows, cols)


def test_saved_group_figures_have_no_white_bands(grouped, tmp_path):
    grouped.plot(savedir=tmp_path)
    for name in os.listdir(tmp_path):
        rows, _ = _white_bands(tmp_path / name)
        assert rows < 0.2, (name, rows)


_PAGER_CHILD = r"""
import json
import matplotlib
matplotlib.use("TkAgg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backend_bases import KeyEvent
from undouble import Undouble

rng = np.random.default_rng(2)
base = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
model = Undouble(method="ahash", verbose=30)
model.import_data(np.concatenate([base, base]))
model.compute_hash()
model.group(threshold=0)
plt.show = lambda *a, **k: None
fig = model.plot()[0]
root = fig.canvas.manager.window
out = {"figures": plt.get_fignums(), "titles": [root.title()]}
for key in ("p", "n", "n"):
    fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, key, 10, 10))
    root.update()
    out["titles"].append(root.title())
out["mode"] = str(getattr(fig.canvas.toolbar.mode, "value", fig.canvas.toolbar.mode))
out["size"] = [root.winfo_width(), root.winfo_height()]
print("RESULT " + json.dumps(out))
"""


def test_paged_figure_on_a_real_display(tmp_path):
    """TkAgg under Xvfb: one window, titled per group, matplotlib's 'p' (pan) not active, fits 1366 x 768."""
    import json
    import shutil
    import subprocess
    import sys

    missing = [t for t in ("xvfb-run",) if shutil.which(t) is None]
    try:
        import tkinter  # noqa: F401
    except ImportError:
        missing.append("tkinter")
    if missing:
        reason = f"{', '.join(missing)} not installed (.ci/run installs xvfb with apt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    child = tmp_path / "pager.py"
    child.write_text(_PAGER_CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", sys.executable, str(child)],
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))[7:])
    assert len(got["figures"]) == 1
    assert got["titles"] == ["undouble: group 1 of 3", "undouble: group 1 of 3", "undouble: group 2 of 3",
                             "undouble: group 3 of 3"]
    assert got["mode"] == ""  # 'p' went to the pager, not to matplotlib's pan tool
    assert got["size"][0] <= 1366 and got["size"][1] <= 768 - 40
