"""End-to-end ingestion benchmark: undouble against undouble 1.4 and a bare OpenCV decoding loop.

Run from the repository root::

    python benchmarks/bench_ingest.py                  # corpus, decoders, end to end
    python benchmarks/bench_ingest.py --accuracy       # reduced vs full decoding, phash bits
    python benchmarks/bench_ingest.py --memory 10000   # peak memory for 10,000 small images

What is measured
----------------
* **Corpus** (generated once into ``--corpus``, default
  ``$TMPDIR/undouble-bench-ingest``): ``--n`` camera-size JPEGs (1.2-12 MP,
  landscape and portrait, quality 85-95, some with an EXIF orientation tag,
  some re-encoded or resized near-duplicates) made from the scikit-image
  photos upscaled with fine texture and sensor noise, plus ``--png`` PNGs
  (1-3 MP).
* **End to end**, each contender in its own fresh process on the same files,
  page cache warm: ``import_data`` + ``compute_hash`` + ``group(threshold=10)``
  (phash, hash_size 8, dim 128 x 128). Time excludes starting Python and
  importing the package; peak memory is the process's maximum RSS.

  - ``undouble`` (this package), ``n_jobs=--jobs``, run by ``--python``
    (default: the interpreter running the benchmark); and the same after an
    untimed one-file job in the same process, so that the kernels are loaded
    before the timed run (the steady state: the difference is what the
    start-up costs a run), and the one-file job alone (the start-up itself).
  - ``undouble 1.4`` (``pip install undouble==1.4.*`` in a separate venv,
    ``--old-python``), its thumbnail cache cleared first (it lives in
    ``tempfile.gettempdir()/clustimage``; the run gets a private TMPDIR).
  - ``bare cv2 loop``: ``cv2.imread(path, IMREAD_REDUCED_COLOR_8)`` on
    ``--jobs`` threads, nothing else: the practical limit.
  - the same loop with each JPEG at the reduction undouble decodes it at (the
    largest of 1/8, 1/4, 1/2 that keeps at least twice ``dim``), PNGs whole:
    what decoding at those scales costs on its own.
  - Numba's own start-up: the first call of a trivial kernel already in
    Numba's cache, in a new process of ``--python`` (its extensions, such as
    rocket-fft, load with it): the part of undouble's start-up that any
    Numba program pays.
* **Decoders**: ``read_image`` with OpenCV (``backend='auto'``) against
  Pillow's ``draft`` (``backend='pillow'``) on the corpus JPEGs, ``--jobs``
  threads.
* **Accuracy** (``--accuracy``): phash (hash_size 8, dim 128) of the reduced
  decoding against the full decoding of every corpus JPEG and of the
  generated example set (``undouble.examples.make_synthetic_set``); and of
  the corpus JPEGs decoded at 1/8 whatever their size, as the bare loop
  decodes them: what a looser rule than "at least twice ``dim``" would cost.
* **Memory** (``--memory N``): ``N`` distinct small JPEGs (320 x 240),
  end to end with ``keep_images`` 'auto' (memory), 'disk' and False.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(1280, 960), (1600, 1200), (2048, 1536), (2592, 1944), (3264, 2448), (4000, 3000)]
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel", "camera", "coins",
          "moon", "page", "text", "hubble_deep_field", "brick", "grass", "gravel", "clock", "horse", "cat"]


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------

def _photos() -> list[np.ndarray]:
    import skimage.data

    out = []
    for name in PHOTOS:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # photos that need a download
            continue
        if img.dtype == np.bool_:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        out.append(np.ascontiguousarray(img[:, :, :3].astype(np.uint8)))
    return out


def camera_like(base: np.ndarray, size: tuple[int, int], rng: np.random.Generator, style: str = "noisy"
                ) -> np.ndarray:
    """A random crop of ``base`` (turned, flipped, re-toned), upscaled to ``size``.

    ``style='noisy'`` adds fine texture and sensor noise (about 1.5 bits per
    pixel at JPEG quality 85-95, like a phone photo of a detailed scene);
    ``'smooth'`` adds only faint noise (a denoised photo of a plain scene,
    about 0.3 bits per pixel).
    """
    import cv2

    base = np.rot90(base, int(rng.integers(4)))
    h, w = base.shape[:2]
    ch, cw = int(h * rng.uniform(0.3, 0.65)), int(w * rng.uniform(0.3, 0.65))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = base[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gamma = rng.uniform(0.6, 1.6)
    lut = np.clip(255.0 * (np.arange(256)[:, None] / 255.0) ** gamma * rng.uniform(0.8, 1.2, (1, 3)), 0, 255)
    crop = np.stack([lut[:, c][crop[:, :, c]] for c in range(3)], axis=2).astype(np.uint8)
    big = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    if style == "noisy":
        texture = cv2.resize(rng.normal(0, 5, (size[1] // 3, size[0] // 3)).astype(np.float32), size)
        big += texture.astype(np.int16)[:, :, None]
        big += rng.integers(-6, 7, big.shape, dtype=np.int8)
    else:
        big += rng.integers(-1, 2, big.shape, dtype=np.int8)
    return np.clip(big, 0, 255).astype(np.uint8)


def _save_jpeg(path: Path, rgb: np.ndarray, quality: int, orientation: int = 1) -> None:
    from PIL import Image

    img = Image.fromarray(rgb)
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        store = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
        img.transpose(store[orientation]).save(path, quality=quality, exif=exif.tobytes())
    else:
        img.save(path, quality=quality)


def generate_corpus(folder: Path, n_jpeg: int, n_png: int, seed: int = 7, style: str = "noisy") -> list[str]:
    """Write the corpus once (a ``.done`` marker records its parameters)."""
    marker = folder / ".done"
    spec = f"{n_jpeg} {n_png} {seed} {style} v2"
    if marker.exists() and marker.read_text() == spec:
        return sorted(str(p) for p in folder.iterdir() if p.suffix in (".jpg", ".png"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    import cv2

    rng = np.random.default_rng(seed)
    photos = _photos()
    start = time.perf_counter()
    k = 0
    while k < n_jpeg:
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        if rng.random() < 0.25:
            w, h = h, w
        rgb = camera_like(photos[int(rng.integers(len(photos)))], (w, h), rng, style)
        orientation = int(rng.choice([1, 1, 1, 1, 1, 1, 1, 3, 6, 8]))
        _save_jpeg(folder / f"IMG_{k:04d}.jpg", rgb, int(rng.integers(85, 96)), orientation)
        k += 1
        if k < n_jpeg and rng.random() < 0.08:  # a near-duplicate: re-encoded, or half size
            small = rgb if rng.random() < 0.5 else cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            _save_jpeg(folder / f"IMG_{k:04d}.jpg", small, 75)
            k += 1
    for j in range(n_png):
        w, h = SIZES[int(rng.integers(0, 3))]
        rgb = camera_like(photos[int(rng.integers(len(photos)))], (w, h), rng, style)
        cv2.imwrite(str(folder / f"SCR_{j:04d}.png"), rgb[:, :, ::-1])
    marker.write_text(spec)
    print(f"generated {n_jpeg} JPEGs and {n_png} PNGs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return sorted(str(p) for p in folder.iterdir() if p.suffix in (".jpg", ".png"))


def describe(paths: list[str]) -> str:
    from PIL import Image

    jpegs = [p for p in paths if p.endswith(".jpg")]
    pixels = sum(np.prod(Image.open(p).size) for p in jpegs)
    size = sum(os.path.getsize(p) for p in jpegs)
    return (f"{len(jpegs)} JPEGs ({pixels / len(jpegs) / 1e6:.1f} MP and {size / len(jpegs) / 1e6:.2f} MB on "
            f"average, {size * 8 / pixels:.2f} bits/pixel) + {len(paths) - len(jpegs)} PNGs")


def warm_page_cache(paths: list[str]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as fh:
            total += len(fh.read())
    return total


# --------------------------------------------------------------------------
# Contenders, each in a fresh process
# --------------------------------------------------------------------------

OURS = """
import json, os, resource, sys, threading, time
folder, jobs, keep = sys.argv[1], int(sys.argv[2]), sys.argv[3]
peak_anon = [0]

def sample_anon():  # anonymous memory (RssAnon): what a memory-mapped store does not count in
    while True:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.02)

threading.Thread(target=sample_anon, daemon=True).start()
keep = {"auto": "auto", "memory": True, "disk": "disk", "none": False}[keep]
from undouble import Undouble
if len(sys.argv) > 4:  # a one-file job first, untimed: the kernels are loaded before the timed run starts
    warm = Undouble(method="phash", hash_size=8, n_jobs=jobs, verbose=30, keep_images=keep)
    warm.import_data(sys.argv[4])
    warm.compute_hash()
    warm.group(threshold=10)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
model = Undouble(method="phash", hash_size=8, n_jobs=jobs, verbose=30, keep_images=keep)
model.import_data(folder)
t1 = time.perf_counter()
model.compute_hash()
t2 = time.perf_counter()
model.group(threshold=10)
t3 = time.perf_counter()
r = model.results
print(json.dumps({"n": len(r["pathnames"]), "skipped": len(r["skipped"]), "seconds": t3 - t0,
                  "import_s": t1 - t0, "hash_s": t2 - t1, "group_s": t3 - t2, "groups": len(r["select_idx"]),
                  "storage": r.get("img_storage"),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_anon_mb": peak_anon[0] / 1024, "base_rss_mb": base / 1024}))
"""

OLD = """
import json, logging, os, resource, sys, time
folder = sys.argv[1]
from undouble import Undouble
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
model = Undouble(method="phash", hash_size=8, dim=(128, 128), verbose=30)
model.import_data(folder)
t1 = time.perf_counter()
model.compute_hash()
t2 = time.perf_counter()
model.group(threshold=10)
t3 = time.perf_counter()
r = model.results
print(json.dumps({"n": len(r["pathnames"]), "seconds": t3 - t0, "import_s": t1 - t0, "hash_s": t2 - t1,
                  "group_s": t3 - t2, "groups": len(r.get("select_pathnames") or []),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "base_rss_mb": base / 1024}))
"""

BARE = """
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
import cv2
folder, jobs = sys.argv[1], int(sys.argv[2])
paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith((".jpg", ".png")))
t0 = time.perf_counter()
with ThreadPoolExecutor(jobs) as pool:
    ok = sum(img is not None for img in pool.map(lambda p: cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_8), paths))
t1 = time.perf_counter()
print(json.dumps({"n": ok, "seconds": t1 - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


BARE_AT_SCALE = """
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
import cv2
with open(sys.argv[1]) as fh:
    jobs_list = json.load(fh)  # [path, imread flag] per file
jobs = int(sys.argv[2])
t0 = time.perf_counter()
with ThreadPoolExecutor(jobs) as pool:
    ok = sum(img is not None for img in pool.map(lambda job: cv2.imread(job[0], job[1]), jobs_list))
t1 = time.perf_counter()
print(json.dumps({"n": ok, "seconds": t1 - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

NUMBA_ALONE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from trivial_kernel import add_one  # a module with one cached njit function, compiled by an earlier process
t0 = time.perf_counter()
add_one(np.zeros(4))
t1 = time.perf_counter()
print(json.dumps({"n": 1, "seconds": t1 - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TRIVIAL_KERNEL = """
from numba import njit


@njit(cache=True)
def add_one(a):
    return a + 1
"""

STEADY = "undouble, kernels loaded before the timed run (steady state)"
AT_SCALE = "bare cv2 loop at undouble's decode scale (1/2, 1/4 or 1/8: at least twice dim)"
NUMBA_START = "Numba's own start-up: first call of a trivial cached kernel in a new process"


def scale_jobs(folder: Path, dim: tuple[int, int] = (128, 128)) -> Path:
    """``[path, flag]`` per file: the ``cv2.imread`` flag of the reduction undouble decodes each JPEG at.

    The same rule as ``undouble.io`` (the largest of 1/8, 1/4, 1/2 that keeps at
    least twice ``dim`` on both axes, in display orientation); PNGs whole.
    Written next to the corpus, read by :data:`BARE_AT_SCALE`.
    """
    import cv2

    from undouble.io import _REDUCED_FLAGS, _reduction_for, jpeg_info

    jobs = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".jpg", ".png")):
        flag = cv2.IMREAD_COLOR
        if path.suffix == ".jpg":
            info = jpeg_info(path.read_bytes())
            target = (dim[1], dim[0]) if info.orientation >= 5 else dim
            flag = _REDUCED_FLAGS[_reduction_for(info.width, info.height, target)]
        jobs.append([str(path), int(flag)])
    out = folder.parent / (folder.name + "-scales.json")
    out.write_text(json.dumps(jobs))
    return out


def numba_alone(python: str, scratch: Path, repeat: int) -> dict:
    """Best of ``repeat`` fresh processes: the first call of a trivial kernel already in Numba's cache."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    (scratch / "trivial_kernel.py").write_text(textwrap.dedent(TRIVIAL_KERNEL))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(scratch / "cache"))
    run_script(python, NUMBA_ALONE, str(scratch), env=env)  # compiles and fills the cache
    return min((run_script(python, NUMBA_ALONE, str(scratch), env=env) for _ in range(repeat)),
               key=lambda r: r["seconds"])


def run_script(python: str, code: str, *args: str, env: dict | None = None, timeout: float = 3600) -> dict:
    proc = subprocess.run([python, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def old_env(scratch: Path) -> dict:
    """A private TMPDIR so that undouble 1.4's thumbnail cache starts empty."""
    tmp = scratch / "old-tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    env = dict(os.environ, TMPDIR=str(tmp), MPLBACKEND="Agg")
    return env


def end_to_end(folder: Path, jobs: int, old_python: str | None, repeat: int,
               python: str = sys.executable) -> list[tuple[str, dict]]:
    best: dict[str, dict] = {}
    one = folder.parent / (folder.name + "-one-file")  # start-up cost: the same job on one small file
    if one.exists():
        shutil.rmtree(one)
    one.mkdir(parents=True)
    first_jpeg = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")[0]
    shutil.copy(first_jpeg, one / first_jpeg.name)
    scales = scale_jobs(folder)
    contenders = [("bare cv2 loop (IMREAD_REDUCED_COLOR_8)", sys.executable, BARE, (str(folder), str(jobs)), None),
                  (AT_SCALE, sys.executable, BARE_AT_SCALE, (str(scales), str(jobs)), None),
                  ("undouble (this package)", python, OURS, (str(folder), str(jobs), "auto"), None),
                  (STEADY, python, OURS, (str(folder), str(jobs), "auto", str(one)), None)]
    for r in range(repeat):  # interleaved, best of `repeat`: the machine is shared
        for name, python, code, args, env in (contenders if r % 2 == 0 else contenders[::-1]):
            res = run_script(python, code, *args, env=env)
            if name not in best or res["seconds"] < best[name]["seconds"]:
                best[name] = res
    rows = list(best.items())
    startup = min((run_script(python, OURS, str(one), str(jobs), "auto") for _ in range(repeat)),
                  key=lambda r: r["seconds"])
    rows.append(("undouble on 1 file (start-up cost)", startup))
    rows.append((NUMBA_START, numba_alone(python, folder.parent / (folder.name + "-numba"), repeat)))
    if old_python:  # once: it is slow
        res = run_script(old_python, OLD, str(folder), env=old_env(folder.parent / (folder.name + "-scratch")))
        rows.append(("undouble 1.4 (pip)", res))
    return rows


def print_table(rows: list[tuple[str, dict]], jobs: int) -> None:
    bare = next(r for n, r in rows if n.startswith("bare"))
    ours = next(r for n, r in rows if n.startswith("undouble (this"))
    print(f"\nEnd to end, {ours['n']} files, {jobs} threads (import_data + compute_hash + group):")
    print("| contender | images/s | seconds | of which import_data | peak RSS (MB) | time / ours |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        ips = r["n"] / r["seconds"]
        rel = (r["seconds"] / ours["seconds"])
        imp = f"{r['import_s']:.1f}" if "import_s" in r else "-"
        print(f"| {name} | {ips:.1f} | {r['seconds']:.1f} | {imp} | {r['peak_rss_mb']:.0f} | {rel:.2f} |")
    print(f"\nours / bare loop time: {ours['seconds'] / bare['seconds']:.2f}x end to end, "
          f"{ours['import_s'] / bare['seconds']:.2f}x for import_data (target <= 1.3); "
          f"ours: import {ours['import_s']:.1f} s, hash {ours['hash_s']:.2f} s, group {ours['group_s']:.2f} s, "
          f"{ours['groups']} groups")
    startup = next((r for n, r in rows if n.startswith("undouble on 1 file")), None)
    steady = next((r for n, r in rows if n == STEADY), None)
    if startup is not None:
        print(f"start-up of undouble in a new process (Numba's init, kernels loaded from its cache), "
              f"measured alone on one file: {startup['seconds']:.2f} s")
    if steady is not None:
        print(f"steady state (the kernels loaded before the timed run): {steady['seconds']:.2f} s, "
              f"ours / bare loop {steady['seconds'] / bare['seconds']:.2f}x; so the start-up costs the full run "
              f"{ours['seconds'] - steady['seconds']:.2f} s (it overlaps the first files' decoding)")
    at_scale = next((r for n, r in rows if n == AT_SCALE), None)
    numba_start = next((r for n, r in rows if n == NUMBA_START), None)
    if at_scale is not None:
        print(f"decoding at undouble's scales alone: {at_scale['seconds'] / bare['seconds']:.2f}x the bare loop's "
              f"time; undouble's steady state / that: "
              f"{(steady or ours)['seconds'] / at_scale['seconds']:.2f}x")
    if numba_start is not None:
        print(f"Numba's own start-up (a trivial cached kernel's first call, this interpreter): "
              f"{numba_start['seconds']:.2f} s")
    old = next((r for n, r in rows if n.startswith("undouble 1.4")), None)
    if old is not None:
        print(f"ours vs undouble 1.4: {old['seconds'] / ours['seconds']:.1f}x faster (target >= 25); "
              f"1.4: import {old['import_s']:.1f} s, hash {old['hash_s']:.2f} s, group {old['group_s']:.2f} s, "
              f"{old['groups']} groups, {old['n']} images")
        room = old["seconds"] / bare["seconds"] / 25
        print(f"the bare loop is {old['seconds'] / bare['seconds']:.1f}x faster than undouble 1.4, so the 25x "
              f"target leaves undouble at most {room:.2f}x the bare loop's time")


# --------------------------------------------------------------------------
# Decoders and accuracy
# --------------------------------------------------------------------------

def decoders(paths: list[str], jobs: int, repeat: int) -> None:
    from undouble.io import map_threads, read_image

    jpegs = [p for p in paths if p.endswith(".jpg")]
    print(f"\nDecoders, read_image(dim=(128, 128)) of {len(jpegs)} JPEGs on {jobs} threads, alternating every "
          f"20 files ({repeat} rounds; the machine is shared):")
    print("| decoder | images/s |")
    print("|---|---:|")
    spent = {"auto": 0.0, "pillow": 0.0}
    for r in range(repeat):
        for b in range(0, len(jpegs), 20):
            batch = jpegs[b:b + 20]
            order = list(spent) if (r + b // 20) % 2 == 0 else list(spent)[::-1]
            for backend in order:
                t = time.perf_counter()
                for _ in map_threads(lambda p: read_image(p, (128, 128), backend=backend), batch, jobs):
                    pass
                spent[backend] += time.perf_counter() - t
    print(f"| OpenCV imdecode IMREAD_REDUCED_COLOR_* (backend='auto') | {repeat * len(jpegs) / spent['auto']:.1f} |")
    print(f"| Pillow draft (backend='pillow') | {repeat * len(jpegs) / spent['pillow']:.1f} |")


def accuracy(paths: list[str], scratch: Path) -> None:
    from types import SimpleNamespace

    import cv2

    from undouble.examples import make_synthetic_set
    from undouble.hashes import hash_image
    from undouble.io import read_image
    from undouble.preprocess import preprocess

    example = scratch / "example-set"
    if not example.exists():
        make_synthetic_set(example)
    examples = sorted(str(p) for p in example.iterdir() if p.suffix in (".jpg", ".png"))

    def at_one_eighth(path: str, dim: tuple[int, int]):  # what the bare loop decodes, whatever the size
        bgr = cv2.imread(path, cv2.IMREAD_REDUCED_COLOR_8)  # EXIF orientation applied by OpenCV
        return SimpleNamespace(pixels=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    jpegs = [p for p in paths if p.endswith(".jpg")]
    sets = [("camera-like corpus JPEGs", jpegs, (128, 128), read_image),
            ("same, always at 1/8 (the bare loop's scale, below twice dim for some sizes)", jpegs, (128, 128),
             at_one_eighth),
            ("example set (make_synthetic_set)", examples, (128, 128), read_image),
            ("example set, dim 32 x 32 (so that 1/2 applies)", examples, (32, 32), read_image)]
    print("\nReduced vs full JPEG decoding, phash hash_size 8 (bits that differ):")
    print("| set | dim | images | decoded reduced | mean | identical | p99 | max |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, files, dim, reader in sets:
        diffs, reduced = [], 0
        for p in files:
            small = reader(p, dim)
            full = read_image(p, None)
            reduced += small.pixels.shape[0] < full.pixels.shape[0]
            a = int(hash_image(preprocess(small.pixels, dim)), 16)
            b = int(hash_image(preprocess(full.pixels, dim)), 16)
            diffs.append(bin(a ^ b).count("1"))
        d = np.asarray(diffs)
        print(f"| {name} | {dim[0]}x{dim[1]} | {len(d)} | {reduced} | {d.mean():.3f} | {np.mean(d == 0) * 100:.1f} % | "
              f"{np.percentile(d, 99):.0f} | {d.max()} |")


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------

def small_corpus(folder: Path, n: int, seed: int = 11) -> None:
    marker = folder / ".done"
    if marker.exists() and marker.read_text() == str(n):
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    import cv2

    rng = np.random.default_rng(seed)
    for i in range(n):
        coarse = rng.integers(0, 256, (int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3), dtype=np.uint8)
        img = cv2.resize(coarse, (320, 240), interpolation=cv2.INTER_CUBIC)
        img = cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"s{i:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    marker.write_text(str(n))


def memory(folder: Path, n: int, jobs: int) -> None:
    small_corpus(folder, n)
    print(f"\nPeak memory, {n} distinct 320 x 240 JPEGs, end to end ({jobs} threads):")
    print("| keep_images | storage | images/s | peak RSS (MB) | peak anonymous RSS (MB) | RSS after importing "
          "undouble (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    for keep in ("auto", "disk", "none"):
        r = run_script(sys.executable, OURS, str(folder), str(jobs), keep)
        print(f"| {keep} | {r['storage']} | {r['n'] / r['seconds']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_anon_mb']:.0f} | {r['base_rss_mb']:.0f} |")
    print("(peak RSS counts the pages of the memory-mapped store, which the kernel can drop at any time; "
          "anonymous RSS does not)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=os.path.join(tempfile.gettempdir(), "undouble-bench-ingest"))
    parser.add_argument("--n", type=int, default=300, help="camera-size JPEGs")
    parser.add_argument("--png", type=int, default=20, help="PNGs")
    parser.add_argument("--style", choices=("noisy", "smooth"), default="noisy", help="JPEG content (entropy)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs undouble end to end (default: this one); for instance a venv "
                             "made with 'pip install .' alone, as a user gets it: without the test extras' SciPy, "
                             "which rocket-fft's Numba hook imports at start-up (about 0.3 s)")
    parser.add_argument("--old-python", default="/tmp/venv-old/bin/python",
                        help="python of a venv with undouble==1.4.* ('' to skip)")
    parser.add_argument("--accuracy", action="store_true", help="only the reduced-decoding accuracy")
    parser.add_argument("--memory", type=int, default=0, help="only the peak memory for this many images")
    parser.add_argument("--no-decoders", action="store_true")
    args = parser.parse_args()
    folder = Path(args.corpus)
    photos = folder / ("photos" if args.style == "noisy" else "photos-smooth")
    if (args.n, args.png) != (300, 20):  # other sizes get their own folder, so the default corpus stays
        photos = photos.with_name(f"{photos.name}-{args.n}-{args.png}")
    paths = generate_corpus(photos, args.n, args.png, style=args.style)
    print(f"Corpus {photos}: {describe(paths)}")
    if args.memory:
        memory(folder / "small", args.memory, args.jobs)
        return
    if args.accuracy:
        accuracy(paths, folder)
        return
    warm_page_cache(paths)
    old = args.old_python if args.old_python and os.path.exists(args.old_python) else None
    if args.old_python and old is None:
        print(f"undouble 1.4 not found at {args.old_python}: skipped", file=sys.stderr)
    if not args.no_decoders:
        decoders(paths, args.jobs, args.repeat)
    rows = end_to_end(photos, args.jobs, old, args.repeat, args.python)
    print_table(rows, args.jobs)


if __name__ == "__main__":
    main()
