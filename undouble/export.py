"""Groups as JSON or CSV: what ``undouble scan --json/--csv`` prints and ``Undouble.export`` writes.

JSON (one object)::

    {
      "format": "undouble-groups", "format_version": 1, "undouble": "0.1.0",
      "method": "phash", "hash_size": 8, "threshold": 10,
      "n_images": 250, "n_groups": 2, "n_duplicates": 3,
      "groups": [["/p/keep.jpg", "/p/copy.jpg"], ["/p/b.png", "/p/b_small.png", "/p/b2.png"]],
      "distances": [[0, 2], [0, 4, 6]],
      "damaged": [[false, true], [false, false, false]],
      "warnings": {"/p/copy.jpg": ["Corrupt JPEG data: premature end of data segment"]},
      "verify": true,
      "relations": [["keeper", "resized"], ["keeper", "identical", "cropped (81% of the keeper's area)"]],
      "similarities": [[1.0, 0.962], [1.0, 1.0, 0.874]],
      "skipped": [{"path": "/p/broken.jpg", "reason": "truncated image: ..."}]
    }

``groups[k]`` lists the files of group ``k`` with the **keeper first**;
``distances[k]`` are their Hamming distances to the keeper and ``damaged[k]``
whether the decoder found each file damaged (aligned); ``warnings`` holds what
the decoders said about any imported file (``results['warnings']``).  With
verification (the default), ``relations[k]`` says how each file relates to the
keeper (``'keeper'``, ``'identical'``, ``'same pixels'``, ``'resized'``,
``'re-encoded'``, ``'edited'``, ``"cropped (NN% of the keeper's area)"``) and
``similarities[k]`` gives the verification similarity (0..1, 1.0 for the
keeper); with ``verify`` false both are ``null``.

CSV: one row per file of a group, columns ``group, rank, keeper, distance, path,
filename, damaged, warnings, relation, similarity`` (``group`` counts from 1,
``rank`` 0 is the keeper, ``keeper`` and ``damaged`` are ``1``/``0``,
``warnings`` the decoder's messages joined by `` | ``; ``relation`` and
``similarity`` are empty without verification).  Skipped files are not listed
in the CSV.

File names that are not valid UTF-8
-----------------------------------
On Linux a file name is any bytes; Python gives the bytes that are not UTF-8 as
lone surrogates ``\\udc80``-``\\udcff`` (``os.fsdecode``).  The JSON stays valid
UTF-8: each such character is written as the JSON escape ``\\udcXX``.  Any JSON
parser reads it back; in Python ``os.fsencode(json.loads(text)["groups"][0][0])``
gives the file's name as bytes again (``\\udcff`` -> byte ``0xff``), so the path
opens the very same file.  The CSV holds such a name's original bytes as they are
(the CSV is then not valid UTF-8 in that field, like the name itself).
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
from typing import IO, Any, Mapping, Union

__all__ = ["CSV_COLUMNS", "FORMATS", "export_groups", "groups_as_dict", "json_text", "write_csv",
           "write_groups_file", "write_json"]

FORMAT_NAME = "undouble-groups"
FORMAT_VERSION = 1
CSV_COLUMNS = ("group", "rank", "keeper", "distance", "path", "filename", "damaged", "warnings", "relation",
               "similarity")
FORMATS = ("json", "csv")

PathLike = Union[str, "os.PathLike[str]"]


def groups_as_dict(model: Any) -> dict[str, Any]:
    """The groups of a grouped model as a JSON-ready dict (keeper first in every group).

    Parameters
    ----------
    model : Undouble
        A model after :meth:`~undouble.Undouble.group`.

    Returns
    -------
    dict
        See the module docstring for the layout.

    Raises
    ------
    RuntimeError
        When the model has not been grouped.
    """
    from . import __version__

    results = model.results
    if "select_pathnames" not in results:
        raise RuntimeError("run group() first")
    groups = [[str(p) for p in paths] for paths in results["select_pathnames"]]
    distances = [[int(d) for d in scores] for scores in results["select_scores"]]
    row_damaged = results.get("damaged")
    hurt = set() if row_damaged is None else {str(p) for p, bad in zip(results["pathnames"], row_damaged) if bad}
    damaged = [[p in hurt for p in paths] for paths in groups]
    notes = {str(p): [str(m) for m in msgs] for p, msgs in (results.get("warnings") or {}).items()}
    relations = results.get("select_relation")
    similarities = results.get("select_similarity")
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "undouble": __version__,
        "method": model.params["method"],
        "hash_size": int(model.params["hash_size"]),
        "threshold": model.params["threshold"],
        "n_images": len(results["pathnames"]),
        "n_groups": len(groups),
        "n_duplicates": sum(len(g) - 1 for g in groups),
        "groups": groups,
        "distances": distances,
        "damaged": damaged,
        "warnings": notes,
        "verify": relations is not None,
        "relations": None if relations is None else [[str(r) for r in rel] for rel in relations],
        "similarities": None if similarities is None else [[round(float(s), 4) for s in sim]
                                                           for sim in similarities],
        "skipped": [{"path": str(p), "reason": str(r)} for p, r in results.get("skipped", [])],
    }


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text that is valid UTF-8 whatever the file names hold.

    Characters are written as they are, except lone surrogates (the bytes of a file
    name that are not UTF-8, see the module notes), which become ``\\udcXX`` escapes.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json(data: Mapping[str, Any], fh: IO[str]) -> None:
    """Write :func:`groups_as_dict` output as indented JSON (ends with a newline)."""
    fh.write(json_text(data))
    fh.write("\n")


def write_csv(data: Mapping[str, Any], fh: IO[str]) -> None:
    """Write :func:`groups_as_dict` output as CSV, one row per grouped file."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    notes = data.get("warnings") or {}
    relations = data.get("relations") or [None] * len(data["groups"])
    similarities = data.get("similarities") or [None] * len(data["groups"])
    for g, (paths, dists, rels, sims) in enumerate(zip(data["groups"], data["distances"], relations,
                                                        similarities), 1):
        bad = data["damaged"][g - 1] if "damaged" in data else [False] * len(paths)
        for rank, (path, dist, hurt) in enumerate(zip(paths, dists, bad)):
            relation = "" if rels is None else rels[rank]
            similarity = "" if sims is None else f"{sims[rank]:.4f}"
            writer.writerow([g, rank, 1 if rank == 0 else 0, dist, path, os.path.basename(path), int(hurt),
                             " | ".join(notes.get(path, ())), relation, similarity])


def _format_of(path: PathLike, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
    else:
        fmt = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"cannot tell the export format of {os.fspath(path)!r}: "
                         f"use a .json or .csv file name, or format='json' / 'csv'")
    return fmt


def dumps(model: Any, format: str = "json") -> str:
    """The groups of ``model`` as a JSON or CSV string."""
    fmt = _format_of("", format)
    buf = io.StringIO()
    (write_json if fmt == "json" else write_csv)(groups_as_dict(model), buf)
    return buf.getvalue()


def export_groups(model: Any, path: PathLike, format: str | None = None) -> str:
    """Write the groups of ``model`` to a JSON or CSV file.

    Parameters
    ----------
    model : Undouble
        A model after :meth:`~undouble.Undouble.group`.
    path : str or PathLike
        File to write (replaced if it exists).
    format : {'json', 'csv'}, optional
        Default: from the extension of ``path``.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        When the format is neither given nor clear from the extension.
    FileNotFoundError
        When the folder of ``path`` does not exist (it is never created).
    """
    return write_groups_file(groups_as_dict(model), path, format=format)


def write_groups_file(data: Mapping[str, Any], path: PathLike, format: str | None = None) -> str:
    """Write :func:`groups_as_dict` output to a JSON or CSV file (atomically replaced).

    Parameters
    ----------
    data : mapping
        :func:`groups_as_dict` output.
    path : str or PathLike
        File to write (replaced if it exists).
    format : {'json', 'csv'}, optional
        Default: from the extension of ``path``.

    Returns
    -------
    str
        The path written.
    """
    fmt = _format_of(path, format)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path}: no such folder {folder} "
                                "(it is not created)", folder)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            (write_json if fmt == "json" else write_csv)(data, fh)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
