"""The ``undouble`` command.

Results go to stdout, logs and progress bars to stderr. Exit codes: 0 done,
1 the run failed, 2 bad command line.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from . import __version__
from .hashes import METHODS

DEFAULT_EXAMPLE_THRESHOLD = 10


def _add_common(parser: argparse.ArgumentParser, threshold: int = 0) -> None:
    parser.add_argument("--method", default="phash", choices=list(METHODS),
                        help="hash method (default: phash)")
    parser.add_argument("--hash-size", type=int, default=8, help="hash size (default: 8)")
    parser.add_argument("--threshold", type=int, default=threshold,
                        help=f"group images at Hamming distance <= this (default: {threshold})")
    parser.add_argument("--grayscale", action="store_true", help="convert to grey before hashing")
    parser.add_argument("--jobs", type=int, default=None, help="decoding threads (default: all cores)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the groups as JSON")


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    group.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="undouble",
        description="Find duplicate and near-duplicate images by perceptual hash, group them, "
                    "and move the extras out of the way safely.")
    parser.add_argument("--version", action="version", version=f"undouble {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    scan = sub.add_parser("scan", help="find duplicate groups in a folder",
                          description="Find groups of duplicate images in FOLDER (recursive).")
    scan.add_argument("folder", help="folder to scan")
    _add_common(scan)
    _add_verbosity(scan)

    example = sub.add_parser("example", help="run the whole job on the built-in example set",
                             description="Generate (once) the built-in example set of photo-like images "
                                         "with known near-duplicates, hash, group and print the groups.")
    _add_common(example, threshold=DEFAULT_EXAMPLE_THRESHOLD)
    _add_verbosity(example)

    hash_cmd = sub.add_parser("hash", help="print the hash of image files",
                              description="Print '<hex>  <path>' for each file.")
    hash_cmd.add_argument("files", nargs="+", help="image files")
    hash_cmd.add_argument("--method", default="phash", choices=list(METHODS), help="hash method (default: phash)")
    hash_cmd.add_argument("--hash-size", type=int, default=8, help="hash size (default: 8)")
    _add_verbosity(hash_cmd)

    undo = sub.add_parser("undo", help="undo a move from its journal",
                          description="Put back every file moved or copied by the move that wrote JOURNAL.")
    undo.add_argument("journal", help="journal file written by 'undouble move' or Undouble.move()")
    _add_verbosity(undo)
    return parser


def _verbosity(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return 30
    if getattr(args, "verbose", False):
        return 10
    return 20


def groups_as_dict(model: Any) -> dict[str, Any]:
    """The groups of a grouped model as a JSON-ready dict (keeper first in every group)."""
    results = model.results
    return {
        "method": model.params["method"],
        "hash_size": model.params["hash_size"],
        "threshold": model.params["threshold"],
        "n_images": len(results["pathnames"]),
        "groups": [
            {"files": list(paths), "keeper": paths[0], "distances": [int(d) for d in scores]}
            for paths, scores in zip(results["select_pathnames"], results["select_scores"])
        ],
        "skipped": [{"path": p, "reason": r} for p, r in results.get("skipped", [])],
    }


def _print_groups(model: Any, as_json: bool) -> None:
    data = groups_as_dict(model)
    if as_json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for k, group in enumerate(data["groups"], 1):
        print(f"Group {k} ({len(group['files'])} images, keeper first):")
        for path, dist in zip(group["files"], group["distances"]):
            print(f"  {'keep' if path == group['keeper'] else f'd={dist:<3d}'}  {path}")
    n_dup = sum(len(g["files"]) - 1 for g in data["groups"])
    print(f"{len(data['groups'])} groups, {n_dup} duplicates among {data['n_images']} images "
          f"({data['method']}, threshold {data['threshold']}).")


def _run_scan(target: Any, args: argparse.Namespace) -> int:
    from .model import Undouble

    model = Undouble(method=args.method, hash_size=args.hash_size, grayscale=args.grayscale,
                     threshold=args.threshold, verbose=_verbosity(args), n_jobs=args.jobs)
    model.import_data(target)
    model.compute_hash()
    model.group(threshold=args.threshold)
    _print_groups(model, args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``undouble`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._logging import logger, set_logger

    set_logger(_verbosity(args))
    try:
        if args.command == "scan":
            return _run_scan(args.folder, args)
        if args.command == "example":
            from .examples import import_example

            return _run_scan(import_example("synthetic"), args)
        if args.command == "hash":
            from .hashes import hash_image
            from .io import ImageReadError, read_image

            status = 0
            for path in args.files:
                try:
                    print(f"{hash_image(read_image(path).pixels, args.method, args.hash_size)}  {path}")
                except (ImageReadError, ValueError) as exc:
                    logger.error("%s: %s", path, exc)
                    status = 1
            return status
        if args.command == "undo":
            from .move import undo

            summary = undo(args.journal)
            print(summary)
            return 0
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError, RuntimeError,
            NotImplementedError) as exc:
        logger.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
