"""Where the time of a hash and of the preprocessing goes, against reference loops in the same run.

Usage::

    python benchmarks/bench_kernels.py [--n 200] [--repeat 7]

Two tables, on one thread, rounds alternating between the contenders (best
of ``--repeat`` each), printed as markdown:

- **ahash stages** on ``n`` 128 x 128 RGB crops of the scikit-image photos
  (the images of ``bench_hashes.py``): Pillow's grey conversion
  (``grey_into``), the 128 -> 8 Lanczos horizontal pass
  (``horizontal_pass``, padded taps), the whole resize, against a plain
  Numba loop of four int32 dot products sharing their taps (the shape of
  the horizontal pass without its bookkeeping): the multiply-add rate that
  loop reaches is the ceiling the pass is compared with.
- **area resize** to 128 x 128 (``undouble.preprocess.resize_area``, the
  preprocessing of every decoded file) against ``cv2.resize(...,
  INTER_AREA)`` on RGB images of the sizes reduced JPEG decoding gives.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def best_of_rounds(contenders: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each contender, rounds alternating between them."""
    for fn in contenders.values():
        fn()  # compile or warm up
    best = {name: float("inf") for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def ahash_stages(n: int, repeat: int) -> None:
    import numba
    from numba import njit

    from bench_hashes import make_images
    from undouble._kernels.resample import grey_into, horizontal_pass, resize_image, resize_work
    from undouble.hashes import read_only_tables
    from undouble.resample import resize_tables

    numba.set_num_threads(1)
    images = make_images(n)
    tables = read_only_tables(resize_tables((128, 128), (8, 8)))

    @njit
    def grey_only(stack, reps):
        grey = np.zeros(128 * 128 + 128, np.int32)
        for _ in range(reps):
            for i in range(stack.shape[0]):
                grey_into(stack[i], grey, 128)
        return grey

    @njit
    def horizontal_only(stack, reps, row_b, row_c, col_b, col_c):
        h_starts, h_taps, _, _, grey, tmp, _ = resize_work(128, 128, row_b, row_c, col_b, col_c)
        grey_into(stack[0], grey, 128)
        for _ in range(reps):
            for i in range(stack.shape[0]):
                horizontal_pass(grey, 128, 128, h_starts, h_taps, tmp, 1, 128)
        return tmp

    @njit
    def whole_resize(stack, reps, row_b, row_c, col_b, col_c):
        h_starts, h_taps, v_starts, v_taps, grey, tmp, small = resize_work(128, 128, row_b, row_c, col_b, col_c)
        for _ in range(reps):
            for i in range(stack.shape[0]):
                resize_image(stack[i], h_starts, h_taps, col_b, v_starts, v_taps, False, grey, tmp, small, 8)
        return small

    @njit
    def four_dots(a, b, c, d, k, reps):
        total = np.int32(0)
        for r in range(reps):
            x0 = np.int32(0)
            x1 = np.int32(0)
            x2 = np.int32(0)
            x3 = np.int32(0)
            for t in range(k.shape[0]):
                w = k[t]
                x0 = np.int32(x0 + a[t] * w)
                x1 = np.int32(x1 + b[t] * w)
                x2 = np.int32(x2 + c[t] * w)
                x3 = np.int32(x3 + d[t] * w)
            total = np.int32(total + x0 + x1 + x2 + x3 + r)
        return total

    reps = 5
    length = 1024  # cache-resident
    rng = np.random.default_rng(0)
    a, b, c, d, k = (rng.integers(0, 256, length).astype(np.int32) for _ in range(5))
    dot_reps = 20000
    h_starts, h_taps = resize_work(128, 128, *tables[:4])[:2]
    macs_per_image = 128 * h_starts.shape[0] * h_taps.shape[1]
    best = best_of_rounds({
        "grey": lambda: grey_only(images, reps),
        "horizontal": lambda: horizontal_only(images, reps, *tables[:4]),
        "resize": lambda: whole_resize(images, reps, *tables[:4]),
        "dots": lambda: four_dots(a, b, c, d, k, dot_reps),
    }, repeat)
    per_image = {name: best[name] / (reps * n) * 1e6 for name in ("grey", "horizontal", "resize")}
    ceiling = 4 * length * dot_reps / best["dots"]
    pass_rate = macs_per_image / (per_image["horizontal"] * 1e-6)
    print(f"\n### ahash stages, 1 thread (n = {n}, 128 x 128 RGB)\n")
    print("| stage | us per image | int32 multiply-adds/s |")
    print("|---|---:|---:|")
    print(f"| grey conversion (16,384 pixels) | {per_image['grey']:.2f} | |")
    print(f"| 128 -> 8 horizontal pass ({macs_per_image:,} multiply-adds) | {per_image['horizontal']:.2f} "
          f"| {pass_rate / 1e9:.1f} G |")
    print(f"| whole resize (grey, both passes) | {per_image['resize']:.2f} | |")
    print(f"| plain loop: four int32 dots sharing taps, {length} long | | {ceiling / 1e9:.1f} G |")
    print(f"\nThe pass runs at {pass_rate / ceiling:.0%} of the plain loop's rate; at that rate it would take "
          f"{macs_per_image / ceiling * 1e6:.2f} us.")


def area_resize(repeat: int) -> None:
    import cv2

    from undouble.preprocess import resize_area

    cv2.setNumThreads(1)
    rng = np.random.default_rng(1)
    print("\n### Area resize to 128 x 128, RGB, 1 thread\n")
    print("| input | ours (us) | cv2 INTER_AREA (us) | speed-up |")
    print("|---|---:|---:|---:|")
    for height, width in [(243, 324), (375, 500), (480, 640), (1000, 1000)]:
        img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        calls = 100
        best = best_of_rounds({
            "ours": lambda: [resize_area(img, (128, 128)) for _ in range(calls)],
            "cv2": lambda: [cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA) for _ in range(calls)],
        }, repeat)
        ours, ref = best["ours"] / calls * 1e6, best["cv2"] / calls * 1e6
        print(f"| {width} x {height} | {ours:.0f} | {ref:.0f} | {ref / ours:.1f}x |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    ahash_stages(args.n, args.repeat)
    area_resize(args.repeat)


if __name__ == "__main__":
    main()
