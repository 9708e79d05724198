"""Where the time of a hash and of the preprocessing goes, against reference loops in the same run.

Usage::

    python benchmarks/bench_kernels.py [--n 200] [--repeat 7]

Two tables, on one thread, rounds alternating between the contenders (best
of ``--repeat`` each), printed as markdown:

- **grey Lanczos resize** of ``n`` 128 x 128 RGB crops of the scikit-image
  photos (the images of ``bench_hashes.py``) to 8 x 8 (ahash), 9 x 8 (dhash)
  and 32 x 32 (phash): our grey conversion, our horizontal pass (band
  transposes and taps, on pixel pairs), our whole ``resize_image``, against Pillow's
  ``convert('L').resize(size, LANCZOS)``, the call ImageHash makes.
- **multiply floor** of the same resizes: how many ``vpmaddwd`` (the 16-bit
  multiply-add every stage is built on) one image takes, and how long that
  many take at this machine's own ``vpmaddwd`` rate, measured in the same
  rounds by a loop that does nothing else (eight independent sums, one load
  per eight multiplies). Our whole resize against that floor says how much room
  is left outside the multiplies (counts for AVX2 targets, where
  ``simd.vmadd_pairs`` and the grey conversion are ``vpmaddwd``).
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


def resize_stages(n: int, repeat: int) -> None:
    import numba
    from numba import njit
    from PIL import Image

    from bench_hashes import make_images
    from undouble._kernels.resample import BAND, grey_pairs_into, pair_taps_pass, resize_image, resize_work, transpose_into
    from undouble.hashes import read_only_tables
    from undouble.resample import resize_tables

    numba.set_num_threads(1)
    images = make_images(n)
    pil_images = [Image.fromarray(img) for img in images]

    @njit
    def grey_only(stack, reps, band):
        for _ in range(reps):
            for i in range(stack.shape[0]):
                for y0 in range(0, 128, BAND):
                    grey_pairs_into(stack[i], y0, BAND, band, 64)
        return band

    @njit
    def horizontal_only(reps, count, row_b, row_c, col_b, col_c):
        # the horizontal pass of one image: per band, transpose the grey pixel pairs and run the taps on pairs
        _, pairs, _, band, buf_a, _, _ = resize_work(128, 128, row_b, row_c, col_b, col_c)
        natural = band[BAND * 128:]
        for _ in range(reps):
            for _ in range(count):
                for y0 in range(0, 128, BAND):
                    transpose_into(natural, BAND, 64, 64, band, BAND)
                    pair_taps_pass(band, BAND, BAND, pairs[0], buf_a, y0 // 2, 64, row_b.shape[0], True)
        return buf_a

    @njit
    def whole_resize(stack, reps, row_b, row_c, col_b, col_c, vertical_first):
        h_taps, pairs, v_taps, band, buf_a, buf_b, small = resize_work(128, 128, row_b, row_c, col_b, col_c)
        for _ in range(reps):
            for i in range(stack.shape[0]):
                resize_image(stack[i], row_b, h_taps, pairs, col_b, v_taps, vertical_first, band, buf_a, buf_b, small,
                             small.shape[0])
        return small

    reps = 5
    print(f"\n### Grey Lanczos resize of 128 x 128 RGB, 1 thread (n = {n})\n")
    print("Ours by stage, and whole, against Pillow's `convert('L').resize(size, LANCZOS)` on the same images "
          "(the call ImageHash makes), rounds alternating.\n")
    multiply_loop, loop_multiplies = vpmaddwd_loop()
    rates = []
    print("| to | grey conversion (us) | horizontal pass, transposes included (us) | our whole resize (us) "
          "| Pillow (us) | speed-up | vpmaddwd per image | their time at the machine's rate (us) "
          "| whole resize / that floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    band = np.zeros(2 * BAND * 128 + 8, np.int32)
    for size in [(8, 8), (9, 8), (32, 32)]:
        tables = read_only_tables(resize_tables((128, 128), size))
        best = best_of_rounds({
            "grey": lambda: grey_only(images, reps, band),
            "horizontal": lambda: horizontal_only(reps, n, *tables[:4]),
            "resize": lambda: whole_resize(images, reps, *tables),
            "pillow": lambda: [im.convert("L").resize(size, Image.Resampling.LANCZOS) for im in pil_images],
            "multiplies": multiply_loop,  # the machine's vpmaddwd rate, in the same rounds
        }, repeat)
        rate = loop_multiplies / best["multiplies"]
        rates.append(rate)
        ours = {name: best[name] / (reps * n) * 1e6 for name in ("grey", "horizontal", "resize")}
        pillow = best["pillow"] / n * 1e6
        multiplies = resize_multiplies(tables)
        floor = multiplies / rate * 1e6
        print(f"| {size[0]} x {size[1]} | {ours['grey']:.2f} | {ours['horizontal']:.2f} | {ours['resize']:.2f} "
              f"| {pillow:.1f} | {pillow / ours['resize']:.1f}x | {multiplies} | {floor:.2f} "
              f"| {ours['resize'] / floor:.2f} |")
    print(f"\nThe machine's vpmaddwd rate, one thread, in these rounds: "
          f"{min(rates) / 1e9:.2f}-{max(rates) / 1e9:.2f} per ns.")


def vpmaddwd_loop() -> tuple[Callable[[], object], int]:
    """A loop that does ``vpmaddwd`` and nothing else, and how many it does: the machine's multiply rate.

    Eight independent multiply-add chains on one thread: each iteration loads
    one vector (it changes every iteration, so nothing can be hoisted out of
    the loop) and multiplies it by eight different constant vectors into
    eight sums, so the multiplies, not the loads or the adds' latency, set
    the pace.
    """
    from numba import njit

    from undouble._kernels.simd import vload, vmadd_pairs, vstore

    @njit
    def chains(n, src, dst):
        w0, w1, w2, w3 = vload(src, 128), vload(src, 136), vload(src, 144), vload(src, 152)
        w4, w5, w6, w7 = vload(src, 160), vload(src, 168), vload(src, 176), vload(src, 184)
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = vload(src, 192)
        for i in range(n):
            v = vload(src, (i & 15) * 8)
            a0 = vmadd_pairs(a0, v, w0)
            a1 = vmadd_pairs(a1, v, w1)
            a2 = vmadd_pairs(a2, v, w2)
            a3 = vmadd_pairs(a3, v, w3)
            a4 = vmadd_pairs(a4, v, w4)
            a5 = vmadd_pairs(a5, v, w5)
            a6 = vmadd_pairs(a6, v, w6)
            a7 = vmadd_pairs(a7, v, w7)
        for k, a in enumerate((a0, a1, a2, a3, a4, a5, a6, a7)):
            vstore(dst, 8 * k, a)
        return dst

    src = np.arange(200, dtype=np.int32)
    dst = np.zeros(64, dtype=np.int32)
    iterations = 1_000_000
    return (lambda: chains(iterations, src, dst)), 8 * iterations


def resize_multiplies(tables: tuple, height: int = 128, width: int = 128) -> int:
    """``vpmaddwd`` of one ``resize_image`` of an RGB ``height x width`` image, horizontal pass first.

    Grey conversion: four per 16 pixels of the rows the result needs;
    each pass: two per pair of taps (the high and low parts) per 8 columns
    or rows of vectors (``pair_taps_pass``).
    """
    from undouble._kernels.resample import pair_taps

    row_b, row_c, col_b, col_c, vertical_first = tables
    assert not vertical_first and row_b.shape[0] > 0 and col_b.shape[0] > 0
    w_out = row_b.shape[0]
    need = int((col_b[:, 0] + col_b[:, 1]).max())
    need_p = (need + 7) // 8 * 8
    wop = (w_out + 7) // 8 * 8
    h_pairs = int(pair_taps(row_b, row_c.astype(np.int32))[:, 1].sum())
    v_pairs = int(pair_taps(col_b, col_c.astype(np.int32))[:, 1].sum())
    grey = 4 * (need * width // 16)
    return grey + 2 * h_pairs * (need_p // 8) + 2 * v_pairs * (wop // 8)


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
    resize_stages(args.n, args.repeat)
    area_resize(args.repeat)


if __name__ == "__main__":
    main()
