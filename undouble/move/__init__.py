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
  done.

Crash recovery
--------------
If the process dies at any point (``kill -9``, power cut, Ctrl-C), nothing is lost:
every file exists under its old name, its new name, or both.  Running the move
again (the same command, which scans the folder again) first finds the unfinished
journals under the folder it works on, finishes their operations (the ones caught
half-way from what the files show, the others as planned) and says so; the files
those journals covered are then left out of the new plan.  The result is exactly
the tree an uninterrupted move would have made.  ``undouble undo FOLDER``
(:func:`undo` of the folder) undoes every journal under it, newest first, removes
the journals it fully undid and the ``undouble`` folders it emptied: the folder is
back to what it was before the first move.
* Files that changed since they were hashed (size or modification time differ from
  ``file_stats``), vanished, are symbolic links or not regular files, lie inside an
  ``undouble`` folder already, or cannot be read or moved are skipped with a reason;
  the rest proceeds.  A group whose keeper is skipped is left untouched.

The journal
-----------
Where: ``FOLDER/undouble/.journals/undouble-journal-<timestamp>.jsonl``, FOLDER being
the folder that was scanned (``root=``; for :meth:`Undouble.move` and
:func:`move_groups` without it, the deepest folder holding every file of the
groups); with ``target=...`` in ``TARGET/.journals/``.  A re-run and
``undo FOLDER`` look for journals anywhere under FOLDER (so the ones of earlier
versions, in the ``undouble`` folder of the first group's folder, are found too)
and in the ``undouble/.journals`` folders of the folders above it.  An existing
journal is never overwritten.
Paths are written as ASCII JSON: a name that is not valid UTF-8 (Python's
surrogate escapes, ``\\udcff`` for the byte ``0xff``) is kept exactly.
Each line is one JSON object with a ``type``: ``header`` (version, action, metadata,
plan key), ``plan`` (every planned operation), ``mkdir``, ``begin`` (operation, src,
dst, tmp, size, sha256, mtime_ns), ``done``, ``skip``, ``fail``, ``abandon`` (the
destination was taken at the last moment; a new ``begin`` follows), ``end`` (summary),
and for :func:`undo` ``undo-begin``, ``undo-done``, ``undo-skip``, ``undo-end``.

Modules
-------
``common``   constants, checksums, free names;
``journal``  the journal writer and reader, its location, finding unfinished ones;
``plan``     :func:`plan_moves` and the plan classes (touches nothing);
``execute``  the file operations, crash recovery and :func:`move_groups`;
``restore``  :func:`undo` and ``undouble undo``.
"""
from __future__ import annotations

from .common import (DRY_RUN_BANNER, JOURNAL_PREFIX, JOURNAL_SUFFIX, JOURNAL_VERSION, OUTPUT_DIRNAME,
                     KeeperChoice, PathLike, file_checksum)
from .execute import finish_journal, move_groups
from .journal import (JOURNALS_DIRNAME, find_journals, journal_folder, journal_summary, read_journal,
                      unfinished_journals)
from .plan import GroupPlan, MovePlan, PlannedOp, plan_moves
from .restore import undo, undo_main

__all__ = ["MovePlan", "GroupPlan", "PlannedOp", "plan_moves", "move_groups", "undo",
           "undo_main", "journal_summary", "read_journal", "file_checksum", "find_journals",
           "finish_journal", "journal_folder", "unfinished_journals", "DRY_RUN_BANNER",
           "JOURNAL_PREFIX", "JOURNAL_SUFFIX", "JOURNAL_VERSION", "JOURNALS_DIRNAME", "OUTPUT_DIRNAME",
           "KeeperChoice", "PathLike"]
