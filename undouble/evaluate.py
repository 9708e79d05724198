"""Benchmark hash methods on a labelled corpus: pair precision, recall and F1.

``undouble evaluate FOLDER [--truth TRUTH.csv]`` and :func:`evaluate` import and
hash FOLDER once per method (and verify setting), group it at each threshold,
and compare the groups with the known ones.

**Truth.** Either a CSV file of ``file,group[,label]`` rows (a header row
``file,group,label`` is optional; ``file`` is absolute, or relative to the
CSV's folder, or to FOLDER; ``label`` names the transform that made the copy,
``original`` marks the original, empty or missing gives ``unlabelled``), or,
without a CSV, the layout of FOLDER: every subfolder is one group (with the
files in its own subfolders), and each file directly in FOLDER is a group of
its own. Images of FOLDER the truth does not name are singletons (counted as
``untracked``); truth files that were not imported (missing, unreadable,
outside FOLDER or filtered out by ``ext``) are listed in ``missing`` and their
pairs count as missed.

**Metrics.** Over unordered pairs of images: the predicted pairs are all pairs
within one predicted group (``results['select_idx']`` after ``group(threshold)``),
the true pairs all pairs within one truth group. Precision = true positives /
predicted pairs (1 when nothing is predicted), recall = true positives / true
pairs (1 when there are none), F1 their harmonic mean. Pairs are counted from
group-id arrays, never listed: a group of ``n`` holds ``n (n - 1) / 2`` pairs.

**Recall per label.** A true pair counts for the labels of its members other
than ``original`` (both labels when neither is the original, once when both
share a label); a pair of two originals counts for ``original``.

**Times.** ``import_s`` is :meth:`~undouble.Undouble.import_data` (decoding,
and the hashing of the model's method, which happens in the same stream),
``hash_s`` is :meth:`~undouble.Undouble.compute_hash` (the distance matrix),
``group_s`` one :meth:`~undouble.Undouble.group` call, all with
:func:`time.perf_counter`. No hash cache is used unless asked for, so the
times are those of a first run.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

__all__ = ["DEFAULT_THRESHOLDS", "EvaluationReport", "EvaluationRow", "PairCounts", "Truth", "evaluate",
           "load_truth", "make_model", "pair_metrics", "truth_from_csv", "truth_from_subfolders"]

DEFAULT_THRESHOLDS = (0, 2, 4, 6, 8, 10, 12, 14, 16)
UNLABELLED = "unlabelled"
ORIGINAL = "original"
FORMAT_NAME = "undouble-evaluation"
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


def _key(path: PathLike) -> str:
    """How two spellings of one file are recognised as the same."""
    return os.path.normcase(os.path.realpath(os.fspath(path)))


# --------------------------------------------------------------------------- truth
@dataclass
class Truth:
    """Known groups: ``files[k]`` (absolute, each once) is in group ``groups[k]`` and has label ``labels[k]``.

    ``source`` is the CSV file or ``'subfolders'``; ``problems`` lists the CSV
    rows that were not used, as ``(file:line, reason)``.
    """

    files: list[str]
    groups: list[str]
    labels: list[str]
    source: str
    problems: list[tuple[str, str]] = field(default_factory=list)


def _resolve(name: str, csv_dir: str, folder: str) -> str:
    """An absolute path for a CSV entry: as given, else under the CSV's folder, else under FOLDER."""
    if os.path.isabs(name):
        return os.path.abspath(name)
    candidates = [os.path.join(csv_dir, name), os.path.join(folder, name)]
    for candidate in candidates:
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return os.path.abspath(candidates[1])  # missing: reported relative to FOLDER


def truth_from_csv(path: PathLike, folder: PathLike) -> Truth:
    """Read a truth CSV of ``file,group[,label]`` rows.

    Parameters
    ----------
    path : str or PathLike
        The CSV file (UTF-8; a header row ``file,group[,label]`` is optional).
    folder : str or PathLike
        The folder evaluated: relative file names that do not exist under the
        CSV's folder are taken relative to it.

    Returns
    -------
    Truth
        Rows that cannot be used (too few columns, empty file or group, a file
        named twice: the first row wins) are left out and listed in
        ``problems``; blank rows and ``#`` comments are ignored.

    Raises
    ------
    ValueError
        When the CSV names no file at all.
    """
    path = os.fspath(path)
    csv_dir = os.path.dirname(os.path.abspath(path))
    folder = os.path.abspath(os.fspath(folder))
    files: list[str] = []
    groups: list[str] = []
    labels: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if lineno == 1 and [c.strip().lower() for c in row[:2]] == ["file", "group"]:
                continue  # the header
            where = f"{path}:{lineno}"
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                problems.append((where, f"needs 'file,group[,label]', got {','.join(row)!r}"))
                continue
            file = _resolve(row[0].strip(), csv_dir, folder)
            key = _key(file)
            if key in seen:
                problems.append((where, f"{row[0].strip()} is already in group {groups[seen[key]]!r} "
                                        f"(line kept: the first)"))
                continue
            seen[key] = len(files)
            files.append(file)
            groups.append(row[1].strip())
            label = row[2].strip() if len(row) > 2 else ""
            labels.append(label or UNLABELLED)
    if not files:
        raise ValueError(f"the truth file {path} names no files (expected rows 'file,group[,label]')")
    return Truth(files, groups, labels, source=os.path.abspath(path), problems=problems)


def truth_from_subfolders(folder: PathLike, ext: Iterable[str] | str | None = None) -> Truth:
    """Truth from the layout of ``folder``: one group per subfolder, files directly in it alone.

    Parameters
    ----------
    folder : str or PathLike
        The folder evaluated.
    ext : list of str, optional
        The image extensions (as :class:`~undouble.Undouble` takes them).

    Returns
    -------
    Truth
        Every image under ``folder``; the group of a file in a subfolder is
        that subfolder's name (whatever the depth below it), the group of a
        file directly in ``folder`` is its own name. All labels are
        ``'unlabelled'``.
    """
    from .io import list_images

    root = os.path.abspath(os.fspath(folder))
    paths, _ = list_images(root, ext)
    groups = []
    for path in paths:
        parts = os.path.relpath(path, root).split(os.sep)
        groups.append(parts[0] if len(parts) > 1 else f"./{parts[0]}")
    return Truth(list(paths), groups, [UNLABELLED] * len(paths), source="subfolders")


def load_truth(folder: PathLike, truth: PathLike | Truth | None = None,
               ext: Iterable[str] | str | None = None) -> Truth:
    """:func:`truth_from_csv` when ``truth`` is a file, :func:`truth_from_subfolders` when None."""
    if isinstance(truth, Truth):
        return truth
    if truth is None:
        return truth_from_subfolders(folder, ext)
    if not os.path.isfile(os.fspath(truth)):
        raise FileNotFoundError(f"no such truth file: {os.fspath(truth)}")
    return truth_from_csv(truth, folder)


# --------------------------------------------------------------------------- pair counting
@dataclass
class PairCounts:
    """Pair counts of one grouping against the truth.

    ``predicted_pairs``, ``true_pairs``, ``true_positives``: pairs in one predicted
    group, in one truth group, in both. ``label_pairs``/``label_found``: per
    label, the true pairs that count for it and how many of them were found.
    """

    predicted_pairs: int
    true_pairs: int
    true_positives: int
    label_pairs: dict[str, int] = field(default_factory=dict)
    label_found: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """True positives / predicted pairs (1.0 when no pair is predicted)."""
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """True positives / true pairs (1.0 when there are none)."""
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def label_recall(self) -> dict[str, float]:
        """Recall per label (1.0 for a label without pairs)."""
        return {lab: (self.label_found[lab] / n if n else 1.0) for lab, n in self.label_pairs.items()}


def _pairs(counts: np.ndarray) -> int:
    counts = np.asarray(counts, dtype=np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _pairs_touching(total: np.ndarray, with_label: np.ndarray) -> int:
    """Pairs per cell with at least one member among ``with_label``: C(n,2) - C(n-k,2), summed."""
    return _pairs(total) - _pairs(np.asarray(total) - np.asarray(with_label))


def pair_metrics(predicted: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray,
                 labels: Sequence[str] | None = None) -> PairCounts:
    """Count predicted, true and correctly predicted pairs from group ids.

    Parameters
    ----------
    predicted : sequence of int
        Predicted group id of each image (an image alone gets an id of its own).
    truth : sequence of int
        Truth group id of each image, aligned with ``predicted``.
    labels : sequence of str, optional
        Label of each image, for the recall per label (see the module
        docstring; ``'original'`` marks originals).

    Returns
    -------
    PairCounts

    Notes
    -----
    Linear in the number of images plus a sort: the pairs are counted per
    group and per (predicted, truth) cell, never listed.
    """
    pred = np.asarray(predicted, dtype=np.int64).ravel()
    true = np.asarray(truth, dtype=np.int64).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"predicted and truth must be aligned, got {pred.size} and {true.size} ids")
    if pred.size == 0:
        return PairCounts(0, 0, 0, {}, {})
    _, pred_sizes = np.unique(pred, return_counts=True)
    _, true_inv, true_sizes = np.unique(true, return_inverse=True, return_counts=True)
    true_inv = true_inv.ravel()
    _, cell_inv, cell_sizes = np.unique(np.stack([pred, true], axis=1), axis=0, return_inverse=True,
                                        return_counts=True)
    cell_inv = cell_inv.ravel()
    counts = PairCounts(_pairs(pred_sizes), _pairs(true_sizes), _pairs(cell_sizes))
    if labels is None:
        return counts
    labels = [str(v) for v in labels]
    if len(labels) != pred.size:
        raise ValueError(f"labels must be aligned with the ids, got {len(labels)} for {pred.size} images")
    names, label_ids = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    label_ids = label_ids.ravel()
    for k, name in enumerate(names.tolist()):
        mine = label_ids == k
        in_truth = np.bincount(true_inv[mine], minlength=true_sizes.size)
        in_cell = np.bincount(cell_inv[mine], minlength=cell_sizes.size)
        if name == ORIGINAL:  # a pair of two originals
            n_true, n_found = _pairs(in_truth), _pairs(in_cell)
        else:
            n_true, n_found = _pairs_touching(true_sizes, in_truth), _pairs_touching(cell_sizes, in_cell)
        if n_true:
            counts.label_pairs[name] = n_true
            counts.label_found[name] = n_found
    return counts


# --------------------------------------------------------------------------- report
@dataclass
class EvaluationRow:
    """One (method, verify setting, threshold) of an evaluation."""

    method: str
    threshold: int
    verify: Any
    robust: Any
    hash_size: int
    n_images: int
    predicted_pairs: int
    true_pairs: int
    true_positives: int
    precision: float
    recall: float
    f1: float
    n_groups: int
    largest_group: int
    label_pairs: dict[str, int]
    label_found: dict[str, int]
    label_recall: dict[str, float]
    import_s: float
    hash_s: float
    group_s: float
    keeper_groups: int = 0
    keeper_originals: int = 0


def keeper_counts(select: Sequence[Sequence[int]], truth: np.ndarray, labels: Sequence[str]) -> tuple[int, int]:
    """``(groups, kept)``: predicted groups holding a file labelled ``original`` of the keeper's truth group,
    and how many of them keep it (or a copy labelled ``exact copy``, the same bytes).

    ``select``: each group's rows, keeper first; ``truth``, ``labels``: per row.
    Rows labelled otherwise are edited or derived copies, which a user would not
    want kept over the original.
    """
    groups = kept = 0
    for members in select:
        members = [int(m) for m in members]
        keeper = members[0]
        if any(labels[m] == "original" and truth[m] == truth[keeper] for m in members):
            groups += 1
            kept += labels[keeper] in ("original", "exact copy")
    return groups, kept


def _verify_text(value: Any) -> str:
    return "default" if value is None else "on" if value is True else "off" if value is False else str(value)


def _setting(row: EvaluationRow) -> tuple:
    """What one model of the run was: rows that share it share an import and a hashing."""
    return row.method, row.hash_size, repr(row.verify), repr(row.robust)


def _name(row: EvaluationRow) -> str:
    return row.method + ("" if row.hash_size == 8 else f"/{row.hash_size}") + ("+robust" if row.robust else "")


@dataclass
class EvaluationReport:
    """What :func:`evaluate` measured: one :class:`EvaluationRow` per method, verify setting and threshold.

    ``folder`` was evaluated against ``truth_source`` (the CSV or ``'subfolders'``),
    which names ``n_truth_files`` files in ``n_truth_groups`` groups (singletons
    included). ``untracked``: imported images the truth does not name (each a
    group of one). ``missing``: ``(path, reason)`` of the truth files that were not
    imported; their pairs count as missed. ``truth_problems``: CSV rows not used.
    """

    folder: str
    truth_source: str
    rows: list[EvaluationRow]
    n_truth_files: int
    n_truth_groups: int
    untracked: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    truth_problems: list[tuple[str, str]] = field(default_factory=list)

    # ---------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``format: 'undouble-evaluation'``)."""
        from . import __version__

        return {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "undouble": __version__,
            "folder": self.folder, "truth_source": self.truth_source,
            "n_truth_files": self.n_truth_files, "n_truth_groups": self.n_truth_groups,
            "untracked": list(self.untracked),
            "missing": [{"path": p, "reason": r} for p, r in self.missing],
            "truth_problems": [{"where": p, "reason": r} for p, r in self.truth_problems],
            "rows": [dataclasses.asdict(row) for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvaluationReport":
        """The report :meth:`to_dict` (or the parsed :meth:`to_json`) describes."""
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"not an undouble evaluation (format {data.get('format')!r})")
        return cls(folder=data["folder"], truth_source=data["truth_source"],
                   rows=[EvaluationRow(**row) for row in data["rows"]],
                   n_truth_files=int(data["n_truth_files"]), n_truth_groups=int(data["n_truth_groups"]),
                   untracked=list(data.get("untracked", [])),
                   missing=[(m["path"], m["reason"]) for m in data.get("missing", [])],
                   truth_problems=[(m["where"], m["reason"]) for m in data.get("truth_problems", [])])

    def to_json(self, path: PathLike | None = None) -> str:
        """The report as indented JSON; also written to ``path`` when given (replaced if it exists)."""
        from .export import write_json

        buf = io.StringIO()
        write_json(self.to_dict(), buf)
        text = buf.getvalue()
        if path is not None:
            _write_text(path, text)
        return text

    def save(self, path: PathLike, format: str | None = None) -> str:
        """Write JSON (``format='json'`` or a ``.json`` name) or the :meth:`table` text to ``path``; return it."""
        fmt = format or ("json" if os.fspath(path).lower().endswith(".json") else "text")
        if fmt not in ("json", "text"):
            raise ValueError(f"format must be 'json' or 'text', got {format!r}")
        return _write_text(path, self.to_json() if fmt == "json" else self.table())

    # ---------------------------------------------------------------- text
    def best_rows(self) -> list[EvaluationRow]:
        """The row of highest F1 (then lowest threshold) of each (method, verify, robust) setting."""
        best: dict[tuple, EvaluationRow] = {}
        for row in self.rows:
            key = _setting(row)
            if key not in best or (row.f1, -row.threshold) > (best[key].f1, -best[key].threshold):
                best[key] = row
        return list(best.values())

    def table(self) -> str:
        """The report as text: one line per row, recall per label of the best rows, stage times."""
        out = io.StringIO()
        head = (f"{'method':<14} {'thr':>4} {'verify':>7} {'pairs':>10} {'TP':>10} {'precision':>9} "
                f"{'recall':>7} {'F1':>6} {'groups':>7} {'largest':>7}")
        print(head, file=out)
        print("-" * len(head), file=out)
        for r in self.rows:
            print(f"{_name(r):<14} {r.threshold:>4} {_verify_text(r.verify):>7} {r.predicted_pairs:>10} "
                  f"{r.true_positives:>10} {r.precision:>9.4f} {r.recall:>7.4f} {r.f1:>6.4f} {r.n_groups:>7} "
                  f"{r.largest_group:>7}", file=out)
        true_pairs = self.rows[0].true_pairs if self.rows else 0
        print(f"\n{self.n_truth_files} files in {self.n_truth_groups} truth groups ({true_pairs} true pairs); "
              f"{len(self.untracked)} images not in the truth (singletons); "
              f"{len(self.missing)} truth files not imported (counted as missed).", file=out)
        for path, why in self.missing[:10]:
            print(f"  missing: {path}: {why}", file=out)
        if len(self.missing) > 10:
            print(f"  ... and {len(self.missing) - 10} more", file=out)
        for row in self.best_rows():
            if not row.label_pairs:
                continue
            print(f"\nRecall per label, {_name(row)} threshold {row.threshold} verify {_verify_text(row.verify)} "
                  f"(best F1):", file=out)
            width = max(len(lab) for lab in row.label_pairs)
            for lab in sorted(row.label_pairs):
                print(f"  {lab:<{width}} {row.label_found[lab]:>8} / {row.label_pairs[lab]:<8} "
                      f"{row.label_recall[lab]:.4f}", file=out)
            if row.keeper_groups:
                print(f"  keeper is the original (or its exact copy) in {row.keeper_originals} of the "
                      f"{row.keeper_groups} groups that hold it", file=out)
        print("\nTimes (s):", file=out)
        by_setting: dict[tuple, list[EvaluationRow]] = {}
        for row in self.rows:
            by_setting.setdefault(_setting(row), []).append(row)
        for rows in by_setting.values():
            row, group_s = rows[0], sum(r.group_s for r in rows) / len(rows)
            print(f"  {_name(row):<14} verify {_verify_text(row.verify):<7} import {row.import_s:8.3f}  "
                  f"hash {row.hash_s:8.3f}  group {group_s:8.3f} (mean of {len(rows)})", file=out)
        return out.getvalue()

    # ---------------------------------------------------------------- plot
    def plot_pr(self, path: PathLike) -> str:
        """Save a precision-recall PNG (one curve per method and verify setting, points labelled by threshold).

        Draws on matplotlib's Agg canvas directly: no display, no pyplot state. Returns the path written.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        curves: dict[tuple, list[EvaluationRow]] = {}
        for row in self.rows:
            curves.setdefault(_setting(row), []).append(row)
        several_verify = len({key[2] for key in curves}) > 1
        for index, rows in enumerate(curves.values()):
            rows = sorted(rows, key=lambda r: r.threshold)
            name = _name(rows[0]) + (f", verify {_verify_text(rows[0].verify)}" if several_verify else "")
            (line,) = ax.plot([r.recall for r in rows], [r.precision for r in rows], marker="o", label=name)
            for first, last in _runs_of_equal_points(rows):  # "4-12" where thresholds give one point
                text = str(first.threshold) if first is last else f"{first.threshold}-{last.threshold}"
                ax.annotate(text, (first.recall, first.precision), textcoords="offset points",
                            xytext=(4, 4 - 10 * index), fontsize=8, color=line.get_color())
        ax.set(xlabel="pair recall", ylabel="pair precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.05))
        ax.grid(True, alpha=0.3)
        ax.set_title(f"Precision-recall over thresholds: {os.path.basename(self.folder.rstrip(os.sep))}")
        if curves:
            ax.legend(loc="lower left")
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
        return path


def _runs_of_equal_points(rows: Sequence[EvaluationRow]) -> list[tuple[EvaluationRow, EvaluationRow]]:
    """(first, last) of each run of consecutive rows with the same recall and precision."""
    runs: list[tuple[EvaluationRow, EvaluationRow]] = []
    for row in rows:
        if runs and (runs[-1][1].recall, runs[-1][1].precision) == (row.recall, row.precision):
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _write_text(path: PathLike, text: str) -> str:
    """Write ``text`` to ``path`` through a temporary file (the file is replaced in one step)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


# --------------------------------------------------------------------------- the run
def make_model(method: str, hash_size: int = 8, verify: Any = None, robust: Any = None,
               n_jobs: int | None = None, ext: Iterable[str] | str | None = None, verbose: int | str = 20,
               **options: Any):
    """The :class:`~undouble.Undouble` an evaluation runs (the one place models are made here).

    ``verify`` and ``robust`` are passed only when they are not None, so that
    None means the model's own default.

    Raises
    ------
    ValueError
        When ``verify``/``robust`` is given but ``Undouble`` has no such parameter.
    """
    from .model import Undouble

    import inspect

    kwargs: dict[str, Any] = dict(options)
    named = inspect.signature(Undouble).parameters
    for name, value in (("verify", verify), ("robust", robust)):
        if value is None:
            continue
        if name not in named:  # it would land in **hash_options and fail at hashing time
            raise ValueError(f"this version of Undouble has no {name!r} parameter: leave {name} at None")
        kwargs[name] = value
    return Undouble(method=method, hash_size=hash_size, n_jobs=n_jobs, ext=ext, verbose=verbose, **kwargs)


def _verify_settings(verify: Any) -> list[Any]:
    if isinstance(verify, str):
        if verify.lower() != "both":
            raise ValueError(f"verify must be True, False, None or 'both', got {verify!r}")
        return [True, False]
    return [verify]


def _thresholds(thresholds: Iterable[int] | int) -> list[int]:
    values = [thresholds] if isinstance(thresholds, (int, np.integer)) else list(thresholds)
    out = []
    for t in values:
        if int(t) != t or int(t) < 0:
            raise ValueError(f"thresholds must be integers >= 0, got {t!r}")
        if int(t) not in out:
            out.append(int(t))
    if not out:
        raise ValueError("give at least one threshold")
    return sorted(out)


def evaluate(folder: PathLike, truth: PathLike | Truth | None = None, methods: Sequence[str] | str = ("phash",),
             thresholds: Iterable[int] | int = DEFAULT_THRESHOLDS, verify: Any = None, robust: Any = None,
             hash_size: int = 8, n_jobs: int | None = None, ext: Iterable[str] | str | None = None,
             verbose: int | str = 20, model_options: Mapping[str, Any] | None = None) -> EvaluationReport:
    """Measure pair precision, recall and F1 of hash methods on a labelled folder.

    Parameters
    ----------
    folder : str or PathLike
        The labelled images (searched recursively, as ``import_data`` does).
    truth : str, PathLike or Truth, optional
        A CSV of ``file,group[,label]`` rows; default: one group per subfolder
        of ``folder`` (see the module docstring).
    methods : str or sequence of str, default ('phash',)
        Hash methods to compare; each gets its own import and hashing.
    thresholds : int or iterable of int
        Thresholds to group at (default 0, 2, ..., 16).
    verify : bool, 'both' or None, default None
        Passed to ``Undouble`` when not None (None: the model's default).
        ``'both'`` runs every method with ``verify=True`` and ``verify=False``.
    robust : bool, optional
        Passed to ``Undouble`` when not None.
    hash_size : int, default 8
    n_jobs : int, optional
        Decoding threads (default: all cores).
    ext : list of str, optional
        Image extensions to import (default: common image types).
    verbose : int or str, default 20
        Logging level of the models.
    model_options : mapping, optional
        Further ``Undouble`` arguments (``dim``, ``grayscale``, ``cache``, ...).

    Returns
    -------
    EvaluationReport
        One row per method, verify setting and threshold, in that order.

    Examples
    --------
    >>> from undouble.evaluate import evaluate
    >>> report = evaluate('corpus/', truth='corpus/truth.csv', methods=['phash', 'dhash'])  # doctest: +SKIP
    >>> print(report.table())  # doctest: +SKIP
    >>> report.plot_pr('pr.png')  # doctest: +SKIP
    """
    from ._logging import logger

    root = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no such folder: {os.fspath(folder)}")
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not methods:
        raise ValueError("give at least one method")
    threshold_list = _thresholds(thresholds)
    settings = _verify_settings(verify)
    known = load_truth(root, truth, ext)
    for where, why in known.problems:
        logger.warning("truth %s: %s", where, why)

    group_names = {name: k for k, name in enumerate(dict.fromkeys(known.groups))}
    truth_index = {_key(p): k for k, p in enumerate(known.files)}
    truth_gid = np.asarray([group_names[g] for g in known.groups], dtype=np.int64)

    rows: list[EvaluationRow] = []
    untracked: list[str] = []
    missing: dict[str, str] = {}
    options = dict(model_options or {})
    for method in methods:
        for setting in settings:
            model = make_model(method, hash_size=hash_size, verify=setting, robust=robust, n_jobs=n_jobs, ext=ext,
                               verbose=verbose, **options)
            start = time.perf_counter()
            model.import_data(root)
            import_s = time.perf_counter() - start
            start = time.perf_counter()
            model.compute_hash()
            hash_s = time.perf_counter() - start
            paths = list(model.results["pathnames"])
            all_truth, all_labels, untracked_now, absent = _align(paths, known, truth_index, truth_gid)
            skipped = {_key(p): str(r) for p, r in model.results.get("skipped", [])}
            for k in absent:
                path = known.files[k]
                missing.setdefault(path, skipped.get(_key(path)) or _why_not_imported(path, root))
            if not untracked:
                untracked = untracked_now
            effective_verify = model.params.get("verify", setting)
            effective_robust = model.params.get("robust", robust)
            n_items = all_truth.size
            for threshold in threshold_list:
                start = time.perf_counter()
                model.group(threshold=threshold)
                group_s = time.perf_counter() - start
                select = model.results["select_idx"]
                pred = np.arange(n_items, dtype=np.int64) + n_items  # everyone alone ...
                for g, members in enumerate(select):
                    pred[np.asarray(members, dtype=np.int64)] = g  # ... but the grouped
                counts = pair_metrics(pred, all_truth, all_labels)
                keeper_groups, keeper_originals = keeper_counts(select, all_truth, all_labels)
                sizes = [len(m) for m in select]
                rows.append(EvaluationRow(
                    method=model.params["method"], threshold=threshold, verify=effective_verify,
                    robust=effective_robust, hash_size=int(model.params["hash_size"]), n_images=len(paths),
                    predicted_pairs=counts.predicted_pairs, true_pairs=counts.true_pairs,
                    true_positives=counts.true_positives, precision=counts.precision, recall=counts.recall,
                    f1=counts.f1, n_groups=len(select), largest_group=max(sizes, default=1 if paths else 0),
                    label_pairs=dict(counts.label_pairs), label_found=dict(counts.label_found),
                    label_recall=counts.label_recall(), import_s=import_s, hash_s=hash_s, group_s=group_s,
                    keeper_groups=keeper_groups, keeper_originals=keeper_originals))
                logger.info("%s threshold %d verify %s: precision %.4f recall %.4f F1 %.4f",
                            model.params["method"], threshold, _verify_text(effective_verify), counts.precision,
                            counts.recall, counts.f1)
            del model
    return EvaluationReport(folder=root, truth_source=known.source, rows=rows, n_truth_files=len(known.files),
                            n_truth_groups=len(group_names), untracked=untracked,
                            missing=sorted(missing.items()), truth_problems=list(known.problems))


def _align(paths: Sequence[str], known: Truth, truth_index: Mapping[str, int], truth_gid: np.ndarray
           ) -> tuple[np.ndarray, list[str], list[str], list[int]]:
    """Truth group ids and labels of the imported images, then of the truth files not imported.

    Returns the ids, the labels, the imported paths the truth does not name
    (each given a group of its own) and the positions in ``known`` of the
    truth files that were not imported.
    """
    item_truth = np.empty(len(paths), dtype=np.int64)
    labels: list[str] = []
    untracked: list[str] = []
    imported = np.zeros(len(known.files), dtype=bool)
    next_gid = int(truth_gid.max()) + 1 if truth_gid.size else 0
    for i, path in enumerate(paths):
        k = truth_index.get(_key(path))
        if k is None:
            item_truth[i], next_gid = next_gid, next_gid + 1
            labels.append(UNLABELLED)
            untracked.append(path)
        else:
            item_truth[i] = truth_gid[k]
            imported[k] = True
            labels.append(known.labels[k])
    absent = np.flatnonzero(~imported)
    return (np.concatenate([item_truth, truth_gid[absent]]), labels + [known.labels[k] for k in absent],
            untracked, absent.tolist())


def _why_not_imported(path: str, root: str) -> str:
    if not os.path.exists(path):
        return "no such file"
    try:
        inside = os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)
    except ValueError:  # other drive
        inside = False
    if not inside:
        return "not in the folder evaluated"
    return "not imported (extension filtered out, or in an 'undouble' output folder)"
