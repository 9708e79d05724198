"""``undouble.hashes.run_in_threads``: chunks on a shared pool, results in order, same as one thread."""
from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from undouble.hashes import base as hashes  # the pool lives in undouble.hashes.base
from undouble.hashes import MIN_IMAGES_PER_THREAD, compute_hashes, run_in_threads


def row_ids(stack: np.ndarray, offset: int) -> np.ndarray:
    """A stand-in kernel: one row per image, its first pixel plus ``offset`` (order is visible)."""
    return stack[:, 0, 0, 0].astype(np.int64)[:, None] + offset


@pytest.fixture
def two_threads():
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    yield numba.get_num_threads()
    numba.set_num_threads(before)


@pytest.mark.parametrize("n", [0, 1, MIN_IMAGES_PER_THREAD - 1, 2 * MIN_IMAGES_PER_THREAD - 1,
                               2 * MIN_IMAGES_PER_THREAD, 2 * MIN_IMAGES_PER_THREAD + 1, 257])
def test_rows_come_back_in_order(n, two_threads):
    stack = (np.arange(n, dtype=np.int64) % 251).astype(np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 3, 3, 3), np.uint8)
    out = run_in_threads(row_ids, stack, 7)
    np.testing.assert_array_equal(out[:, 0], np.arange(n) % 251 + 7)


def test_pool_is_kept_and_remade_after_fork(two_threads, monkeypatch):
    if two_threads < 2:
        pytest.skip("Numba has a single thread here")  # pragma: no cover - CI has two cores
    stack = np.zeros((4 * MIN_IMAGES_PER_THREAD, 2, 2, 3), np.uint8)
    run_in_threads(row_ids, stack, 0)
    first = hashes._POOL
    run_in_threads(row_ids, stack, 0)
    assert hashes._POOL is first  # no new threads per call
    real_pid = hashes.os.getpid()
    monkeypatch.setattr(hashes.os, "getpid", lambda: real_pid + 1)  # as in a forked child
    run_in_threads(row_ids, stack, 0)
    assert hashes._POOL is not first


def test_kernel_errors_reach_the_caller(two_threads):
    def broken(stack):
        raise ValueError("kernel failed")

    with pytest.raises(ValueError, match="kernel failed"):
        run_in_threads(broken, np.zeros((4 * MIN_IMAGES_PER_THREAD, 2, 2, 3), np.uint8))


def test_threads_give_the_hashes_of_one_thread(two_threads):
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 256, (70, 40, 40, 3), dtype=np.uint8)
    numba.set_num_threads(1)
    expected = {m: compute_hashes(stack, m).packed.copy() for m in ("ahash", "phash", "colorhash")}
    numba.set_num_threads(two_threads)
    for method, ref in expected.items():
        np.testing.assert_array_equal(compute_hashes(stack, method).packed, ref)


def test_callers_on_several_threads_share_the_pool(two_threads):
    rng = np.random.default_rng(4)
    stacks = [rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8) for _ in range(4)]
    expected = [compute_hashes(s, "dhash").packed.copy() for s in stacks]
    got: list = [None] * len(stacks)

    def work(i: int) -> None:
        for _ in range(5):
            got[i] = compute_hashes(stacks[i], "dhash").packed.copy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stacks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
