"""Cost and accuracy of robust mode (undouble.robust) against the plain run, in one run.

1. **End to end** on a generated corpus (:func:`undouble.corpus.make_corpus`,
   ``kinds='all'``: the usual copies, rotations, mirrors, flips, transposes,
   crops, crops then downscaled, letterboxes, screenshots, stretches, and
   same-scene hard negatives): ``import_data`` + ``compute_hash`` + ``group``
   with ``robust=True`` and with the plain model (``verify=False`` where
   ``Undouble`` has that parameter), phash, threshold 10; the ratio of the two
   wall times (and of their CPU times, all threads: steadier on a shared machine;
   each side the best of ``--repeats`` interleaved runs), the robust stage alone, and pair precision / recall / recall per
   kind of both (:func:`undouble.evaluate.pair_metrics`).
2. **The crop candidate search alone at scale** (``--scale N``, default
   100,000): the window hashes per image (the grid and the content boxes, timed
   on ``--hash-sample`` thumbnails of the corpus, or of smooth random images
   with ``--skip-corpus``), and the multi-index query of ``--query-sample`` images' window
   hashes against an index of N upright hashes (synthetic random hashes),
   extrapolated linearly to all N images; the index's memory.
3. **Unrelated images** (``--unrelated N ...``): generated photo-like scenes with no
   copies, in memory; the window candidates checked per image and the time of
   the robust link search, without the per-image cap (``candidates_per_image``)
   and with it.

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_robust.py --scenes 60 --shots 3 --copies 4
    PYTHONPATH=$PWD python benchmarks/bench_robust.py --folder CORPUS   # truth.csv inside
    PYTHONPATH=$PWD python benchmarks/bench_robust.py --scenes 30 --size-range 3000 4000 --scale 0  # camera photos
    PYTHONPATH=$PWD python benchmarks/bench_robust.py --skip-corpus --scale 100000
    PYTHONPATH=$PWD python benchmarks/bench_robust.py --skip-corpus --scale 0 --unrelated 3000 12000

The end-to-end ratio depends on the photo size: the robust stage works on
thumbnails (about the same cost per file at any size), the import decodes the
files; both are printed per file.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from undouble import Undouble
from undouble import robust as R
from undouble.corpus import make_corpus, read_truth
from undouble.verify import THUMB_BYTES


def _run(folder: Path, robust: bool) -> tuple[Undouble, dict[str, float]]:
    kwargs = {"robust": True} if robust else {}
    if "verify" in inspect.signature(Undouble).parameters and not robust:
        kwargs["verify"] = False
    model = Undouble(method="phash", verbose=40, **kwargs)
    c0 = time.process_time()
    t0 = time.perf_counter()
    model.import_data(str(folder))
    t1 = time.perf_counter()
    model.compute_hash()
    t2 = time.perf_counter()
    t3 = time.perf_counter()
    model.group(threshold=10)  # with robust=True this includes the robust search and verification
    t4 = time.perf_counter()
    times = {"import": t1 - t0, "hash": t2 - t1, "group": t4 - t3}
    times["total"] = sum(times.values())
    times["cpu"] = time.process_time() - c0  # all threads of the process: steadier than wall time on a shared machine
    return model, times


def _metrics(model: Undouble, truth_rows) -> tuple[float, float, dict[str, tuple[int, int]]]:
    names = [Path(p).name for p in model.results["pathnames"]]
    group_of = {f: g for f, g, _ in truth_rows}
    label_of = {f: lab for f, _, lab in truth_rows}
    predicted = np.full(len(names), -1, np.int64)
    for k, members in enumerate(model.results["select_idx"]):
        predicted[np.asarray(members)] = k
    truth_ids = {g: k for k, g in enumerate(sorted(set(group_of.values())))}
    truth = np.array([truth_ids[group_of[f]] for f in names])
    tp = fp = 0
    for k in range(len(model.results["select_idx"])):
        members = np.flatnonzero(predicted == k)
        counts = Counter(truth[members].tolist())
        pairs = len(members) * (len(members) - 1) // 2
        same = sum(c * (c - 1) // 2 for c in counts.values())
        tp += same
        fp += pairs - same
    true_pairs = sum(c * (c - 1) // 2 for c in Counter(truth.tolist()).values())
    # per kind: a copy is found when it shares a group with its original
    original = {group_of[f]: i for i, f in enumerate(names) if label_of[f] == "original"}
    per_kind: dict[str, list[int]] = {}
    for i, f in enumerate(names):
        lab = label_of[f]
        if lab == "original":
            continue
        o = original.get(group_of[f])
        hit = o is not None and predicted[i] >= 0 and predicted[i] == predicted[o]
        per_kind.setdefault(lab, [0, 0])
        per_kind[lab][0] += int(hit)
        per_kind[lab][1] += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return precision, recall, {k: (v[0], v[1]) for k, v in sorted(per_kind.items())}


def end_to_end(folder: Path, repeats: int = 2) -> None:
    rows = read_truth(folder / "truth.csv")
    print(f"corpus {folder}: {len(rows)} files")
    warm = Undouble(method="phash", verbose=40, robust=True)
    warm.import_data(np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8))
    warm.compute_hash()
    warm.group(threshold=10)  # compiles the robust kernels
    results = {}
    for robust in (False, True) * repeats:  # interleaved: the machine is shared
        model, times = _run(folder, robust)
        results.setdefault(robust, []).append((times, model))
    for robust in (False, True):
        best = min(results[robust], key=lambda r: r[0]["total"])
        times, model = best
        p, r, kinds = _metrics(model, rows)
        name = "robust=True" if robust else "plain"
        print(f"\n{name}: " + "  ".join(f"{k} {v:.2f}s" for k, v in times.items() if k != "cpu"))
        print(f"  pair precision {p:.4f}  recall {r:.4f}")
        print("  found per kind: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in kinds.items()))
    plain = min(t["total"] for t, _ in results[False])
    robust_t = min(t["total"] for t, _ in results[True])
    print(f"\nend to end (best of {repeats} each): robust {robust_t:.2f}s / plain {plain:.2f}s = {robust_t / plain:.2f}x")
    plain_cpu = min(t["cpu"] for t, _ in results[False])
    robust_cpu = min(t["cpu"] for t, _ in results[True])
    print(f"CPU time (best of {repeats} each): robust {robust_cpu:.2f}s / plain {plain_cpu:.2f}s = "
          f"{robust_cpu / plain_cpu:.2f}x")
    # the robust stage works on thumbnails (about the same cost per file at any photo size), the import decodes
    # the files (it grows with the photos): their ratio sets the end-to-end ratio
    n = len(rows)
    import_ms = 1e3 * min(t["import"] for t, _ in results[False]) / n
    group_ms = 1e3 * min(t["group"] for t, _ in results[True]) / n
    print(f"per file: import (decoding) {import_ms:.2f} ms, robust group stage {group_ms:.2f} ms")


def candidate_scale(n: int, hash_sample: int, query_sample: int, folder: Path | None = None) -> None:
    rng = np.random.default_rng(0)
    if folder is not None:  # window hashing cost per image on the corpus's own thumbnails
        model = Undouble(method="phash", verbose=40)
        model.import_data(str(folder))
        thumbs = np.asarray(model.results["thumbs"])[:hash_sample]
        hash_sample = thumbs.shape[0]
    else:  # on thumbnails of smooth random images (few content boxes: a lower bound)
        import cv2
        from undouble.verify import make_thumbnails

        imgs = []
        for _ in range(hash_sample):
            grid = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
            imgs.append(np.clip(cv2.resize(grid, (160, 120), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8))
        thumbs = make_thumbnails(imgs)
    R.window_hashes(thumbs[:2])
    R.orientation_hashes(thumbs[:2])
    t0 = time.perf_counter()
    wh, windows = R.window_hashes(thumbs)
    t1 = time.perf_counter()
    R.orientation_hashes(thumbs)
    t2 = time.perf_counter()
    R.content_boxes(thumbs[:2])
    t3 = time.perf_counter()
    boxes, _ = R.content_boxes(thumbs)
    t4 = time.perf_counter()
    per_window_image = (t1 - t0 + t4 - t3) / hash_sample
    per_orient_image = (t2 - t1) / hash_sample
    box_windows = boxes.shape[0] / hash_sample
    print(f"\nper image: {len(windows)} grid window hashes {1e3 * (t1 - t0) / hash_sample:.2f} ms, "
          f"{box_windows:.0f} content-box window hashes {1e3 * (t4 - t3) / hash_sample:.2f} ms, "
          f"8 orientation hashes {1e3 * per_orient_image:.3f} ms; thumbnail record {THUMB_BYTES} bytes")
    upright = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n).astype(np.uint64)
    t0 = time.perf_counter()
    index = R._k.build_index(upright, R._SHIFTS, R._KEYBITS)
    t1 = time.perf_counter()
    index_bytes = sum(part.nbytes for part in index) + upright.nbytes
    per_image = len(windows) + int(round(box_windows))
    queries = rng.integers(0, 2**63, query_sample * per_image, dtype=np.uint64)
    owners = np.repeat(np.arange(query_sample), per_image)
    R.search_pairs(queries[:100], owners[:100], upright, R.DEFAULT_ROBUST.window_threshold,
                   radius=R.DEFAULT_ROBUST.window_radius, index=index)
    t2 = time.perf_counter()
    q, j, d = R.search_pairs(queries, owners, upright, R.DEFAULT_ROBUST.window_threshold,
                             radius=R.DEFAULT_ROBUST.window_radius, index=index)
    t3 = time.perf_counter()
    per_query_image = (t3 - t2) / query_sample
    part_bytes = R.WINDOW_PART * per_image * 8
    print(f"candidate search at N = {n:,}: index build {t1 - t0:.2f}s, index memory {index_bytes / 2**20:.1f} MiB, "
          f"window hashes of one part of {R.WINDOW_PART} images {part_bytes / 2**20:.1f} MiB per thread")
    print(f"  query: {1e3 * per_query_image:.2f} ms per image ({query_sample} images' windows measured, "
          f"{q.size} random hits); extrapolated to all {n:,}: query {n * per_query_image:.0f}s + "
          f"window hashing {n * per_window_image:.0f}s + orientations {n * per_orient_image:.1f}s "
          f"(these parts measured one at a time, on all threads)")
    # the path robust mode runs: window_candidates hashes and queries parts of the containers in one thread per
    # core (BLAS held to one); the sampled thumbnails stand for containers among N random whole-image hashes
    R.window_candidates(thumbs[:2], upright, containers=np.arange(2))
    t0 = time.perf_counter()
    got = R.window_candidates(thumbs, upright, containers=np.arange(hash_sample))
    t1 = time.perf_counter()
    per_candidate_image = (t1 - t0) / hash_sample
    print(f"  window_candidates as robust mode runs it: {1e3 * per_candidate_image:.2f} ms per image "
          f"({hash_sample} containers, {got[0].size} random hits); extrapolated to all {n:,}: "
          f"{n * per_candidate_image:.0f}s + orientations {n * per_orient_image:.1f}s")


def unrelated_scale(sizes: list[int], seed: int = 0) -> None:
    """Robust links among N unrelated photo-like images (synthetic scenes of :mod:`undouble.corpus`, 160-240 px,
    in memory, no copies): window candidates per image and the CPU and wall time of
    :func:`undouble.robust.find_robust_links`, with ``candidates_per_image`` at 0 (no cap) and at its default,
    for each N. Chance window hits per image grow with N; the cap bounds what is checked."""
    import dataclasses

    import cv2
    from undouble import corpus
    from undouble.verify import make_thumbnails

    rng = np.random.default_rng(seed)
    largest = max(sizes)
    imgs = []
    for i in range(largest):
        w, h = int(rng.integers(160, 240)), int(rng.integers(120, 200))
        imgs.append(corpus._finish(corpus._base_canvas(rng, w, h, scene=2 * i + 1), rng))
    thumbs_all = make_thumbnails(imgs)
    sizes_all = np.array([(im.shape[1] * 4, im.shape[0] * 4) for im in imgs])
    small_all = [cv2.resize(im, (128, 128), interpolation=cv2.INTER_AREA) for im in imgs]
    checked = []
    real = R.verify_windows

    def counting(thumbs, sizes, a, *args, **kwargs):
        checked.append(len(a))
        return real(thumbs, sizes, a, *args, **kwargs)

    R.verify_windows = counting
    try:
        R.find_robust_links(thumbs_all[:40], sizes_all[:40], images=small_all[:40], known_groups=np.full(40, -1))
        print("\nunrelated images (no true pairs): window candidates checked per image, find_robust_links time")
        for n in sorted(sizes):
            for limit in (0, R.DEFAULT_ROBUST.candidates_per_image):
                params = dataclasses.replace(R.DEFAULT_ROBUST, candidates_per_image=limit)
                checked.clear()
                c0, w0 = time.process_time(), time.perf_counter()
                links = R.find_robust_links(thumbs_all[:n], sizes_all[:n], params, images=small_all[:n],
                                            known_groups=np.full(n, -1))
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                print(f"  N {n:,}, candidates_per_image {limit}: {sum(checked) / n:.1f} candidates per image, "
                      f"{len(links)} links, CPU {1e3 * cpu / n:.2f} ms per image, wall {wall:.1f}s")
    finally:
        R.verify_windows = real


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", type=Path, help="an existing corpus with truth.csv (default: generate one)")
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--size-range", type=int, nargs=2, default=(640, 1024), metavar=("LO", "HI"),
                    help="longer side of the generated shots in pixels (camera photos: 3000 4000)")
    ap.add_argument("--skip-corpus", action="store_true", help="only the candidate search at scale")
    ap.add_argument("--scale", type=int, default=100_000)
    ap.add_argument("--hash-sample", type=int, default=300)
    ap.add_argument("--query-sample", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each side, interleaved; the best counts")
    ap.add_argument("--unrelated", type=int, nargs="*", default=[], metavar="N",
                    help="also the robust links among N unrelated generated images, each N given (e.g. 3000 12000)")
    args = ap.parse_args(argv)
    if not args.skip_corpus:
        if args.folder is None:
            tmp = Path(tempfile.mkdtemp(prefix="bench_robust_"))
            make_corpus(tmp, args.scenes, shots_per_scene=args.shots, copies_per_shot=args.copies, kinds="all",
                        size_range=tuple(args.size_range), seed=args.seed)
            args.folder = tmp
        end_to_end(args.folder, args.repeats)
    if args.scale:
        candidate_scale(args.scale, args.hash_sample, args.query_sample, args.folder)
    if args.unrelated:
        unrelated_scale(args.unrelated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
