"""``undouble.evaluate`` and ``undouble evaluate``: pair metrics against hand-counted pairs.

The labelled set is generated here from the photos bundled with scikit-image
(PNG, so the hashes are those of the arrays). At phash threshold 8 the groups
are known (the preconditions are asserted from the hashes), so precision,
recall and the recall per label are counted by hand below.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagesets import real_photos
from undouble.evaluate import (EvaluationReport, Truth, evaluate, keeper_counts, load_truth, make_model,
                               pair_metrics, truth_from_csv, truth_from_subfolders)


# --------------------------------------------------------------------------- the metric, on hand-made groups
def slow_pair_metrics(pred, truth, labels):
    """Every pair listed: the obviously correct reference of pair_metrics."""
    predicted = true = tp = 0
    label_pairs: dict[str, int] = {}
    label_found: dict[str, int] = {}
    for a, b in itertools.combinations(range(len(pred)), 2):
        same_pred, same_truth = pred[a] == pred[b], truth[a] == truth[b]
        predicted += same_pred
        true += same_truth
        tp += same_pred and same_truth
        if same_truth:
            names = {labels[a], labels[b]} - {"original"} or {"original"}
            for name in names:
                label_pairs[name] = label_pairs.get(name, 0) + 1
                label_found[name] = label_found.get(name, 0) + (1 if same_pred else 0)
    return predicted, true, tp, label_pairs, label_found


def test_pair_metrics_on_a_hand_counted_grouping():
    # truth: {0 orig, 1 a}, {2 b, 3 orig, 4 a}, {5}; predicted: {0, 1, 2}, {3, 4}, {5}
    counts = pair_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 2], ["original", "a", "b", "original", "a", "original"])
    # predicted pairs 01 02 12 34; true pairs 01 23 24 34; both: 01 34
    assert (counts.predicted_pairs, counts.true_pairs, counts.true_positives) == (4, 4, 2)
    assert counts.precision == float(Fraction(2, 4)) and counts.recall == float(Fraction(2, 4))
    assert counts.f1 == pytest.approx(0.5)
    # label a: pairs 01 (a), 24 (b and a), 34 (a) -> found 01, 34; label b: 23, 24 -> none found
    assert counts.label_pairs == {"a": 3, "b": 2}
    assert counts.label_found == {"a": 2, "b": 0}
    assert counts.label_recall() == {"a": float(Fraction(2, 3)), "b": 0.0}


def test_pair_metrics_two_originals_count_for_original():
    counts = pair_metrics([7, 7, 7], [1, 1, 1], ["original", "original", "x"])
    assert counts.label_pairs == {"original": 1, "x": 2}
    assert counts.label_found == {"original": 1, "x": 2}
    assert counts.precision == counts.recall == counts.f1 == 1.0


def test_pair_metrics_conventions_without_pairs():
    nothing = pair_metrics([0, 1, 2], [0, 1, 2])
    assert (nothing.predicted_pairs, nothing.true_pairs, nothing.true_positives) == (0, 0, 0)
    assert nothing.precision == 1.0 and nothing.recall == 1.0
    all_wrong = pair_metrics([0, 0, 1, 1], [0, 1, 0, 1])
    assert all_wrong.precision == 0.0 and all_wrong.recall == 0.0 and all_wrong.f1 == 0.0
    assert pair_metrics([], []).predicted_pairs == 0
    with pytest.raises(ValueError, match="aligned"):
        pair_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="labels"):
        pair_metrics([0, 1], [0, 1], ["a"])


@pytest.mark.parametrize("seed", range(6))
def test_pair_metrics_matches_listing_every_pair(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    pred = rng.integers(0, max(1, n // 3), n) * 11 - 5  # ids need not be small or positive
    truth = rng.integers(0, max(1, n // 4), n) + 10 ** 12
    labels = rng.choice(["original", "resized", "cropped", "copy"], n).tolist()
    counts = pair_metrics(pred, truth, labels)
    predicted, true, tp, label_pairs, label_found = slow_pair_metrics(pred.tolist(), truth.tolist(), labels)
    assert (counts.predicted_pairs, counts.true_pairs, counts.true_positives) == (predicted, true, tp)
    assert counts.label_pairs == label_pairs and counts.label_found == label_found


# --------------------------------------------------------------------------- truth loaders
def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


def test_truth_from_csv_resolves_paths_and_reports_bad_rows(tmp_path):
    folder, labels_dir = tmp_path / "photos", tmp_path / "labels"
    a, b, c = _touch(folder / "a.png"), _touch(folder / "sub" / "b.png"), _touch(tmp_path / "elsewhere" / "c.png")
    _touch(labels_dir / "near.png")
    csv_file = labels_dir / "truth.csv"
    csv_file.write_text("file,group,label\n"
                        "a.png,g1,original\n"                 # relative to FOLDER
                        "../photos/sub/b.png,g1,resized\n"    # relative to the CSV
                        f"{c},g2\n"                           # absolute, no label
                        "near.png,g2,\n"                      # relative to the CSV (exists there)
                        "gone.png,g3,copy\n"                  # missing: kept, reported later
                        "\n# a comment\n"
                        "a.png,g9,copy\n"                     # twice: the first row wins
                        "only-a-file\n", encoding="utf-8")
    truth = truth_from_csv(csv_file, folder)
    assert truth.files == [str(a), str(b), str(c), str(labels_dir / "near.png"), str(folder / "gone.png")]
    assert truth.groups == ["g1", "g1", "g2", "g2", "g3"]
    assert truth.labels == ["original", "resized", "unlabelled", "unlabelled", "copy"]
    assert len(truth.problems) == 2
    assert "already in group 'g1'" in truth.problems[0][1] and truth.problems[0][0].endswith(":9")
    assert "file,group" in truth.problems[1][1]


def test_truth_from_csv_without_header_and_empty(tmp_path):
    _touch(tmp_path / "x.png")
    (tmp_path / "t.csv").write_text("x.png,1\ny.png,1,resized\n")
    truth = truth_from_csv(tmp_path / "t.csv", tmp_path)
    assert truth.groups == ["1", "1"] and truth.labels == ["unlabelled", "resized"]
    (tmp_path / "empty.csv").write_text("file,group,label\n")
    with pytest.raises(ValueError, match="names no files"):
        truth_from_csv(tmp_path / "empty.csv", tmp_path)
    with pytest.raises(FileNotFoundError, match="truth file"):
        load_truth(tmp_path, tmp_path / "nope.csv")


def test_truth_from_subfolders(tmp_path):
    files = [_touch(tmp_path / p) for p in ("g1/a.png", "g1/b.PNG", "g2/deep/c.png", "g2/d.png", "alone.png",
                                            "g1/undouble/moved.png")]
    (tmp_path / "g1" / "notes.txt").write_text("not an image")
    truth = truth_from_subfolders(tmp_path)
    got = dict(zip(truth.files, truth.groups))
    assert str(files[-1]) not in got  # undouble output folders are not part of the corpus
    assert got == {str(files[0]): "g1", str(files[1]): "g1", str(files[2]): "g2", str(files[3]): "g2",
                   str(files[4]): "./alone.png"}
    assert set(truth.labels) == {"unlabelled"} and truth.source == "subfolders"
    assert load_truth(tmp_path, None).files == truth.files
    assert truth_from_subfolders(tmp_path, ext=["jpg"]).files == []


# --------------------------------------------------------------------------- the labelled set
THRESHOLDS = (0, 8)


def _small(array: np.ndarray, size=(160, 120)) -> np.ndarray:
    return np.asarray(Image.fromarray(array).convert("RGB").resize(size, Image.LANCZOS))


def _phash_distance(x: np.ndarray, y: np.ndarray) -> int:
    from undouble.hashes import hash_image

    return bin(int(hash_image(x, "phash", 8), 16) ^ int(hash_image(y, "phash", 8), 16)).count("1")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Photos, a truth CSV in another folder, and the arrays (name -> array) written."""
    root = tmp_path_factory.mktemp("evaluate")
    folder, labels_dir = root / "photos", root / "labels"
    folder.mkdir()
    labels_dir.mkdir()
    photos = real_photos()
    a, b = _small(photos["astronaut"]), _small(photos["camera"])
    h, w = a.shape[:2]
    arrays = {
        "A.png": a,
        "A_small.png": np.asarray(Image.fromarray(a).resize((80, 60), Image.LANCZOS)),
        "A_crop.png": np.ascontiguousarray(a[int(h * .03):h - int(h * .03), int(w * .03):w - int(w * .03)]),
        "A_rot.png": np.ascontiguousarray(np.rot90(a)),
        "B.png": b,
        "B_small.png": np.asarray(Image.fromarray(b).resize((80, 60), Image.LANCZOS)),
        "C.png": _small(photos["coffee"]),
        "D.png": _small(photos["chelsea"]),
        "R.png": _small(photos["rocket"]),
    }
    for name, array in arrays.items():
        Image.fromarray(array).save(folder / name)
    shutil.copyfile(folder / "A.png", folder / "A_copy.png")
    shutil.copyfile(folder / "D.png", folder / "D_twin.png")
    arrays["A_copy.png"], arrays["D_twin.png"] = arrays["A.png"], arrays["D.png"]
    csv_file = labels_dir / "truth.csv"
    csv_file.write_text("file,group,label\n"
                        "A.png,A,original\nA_copy.png,A,copy\nA_small.png,A,resized\nA_crop.png,A,cropped\n"
                        "A_rot.png,A,rotated\n"
                        "../photos/B.png,B,original\nB_small.png,B,resized\ngone.png,B,resized\n"
                        f"{folder / 'C.png'},C,original\n"
                        "D.png,D,original\nD_twin.png,E,copy\n", encoding="utf-8")
    return folder, csv_file, arrays


def test_the_labelled_set_groups_as_the_hand_count_assumes(labelled):
    _, _, arrays = labelled
    names = sorted(arrays)
    meant = {"A.png": 1, "A_copy.png": 1, "A_small.png": 1, "A_crop.png": 1, "B.png": 2, "B_small.png": 2,
             "D.png": 3, "D_twin.png": 3}
    for x, y in itertools.combinations(names, 2):
        dist = _phash_distance(arrays[x], arrays[y])
        together = x in meant and meant[x] == meant.get(y)
        if "A_crop.png" in (x, y) and together:
            assert 0 < dist <= 8, (x, y, dist)  # found at threshold 8, not at 0
        elif together:
            assert dist == 0, (x, y, dist)
        else:
            assert dist > 8, (x, y, dist)


# Hand count. Truth groups A = {A orig, A_copy copy, A_small resized, A_crop cropped, A_rot rotated}
# (10 pairs), B = {B orig, B_small resized, gone.png resized (missing)} (3 pairs), C, D, E = {D_twin}
# alone; R.png is not in the truth. 13 true pairs.
# threshold 0: predicted {A, A_copy, A_small} {B, B_small} {D, D_twin}: 5 pairs, 3 + 1 true.
# threshold 8: A_crop joins the first group: 6 + 1 + 1 = 8 pairs, 6 + 1 true.
# Per label (a pair counts for its non-original members' labels):
#   copy: 4 pairs (with each other member of A); found 2 at 0 (A, A_small), 3 at 8 (+A_crop)
#   resized: 4 in A + 3 in B = 7; found 2 + 1 = 3 at 0, 3 + 1 = 4 at 8
#   cropped: 4; found 0 at 0, 3 at 8.  rotated: 4; found 0.
EXPECTED = {
    0: dict(predicted_pairs=5, true_positives=4, precision=Fraction(4, 5), recall=Fraction(4, 13),
            n_groups=3, largest_group=3,
            label_found={"copy": 2, "resized": 3, "cropped": 0, "rotated": 0}),
    8: dict(predicted_pairs=8, true_positives=7, precision=Fraction(7, 8), recall=Fraction(7, 13),
            n_groups=3, largest_group=4,
            label_found={"copy": 3, "resized": 4, "cropped": 3, "rotated": 0}),
}
LABEL_PAIRS = {"copy": 4, "resized": 7, "cropped": 4, "rotated": 4}


def _check_rows(report: EvaluationReport, folder: Path) -> None:
    assert [(r.method, r.threshold) for r in report.rows] == [("phash", t) for t in THRESHOLDS]
    for row in report.rows:
        want = EXPECTED[row.threshold]
        assert row.true_pairs == 13 and row.n_images == 11
        assert row.predicted_pairs == want["predicted_pairs"] and row.true_positives == want["true_positives"]
        assert row.precision == float(want["precision"]) and row.recall == float(want["recall"])
        p, r = want["precision"], want["recall"]
        assert row.f1 == pytest.approx(float(2 * p * r / (p + r)))
        assert row.n_groups == want["n_groups"] and row.largest_group == want["largest_group"]
        assert row.label_pairs == LABEL_PAIRS
        assert row.label_found == want["label_found"]
        assert row.label_recall == {k: want["label_found"][k] / n for k, n in LABEL_PAIRS.items()}
        assert row.import_s > 0 and row.hash_s > 0 and row.group_s > 0
        # groups A, B and D hold their original, and keep it (the smaller, cropped and twin copies lose)
        assert (row.keeper_groups, row.keeper_originals) == (3, 3)
    assert report.untracked == [str(folder / "R.png")]
    assert report.missing == [(str(folder / "gone.png"), "no such file")]
    assert report.n_truth_files == 11 and report.n_truth_groups == 5


def test_keeper_counts_by_hand():
    # rows: 0 original A, 1 brightened A, 2 exact copy of A, 3 original B, 4 watermark B, 5 original C,
    # 6 resized C, 7 original D (grouped with C by mistake)
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    labels = ["original", "brightness", "exact copy", "original", "watermark", "original", "resize", "original"]
    select = [
        [1, 0],     # keeps the brightened copy: holds its original, not kept
        [2, 0],     # keeps the exact copy (the same bytes): kept
        [3, 4],     # keeps the original: kept
        [6, 7],     # the keeper's truth group (C) has no original in this group: not counted
        [5, 6, 7],  # keeps C's original: kept
    ]
    assert keeper_counts(select, truth, labels) == (4, 3)
    assert keeper_counts([], truth, labels) == (0, 0)


def test_evaluate_gives_the_hand_counted_metrics(labelled):
    folder, csv_file, _ = labelled
    report = evaluate(folder, truth=csv_file, thresholds=THRESHOLDS, verbose=30)
    _check_rows(report, folder)
    text = report.table()
    assert "0.8750" in text and "0.5385" in text  # 7/8 and 7/13 at threshold 8
    assert "rotated" in text and "missing:" in text and "gone.png" in text
    # the report survives JSON
    back = EvaluationReport.from_dict(json.loads(report.to_json()))
    assert back == report
    assert json.loads(report.to_json())["format"] == "undouble-evaluation"
    assert "keeper is the original (or its exact copy) in 3 of the 3 groups that hold it" in text


def test_evaluate_with_subfolders_as_truth(tmp_path, labelled):
    _, _, arrays = labelled
    layout = {"A/": ["A.png", "A_copy.png", "A_small.png", "A_crop.png", "A_rot.png"],
              "B/": ["B.png", "B_small.png"], "": ["C.png", "D.png", "D_twin.png"]}
    for sub, names in layout.items():
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            Image.fromarray(arrays[name]).save(tmp_path / sub / name)
    (tmp_path / "B" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # skipped by import
    report = evaluate(tmp_path, thresholds=[8], verbose=40)
    (row,) = report.rows
    # true pairs: 10 in A + 3 in B (with broken.png); predicted: {A, copy, small, crop} {B, B_small} {D, D_twin}
    assert (row.true_pairs, row.predicted_pairs, row.true_positives) == (13, 8, 7)
    assert row.precision == float(Fraction(7, 8)) and row.recall == float(Fraction(7, 13))
    assert row.label_pairs == {"unlabelled": 13} and row.label_found == {"unlabelled": 7}
    assert report.untracked == [] and report.truth_source == "subfolders"
    ((path, why),) = report.missing
    assert path == str(tmp_path / "B" / "broken.png") and why and why != "no such file"


def test_evaluate_bad_arguments(labelled):
    folder, csv_file, _ = labelled
    with pytest.raises(ValueError, match="thresholds"):
        evaluate(folder, truth=csv_file, thresholds=[-1])
    with pytest.raises(ValueError, match="verify"):
        evaluate(folder, truth=csv_file, verify="sometimes")
    with pytest.raises(FileNotFoundError):
        evaluate(folder / "nope", truth=csv_file)


# --------------------------------------------------------------------------- the model factory
class _Recorder:
    """Stands in for an Undouble that has verify and robust; records what it was given."""

    calls: list = []

    def __init__(self, method, hash_size=8, n_jobs=None, ext=None, verbose=20, verify="unset", robust="unset",
                 **options):
        _Recorder.calls.append(dict(options, method=method, hash_size=hash_size, n_jobs=n_jobs, ext=ext,
                                    verbose=verbose, verify=verify, robust=robust))


def test_make_model_passes_verify_and_robust_only_when_given(monkeypatch):
    import undouble.model

    monkeypatch.setattr(undouble.model, "Undouble", _Recorder)
    _Recorder.calls = []
    make_model("phash")
    make_model("dhash", hash_size=16, verify=False, robust=True, n_jobs=2, ext=["png"], verbose=30, dim=(64, 64))
    first, second = _Recorder.calls
    assert first["verify"] == "unset" and first["robust"] == "unset" and first["method"] == "phash"
    assert second == dict(method="dhash", hash_size=16, n_jobs=2, ext=["png"], verbose=30, verify=False,
                          robust=True, dim=(64, 64))


def test_make_model_says_when_the_model_lacks_verify(monkeypatch):
    import undouble.model

    def no_verify(method, hash_size, n_jobs, ext, verbose, **hash_options):  # like today's Undouble
        raise AssertionError("not reached")

    monkeypatch.setattr(undouble.model, "Undouble", no_verify)
    with pytest.raises(ValueError, match="no 'verify' parameter"):
        make_model("phash", verify=True)
    with pytest.raises(ValueError, match="no 'robust' parameter"):
        make_model("phash", robust=True)


def test_verify_both_runs_two_models(monkeypatch, labelled):
    import undouble.model

    real = undouble.model.Undouble
    seen = []

    class WithVerify(real):
        def __init__(self, *args, verify=None, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(verify)
            self.params["verify"] = verify

    monkeypatch.setattr(undouble.model, "Undouble", WithVerify)
    folder, csv_file, _ = labelled
    report = evaluate(folder, truth=csv_file, thresholds=[8], verify="both", verbose=30)
    assert seen == [True, False]
    assert [(r.verify, r.threshold) for r in report.rows] == [(True, 8), (False, 8)]
    assert "verify on" in report.table() and "verify off" in report.table()


# --------------------------------------------------------------------------- the command
def test_cli_evaluate_end_to_end(labelled, tmp_path, capsys):
    from undouble.cli import main

    folder, csv_file, _ = labelled
    plot, out = tmp_path / "pr.png", tmp_path / "report.json"
    argv = ["evaluate", str(folder), "--truth", str(csv_file), "--thresholds", "8", "0", "--plot", str(plot),
            "-q", "--jobs", "2"]
    assert main(argv + ["-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _check_rows(EvaluationReport.from_dict(json.loads(out.read_text())), folder)

    assert main(argv + ["--json"]) == 0
    _check_rows(EvaluationReport.from_dict(json.loads(capsys.readouterr().out)), folder)

    assert main(argv + ["--methods", "phash", "dhash"]) == 0
    text = capsys.readouterr().out
    lines = [line.split() for line in text.splitlines()]
    assert [line[:2] for line in lines if line and line[0] in ("phash", "dhash") and line[1].isdigit()] == [
        ["phash", "0"], ["phash", "8"], ["dhash", "0"], ["dhash", "8"]]
    assert "Recall per label" in text and "Times (s):" in text


@pytest.mark.parametrize("extra", [["--truth", "/no/such/truth.csv"], ["--no-verify", "--verify-both"],
                                   ["--thresholds", "-2"], ["--methods", "nohash"]])
def test_cli_evaluate_bad_command_lines_exit_2(labelled, extra):
    from undouble.cli import main

    folder, _, _ = labelled
    assert main(["evaluate", str(folder), *extra]) == 2


def test_cli_evaluate_failure_exits_1(labelled, tmp_path, capsys):
    from undouble.cli import main

    folder, _, _ = labelled
    (tmp_path / "empty.csv").write_text("file,group\n")
    assert main(["evaluate", str(folder), "--truth", str(tmp_path / "empty.csv"), "-q"]) == 1
    assert "names no files" in capsys.readouterr().err


def test_truth_dataclass_is_accepted_directly(labelled):
    folder, _, arrays = labelled
    truth = Truth([os.path.join(folder, "A.png"), os.path.join(folder, "A_copy.png")], ["x", "x"],
                  ["original", "copy"], source="given")
    report = evaluate(folder, truth=truth, thresholds=[0], verbose=30)
    (row,) = report.rows
    # only A/A_copy are a true pair; predicted at 0: {A, A_copy, A_small} {B, B_small} {D, D_twin} = 5 pairs
    assert (row.true_pairs, row.true_positives, row.predicted_pairs) == (1, 1, 5)
    assert len(report.untracked) == 9 and report.truth_source == "given"


def test_cli_evaluate_parses_the_verify_flags(tmp_path):
    from undouble.cli import build_parser

    parse = build_parser().parse_args
    base = ["evaluate", str(tmp_path)]
    assert parse(base).verify is None and parse(base).robust is False
    assert parse(base + ["--no-verify"]).verify is False
    assert parse(base + ["--verify-both", "--robust"]).verify == "both"
    args = parse(base + ["--methods", "average_hash", "phash", "--thresholds", "3", "5", "--hash-size", "16"])
    assert args.methods == ["ahash", "phash"] and args.thresholds == [3, 5] and args.hash_size == 16
