"""Orientation of many thumbnail records at once (undouble.robust_orient.orient_thumbnails) against one at a time."""
from __future__ import annotations

import numpy as np
import pytest

from undouble import robust_orient as R
from undouble.verify import THUMB_BYTES


def test_orient_thumbnails_equals_orient_thumbnail_of_each_record():
    rng = np.random.default_rng(7)
    records = rng.integers(0, 256, (40, THUMB_BYTES)).astype(np.uint8)
    orientations = rng.integers(0, 8, 40)
    orientations[:8] = np.arange(8)  # every orientation at least once
    got = R.orient_thumbnails(records, orientations)
    want = np.stack([R.orient_thumbnail(r, int(o)) for r, o in zip(records, orientations)])
    assert np.array_equal(got, want)
    assert not np.array_equal(got[1:8], records[1:8])  # the orientations did move the planes
    before = records.copy()
    R.orient_thumbnails(records, orientations)
    assert np.array_equal(records, before)


def test_orient_thumbnails_of_nothing_and_bad_input():
    assert R.orient_thumbnails(np.zeros((0, THUMB_BYTES), np.uint8), np.zeros(0, np.int64)).shape == (0, THUMB_BYTES)
    records = np.zeros((2, THUMB_BYTES), np.uint8)
    with pytest.raises(ValueError, match="orientations must be 0..7"):
        R.orient_thumbnails(records, np.array([0, 8]))
    with pytest.raises(ValueError, match="2 records but 3 orientations"):
        R.orient_thumbnails(records, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="N x"):
        R.orient_thumbnails(np.zeros((2, 10), np.uint8), np.array([0, 1]))
