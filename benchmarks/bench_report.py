"""Time to build the HTML report of a few hundred groups, and to render it in headless chromium.

    PYTHONPATH=$PWD python benchmarks/bench_report.py [--originals 400] [--dups 250] [--folder DIR]

Prints the seconds for: the thumbnails read from the files with reduced decoding
on all cores (what write_report does), the same on one thread, the same read at
full size (no reduced decoding), the whole write_report (embedded and as files),
and chromium's --dump-dom of the page (start-up included) against that of an empty page.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

from undouble import Undouble
from undouble.examples import make_synthetic_set
from undouble.thumbnail import encode_jpeg, fit_long_side, model_thumbnails


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    took = time.perf_counter() - start
    print(f"{label:<48s} {took:7.2f} s")
    return out, took


def chromium(url: str) -> float:
    browser = shutil.which("chromium")
    if browser is None:
        return float("nan")
    with tempfile.TemporaryDirectory() as profile:
        start = time.perf_counter()
        subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={profile}",
                        "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--originals", type=int, default=400)
    parser.add_argument("--dups", type=int, default=250)
    parser.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "undouble-bench-report"))
    args = parser.parse_args()
    photos = os.path.join(args.folder, f"photos-{args.originals}-{args.dups}")
    if not os.path.isdir(photos):
        make_synthetic_set(photos, n_originals=args.originals, n_with_duplicates=args.dups, seed=3)
    model = Undouble(verbose=30)
    model.import_data(photos)
    model.compute_hash()
    model.group(threshold=10)
    rows = sorted({int(i) for idx in model.results["select_idx"] for i in idx})
    print(f"{len(model.results['select_idx'])} groups, {len(rows)} images, {os.cpu_count()} cores")
    encode = lambda t: encode_jpeg(t, 80)  # noqa: E731
    _, threads = timed("thumbnails, reduced decoding, all cores", model_thumbnails, model, rows, 160, None, encode)
    _, one = timed("thumbnails, reduced decoding, 1 thread", model_thumbnails, model, rows, 160, 1, encode)

    def full_size(i: int) -> bytes:
        from undouble.io import read_image

        return encode_jpeg(fit_long_side(read_image(model.results["pathnames"][i]).pixels, 160), 80)

    _, full = timed("thumbnails, full-size decoding, 1 thread", lambda: [full_size(i) for i in rows])
    page = os.path.join(args.folder, "report.html")
    _, embed = timed("write_report, embedded", model.report, page)
    timed("write_report, files beside", model.report, os.path.join(args.folder, "report-files.html"), "files")
    print(f"page size {os.path.getsize(page) / 1e6:.1f} MB")
    empty = os.path.join(args.folder, "empty.html")
    with open(empty, "w") as fh:
        fh.write("<html><body>x</body></html>")
    base = chromium("file://" + empty)
    full_page = chromium("file://" + page)
    print(f"{'chromium --dump-dom, empty page':<48s} {base:7.2f} s")
    print(f"{'chromium --dump-dom, the report (page 1 of 50)':<48s} {full_page:7.2f} s")
    print(f"ratios: 1 thread / all cores {one / threads:.2f}; full-size / reduced (1 thread) {full / one:.2f}; "
          f"report {embed / len(model.results['select_idx']) * 1000:.1f} ms per group")


if __name__ == "__main__":
    main()
