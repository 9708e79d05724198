"""A big folder at default settings: undouble against a bare decoding loop, in one run.

On a folder of photos of 640-1024 px (generated into ``--workdir`` when missing:
``undouble.corpus.make_corpus`` when it exists, else a built-in generator of
photo crops with near-duplicate copies), measures in fresh subprocesses:

* **baseline**: a bare 2-thread ``cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_8)``
  loop over the same files;
* **undouble**: ``Undouble(method='phash')`` (default settings, no hash cache)
  ``import_data`` + ``compute_hash`` + ``group(threshold=10)``, with the time of
  ``group()`` alone and the process's peak RSS (``resource.getrusage``).

The runs alternate ``--repeat`` times after one read of every file (so that the
page cache treats both alike); medians are reported, and the targets of issue 20
checked: undouble / baseline <= 1.5, ``group()`` <= 2 s, peak RSS < 1 GB.

    python benchmarks/bench_scale.py --n 20000          # the target size
    python benchmarks/bench_scale.py --n 3000 --repeat 1 # a quick look
    python benchmarks/bench_scale.py --n 3000 --rules long-half half-dim dim  # decode rules, one run
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = r"""
import cv2, json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
cv2.setNumThreads(1)
files = [os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.jpg')]
t = time.perf_counter()
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    n = sum(img is not None for img in pool.map(lambda p: cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_8), files))
took = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": took, "cpu_s": u.ru_utime + u.ru_stime, "decoded": n, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

UNDOUBLE = r"""
import json, resource, sys, time
from undouble import Undouble
from undouble.warmup import ensure_compiled
if len(sys.argv) > 4:  # a decode rule to compare (undouble.io.jpeg.DECODE_RULES)
    import undouble.io.jpeg
    undouble.io.jpeg.DECODE_RULE = sys.argv[4]
ensure_compiled('phash')  # a no-op once a marker exists: the timing is that of a user's later run
t = time.perf_counter()
model = Undouble(method='phash', verbose=30, n_jobs=int(sys.argv[2]))
model.import_data(sys.argv[1])
t_import = time.perf_counter()
model.compute_hash()
t_hash = time.perf_counter()
model.group(threshold=int(sys.argv[3]))
t_group = time.perf_counter()
r = model.results
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": t_group - t, "cpu_s": u.ru_utime + u.ru_stime, "import_s": t_import - t, "hash_s": t_hash - t_import,
                  "group_s": t_group - t_hash, "images": len(r['pathnames']), "groups": len(r['select_idx']),
                  "feat": r['feat'] is not None, "storage": r['img_storage'],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# --------------------------------------------------------------------------- the corpus
def _sources():
    import skimage.data as data

    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
             "retina", "colorwheel", "cat", "motorcycle_left")
    out = []
    for name in names:
        try:
            img = getattr(data, name)()
        except Exception:  # an image scikit-image cannot give offline
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            out.append(img[:, :, :3])
    return out


def _write_chunk(args: tuple) -> int:
    import cv2
    import numpy as np

    folder, start, stop, seed = args
    rng = np.random.default_rng([seed, start])
    sources = _sources()
    written = 0
    k = start
    while k < stop:
        src = sources[int(rng.integers(len(sources)))]
        h, w = src.shape[:2]
        ch, cw = int(h * rng.uniform(0.3, 0.9)), int(w * rng.uniform(0.3, 0.9))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = src[y:y + ch, x:x + cw].astype(np.float32)
        crop = crop * rng.uniform(0.7, 1.2, 3).astype(np.float32) + rng.uniform(-20, 20)
        long_side = int(rng.integers(640, 1025))
        scale = long_side / max(ch, cw)
        size = (max(16, round(cw * scale)), max(16, round(ch * scale)))
        img = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 4, img.shape).astype(np.float32)
        bgr = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        name = Path(folder) / f"p{k:06d}.jpg"
        cv2.imwrite(str(name), bgr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 96))])
        written += 1
        k += 1
        if k < stop and rng.random() < 0.2:  # a near-duplicate copy: resized, re-encoded or brightened
            kind = int(rng.integers(3))
            copy = (cv2.resize(bgr, (bgr.shape[1] * 3 // 4, bgr.shape[0] * 3 // 4), interpolation=cv2.INTER_AREA)
                    if kind == 0 else cv2.convertScaleAbs(bgr, alpha=1.1, beta=5) if kind == 2 else bgr)
            cv2.imwrite(str(Path(folder) / f"p{k:06d}.jpg"), copy, [cv2.IMWRITE_JPEG_QUALITY, 70 if kind == 1 else 90])
            written += 1
            k += 1
    return written


def make_folder(workdir: Path, n: int, workers: int) -> Path:
    """``workdir/scale-<n>``: ``n`` JPEG photos of 640-1024 px (made once)."""
    folder = workdir / f"scale-{n}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    print(f"generating {n} photos into {folder} ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    try:
        from undouble.corpus import make_corpus
    except ImportError:
        make_corpus = None
    if make_corpus is not None:
        make_corpus(folder, max(1, n // 8), shots_per_scene=4, copies_per_shot=1, workers=workers)
    else:
        from concurrent.futures import ProcessPoolExecutor

        step = 250
        jobs = [(str(folder), s, min(n, s + step), 20) for s in range(0, n, step)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_chunk, jobs))
    done.write_text(f"{n}\n")
    print(f"generated in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return folder


# --------------------------------------------------------------------------- measuring
def _run(code: str, *args: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="photos in the folder (default 20000)")
    parser.add_argument("--folder", help="use this folder instead of a generated one")
    parser.add_argument("--jobs", type=int, default=2, help="threads of both runs (default 2)")
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", default=os.path.join(os.path.expanduser("~"), ".cache", "undouble-bench"))
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--rules", nargs="+", default=[None],
                        help="JPEG decode rules of undouble.io.jpeg.DECODE_RULES to time in turn (default: the library's)")
    args = parser.parse_args(argv)

    folder = Path(args.folder) if args.folder else make_folder(Path(args.workdir), args.n, args.jobs)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for path in folder.rglob("*.jpg"):  # one read of every file: both runs then find them in the page cache
        path.read_bytes()
    subprocess.run([sys.executable, "-c", "from undouble.warmup import ensure_compiled; ensure_compiled('phash')"],
                   env=env, check=True)
    base, runs = [], {rule: [] for rule in args.rules}
    for _ in range(args.repeat):
        base.append(_run(BASELINE, str(folder), str(args.jobs), env=env))
        for rule in args.rules:
            runs[rule].append(_run(UNDOUBLE, str(folder), str(args.jobs), str(args.threshold),
                                   *([rule] if rule else []), env=env))
    for rule in args.rules:
        _report(args, folder, base, runs[rule], rule)
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": base, "undouble": runs}, indent=1))
    return 0


def _report(args: argparse.Namespace, folder: Path, base: list[dict], ours: list[dict], rule: str | None) -> None:
    b = statistics.median(r["seconds"] for r in base)
    u = statistics.median(r["seconds"] for r in ours)
    g = statistics.median(r["group_s"] for r in ours)
    rss = max(r["rss_mb"] for r in ours)
    last = ours[-1]
    print(f"{folder}: {last['images']} images, phash, threshold {args.threshold}, {args.jobs} threads, "
          f"{args.repeat} runs each (medians), decode rule {rule or 'default'}")
    runs_b = ", ".join("%.2f" % r["seconds"] for r in base)
    runs_u = ", ".join("%.2f" % r["seconds"] for r in ours)
    print(f"  bare cv2.imread REDUCED_COLOR_8 loop  {b:8.2f} s   (runs: {runs_b})")
    print(f"  undouble import+hash+group           {u:8.2f} s   (runs: {runs_u})")
    print(f"    import {statistics.median(r['import_s'] for r in ours):.2f} s, hash "
          f"{statistics.median(r['hash_s'] for r in ours):.2f} s, group {g:.2f} s; {last['groups']} groups; "
          f"feat built: {last['feat']}; images kept: {last['storage']}")
    print(f"  ratio undouble / bare loop           {u / b:8.2f}   (target <= 1.5)")
    cpu_b, cpu_u = (statistics.median(r["cpu_s"] for r in runs) for runs in (base, ours))
    print(f"  process CPU time, undouble / loop    {cpu_u / cpu_b:8.2f}   ({cpu_u:.2f} s / {cpu_b:.2f} s; "
          f"undouble's includes its start-up and imports)")
    print(f"  group()                              {g:8.2f} s   (target <= 2 s)")
    print(f"  peak RSS                             {rss:8.0f} MB  (target < 1000 MB)")


if __name__ == "__main__":
    sys.exit(main())
