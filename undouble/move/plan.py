"""Planning a move: which file stays, which goes where (touching nothing)."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..keeper import KeeperRank, rank_keepers
from .common import KeeperChoice, OUTPUT_DIRNAME, PathLike, _Skip, _free_name, _norm
from .journal import _common_folder, journal_folder

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
