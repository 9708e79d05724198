"""Which JPEG reduced-decoding rule: "at least dim" against "at least twice dim".

Runs :func:`undouble.evaluate` on a labelled folder once per rule (the rule is
``undouble.io.jpeg.REDUCTION_MARGIN``: 1 or 2 times ``dim``), alternating the rules
``--repeat`` times so that both see the same machine load, and prints pair precision
and recall at each threshold and the import time of each run.  The hash cache is off.

    python benchmarks/bench_decode_rule.py FOLDER --truth FOLDER/truth.csv --thresholds 10

Without FOLDER a corpus is generated (``undouble.corpus.make_corpus`` when it exists,
else the built-in synthetic set) into ``--workdir``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _corpus(workdir: Path, scenes: int) -> tuple[str, str]:
    folder = workdir / f"rule-corpus-{scenes}"
    truth = folder / "truth.csv"
    if truth.is_file():
        return str(folder), str(truth)
    try:
        from undouble.corpus import make_corpus
    except ImportError:
        from undouble.examples import make_synthetic_set

        manifest = make_synthetic_set(folder)
        in_group = {name: f"g{k}" for k, group in enumerate(manifest["groups"]) for name in group}
        rows = [f"{name},{in_group.get(name, 'single-' + name)}" for name in manifest["files"]]
        truth.write_text("file,group\n" + "\n".join(rows) + "\n")
        return str(folder), str(truth)
    return str(folder), str(make_corpus(folder, scenes, shots_per_scene=4, copies_per_shot=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--truth")
    parser.add_argument("--thresholds", type=int, nargs="+", default=[6, 8, 10, 12])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenes", type=int, default=150)
    parser.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "undouble-bench"))
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    import undouble.io.jpeg as jpeg
    from undouble.evaluate import evaluate

    folder, truth = (args.folder, args.truth) if args.folder else _corpus(Path(args.workdir), args.scenes)
    quality: dict[int, dict[int, tuple]] = {}
    times: dict[int, list[float]] = {1: [], 2: []}
    evaluate(folder, truth=truth, thresholds=args.thresholds[:1], n_jobs=args.jobs, verbose=30,
             model_options={"cache": False})  # loads the kernels and warms the file cache
    for _ in range(args.repeat):
        for margin in (2, 1):
            jpeg.REDUCTION_MARGIN = margin
            report = evaluate(folder, truth=truth, thresholds=args.thresholds, n_jobs=args.jobs, verbose=30,
                              model_options={"cache": False})
            times[margin].append(report.rows[0].import_s)
            quality[margin] = {r.threshold: (r.precision, r.recall, r.predicted_pairs, r.true_positives,
                                             r.true_pairs) for r in report.rows}
    names = {2: "at least twice dim", 1: "at least dim"}
    print(f"{folder}: {report.rows[0].n_images} images, phash, {args.jobs} threads")
    print(f"{'rule':<20} {'T':>3} {'precision':>9} {'recall':>7} {'pairs':>6} {'TP':>6} {'true':>6}")
    for margin in (2, 1):
        for t, (p, r, pairs, tp, true) in sorted(quality[margin].items()):
            print(f"{names[margin]:<20} {t:>3} {p:9.4f} {r:7.4f} {pairs:6d} {tp:6d} {true:6d}")
    for margin in (2, 1):
        print(f"{names[margin]:<20} import {statistics.median(times[margin]):.2f} s "
              f"(runs: {', '.join(f'{x:.2f}' for x in times[margin])})")
    ratio = statistics.median(times[1]) / statistics.median(times[2])
    print(f"import time, at least dim / at least twice dim: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"quality": quality, "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
