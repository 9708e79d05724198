"""The hash cache: a second run on an unchanged folder against the first run.

Generates a folder of a few thousand small photo-like images (JPEG and PNG,
320 x 240, a few planted near-duplicates) once, then times, with a fresh cache:

1. ``import_data + compute_hash`` on a cold cache (every file decoded and hashed),
2. the same on the warm cache (nothing decoded),
3. and, for the whole job, ``group()`` after each (the keeper ranking uses the
   resolution, file size and sharpness recorded at import, which the cache
   keeps as well: no file is opened),

and optionally the command line end to end (``--cli``: two ``undouble scan`` runs in
fresh processes, Numba import included).  The Numba kernels are loaded before the
first timed run, so that their import is not counted as decoding.

Usage::

    python benchmarks/bench_cache.py [--n 3000] [--jobs 2] [--cli] [--folder DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_folder(folder: Path, n: int) -> int:
    from undouble.examples import make_synthetic_set

    marker = folder / "manifest.json"
    if marker.exists():
        manifest = json.loads(marker.read_text())
        if len(manifest["files"]) >= n:
            return len(manifest["files"])
        shutil.rmtree(folder)
    t = time.perf_counter()
    manifest = make_synthetic_set(folder, n_originals=n, n_with_duplicates=max(1, n // 100), seed=99)
    print(f"generated {len(manifest['files'])} images in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return len(manifest["files"])


def timed_run(folder: Path, cache: Path, jobs: int | None, method: str) -> dict:
    from undouble import Undouble

    model = Undouble(method=method, verbose=30, cache=cache, n_jobs=jobs)
    t0 = time.perf_counter()
    model.import_data(str(folder))
    t1 = time.perf_counter()
    model.compute_hash()
    t2 = time.perf_counter()
    model.group(threshold=10)
    t3 = time.perf_counter()
    return {"import": t1 - t0, "hash": t2 - t1, "import+hash": t2 - t0, "group": t3 - t2, "total": t3 - t0,
            "images": len(model.results["pathnames"]), "groups": len(model.results["select_pathnames"]),
            "hex": model.results["img_hash_hex"]}


def cli_run(folder: Path, cache: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "undouble", "scan", str(folder), "--threshold", "10", "--cache",
                    str(cache), "-q", "--json"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="original images to generate (default 3000)")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "undouble-bench-cache",
                        help="folder of the generated images (kept between runs)")
    parser.add_argument("--jobs", type=int, default=None, help="decoding threads (default: all cores)")
    parser.add_argument("--method", default="phash")
    parser.add_argument("--cli", action="store_true", help="also time two 'undouble scan' subprocesses")
    args = parser.parse_args(argv)

    n_files = make_folder(args.folder, args.n)
    workdir = Path(tempfile.mkdtemp(prefix="undouble-bench-"))
    try:
        # load the kernels first (Numba's on-disk cache), on two images
        warm = workdir / "warm"
        warm.mkdir()
        for name in sorted(os.listdir(args.folder))[:2]:
            shutil.copy(args.folder / name, warm / name)
        timed_run(warm, workdir / "warm.sqlite3", args.jobs, args.method)

        cache = workdir / "hashes.sqlite3"
        first = timed_run(args.folder, cache, args.jobs, args.method)
        second = timed_run(args.folder, cache, args.jobs, args.method)
        assert first["hex"] == second["hex"], "cached hashes differ from fresh ones"
        print(f"{n_files} files, {first['images']} images, {first['groups']} groups, method {args.method}, "
              f"{os.cpu_count()} cores")
        print(f"{'step':<14}{'first run':>12}{'second run':>12}{'speed-up':>10}")
        for step in ("import", "hash", "import+hash", "group", "total"):
            a, b = first[step], second[step]
            print(f"{step:<14}{a:>11.3f}s{b:>11.3f}s{a / b if b > 0 else float('inf'):>9.1f}x")
        result = {"files": n_files, "first": {k: v for k, v in first.items() if k != "hex"},
                  "second": {k: v for k, v in second.items() if k != "hex"},
                  "speedup_import_hash": first["import+hash"] / second["import+hash"],
                  "speedup_total": first["total"] / second["total"]}
        if args.cli:
            cli_cache = workdir / "cli.sqlite3"
            c1, c2 = cli_run(args.folder, cli_cache), cli_run(args.folder, cli_cache)
            print(f"{'undouble scan':<14}{c1:>11.3f}s{c2:>11.3f}s{c1 / c2:>9.1f}x   (fresh processes)")
            result.update(cli_first=c1, cli_second=c2)
        print(json.dumps(result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
