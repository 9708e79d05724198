"""The ``undouble`` command.

::

    undouble scan FOLDER [--json | --csv] [-o FILE]   groups of duplicates, keeper first
    undouble move FOLDER [--dry-run] [--yes] [--copy] move the extras into undouble/ folders
    undouble undo FOLDER|JOURNAL...                   put back what the moves did
    undouble plot FOLDER --out DIR                    one PNG per group
    undouble report FOLDER -o report.html             an HTML page to review every group
    undouble hash FILES... [--method M]               ImageHash-compatible hex hashes
    undouble example                                  the whole job on the built-in example set
    undouble cache [--prune | --clear] [--cache PATH] the hash cache: size, stale rows, emptying
    undouble evaluate FOLDER [--truth CSV]            pair precision/recall of methods and thresholds
    undouble warmup [--method M ...]                  compile the Numba kernels ahead (first run only)

Results go to stdout; logs, progress bars and questions to stderr.  Exit codes:
0 done, 1 the run failed (or, for ``hash`` and ``undo``, some file failed),
2 bad command line (unknown option, missing folder or file, bad value),
130 interrupted.

Hashes are kept in a cache (``hashes.sqlite3`` in the user cache folder, see
:mod:`undouble.cache`) so that a second run on unchanged files does not decode
them again; ``--no-cache`` turns it off and ``--cache PATH`` picks another file.
The same database remembers the result of ``scan`` (:mod:`undouble.scanmemo`): a
second scan of an unchanged folder with the same options prints it again without
loading the decoders or the kernels.

Only what a command needs is imported: parsing the command line loads no hash
module, OpenCV or Numba (method names are checked against :data:`METHOD_ALIASES`).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from . import __version__

DEFAULT_EXAMPLE_THRESHOLD = 10
METHOD_NAMES = ("ahash", "dhash", "dhash_vertical", "phash", "phash_simple", "whash-haar", "whash-db4",
                "colorhash", "crop-resistant")
"""The hash methods (the keys of :data:`undouble.hashes.METHODS`; listed here so that
``--help`` does not load the Numba kernels)."""
METHOD_ALIASES = {
    "average_hash": "ahash", "ahash": "ahash", "phash": "phash", "dhash": "dhash", "whash": "whash-haar",
    "whash_haar": "whash-haar", "whash-haar": "whash-haar", "whash_db4": "whash-db4", "whash-db4": "whash-db4",
    "colorhash": "colorhash", "color_hash": "colorhash", "crop-resistant": "crop-resistant",
    "crop_resistant": "crop-resistant", "crop_resistant_hash": "crop-resistant", "phash_simple": "phash_simple",
    "phash-simple": "phash_simple", "dhash_vertical": "dhash_vertical", "dhash-vertical": "dhash_vertical",
}
"""Accepted names -> canonical name, as :func:`undouble.hashes.canonical_method` reads them
(``tests/test_cli.py`` checks that the two agree)."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# --------------------------------------------------------------------------- argument types
def _method(text: str) -> str:
    name = METHOD_ALIASES.get(str(text).strip().lower())
    if name is None:
        raise argparse.ArgumentTypeError(f"unknown method {text!r}; choose one of {', '.join(METHOD_NAMES)}")
    return name


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


MAX_HASH_SIZE = {"ahash": 64, "dhash": 64, "dhash_vertical": 64, "phash": 64, "phash_simple": 64,
                 "whash-haar": 64, "whash-db4": 64, "colorhash": 64, "crop-resistant": 32}
"""Largest ``--hash-size`` per method: far beyond any useful hash (``N*N`` bits), small
enough that a typing slip fails at once instead of after the whole scan."""
COLORHASH_BITS = 42
"""Bits of a colour hash (14 bins x 3 bits; its hash size is not used)."""


def hash_bits(method: str, hash_size: int) -> int:
    """Bits per hash (per segment for crop-resistant) of ``method`` at ``hash_size``.

    Parameters
    ----------
    method : str
        A canonical method name (one of :data:`METHOD_NAMES`).
    hash_size : int
        The hash size.

    Returns
    -------
    int
        ``42`` for colorhash, ``hash_size ** 2`` otherwise.
    """
    return COLORHASH_BITS if method == "colorhash" else int(hash_size) ** 2


def _check_combination(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The checks that need several options at once; parser.error (exit 2) on failure."""
    method, hash_size = getattr(args, "method", None), getattr(args, "hash_size", None)
    if method is None or hash_size is None:
        return
    top = MAX_HASH_SIZE.get(method, 64)
    if hash_size > top:
        parser.error(f"argument --hash-size: at most {top} for {method}, got {hash_size}")
    if method.startswith("whash") and hash_size & (hash_size - 1):
        parser.error(f"argument --hash-size: {method} needs a power of 2, got {hash_size}")
    threshold = getattr(args, "threshold", None)
    nbits = hash_bits(method, hash_size)
    if threshold is not None and threshold >= nbits:
        parser.error(f"argument --threshold: must be below the {nbits} bits of a {method} hash "
                     f"(hash size {hash_size}), got {threshold}")


def _output_file(text: str) -> str:
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"no such folder for the output file: {folder!r} "
                                         "(it is not created)")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    return text


def _folder(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    return text


def _file_or_folder(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file or folder: {text!r}")
    return text


def _folder_or_url(text: str) -> str:
    import re

    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text):
        return text  # an fsspec URL (s3://bucket/prefix, memory://..., file://...): listed when scanned
    return _folder(text)


def _storage_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` (VALUE as JSON when it parses, else the string; ``a.b=v`` nests)."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def _storage_options(pairs: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in pairs or ():
        *parents, leaf = key.split(".")
        where = options
        for part in parents:
            where = where.setdefault(part, {})
        where[leaf] = value
    return options


def _file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return text


# --------------------------------------------------------------------------- the parser
def _verbosity_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="only warnings and errors on stderr, no progress bars")
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="debug messages on stderr")
    return parent


def _add_hashing(parser: argparse.ArgumentParser, threshold: int | None = 0) -> None:
    group = parser.add_argument_group("hashing")
    group.add_argument("--method", type=_method, default="phash", metavar="METHOD",
                       help=f"hash method: {', '.join(METHOD_NAMES)} (default: phash)")
    group.add_argument("--hash-size", type=_int_at_least(2), default=8, metavar="N",
                       help="hash size; most methods give N*N bits (default: 8)")
    if threshold is not None:
        group.add_argument("--threshold", type=_int_at_least(0), default=threshold, metavar="T",
                           help=f"group images whose hashes differ by at most T bits (default: {threshold})")
    group.add_argument("--grayscale", action="store_true", help="convert images to grey before hashing")
    if threshold is not None:
        group.add_argument("--robust", action="store_true",
                           help="also find rotated, mirrored, flipped, cropped, letterboxed and pasted copies "
                                "(every such match verified on the pixels; the containing image is kept)")
    group.add_argument("--ext", action="append", metavar="EXT",
                       help="only files with this extension (repeatable; default: common image types)")
    group.add_argument("--jobs", type=_int_at_least(1), default=None, metavar="J",
                       help="decoding threads (default: all cores)")
    group.add_argument("--no-verify", dest="verify", action="store_false",
                       help="group on hashes alone: skip the pixel check of each candidate pair "
                            "(faster, but distinct photos with close hashes get grouped)")
    cache = group.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", default=None, type=_cache_path,
                       help="hash cache file (default: hashes.sqlite3 in the user cache folder)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the hash cache")


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster and object storage (needs the 'dask' extra)")
    group.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="decode and hash on a Dask cluster: a scheduler address (tcp://host:8786) or "
                            "local:N for N local worker processes (the hash cache is not used then)")
    group.add_argument("--storage-option", action="append", type=_storage_option, metavar="KEY=VALUE",
                       help="fsspec option for URLs (repeatable; VALUE as JSON when it parses, a.b=v nests), "
                            "e.g. endpoint_url=http://127.0.0.1:9000")
    group.add_argument("--results", metavar="DIR",
                       help="keep per-file results as Parquet in DIR (folder or URL): a re-run of a URL or "
                            "--dask scan hashes only new or changed files")


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    fmt = group.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the groups as JSON: {'groups': [[keeper, other, ...], ...], "
                          "'distances': [[0, d, ...], ...], ...}")
    fmt.add_argument("--csv", action="store_true",
                     help="print the groups as CSV: group,rank,keeper,distance,path,filename,relation,similarity")
    group.add_argument("-o", "--output", metavar="FILE", type=_output_file,
                       help="write the groups to FILE (.json or .csv) instead of printing them")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``undouble`` command."""
    verbosity = _verbosity_parent()
    parser = argparse.ArgumentParser(
        prog="undouble", parents=[verbosity],
        description="Find duplicate and near-duplicate images by perceptual hash, group them, "
                    "and move the extras out of the way safely (journaled, undoable).",
        epilog="Run 'undouble COMMAND --help' for the options of a command. Exit codes: 0 done, "
               "1 failed, 2 bad command line.")
    parser.add_argument("--version", action="version", version=f"undouble {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    scan = sub.add_parser("scan", parents=[verbosity], help="find groups of duplicate images in a folder",
                          description="Find groups of duplicate and near-duplicate images in FOLDER "
                                      "(recursive; 'undouble' output folders are skipped) and print them, "
                                      "the keeper of each group first.")
    scan.add_argument("folder", type=_folder_or_url, help="folder or URL (s3://bucket/prefix, ...) to scan")
    _add_hashing(scan)
    _add_cluster(scan)
    _add_output(scan)

    move = sub.add_parser("move", parents=[verbosity], help="move the extra images of each group aside",
                          description="Scan FOLDER, then per group keep the best image in place (highest "
                                      "resolution, then sharpest, then largest file), put a copy of it and "
                                      "every other member into the 'undouble' subfolder of their folders. "
                                      "Nothing is deleted or overwritten; every step is journaled and "
                                      "'undouble undo FOLDER' puts everything back. A move that was "
                                      "interrupted is finished by running it again.")
    move.add_argument("folder", type=_folder_or_url, help="folder to clean up (URLs are refused: exit 2)")
    _add_hashing(move)
    _add_cluster(move)
    action = move.add_argument_group("moving")
    action.add_argument("-n", "--dry-run", action="store_true", help="print the plan, touch nothing")
    action.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    action.add_argument("--copy", action="store_true", help="copy the extras instead of moving them")
    action.add_argument("--target", metavar="DIR",
                        help="put the files under DIR (mirroring their folders) instead of 'undouble' subfolders")
    action.add_argument("--journal", metavar="FILE", help="journal file to write (default: in the undouble folder)")

    undo = sub.add_parser("undo", parents=[verbosity], help="put back what a move did",
                          description="Put back every file moved or copied by the move that wrote JOURNAL, "
                                      "or by every move journaled under FOLDER (newest first; their journals "
                                      "and the emptied 'undouble' folders are then removed). "
                                      "Nothing is overwritten; running it twice is harmless.")
    undo.add_argument("journal", nargs="+", type=_file_or_folder, metavar="JOURNAL_OR_FOLDER",
                      help="journal file written by 'undouble move', or a folder: every move "
                           "journaled under it is undone, newest first")

    plot = sub.add_parser("plot", parents=[verbosity], help="save one figure per group as PNG",
                          description="Scan FOLDER and save one PNG per group into DIR: the images in a grid, "
                                      "titled with distance to the keeper, sharpness and resolution.")
    plot.add_argument("folder", type=_folder_or_url, help="folder or URL to scan")
    plot.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files (created)")
    plot.add_argument("--max-groups", type=_int_at_least(0), default=None, metavar="N",
                      help="plot only the first N groups")
    _add_hashing(plot)
    _add_cluster(plot)

    report = sub.add_parser("report", parents=[verbosity], help="write an HTML page to review the groups",
                            description="Scan FOLDER and write one self-contained HTML page: every group as a "
                                        "row of thumbnails, keeper first, with folder, file name, resolution, "
                                        "file size, sharpness, distance to the keeper and why it is kept; "
                                        "filter, sort and pages in the browser, no network needed.")
    report.add_argument("folder", type=_folder, help="folder to scan")
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="the .html file to write")
    report.add_argument("--thumbnail-files", action="store_true",
                        help="write the thumbnails into FILE's '<name>_files' folder instead of into the page")
    _add_hashing(report)

    hash_cmd = sub.add_parser("hash", parents=[verbosity], help="print the hashes of image files",
                              description="Print '<hex>  <path>' for each file: the hash of the whole image "
                                          "as ImageHash computes it on the decoded file (RGB, EXIF-rotated).")
    hash_cmd.add_argument("files", nargs="+", help="image files")
    hash_cmd.add_argument("--method", type=_method, default="phash", metavar="METHOD",
                          help=f"hash method: {', '.join(METHOD_NAMES)} (default: phash)")
    hash_cmd.add_argument("--hash-size", type=_int_at_least(2), default=8, metavar="N",
                          help="hash size (default: 8)")
    hash_cmd.add_argument("--json", action="store_true", help="print a JSON list of {path, hash}")

    example = sub.add_parser("example", parents=[verbosity], help="run the whole job on the built-in example set",
                             description="Generate (once, into the cache folder) the built-in example set of "
                                         "photo-like images with planted near-duplicates, hash, group and "
                                         "print the groups.")
    _add_hashing(example, threshold=DEFAULT_EXAMPLE_THRESHOLD)
    _add_output(example)

    cache_cmd = sub.add_parser("cache", parents=[verbosity], help="show, prune or empty the hash cache",
                               description="Print the hash cache's path and number of rows. --prune removes "
                                           "the rows of files that are gone or changed since they were hashed "
                                           "(files on a drive that is not mounted count as gone); --clear "
                                           "removes every row. Image files are never touched.")
    cache_cmd.add_argument("--cache", metavar="PATH", default=None, type=_cache_path,
                           help="hash cache file (default: hashes.sqlite3 in the user cache folder)")
    action = cache_cmd.add_mutually_exclusive_group()
    action.add_argument("--prune", action="store_true", help="remove the rows that can never be used again")
    action.add_argument("--clear", action="store_true", help="remove every row")
    _add_evaluate(sub, verbosity)

    warm = sub.add_parser("warmup", parents=[verbosity], help="compile the Numba kernels ahead",
                          description="Compile (or load from Numba's cache) every kernel a scan with these "
                                      "methods uses, so that the first real run does not wait for it. "
                                      "Useful when building images and in CI.")
    warm.add_argument("--method", type=_method, nargs="+", default=["phash"], metavar="METHOD",
                      help=f"hash methods: {', '.join(METHOD_NAMES)} (default: phash)")
    warm.add_argument("--grayscale", action="store_true", help="the kernels of --grayscale runs")
    warm.add_argument("--force", action="store_true", help="warm up even when a marker says it was done")
    return parser


def _cache_path(value: str) -> str:
    """``--cache PATH``: refused (exit 2) when an existing file there is not an undouble hash cache."""
    from .cache_file import NotACacheError, check_cache_file  # light: sqlite3 only, no NumPy

    try:
        check_cache_file(value)
    except NotACacheError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _verbosity(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return 30
    if getattr(args, "verbose", False):
        return 10
    return 20


# --------------------------------------------------------------------------- commands
def _model(args: argparse.Namespace):
    from .model import Undouble

    cache: Any = False if args.no_cache else (args.cache or True)
    cluster = {}
    if getattr(args, "dask", None) or getattr(args, "storage_option", None) or getattr(args, "results", None):
        cluster = {"scheduler": args.dask, "storage_options": _storage_options(args.storage_option),
                   "results": args.results}
        cache = False if args.dask else cache
    return Undouble(method=args.method, hash_size=args.hash_size, grayscale=args.grayscale,
                    threshold=getattr(args, "threshold", 0), verbose=_verbosity(args), n_jobs=args.jobs,
                    ext=args.ext, cache=cache, verify=getattr(args, "verify", True),
                    robust=bool(getattr(args, "robust", False)), **cluster)


def _scan(target: Any, args: argparse.Namespace):
    model = _model(args)
    model.import_data(target)
    model.compute_hash()
    model.group(threshold=args.threshold)
    return model


def _print_text(data: dict) -> None:
    relations = data.get("relations") or [None] * len(data["groups"])
    for k, (files, dists, rels) in enumerate(zip(data["groups"], data["distances"], relations), 1):
        print(f"Group {k} ({len(files)} images, keeper first):")
        for rank, (path, dist) in enumerate(zip(files, dists)):
            how = "" if rels is None or rank == 0 else f"  ({rels[rank]})"
            print(f"  {'keep ' if rank == 0 else f'd={dist:<3d}'}  {path}{how}")
    checked = "verified" if data.get("verify") else "hash only"
    print(f"{data['n_groups']} groups, {data['n_duplicates']} duplicates among {data['n_images']} images "
          f"({data['method']}, threshold {data['threshold']}, {checked}).")


def _report_groups(model: Any, args: argparse.Namespace) -> int:
    from . import export

    if args.output:
        path = model.export(args.output, format="csv" if args.csv else "json" if args.json else None)
        print(path)
        return EXIT_OK
    data = export.groups_as_dict(model)
    if args.json:
        export.write_json(data, sys.stdout)
    elif args.csv:
        export.write_csv(data, sys.stdout)
    else:
        _print_text(data)
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    model = _scan(args.folder, args)
    memo = getattr(args, "_memo", None)
    if memo is not None and model.results.get("source") == "files":
        from . import export

        memo.store(export.groups_as_dict(model))
    return _report_groups(model, args)


def _memo_database(args: argparse.Namespace) -> str:
    from .paths import default_cache_path

    return os.fspath(args.cache) if args.cache else os.fspath(default_cache_path())


def _scan_from_memo(args: argparse.Namespace) -> int | None:
    """``undouble scan`` answered from the memo of an unchanged folder (None: run the scan).

    Imports nothing heavy (no NumPy, OpenCV, Numba or tqdm): a hit takes a few
    tenths of a second, the interpreter's start included.
    """
    if (args.no_cache or getattr(args, "dask", None) or getattr(args, "results", None)
            or not os.path.isdir(args.folder)):  # local folders only: a URL's listing is not ours to stat
        return None
    try:
        from .scanmemo import ScanMemo

        memo = ScanMemo.for_folder(_memo_database(args), args.folder, vars(args))
        data = memo.lookup()
    except Exception:  # the memo must never stop a scan: run it
        return None
    args._memo = memo
    if data is None:
        return None
    from . import export

    try:
        if args.output:
            print(export.write_groups_file(data, args.output, format="csv" if args.csv else "json" if args.json
                                           else None))
        elif args.json:
            export.write_json(data, sys.stdout)
        elif args.csv:
            export.write_csv(data, sys.stdout)
        else:
            _print_text(data)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return EXIT_FAILED
    except (OSError, ValueError) as exc:
        print(f"[undouble] >ERROR> {exc}", file=sys.stderr)
        return EXIT_FAILED
    if _verbosity(args) <= 20:
        print(f"[undouble] >INFO> {args.folder} is unchanged since the last scan with these options: "
              f"result from the cache {memo.database} (--no-cache to scan again).", file=sys.stderr)
    return EXIT_OK


def _cmd_warmup(args: argparse.Namespace) -> int:
    import time

    from .warmup import ensure_compiled

    for method in dict.fromkeys(args.method):
        start = time.perf_counter()
        warmed = ensure_compiled(method, grayscale=args.grayscale, force=args.force)
        took = time.perf_counter() - start
        print(f"{method}: {'compiled' if warmed else 'ready'} ({took:.1f} s)")
    return EXIT_OK


def _cmd_example(args: argparse.Namespace) -> int:
    from .examples import import_example

    return _report_groups(_scan(import_example("synthetic"), args), args)


def _cmd_move(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.folder):  # the parser let it through: a URL
        print(f"undouble move: error: {args.folder} is a URL: moving objects in storage (copy + delete) is not "
              "atomic and is not supported; use 'undouble scan URL --json' to list the groups", file=sys.stderr)
        return EXIT_USAGE
    if not (args.yes or args.dry_run or _interactive()):
        print("undouble move: error: no terminal to ask for confirmation: check the plan with --dry-run, "
              "then run again with --yes", file=sys.stderr)
        return EXIT_USAGE
    model = _scan(args.folder, args)
    if not model.results["select_pathnames"]:
        print("No duplicates found: nothing to move.")
        return EXIT_OK
    journal = model.move(action="copy" if args.copy else "move", dry_run=args.dry_run, yes=args.yes,
                         target=args.target, journal=args.journal, root=args.folder)
    if journal is None:
        return EXIT_OK
    from .move import find_journals, journal_summary

    print(f"Journal: {journal}")
    # undo of the folder undoes every journal under it (this one, the interrupted
    # ones this run finished, earlier moves); a journal elsewhere is named as well
    where = [os.fspath(args.folder)]
    if args.target:
        where.append(os.fspath(args.target))
    found = {os.path.abspath(j) for w in where for j in find_journals(w)}
    if os.path.abspath(os.fspath(journal)) not in found:
        where.append(os.fspath(journal))
    print(f"To put everything back: undouble undo {' '.join(_quote(w) for w in where)}")
    failed = journal_summary(journal)["failed"]
    if failed:
        print(f"undouble move: {len(failed)} operation(s) failed; the files stayed where they were:",
              file=sys.stderr)
        for path, why in failed:
            print(f"  {path}: {why}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _interactive() -> bool:
    return sys.stdin is not None and hasattr(sys.stdin, "isatty") and sys.stdin.isatty()


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def _cmd_undo(args: argparse.Namespace) -> int:
    from ._logging import logger
    from .move import undo

    status = EXIT_OK
    for journal in args.journal:
        try:
            summary = undo(journal)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            logger.error("%s: cannot undo: %s", journal, exc)
            status = EXIT_FAILED
            continue
        if "journals" in summary:  # a folder: every journal under it
            print(f"{journal}: {len(summary['journals'])} journal(s) undone, newest first")
        print(f"{journal}: {summary['restored']} restored, {summary['removed_copies']} copies removed, "
              f"{summary['already_undone']} already undone, {len(summary['problems'])} left in place")
        for path, why in summary["problems"]:
            print(f"  {path}: {why}")
        if summary["problems"]:
            status = EXIT_FAILED
    return status


def _cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    from .plot import group_figure_name

    model = _scan(args.folder, args)
    figures = model.plot(savedir=args.out, max_groups=args.max_groups, show=False)
    for k in range(1, len(figures) + 1):
        print(os.path.join(args.out, group_figure_name(k)))
    if not figures:
        from ._logging import logger

        logger.info("No duplicates found: nothing to plot.")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    model = _scan(args.folder, args)
    print(model.report(args.output, thumbnails="files" if args.thumbnail_files else "embed"))
    return EXIT_OK


def _cmd_hash(args: argparse.Namespace) -> int:
    import json

    from ._logging import logger
    from .hashes import hash_image
    from .io import ImageReadError, read_image

    status = EXIT_OK
    out = []
    for path in args.files:
        try:
            value = hash_image(read_image(path).pixels, args.method, args.hash_size)
        except (ImageReadError, ValueError, TypeError) as exc:
            logger.error("%s: %s", path, exc)
            status = EXIT_FAILED
            continue
        if args.json:
            out.append({"path": path, "method": args.method, "hash": value})
        else:
            print(f"{value}  {path}")
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status


def _log_to_current_stderr(logger: Any) -> None:
    """Point undouble's log handler at the current ``sys.stderr`` (it may have been made for another)."""
    import logging

    for handler in logger.handlers:
        if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
            handler.acquire()
            try:  # not setStream(): it flushes the old stream, which may be closed
                handler.stream = sys.stderr
            finally:
                handler.release()


def _names_as_bytes_on_stdout() -> None:
    """Print a file name that is not valid UTF-8 as its own bytes instead of failing
    (JSON output escapes them instead, see :mod:`undouble.export`)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="surrogateescape")
        except (ValueError, OSError):  # pragma: no cover - a stream that cannot
            pass


def _cmd_cache(args: argparse.Namespace) -> int:
    from .cache import HashCache, default_cache_path

    path = args.cache or default_cache_path()
    if not os.path.exists(path):
        print(f"{path}: no hash cache yet")
        return EXIT_OK
    with HashCache(path) as cache:
        if not cache.enabled:
            raise OSError(f"the hash cache {path} cannot be opened")
        before = cache.count()
        if args.prune:
            removed = cache.prune()
            print(f"{path}: removed {removed} stale rows, {cache.count()} left")
        elif args.clear:
            cache.clear()
            print(f"{path}: removed {before} rows")
        else:
            print(f"{path}: {before} rows, {os.path.getsize(path)} bytes")
    return EXIT_OK


def _add_evaluate(sub: Any, verbosity: argparse.ArgumentParser) -> None:
    ev = sub.add_parser("evaluate", parents=[verbosity],
                        help="measure pair precision and recall on a labelled folder",
                        description="Import and hash FOLDER once per method, group it at each threshold and "
                                    "compare with the known groups: pair precision, recall and F1, recall per "
                                    "label, groups, largest group and the time of each stage. Truth: a CSV of "
                                    "'file,group[,label]' rows (--truth), else one group per subfolder of FOLDER.")
    ev.add_argument("folder", type=_folder, help="the labelled folder")
    ev.add_argument("--truth", type=_file, metavar="CSV",
                    help="CSV of file,group[,label] (paths absolute, or relative to the CSV or to FOLDER)")
    ev.add_argument("--methods", type=_method, nargs="+", default=["phash"], metavar="METHOD",
                    help=f"hash methods to compare: {', '.join(METHOD_NAMES)} (default: phash)")
    ev.add_argument("--thresholds", type=_int_at_least(0), nargs="+", default=None, metavar="T",
                    help="thresholds to group at (default: 0 2 4 ... 16)")
    ev.add_argument("--hash-size", type=_int_at_least(2), default=8, metavar="N", help="hash size (default: 8)")
    ev.add_argument("--ext", action="append", metavar="EXT", help="only files with this extension (repeatable)")
    ev.add_argument("--jobs", type=_int_at_least(1), default=None, metavar="J",
                    help="decoding threads (default: all cores)")
    check = ev.add_mutually_exclusive_group()
    check.add_argument("--no-verify", dest="verify", action="store_const", const=False, default=None,
                       help="group on hashes alone")
    check.add_argument("--verify-both", dest="verify", action="store_const", const="both",
                       help="run every method with and without verification")
    ev.add_argument("--robust", action="store_true", help="also find rotated, mirrored and cropped copies")
    ev.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    ev.add_argument("-o", "--output", metavar="FILE",
                    help="write the report to FILE (JSON if it ends in .json or with --json, else the table)")
    ev.add_argument("--plot", metavar="PNG", help="save a precision-recall plot (one curve per method)")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ._logging import logger
    from .evaluate import DEFAULT_THRESHOLDS, evaluate

    report = evaluate(args.folder, truth=args.truth, methods=args.methods,
                      thresholds=args.thresholds or DEFAULT_THRESHOLDS, verify=args.verify,
                      robust=True if args.robust else None, hash_size=args.hash_size, n_jobs=args.jobs,
                      ext=args.ext, verbose=_verbosity(args))
    if args.plot:
        logger.info("Precision-recall plot: %s", report.plot_pr(args.plot))
    if args.output:
        print(report.save(args.output, format="json" if args.json else None))
    elif args.json:
        sys.stdout.write(report.to_json())
    else:
        sys.stdout.write(report.table())
    return EXIT_OK


_COMMANDS = {"scan": _cmd_scan, "move": _cmd_move, "undo": _cmd_undo, "plot": _cmd_plot,
             "hash": _cmd_hash, "example": _cmd_example, "cache": _cmd_cache, "evaluate": _cmd_evaluate,
             "report": _cmd_report, "warmup": _cmd_warmup}


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command, parser)
    return parser  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``undouble`` command; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 done, 1 failed, 2 bad command line, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check_combination(_subparser(parser, args.command), args)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0)
    if args.command == "scan":
        done = _scan_from_memo(args)
        if done is not None:
            return done
    from ._logging import logger, set_logger
    from .io import ImageReadError

    set_logger(_verbosity(args))
    _log_to_current_stderr(logger)
    _names_as_bytes_on_stdout()
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        logger.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head: not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return EXIT_FAILED
    except (OSError, ValueError, TypeError, RuntimeError, NotImplementedError, ImageReadError) as exc:
        if getattr(args, "verbose", False):
            logger.exception("undouble %s failed", args.command)
        else:
            logger.error("%s", exc)
        return EXIT_FAILED
    except Exception as exc:  # a bug: say so, with the traceback under -v
        if getattr(args, "verbose", False):
            logger.exception("undouble %s failed unexpectedly", args.command)
        else:
            logger.error("unexpected error (%s: %s); run with -v for the traceback", type(exc).__name__, exc)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
