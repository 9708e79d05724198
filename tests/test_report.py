"""The HTML report: its data checked against the model, and the page rendered in a real browser.

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it): it is
skipped with the reason where no browser is installed, and fails instead under
CI (``CI`` set), where one must be. The screenshot is kept in
``$UNDOUBLE_ARTIFACTS`` or ``artifacts/`` (git-ignored) at ``report/report.png``.
"""
from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from undouble import Undouble
from undouble.cli import main
from undouble.examples import make_synthetic_set
from undouble.report import MARKER, report_data
from undouble.thumbnail import fit_long_side, read_thumbnail

PNG = b"\x89PNG\r\n\x1a\n"
ODD_FOLDER = 'odd <b>&amp; "q" ünï'


@pytest.fixture(scope="module")
def artifacts() -> Path:
    root = os.environ.get("UNDOUBLE_ARTIFACTS") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "artifacts")
    path = Path(root) / "report"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Synthetic photos with planted duplicates, one copy in a folder with HTML-like characters, one broken file."""
    root = tmp_path_factory.mktemp("report") / "photos"
    manifest = make_synthetic_set(root, n_originals=10, n_with_duplicates=4, seed=7)
    odd = root / ODD_FOLDER
    odd.mkdir()
    first = manifest["groups"][0][0]
    shutil.copyfile(root / first, odd / first)  # same name as the original, another folder
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def model(corpus):
    m = Undouble(method="phash", verbose=30)
    m.import_data(str(corpus))
    m.compute_hash()
    m.group(threshold=10)
    assert len(m.results["select_pathnames"]) >= 4
    return m


@pytest.fixture(scope="module")
def report(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("out") / "report.html"
    assert model.report(path) == os.fspath(path)
    return path


def _decode_data_uri(src: str) -> np.ndarray:
    head, data = src.split(",", 1)
    assert head == "data:image/jpeg;base64"
    arr = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert arr is not None
    return arr


# --------------------------------------------------------------------------- thumbnails
def test_read_thumbnail_keeps_aspect_and_applies_exif_rotation(tmp_path):
    stored = np.zeros((200, 400, 3), np.uint8)  # stored landscape, left half white
    stored[:, :200] = 255
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # display: rotate 90 degrees clockwise -> portrait 200 x 400
    img.save(tmp_path / "p.jpg", exif=exif.tobytes(), quality=95)
    thumb = read_thumbnail(tmp_path / "p.jpg", 160)
    assert thumb.shape == (160, 80, 3)
    # clockwise: the stored left (white) half ends up on top
    assert thumb[:60].mean() > 200 and thumb[100:].mean() < 50


def test_fit_long_side_rounds_and_leaves_small_images():
    assert fit_long_side(np.zeros((30, 1000), np.uint8), 160).shape == (5, 160)
    assert fit_long_side(np.zeros((1000, 3, 3), np.uint8), 160).shape == (160, 1, 3)
    small = np.zeros((20, 10, 3), np.uint8)
    assert fit_long_side(small, 160).shape == (20, 10, 3)
    with pytest.raises(ValueError):
        fit_long_side(small, 0)


# --------------------------------------------------------------------------- the data
def test_report_data_matches_the_model(model, report):
    page = report.read_text(encoding="utf-8")
    assert page.startswith(MARKER)
    results = model.results
    data = report_data(model)
    assert [g["id"] for g in data["groups"]] == list(range(1, len(results["select_pathnames"]) + 1))
    for g, group in enumerate(data["groups"]):
        paths = results["select_pathnames"][g]
        ranks = model._keeper_ranks[g]
        assert [os.path.join(it["folder"], it["name"]) for it in group["items"]] == paths
        assert [it["distance"] for it in group["items"]] == [int(s) for s in results["select_scores"][g]]
        assert [it["reason"] for it in group["items"]] == [r.reason for r in ranks]
        assert group["reason"] == ranks[0].reason
        relations = results["select_relation"][g] if "select_relation" in results else [""] * len(paths)
        for it, path, r, rel in zip(group["items"], paths, ranks, relations):
            assert it["bytes"] == os.path.getsize(path)
            assert (it["width"], it["height"]) == (r.width, r.height)
            assert it["sharpness"] == pytest.approx(r.blur, abs=0.051)
            assert it["relation"] == rel
    s = data["summary"]
    assert s["scanned"] == len(results["pathnames"]) + 1
    assert [x["path"] for x in s["skipped"]] == [str(Path(results["skipped"][0][0]))]
    assert s["would_move"] == sum(len(p) - 1 for p in results["select_pathnames"])
    assert (s["method"], s["threshold"]) == ("phash", 10)


def test_relation_is_shown_when_results_have_it(model):
    relations = [[f"rel{g}-{k}" for k in range(len(p))] for g, p in enumerate(model.results["select_pathnames"])]
    model.results["select_relation"] = relations
    try:
        data = report_data(model)
    finally:
        del model.results["select_relation"]
    assert [[it["relation"] for it in g["items"]] for g in data["groups"]] == relations


def test_embedded_thumbnails_are_read_from_the_files_at_their_aspect(model, report):
    import json

    page = report.read_text(encoding="utf-8")
    blob = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    data = json.loads(blob)
    assert "</" not in blob  # nothing can close the script element early
    seen = 0
    for group in data["groups"]:
        for it in group["items"]:
            thumb = _decode_data_uri(it["src"])
            h, w = thumb.shape[:2]
            assert (it["tw"], it["th"]) == (w, h)
            assert max(w, h) == min(160, max(it["width"], it["height"]))
            assert abs(w / h - it["width"] / it["height"]) < 0.02  # true aspect, not a 128 x 128 square
            original = cv2.imread(os.path.join(it["folder"], it["name"]))
            expected = cv2.resize(original, (w, h), interpolation=cv2.INTER_AREA)
            assert np.abs(thumb.astype(int) - expected.astype(int)).mean() < 8  # the file's own pixels
            seen += 1
    assert seen == sum(len(p) for p in model.results["select_pathnames"])


def test_thumbnail_files_beside_the_page(model, tmp_path):
    path = model.report(tmp_path / "r.html", thumbnails="files")
    page = Path(path).read_text(encoding="utf-8")
    names = re.findall(r'"src":"(r_files/\d{6}\.jpg)"', page)
    assert len(names) == sum(len(p) for p in model.results["select_pathnames"])
    assert "data:image" not in page
    for name in names:
        assert (tmp_path / name).read_bytes()[:2] == b"\xff\xd8"


def test_never_overwrites_a_file_that_is_not_a_report(model, tmp_path):
    target = tmp_path / "notes.html"
    target.write_text("my own page")
    with pytest.raises(FileExistsError, match="not an undouble report"):
        model.report(target)
    assert target.read_text() == "my own page"
    again = tmp_path / "again.html"
    model.report(again)
    model.report(again)  # a report is replaced
    assert again.read_text(encoding="utf-8").startswith(MARKER)
    with pytest.raises(ValueError, match="thumbnails"):
        model.report(again, thumbnails="inline")


def test_report_of_an_array_input_uses_the_stored_images(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    m = Undouble(method="ahash", verbose=30)
    m.import_data(np.concatenate([base, base[:1]]))
    m.compute_hash()
    m.group(threshold=0)
    path = m.report(tmp_path / "a.html")
    data = report_data(m)
    assert [[it["name"] for it in g["items"]] for g in data["groups"]] == [["image_00000", "image_00003"]]
    # the sharpness import_data measured on the array rows (issue 20: measured once, at import)
    assert [it["sharpness"] for it in data["groups"][0]["items"]] == [
        pytest.approx(m.results["sharpness"][i], abs=0.051) for i in (0, 3)]
    assert np.isfinite(m.results["sharpness"]).all()
    page = Path(path).read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") == 2
    assert '"tw":128,"th":128' in page  # the stored 128 x 128 rows: there are no files


def test_cli_report(corpus, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", str(corpus), "-o", str(out), "--threshold", "10", "--no-cache", "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith(MARKER)
    assert main(["report", str(corpus), "--no-cache"]) == 2  # -o is required
    beside = tmp_path / "beside.html"
    assert main(["report", str(corpus), "-o", str(beside), "--thumbnail-files", "--threshold", "10",
                 "--no-cache", "-q"]) == 0
    assert "data:image" not in beside.read_text(encoding="utf-8")
    assert len(list((tmp_path / "beside_files").glob("*.jpg"))) >= 8


# --------------------------------------------------------------------------- in a browser
def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no chromium found: install Debian's 'chromium' package (.ci/run does) to test the report in a browser"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium(url: str, *extra: str) -> str:
    browser = _browser()
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
                               "--no-first-run",
                               f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url],
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _rendered(dom: str) -> tuple[list[int], list[list[str]], dict[str, str]]:
    """Group ids, image paths per group, and the status element's data attributes, as rendered."""
    main_part = dom[dom.index('<main id="groups">'):dom.index("</main>")]
    ids, paths = [], []
    for section in re.split(r'(?=<section class="group")', main_part)[1:]:
        ids.append(int(re.match(r'<section class="group" data-id="(\d+)"', section).group(1)))
        paths.append([html.unescape(p) for p in re.findall(r'<figure class="item[^"]*" data-path="([^"]*)"', section)])
    status = re.search(r'<span id="status"([^>]*)>', dom).group(1)
    return ids, paths, dict(re.findall(r'data-(\w+)="([^"]*)"', status))


def test_every_group_and_image_is_rendered_in_chromium(model, report, artifacts):
    dom = _chromium(report.as_uri(), "--dump-dom")
    assert 'data-rendered="1"' in dom
    ids, paths, status = _rendered(dom)
    expected = model.results["select_pathnames"]
    assert ids == list(range(1, len(expected) + 1))
    assert paths == [[p for p in group] for group in expected]
    assert status == {"shown": str(len(expected)), "page": "1", "pages": "1"}
    assert dom.count('class="item keeper"') == len(expected)
    assert any(ODD_FOLDER in p for group in paths for p in group)  # escaped as text, not markup
    shot = artifacts / "report.png"
    if shot.exists():
        shot.unlink()
    _chromium(report.as_uri(), "--window-size=1366,900", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000


def test_filter_sort_and_pages_from_the_url_in_chromium(model, report):
    expected = model.results["select_pathnames"]
    target = next(g for g, group in enumerate(expected) if len(group) >= 2)
    name = os.path.basename(expected[target][-1])
    ids, paths, status = _rendered(_chromium(report.as_uri() + "#filter=" + name, "--dump-dom"))
    want = [g + 1 for g, group in enumerate(expected) if any(name in p for p in group)]
    assert ids == want and status["shown"] == str(len(want))
    ids, _, status = _rendered(_chromium(report.as_uri() + "#per=2&page=2", "--dump-dom"))
    assert ids == [3, 4][: len(expected) - 2] and status["pages"] == str(-(-len(expected) // 2))
    ids, _, _ = _rendered(_chromium(report.as_uri() + "#sort=size", "--dump-dom"))
    sizes = [len(expected[i - 1]) for i in ids]
    assert sorted(ids) == list(range(1, len(expected) + 1)) and sizes == sorted(sizes, reverse=True)
    ids, _, _ = _rendered(_chromium(report.as_uri() + "#min=4", "--dump-dom"))
    assert ids == [g + 1 for g, group in enumerate(expected) if len(group) >= 4]
    ids, _, _ = _rendered(_chromium(report.as_uri() + "#filter=no-such-file-anywhere", "--dump-dom"))
    assert ids == []


def test_keeper_choices_made_in_the_page_are_read_back(model, report, tmp_path):
    from urllib.parse import unquote

    from undouble.report import read_choices

    expected = model.results["select_pathnames"]
    dom = _chromium(report.as_uri() + "#choose=1:2,2:-1", "--dump-dom")
    assert re.search(r'<section class="group untouched" data-id="2"', dom)
    first = dom[dom.index('<section class="group" data-id="1"'):]
    first = first[:first.index("</section>")]
    chosen = re.findall(r'<figure class="item chosen" data-path="([^"]*)"', first)
    assert [html.unescape(p) for p in chosen] == [expected[0][2]]
    assert 'class="item keeper"' not in first  # the proposed keeper is no longer marked
    link = re.search(r'<a id="save"[^>]*href="data:application/json;charset=utf-8,([^"]*)"', dom)
    saved = tmp_path / "choices.json"
    saved.write_text(unquote(html.unescape(link.group(1))), encoding="utf-8")
    choices = read_choices(saved, list(reversed(expected)))  # matched by members, not by position
    want = [[expected[0][2]], []] + [[group[0]] for group in expected[2:]]
    assert choices == list(reversed(want))
    assert read_choices(saved, [["/not/a/group.jpg", "/x.jpg"]]) == [None]
    saved.write_text('{"groups": []}')
    with pytest.raises(ValueError, match="not a choices file"):
        read_choices(saved, expected)
