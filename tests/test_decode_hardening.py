"""Decoding against hostile files (issue 19): damaged JPEGs, huge files, decoder messages, memory across threads."""
from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading
import time
import zlib

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import undouble.io as uio  # noqa: E402
from undouble import Undouble  # noqa: E402
from undouble.examples import _photo_like  # noqa: E402
from undouble.export import groups_as_dict, write_csv  # noqa: E402
from undouble.io.messages import is_damage  # noqa: E402
from undouble.keeper import rank_keepers  # noqa: E402


# --------------------------------------------------------------------------- files
def _jpeg(pixels: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _claim_rows(data: bytes, rows: int) -> bytes:
    """The same JPEG with a frame header that claims ``rows`` rows (its data holds fewer)."""
    out = bytearray(data)
    sof = out.find(b"\xff\xc0")
    assert sof > 0
    out[sof + 5:sof + 7] = rows.to_bytes(2, "big")
    return bytes(out)


def _cut_with_eoi(data: bytes) -> bytes:
    """The first 60 % of a JPEG's bytes, then an end-of-image marker: the EOI check passes."""
    return data[:int(len(data) * 0.6)] + b"\xff\xd9"


def _png_with_bad_iccp(pixels: np.ndarray) -> bytes:
    """A PNG with an iCCP chunk too short to be a profile: libpng warns, the pixels are fine."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    data = buf.getvalue()
    body = b"bogus\x00\x00" + zlib.compress(b"\x00" * 200)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    return data[:33] + chunk + data[33:]


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(19)
    return [_photo_like(rng, 240, 180) for _ in range(12)]


@pytest.fixture
def hostile(tmp_path, photos):
    """An intact original, its 'taller' copy, a cut copy, a PNG libpng warns about, others.

    The taller copy's header claims 200 rows where its data holds 192 (12 rows of
    16-pixel blocks): libjpeg decodes it with a warning and fills the rest.
    """
    root = tmp_path / "photos"
    root.mkdir()
    original = _jpeg(photos[0])
    (root / "a_original.jpg").write_bytes(original)
    (root / "b_taller.jpg").write_bytes(_claim_rows(original, 200))
    (root / "c_cut.jpg").write_bytes(_cut_with_eoi(_jpeg(photos[1])))
    (root / "d_iccp.png").write_bytes(_png_with_bad_iccp(photos[2]))
    for k, pixels in enumerate(photos[3:], 3):
        (root / f"e_other_{k:02d}.jpg").write_bytes(_jpeg(pixels))
    return root


def _model(root, cache=False, n_jobs=4, verbose=30, threshold=22):
    """Grouped at 22 bits: the taller copy is 18 bits from its original (rows of grey, rescaled)."""
    model = Undouble(method="phash", verbose=verbose, cache=cache, n_jobs=n_jobs)
    model.import_data(str(root))
    model.compute_hash()
    model.group(threshold=threshold)
    return model


def _row(model, name):
    return model.results["pathnames"].index(next(p for p in model.results["pathnames"] if p.endswith(name)))


# --------------------------------------------------------------------------- damaged files
def test_the_messages_that_mean_damage():
    assert is_damage("Corrupt JPEG data: premature end of data segment")
    assert is_damage("Premature end of JPEG file")
    assert is_damage("libpng error: IDAT: CRC error")
    assert not is_damage("libpng warning: iCCP: known incorrect sRGB profile")
    assert not is_damage("libpng warning: iCCP: too short")


@pytest.mark.parametrize("n_jobs", [1, 4])
def test_damaged_files_are_marked_and_their_messages_kept_off_stderr(hostile, capfd, n_jobs):
    model = _model(hostile, n_jobs=n_jobs)
    err = capfd.readouterr().err
    assert "Corrupt JPEG" not in err and "libpng" not in err  # nothing printed in the middle of the bars
    res = model.results
    damaged = {os.path.basename(p) for p, bad in zip(res["pathnames"], res["damaged"]) if bad}
    assert damaged == {"b_taller.jpg", "c_cut.jpg"}
    assert res["damaged"].dtype == bool and res["damaged"].shape == (len(res["pathnames"]),)
    notes = {os.path.basename(p): msgs for p, msgs in res["warnings"].items()}
    assert set(notes) == {"b_taller.jpg", "c_cut.jpg", "d_iccp.png"}  # every message, to its own file
    assert all("Corrupt JPEG data" in " ".join(notes[n]) for n in ("b_taller.jpg", "c_cut.jpg"))
    assert notes["d_iccp.png"] == ["libpng warning: iCCP: too short"]  # a warning, not damage


def test_a_damaged_file_never_wins_the_keeper_rule(hostile):
    model = _model(hostile)
    res = model.results
    group = next(g for g in res["select_pathnames"] if any(p.endswith("a_original.jpg") for p in g))
    assert any(p.endswith("b_taller.jpg") for p in group)  # same picture, 8 grey rows more than the data held
    assert tuple(res["resolution"][_row(model, "b_taller.jpg")]) == (240, 200)  # it has the higher resolution
    assert group[0].endswith("a_original.jpg")  # and still the intact original is kept
    ranks = model._rank_members([_row(model, "a_original.jpg"), _row(model, "b_taller.jpg")])
    assert ranks[0].reason.startswith("the only intact image")
    assert ranks[1].damaged and ranks[1].reason.startswith("damaged")


def test_rank_keepers_puts_damaged_files_after_intact_ones():
    paths = ["big_damaged.jpg", "small.jpg", "mid.jpg"]
    kwargs = dict(resolutions=[(4000, 3000), (800, 600), (1600, 1200)], file_sizes=[10, 10, 10],
                  blur_scores=[1.0, 1.0, 1.0], blur_sizes=[1, 1, 1])
    assert [r.path for r in rank_keepers(paths, **kwargs)][0] == "big_damaged.jpg"
    ranked = rank_keepers(paths, damaged=[True, False, False], **kwargs)
    assert [r.path for r in ranked] == ["mid.jpg", "small.jpg", "big_damaged.jpg"]
    assert [r.damaged for r in ranked] == [False, False, True]
    every = rank_keepers(paths, damaged=[True, True, True], **kwargs)  # all damaged: the usual rule
    assert every[0].path == "big_damaged.jpg"
    with pytest.raises(ValueError):
        rank_keepers(paths, damaged=[True], **kwargs)


def test_damage_is_marked_in_the_export_and_the_plot(hostile):
    import matplotlib.pyplot as plt

    from undouble.plot import plot_groups

    model = _model(hostile)
    data = json.loads(json.dumps(groups_as_dict(model)))
    k = next(i for i, g in enumerate(data["groups"]) if any(p.endswith("b_taller.jpg") for p in g))
    flags = dict(zip(data["groups"][k], data["damaged"][k]))
    assert [flags[p] for p in data["groups"][k] if p.endswith(("a_original.jpg", "b_taller.jpg"))] == [False, True]
    taller = next(p for p in data["groups"][k] if p.endswith("b_taller.jpg"))
    assert "Corrupt JPEG data" in data["warnings"][taller][0]
    buf = io.StringIO()
    write_csv(data, buf)
    rows = [line.split(",") for line in buf.getvalue().splitlines()]
    header = rows[0]
    assert "damaged" in header and "warnings" in header
    name_col, damaged_col = header.index("filename"), header.index("damaged")
    assert [r[damaged_col] for r in rows[1:] if r[name_col] == "b_taller.jpg"] == ["1"]

    figures = plot_groups(model, show=False)
    try:
        titles = [ax.get_title() for fig in figures for ax in fig.axes]
        assert [("DAMAGED" in t) for t in titles if "b_taller" in t] == [True]
        assert not any("DAMAGED" in t for t in titles if "a_original" in t)
    finally:
        for fig in figures:
            plt.close(fig)


def test_damage_and_messages_come_back_from_the_cache(hostile, tmp_path, monkeypatch):
    cache = tmp_path / "hashes.sqlite3"
    first = _model(hostile, cache=cache)
    decoded: list[str] = []
    real = uio.read_image
    monkeypatch.setattr(uio.decode, "read_image", lambda p, *a, **k: decoded.append(p) or real(p, *a, **k))
    second = _model(hostile, cache=cache)
    assert decoded == []
    assert second.results["pathnames"] == first.results["pathnames"]
    assert np.array_equal(second.results["damaged"], first.results["damaged"]) and second.results["damaged"].any()
    assert second.results["warnings"] == first.results["warnings"]
    assert second.results["select_pathnames"] == first.results["select_pathnames"]


def test_the_messages_are_logged_at_debug(hostile, caplog):
    logger = logging.getLogger("undouble")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="undouble"):
            uio.ingest([str(hostile / "c_cut.jpg"), str(hostile / "a_original.jpg")], (8, 8), n_jobs=1)
    finally:
        logger.removeHandler(caplog.handler)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "decoder says" in r.getMessage()]
    assert len(said) == 1 and "c_cut.jpg" in said[0] and "Corrupt JPEG data" in said[0]


def test_unclaimed_stderr_text_is_not_lost(hostile, capfd, monkeypatch):
    """Text that no file claims (another thread of the program) reaches the real stderr after the phase."""
    real = uio.pipeline.measure_decoded
    said = []

    def noisy(*args, **kwargs):  # runs after the decoding: no file may claim what it writes
        if not said:
            said.append(True)
            os.write(2, b"a message from elsewhere\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(uio.pipeline, "measure_decoded", noisy)
    paths = sorted(str(p) for p in hostile.glob("e_other_*.jpg"))
    got = uio.ingest(paths, (8, 8), n_jobs=4)
    assert len(got.paths) == len(paths)
    assert "a message from elsewhere" in capfd.readouterr().err


# --------------------------------------------------------------------------- any size
def test_a_1gib_file_with_a_jpeg_header_and_no_end_is_refused(tmp_path, photos):
    data = _jpeg(photos[0])
    body = data[:-2]  # no end-of-image marker
    assert b"\xff\xd9" not in body[-4096:]
    big = tmp_path / "huge.jpg"
    with open(big, "wb") as fh:
        fh.write(body)
        fh.truncate(1024 ** 3 + 17)  # sparse: zeros, as a disk-filling attacker would write
    assert os.path.getsize(big) > uio.decode._READ_ALL_LIMIT
    with pytest.raises(uio.ImageReadError, match="truncated"):
        uio.read_image(big, (32, 32))
    whole = tmp_path / "huge_but_whole.jpg"  # a complete JPEG followed by junk is still an image
    with open(whole, "wb") as fh:
        fh.write(data)
        fh.truncate(1024 ** 3 + 17)
    decoded = uio.read_image(whole, (32, 32))
    assert (decoded.width, decoded.height) == (240, 180)


# --------------------------------------------------------------------------- memory across threads
def test_byte_budget_bounds_what_is_held_and_serves_in_order():
    budget = uio.ByteBudget(100)
    held, peak, order = [0], [0], []
    lock = threading.Lock()

    def job(name, nbytes):
        with budget.reserve(nbytes):
            with lock:
                held[0] += nbytes
                peak[0] = max(peak[0], held[0])
                order.append(name)
            time.sleep(0.02)
            with lock:
                held[0] -= nbytes

    threads = [threading.Thread(target=job, args=(f"j{k}", n)) for k, n in enumerate([40, 40, 40, 250, 10, 10])]
    for t in threads:
        t.start()
        time.sleep(0.003)  # tickets in this order
    for t in threads:
        t.join()
    assert budget.in_use == 0
    assert peak[0] == 250  # the oversized one ran alone; the others never exceeded 100 together
    assert order == ["j0", "j1", "j2", "j3", "j4", "j5"]


def test_ingest_bounds_the_pixels_decoded_at_once(tmp_path, photos, monkeypatch):
    paths = []
    for k in range(12):
        p = tmp_path / f"img_{k:02d}.jpg"
        p.write_bytes(_jpeg(photos[k]))
        paths.append(str(p))
    cost = {p: 40 for p in paths}
    cost[paths[5]] = 250  # larger than the whole budget: decoded alone
    active, lock = {}, threading.Lock()
    seen = {"bytes": 0, "alone_for_big": True}

    def fake_read(path, dim, max_pixels, backend, reserve=None):
        reserve(cost[path])  # as read_image does once it has read the header
        with lock:
            active[path] = cost[path]
            seen["bytes"] = max(seen["bytes"], sum(active.values()))
            if paths[5] in active and len(active) > 1:
                seen["alone_for_big"] = False
        time.sleep(0.02)
        with lock:
            del active[path]
        return uio.DecodedImage(np.zeros((16, 16, 3), np.uint8), 16, 16, 1, 1)

    monkeypatch.setattr(uio.pipeline, "_read_checked", fake_read)
    got = uio.ingest(paths, (8, 8), n_jobs=6, decode_memory=100, capture_messages=False)
    assert got.paths == paths
    assert seen["alone_for_big"] and seen["bytes"] == 250
    seen["bytes"] = 0  # without the oversized file: never more than the budget at once, yet in parallel
    cost[paths[5]] = 40
    uio.ingest(paths, (8, 8), n_jobs=6, decode_memory=100, capture_messages=False)
    assert 40 < seen["bytes"] <= 100


def test_the_estimate_reads_the_header_and_counts_reduced_jpeg_decoding(tmp_path, photos):
    png = tmp_path / "a.png"
    Image.fromarray(photos[0]).save(png)
    assert uio.decode.decode_bytes_estimate(png) == 240 * 180 * uio.decode.DECODE_BYTES_PER_PIXEL
    big = tmp_path / "big.jpg"
    Image.fromarray(np.zeros((1600, 2400, 3), np.uint8)).save(big, quality=50)
    full = uio.decode.decode_bytes_estimate(big)
    assert full == 2400 * 1600 * uio.decode.DECODE_BYTES_PER_PIXEL
    assert uio.decode.decode_bytes_estimate(big, (32, 32)) == full // 64  # decoded at 1/8
    assert uio.decode.decode_bytes_estimate(big, max_pixels=1000) == 0  # refused before decoding anyway
    assert uio.decode.decode_bytes_estimate(tmp_path / "missing.jpg") == 0


def test_two_imports_at_once_share_the_capture_and_give_stderr_back(hostile, capfd):
    paths = sorted(str(p) for p in hostile.iterdir())
    got: dict[int, object] = {}

    def run(k):
        got[k] = uio.ingest(paths, (8, 8), n_jobs=2)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        flags = {os.path.basename(p) for p, bad in zip(got[k].paths, got[k].damaged) if bad}
        assert flags == {"b_taller.jpg", "c_cut.jpg"}
    assert uio.messages._REDIRECT is None
    os.write(2, b"stderr is back\n")
    err = capfd.readouterr().err
    assert "stderr is back" in err and "Corrupt JPEG" not in err


def test_the_estimate_never_opens_a_pipe(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(uio.decode.decode_bytes_estimate(fifo)), daemon=True)
    worker.start()
    worker.join(10)
    assert done == [0]  # returned at once, without blocking on the pipe


def test_read_image_reserves_the_estimate_before_decoding(tmp_path, photos):
    """The import reserves its memory budget from the header read_image already holds (one opening
    of each file): the figure must be decode_bytes_estimate's, and come before the pixels."""
    files = {"a.png": None, "b.jpg": (32, 32), "c.jpg": None, "d.webp": (32, 32)}
    for name in files:
        Image.fromarray(photos[1]).save(tmp_path / name, quality=90)
    for name, dim in files.items():
        path = str(tmp_path / name)
        calls = []
        decoded = uio.decode.read_image(path, dim, reserve=calls.append)
        assert calls == [uio.decode.decode_bytes_estimate(path, dim)] and calls[0] > 0, name
        assert decoded.pixels.size > 0
    huge = tmp_path / "huge.jpg"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(huge)
    calls = []
    with pytest.raises(uio.ImageReadError, match="too large"):
        uio.decode.read_image(str(huge), None, max_pixels=1000, reserve=calls.append)
    assert calls == []  # refused from the header: nothing reserved, nothing decoded
