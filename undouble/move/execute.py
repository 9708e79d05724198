"""Carrying out a plan: the journaled file operations, crash recovery, :func:`move_groups`."""
from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import errno
import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm import tqdm

from ..keeper import KeeperRank, rank_keepers
from .common import (
    DRY_RUN_BANNER, JOURNAL_PREFIX, JOURNAL_SUFFIX, JOURNAL_VERSION, KeeperChoice, PathLike,
    _CHUNK, _Skip, _free_name, _fsync_file, _norm, _progress_disabled, _samefile, _say,
    _sha_or_none, file_checksum, logger)
from .journal import (
    _Journal, _State, _common_folder, _journal_kind, _journal_state, _new_journal_path,
    _paths_of, journal_summary, read_journal, unfinished_journals)
from .plan import MovePlan, _file_check, _without, plan_moves

# =========================================================================== file ops
def _tmp_name(dst: str, token: str) -> str:
    return os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.{token}.undouble-tmp")


def _copy_to_tmp(src: str, tmp: str) -> str:
    """Copy src to a new file tmp (exclusive), fsync it, keep the times; return its SHA-256."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        try:
            while True:
                chunk = fin.read(_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                fout.write(chunk)
            _fsync_file(fout)
        except BaseException:
            fout.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    try:
        shutil.copystat(src, tmp)
    except OSError as exc:  # the data is what matters
        logger.debug("Could not copy the times of %s: %s", src, exc)
    return digest.hexdigest()


def _place(tmp: str, dst: str) -> None:
    """Give tmp the name dst without ever replacing an existing dst; tmp disappears."""
    try:
        os.link(tmp, dst)
    except FileExistsError:
        os.unlink(tmp)
        raise
    except OSError:
        # no hard links on this file system: rename if the name is free.  On Windows
        # rename refuses an existing name; on POSIX there is a tiny window here.
        if os.path.lexists(dst):
            os.unlink(tmp)
            raise FileExistsError(errno.EEXIST, "destination exists", dst) from None
        os.rename(tmp, dst)
        return
    os.unlink(tmp)


def _transfer(src: str, dst: str, tmp: str, *, keep_source: bool, sha: str,
              src_stat: os.stat_result | None) -> str:
    """Put the content of src at dst (exclusively); remove src unless keep_source.

    Returns how: ``'link'`` or ``'copy'``.  Raises FileExistsError when dst is taken,
    _Skip when the source changed underneath, OSError when the file system refuses.
    """
    if not keep_source:
        try:
            os.link(src, dst)
        except FileExistsError:
            raise
        except OSError as exc:
            logger.debug("No hard link %s -> %s (%s); copying instead", src, dst, exc)
        else:
            try:
                os.unlink(src)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(dst)  # roll the link back: the source stays as it was
                raise
            return "link"
    got = _copy_to_tmp(src, tmp)
    if got != sha:
        os.unlink(tmp)
        raise _Skip("changed while it was being copied")
    _place(tmp, dst)
    if keep_source:
        return "copy"
    if file_checksum(dst) != sha:  # verify what landed before letting go of the source
        os.unlink(dst)  # our own copy; the source is intact
        raise OSError(f"verification of the copy {dst} failed; the source {src} is kept")
    if src_stat is not None:
        now = os.lstat(src)
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (src_stat.st_size, src_stat.st_mtime_ns,
                                                           src_stat.st_ino):
            os.unlink(dst)  # our own verified copy of the old content; the source stays
            raise _Skip("changed while it was being moved")
    try:
        os.unlink(src)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(dst)  # the source cannot go away: drop our verified copy
        raise
    return "copy"


def _drop_tmp(tmp: str | None, sha: str, *homes: str) -> None:
    """Remove a leftover temporary file, but only if its content also lives elsewhere."""
    if not tmp or not os.path.lexists(tmp):
        return
    for home in homes:
        if os.path.isfile(home) and _sha_or_none(home) == sha:
            os.unlink(tmp)
            return
    if _sha_or_none(tmp) != sha:  # an incomplete copy: its source is still intact
        if any(os.path.isfile(h) for h in homes):
            os.unlink(tmp)
            return
    logger.warning("Keeping %s: it may be the only copy of its content", tmp)


# =========================================================================== run
class _Runner:
    """Executes (or resumes) the operations of one journal."""

    def __init__(self, journal: _Journal, state: _State | None):
        self.j = journal
        self.state = state
        self.token = hashlib.sha256(os.fsencode(journal.path)).hexdigest()[:12]
        self.made_dirs: set[str] = set(state.mkdirs if state else [])
        self.counts = {"moved": 0, "copied": 0, "skipped": 0, "failed": 0}
        self.problems: list[tuple[str, str]] = []

    def tmp_for(self, op_id: int, dst: str) -> str:
        return _tmp_name(dst, f"{self.token}-{op_id}")

    def ensure_dir(self, folder: str) -> None:
        if os.path.isdir(folder):
            return
        missing = []
        d = folder
        while d and not os.path.lexists(d):
            missing.append(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        for d in reversed(missing):
            if d not in self.made_dirs:
                self.j.write({"type": "mkdir", "path": d})
                self.made_dirs.add(d)
        os.makedirs(folder, exist_ok=True)

    def skip(self, op: dict, reason: str, kind: str = "skip") -> None:
        self.j.write({"type": kind, "id": op["id"], "src": op["src"], "reason": reason})
        self.counts["skipped" if kind == "skip" else "failed"] += 1
        self.problems.append((op["src"], reason))
        log = logger.warning if kind == "fail" else logger.info
        log("%s %s: %s", "Skipped" if kind == "skip" else "Could not handle", op["src"], reason)

    def run_op(self, op: dict) -> None:
        src = op["src"]
        try:
            st = _file_check(src, op.get("expect"))
            try:
                sha = file_checksum(src)
            except OSError as exc:
                raise _Skip(f"cannot be read: {exc}") from None
            st2 = _file_check(src, op.get("expect"))
            if (st2.st_size, st2.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                raise _Skip("changed while its checksum was computed")
        except _Skip as exc:
            self.skip(op, str(exc))
            return
        try:
            self.ensure_dir(os.path.dirname(op["dst"]))
        except OSError as exc:
            self.skip(op, f"cannot create {os.path.dirname(op['dst'])}: {exc}", kind="fail")
            return
        wanted = os.path.join(os.path.dirname(op["dst"]), os.path.basename(src))
        for _attempt in range(1000):
            dst = _free_name(wanted)
            tmp = self.tmp_for(op["id"], dst)
            self.j.write({"type": "begin", "id": op["id"], "op": op["op"], "role": op["role"],
                          "src": src, "dst": dst, "tmp": tmp, "size": st.st_size,
                          "mtime_ns": st.st_mtime_ns, "sha256": sha})
            try:
                how = _transfer(src, dst, tmp, keep_source=op["op"] == "copy", sha=sha, src_stat=st)
            except FileExistsError:
                self.j.write({"type": "abandon", "id": op["id"], "dst": dst,
                              "reason": "destination appeared; trying another name"})
                continue
            except _Skip as exc:
                self.skip(op, str(exc))
                return
            except OSError as exc:
                with contextlib.suppress(OSError):
                    if os.path.lexists(tmp) and os.path.exists(src):
                        os.unlink(tmp)
                self.skip(op, f"{type(exc).__name__}: {exc}", kind="fail")
                return
            self.j.write({"type": "done", "id": op["id"], "src": src, "dst": dst, "how": how})
            self.counts["moved" if op["op"] == "move" else "copied"] += 1
            logger.debug("%s %s -> %s", op["op"], src, dst)
            return
        self.skip(op, "no free destination name", kind="fail")

    def recover(self, op: dict, begin: dict) -> str:
        """Bring an operation that was interrupted to a clean state.

        Returns 'done' (a done record was written), 'redo' (nothing of it remains; run it
        again) or 'stuck' (a skip/fail record was written).
        """
        src, dst, tmp, sha = begin["src"], begin["dst"], begin.get("tmp"), begin["sha256"]
        src_ok, dst_ok = os.path.lexists(src), os.path.lexists(dst)
        if op["op"] == "move":
            if src_ok and dst_ok:
                same = _samefile(src, dst)
                dst_sha = None if same else _sha_or_none(dst)
                if same or (dst_sha == sha and _sha_or_none(src) == sha):
                    os.unlink(src)  # dst holds the content; finish the move
                    _drop_tmp(tmp, sha, dst)
                    self._recovered_done(op, begin)
                    return "done"
                if dst_sha == sha:  # our verified copy, but the source changed since
                    os.unlink(dst)
                    _drop_tmp(tmp, sha, src)
                    self.skip(op, "changed during an interrupted move")
                    return "stuck"
                _drop_tmp(tmp, sha, src)  # dst is somebody else's file
                return "redo"
            if src_ok:
                _drop_tmp(tmp, sha, src)
                return "redo"
            if dst_ok:
                _drop_tmp(tmp, sha, dst)
                self._recovered_done(op, begin)
                return "done"
            if tmp and os.path.lexists(tmp) and _sha_or_none(tmp) == sha:
                _place(tmp, dst)
                self._recovered_done(op, begin)
                return "done"
            self.skip(op, "vanished during an interrupted move", kind="fail")
            return "stuck"
        # copy
        if dst_ok and _sha_or_none(dst) == sha and not _samefile(src, dst):
            _drop_tmp(tmp, sha, dst)
            self._recovered_done(op, begin)
            return "done"
        if src_ok:
            _drop_tmp(tmp, sha, src)
            return "redo"
        if tmp and os.path.lexists(tmp) and _sha_or_none(tmp) == sha and not dst_ok:
            _place(tmp, dst)  # the source vanished; keep our copy
            self._recovered_done(op, begin)
            return "done"
        self.skip(op, "vanished during an interrupted copy", kind="fail")
        return "stuck"

    def _recovered_done(self, op: dict, begin: dict) -> None:
        self.j.write({"type": "done", "id": op["id"], "src": begin["src"], "dst": begin["dst"],
                      "how": "recovered"})
        self.counts["moved" if op["op"] == "move" else "copied"] += 1

    def run(self, ops: list[dict]) -> None:
        st = self.state
        for op in tqdm(ops, desc="undouble move", unit="file", disable=_progress_disabled()):
            if st is not None:
                status = st.status.get(op["id"])
                if status == "done":
                    self.counts["moved" if op["op"] == "move" else "copied"] += 1
                    continue
                if status in ("skip", "fail"):
                    self.counts["skipped" if status == "skip" else "failed"] += 1
                    continue
                begin = st.begin.get(op["id"])
                if begin is not None and self.recover(op, begin) != "redo":
                    continue
            self.run_op(op)


def finish_journal(journal: PathLike) -> dict:
    """Finish the operations that an interrupted move recorded in ``journal``.

    Operations caught half-way are completed or rolled back from what the files show;
    the ones never started are done now (each still checked against the size and
    time recorded when its file was hashed).  The journal then ends like that of an
    uninterrupted move.

    Parameters
    ----------
    journal : path
        An unfinished journal.

    Returns
    -------
    dict
        ``moved``, ``copied``, ``skipped``, ``failed`` counted over the whole journal.

    Raises
    ------
    RuntimeError
        When another process is working on the journal.
    """
    path = _norm(journal)
    records = read_journal(path)
    state = _journal_state(records)
    jw = _Journal(path, create=False)
    if not any(r.get("type") == "plan" for r in records):  # cut before its plan: nothing done
        try:
            jw.write({"type": "end", "summary": {"moved": 0, "copied": 0, "skipped": 0, "failed": 0,
                                                 "left_alone": 0, "problems": [],
                                                 "note": "interrupted before its plan"}})
        finally:
            jw.close()
        return {"moved": 0, "copied": 0, "skipped": 0, "failed": 0}
    _execute(jw, state, state.plan)
    s = journal_summary(path)
    return {"moved": s["moved"], "copied": s["copied"], "skipped": len(s["skipped"]),
            "failed": len(s["failed"])}


def _confirm(text: str, input_fn: Callable[[str], str] | None) -> bool:
    if input_fn is None:
        interactive = "ipykernel" in sys.modules or (
            sys.stdin is not None and hasattr(sys.stdin, "isatty") and sys.stdin.isatty())
        if not interactive:
            logger.warning("Not moving anything: there is no terminal to ask for confirmation. "
                           "Check the plan with dry_run=True, then pass yes=True.")
            return False
        input_fn = builtins.input
    _say(text)
    try:
        answer = input_fn("Continue? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def move_groups(groups: Sequence[Sequence[PathLike]], *, action: str = "move",
                dry_run: bool = False, target: PathLike | None = None, yes: bool = False,
                gui: bool = False, keepers: Sequence[KeeperChoice] | None = None,
                file_stats: Mapping[PathLike, Sequence[int]] | None = None,
                metadata: Mapping[str, Any] | None = None, journal: PathLike | None = None,
                input: Callable[[str], str] | None = None,
                ranks: Sequence[Sequence[KeeperRank] | None] | None = None,
                root: PathLike | None = None) -> Path | None:
    """Keep one image per group in place and move the others aside, journaled.

    Per group the keeper (see :func:`undouble.keeper.rank_keepers`, or ``keepers``, or
    the selection window with ``gui=True``) stays where it is and a copy of it goes into
    the ``undouble`` subfolder of its folder; every other member is moved (or copied,
    ``action='copy'``) into the ``undouble`` subfolder of its own folder.  Nothing is
    deleted or overwritten; every step is journaled and :func:`undo` reverses it.

    Crash recovery: before planning, every unfinished journal found under ``root``
    (and ``target``) -- a run that was killed, lost its power or was interrupted -- is
    finished first (and a warning says so), and the files its plan covered are left
    out of the new plan.  So running the move again after a crash ends in exactly
    the tree an uninterrupted move would have made, and ``undo(root)`` puts
    everything back.

    Parameters
    ----------
    groups : sequence of sequences of paths
        The groups of files, e.g. ``model.results['select_pathnames']``.
    action : {'move', 'copy'}, default 'move'
        What to do with the members that are not kept.
    dry_run : bool, default False
        Print the plan and return None, touching nothing.
    target : path, optional
        Put everything under this folder instead, mirroring the folders of the files
        relative to their deepest common folder (see the module notes).
    yes : bool, default False
        Do not ask.  Without it a summary is printed and ``Continue? [y/N]`` asked;
        when there is no terminal to ask on, nothing is done (a warning says so).
    gui : bool, default False
        Let a person choose the keeper(s) of each group in a matplotlib window
        (:func:`undouble.gui.select_keepers`); groups skipped there are left alone.
    keepers : sequence, optional
        Per group: None (automatic), a path, or several paths to keep; an empty
        sequence leaves that group untouched.  Ignored when ``gui=True``.
    file_stats : mapping, optional
        ``{path: (size, mtime_ns)}`` recorded when the files were hashed; a file that
        differs now is skipped (and so is the whole group when it is the keeper).
    metadata : mapping, optional
        Recorded in the journal header (e.g. method, threshold, hash_size).
    journal : path, optional
        Journal file to write (default: a new one in :func:`journal_folder` of
        ``root``).  An existing journal is never overwritten: an unfinished one is
        finished, anything else raises FileExistsError.
    input : callable, optional
        Replaces the built-in ``input`` for the confirmation (for tests and GUIs).
    ranks : sequence, optional
        Per group, a :func:`rank_keepers` result made earlier (``Undouble.group`` passes
        the ranking it ordered the group by) or None; missing ones are computed.
    root : path, optional
        The folder that was scanned: unfinished journals are looked for under it and
        the new one goes to ``ROOT/undouble/.journals/``.  Default: the deepest
        folder holding every file of ``groups``.

    Returns
    -------
    pathlib.Path or None
        The journal written (or, when only interrupted moves were finished, the last
        of those), or None when nothing was done (dry run, declined, nothing to move).

    Examples
    --------
    >>> journal = move_groups(model.results['select_pathnames'], yes=True)  # doctest: +SKIP
    >>> undo(journal)  # doctest: +SKIP
    >>> undo('/photos')  # every move under /photos, newest first  # doctest: +SKIP
    """
    groups = [list(g) for g in groups]
    root_s = _norm(root) if root is not None else _common_folder([[_norm(p) for p in g] for g in groups])
    target_s = _norm(target) if target is not None else None

    # the journal asked for: resumed when unfinished, restarted when cut before its
    # header, never overwritten otherwise
    jpath = _norm(journal) if journal is not None else None
    reuse_cut = False
    extra_journals: list[str] = []
    if jpath is not None and os.path.lexists(jpath):
        kind = _journal_kind(jpath)
        if kind == "cut":
            reuse_cut = True
        elif kind == "unfinished":
            extra_journals.append(jpath)
        elif kind == "finished":
            raise FileExistsError(f"journal {jpath} exists and is not an interrupted move; "
                                  "never overwriting it: choose another path")
        else:
            raise FileExistsError(f"{jpath} exists and is not an undouble journal; "
                                  "never overwriting it: choose another path")

    # unfinished journals of earlier runs under the folders worked on are finished first
    pending = unfinished_journals([root_s] + ([target_s] if target_s else []), extra=extra_journals)
    handled: set[str] = set()
    for jp, st in pending:
        handled |= _paths_of(st)
    if handled:
        groups, keepers, ranks = _without(handled, groups, keepers, ranks)

    if dry_run:
        print(DRY_RUN_BANNER)
        for jp, st in pending:
            left = sum(1 for o in st.plan if st.status.get(o["id"]) is None)
            _say(f"would first finish the interrupted move {jp}: {left} of {len(st.plan)} operations left")
        plan = plan_moves(groups, action=action, target=target, keepers=keepers,
                          file_stats=file_stats, ranks=ranks, root=root_s)
        _say(plan.describe())
        print(DRY_RUN_BANNER)
        return None

    recovered: list[str] = []
    if pending:
        lines = "\n".join(f"  {jp}: {sum(1 for o in st.plan if st.status.get(o['id']) is None)} of "
                          f"{len(st.plan)} operations left" for jp, st in pending)
        if not yes and not _confirm(f"Interrupted moves were found; they are finished first:\n{lines}", input):
            print("Nothing was moved.")
            return None
        for jp, _st in pending:
            summary = finish_journal(jp)
            recovered.append(jp)
            logger.warning("Finished the interrupted move %s: %d moved, %d copied, %d skipped, %d failed",
                           jp, summary["moved"], summary["copied"], summary["skipped"], summary["failed"])

    if gui:
        from ..gui import select_keepers

        ranks = [(list(ranks[gi]) if ranks is not None and gi < len(ranks) and ranks[gi] is not None
                  else rank_keepers(g)) if len(g) > 1 else None for gi, g in enumerate(groups)]
        chosen, confirmed = select_keepers(groups, ranks, return_confirmed=True)
        if not confirmed:
            logger.info("Nothing moved: the accepted groups were discarded in the selection window.")
            return Path(recovered[-1]) if recovered else None
        yes = True  # the person confirmed in the window; no second question in the terminal
        keepers = [c if c is not None else [] for c in chosen]
    plan = plan_moves(groups, action=action, target=target, keepers=keepers,
                      file_stats=file_stats, ranks=ranks, root=root_s)
    plan.metadata = dict(metadata or {})
    for path, reason in plan.skipped:
        logger.info("Leaving %s alone: %s", path, reason)

    if not plan.ops:
        if recovered:
            return Path(recovered[-1])
        logger.info("Nothing to move.")
        return None
    if jpath is not None and os.path.lexists(jpath) and not reuse_cut:
        raise FileExistsError(f"journal {jpath} now records a finished move; "
                              "never overwriting it: choose another path for the rest")
    journal_hint = jpath or os.path.join(plan.journal_dir or ".", f"{JOURNAL_PREFIX}<time>{JOURNAL_SUFFIX}")
    if not yes and not _confirm(f"{plan.summary()}\n  journal: {journal_hint}", input):
        print("Nothing was moved." if not recovered else "Nothing more was moved.")
        return Path(recovered[-1]) if recovered else None

    # create the journal (and its folder, recorded right after the header)
    folder = os.path.dirname(jpath) if jpath else plan.journal_dir
    assert folder is not None
    missing = []
    d = folder
    while d and not os.path.lexists(d):
        missing.append(d)
        if os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    os.makedirs(folder, exist_ok=True)
    path = jpath or _new_journal_path(folder)
    if reuse_cut:
        with open(path, "r+b") as fh:  # only a cut header of ours is in it
            fh.truncate(0)
    jw = _Journal(path, create=not reuse_cut)
    header = {"type": "header", "tool": "undouble", "version": JOURNAL_VERSION,
              "created": _dt.datetime.now().astimezone().isoformat(), "action": plan.action,
              "target": plan.target, "key": plan.key, "metadata": plan.metadata,
              "cwd": os.getcwd(), "root": root_s}
    jw.write(header)
    for d in reversed(missing):
        jw.write({"type": "mkdir", "path": d})
    ops = _write_plan(jw, plan)
    state = _journal_state(read_journal(path))
    return _execute(jw, state, ops)


def _write_plan(jw: _Journal, plan: MovePlan) -> list[dict]:
    ops = [o.as_record() for o in plan.ops]
    jw.write({"type": "plan", "ops": ops, "skipped": [list(s) for s in plan.skipped],
              "groups": [{"index": g.index, "members": g.members, "keepers": g.keepers,
                          "reason": g.reason} for g in plan.groups]})
    for path_, reason in plan.skipped:
        jw.write({"type": "skip", "id": None, "src": path_, "reason": reason})
    return ops


def _execute(jw: _Journal, state: _State, ops: list[dict]) -> Path:
    runner = _Runner(jw, state)
    try:
        runner.run(ops)
        summary = dict(runner.counts)
        summary["left_alone"] = len(state.plan_skipped)
        summary["problems"] = [list(p) for p in runner.problems]
        jw.write({"type": "end", "summary": summary})
    finally:
        jw.close()
    logger.info("%d moved, %d copied, %d skipped, %d failed; journal: %s", summary["moved"],
                summary["copied"], summary["skipped"], summary["failed"], jw.path)
    return Path(jw.path)
