"""Which JPEG reduced-decoding rule: quality and import time of each rule of ``undouble.io.jpeg``.

For each rule of :data:`undouble.io.jpeg.DECODE_RULES` (``--rules``), imports and
hashes a labelled folder with ``Undouble(method='phash')`` (no hash cache; the
rules alternate ``--repeat`` times so that all see the same machine load) and
prints, at phash threshold ``--threshold``:

* pair precision and recall of the hash alone (``verify=False``), with their
  binomial standard errors;
* the same after the verification of :func:`undouble.verify.verify_pairs` on the
  candidate pairs (the thumbnails the import made from that rule's decoding);
* the mean number of phash bits that change against a full-size decoding
  (standard error over images);
* the keeper check: of each original and its blurred copy (``*_original.jpg``
  and ``*_blur.jpg`` of one shot, equal resolution), how often the import's
  sharpness (the canonical scale) puts the original first;
* the median import + hash time.

Pairs found by one rule and missed by the other are counted too (the paired
difference: a rule's quality differs measurably only if these are many).

    python benchmarks/bench_decode_rule.py --scenes 60 --shots 5 --copies 3
    python benchmarks/bench_decode_rule.py FOLDER --truth FOLDER/truth.csv

Without FOLDER a corpus is generated with ``undouble.corpus.make_corpus`` into
``--workdir`` (once).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _corpus(workdir: Path, scenes: int, shots: int, copies: int) -> tuple[str, str]:
    from undouble.corpus import make_corpus

    folder = workdir / f"rule-{scenes}x{shots}x{copies}"
    truth = folder / "truth.csv"
    if truth.is_file():
        return str(folder), str(truth)
    return str(folder), str(make_corpus(folder, scenes, shots_per_scene=shots, copies_per_shot=copies))


def _run(folder: str, jobs: int) -> tuple[dict, float]:
    from undouble import Undouble

    model = Undouble(method="phash", verbose=30, n_jobs=jobs, cache=False)
    start = time.perf_counter()
    model.import_data(folder)
    model.compute_hash()
    return model.results, time.perf_counter() - start


def _bits(hashes) -> np.ndarray:
    arr = np.asarray(hashes)
    if arr.dtype == bool:
        return arr.reshape(arr.shape[0], -1)
    return np.unpackbits(arr.reshape(arr.shape[0], -1).view(np.uint8), axis=1)


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--truth")
    parser.add_argument("--rules", nargs="+", default=["dim", "half-dim", "long-half"])
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "undouble-bench"))
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    import undouble.io.decode as decode
    import undouble.io.jpeg as jpeg
    from undouble.evaluate import _key, load_truth
    from undouble.verify import verify_pairs

    folder, truth = ((args.folder, args.truth) if args.folder
                     else _corpus(Path(args.workdir), args.scenes, args.shots, args.copies))
    known = load_truth(folder, truth)
    group_of = {_key(p): g for p, g in zip(known.files, known.groups)}
    chosen = jpeg.DECODE_RULE

    reduction = decode._reduction_for
    decode._reduction_for = lambda width, height, dim: 1  # the full-size reference
    try:
        full, _ = _run(folder, args.jobs)
    finally:
        decode._reduction_for = reduction
    order = np.argsort(full["pathnames"])
    full_bits = _bits(full["img_hash"])[order]
    paths = [full["pathnames"][k] for k in order]
    gid = np.asarray([hash(group_of.get(_key(p), p)) for p in paths])
    iu, ju = np.triu_indices(len(paths), 1)
    same = gid[iu] == gid[ju]
    true_pairs = int(same.sum())
    blurs = {}  # shot prefix -> index of its blurred copy (one per shot, the first)
    for k, p in enumerate(paths):
        if p.endswith("_blur.jpg"):
            blurs.setdefault(p.rsplit("_c", 1)[0], k)

    times: dict[str, list[float]] = {r: [] for r in args.rules}
    out: dict[str, dict] = {}
    found: dict[str, tuple[set, set]] = {}
    try:
        for _ in range(args.repeat):
            for rule in args.rules:
                jpeg.DECODE_RULE = rule
                res, took = _run(folder, args.jobs)
                times[rule].append(took)
                idx = np.argsort(res["pathnames"])
                assert [res["pathnames"][k] for k in idx] == paths
                bits = _bits(res["img_hash"])[idx]
                change = (bits != full_bits).sum(axis=1)
                dist = (bits[iu] != bits[ju]).sum(axis=1)
                cand = dist <= args.threshold
                ci, cj = iu[cand], ju[cand]
                verdict = verify_pairs(np.asarray(res["thumbs"])[idx], np.asarray(res["resolution"])[idx], ci, cj)
                ok = np.asarray(verdict.ok, bool)
                row = {}
                for name, pred_i, pred_j in (("hash", ci, cj), ("verified", ci[ok], cj[ok])):
                    tp = int((gid[pred_i] == gid[pred_j]).sum())
                    p = tp / len(pred_i) if len(pred_i) else math.nan
                    r = tp / true_pairs if true_pairs else math.nan
                    row[name] = {"pairs": int(len(pred_i)), "tp": tp, "precision": p, "recall": r,
                                 "precision_se": _se(p, len(pred_i)), "recall_se": _se(r, true_pairs)}
                sharp = np.asarray(res["sharpness"])[idx]
                wins = [sharp[k] > sharp[at[paths[k].replace("_original.jpg", "")]]
                        for k in range(len(paths)) if paths[k].endswith("_original.jpg")
                        for at in [blurs] if paths[k].replace("_original.jpg", "") in at]
                row["sharper_original"] = float(np.mean(wins)) if wins else math.nan
                row["blur_pairs"] = len(wins)
                row["bit_change_mean"] = float(change.mean())
                row["bit_change_se"] = float(change.std(ddof=1) / math.sqrt(len(change)))
                out[rule] = row
                found[rule] = (set(zip(ci.tolist(), cj.tolist())), set(zip(ci[ok].tolist(), cj[ok].tolist())))
    finally:
        jpeg.DECODE_RULE = chosen

    print(f"{folder}: {len(paths)} images, {true_pairs} true pairs, phash threshold {args.threshold}, "
          f"{args.jobs} threads, {args.repeat} runs per rule")
    print(f"{'rule':<10} {'stage':<9} {'pairs':>6} {'TP':>6} {'precision':>16} {'recall':>16}")
    for rule in args.rules:
        for name in ("hash", "verified"):
            s = out[rule][name]
            print(f"{rule:<10} {name:<9} {s['pairs']:6d} {s['tp']:6d} {s['precision']:8.4f} +- {s['precision_se']:.4f}"
                  f" {s['recall']:8.4f} +- {s['recall_se']:.4f}")
    for rule in args.rules:
        row = out[rule]
        print(f"{rule:<10} phash bits changed vs full decode: {row['bit_change_mean']:.3f} +- {row['bit_change_se']:.3f}; "
              f"original sharper than its blurred copy {row['sharper_original']:.4f} "
              f"({row['blur_pairs']} pairs); import+hash {statistics.median(times[rule]):.2f} s (runs: {', '.join(f'{x:.2f}' for x in times[rule])})")
    base = args.rules[0]
    for rule in args.rules[1:]:
        for stage, k in (("hash", 0), ("verified", 1)):
            a, b = found[base][k], found[rule][k]
            tp_a = sum(gid[i] == gid[j] for i, j in a - b)
            tp_b = sum(gid[i] == gid[j] for i, j in b - a)
            print(f"{stage:<9} {base} only: {len(a - b)} pairs ({tp_a} true); {rule} only: {len(b - a)} pairs "
                  f"({tp_b} true)")
        print(f"import+hash time {rule} / {base}: {statistics.median(times[rule]) / statistics.median(times[base]):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rules": out, "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
