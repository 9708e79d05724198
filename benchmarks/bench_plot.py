"""Time ``plot(savedir=...)`` on some groups against another version of ``undouble/plot.py`` in the same run.

    git show REV:undouble/plot.py > /tmp/plot_old.py
    PYTHONPATH=$PWD python benchmarks/bench_plot.py --baseline /tmp/plot_old.py [--groups 50]

The baseline file is loaded as a module of the ``undouble`` package (its
relative imports resolve to this checkout), so both versions plot the same
model's groups; each writes its PNGs into its own folder.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time

import matplotlib

matplotlib.use("Agg")

from undouble import Undouble  # noqa: E402
from undouble import plot as current  # noqa: E402
from undouble.examples import make_synthetic_set  # noqa: E402


def load_baseline(path: str):
    spec = importlib.util.spec_from_file_location("undouble._plot_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "undouble-bench-report"))
    args = parser.parse_args()
    photos = os.path.join(args.folder, "photos-400-250")
    if not os.path.isdir(photos):
        make_synthetic_set(photos, n_originals=400, n_with_duplicates=250, seed=3)
    model = Undouble(verbose=30)
    model.import_data(photos)
    model.compute_hash()
    model.group(threshold=10)
    baseline = load_baseline(args.baseline)
    times = {}
    for label, module, kwargs in (("baseline", baseline, {"figsize": (15, 10)}), ("current", current, {}),
                                  ("baseline again", baseline, {"figsize": (15, 10)}), ("current again", current, {})):
        out = tempfile.mkdtemp(prefix=f"plot-{label.replace(' ', '-')}-")
        start = time.perf_counter()
        figs = module.plot_groups(model, max_groups=args.groups, savedir=out, show=False, **kwargs)
        times[label] = time.perf_counter() - start
        print(f"{label:<16s} {len(figs)} PNGs in {times[label]:6.2f} s")
    best_old = min(times["baseline"], times["baseline again"])
    best_new = min(times["current"], times["current again"])
    print(f"baseline / current (best of two each): {best_old / best_new:.2f}")


if __name__ == "__main__":
    main()
