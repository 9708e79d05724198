"""The journal: writing and reading it, where it lives, finding the unfinished ones.

See :mod:`undouble.move` for its records and its location.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from typing import Sequence

from .common import (
    JOURNAL_PREFIX, JOURNAL_SUFFIX, OUTPUT_DIRNAME, PathLike, _EmptyJournal, _free_name,
    _fsync_file, _norm, logger)

try:  # POSIX only: keeps two processes from working on one journal at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

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
