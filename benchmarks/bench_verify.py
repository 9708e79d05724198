"""Cost and accuracy of pair verification (undouble.verify) on a generated corpus.

Generates a labelled corpus (undouble.corpus.make_corpus: scenes with several
distinct shots each = hard negatives, plus copies of each shot), decodes every
file at a reduced JPEG scale (as the import does), makes the verification
thumbnails, and verifies

* all pairs within a scene (true copies and same-scene hard negatives), or with
  ``--phash T`` only the pairs within phash distance T (the hash candidates);

then prints: the decode time per image, the thumbnail time per image (and its
ratio to the decode), the verification time per pair for accepted copies and
for hard negatives, pairs/s, thumbnail bytes per image, and the false-accept
rate (hard negatives accepted) and false-reject rate per copy kind.

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_verify.py --scenes 60 --shots 5 --copies 3
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numba
import numpy as np

from undouble.corpus import make_corpus, read_truth
import dataclasses

from undouble._kernels import verify as _k
from undouble.verify import (CHROMA_SIZE, DEFAULT_PARAMS, FINE_OFFSET, FINE_SIZE, GREY_CHROMA, THUMB_BYTES, THUMB_SIZE,
                             make_thumbnail, relation_name, verify_pairs)


def decode(path: str, reduce: int) -> np.ndarray:
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    img = cv2.imread(path, flag)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", help="existing corpus folder with truth.csv (default: generate one)")
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--kinds", default="basic")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reduce", type=int, default=4, choices=(1, 2, 4, 8), help="JPEG decode scale 1/N")
    ap.add_argument("--phash", type=int, default=None, help="verify only pairs within this phash distance")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats of the verification")
    ap.add_argument("--show", type=int, default=5, help="list this many errors of each type")
    args = ap.parse_args(argv)

    tmp = None
    if args.folder:
        truth = Path(args.folder) / "truth.csv"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_verify_")
        t0 = time.perf_counter()
        truth = make_corpus(tmp.name, args.scenes, args.shots, args.copies, kinds=args.kinds, seed=args.seed)
        print(f"corpus: {args.scenes} scenes x {args.shots} shots x (1 + {args.copies} copies) "
              f"generated in {time.perf_counter() - t0:.1f} s")
    rows = read_truth(truth)
    folder = truth.parent
    files = [r[0] for r in rows]
    groups = np.array([r[1] for r in rows])
    labels = np.array([r[2] for r in rows])
    scenes = np.array([g.split("_")[0] for g in groups])
    n = len(files)

    images, sizes = [], np.zeros((n, 2), np.int64)
    t0 = time.perf_counter()
    for k, name in enumerate(files):
        images.append(decode(str(folder / name), args.reduce))
    t_decode = time.perf_counter() - t0
    for k, name in enumerate(files):  # original sizes from the headers (the import knows them)
        sizes[k] = _jpeg_size(folder / name) or (images[k].shape[1] * args.reduce, images[k].shape[0] * args.reduce)
    greys = images
    make_thumbnail(greys[0])
    t0 = time.perf_counter()
    thumbs = np.stack([make_thumbnail(im) for im in greys])
    t_thumb = time.perf_counter() - t0
    # the same records without the fine plane (the first stage's part), timed in the same run
    coarse_out = np.zeros(FINE_OFFSET, np.uint8)
    t0 = time.perf_counter()
    for im in greys:
        _k.thumbnail_record(np.ascontiguousarray(im), THUMB_SIZE, float(GREY_CHROMA), CHROMA_SIZE, coarse_out, 0)
    t_coarse = time.perf_counter() - t0
    print(f"{n} images, decoded at 1/{args.reduce}: decode {1e3 * t_decode / n:.2f} ms/image, "
          f"thumbnail {1e6 * t_thumb / n:.1f} us/image ({100 * t_thumb / t_decode:.1f}% of the decode; "
          f"{1e6 * t_coarse / n:.1f} us/image without the {FINE_SIZE} px fine plane); "
          f"{THUMB_BYTES} bytes/image ({FINE_OFFSET} without the fine plane)")

    # candidate pairs: within a scene (optionally under the phash threshold)
    ii, jj = [], []
    for scene in np.unique(scenes):
        idx = np.flatnonzero(scenes == scene)
        a, b = np.triu_indices(idx.size, 1)
        ii.append(idx[a])
        jj.append(idx[b])
    pi, pj = np.concatenate(ii), np.concatenate(jj)
    if args.phash is not None:
        from undouble.hashes import hash_images
        pre = [cv2.resize(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) if im.ndim == 3 else im, (128, 128),
                          interpolation=cv2.INTER_AREA) for im in greys]
        bits = np.unpackbits(hash_images(pre, "phash").view(np.uint8), axis=1)
        dist = (bits[pi] != bits[pj]).sum(axis=1)
        keep = dist <= args.phash
        print(f"phash <= {args.phash}: {keep.sum()} of {pi.size} within-scene pairs are candidates")
        pi, pj = pi[keep], pj[keep]
    same = groups[pi] == groups[pj]

    verify_pairs(thumbs, sizes, pi[:2], pj[:2])  # compile / load from cache
    best = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = verify_pairs(thumbs, sizes, pi, pj)
        best = min(best, time.perf_counter() - t0)
    threads = numba.get_num_threads()
    first_stage = dataclasses.replace(DEFAULT_PARAMS, fine_blocks=0)
    verify_pairs(thumbs, sizes, pi[:2], pj[:2], first_stage)
    best_first = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res_first = verify_pairs(thumbs, sizes, pi, pj, first_stage)
        best_first = min(best_first, time.perf_counter() - t0)
    print(f"first stage only: {1e6 * best_first / max(1, pi.size):.2f} us/pair, {int(res_first.ok.sum())} accepted; "
          f"with the second stage {1e6 * best / max(1, pi.size):.2f} us/pair ({best / best_first:.2f}x), "
          f"{int(res.ok.sum())} accepted")
    per_pair = best / max(1, pi.size)
    print(f"verify: {pi.size} pairs in {1e3 * best:.1f} ms on {threads} threads = {1e6 * per_pair:.2f} us/pair "
          f"({1e6 * per_pair * threads:.2f} us/pair per core), {pi.size / best:.0f} pairs/s")
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        verify_pairs(thumbs, sizes, pi[:1], pj[:1])
    t_call = (time.perf_counter() - t0) / args.repeat
    print(f"  per-call work on all {n} thumbnails (profiles, block sums): {1e6 * t_call / n:.2f} us/image "
          f"({1e6 * t_call * threads / n:.2f} us per core)")
    same_size = np.all(sizes[pi] == sizes[pj], axis=1)
    for name, mask in (("true copies", same), ("hard negatives", ~same),
                       ("accepted pairs", res.ok), ("rejected pairs", ~res.ok),
                       ("hard negatives of equal size (identity only)", ~same & same_size),
                       ("hard negatives of different sizes (crop search possible)", ~same & ~same_size)):
        if mask.any():
            sub_i, sub_j = pi[mask], pj[mask]
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                verify_pairs(thumbs, sizes, sub_i, sub_j)
            dt = max((time.perf_counter() - t0) / args.repeat - t_call, 0.0) / mask.sum()
            print(f"  {name}: {mask.sum()} pairs, {1e6 * dt:.2f} us/pair after the per-call work ({1e6 * dt * threads:.2f} us per core), "
                  f"verification of one pair = {100 * dt * threads / (t_decode / n):.2f}% of one decode")

    fa = (~same) & res.ok
    with_original = (labels[pi] == "original") | (labels[pj] == "original")
    neg_originals = (~same) & (labels[pi] == "original") & (labels[pj] == "original")
    print(f"false accepts: {fa.sum()} of {(~same).sum()} hard-negative pairs = {100 * fa.sum() / max(1, (~same).sum()):.3f}%"
          f"; between two originals (distinct shots): {(fa & neg_originals).sum()} of {neg_originals.sum()} = "
          f"{100 * (fa & neg_originals).sum() / max(1, neg_originals.sum()):.3f}%")
    print("false rejects per kind: copy vs its original | all pairs within the shot (copy vs copy included):")
    kind_of = np.where(labels[pi] == "original", labels[pj], labels[pi])
    for kind in sorted(set(kind_of[same])):
        m = same & (kind_of == kind)
        mo = m & with_original
        print(f"  {kind:12s} {int((mo & ~res.ok).sum()):4d} of {int(mo.sum()):5d} ({100 * (mo & ~res.ok).sum() / max(1, mo.sum()):5.2f}%)"
              f" | {int((m & ~res.ok).sum()):4d} of {int(m.sum()):5d} ({100 * (m & ~res.ok).sum() / max(1, m.sum()):5.2f}%);"
              f" relations to the original: {dict(Counter(relation_name(r, 0.9).split(' (')[0] for r in res.relation[mo & res.ok]))}")
    tp = int((same & res.ok).sum())
    print(f"pair precision {tp / max(1, res.ok.sum()):.4f}, recall {tp / max(1, same.sum()):.4f} "
          f"(hash-only precision of these pairs {same.mean():.4f})")
    if args.show:
        for title, mask in (("false accepts", fa), ("false rejects", same & ~res.ok)):
            for p in np.flatnonzero(mask)[:args.show]:
                print(f"  {title}: {files[pi[p]]} {files[pj[p]]} similarity {res.similarity[p]:.3f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker (no decode)."""
    data = path.read_bytes()
    k = 2
    while k + 9 < len(data):
        if data[k] != 0xFF:
            return None
        marker = data[k + 1]
        length = int.from_bytes(data[k + 2:k + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[k + 7:k + 9], "big"), int.from_bytes(data[k + 5:k + 7], "big")
        k += 2 + length
    return None


if __name__ == "__main__":
    sys.exit(main())
