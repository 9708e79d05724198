"""Throughput of the Hamming kernels against NumPy and FAISS on the same hashes.

Run:  python benchmarks/bench_distance.py [--quick] [--threads N]

Prints one table: pairs per second (and per CPU-second) for

* the dense N x N matrix: ours vs NumPy ``np.bitwise_count`` on XOR blocks;
* the thresholded search (pairs at distance <= t): our blocked brute force, our
  multi-index join, our automatic choice, NumPy blocks + ``np.nonzero``, and
  FAISS ``IndexBinaryFlat.range_search`` when ``faiss-cpu`` is installed (a
  benchmark-only dependency; the script says so when it is absent).

"Pairs" are the N*(N-1)/2 unordered pairs for every method, so the rates compare
directly.  Each measurement is the best of a few runs (the machine may be shared);
CPU seconds are reported too, since wall time on a busy machine overstates the
cost.  The popcount limit printed first is an estimate:
cores x clock x popcnt instructions per cycle (4 on AMD Zen, 1 on most Intel
cores before Ice Lake); one pair also needs an XOR, a compare and a load, so a
scalar kernel cannot reach it, and ~1-1.5 pairs per cycle per core is the
practical ceiling.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from undouble import distance as D


def cpu_info():
    model, mhz, vendor = platform.processor() or "?", None, ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("?", "x86_64", ""):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("cpu MHz") and mhz is None:
                    mhz = float(line.split(":", 1)[1])
                elif line.startswith("vendor_id"):
                    vendor = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return model, vendor, cores, (mhz or 0.0) / 1000.0


def timed(fn, repeat):
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu, out


def numpy_dense(h):
    n = h.shape[0]
    out = np.empty((n, n), np.uint8)
    step = max(1, (1 << 22) // max(n, 1))
    for i0 in range(0, n, step):
        out[i0:i0 + step] = np.bitwise_count(h[i0:i0 + step, None, :] ^ h[None, :, :]).sum(-1)
    return out


def numpy_pairs(h, t):
    n = h.shape[0]
    got = 0
    step = max(1, (1 << 22) // max(n, 1))
    for i0 in range(0, n, step):
        d = np.bitwise_count(h[i0:i0 + step, None, :] ^ h[None, :, :]).sum(-1)
        ii, jj = np.nonzero(d <= t)
        got += int((jj > ii + i0).sum())
    return got


def faiss_pairs(h, t, threads):
    import faiss

    faiss.omp_set_num_threads(threads)
    codes = np.ascontiguousarray(h.astype(">u8")).view(np.uint8).reshape(h.shape[0], -1)
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(codes)
    lims, _, ids = index.range_search(codes, t + 1)     # FAISS keeps d < radius
    qi = np.repeat(np.arange(h.shape[0]), np.diff(lims).astype(np.int64))
    return int((ids > qi).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sets (for a smoke run)")
    ap.add_argument("--threads", type=int, default=None, help="Numba / FAISS threads")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--popcnt-per-cycle", type=float, default=None)
    args = ap.parse_args()

    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    model, vendor, cores, ghz = cpu_info()
    ppc = args.popcnt_per_cycle or (4.0 if vendor == "AuthenticAMD" else 1.0)
    limit = threads * ghz * 1e9 * ppc
    practical = threads * ghz * 1e9 * 1.33
    print(f"CPU: {model} ({vendor}), {cores} cores available, {ghz:.2f} GHz nominal, "
          f"{threads} Numba threads")
    print(f"popcount limit ~ {threads} x {ghz:.2f} GHz x {ppc:g} popcnt/cycle = "
          f"{limit / 1e9:.1f} G popcnt/s; practical scalar ceiling "
          f"(~4 ALU ops/cycle, 3 per pair) ~ {practical / 1e9:.1f} G pairs/s (64-bit)")
    try:
        import faiss  # noqa: F401
        have_faiss = True
    except ImportError:
        have_faiss = False
        print("FAISS: absent (pip install faiss-cpu to compare)")

    rng = np.random.default_rng(0)
    quick = args.quick
    rows = []

    def add(kind, words, n, t, name, wall, cpu, found):
        pairs = n * (n - 1) / 2
        rows.append((kind, 64 * words, n, t, name, wall, pairs / wall, pairs / max(cpu, 1e-9), found))

    # warm up the compiled kernels (cache=True: loads from disk after the first run)
    for words in (1, 4):
        w = rng.integers(0, 2**64, (3000, words), dtype=np.uint64)
        D.hamming_matrix(w)
        for m in ("brute", "mih", "auto"):
            D.hamming_pairs(w, 10, method=m)
            D.hamming_pairs(w, 40, method=m)

    for words, n_dense, n_pairs, t in ((1, 20000, 50000, 10), (4, 8000, 15000, 40)):
        if quick:
            n_dense, n_pairs = n_dense // 4, n_pairs // 5
        h = rng.integers(0, 2**64, (n_dense, words), dtype=np.uint64)
        wall, cpu, m1 = timed(lambda: D.hamming_matrix(h), args.repeat)
        add("dense", words, n_dense, "-", "undouble hamming_matrix", wall, cpu, None)
        wall, cpu, m2 = timed(lambda: numpy_dense(h), 1)
        add("dense", words, n_dense, "-", "numpy bitwise_count", wall, cpu, None)
        assert np.array_equal(m1, m2)
        del m1, m2

        h = rng.integers(0, 2**64, (n_pairs, words), dtype=np.uint64)
        found = {}
        for name, fn, rep in (
            ("undouble brute force", lambda: len(D.hamming_pairs(h, t, method="brute")[0]), args.repeat),
            ("undouble multi-index", lambda: len(D.hamming_pairs(h, t, method="mih")[0]), args.repeat),
            ("undouble auto", lambda: len(D.hamming_pairs(h, t)[0]), args.repeat),
            ("numpy bitwise_count", lambda: numpy_pairs(h, t), 1),
        ) + ((("faiss range_search", lambda: faiss_pairs(h, t, threads), 1),) if have_faiss else ()):
            wall, cpu, got = timed(fn, rep)
            found[name] = got
            add("pairs", words, n_pairs, t, name, wall, cpu, got)
        assert len(set(found.values())) == 1, f"methods disagree: {found}"

    print()
    hdr = f"{'kernel':<6} {'bits':>4} {'N':>7} {'t':>3}  {'method':<24} {'wall s':>8} {'Gpairs/s':>9} {'Gpairs/cpu-s':>12} {'vs numpy':>9} {'found':>7}"
    print(hdr)
    print("-" * len(hdr))
    base = {}
    for r in rows:
        if r[4].startswith("numpy"):
            base[(r[0], r[1])] = r[6]
    for kind, bits, n, t, name, wall, rate, crate, found in rows:
        ratio = rate / base[(kind, bits)]
        print(f"{kind:<6} {bits:>4} {n:>7} {t:>3}  {name:<24} {wall:>8.3f} {rate / 1e9:>9.3f} "
              f"{crate / 1e9:>12.3f} {ratio:>8.1f}x {'' if found is None else found:>7}")
    brute64 = [r for r in rows if r[0] == "pairs" and r[1] == 64 and r[4] == "undouble brute force"]
    if brute64 and ghz:
        r = brute64[0]
        print(f"\n64-bit brute force: {r[6] / 1e9:.2f} G pairs/s = {r[6] / limit:.0%} of the popcount "
              f"limit, {r[6] / practical:.0%} of the practical scalar ceiling "
              f"({r[7] / 1e9:.2f} G pairs per CPU-second)")
    faiss_rows = {r[1]: r for r in rows if r[4].startswith("faiss")}
    for r in rows:
        if r[4] == "undouble auto" and r[1] in faiss_rows:
            print(f"{r[1]}-bit threshold search: undouble auto is {r[6] / faiss_rows[r[1]][6]:.1f}x FAISS "
                  f"range_search (wall, same threads)")


if __name__ == "__main__":
    main()
