"""Where ``group()`` spends its time, this tree against another commit, in one run.

On a folder already hashed into a hash cache (so that the import is quick),
each side runs in fresh subprocesses: ``Undouble(method='phash')`` with that
cache, ``import_data`` + ``compute_hash``, then ``group(threshold)`` once as a
user's run does it (the Numba kernels loaded from their cache on first use),
then ``--warm`` more times, with the time of each stage taken by wrappers
(CPU time of the process, so the other jobs of a shared machine count less,
and wall time):

* the pair search (``undouble.distance.hamming_pairs``);
* every ``undouble.verify.verify_pairs`` call (the candidates, the second look's
  containers, the keeper checks);
* the second look (``undouble.second_look.second_look_pairs``, its verification
  included) and its window search (``window_crop_candidates``);
* the storage of the groups (``undouble._model_groups.store_groups``) and the
  relation texts in it (``undouble.grouping.relation_texts``).

The other side is ``git archive <ref>`` of this repository (``--against``,
default ``main``) unpacked into a temporary folder; one unmeasured run of each
side first compiles its kernels into its Numba cache. The sides then alternate
``--repeat`` times and medians are reported. Both sides must give the same
groups: a digest of ``select_idx``, ``select_relation``, ``select_similarity``
and ``select_scores`` is compared and a difference is reported.

    python benchmarks/bench_group_stages.py FOLDER --cache CACHE.sqlite
    python benchmarks/bench_group_stages.py FOLDER --cache CACHE.sqlite --against 9d2e7b8 --threads 1

``--threads 1`` (one Numba thread) gives CPU times that the other jobs of a
shared machine disturb least; the default uses every thread, as a user's run does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN = r"""
import hashlib, json, os, pickle, sys, time, collections
import numpy as np
folder, cache, threshold, warm, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import numba
if threads > 0:
    numba.set_num_threads(threads)
import undouble.distance as D, undouble.grouping as G, undouble.second_look as SL, undouble.verify as V
import undouble._model_groups as MG
from undouble import Undouble
m = Undouble(method='phash', verbose=40, cache=cache)
m.import_data(folder)
m.compute_hash()
took = collections.defaultdict(lambda: [0.0, 0.0])
def wrap(module, name, label):
    inner = getattr(module, name)
    def timed(*args, **kwargs):
        c, w = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            took[label][0] += time.process_time() - c
            took[label][1] += time.perf_counter() - w
    setattr(module, name, timed)
for module, name, label in ((D, 'hamming_pairs', 'pair search'), (V, 'verify_pairs', 'verify_pairs (all calls)'),
                            (SL, 'second_look_pairs', 'second look (its verification included)'),
                            (SL, 'window_crop_candidates', '  window search'),
                            (MG, 'store_groups', 'store groups (relation texts included)'),
                            (G, 'relation_texts', '  relation texts')):
    wrap(module, name, label)
def group():
    took.clear()
    c, w = time.process_time(), time.perf_counter()
    r = m.group(threshold=threshold)
    took['group()'] = [time.process_time() - c, time.perf_counter() - w]
    return r, {k: list(v) for k, v in took.items()}
r, first = group()
runs = [group()[1] for _ in range(warm)]
digest = hashlib.sha256(pickle.dumps(([np.asarray(g).tolist() for g in r['select_idx']], r.get('select_relation'),
                                      [np.asarray(s).tolist() for s in r.get('select_similarity') or []],
                                      [np.asarray(s).tolist() for s in r['select_scores']]))).hexdigest()
print(json.dumps({'first': first, 'warm': runs, 'digest': digest, 'groups': len(r['select_idx']),
                  'threads': numba.get_num_threads()}))
"""


def unpack(ref: str, into: Path) -> Path:
    """``git archive ref undouble`` unpacked under ``into``; returns the folder to put on PYTHONPATH."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "undouble"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_side(tree: Path, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", RUN, args.folder, args.cache, str(args.threshold), str(args.warm),
                          str(args.threads)], env=env, cwd=str(tree), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--cache", required=True, help="hash cache file (made by a first run when missing)")
    parser.add_argument("--against", default="main", help="the git ref to compare with (default main)")
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per side (alternating)")
    parser.add_argument("--warm", type=int, default=3, help="group() calls after the first, per process")
    parser.add_argument("--threads", type=int, default=0, help="Numba threads (0: Numba's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sides = {args.against: unpack(args.against, Path(tmp)), "this tree": ROOT}
        for tree in sides.values():  # compiles the unpacked tree's kernels into its own Numba cache, unmeasured
            run_side(tree, argparse.Namespace(**{**vars(args), "warm": 0}))
        results: dict[str, list] = {name: [] for name in sides}
        for k in range(args.repeat):
            for name in (list(sides) if k % 2 == 0 else list(sides)[::-1]):
                results[name].append(run_side(sides[name], args))
    digests = {name: {r["digest"] for r in runs} for name, runs in results.items()}
    same = len(set().union(*digests.values())) == 1
    print(f"{args.folder}: {results['this tree'][0]['groups']} groups, threshold {args.threshold}, "
          f"{results['this tree'][0]['threads']} Numba thread(s), load average {os.getloadavg()[0]:.2f} at the end; "
          f"groups {'identical' if same else 'DIFFERENT'} on both sides")

    def median(name: str, stage: str, which: int, first: bool) -> float:
        values = [r["first"].get(stage, [0.0, 0.0])[which] for r in results[name]] if first else \
            [w.get(stage, [0.0, 0.0])[which] for r in results[name] for w in r["warm"]]
        return statistics.median(values) if values else float("nan")

    ref, ours = args.against, "this tree"
    stages = list(results[ours][0]["first"])
    stages = ["group()"] + [s for s in stages if s != "group()"]
    for first in (True, False):
        print(f"\n{'first group() of a process' if first else 'later group() calls'} (medians; s)")
        print(f"{'stage':42s} {'CPU ' + ref:>14s} {'CPU ours':>10s} {'ratio':>6s}   {'wall ' + ref:>14s} {'wall ours':>10s}")
        for stage in stages:
            c_ref, c_us = median(ref, stage, 0, first), median(ours, stage, 0, first)
            w_ref, w_us = median(ref, stage, 1, first), median(ours, stage, 1, first)
            print(f"{stage:42s} {c_ref:14.3f} {c_us:10.3f} {c_us / c_ref if c_ref else float('nan'):6.2f}   "
                  f"{w_ref:14.3f} {w_us:10.3f}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
