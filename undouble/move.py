"""Move the extra images of each group out of the way, journaled and undoable.

What happens to a group
-----------------------
The keeper (:func:`undouble.keeper.rank_keepers`, or the ones a person picked) stays
where it is and a copy of it is placed in the ``undouble`` subfolder of its own folder;
every other member is moved into the ``undouble`` subfolder of *its* folder.  That
folder then shows each group whole, for review.  With ``action='copy'`` the other
members are copied instead of moved, so that nothing leaves its place.

With ``target=...`` the files go under that folder instead, in a mirror of their
folders relative to the deepest folder that holds all files of the run
(``/photos/2020/a.jpg`` -> ``TARGET/2020/a.jpg`` when everything lies under
``/photos``).  Distinct source folders map to distinct target folders, so two files
can only clash with files that were already there.  When the files lie on different
drives (Windows), the drive letter becomes the first folder (``TARGET/C/...``).

Safety rules
------------
* Nothing is deleted or overwritten.  A destination that exists gets a numbered suffix
  (``name_1.jpg``, ``name_2.jpg``, ...); destinations are created exclusively (hard
  link, or ``open(..., 'xb')`` for a temporary file that is then linked into place).
* A move is ``os.link`` + ``os.unlink`` (the file exists under both names for a moment,
  never under none).  Where hard links are impossible (another drive, FAT/exFAT, ...)
  the file is copied to a temporary file, fsync'd, its checksum verified, linked or
  renamed into place, verified again, and only then is the source removed.
* Every operation is written to a JSON-lines journal and fsync'd *before* it touches a
  file, with its source, destination, size and SHA-256; a record follows when it is
  done.  If the process dies at any point, running the same move again resumes that
  journal and finishes the work, and :func:`undo` restores the original tree.
* Files that changed since they were hashed (size or modification time differ from
  ``file_stats``), vanished, are symbolic links or not regular files, lie inside an
  ``undouble`` folder already, or cannot be read or moved are skipped with a reason;
  the rest proceeds.  A group whose keeper is skipped is left untouched.

The journal
-----------
By default ``undouble-journal-<timestamp>.jsonl`` in the ``undouble`` folder of the
first group's folder (or in ``target``); an existing journal is never overwritten.
Each line is one JSON object with a ``type``: ``header`` (version, action, metadata,
plan key), ``plan`` (every planned operation), ``mkdir``, ``begin`` (operation, src,
dst, tmp, size, sha256, mtime_ns), ``done``, ``skip``, ``fail``, ``abandon`` (the
destination was taken at the last moment; a new ``begin`` follows), ``end`` (summary),
and for :func:`undo` ``undo-begin``, ``undo-done``, ``undo-skip``, ``undo-end``.
"""
from __future__ import annotations

import argparse
import builtins
import contextlib
import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

from tqdm import tqdm

from .keeper import KeeperRank, rank_keepers

try:  # POSIX only: keeps two processes from working on one journal at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("undouble")

PathLike = Union[str, "os.PathLike[str]"]
KeeperChoice = Union[None, PathLike, Sequence[PathLike]]

OUTPUT_DIRNAME = "undouble"
JOURNAL_PREFIX = "undouble-journal-"
JOURNAL_SUFFIX = ".jsonl"
JOURNAL_VERSION = 1
_CHUNK = 1 << 20
DRY_RUN_BANNER = "dry run: nothing was changed"

__all__ = ["MovePlan", "GroupPlan", "PlannedOp", "plan_moves", "move_groups", "undo",
           "undo_main", "journal_summary", "read_journal", "file_checksum", "find_journals",
           "finish_journal", "journal_folder", "unfinished_journals"]


# =========================================================================== helpers
def _norm(path: PathLike) -> str:
    return os.path.abspath(os.fspath(path))


def _say(text: str) -> None:
    """print(), but a file name that is not valid UTF-8 is written as its own bytes."""
    try:
        print(text)
    except UnicodeEncodeError:
        out = sys.stdout
        encoding = getattr(out, "encoding", None) or "utf-8"
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write((text + "\n").encode(encoding, "surrogateescape"))
            buffer.flush()
        else:
            print(text.encode(encoding, "backslashreplace").decode(encoding))


def _progress_disabled() -> bool:
    return logger.getEffectiveLevel() >= logging.WARNING


def file_checksum(path: PathLike) -> str:
    """SHA-256 of a file's contents, as hex.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _sha_or_none(path: str) -> str | None:
    try:
        return file_checksum(path)
    except OSError:
        return None


def _samefile(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _fsync_file(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _suffixed(path: str, n: int) -> str:
    if n == 0:
        return path
    head, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return os.path.join(head, f"{stem}_{n}{ext}")


def _free_name(wanted: str, reserved: set[str] | None = None) -> str:
    """The first of ``wanted``, ``stem_1.ext``, ... that exists nowhere (nor in reserved)."""
    n = 0
    while True:
        candidate = _suffixed(wanted, n)
        key = os.path.normcase(candidate)
        if not os.path.lexists(candidate) and (reserved is None or key not in reserved):
            if reserved is not None:
                reserved.add(key)
            return candidate
        n += 1


class _Skip(Exception):
    """An operation that must not (or could not) be done; the message is the reason."""


class _EmptyJournal(ValueError):
    """A journal cut before its header reached the disk: nothing was done under it."""


# =========================================================================== journal
def read_journal(path: PathLike) -> list[dict]:
    """All records of a journal, in order.

    A last line cut short by a crash is ignored; a damaged line elsewhere raises.

    Parameters
    ----------
    path : str or os.PathLike
        The journal file.

    Returns
    -------
    list of dict
    """
    records = []
    with open(path, "r", encoding="utf-8", errors="surrogateescape") as fh:
        lines = fh.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # the record being written when the process died
                logger.warning("Ignoring the incomplete last line of journal %s", path)
                continue
            raise ValueError(f"journal {path} is damaged at line {i + 1}") from None
    if not records and sum(1 for line in lines if line.strip()) <= 1:
        raise _EmptyJournal(f"journal {path} is empty: the move was interrupted before it "
                            "started, so there is nothing to undo")
    if not records or records[0].get("type") != "header":
        raise ValueError(f"{path} is not an undouble journal")
    return records


class _Journal:
    """Append-only JSON-lines writer; every record is flushed and fsync'd."""

    def __init__(self, path: str, *, create: bool):
        self.path = path
        if create:
            self._fh = open(path, "x", encoding="utf-8")
        else:
            _drop_cut_tail(path)
            self._fh = open(path, "a", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._fh.close()
                raise RuntimeError(f"journal {path} is in use by another process") from None
        if create:
            _fsync_dir(os.path.dirname(path))

    # records that announce a change are fsync'd before the change is made; outcome
    # records are only flushed (recovery reads the files themselves, so losing one to a
    # power cut is harmless) and reach the disk with the next fsync
    _SYNCED = frozenset({"header", "plan", "mkdir", "begin", "end", "undo-start", "undo-begin",
                         "undo-end"})

    def write(self, record: dict) -> None:
        # ASCII JSON: a name that is not valid UTF-8 (surrogate-escaped by Python) is
        # written as \udcXX escapes and read back as the very same str
        self._fh.write(json.dumps(record, ensure_ascii=True, default=str) + "\n")
        if record.get("type") in self._SYNCED:
            _fsync_file(self._fh)
        else:
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _drop_cut_tail(path: str) -> None:
    """Remove a last record that a crash cut short (it was never fsync'd whole, so the
    operation it announced never started), keeping the journal valid JSON lines."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())
    logger.warning("Dropped the incomplete last record of journal %s", path)


def _fsync_dir(path: str) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_journal_path(folder: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S-%f")
    return _free_name(os.path.join(folder, f"{JOURNAL_PREFIX}{stamp}{JOURNAL_SUFFIX}"))


@dataclass
class _State:
    """What a journal says about each operation."""

    header: dict
    plan: list[dict]
    plan_skipped: list
    mkdirs: list[str]
    begin: dict[int, dict]
    status: dict[int, str]          # done / skip / fail
    done: dict[int, dict]
    undo: dict[int, str]            # undo-begin / undo-done / undo-skip
    ended: bool
    undo_started: bool
    records: list[dict]


def _journal_state(records: list[dict]) -> _State:
    st = _State(header=records[0], plan=[], plan_skipped=[], mkdirs=[], begin={}, status={}, done={}, undo={},
                ended=False, undo_started=False, records=records)
    for rec in records[1:]:
        kind = rec.get("type")
        if kind == "plan":
            st.plan = rec["ops"]
            st.plan_skipped = rec.get("skipped", [])
        elif kind == "mkdir":
            st.mkdirs.append(rec["path"])
        elif kind == "begin":
            st.begin[rec["id"]] = rec
            st.status.pop(rec["id"], None)
        elif kind in ("done", "skip", "fail"):
            st.status[rec["id"]] = kind
            if kind == "done":
                st.done[rec["id"]] = rec
        elif kind == "end":
            st.ended = True
        elif kind in ("undo-begin", "undo-done", "undo-skip", "undo-fail"):
            st.undo[rec["id"]] = kind
            st.undo_started = True
        elif kind in ("undo-start", "undo-end"):
            st.undo_started = True
    return st


# =========================================================================== plan
@dataclass(frozen=True)
class PlannedOp:
    """One planned file operation.

    Attributes
    ----------
    id : int
        Position in the plan.
    group : int
        Index of the group in the ``groups`` given.
    role : str
        ``'keeper'`` (a copy of a keeper) or ``'duplicate'``.
    op : str
        ``'copy'`` or ``'move'``.
    src : str
        Absolute source path.
    dst : str
        Absolute destination; a free name when planned (it may get a suffix if the
        name is taken by the time the operation runs).
    expect : tuple of (int, int) or None
        ``(size, mtime_ns)`` recorded when the file was hashed, if known.
    """

    id: int
    group: int
    role: str
    op: str
    src: str
    dst: str
    expect: tuple[int, int] | None = None

    def as_record(self) -> dict:
        return {"id": self.id, "group": self.group, "role": self.role, "op": self.op,
                "src": self.src, "dst": self.dst,
                "expect": list(self.expect) if self.expect else None}


@dataclass
class GroupPlan:
    """The decision for one group.

    Attributes
    ----------
    index : int
        Index of the group in the ``groups`` given.
    members : list of str
        Absolute paths of the members that take part.
    keepers : list of str
        The members that stay in place (empty when the group is left untouched).
    reason : str
        Why the (first) keeper was chosen, or why the group is left untouched.
    ranks : list of KeeperRank or None
        The ranking, when it was computed.
    """

    index: int
    members: list[str]
    keepers: list[str]
    reason: str
    ranks: list[KeeperRank] | None = None


@dataclass
class MovePlan:
    """Everything :func:`move_groups` would do.

    Attributes
    ----------
    action : str
        ``'move'`` or ``'copy'``.
    target : str or None
        Absolute output folder, or None for the ``undouble`` subfolders.
    groups : list of GroupPlan
    ops : list of PlannedOp
    skipped : list of (str, str)
        ``(path, reason)`` for each file left alone while planning.
    journal_dir : str or None
        Where the journal goes by default.
    key : str
        Fingerprint of the request (action, target, groups, keepers); a journal with
        the same key that was interrupted is resumed.
    """

    action: str
    target: str | None
    groups: list[GroupPlan]
    ops: list[PlannedOp]
    skipped: list[tuple[str, str]]
    journal_dir: str | None
    key: str
    metadata: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the confirmation prompt."""
        n_copy_keep = sum(1 for o in self.ops if o.role == "keeper")
        n_dup = sum(1 for o in self.ops if o.role == "duplicate")
        verb = "moved" if self.action == "move" else "copied"
        where = f"under {self.target}" if self.target else f"into the '{OUTPUT_DIRNAME}' subfolders"
        lines = [
            f"{len({o.group for o in self.ops})} groups, {len({o.src for o in self.ops})} files:",
            f"  keepers stay in place, a copy of each goes {where}: {n_copy_keep}",
            f"  other images {verb} {where}: {n_dup}",
        ]
        if self.skipped:
            lines.append(f"  left alone: {len(self.skipped)} (reasons in the log)")
        lines.append("  nothing is deleted; every step is journaled and can be undone")
        return "\n".join(lines)

    def describe(self) -> str:
        """The full plan, one line per file operation."""
        by_group: dict[int, list[PlannedOp]] = {}
        for o in self.ops:
            by_group.setdefault(o.group, []).append(o)
        out = []
        for g in self.groups:
            head = f"group {g.index + 1}: "
            if not g.keepers or g.index not in by_group:
                out.append(head + f"left untouched ({g.reason})")
                continue
            out.append(head + f"keep {', '.join(g.keepers)} ({g.reason})")
            for o in by_group[g.index]:
                out.append(f"  {o.op:<4}  {o.src} -> {o.dst}")
        for path, reason in self.skipped:
            out.append(f"skip  {path}: {reason}")
        out.append(self.summary())
        return "\n".join(out)


def _in_output_folder(path: str) -> bool:
    return os.path.basename(os.path.dirname(path)) == OUTPUT_DIRNAME


def _dest_dirs(paths: Sequence[str], target: str | None) -> dict[str, str]:
    """Destination folder for each source folder."""
    dirs = sorted({os.path.dirname(p) for p in paths})
    if target is None:
        return {d: os.path.join(d, OUTPUT_DIRNAME) for d in dirs}
    try:
        root = os.path.commonpath(dirs) if dirs else ""
    except ValueError:  # several drives: mirror drive + path
        root = None
    out = {}
    for d in dirs:
        if root is not None:
            rel = os.path.relpath(d, root)
            out[d] = target if rel == os.curdir else os.path.join(target, rel)
        else:
            drive, rest = os.path.splitdrive(d)
            drive = drive.replace(":", "").strip("\\/").replace("\\", "_").replace("/", "_")
            out[d] = os.path.join(target, drive or "root", rest.lstrip("\\/"))
    return out


def _file_check(path: str, expect: Sequence[int] | None) -> os.stat_result:
    """lstat a source and check it is the file that was hashed; raise _Skip otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _Skip("vanished since it was hashed") from None
    except OSError as exc:
        raise _Skip(f"cannot be read: {exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise _Skip("is a symbolic link (left alone)")
    if not stat.S_ISREG(st.st_mode):
        raise _Skip("is no longer a regular file")
    if expect is not None:
        size, mtime_ns = int(expect[0]), int(expect[1])
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            raise _Skip(f"changed since it was hashed (size {size} -> {st.st_size}, "
                        f"mtime_ns {mtime_ns} -> {st.st_mtime_ns})")
    return st


def _plan_key(action: str, target: str | None, groups: list[list[str]],
              keepers: list[list[str] | None]) -> str:
    blob = json.dumps({"action": action, "target": target, "groups": groups,
                       "keepers": keepers}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _normalise_keepers(keepers: Sequence[KeeperChoice] | None, n: int) -> list[list[str] | None]:
    if keepers is None:
        return [None] * n
    keepers = list(keepers)
    if len(keepers) != n:
        raise ValueError(f"keepers has {len(keepers)} entries for {n} groups")
    out: list[list[str] | None] = []
    for k in keepers:
        if k is None:
            out.append(None)
        elif isinstance(k, (str, os.PathLike)):
            out.append([_norm(k)])
        else:
            out.append([_norm(p) for p in k])
    return out


def plan_moves(groups: Sequence[Sequence[PathLike]], *, action: str = "move",
               target: PathLike | None = None,
               keepers: Sequence[KeeperChoice] | None = None,
               file_stats: Mapping[PathLike, Sequence[int]] | None = None,
               ranks: Sequence[Sequence[KeeperRank] | None] | None = None,
               root: PathLike | None = None) -> MovePlan:
    """Decide what :func:`move_groups` would do, touching nothing.

    Parameters
    ----------
    groups : sequence of sequences of paths
        The groups, e.g. ``model.results['select_pathnames']``.
    action : {'move', 'copy'}
        Move the other members, or copy them.
    target : path, optional
        Output folder instead of the ``undouble`` subfolders (see the module notes).
    keepers : sequence, optional
        Per group: ``None`` to rank automatically, a path, or a sequence of paths
        (several keepers are allowed); an empty sequence leaves the group untouched.
    file_stats : mapping, optional
        ``{path: (size, mtime_ns)}`` recorded when the files were hashed; files that
        differ now are skipped.
    ranks : sequence, optional
        Precomputed :func:`rank_keepers` results per group (None entries are computed).
    root : path, optional
        The folder that was scanned; the journal goes to :func:`journal_folder` of it
        (default: the deepest folder holding every file of ``groups``).

    Returns
    -------
    MovePlan
    """
    if action not in ("move", "copy"):
        raise ValueError(f"action must be 'move' or 'copy', not {action!r}")
    target_s = _norm(target) if target is not None else None
    root = _norm(root) if root is not None else None
    norm_groups = [[_norm(p) for p in g] for g in groups]
    keeper_sel = _normalise_keepers(keepers, len(norm_groups))
    key = _plan_key(action, target_s, norm_groups, keeper_sel)
    stats = {_norm(k): tuple(v) for k, v in (file_stats or {}).items()}

    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    gplans: list[GroupPlan] = []
    for gi, group in enumerate(norm_groups):
        members = []
        for p in group:
            key_p = os.path.normcase(p)
            if key_p in seen:
                if p not in members:
                    skipped.append((p, f"also listed in group {gi + 1}; handled in an earlier group"))
                continue
            seen.add(key_p)
            if _in_output_folder(p):
                skipped.append((p, f"already inside an '{OUTPUT_DIRNAME}' folder"))
                continue
            members.append(p)
        choice = keeper_sel[gi]
        group_ranks = None
        if choice is not None and len(choice) == 0:
            gplans.append(GroupPlan(gi, members, [], "left untouched by choice"))
            continue
        if len(members) < 2:
            gplans.append(GroupPlan(gi, members, [], "fewer than two files; nothing to do"))
            continue
        if choice is None:
            given = ranks[gi] if ranks is not None and gi < len(ranks) else None
            present = [m for m in members if os.path.isfile(m)]  # vanished ones rank last anyway
            if given is not None:  # as ranked before, without the members left out or vanished since
                usable = set(present or members)
                given = [r for r in given if _norm(r.path) in usable] or None
            group_ranks = (list(given) if given is not None
                           else rank_keepers(present or members, all_blur=False))
            best = group_ranks[0]
            if not best.readable:
                gplans.append(GroupPlan(gi, members, [], best.reason, group_ranks))
                continue
            chosen = [_norm(best.path)]
            reason = best.reason
        else:
            bad = [k for k in choice if k not in members]
            if bad:
                raise ValueError(f"keeper(s) {bad} are not members of group {gi + 1}")
            chosen = list(dict.fromkeys(choice))
            reason = "chosen by hand"
            if ranks is not None and gi < len(ranks) and ranks[gi] is not None:
                group_ranks = list(ranks[gi])
        # a keeper that vanished or changed leaves the whole group untouched
        problem = None
        for k in chosen:
            try:
                _file_check(k, stats.get(k))
            except _Skip as exc:
                problem = f"keeper {k} {exc}"
                break
        if problem:
            skipped.extend((m, f"group left untouched: {problem}") for m in members)
            gplans.append(GroupPlan(gi, members, [], problem, group_ranks))
            continue
        gplans.append(GroupPlan(gi, members, chosen, reason, group_ranks))

    active = [g for g in gplans if g.keepers]
    dest = _dest_dirs([m for g in active for m in g.members], target_s)
    reserved: set[str] = set()
    ops: list[PlannedOp] = []
    for g in active:
        others = []
        for m in g.members:
            if m in g.keepers:
                continue
            try:
                _file_check(m, stats.get(m))
            except _Skip as exc:
                skipped.append((m, str(exc)))
                continue
            others.append(m)
        if not others:
            g.keepers, g.reason = [], "no other file left to move"
            continue
        for k in g.keepers:
            dst = _free_name(os.path.join(dest[os.path.dirname(k)], os.path.basename(k)), reserved)
            ops.append(PlannedOp(len(ops), g.index, "keeper", "copy", k, dst, stats.get(k)))
        for m in others:
            dst = _free_name(os.path.join(dest[os.path.dirname(m)], os.path.basename(m)), reserved)
            ops.append(PlannedOp(len(ops), g.index, "duplicate", action, m, dst, stats.get(m)))
    # from the request alone (not from the state of the files), so that a re-run after a
    # crash looks in the same place: see journal_folder()
    journal_dir = journal_folder(root if root is not None else _common_folder(norm_groups), target_s)
    return MovePlan(action=action, target=target_s, groups=gplans, ops=ops, skipped=skipped,
                    journal_dir=journal_dir, key=key)


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


JOURNALS_DIRNAME = ".journals"


def journal_folder(root: PathLike | None, target: PathLike | None = None) -> str | None:
    """Where the journals of a move of the folder ``root`` are written.

    ``ROOT/undouble/.journals/`` (``TARGET/.journals/`` for a move with ``target``),
    so that a re-run of the same folder, and ``undouble undo ROOT``, find them.

    Parameters
    ----------
    root : path or None
        The folder that was scanned (for a list of files: their deepest common folder).
    target : path, optional
        The ``target`` of the move.

    Returns
    -------
    str or None
        The absolute folder (None when neither is known).
    """
    if target is not None:
        return os.path.join(_norm(target), JOURNALS_DIRNAME)
    if root is None:
        return None
    root = _norm(root)
    if os.path.basename(root) == OUTPUT_DIRNAME:
        return os.path.join(root, JOURNALS_DIRNAME)
    return os.path.join(root, OUTPUT_DIRNAME, JOURNALS_DIRNAME)


def _common_folder(groups: Sequence[Sequence[str]]) -> str | None:
    dirs = sorted({os.path.dirname(p) for g in groups for p in g})
    if not dirs:
        return None
    try:
        return os.path.commonpath(dirs)
    except ValueError:  # several drives: the first file's folder
        return dirs[0]


def find_journals(folder: PathLike) -> list[str]:
    """Every undouble journal under ``folder`` (any depth), newest first.

    Parameters
    ----------
    folder : path
        The folder to search (symbolic links are not followed).

    Returns
    -------
    list of str
        Absolute paths, ordered by their header's creation time, newest first
        (journals cut before their header sort last).
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(_norm(folder)):
        dirnames.sort()
        for name in filenames:
            if name.startswith(JOURNAL_PREFIX) and name.endswith(JOURNAL_SUFFIX):
                found.append(os.path.join(dirpath, name))
    return sorted(found, key=_journal_time, reverse=True)


def _journal_time(path: str) -> tuple:
    try:
        created = read_journal(path)[0].get("created", "")
        stamp = _dt.datetime.fromisoformat(created).timestamp()
    except (OSError, ValueError, TypeError, IndexError):
        stamp = float("-inf")
    return (stamp, path)


def _journal_kind(path: str) -> str:
    """'unfinished', 'finished' (ended or undone), 'cut' (before its header) or 'other'."""
    try:
        st = _journal_state(read_journal(path))
    except _EmptyJournal:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        cut = head == b"" or (head.startswith(b'{"type": "header"') and b"\n" not in head)
        return "cut" if cut else "other"
    except (OSError, ValueError, UnicodeDecodeError):
        return "other"
    return "finished" if st.ended or st.undo_started else "unfinished"


def unfinished_journals(folders: Sequence[PathLike | None],
                        extra: Sequence[str] = ()) -> list[tuple[str, _State]]:
    """The journals under ``folders`` (and ``extra``) of moves that never ended, oldest first."""
    paths: list[str] = list(extra)
    for folder in folders:
        if folder is not None and os.path.isdir(folder):
            paths.extend(find_journals(folder))
            # a run of a folder above this one keeps its journals up there
            up = os.path.dirname(_norm(folder))
            while True:
                above = journal_folder(up)
                if above is not None and os.path.isdir(above):
                    paths.extend(find_journals(above))
                if os.path.dirname(up) == up:
                    break
                up = os.path.dirname(up)
    out, seen = [], set()
    for path in reversed(paths):  # oldest first
        if path in seen:
            continue
        seen.add(path)
        try:
            st = _journal_state(read_journal(path))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not (st.ended or st.undo_started):
            out.append((path, st))
    return sorted(out, key=lambda item: _journal_time(item[0]))


def _paths_of(st: _State) -> set[str]:
    """Every file an (unfinished) journal's plan covers: members, sources, files left alone."""
    paths = {o["src"] for o in st.plan} | {s[0] for s in st.plan_skipped}
    for rec in st.records:
        if rec.get("type") == "plan":
            for g in rec.get("groups", []):
                paths.update(g.get("members", []))
    return {os.path.normcase(p) for p in paths}


def _without(handled: set[str], groups: list[list], keepers, ranks):
    """groups (and the keepers chosen, the ranks given) without the files in ``handled``."""
    def keep(p) -> bool:
        return os.path.normcase(_norm(p)) not in handled

    new_groups = [[p for p in g if keep(p)] for g in groups]
    if keepers is not None:
        new_keepers = []
        for k in keepers:
            if k is None or isinstance(k, (str, os.PathLike)):
                new_keepers.append(k if k is None or keep(k) else [])
            else:
                left = [p for p in k if keep(p)]
                new_keepers.append(left if left or not list(k) else [])
        keepers = new_keepers
    if ranks is not None:
        ranks = [None if r is None else [x for x in r if keep(x.path)] or None for r in ranks]
    return new_groups, keepers, ranks


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
        from .gui import select_keepers

        ranks = [(list(ranks[gi]) if ranks is not None and gi < len(ranks) and ranks[gi] is not None
                  else rank_keepers(g)) if len(g) > 1 else None for gi, g in enumerate(groups)]
        chosen = select_keepers(groups, ranks)
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


# =========================================================================== undo
def journal_summary(journal: PathLike) -> dict:
    """What a journal records, counted.

    Parameters
    ----------
    journal : path
        A journal written by :func:`move_groups`.

    Returns
    -------
    dict
        ``action``, ``metadata``, ``planned``, ``moved``, ``copied``, ``skipped``
        (list of ``(path, reason)``), ``failed`` (list), ``complete`` (an ``end``
        record exists), ``undone`` (an ``undo-end`` record exists).
    """
    records = read_journal(journal)
    st = _journal_state(records)
    ops = {o["id"]: o for o in st.plan}
    out = {"journal": str(journal), "action": st.header.get("action"),
           "metadata": st.header.get("metadata", {}), "planned": len(st.plan),
           "moved": 0, "copied": 0, "skipped": [], "failed": [], "complete": st.ended,
           "undone": any(r.get("type") == "undo-end" for r in records)}
    for op_id, status in st.status.items():
        if status == "done":
            out["moved" if ops[op_id]["op"] == "move" else "copied"] += 1
    for rec in records:
        if rec.get("type") == "skip":
            out["skipped"].append((rec.get("src"), rec.get("reason")))
        elif rec.get("type") == "fail":
            out["failed"].append((rec.get("src"), rec.get("reason")))
    return out


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
