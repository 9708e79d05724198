"""A self-contained HTML page for reviewing every group in a browser.

:func:`write_report` writes one ``.html`` file: a summary (files scanned and
skipped with reasons, groups, files that would move, method, threshold), then
each group as a row of thumbnails at their true aspect ratio, the keeper first
and marked, each image with its folder, file name, resolution, file size,
sharpness, distance and relation to the keeper, and why the keeper was chosen.

The group data is JSON inside the page; a few lines of plain JavaScript (no
framework, no network) render it 50 groups per page, filter it (text in
folder or file names, group size, distance) and sort it (group size,
distance, folder). The URL fragment holds the view, e.g.
``report.html#filter=holiday&sort=size&min=3&page=2``, so that a view can be
linked, and is what the browser test sets.

Thumbnails (about 160 pixels on the longer side, JPEG quality 80) are read
from the files with reduced decoding and EXIF rotation
(:mod:`undouble.thumbnail`), in parallel threads; they are embedded as data
URIs (``thumbnails='embed'``, one file to share) or written beside the page
into ``<name>_files/`` (``thumbnails='files'``: a smaller page for very
large reports; share the page and that folder together).
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np

from ._logging import logger
from ._report_page import PAGE_TEMPLATE

__all__ = ["read_choices", "report_data", "write_report"]

THUMB_SIDE = 160
THUMB_QUALITY = 80


def _folder_and_name(path: str) -> tuple[str, str]:
    folder, name = os.path.split(path)
    return folder, name


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 1)


def _ranks_of(model: Any, g: int, paths: Sequence[str]) -> dict[str, Any]:
    """KeeperRank per path of group ``g`` (from ``group()``; {} for array inputs)."""
    ranks = getattr(model, "_keeper_ranks", None)
    n_groups = len(model.results["select_pathnames"])
    if ranks is not None and len(ranks) == n_groups:
        return {r.path: r for r in ranks[g]}
    return {}


def _stored_sharpness(model: Any, i: int) -> float | None:
    """Sharpness of the stored (preprocessed) image of row ``i``, None when it cannot be measured."""
    from .io import load_preprocessed
    from .keeper import compute_blur

    try:
        return compute_blur(np.asarray(load_preprocessed(model, i)))
    except (ValueError, OSError):
        return None


def report_data(model: Any, thumbs: dict[int, tuple[str, int, int]] | None = None,
                thumb_errors: dict[int, str] | None = None) -> dict[str, Any]:
    """Everything the page shows, as a JSON-able dict.

    Parameters
    ----------
    model : Undouble
        A model after ``group()``.
    thumbs : dict, optional
        Row of ``results`` -> ``(source, width, height)`` of its thumbnail
        (source: a data URI or a path relative to the page).
    thumb_errors : dict, optional
        Row -> why its thumbnail could not be made.

    Returns
    -------
    dict
        ``summary`` and ``groups``: each group a dict with ``id`` (1-based,
        in ``results`` order), ``reason`` (why the keeper was kept) and
        ``items`` (keeper first): ``folder``, ``name``, ``width``, ``height``,
        ``bytes``, ``sharpness``, ``distance``, ``relation``, ``reason``,
        ``src``, ``tw``, ``th`` (thumbnail size) and ``error``.
    """
    results = model.results
    params = model.params
    stats = results.get("filestats") or {}
    blur = results.get("blur")
    relations = results.get("select_relation")
    thumb_errors = thumb_errors or {}
    groups = []
    for g, (paths, idx, scores) in enumerate(zip(results["select_pathnames"], results["select_idx"],
                                                 results["select_scores"])):
        ranks = _ranks_of(model, g, paths)
        rel = relations[g] if relations is not None and g < len(relations) and relations[g] is not None else None
        items = []
        for k, (path, i, score) in enumerate(zip(paths, idx, scores)):
            i = int(i)
            folder, name = _folder_and_name(path)
            rank = ranks.get(path)
            width, height = (int(v) for v in results["resolution"][i])
            sharp = rank.blur if rank is not None and rank.blur is not None else (
                blur[i] if blur is not None else None)
            if _finite(sharp) is None and results.get("source") != "files":
                sharp = _stored_sharpness(model, i)  # array input: of the only image there is
            src, tw, th = (thumbs or {}).get(i, (None, 0, 0))
            items.append({
                "folder": folder, "name": name, "width": width, "height": height,
                "bytes": int(stats[path][0]) if path in stats else -1,
                "sharpness": _finite(sharp), "distance": int(score),
                "relation": str(rel[k]) if rel is not None and k < len(rel) and rel[k] is not None else "",
                "reason": rank.reason if rank is not None else "",
                "src": src, "tw": tw, "th": th,
                "error": thumb_errors.get(i, ""),
            })
        groups.append({"id": g + 1, "reason": items[0]["reason"] if items else "", "items": items})
    skipped = [(str(p), str(r)) for p, r in results.get("skipped", [])]
    n_grouped = sum(len(p) for p in results["select_pathnames"])
    folders = [os.path.dirname(p) for group in results["select_pathnames"] for p in group]
    try:
        root = os.path.commonpath(folders) if folders and results.get("source") == "files" else ""
    except ValueError:  # different drives
        root = ""
    summary = {
        "root": root,
        "scanned": len(results["pathnames"]) + len(skipped),
        "imported": len(results["pathnames"]),
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
        "skipped_reasons": Counter(r for _, r in skipped).most_common(),
        "groups": len(groups),
        "grouped": n_grouped,
        "would_move": n_grouped - len(groups),
        "method": params.get("method"),
        "hash_size": params.get("hash_size"),
        "threshold": params.get("threshold"),
        "source": results.get("source", ""),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return {"summary": summary, "groups": groups}


def _make_thumbnails(model: Any, rows: list[int], mode: str, files_dir: str | None, rel_dir: str,
                     max_side: int, quality: int) -> tuple[dict[int, tuple[str, int, int]], dict[int, str]]:
    from .thumbnail import encode_jpeg, model_thumbnails

    def encode(thumb: np.ndarray) -> tuple[bytes, int, int]:
        return encode_jpeg(thumb, quality), int(thumb.shape[1]), int(thumb.shape[0])

    made = model_thumbnails(model, rows, max_side=max_side, convert=encode)
    sources: dict[int, tuple[str, int, int]] = {}
    errors: dict[int, str] = {}
    for i, got in zip(rows, made):
        if isinstance(got, Exception):
            errors[i] = f"cannot be read: {got}"
            continue
        data, w, h = got
        if mode == "embed":
            text = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        else:
            name = f"{i:06d}.jpg"
            with open(os.path.join(files_dir, name), "wb") as fh:  # type: ignore[arg-type]
                fh.write(data)
            text = f"{rel_dir}/{name}"
        sources[i] = (text, w, h)
    return sources, errors


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no HTML comment openers)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def write_report(model: Any, path: str | os.PathLike, thumbnails: str = "embed", max_side: int = THUMB_SIDE,
                 quality: int = THUMB_QUALITY, title: str | None = None) -> str:
    """Write the HTML report of a grouped model.

    Parameters
    ----------
    model : Undouble
        A model after ``group()``.
    path : str or PathLike
        The ``.html`` file to write (its folder is created). An existing file
        is replaced only when it is an undouble report (it starts with the
        report's marker); anything else is refused.
    thumbnails : {'embed', 'files'}
        'embed': JPEG data URIs inside the page (one file). 'files': JPEGs in
        ``<stem>_files/`` beside the page, referenced by relative paths.
    max_side : int, default 160
        Longer side of the thumbnails in pixels.
    quality : int, default 80
        JPEG quality of the thumbnails.
    title : str, optional
        Page title (default: ``undouble report``).

    Returns
    -------
    str
        The path written.
    """
    if thumbnails not in ("embed", "files"):
        raise ValueError(f"thumbnails must be 'embed' or 'files', got {thumbnails!r}")
    if max_side < 8:
        raise ValueError(f"max_side must be >= 8, got {max_side}")
    path = os.fspath(path)
    if os.path.exists(path):
        with open(path, "rb") as fh:
            head = fh.read(200)
        if MARKER.encode() not in head:
            raise FileExistsError(f"{path} exists and is not an undouble report: not overwritten")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    rel_dir = f"{stem}_files"
    files_dir = os.path.join(folder, rel_dir) if thumbnails == "files" else None
    if files_dir is not None:
        os.makedirs(files_dir, exist_ok=True)
    rows = sorted({int(i) for idx in model.results["select_idx"] for i in idx})
    start = time.perf_counter()
    sources, errors = _make_thumbnails(model, rows, thumbnails, files_dir, rel_dir, max_side, quality)
    made = time.perf_counter() - start
    data = report_data(model, sources, errors)
    page = (PAGE_TEMPLATE.replace("%%MARKER%%", MARKER)
            .replace("%%TITLE%%", html.escape(title or "undouble report"))
            .replace("%%DATA%%", _script_json(data)))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    logger.info("Report of %d groups (%d thumbnails in %.1f s, %d unreadable) written to %s.",
                len(data["groups"]), len(sources), made, len(errors), path)
    return path


MARKER = "<!-- undouble report -->"


def read_choices(path: str | os.PathLike, groups: Sequence[Sequence[str]]) -> list[list[str] | None]:
    """Keeper choices saved from a report page, per group of ``groups``.

    The page's "save choices" link writes ``{"undouble_choices": 1, "groups":
    [{"members": [...], "keep": [...]}, ...]}``. Groups are matched by their
    members (in any order), so the file still applies when groups are listed
    in another order.

    Parameters
    ----------
    path : str or PathLike
        The saved JSON file.
    groups : sequence of sequences of str
        The groups (``results['select_pathnames']``).

    Returns
    -------
    list
        Per group: the paths to keep (``[]`` to leave the group untouched), or
        None where the file has no choice for it: the ``keepers=`` argument of
        :func:`undouble.move.move_groups`.

    Raises
    ------
    ValueError
        When the file is not a choices file, or a kept path is not a member of its group.
    """
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("undouble_choices") != 1 or not isinstance(data.get("groups"), list):
        raise ValueError(f"{os.fspath(path)} is not a choices file saved from an undouble report")
    by_members: dict[frozenset, list[str]] = {}
    for entry in data["groups"]:
        members = [os.path.normpath(p) for p in entry.get("members", [])]
        keep = [os.path.normpath(p) for p in entry.get("keep", [])]
        if not set(keep) <= set(members):
            raise ValueError(f"{os.fspath(path)}: kept files {sorted(set(keep) - set(members))} are not in their group")
        by_members[frozenset(members)] = keep
    out: list[list[str] | None] = []
    for group in groups:
        key = frozenset(os.path.normpath(os.fspath(p)) for p in group)
        if key not in by_members:
            out.append(None)
            continue
        originals = {os.path.normpath(os.fspath(p)): os.fspath(p) for p in group}
        out.append([originals[p] for p in by_members[key]])
    return out
