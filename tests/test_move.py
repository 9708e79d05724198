"""Moving duplicates: nothing of the user's may ever be lost.

Every test takes an inventory (SHA-256 of every file under a test tree) before, after
the move and after undo: the multiset of contents never loses an element, and undo
gives back the original tree exactly (same paths, same contents, same folders).
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import undouble.move as mv
from undouble.move import (journal_summary, move_groups, plan_moves, read_journal, undo,
                           undo_main)

REPO = Path(__file__).resolve().parents[1]


def _permissions_enforced() -> bool:
    """False as root (or with CAP_DAC_OVERRIDE): chmod does not stop us there."""
    import tempfile

    if os.name != "posix":
        return False
    with tempfile.TemporaryDirectory() as d:
        locked = os.path.join(d, "locked")
        os.mkdir(locked, 0o555)
        try:
            open(os.path.join(locked, "probe"), "xb").close()
        except PermissionError:
            return True
        finally:
            os.chmod(locked, 0o755)
        return False


PERMISSIONS_ENFORCED = _permissions_enforced()


# =========================================================================== helpers
def _pattern(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _write(path: Path, arr: np.ndarray, **kw) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return str(path)


def make_tree(root: Path):
    """A photo tree with three groups, nested folders and clashing names.

    Returns (groups, file_stats, expected) where expected maps each relative path after
    the move to the relative path of the original whose content it holds.
    """
    p1 = _pattern(48, 64, 1)
    img1 = _write(root / "img1.png", p1)
    sub_img1 = _write(root / "sub" / "img1.png", cv2.resize(p1, (32, 24)))
    copy1 = root / "sub" / "deeper" / "copy_of_img1.png"
    copy1.parent.mkdir(parents=True)
    shutil.copyfile(img1, copy1)  # an exact duplicate: same content twice in the tree

    p2 = _pattern(60, 80, 2)
    x = _write(root / "x.jpg", p2, quality=90)
    y = _write(root / "y.jpg", cv2.resize(p2, (40, 30)), quality=90)
    _write(root / "undouble" / "x.jpg", _pattern(10, 10, 9))  # already there: a clash

    p3 = _pattern(50, 50, 3)
    rng = np.random.default_rng(7)
    sharp = np.clip(p3.astype(int) + rng.integers(-60, 60, p3.shape), 0, 255).astype(np.uint8)
    q = _write(root / "nested" / "a" / "q.png", sharp)
    r = _write(root / "nested" / "a" / "r.png", cv2.GaussianBlur(sharp, (0, 0), 3))
    bq = _write(root / "nested" / "b" / "q.png", cv2.resize(sharp, (20, 20)))
    _write(root / "unrelated.png", _pattern(16, 16, 4))

    groups = [[sub_img1, img1, str(copy1)], [y, x], [r, bq, q]]
    stats = {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for g in groups for p in g}
    expected = {
        "img1.png": "img1.png", "undouble/img1.png": "img1.png",
        "sub/undouble/img1.png": "sub/img1.png",
        "sub/deeper/undouble/copy_of_img1.png": "sub/deeper/copy_of_img1.png",
        "x.jpg": "x.jpg", "undouble/x_1.jpg": "x.jpg", "undouble/x.jpg": "undouble/x.jpg",
        "undouble/y.jpg": "y.jpg",
        "nested/a/q.png": "nested/a/q.png", "nested/a/undouble/q.png": "nested/a/q.png",
        "nested/a/undouble/r.png": "nested/a/r.png",
        "nested/b/undouble/q.png": "nested/b/q.png",
        "unrelated.png": "unrelated.png",
    }
    return groups, stats, expected


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inventory(root: Path, *, include_tmp: bool = False) -> dict[str, str]:
    """{relative path: sha256} of every file, journals (and temporary files) excluded."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(mv.JOURNAL_PREFIX):
                continue
            if name.endswith(".undouble-tmp") and not include_tmp:
                continue
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = _sha(full)
    return out


def folders(root: Path) -> set[str]:
    """Relative folders; a folder holding nothing but journals does not count (the
    default journal lives in an ``undouble`` folder and stays there after undo)."""
    out = set()
    for d, subdirs, files in os.walk(root):
        if not subdirs and files and all(f.startswith(mv.JOURNAL_PREFIX) for f in files):
            continue
        out.add(os.path.relpath(d, root).replace(os.sep, "/"))
    return out


def assert_nothing_lost(before: dict[str, str], after: dict[str, str]) -> None:
    missing = Counter(before.values()) - Counter(after.values())
    assert not missing, f"contents lost: {missing}"


def expected_inventory(inv0: dict[str, str], expected: dict[str, str]) -> dict[str, str]:
    return {new: inv0[old] for new, old in expected.items()}


def tmp_leftovers(root: Path) -> list[str]:
    return [n for _, _, fs in os.walk(root) for n in fs if n.endswith(".undouble-tmp")]


# =========================================================================== basics
def test_move_then_undo_restores_the_exact_tree(tmp_path):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    journal = tmp_path / "journal.jsonl"

    out = move_groups(groups, yes=True, file_stats=stats, journal=journal,
                      metadata={"method": "phash", "threshold": 10, "hash_size": 8})
    assert out == journal
    inv1 = inventory(root)
    assert inv1 == expected_inventory(inv0, expected)
    assert_nothing_lost(inv0, inv1)
    assert not tmp_leftovers(root)

    records = read_journal(journal)
    assert records[0]["metadata"] == {"method": "phash", "threshold": 10, "hash_size": 8}
    begins = [r for r in records if r["type"] == "begin"]
    assert all(len(r["sha256"]) == 64 and r["size"] > 0 for r in begins)
    assert all(r["sha256"] == inv1[os.path.relpath(r["dst"], root)] for r in begins)
    summary = journal_summary(journal)
    assert (summary["moved"], summary["copied"], summary["complete"]) == (5, 3, True)

    result = undo(journal)
    assert (result["restored"], result["removed_copies"], result["problems"]) == (5, 3, [])
    assert inventory(root) == inv0
    assert folders(root) == dirs0  # the undouble folders it created are gone again

    again = undo(journal)  # harmless
    assert again["already_undone"] == 8 and again["restored"] == 0 and not again["problems"]
    assert inventory(root) == inv0 and folders(root) == dirs0


def test_every_write_is_journaled_before_it_happens(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    journal = tmp_path / "j.jsonl"
    seen = []
    real_link = os.link

    def spy_link(src, dst, *a, **k):
        recs = read_journal(journal)
        last = recs[-1]
        assert last["type"] == "begin" and last["dst"] == os.fspath(dst), last
        seen.append(dst)
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(os, "link", spy_link)
    move_groups(groups, yes=True, file_stats=stats, journal=journal)
    assert len(seen) == 8


def test_copy_action_leaves_every_original_in_place(tmp_path):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    journal = move_groups(groups, action="copy", yes=True, file_stats=stats,
                          journal=tmp_path / "j.jsonl")
    inv1 = inventory(root)
    for rel, digest in inv0.items():
        assert inv1[rel] == digest
    moved_to = {new: old for new, old in expected.items() if new != old}
    for new, old in moved_to.items():
        assert inv1[new] == inv0[old]
    assert len(inv1) == len(inv0) + len(moved_to)
    assert journal_summary(journal)["copied"] == 8
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0


def test_dry_run_touches_nothing_and_prints_the_plan(tmp_path, capsys):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    assert move_groups(groups, dry_run=True, file_stats=stats) is None
    text = capsys.readouterr().out
    assert inventory(root) == inv0 and folders(root) == dirs0
    assert f"copy  {root / 'x.jpg'} -> {root / 'undouble' / 'x_1.jpg'}" in text
    assert f"move  {root / 'y.jpg'} -> {root / 'undouble' / 'y.jpg'}" in text
    assert "keep " + str(root / "img1.png") in text
    assert "highest resolution (80x60)" in text
    assert "first path at equal resolution" in text  # img1.png and its exact copy


def test_plan_keeps_the_best_and_mirrors_groups(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    plan = plan_moves(groups, file_stats=stats)
    assert [g.keepers for g in plan.groups] == [[str(root / "img1.png")], [str(root / "x.jpg")],
                                               [str(root / "nested/a/q.png")]]
    assert plan.groups[2].reason.startswith("sharpest")  # q and r have the same resolution
    assert plan.groups[0].reason.startswith("first path")  # an exact copy ties
    assert plan.groups[1].reason == "highest resolution (80x60)"
    assert {o.op for o in plan.ops if o.role == "duplicate"} == {"move"}
    assert plan.journal_dir == str(root / "undouble" / ".journals")  # from the common folder


def test_default_journal_location_and_never_overwrite(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    j1 = move_groups(groups, yes=True, file_stats=stats)
    assert j1.parent == root / "undouble" / ".journals"  # the folder that holds every file
    assert j1.name.startswith("undouble-journal-") and j1.suffix == ".jsonl"
    undo(j1)
    j2 = move_groups(groups, yes=True, file_stats=stats)
    assert j2 != j1 and j1.exists() and j2.exists()
    assert read_journal(j1)[-1]["type"] == "undo-end"  # the first one is untouched
    undo(j2)
    assert inventory(root) == inv0
    # an existing file is never taken as a journal
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    with pytest.raises(FileExistsError):
        move_groups(groups, yes=True, journal=other)
    assert other.read_text() == "mine"
    with pytest.raises(FileExistsError):  # a finished journal is not reused either
        move_groups(groups, yes=True, journal=j2)
    assert inventory(root) == inv0


def test_target_folder_mirrors_the_tree(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    target = tmp_path / "out"
    journal = move_groups(groups, yes=True, file_stats=stats, target=target)
    assert journal.parent == target / ".journals"
    got = inventory(target)
    assert got == {
        "img1.png": inv0["img1.png"], "sub/img1.png": inv0["sub/img1.png"],
        "sub/deeper/copy_of_img1.png": inv0["sub/deeper/copy_of_img1.png"],
        "x.jpg": inv0["x.jpg"], "y.jpg": inv0["y.jpg"],
        "nested/a/q.png": inv0["nested/a/q.png"], "nested/a/r.png": inv0["nested/a/r.png"],
        "nested/b/q.png": inv0["nested/b/q.png"],
    }
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0
    assert inventory(target) == {}


def test_keepers_chosen_by_hand(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    keepers = [[groups[0][0], groups[0][2]], groups[1][0], []]  # two keepers; y; untouched
    journal = move_groups(groups, yes=True, file_stats=stats, keepers=keepers,
                          journal=tmp_path / "j.jsonl")
    inv = inventory(root)
    assert inv["sub/img1.png"] == inv0["sub/img1.png"]  # kept in place ...
    assert inv["sub/undouble/img1.png"] == inv0["sub/img1.png"]  # ... and copied
    assert inv["sub/deeper/copy_of_img1.png"] == inv0["sub/deeper/copy_of_img1.png"]
    assert "img1.png" not in inv and inv["undouble/img1.png"] == inv0["img1.png"]
    assert "y.jpg" in inv and "x.jpg" not in inv and inv["undouble/x_1.jpg"] == inv0["x.jpg"]
    for rel in ("nested/a/q.png", "nested/a/r.png", "nested/b/q.png"):
        assert inv[rel] == inv0[rel]
    undo(journal)
    assert inventory(root) == inv0
    with pytest.raises(ValueError):
        plan_moves(groups, keepers=[str(root / "unrelated.png"), None, None])
    with pytest.raises(ValueError):
        plan_moves(groups, keepers=[None])


def test_repeated_paths_are_handled_once(tmp_path):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0 = inventory(root)
    doubled = [groups[0] + [groups[0][0]], groups[1], groups[2] + [groups[0][1]]]
    plan = plan_moves(doubled, file_stats=stats)
    assert len({o.src for o in plan.ops}) == len(plan.ops) == 8
    journal = move_groups(doubled, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    assert inventory(root) == expected_inventory(inv0, expected)
    undo(journal)
    assert inventory(root) == inv0


# =========================================================================== prompt
def test_prompt_no_and_eof_do_nothing(tmp_path, capsys):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    asked = []
    assert move_groups(groups, file_stats=stats, input=lambda p: asked.append(p) or "n") is None
    assert asked == ["Continue? [y/N] "]
    assert "groups" in capsys.readouterr().out

    def eof(prompt):
        raise EOFError

    assert move_groups(groups, file_stats=stats, input=eof) is None
    assert move_groups(groups, file_stats=stats, input=lambda p: "") is None
    assert inventory(root) == inv0 and folders(root) == dirs0
    j = move_groups(groups, file_stats=stats, input=lambda p: "Y", journal=tmp_path / "j.jsonl")
    assert j is not None and inventory(root) != inv0
    undo(j)
    assert inventory(root) == inv0


def test_no_terminal_refuses_instead_of_hanging(tmp_path, monkeypatch, caplog):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    def no_input(prompt=""):
        raise AssertionError("must not ask without a terminal")

    monkeypatch.setattr("builtins.input", no_input)
    with caplog.at_level(logging.WARNING, logger="undouble"):
        assert move_groups(groups, file_stats=stats) is None
    assert "yes=True" in caplog.text
    assert inventory(root) == inv0


# =========================================================================== skips
def test_changed_vanished_and_odd_files_are_skipped(tmp_path):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    # after hashing: one file grows, one gets a new mtime, one vanishes, one becomes a folder
    with open(root / "nested/a/r.png", "ab") as fh:
        fh.write(b"edited")
    st = os.stat(root / "sub/img1.png")
    os.utime(root / "sub/img1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    os.unlink(root / "nested/b/q.png")
    os.unlink(root / "sub/deeper/copy_of_img1.png")
    os.mkdir(root / "sub/deeper/copy_of_img1.png")
    inv0, dirs0 = inventory(root), folders(root)

    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    inv = inventory(root)
    assert_nothing_lost(inv0, inv)
    # group 0: nothing left to move -> untouched; group 2: nothing left -> untouched
    for rel in ("sub/img1.png", "nested/a/r.png", "img1.png", "nested/a/q.png"):
        assert inv[rel] == inv0[rel]
    assert "undouble/img1.png" not in inv and "nested/a/undouble/q.png" not in inv
    # group 1 proceeds
    assert inv["undouble/y.jpg"] == inv0["y.jpg"] and "y.jpg" not in inv
    reasons = dict(journal_summary(journal)["skipped"])
    assert "changed since it was hashed" in reasons[str(root / "nested/a/r.png")]
    assert "changed since it was hashed" in reasons[str(root / "sub/img1.png")]
    assert "vanished" in reasons[str(root / "nested/b/q.png")]
    assert "regular file" in reasons[str(root / "sub/deeper/copy_of_img1.png")]
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0


def test_changes_between_plan_and_move_are_caught(tmp_path):
    """The prompt gives the user time: everything is checked again before it moves."""
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)

    def meddle(prompt):
        with open(root / "y.jpg", "ab") as fh:
            fh.write(b"late edit")
        os.unlink(root / "nested/b/q.png")
        return "y"

    journal = move_groups(groups, file_stats=stats, input=meddle, journal=tmp_path / "j.jsonl")
    moved = inventory(root)
    summary = journal_summary(journal)
    reasons = dict(summary["skipped"])
    assert "changed since it was hashed" in reasons[str(root / "y.jpg")]
    assert "vanished" in reasons[str(root / "nested/b/q.png")]
    assert (root / "y.jpg").read_bytes().endswith(b"late edit")
    assert (root / "nested/a/undouble/r.png").exists()
    undo(journal)
    after = inventory(root)
    assert after["y.jpg"] == moved["y.jpg"]
    assert "undouble/x_1.jpg" not in after and "nested/a/undouble" not in folders(root)


def test_changed_keeper_leaves_its_group_untouched(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    with open(root / "x.jpg", "ab") as fh:
        fh.write(b"edited")
    inv0 = inventory(root)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    inv = inventory(root)
    assert inv["y.jpg"] == inv0["y.jpg"] and "undouble/y.jpg" not in inv
    assert "undouble/x_1.jpg" not in inv
    reasons = dict(journal_summary(journal)["skipped"])
    assert "keeper" in reasons[str(root / "y.jpg")]
    undo(journal)
    assert inventory(root) == inv0


def test_symlinks_are_left_alone(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    link = root / "link_to_y.jpg"
    os.symlink(root / "y.jpg", link)
    inv0 = inventory(root)
    journal = move_groups([groups[1] + [str(link)]], yes=True, journal=tmp_path / "j.jsonl")
    assert link.is_symlink() and os.readlink(link) == str(root / "y.jpg")
    assert "symbolic link" in dict(journal_summary(journal)["skipped"])[str(link)]
    undo(journal)
    assert inventory(root) == inv0


# =========================================================================== failures
def test_unwritable_destination_is_reported_and_the_rest_proceeds(tmp_path):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    (root / "nested/b/undouble").write_bytes(b"a file where the folder should go")
    inv0, dirs0 = inventory(root), folders(root)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    inv = inventory(root)
    assert_nothing_lost(inv0, inv)
    assert inv["nested/b/q.png"] == inv0["nested/b/q.png"]
    assert inv["nested/b/undouble"] == inv0["nested/b/undouble"]
    assert inv["nested/a/undouble/r.png"] == inv0["nested/a/r.png"]
    failed = dict(journal_summary(journal)["failed"])
    assert "cannot create" in failed[str(root / "nested/b/q.png")]
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0


def test_permission_error_on_move_keeps_the_source(tmp_path, monkeypatch):
    """Works as root too: the file system calls themselves refuse for one file."""
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    victim = str(root / "y.jpg")
    real_link, real_unlink = os.link, os.unlink

    def link(src, dst, *a, **k):
        if os.fspath(src) == victim:
            raise PermissionError(errno.EACCES, "Permission denied", victim)
        return real_link(src, dst, *a, **k)

    def unlink(path, *a, **k):
        if os.fspath(path) == victim:
            raise PermissionError(errno.EACCES, "Permission denied", victim)
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "unlink", unlink)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    monkeypatch.undo()
    inv = inventory(root)
    assert inv["y.jpg"] == inv0["y.jpg"]
    assert "undouble/y.jpg" not in inv  # the verified copy was taken back
    assert inv["nested/a/undouble/r.png"] == inv0["nested/a/r.png"]
    assert not tmp_leftovers(root)
    failed = dict(journal_summary(journal)["failed"])
    assert "PermissionError" in failed[victim]
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0


@pytest.mark.skipif(not PERMISSIONS_ENFORCED, reason="permissions are not enforced (root); "
                    "test_permission_error_on_move_keeps_the_source covers this case")
def test_read_only_folder_and_unreadable_file(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    os.chmod(root / "sub", 0o555)
    os.chmod(root / "nested/b/q.png", 0o000)
    try:
        journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
        summary = journal_summary(journal)
        problems = dict(summary["failed"] + summary["skipped"])
        assert str(root / "sub/img1.png") in problems
        assert "cannot be read" in problems[str(root / "nested/b/q.png")]
        assert (root / "sub/img1.png").exists()
        undo(journal)
    finally:
        os.chmod(root / "sub", 0o755)
        os.chmod(root / "nested/b/q.png", 0o644)
    assert inventory(root) == inv0


def test_cross_device_moves_copy_verify_then_remove(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    mtimes0 = {p: os.stat(p).st_mtime_ns for g in groups for p in g}

    def no_link(src, dst, *a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    assert inventory(root) == expected_inventory(inv0, expected)
    assert not tmp_leftovers(root)
    done = [r for r in read_journal(journal) if r["type"] == "done"]
    assert {r["how"] for r in done} == {"copy"}
    assert os.stat(root / "undouble/y.jpg").st_mtime_ns == mtimes0[str(root / "y.jpg")]
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0
    assert {p: os.stat(p).st_mtime_ns for g in groups for p in g} == mtimes0


def test_a_destination_taken_at_the_last_moment_is_never_overwritten(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0 = inventory(root)
    intruder = root / "undouble" / "y.jpg"
    real_link = os.link

    def racing_link(src, dst, *a, **k):
        if os.fspath(dst) == str(intruder) and not intruder.exists():
            intruder.write_bytes(b"somebody else's file")
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(os, "link", racing_link)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    monkeypatch.undo()
    assert intruder.read_bytes() == b"somebody else's file"
    assert _sha(root / "undouble" / "y_1.jpg") == inv0["y.jpg"]
    assert any(r["type"] == "abandon" for r in read_journal(journal))
    undo(journal)
    after = inventory(root)
    assert after.pop("undouble/y.jpg") == hashlib.sha256(b"somebody else's file").hexdigest()
    assert after == inv0


def test_undo_never_removes_a_modified_copy_or_overwrites(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    (root / "undouble/img1.png").write_bytes(b"user edited the copy")   # a copy we made
    (root / "y.jpg").write_bytes(b"a new file where y.jpg was")       # a moved file's place
    result = undo(journal)
    assert len(result["problems"]) == 2
    inv = inventory(root)
    assert (root / "undouble/img1.png").read_bytes() == b"user edited the copy"
    assert (root / "y.jpg").read_bytes() == b"a new file where y.jpg was"
    assert _sha(root / "undouble/y.jpg") == inv0["y.jpg"]
    for rel in ("sub/img1.png", "nested/a/r.png", "nested/b/q.png"):
        assert inv[rel] == inv0[rel]
    # once the conflict is resolved, undo again finishes the job
    os.unlink(root / "y.jpg")
    assert undo(journal)["restored"] == 1
    assert inventory(root)["y.jpg"] == inv0["y.jpg"]


def test_undo_main_cli(tmp_path, capsys):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    assert undo_main([str(journal)]) == 0
    assert "5 restored, 3 copies removed" in capsys.readouterr().out
    assert inventory(root) == inv0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nonsense\n")
    assert undo_main([str(bad)]) == 2


def test_ctrl_c_mid_move_then_rerun_asks_and_finishes(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0, dirs0 = inventory(root), folders(root)
    real_unlink, calls = os.unlink, [0]

    def interrupted_unlink(path, *a, **k):
        calls[0] += 1
        if calls[0] == 3:  # after the link of a move, before its source is unlinked
            raise KeyboardInterrupt
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "unlink", interrupted_unlink)
    with pytest.raises(KeyboardInterrupt):
        move_groups(groups, yes=True, file_stats=stats)
    monkeypatch.undo()
    assert_nothing_lost(inv0, inventory(root, include_tmp=True))
    asked = []
    assert move_groups(groups, file_stats=stats, input=lambda p: asked.append(p) or "n") is None
    assert asked and inventory(root, include_tmp=True) != expected_inventory(inv0, expected)
    journal = move_groups(groups, file_stats=stats, input=lambda p: "y")
    assert len(_journals(root)) == 1 and journal == _journals(root)[0]
    assert inventory(root) == expected_inventory(inv0, expected)
    assert journal_summary(journal)["complete"]
    undo(journal)
    assert inventory(root) == inv0 and folders(root) == dirs0


@pytest.mark.parametrize("later", ["source edited", "destination replaced", "source deleted"])
def test_resume_after_an_interruption_and_later_changes(tmp_path, monkeypatch, later):
    """Cut between "copy placed" and "source removed" (cross-device), then the world moves on."""
    root = tmp_path / "photos"
    groups, stats, expected = make_tree(root)
    inv0 = inventory(root)
    src, dst = root / "sub/img1.png", root / "sub/undouble/img1.png"
    real_unlink = os.unlink

    def no_link(*a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def unlink(path, *a, **k):
        if os.fspath(path) == str(src):
            raise KeyboardInterrupt
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(os, "unlink", unlink)
    journal = tmp_path / "j.jsonl"
    with pytest.raises(KeyboardInterrupt):
        move_groups(groups, yes=True, file_stats=stats, journal=journal)
    monkeypatch.undo()
    assert _sha(src) == _sha(dst) == inv0["sub/img1.png"]  # both there: nothing lost

    if later == "source edited":
        with open(src, "ab") as fh:
            fh.write(b"edited")
    elif later == "destination replaced":
        dst.write_bytes(b"not ours")
    else:
        os.unlink(src)
    before_resume = inventory(root)
    move_groups(groups, yes=True, file_stats=stats, journal=journal)
    inv = inventory(root)
    assert not tmp_leftovers(root)
    if later == "source edited":  # our copy of the old content is dropped; the edit stays
        assert inv["sub/img1.png"] == before_resume["sub/img1.png"]
        assert "sub/undouble/img1.png" not in inv
        assert "changed" in dict(journal_summary(journal)["skipped"])[str(src)]
    elif later == "destination replaced":  # somebody else's file is left alone
        assert dst.read_bytes() == b"not ours"
        assert inv["sub/undouble/img1_1.png"] == inv0["sub/img1.png"] and "sub/img1.png" not in inv
    else:  # the move is complete
        assert inv["sub/undouble/img1.png"] == inv0["sub/img1.png"]
    for rel in ("undouble/y.jpg", "nested/b/undouble/q.png", "undouble/x_1.jpg"):
        assert rel in inv
    undo(journal)
    after = inventory(root)
    if later == "source edited":
        assert after.pop("sub/img1.png") == before_resume["sub/img1.png"]
        assert after == {k: v for k, v in inv0.items() if k != "sub/img1.png"}
    elif later == "destination replaced":
        assert after.pop("sub/undouble/img1.png") == hashlib.sha256(b"not ours").hexdigest()
        assert after == inv0
    else:
        assert after == inv0


def test_journals_cut_short(tmp_path):
    """A kill can cut the journal itself: before its header, or inside its last record."""
    for content in ("", '{"type": "head'):
        cut = tmp_path / "undouble-journal-cut.jsonl"
        cut.write_text(content)
        assert undo(cut)["problems"] == [] and cut.read_text() == content
    other = tmp_path / "notes.jsonl"
    other.write_text("")
    with pytest.raises(ValueError):
        undo(other)
    # a move given a journal path that a kill cut before its header starts afresh there
    root0 = tmp_path / "photos0"
    groups0, stats0, expected0 = make_tree(root0)
    inv00 = inventory(root0)
    cut = tmp_path / "cut0.jsonl"
    cut.write_text('{"type": "header", "tool": "undo')
    assert move_groups(groups0, yes=True, file_stats=stats0, journal=cut) == cut
    assert inventory(root0) == expected_inventory(inv00, expected0)
    undo(cut)
    assert inventory(root0) == inv00
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    inv0 = inventory(root)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "j.jsonl")
    with open(journal, "ab") as fh:
        fh.write('{"type": "undo-begin", "id": 3, "rem'.encode())  # cut mid-record
    assert undo(journal)["problems"] == []
    assert inventory(root) == inv0
    assert read_journal(journal)[-1]["type"] == "undo-end"


# =========================================================================== crashes
CHILD = r"""
import errno, json, os, signal, sys
mode, kill_at, what, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
count = [0]

def counted(fn):
    def inner(*a, **k):
        result = fn(*a, **k)
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return inner

if mode == "exdev":
    def no_link(*a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    os.link = no_link
for name in ("link", "unlink", "rename", "fsync", "mkdir"):
    setattr(os, name, counted(getattr(os, name)))

import undouble.move as mv
print("ready", flush=True)
if what == "move":
    mv.move_groups(payload["groups"], yes=True, file_stats=payload["stats"],
                   journal=payload.get("journal"))
else:
    mv.undo(payload["journal"])
print("calls", count[0], flush=True)
"""


def _child(mode: str, kill_at: int, what: str, payload: dict, *, wait: bool = True):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(kill_at), what,
                             json.dumps(payload)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), err
    calls = int(out.split("calls")[1]) if "calls" in out else None
    return proc.returncode, calls


def _journals(root: Path) -> list[Path]:
    return sorted(root.rglob(mv.JOURNAL_PREFIX + "*"))


def _finish_and_undo(root, groups, stats, inv0, dirs0, expected, journal=None):
    move_groups(groups, yes=True, file_stats=stats, journal=journal)
    assert inventory(root) == expected_inventory(inv0, expected)
    assert not tmp_leftovers(root)
    for j in reversed(_journals(root) if journal is None else [journal]):
        undo(j)
    assert inventory(root) == inv0
    assert folders(root) == dirs0


def _count_calls(monkeypatch, mode: str, fn) -> int:
    """How many of the calls the child counts ``fn()`` makes, in this process."""
    count = [0]

    def counted(real):
        def inner(*a, **k):
            result = real(*a, **k)
            count[0] += 1
            return result
        return inner

    with monkeypatch.context() as m:
        if mode == "exdev":
            def no_link(*a, **k):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            m.setattr(os, "link", no_link)
        for name in ("link", "unlink", "rename", "fsync", "mkdir"):
            m.setattr(os, name, counted(getattr(os, name)))
        fn()
    return count[0]


def _kill_points(total: int, count: int) -> list[int]:
    return sorted({max(1, round(total * (i + 0.5) / count)) for i in range(count)})


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("mode", ["link", "exdev"])
def test_killed_mid_move_then_rerun_completes_and_undo_restores(tmp_path, mode, monkeypatch):
    ref = tmp_path / "ref" / "photos"
    groups, stats, expected = make_tree(ref)
    journal = str(tmp_path / "ref" / "j.jsonl") if mode == "exdev" else None
    total = _count_calls(monkeypatch, mode, lambda: move_groups(
        groups, yes=True, file_stats=stats, journal=journal))
    assert total > 20
    points = _kill_points(total, 6 if mode == "link" else 4)
    for k in points:
        base = tmp_path / f"k{k}"
        root = base / "photos"
        groups, stats, expected = make_tree(root)
        inv0, dirs0 = inventory(root), folders(root)
        journal = str(base / "j.jsonl") if mode == "exdev" else None
        rc, _ = _child(mode, k, "move", {"groups": groups, "stats": stats, "journal": journal})
        assert rc == -signal.SIGKILL, f"kill point {k} of {total} not reached"
        assert_nothing_lost(inv0, inventory(root, include_tmp=True))
        _finish_and_undo(root, groups, stats, inv0, dirs0, expected, journal)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_mid_move_then_undo_without_rerun(tmp_path, monkeypatch):
    ref = tmp_path / "ref" / "photos"
    groups, stats, _ = make_tree(ref)
    total = _count_calls(monkeypatch, "link", lambda: move_groups(groups, yes=True,
                                                                  file_stats=stats))
    for k in _kill_points(total, 3):
        root = tmp_path / f"k{k}" / "photos"
        groups, stats, _ = make_tree(root)
        inv0, dirs0 = inventory(root), folders(root)
        rc, _ = _child("link", k, "move", {"groups": groups, "stats": stats})
        assert rc == -signal.SIGKILL
        for j in reversed(_journals(root)):
            undo(j)
        assert inventory(root) == inv0
        assert folders(root) == dirs0


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("mode", ["link", "exdev"])
def test_killed_mid_undo_then_undo_again(tmp_path, mode, monkeypatch):
    ref = tmp_path / "ref" / "photos"
    groups, stats, _ = make_tree(ref)
    journal = move_groups(groups, yes=True, file_stats=stats, journal=tmp_path / "ref.jsonl")
    total = _count_calls(monkeypatch, mode, lambda: undo(journal))
    assert total > 10
    for k in _kill_points(total, 3):
        root = tmp_path / f"k{k}" / "photos"
        groups, stats, expected = make_tree(root)
        inv0, dirs0 = inventory(root), folders(root)
        journal = move_groups(groups, yes=True, file_stats=stats,
                              journal=tmp_path / f"k{k}" / "j.jsonl")
        rc, _ = _child(mode, k, "undo", {"journal": str(journal)})
        assert rc == -signal.SIGKILL
        now = inventory(root, include_tmp=True)
        assert_nothing_lost(inv0, now)
        result = undo(journal)
        assert not result["problems"]
        assert inventory(root) == inv0 and folders(root) == dirs0
        assert not tmp_leftovers(root)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_external_sigkill_on_a_large_move(tmp_path):
    """A real kill from outside, at a moment the child does not choose."""
    root = tmp_path / "photos"
    groups = []
    for i in range(60):
        d = root / f"d{i % 7}"
        a = _write(d / f"a{i}.png", _pattern(12, 12, i))
        b = _write(d / "dups" / f"a{i}.png", _pattern(6, 6, i))  # same name, other folder
        groups.append([b, a])
    stats = {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for g in groups for p in g}
    inv0, dirs0 = inventory(root), folders(root)
    proc = _child("link", 0, "move", {"groups": groups, "stats": stats}, wait=False)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert_nothing_lost(inv0, inventory(root, include_tmp=True))
    move_groups(groups, yes=True, file_stats=stats)
    inv = inventory(root)
    assert_nothing_lost(inv0, inv)
    for g in groups:
        b, a = (os.path.relpath(p, root) for p in g)
        assert inv[a] == inv0[a]
        assert inv[str(Path(a).parent / "undouble" / Path(a).name)] == inv0[a]
        assert inv[str(Path(b).parent / "undouble" / Path(b).name)] == inv0[b]
        assert b not in inv
    assert undo(root)["problems"] == []  # every journal under the folder, newest first
    assert inventory(root) == inv0 and folders(root) == dirs0
    assert not _journals(root) and not (root / "undouble").exists()


# =========================================================================== re-run after a crash (issue 19)
def full_tree(root: Path) -> dict[str, str]:
    """{relative path: sha256, or 'dir'} of everything under root, journals included."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root).replace(os.sep, "/")] = "dir"
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = _sha(full)
    return out


def rescan(groups: list[list[str]]) -> list[list[str]]:
    """What a new scan finds: the files still in their places (undouble folders are never
    scanned), groups of at least two."""
    left = [[p for p in g if os.path.exists(p)] for g in groups]
    return [g for g in left if len(g) > 1]


class _Killed(BaseException):
    """Stands for the process dying: nothing after it runs, no except clause catches it."""


def _interrupt_after(monkeypatch, n_ops: int) -> None:
    real, calls = mv.execute._transfer, [0]

    def transfer(*a, **k):
        if calls[0] == n_ops:
            raise _Killed
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(mv.execute, "_transfer", transfer)


def _no_journal(tree: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tree.items() if ".journals" not in k.split("/")}


@pytest.mark.parametrize("action", ["move", "copy"])
def test_rerun_of_a_rescanned_folder_finishes_the_interrupted_move(tmp_path, monkeypatch, action, caplog):
    """Killed after k operations, then run again on what a new scan finds (the moved
    files are gone from it): the same tree as an uninterrupted move, then undo(FOLDER)
    gives back the original tree, names and contents, with no undouble folder left."""
    ref = tmp_path / "ref" / "photos"
    groups, stats, _ = make_tree(ref)
    move_groups(groups, yes=True, file_stats=stats, action=action, root=ref)
    want = _no_journal(full_tree(ref))
    n_ops = 8
    for k in range(1, n_ops):
        root = tmp_path / f"k{k}" / "photos"
        groups, stats, _ = make_tree(root)
        tree0 = full_tree(root)
        with monkeypatch.context() as m:
            _interrupt_after(m, k)
            with pytest.raises(_Killed):
                move_groups(groups, yes=True, file_stats=stats, action=action, root=root)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="undouble"):
            journal = move_groups(rescan(groups), yes=True, file_stats=stats, action=action, root=root)
        assert "Finished the interrupted move" in caplog.text
        assert _no_journal(full_tree(root)) == want, f"after a kill at {k}"
        journals = _journals(root)
        assert journal in journals and all(journal_summary(j)["complete"] for j in journals)
        assert all(p.parent == root / "undouble" / ".journals" for p in journals)
        result = undo(root)
        assert result["problems"] == []
        assert full_tree(root) == tree0, f"after a kill at {k}"


def test_rerun_finishes_then_moves_the_new_groups(tmp_path, monkeypatch):
    """Files the interrupted journal covered are left out of the new plan; others are moved."""
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    tree0 = full_tree(root)
    extra = [_write(root / "late" / "big.png", _pattern(40, 40, 11)),
             _write(root / "late" / "small.png", _pattern(20, 20, 11))]
    stats.update({p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in extra})
    tree_with_extra = full_tree(root)
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(_Killed):
            move_groups(groups, yes=True, file_stats=stats, root=root)
    j2 = move_groups(rescan(groups) + [extra], yes=True, file_stats=stats, root=root)
    summary = journal_summary(j2)
    assert (summary["moved"], summary["copied"]) == (1, 1)  # only the new group
    assert (root / "late" / "undouble" / "small.png").exists()
    assert len(_journals(root)) == 2 and all(journal_summary(j)["complete"] for j in _journals(root))
    assert undo(root)["problems"] == []
    assert full_tree(root) == tree_with_extra
    assert {k: v for k, v in tree_with_extra.items() if not k.startswith("late")} == tree0


def test_dry_run_of_a_rerun_names_the_interrupted_move_and_changes_nothing(tmp_path, monkeypatch, capsys):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(_Killed):
            move_groups(groups, yes=True, file_stats=stats, root=root)
    capsys.readouterr()
    before = full_tree(root)
    assert move_groups(rescan(groups), dry_run=True, file_stats=stats, root=root) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == out[-1] == "dry run: nothing was changed"
    assert any(line.startswith("would first finish the interrupted move") for line in out)
    assert full_tree(root) == before


def test_rerun_after_a_real_sigkill_of_a_subprocess(tmp_path, monkeypatch):
    ref = tmp_path / "ref" / "photos"
    groups, stats, _ = make_tree(ref)
    move_groups(groups, yes=True, file_stats=stats, root=ref)
    want = _no_journal(full_tree(ref))
    total = _count_calls(monkeypatch, "link", lambda: move_groups(
        make_tree(tmp_path / "count" / "photos")[0], yes=True, root=tmp_path / "count" / "photos"))
    for k in _kill_points(total, 3):
        root = tmp_path / f"k{k}" / "photos"
        groups, stats, _ = make_tree(root)
        tree0 = full_tree(root)
        rc, _ = _child("link", k, "move", {"groups": groups, "stats": stats})
        assert rc == -signal.SIGKILL
        move_groups(rescan(groups), yes=True, file_stats=stats, root=root)
        assert _no_journal(full_tree(root)) == want, f"after a kill at {k} of {total}"
        assert undo(root)["problems"] == []
        assert full_tree(root) == tree0


def test_undo_folder_undoes_every_journal_newest_first(tmp_path):
    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    tree0 = full_tree(root)
    j1 = move_groups(groups[:1], yes=True, file_stats=stats, root=root)
    # a second move whose keeper copy lands where the first one's files now are
    j2 = move_groups(groups[1:], yes=True, file_stats=stats, root=root)
    order = []
    real = mv.restore._undo_journal

    def spy(path):
        order.append(path)
        return real(path)

    mv.restore._undo_journal = spy
    try:
        result = undo(root)
    finally:
        mv.restore._undo_journal = real
    assert order == [str(j2), str(j1)]
    assert result["problems"] == [] and result["restored"] == 5
    assert full_tree(root) == tree0
    assert undo_main([str(root)]) == 0  # again: nothing left, harmless


# =========================================================================== names that are not UTF-8
@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux only")
def test_names_that_are_not_utf8_move_journal_and_undo(tmp_path, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    bad_dir = os.path.join(os.fsencode(root), b"alb\xffum")
    os.mkdir(bad_dir)
    keeper_b = os.path.join(bad_dir, b"\xff\xfe big.png")
    other_b = os.path.join(bad_dir, b"small \xe9.png")
    Image.fromarray(_pattern(40, 40, 5)).save(os.fsdecode(keeper_b))
    Image.fromarray(_pattern(20, 20, 5)).save(os.fsdecode(other_b))
    tree0 = full_tree(root)
    groups = [[os.fsdecode(other_b), os.fsdecode(keeper_b)]]
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # strict, like a UTF-8 terminal
    real_stdout, sys.stdout = sys.stdout, out
    try:
        move_groups(groups, dry_run=True, root=root)
        out.flush()
    finally:
        sys.stdout = real_stdout
    assert b"\xff\xfe big.png" in out.buffer.getvalue()  # the name's own bytes
    journal = move_groups(groups, yes=True, root=root)
    raw = journal.read_bytes()
    raw.decode("utf-8")  # valid UTF-8 (ASCII in fact): the names are \udcXX escapes
    assert b"\\udcff\\udcfe big.png" in raw
    moved = os.path.join(bad_dir, b"undouble", b"small \xe9.png")
    assert os.path.exists(moved) and os.path.exists(os.path.join(bad_dir, b"undouble", b"\xff\xfe big.png"))
    assert not os.path.exists(other_b) and os.path.exists(keeper_b)
    assert journal_summary(journal)["moved"] == 1
    assert undo(root)["problems"] == []
    assert full_tree(root) == tree0


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_rerun_while_the_first_move_still_runs_is_refused(tmp_path, monkeypatch):
    """The journal of a move still running is locked: a second move of the same folder
    stops with a clear error before touching anything, instead of racing it."""
    import fcntl

    root = tmp_path / "photos"
    groups, stats, _ = make_tree(root)
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(_Killed):
            move_groups(groups, yes=True, file_stats=stats, root=root)
    (journal,) = _journals(root)
    before = full_tree(root)
    with open(journal, "a") as held:  # the first run, still alive
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="in use by another process"):
            move_groups(rescan(groups), yes=True, file_stats=stats, root=root)
    assert full_tree(root) == before
    move_groups(rescan(groups), yes=True, file_stats=stats, root=root)  # once it is gone
    assert undo(root)["problems"] == []
