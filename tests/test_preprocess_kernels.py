"""The preprocessing kernels against slow references: area shrinking and the Laplacian sums."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from undouble._kernels.blur import laplacian_sums
from undouble.keeper import laplacian_variance
from undouble.preprocess import area_axis, resize_area


def _photos() -> list[np.ndarray]:
    rgb = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    return rgb + [skimage.data.camera(), skimage.data.moon()]


def area_reference(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area means from the definition, in float64: output pixel = mean of the covered source area."""
    src = image.astype(np.float64)
    if src.ndim == 2:
        src = src[:, :, None]

    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        matrix = np.zeros((n_out, n_in))
        for o in range(n_out):
            lo, hi = o * scale, min((o + 1) * scale, n_in)
            for i in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
                matrix[o, i] = max(0.0, min(hi, i + 1) - max(lo, i))
        return matrix / matrix.sum(axis=1, keepdims=True)

    rows, cols = weights(src.shape[0], height), weights(src.shape[1], width)
    vertical = np.tensordot(rows, src, axes=(1, 0))  # (out_h, W, C)
    out = np.tensordot(vertical, cols, axes=(1, 1)).transpose(0, 2, 1)  # (out_h, out_w, C)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out if image.ndim == 3 else out[:, :, 0]


@pytest.mark.parametrize("n_in,n_out", [(10, 10), (10, 3), (7, 1), (1000, 128), (129, 128), (300, 7), (5, 4)])
def test_area_weights_cover_each_output_once(n_in, n_out):
    start, index, weight = area_axis(n_in, n_out)
    assert start.shape == (n_out + 1,) and start[0] == 0 and start[-1] == index.size == weight.size
    for o in range(n_out):
        taps = index[start[o]:start[o + 1]]
        assert taps.size and np.all(np.diff(taps) == 1)  # consecutive source pixels
        assert weight[start[o]:start[o + 1]].sum() == pytest.approx(1.0, abs=1e-6)
        assert taps[0] >= math.floor(o * n_in / n_out) and taps[-1] < math.ceil((o + 1) * n_in / n_out)


def test_area_resize_is_the_area_mean():
    rng = np.random.default_rng(1)
    images = _photos() + [rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), rng.integers(0, 256, (9, 4), dtype=np.uint8)]
    total = differing = 0
    for img in images:
        h, w = img.shape[:2]
        for width, height in [(128, 128), (32, 32), (w, max(1, h // 3)), (max(1, w - 1), max(1, h - 1)), (1, 1),
                              (min(w, 100), min(h, 77))]:
            ours = resize_area(img, (width, height))
            assert ours.shape == area_reference(img, width, height).shape
            diff = np.abs(ours.astype(int) - area_reference(img, width, height).astype(int))
            assert diff.max() <= 1  # float32 sums against float64: only ties at .5 may round apart
            total += diff.size
            differing += int((diff > 0).sum())
            opencv = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            assert np.abs(ours.astype(int) - opencv.astype(int)).max() <= 1
    assert differing / total < 1e-3


def test_area_resize_falls_back_to_opencv_for_growing_and_other_dtypes():
    img = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(resize_area(img, (60, 10)), cv2.resize(img, (60, 10), interpolation=cv2.INTER_AREA))
    assert np.array_equal(resize_area(img, (30, 20)), img)
    floats = img.astype(np.float32)
    assert np.array_equal(resize_area(floats, (7, 5)), cv2.resize(floats, (7, 5), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (2, 2), (3, 3), (5, 8), (64, 33)])
def test_laplacian_sums_match_opencv(shape):
    rng = np.random.default_rng(sum(shape))
    for grey in (rng.integers(0, 256, shape, dtype=np.uint8), np.full(shape, 255, np.uint8)):
        lap = cv2.Laplacian(grey, cv2.CV_64F).astype(np.int64)
        assert laplacian_sums(grey) == (lap.sum(), (lap * lap).sum())


def test_laplacian_variance_of_photos_matches_opencv():
    for img in _photos():
        grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        expected = cv2.Laplacian(grey, cv2.CV_64F).var()
        assert laplacian_variance(grey) == pytest.approx(expected, rel=1e-12)
        assert laplacian_variance(grey[1::3, ::2]) == pytest.approx(  # a non-contiguous view
            cv2.Laplacian(np.ascontiguousarray(grey[1::3, ::2]), cv2.CV_64F).var(), rel=1e-12)
