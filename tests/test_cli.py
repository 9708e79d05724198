"""The ``undouble`` command end to end, run as a user runs it: ``python -m undouble ...``.

Each run that hashes pays the import of the Numba kernels (cached on disk), so
the number of such subprocesses is kept small.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from undouble.cli import METHOD_NAMES, build_parser
from undouble.examples import make_synthetic_set

SUBCOMMANDS = ("scan", "move", "undo", "plot", "hash", "example")


def run(*args: str, env_extra: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run([sys.executable, "-m", "undouble", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A small generated photo folder with planted near-duplicates (and a manifest)."""
    root = tmp_path_factory.mktemp("cli") / "photos"
    manifest = make_synthetic_set(root, n_originals=10, n_with_duplicates=3, seed=7)
    (root / "notes.txt").write_text("not an image")
    return root, manifest


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cli-cache") / "hashes.sqlite3")


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (journals aside) -> SHA-256 of its content."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("undouble-journal-"):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- help and usage
def test_method_names_match_the_registry():
    from undouble.hashes import METHODS

    assert tuple(METHODS) == METHOD_NAMES


def test_every_subcommand_has_help():
    top = run("--help")
    assert top.returncode == 0
    for name in SUBCOMMANDS:
        assert name in top.stdout
        res = run(name, "--help")
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(f"usage: undouble {name}")
        assert "-q, --quiet" in res.stdout and "-v, --verbose" in res.stdout


def test_version():
    res = run("--version")
    assert res.returncode == 0 and res.stdout.startswith("undouble ")


@pytest.mark.parametrize("argv", [
    [],                                         # no command
    ["frobnicate"],                             # unknown command
    ["scan"],                                   # missing folder
    ["scan", "/no/such/folder/anywhere"],       # folder does not exist
    ["scan", ".", "--method", "nohash"],        # unknown method
    ["scan", ".", "--threshold", "-1"],         # negative threshold
    ["scan", ".", "--json", "--csv"],           # exclusive options
    ["scan", ".", "--cache", "x", "--no-cache"],
    ["plot", "."],                              # --out is required
    ["undo", "/no/such/journal.jsonl"],
])
def test_bad_command_lines_exit_2(argv):
    from undouble.cli import main

    assert main(argv) == 2


def test_bad_command_line_exit_2_in_a_subprocess():
    res = run("scan", "--threshold", "many", ".")
    assert res.returncode == 2
    assert "usage: undouble scan" in res.stderr and "--threshold" in res.stderr
    assert res.stdout == ""


def test_move_without_a_terminal_asks_for_yes(photos, capsys):
    from undouble.cli import main

    root, _ = photos
    before = snapshot(root)
    assert main(["move", str(root)]) == 2  # pytest's stdin is not a terminal
    assert "--yes" in capsys.readouterr().err
    assert snapshot(root) == before


def test_parser_accepts_aliases():
    args = build_parser().parse_args(["hash", "x.png", "--method", "average_hash"])
    assert args.method == "ahash"
    args = build_parser().parse_args(["-q", "scan", "."])
    assert args.quiet is True


# --------------------------------------------------------------------------- scan
def test_scan_json_and_csv(photos, cache_file):
    root, manifest = photos
    res = run("scan", str(root), "--threshold", "10", "--json", "--cache", cache_file)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)  # stdout holds the JSON only; logs went to stderr
    assert "groups with similar images" in res.stderr
    assert data["n_images"] == len(manifest["files"])
    assert data["n_groups"] == len(data["groups"]) == len(data["distances"])
    found = sorted(sorted(os.path.basename(p) for p in g) for g in data["groups"])
    assert found == sorted(sorted(g) for g in manifest["groups"])
    for files, dists in zip(data["groups"], data["distances"]):
        assert len(files) == len(dists) and dists[0] == 0
        assert all(os.path.isabs(p) for p in files)
    # the keeper comes first: the highest resolution of its group (sharpness, measured on the
    # canonical scale at import, decides between equal resolutions: see test_model/test_scale)
    from undouble.keeper import image_resolution

    for files in data["groups"]:
        pixels = [image_resolution(p)[0] * image_resolution(p)[1] for p in files]
        assert pixels[0] == max(pixels)



def test_scan_csv_and_text(photos, cache_file, capsys):
    """Same code path as the subprocess runs, in-process to save a Numba import."""
    from undouble.cli import main

    root, manifest = photos
    assert main(["scan", str(root), "--threshold", "10", "--json", "-q", "--cache", cache_file]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["scan", str(root), "--threshold", "10", "--csv", "-q", "--cache", cache_file]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # -q: nothing but warnings
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert list(rows[0]) == ["group", "rank", "keeper", "distance", "path", "filename", "damaged", "warnings",
                            "relation", "similarity"]
    assert len(rows) == sum(len(g) for g in data["groups"])
    for row in rows:
        g, rank = int(row["group"]), int(row["rank"])
        assert data["groups"][g - 1][rank] == row["path"]
        assert row["keeper"] == ("1" if rank == 0 else "0")
        assert int(row["distance"]) == data["distances"][g - 1][rank]

    assert main(["scan", str(root), "--threshold", "10", "-q", "--cache", cache_file]) == 0
    text = capsys.readouterr().out
    assert text.count("Group ") == len(data["groups"])
    assert f"{len(data['groups'])} groups, {data['n_duplicates']} duplicates among {data['n_images']} images" in text


def test_scan_output_file(photos, cache_file, tmp_path, capsys):
    from undouble.cli import main

    root, manifest = photos
    out = tmp_path / "groups.csv"
    assert main(["scan", str(root), "--threshold", "10", "-o", str(out), "--cache", cache_file, "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    rows = list(csv.DictReader(out.open()))
    assert len({r["group"] for r in rows}) == len(manifest["groups"])


def test_scan_failure_exits_1(photos, cache_file, tmp_path, capsys):
    from undouble.cli import main

    root, _ = photos
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # a folder that is a file is refused before the scan (usage error) ...
    assert main(["scan", str(root), "-o", str(blocker / "groups.json"), "--cache", cache_file, "-q"]) == 2
    assert "no such folder" in capsys.readouterr().err
    # ... a write that fails after it (here: a name too long) is a failed run
    too_long = "g" * 300 + ".json"
    assert main(["scan", str(root), "-o", str(tmp_path / too_long), "--cache", cache_file, "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot write" in err and too_long in err


# --------------------------------------------------------------------------- move / undo
def test_move_dry_run_then_move_then_undo(photos, cache_file, tmp_path):
    root, manifest = photos
    work = tmp_path / "photos"
    import shutil

    shutil.copytree(root, work)
    before = snapshot(work)
    stat_before = {p: os.stat(work / p).st_mtime_ns for p in before}

    res = run("move", str(work), "--threshold", "10", "--dry-run", "--cache", cache_file)
    assert res.returncode == 0, res.stderr
    assert "move" in res.stdout
    assert snapshot(work) == before
    assert {p: os.stat(work / p).st_mtime_ns for p in before} == stat_before
    assert not (work / "undouble").exists()

    res = run("move", str(work), "--threshold", "10", "--yes", "--cache", cache_file)
    assert res.returncode == 0, res.stderr
    journal = next(line.split(": ", 1)[1] for line in res.stdout.splitlines() if line.startswith("Journal: "))
    assert os.path.isfile(journal)
    after = snapshot(work)
    moved = [p for p in after if p.startswith("undouble" + os.sep)]
    n_dups = sum(len(g) - 1 for g in manifest["groups"])
    assert len(moved) == n_dups + len(manifest["groups"])  # the extras, and a copy of each keeper
    assert sorted(set(before) - set(after)) and all(p in before for p in after if not p.startswith("undouble"))

    res = run("undo", journal)
    assert res.returncode == 0, res.stderr
    assert "restored" in res.stdout
    assert snapshot(work) == before


def test_undo_of_a_broken_journal_exits_1(tmp_path):
    bad = tmp_path / "undouble-journal-bad.jsonl"
    bad.write_text("this is not json\n")
    res = run("undo", str(bad))
    assert res.returncode == 1
    assert str(bad) in res.stderr


# --------------------------------------------------------------------------- plot / hash / example
def test_plot_writes_one_png_per_group(photos, cache_file, tmp_path):
    root, manifest = photos
    out = tmp_path / "figures"
    res = run("plot", str(root), "--threshold", "10", "--out", str(out), "--max-groups", "2",
              "--cache", cache_file, "-q")
    assert res.returncode == 0, res.stderr
    written = res.stdout.split()
    assert len(written) == min(2, len(manifest["groups"]))
    for path in written:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in written)


def test_hash_prints_imagehash_hex_and_fails_on_bad_files(photos):
    root, manifest = photos
    from PIL import Image

    import undouble

    names = manifest["files"][:2]
    files = [str(root / n) for n in names]
    res = run("hash", *files, str(root / "notes.txt"), "--method", "dhash")
    assert res.returncode == 1  # one file is not an image
    assert "notes.txt" in res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, files):
        value, shown = line.split("  ", 1)
        assert shown == path
        with Image.open(path) as im:
            assert value == undouble.hash_image(im.convert("RGB"), "dhash")


def test_example_runs_the_whole_job(example_paths, capsys):
    from undouble.cli import main

    assert main(["example", "--json", "-q", "--no-cache"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["threshold"] == 10 and data["n_images"] == len(example_paths)
    assert data["n_groups"] == 40


# --------------------------------------------------------------------------- argument checks (issue 19)
@pytest.mark.parametrize("argv, words", [
    (["scan", ".", "--threshold", "64"], ["64 bits"]),                       # phash 8: 64 bits
    (["move", ".", "--threshold", "1000", "--yes"], ["64 bits"]),
    (["scan", ".", "--hash-size", "4", "--threshold", "16"], ["16 bits"]),
    (["scan", ".", "--method", "colorhash", "--threshold", "42"], ["42 bits"]),
    (["scan", ".", "--hash-size", "99999999999"], ["--hash-size", "at most 64"]),
    (["hash", "x.png", "--hash-size", "99999999999"], ["--hash-size"]),
    (["scan", ".", "--method", "whash-haar", "--hash-size", "12"], ["power of 2"]),
    (["scan", ".", "-o", "/nonexistent/dir/out.json"], ["no such folder", "/nonexistent/dir"]),
])
def test_bad_values_refused_at_parse_time(argv, words, capsys):
    from undouble.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not os.path.exists("/nonexistent/dir")


def test_export_into_a_missing_folder_is_refused_not_created(tmp_path):
    from undouble import Undouble

    import numpy as np

    model = Undouble(method="ahash", verbose=30)
    model.import_data(np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8))
    model.compute_hash()
    model.group(threshold=2)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        model.export(tmp_path / "missing" / "out.json")
    assert not (tmp_path / "missing").exists()


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


def test_interrupted_move_rerun_then_undo_folder(photos, cache_file, tmp_path, monkeypatch, capsys):
    """Ctrl-C after two files, the same command again, then the undo command it prints."""
    import shutil

    import undouble.move as mv
    from undouble.cli import main

    root, _ = photos
    ref, work = tmp_path / "ref", tmp_path / "work"
    shutil.copytree(root, ref)
    shutil.copytree(root, work)
    argv = ["--threshold", "10", "--yes", "--cache", cache_file, "-q"]
    assert main(["move", str(ref), *argv]) == 0
    want = {k: v for k, v in _tree(ref).items() if ".journals" not in k}
    tree0 = _tree(work)

    real, calls = mv.execute._transfer, [0]

    def transfer(*a, **k):
        if calls[0] == 2:
            raise KeyboardInterrupt
        calls[0] += 1
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(mv.execute, "_transfer", transfer)
        assert main(["move", str(work), *argv]) == 130
    capsys.readouterr()
    assert main(["move", str(work), *argv]) == 0
    out, err = capsys.readouterr()
    assert "Finished the interrupted move" in err
    assert {k: v for k, v in _tree(work).items() if ".journals" not in k} == want
    command = next(line for line in out.splitlines() if line.startswith("To put everything back: "))
    assert command == f"To put everything back: undouble undo {work}"
    assert main(["undo", str(work)]) == 0
    assert _tree(work) == tree0


def test_move_exits_1_when_an_operation_failed(photos, cache_file, tmp_path, monkeypatch, capsys):
    import shutil

    import undouble.move as mv
    from undouble.cli import main

    work = tmp_path / "work"
    shutil.copytree(photos[0], work)
    real, calls = mv.execute._transfer, [0]

    def transfer(*a, **k):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(5, "Input/output error")
        return real(*a, **k)

    monkeypatch.setattr(mv.execute, "_transfer", transfer)
    assert main(["move", str(work), "--threshold", "10", "--yes", "--cache", cache_file, "-q"]) == 1
    err = capsys.readouterr().err
    assert "1 operation(s) failed" in err and "Input/output error" in err


def test_move_dry_run_numbers_groups_from_1_and_says_nothing_changed(photos, cache_file, capsys):
    from undouble.cli import main

    root, manifest = photos
    assert main(["move", str(root), "--threshold", "10", "--dry-run", "--cache", cache_file, "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == lines[-1] == "dry run: nothing was changed"
    numbers = [int(line.split()[1].rstrip(":")) for line in lines if line.startswith("group ")]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers


# --------------------------------------------------------------------------- names that are not UTF-8
class _FakeModel:
    """What export needs of a grouped model."""

    def __init__(self, groups):
        self.params = {"method": "phash", "hash_size": 8, "threshold": 3}
        self.results = {"select_pathnames": groups, "select_scores": [[0] * len(g) for g in groups],
                        "pathnames": [p for g in groups for p in g],
                        "skipped": [(groups[0][0] + ".bad", "broken \udcff")]}


NON_UTF8 = [[os.fsdecode(b"/p/\xff\xfe keep.png"), "/p/caf\u00e9.png"]]


def test_json_export_of_non_utf8_names_is_valid_utf8_and_round_trips(tmp_path):
    from undouble.export import dumps, export_groups

    model = _FakeModel(NON_UTF8)
    text = dumps(model, "json")
    raw = text.encode("utf-8")  # would raise on a lone surrogate
    assert "\\udcff\\udcfe keep.png" in text and "caf\u00e9" in text  # only the undecodable escaped
    back = json.loads(raw.decode("utf-8"))
    assert back["groups"] == NON_UTF8
    assert os.fsencode(back["groups"][0][0]) == b"/p/\xff\xfe keep.png"
    path = export_groups(model, tmp_path / "g.json")
    assert json.loads(Path(path).read_bytes().decode("utf-8"))["groups"] == NON_UTF8


def test_csv_export_of_non_utf8_names_keeps_their_bytes(tmp_path):
    from undouble.export import export_groups

    path = export_groups(_FakeModel(NON_UTF8), tmp_path / "g.csv")
    raw = Path(path).read_bytes()
    assert b"/p/\xff\xfe keep.png" in raw and "caf\u00e9".encode() in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8", "surrogateescape"))))
    assert rows[1][4] == NON_UTF8[0][0]


def test_undo_of_a_folder_without_journals_changes_nothing(tmp_path, capsys):
    from undouble.cli import main

    (tmp_path / "a.txt").write_text("mine")
    assert main(["undo", str(tmp_path)]) == 0
    assert "0 journal(s) undone" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


KILLED_CLI = r"""
import os, signal, sys
kill_at, count = int(sys.argv[1]), [0]
real_link = os.link

def link(*a, **k):
    result = real_link(*a, **k)
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

os.link = link
from undouble.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_move_killed_by_sigkill_then_the_same_command_again(photos, cache_file, tmp_path):
    import shutil

    root, _ = photos
    ref, work = tmp_path / "ref", tmp_path / "work"
    shutil.copytree(root, ref)
    shutil.copytree(root, work)
    argv = ["--threshold", "10", "--yes", "--cache", cache_file, "-q"]
    assert run("move", str(ref), *argv).returncode == 0
    want = {k: v for k, v in _tree(ref).items() if ".journals" not in k}
    tree0 = _tree(work)
    env = dict(os.environ, MPLBACKEND="Agg")
    killed = subprocess.run([sys.executable, "-c", KILLED_CLI, "3", "move", str(work), *argv],
                            capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stderr
    again = run("move", str(work), *argv)
    assert again.returncode == 0, again.stderr
    assert "Finished the interrupted move" in again.stderr
    assert {k: v for k, v in _tree(work).items() if ".journals" not in k} == want
    assert f"To put everything back: undouble undo {work}" in again.stdout
    assert run("undo", str(work)).returncode == 0
    assert _tree(work) == tree0
