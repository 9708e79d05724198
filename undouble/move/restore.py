"""Undo: putting back what moves recorded in their journals (:func:`undo`)."""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import sys
from typing import Sequence

from tqdm import tqdm

from .common import (
    JOURNAL_PREFIX, PathLike, _EmptyJournal, _Skip, _norm, _progress_disabled, _samefile,
    _say, _sha_or_none, file_checksum, logger)
from .journal import _Journal, _journal_state, find_journals, read_journal
from .execute import _Runner, _drop_tmp, _tmp_name, _transfer

def undo(journal: PathLike) -> dict:
    """Put back everything a move recorded in its journal, or every move under a folder.

    Given a folder, every journal found under it (:func:`find_journals`: the
    ``undouble/.journals`` folders, journals of earlier versions in ``undouble``
    folders, and any other ``undouble-journal-*.jsonl``) is undone, newest first.
    A journal whose every operation was put back without a problem is then removed,
    and so are the folders the moves created once they are empty (``undouble/``,
    ``undouble/.journals/``): the folder is back to what it was.  A journal that
    left something in place is kept, to run undo again later.

    Given a journal file, only that move is undone and the journal is kept.

    Moved files go back to their original paths; copies that the move made are
    removed, but only when their content still matches the journal's checksum and the
    original still holds that content; originals are never removed.  An interrupted
    move is first brought to a clean state.  Nothing is overwritten: a file whose
    original path is taken stays where it is and is reported.  Folders the move created
    are removed when empty.  Running undo again is harmless.

    Parameters
    ----------
    journal : path
        A journal written by :func:`move_groups`.

    Returns
    -------
    dict
        ``journal``, ``restored`` (files moved back), ``removed_copies``,
        ``already_undone``, ``removed_dirs``, ``problems`` (list of ``(path, reason)``);
        for a folder also ``journals`` (the per-journal dicts, in the order undone).
    """
    path = _norm(journal)
    if os.path.isdir(path):
        return _undo_folder(path)
    return _undo_journal(path)


def _undo_folder(folder: str) -> dict:
    total = {"journal": folder, "restored": 0, "removed_copies": 0, "already_undone": 0,
             "removed_dirs": 0, "problems": [], "journals": []}
    made_dirs: set[str] = set()
    for jp in find_journals(folder):  # newest first
        try:
            made_dirs.update(_journal_state(read_journal(jp)).mkdirs)
        except _EmptyJournal:
            pass
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            total["problems"].append((jp, f"cannot read the journal: {exc}"))
            continue
        one = _undo_journal(jp)
        total["journals"].append(one)
        for key in ("restored", "removed_copies", "already_undone", "removed_dirs"):
            total[key] += one[key]
        total["problems"].extend(one["problems"])
        if not one["problems"]:
            os.unlink(jp)  # ours, and everything it recorded is put back
            logger.info("Removed the journal %s: everything it recorded is back", jp)
    for d in sorted(made_dirs, key=len, reverse=True):
        try:
            os.rmdir(d)
            total["removed_dirs"] += 1
        except OSError:
            pass  # not empty (a journal kept, files of the user) or already gone
    return total


def _undo_journal(path: str) -> dict:
    summary = {"journal": path, "restored": 0, "removed_copies": 0, "already_undone": 0,
               "removed_dirs": 0, "problems": []}
    try:
        records = read_journal(path)
    except _EmptyJournal as exc:
        if os.path.basename(path).startswith(JOURNAL_PREFIX):
            logger.info("%s", exc)
            return summary
        raise
    state = _journal_state(records)
    jw = _Journal(path, create=False)
    runner = _Runner(jw, state)
    token = runner.token
    try:
        jw.write({"type": "undo-start", "time": _dt.datetime.now().astimezone().isoformat()})
        ops = {o["id"]: o for o in state.plan}
        # finish or roll back interrupted operations first
        for op_id, begin in state.begin.items():
            if state.status.get(op_id) is None and op_id in ops:
                try:
                    outcome = runner.recover(ops[op_id], begin)
                except OSError as exc:
                    summary["problems"].append((begin["src"], f"interrupted operation: {exc}"))
                    continue
                if outcome == "done":
                    state.status[op_id] = "done"
                    state.done[op_id] = {"dst": begin["dst"]}
        done_ids = [i for i in sorted(ops) if state.status.get(i) == "done"]
        for op_id in tqdm(list(reversed(done_ids)), desc="undouble undo", unit="file",
                          disable=_progress_disabled()):
            op, begin = ops[op_id], state.begin.get(op_id)
            if begin is None:
                continue
            if state.undo.get(op_id) == "undo-done":
                summary["already_undone"] += 1
                continue
            outcome = _undo_one(jw, op, begin, state.undo.get(op_id) == "undo-begin", token)
            if outcome in ("restored", "removed_copies", "already_undone"):
                summary[outcome] += 1
            else:
                summary["problems"].append((begin["dst"], outcome))
                logger.warning("Undo left %s in place: %s", begin["dst"], outcome)
        for d in sorted(set(state.mkdirs), key=len, reverse=True):
            try:
                os.rmdir(d)
                summary["removed_dirs"] += 1
            except OSError:
                pass  # not empty (e.g. it holds this journal) or already gone
        jw.write({"type": "undo-end", "summary": {k: v for k, v in summary.items()
                                                  if k != "journal"}})
    finally:
        jw.close()
    logger.info("Undo: %d restored, %d copies removed, %d already undone, %d problems",
                summary["restored"], summary["removed_copies"], summary["already_undone"],
                len(summary["problems"]))
    return summary


def _undo_one(jw: _Journal, op: dict, begin: dict, began_before: bool, token: str) -> str:
    src, dst, sha = begin["src"], begin["dst"], begin["sha256"]
    tmp = _tmp_name(src, f"{token}-undo-{op['id']}")
    src_ok, dst_ok = os.path.lexists(src), os.path.lexists(dst)
    if op["op"] == "copy":
        if not dst_ok:
            _drop_tmp(tmp, sha, src)
            jw.write({"type": "undo-done", "id": op["id"], "note": "copy already gone"})
            return "already_undone"
        if _samefile(src, dst):
            jw.write({"type": "undo-skip", "id": op["id"], "reason": "copy is the original"})
            return "the copy is the original file itself; left alone"
        if _sha_or_none(dst) != sha:
            jw.write({"type": "undo-skip", "id": op["id"], "reason": "copy was modified"})
            return "the copy was modified since; left alone"
        if not (src_ok and _sha_or_none(src) == sha):
            jw.write({"type": "undo-skip", "id": op["id"], "reason": "original missing or changed"})
            return "the original is missing or changed, so this copy is kept"
        jw.write({"type": "undo-begin", "id": op["id"], "remove": dst})
        os.unlink(dst)
        jw.write({"type": "undo-done", "id": op["id"]})
        return "removed_copies"
    # a move: bring dst back to src
    if not dst_ok:
        _drop_tmp(tmp, sha, src)
        if src_ok:
            jw.write({"type": "undo-done", "id": op["id"], "note": "already back"})
            return "already_undone"
        jw.write({"type": "undo-skip", "id": op["id"], "reason": "moved file is missing"})
        return "the moved file is missing from both places"
    if src_ok:
        if _samefile(src, dst):
            jw.write({"type": "undo-begin", "id": op["id"], "remove": dst, "reason": "second link"})
            os.unlink(dst)  # the link back was made before an interruption
            jw.write({"type": "undo-done", "id": op["id"], "note": "finished"})
            return "restored"
        if began_before and _sha_or_none(src) == _sha_or_none(dst):
            jw.write({"type": "undo-begin", "id": op["id"], "remove": dst, "reason": "copied back"})
            os.unlink(dst)  # our own copy back completed before an interruption
            _drop_tmp(tmp, sha, src)
            jw.write({"type": "undo-done", "id": op["id"], "note": "finished"})
            return "restored"
        jw.write({"type": "undo-skip", "id": op["id"], "reason": "original path is taken"})
        return f"the original path {src} is taken by another file"
    try:
        os.makedirs(os.path.dirname(src), exist_ok=True)
        cur_sha = file_checksum(dst)
        if cur_sha != sha:
            logger.warning("%s changed since it was moved; moving it back as it is", dst)
        if os.path.lexists(tmp):  # left by an interrupted undo; dst holds the content
            _drop_tmp(tmp, cur_sha, dst)
        jw.write({"type": "undo-begin", "id": op["id"], "src": dst, "dst": src, "tmp": tmp,
                  "sha256": cur_sha})
        _transfer(dst, src, tmp, keep_source=False, sha=cur_sha, src_stat=os.lstat(dst))
    except FileExistsError:
        jw.write({"type": "undo-skip", "id": op["id"], "reason": "original path is taken"})
        return f"the original path {src} is taken by another file"
    except (_Skip, OSError) as exc:
        with contextlib.suppress(OSError):
            if os.path.exists(dst):
                _drop_tmp(tmp, sha, dst)
        jw.write({"type": "undo-fail", "id": op["id"], "reason": str(exc)})
        return f"could not move it back: {exc}"
    jw.write({"type": "undo-done", "id": op["id"]})
    return "restored"


def undo_main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``undouble undo JOURNAL [JOURNAL ...]``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``undo`` (defaults to ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when everything was put back, 1 when something was left in place, 2 on a
        journal that cannot be read.
    """
    parser = argparse.ArgumentParser(prog="undouble undo",
                                     description="Put back the files a move recorded in its journal.")
    parser.add_argument("journal", nargs="+", help="journal file(s) written by a move")
    args = parser.parse_args(argv)
    rc = 0
    for j in args.journal:
        try:
            s = undo(j)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"{j}: {exc}", file=sys.stderr)
            rc = 2
            continue
        print(f"{j}: {s['restored']} restored, {s['removed_copies']} copies removed, "
              f"{s['already_undone']} already undone, {len(s['problems'])} left in place")
        for p, why in s["problems"]:
            _say(f"  {p}: {why}")
        if s["problems"]:
            rc = max(rc, 1)
    return rc
