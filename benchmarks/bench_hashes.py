"""Hash throughput of undouble against ImageHash, and Numba's first-call cost.

Usage::

    python benchmarks/bench_hashes.py [--n 200] [--methods phash dhash ...] [--repeat 7]
                                      [--skip-compile]

For every method of ``undouble.hashes.METHODS`` (those not built yet are
skipped with a note) it times, on ``n`` 128 x 128 RGB arrays cut from the
photos bundled with scikit-image:

- ours on one thread (``numba.set_num_threads(1)``) and on all threads, one
  batch call on the whole stack, and ImageHash's function on
  ``PIL.Image.fromarray`` images made beforehand (the decode/convert to PIL
  is not timed) over all images, in alternating rounds (``--repeat``; for
  ImageHash at least 2 and then while it has taken under ``REF_BUDGET_S``),
  best of each: a change in the machine's load hits both sides alike;
- how many of our hashes are identical to ImageHash's.

Then, in subprocesses, the first call (import + compilation or cache load) of
each method with a cold Numba cache (``NUMBA_CACHE_DIR`` = a fresh temporary
folder) and again with that warm cache.

Prints markdown tables to stdout. Needs the test extras (ImageHash,
PyWavelets, scikit-image).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np

SIZE = 128
REF_BUDGET_S = 8.0  # seconds of ImageHash timing per method, beyond its first two rounds
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "rocket", "brick", "clock")


def make_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` RGB 128 x 128 uint8 images: random crops of real photos, Lanczos-resized."""
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB") for name in PHOTOS]
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        w, h = photo.size
        side = int(rng.integers(min(w, h) // 3, min(w, h) + 1))
        x = int(rng.integers(0, w - side + 1))
        y = int(rng.integers(0, h - side + 1))
        crop = photo.crop((x, y, x + side, y + side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        out[i] = np.asarray(crop)
    return out


def reference_functions() -> dict[str, Callable]:
    """ImageHash's function (PIL image -> hash object) per method name."""
    import imagehash

    return {
        "ahash": imagehash.average_hash,
        "dhash": imagehash.dhash,
        "dhash_vertical": imagehash.dhash_vertical,
        "phash": imagehash.phash,
        "phash_simple": imagehash.phash_simple,
        "whash-haar": lambda im: imagehash.whash(im, mode="haar"),
        "whash-db4": lambda im: imagehash.whash(im, mode="db4"),
        "colorhash": imagehash.colorhash,
        "crop-resistant": imagehash.crop_resistant_hash,
    }


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput(methods: list[str], n: int, repeat: int) -> list[dict]:
    """Time ours (1 thread, all threads) and ImageHash per method."""
    import numba
    from PIL import Image

    from undouble.hashes import compute_hashes

    images = make_images(n)
    pil_images = [Image.fromarray(img) for img in images]
    refs = reference_functions()
    all_threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    for method in methods:
        try:
            compute_hashes(images[:2], method)  # compile or load the cache
        except NotImplementedError as exc:
            print(f"note: skipping {method}: {exc}")
            continue
        batch = compute_hashes(images, method)
        ref = refs[method]
        ref_hashes = [str(ref(im)) for im in pil_images]
        # Rounds alternate ours (1 thread, all threads) and ImageHash, best of
        # each kept, so that a change in the machine's load hits both sides.
        # ImageHash is timed in every round while it has used less than
        # REF_BUDGET_S (crop-resistant: about 0.3 s an image), at least twice.
        t_one = t_all = t_ref = float("inf")
        ref_spent = 0.0
        for r in range(repeat):
            numba.set_num_threads(1)
            t_one = min(t_one, best_time(lambda: compute_hashes(images, method), 1))
            numba.set_num_threads(all_threads)
            t_all = min(t_all, best_time(lambda: compute_hashes(images, method), 1))
            if r < 2 or ref_spent < REF_BUDGET_S:
                t = best_time(lambda: [ref(im) for im in pil_images], 1)
                ref_spent += t
                t_ref = min(t_ref, t)
        same = sum(batch.hex(i) == r for i, r in enumerate(ref_hashes))
        rows.append({"method": method, "bits": batch.nbits, "one": t_one / n * 1e6,
                     "all": t_all / n * 1e6, "ref": t_ref / n * 1e6, "same": same, "n": n,
                     "threads": all_threads})
    return rows


_FIRST_CALL = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from undouble.hashes import compute_hashes
t1 = time.perf_counter()
img = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
status = "ok"
try:
    compute_hashes(img, sys.argv[1])
except NotImplementedError:
    status = "not built"
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "status": status}))
"""


def first_call(method: str, cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    proc = subprocess.run([sys.executable, "-c", _FIRST_CALL, method], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_costs(methods: list[str]) -> list[dict]:
    """First call of each method in a fresh process: cold Numba cache, then warm."""
    rows = []
    for method in methods:
        with tempfile.TemporaryDirectory(prefix="undouble-numba-") as cache_dir:
            cold = first_call(method, cache_dir)
            if cold["status"] != "ok":
                print(f"note: skipping {method} (first call): {cold['status']}")
                continue
            warm = first_call(method, cache_dir)
        rows.append({"method": method, "cold": cold["first"], "warm": warm["first"],
                     "import": warm["import"]})
    return rows


def print_throughput(rows: list[dict]) -> None:
    if not rows:
        return
    n, threads = rows[0]["n"], rows[0]["threads"]
    print(f"\n### Time per 128 x 128 RGB image (n = {n}, {threads} threads available)\n")
    print("| method | bits | ours, 1 thread (us) | ours, %d threads (us) | ImageHash (us) "
          "| speed-up 1 thread | speed-up %d threads | identical to ImageHash |" % (threads, threads))
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['bits']} | {r['one']:.1f} | {r['all']:.1f} | {r['ref']:.1f} "
              f"| {r['ref'] / r['one']:.1f}x | {r['ref'] / r['all']:.1f}x | {r['same']}/{r['n']} |")


def print_compile(rows: list[dict]) -> None:
    if not rows:
        return
    print("\n### First call in a new process (2 images; import excluded)\n")
    print("| method | cold Numba cache (s) | warm cache (s) |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['cold']:.2f} | {r['warm']:.2f} |")
    print(f"\n`import undouble.hashes` (warm): {np.median([r['import'] for r in rows]):.2f} s")


def main(argv: list[str] | None = None) -> None:
    from undouble.hashes import METHODS, canonical_method

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), help="methods to time (default: all)")
    parser.add_argument("--repeat", type=int, default=7,
                        help="repeats of our batch call, best kept (default 7: the machine is noisy)")
    parser.add_argument("--skip-compile", action="store_true", help="do not measure the first-call cost")
    args = parser.parse_args(argv)
    methods = [canonical_method(m) for m in args.methods]

    print_throughput(throughput(methods, args.n, args.repeat))
    if not args.skip_compile:
        print_compile(compile_costs(methods))


if __name__ == "__main__":
    main()
