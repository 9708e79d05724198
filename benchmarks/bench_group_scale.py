"""group_hashes at scale: 10k, 100k and 1M random 64-bit hashes with planted
near-duplicate clusters, threshold 10.

Run:  python benchmarks/bench_group_scale.py [--sizes 10000,100000,1000000]

Each size runs in a fresh subprocess so that its peak memory is its own.  About
2% of the images belong to planted clusters of 2-5 copies of a random centre with
at most 5 bits flipped each (so every planted pair is within 10).  Reported per
size: wall and CPU time of ``group_hashes(h, 10)``, peak resident memory above
the resident memory once the hashes exist (``ru_maxrss``; includes everything the
call allocates, Numba's included), the tracemalloc peak (NumPy allocations
only), the groups found, and whether every planted pair ended up in one group.
Random 64-bit hashes also meet by chance: about N^2/2 * P(d <= 10) ~ 4e-9 N^2
extra pairs, which form the extra groups.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def run_one(n: int, threshold: int, seed: int) -> dict:
    import resource
    import tracemalloc

    import numpy as np

    from undouble.grouping import group_hashes

    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64, (n, 1), dtype=np.uint64)
    # planted clusters: ~2% of the rows, sizes 2..5, <= 5 flips from the centre
    planted = []
    pos = 0
    rows = rng.permutation(n)
    budget = int(0.02 * n)
    while pos < budget:
        k = int(rng.integers(2, 6))
        members = rows[pos:pos + k]
        pos += k
        centre = h[members[0], 0]
        for m in members[1:]:
            flips = rng.choice(64, size=int(rng.integers(0, 6)), replace=False)
            v = centre
            for b in flips:
                v ^= np.uint64(1) << np.uint64(int(b))
            h[m, 0] = v
        planted.append(np.sort(members))
    # warm-up: compiled kernels load from the cache before the measurement
    group_hashes(h[:5000], threshold, memory_budget=0)
    group_hashes(h[:3000], threshold)

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    base_rss = rss_mib()
    tracemalloc.start()
    c0, w0 = time.process_time(), time.perf_counter()
    groups = group_hashes(h, threshold)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    label = np.full(n, -1, np.int64)
    for g_id, g in enumerate(groups):
        label[g] = g_id
    found = sum(1 for p in planted if label[p[0]] >= 0 and np.all(label[p] == label[p[0]]))
    return {
        "n": n, "threshold": threshold, "wall_s": wall, "cpu_s": cpu,
        "peak_rss_above_hashes_mib": peak_rss - base_rss, "tracemalloc_peak_mib": traced_peak / 2**20,
        "hashes_mib": h.nbytes / 2**20, "groups": len(groups),
        "images_in_groups": int(sum(len(g) for g in groups)),
        "planted_clusters": len(planted), "planted_clusters_found_whole": found,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--threshold", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.threshold, args.seed)))
        return

    import numba

    print(f"group_hashes(h, {args.threshold}) on random 64-bit hashes with planted clusters; "
          f"{numba.get_num_threads()} Numba threads")
    hdr = (f"{'N':>9} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'np MiB':>8} {'groups':>7} "
           f"{'planted':>8} {'found':>7}")
    print(hdr)
    print("-" * len(hdr))
    for n in (int(x) for x in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--threshold",
                              str(args.threshold), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok = "all" if r["planted_clusters_found_whole"] == r["planted_clusters"] else "MISSED"
        print(f"{r['n']:>9} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} "
              f"{r['peak_rss_above_hashes_mib']:>9.1f} {r['tracemalloc_peak_mib']:>8.1f} "
              f"{r['groups']:>7} {r['planted_clusters']:>8} {ok:>7}", flush=True)
    print("peak MiB: resident memory above the process once the hashes exist "
          "(hashes: 8 bytes per image); np MiB: tracemalloc peak of NumPy allocations")


if __name__ == "__main__":
    main()
