"""In-process scan against a Dask scan (``--dask local:N``), on the same corpus in the same run.

Measures, on a generated set of a few hundred photo-like files:

1. the command line end to end, ``undouble scan DIR --json`` against
   ``undouble scan DIR --dask local:N --json`` (each in a fresh process, no
   hash cache, cluster start included), and checks that both print the same
   JSON;
2. the API with a cluster already running (``Undouble(scheduler=client)``)
   against ``Undouble()`` in this process, best of ``--repeat``: the steady
   cost per file on the workers and the overhead per file of the cluster;
3. a paper model of a cluster of ``--machines`` machines of ``--cores`` cores
   from these measured per-file costs.

Run::

    python benchmarks/bench_dask.py               # 240 originals (~320 files), local:2
    python benchmarks/bench_dask.py --originals 400 --workers 2 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _cli(folder: str, *extra: str) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "undouble", "scan", folder, "--json", "--no-cache", "-q", *extra],
                         capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, json.loads(out.stdout)


def _api(folder: str, **kwargs) -> tuple[float, object]:
    from undouble import Undouble

    model = Undouble(verbose=30, cache=False, **kwargs)
    start = time.perf_counter()
    model.import_data(folder)
    model.compute_hash()
    model.group(threshold=10)
    return time.perf_counter() - start, model


def _enlarge(folder: str, names: list[str], scale: float) -> None:
    from PIL import Image

    for name in names:
        path = os.path.join(folder, name)
        with Image.open(path) as img:
            big = img.convert("RGB").resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
        big.save(path, quality=90) if name.endswith(".jpg") else big.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--originals", type=int, default=240, help="originals of the generated set")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (and in-process threads)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="enlarge every generated file by this factor (320x240 -> 1600x1200 at 5): "
                             "per-file costs closer to real photos")
    parser.add_argument("--repeat", type=int, default=2, help="API runs of each kind (best kept)")
    parser.add_argument("--machines", type=int, default=10, help="machines of the paper model")
    parser.add_argument("--cores", type=int, default=16, help="cores per machine of the paper model")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from undouble.examples import make_synthetic_set

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        folder = os.path.join(tmp, "set")
        make_synthetic_set(folder, n_originals=args.originals, n_with_duplicates=args.originals // 6)
        names = sorted(n for n in os.listdir(folder) if n.endswith((".jpg", ".png")))
        if args.scale != 1.0:
            _enlarge(folder, names, args.scale)
        n_files = len(names)
        mb = sum(os.path.getsize(os.path.join(folder, n)) for n in names) / 1e6
        w = args.workers
        print(f"{n_files} files ({mb:.0f} MB, scale {args.scale:g}), {w} workers / threads, "
              f"{os.cpu_count()} cores on this machine")

        # 1. the command line, fresh processes, in alternation
        cli_in, cli_dask = [], []
        for _ in range(args.repeat):
            t_in, ref = _cli(folder, "--jobs", str(w))
            t_dask, got = _cli(folder, "--dask", f"local:{w}")
            cli_in.append(t_in)
            cli_dask.append(t_dask)
            assert got == ref, "the --dask JSON differs from the in-process JSON"
        best_in, best_dask = min(cli_in), min(cli_dask)
        print(f"CLI  scan --json              : {best_in:6.2f} s  ({n_files / best_in:6.1f} files/s)")
        print(f"CLI  scan --json --dask local:{w}: {best_dask:6.2f} s  ({n_files / best_dask:6.1f} files/s)"
              f"  ratio {best_dask / best_in:.2f}x  (same JSON: yes)")

        # 2. the API: in process against an already running cluster (steady state)
        api_in = min(_api(folder, n_jobs=w)[0] for _ in range(args.repeat))
        t0 = time.perf_counter()
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            start_cluster = time.perf_counter() - t0
            _api(folder, scheduler=client)  # the workers load the kernels once (as any long-lived cluster has)
            api_dask = min(_api(folder, scheduler=client)[0] for _ in range(args.repeat))
        print(f"API  in process ({w} threads)    : {api_in:6.2f} s  ({n_files / api_in:6.1f} files/s)")
        print(f"API  warm cluster ({w} workers)  : {api_dask:6.2f} s  ({n_files / api_dask:6.1f} files/s)"
              f"  ratio {api_dask / api_in:.2f}x")
        print(f"API  LocalCluster start (spawned workers): {start_cluster:6.2f} s")

        # 3. per-file costs and the paper model
        worker_cost = api_dask * w / n_files  # core-seconds per file on a worker (decode+preprocess+hash+ship)
        inproc_cost = api_in * w / n_files
        overhead = (api_dask - api_in) / n_files
        print(f"per file: {1e3 * inproc_cost:.2f} core-ms in process, {1e3 * worker_cost:.2f} core-ms on a worker; "
              f"cluster overhead {1e3 * overhead:+.2f} ms wall per file on {w} workers "
              f"({1e3 * overhead * w:+.2f} core-ms)")
        slots = args.machines * args.cores
        for n in (1_000_000, 10_000_000):
            hours = (n * worker_cost / slots + start_cluster) / 3600
            print(f"model: {args.machines} machines x {args.cores} cores = {slots} workers: {n:,} files in "
                  f"{hours:.2f} h ({slots / worker_cost:,.0f} files/s) vs one {w}-core machine "
                  f"{n * inproc_cost / w / 3600:.1f} h")
        print("model assumptions: the measured core-ms per file on every worker core, reads from object storage "
              "overlapping decoding (enough bandwidth), no stragglers; the client's listing and grouping are "
              "not included (1M hashes group in seconds).")


if __name__ == "__main__":
    main()
