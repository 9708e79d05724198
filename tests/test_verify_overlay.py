"""Watermarks, captions and logos along the edges, and crop windows refined on the fine planes (undouble.verify)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from undouble import corpus
from undouble._kernels import verify as K
from undouble.verify import DEFAULT_PARAMS, FINE_SIZE, REL_CROPPED, THUMB_SIZE, make_thumbnails, verify_pairs
from imagesets import jpeg_round_trip as _jpeg, verify_two as _verify_two

S = THUMB_SIZE
P = DEFAULT_PARAMS.as_array()




@pytest.fixture(scope="module")
def originals():
    """The first shot of 4 corpus scenes (uint8 RGB, 640 x 480 and 480 x 640)."""
    out = []
    for scene in range(4):
        rng = np.random.default_rng([11, scene])
        w, h = (640, 480) if scene % 2 == 0 else (480, 640)
        out.append(_jpeg(corpus._shots(rng, w, h, 1)[0], 92))
    return out


def _text(img, text, org, scale, alpha, colour=(255, 255, 255), thickness=2):
    layer = img.copy()
    cv2.putText(layer, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return cv2.addWeighted(layer, alpha, img, 1 - alpha, 0)


def _logo(img, cx, cy, side, alpha, colour=(40, 90, 200)):
    layer = img.copy()
    cv2.circle(layer, (cx, cy), side, colour, -1, cv2.LINE_AA)
    cv2.putText(layer, "L", (cx - side // 3, cy + side // 3), cv2.FONT_HERSHEY_SIMPLEX, side / 30.0, (255, 255, 255),
                max(1, side // 12), cv2.LINE_AA)
    return cv2.addWeighted(layer, alpha, img, 1 - alpha, 0)


def _overlays(img):
    h, w = img.shape[:2]
    return {
        "caption along the bottom": _text(img, "(c) 2024 someone", (int(0.03 * w), h - int(0.03 * h)), w / 640, 0.5),
        "logo in the middle of the right edge": _logo(img, w - int(0.07 * w), h // 2, int(0.05 * min(w, h)), 0.4),
        "logo near a corner": _logo(img, int(0.1 * w), int(0.1 * h), int(0.06 * min(w, h)), 0.35),
    }


def test_captions_and_logos_along_the_edges_are_accepted(originals):
    for k, original in enumerate(originals):
        overlays = _overlays(original)
        for name, img in overlays.items():
            res = _verify_two(original, _jpeg(img))
            assert res.ok[0], (k, name, res.similarity[0])
            assert res.names()[0] in ("re-encoded", "edited"), (k, name, res.names()[0])
            assert 0.5 <= res.similarity[0] <= 1.0
        # a different overlay on each image: two regions, each of one sign
        both = _verify_two(_jpeg(overlays["logo in the middle of the right edge"]),
                           _jpeg(overlays["logo near a corner"]))
        assert both.ok[0], (k, both.similarity[0])


def test_overlay_rule_does_not_accept_new_content(originals):
    rng = np.random.default_rng(9)
    for k, original in enumerate(originals):
        h, w = original.shape[:2]
        # new texture along the bottom edge: lighter and darker than before (two signs)
        patched = original.copy()
        y0, x0, ph, pw = h - h // 9, w // 3, h // 10, w // 4
        noise = cv2.GaussianBlur(rng.normal(0, 1, (ph, pw)).astype(np.float32), (0, 0), 3)
        noise = noise / noise.std() * 60
        patched[y0:y0 + ph, x0:x0 + pw] = np.clip(patched[y0:y0 + ph, x0:x0 + pw] + noise[:, :, None], 0,
                                                  255).astype(np.uint8)
        assert not _verify_two(original, _jpeg(patched)).ok[0], k
        # a light bar along the whole bottom edge: one sign, but far more than a caption's area
        bar = original.copy()
        bar[h - h // 8:] = np.clip(bar[h - h // 8:].astype(np.int32) + 90, 0, 255).astype(np.uint8)
        assert not _verify_two(original, _jpeg(bar)).ok[0], k
        # a caption-like light strip in the middle of the frame is no overlay along an edge
        mid = original.copy()
        cv2.rectangle(mid, (w // 3, h // 2 - h // 30), (2 * w // 3, h // 2 + h // 30), (255, 255, 255), -1)
        assert not _verify_two(original, _jpeg(mid)).ok[0], k


def test_a_crop_larger_in_pixels_than_a_downscaled_copy_is_found(originals):
    found = tried = 0
    for k, original in enumerate(originals):
        h, w = original.shape[:2]
        rng = np.random.default_rng(k)
        small = _jpeg(cv2.resize(original, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
        for _ in range(3):
            crop = _jpeg(corpus._crop(original, rng, 0.02, 0.08))
            true_fraction = crop.shape[0] * crop.shape[1] / (h * w)
            res = _verify_two(crop, small)
            tried += 1
            if res.ok[0]:
                found += 1
                assert res.relation[0] == REL_CROPPED and res.container[0] == 1  # the downscaled copy contains it
                assert abs(res.area_fraction[0] - true_fraction) < 0.07  # zoom from a 0.01 grid, squared
                swapped = _verify_two(small, crop)
                assert swapped.ok[0] and swapped.container[0] == 0
    # the zoom comes from a 0.03 grid on the 48 px profiles: most, not all
    assert found >= 0.65 * tried, (found, tried)


# --------------------------------------------------------------------------- kernels against references
def _ref_coord(t, f, i, n):
    x = min(max(t + f * (i + 0.5) - 0.5, 0.0), n - 1.0)
    i0 = min(int(x), n - 2)
    return i0, x - i0


def _ref_window_plane(fa, fx, fy, tx, ty, q):
    n = fa.shape[0]
    a = np.empty((n, n))
    identity = fx == 1.0 and fy == 1.0 and tx == 0.0 and ty == 0.0
    for v in range(n):
        yi, yw = _ref_coord(ty * q, fy, v, n)
        for u in range(n):
            if identity:
                a[v, u] = fa[v, u]
                continue
            xi, xw = _ref_coord(tx * q, fx, u, n)
            top = fa[yi, xi] * (1 - xw) + fa[yi, xi + 1] * xw
            bot = fa[yi + 1, xi] * (1 - xw) + fa[yi + 1, xi + 1] * xw
            a[v, u] = top * (1 - yw) + bot * yw
    return a


def _ref_overlay_change(fa, fb, fx, fy, tx, ty, s, params):
    """(verdict, regions, largest changed area, failure code) as documented in ``overlay_change``."""
    nb = int(params[K.P_FINE_BLOCKS])
    band, corner = int(params[K.P_OVERLAY_BAND]), int(params[K.P_OVERLAY_CORNER])
    n = fa.shape[0]
    a = _ref_window_plane(fa.astype(float), fx, fy, tx, ty, n / s)
    b = fb.astype(float)
    floor = params[K.P_SIGMA_FLOOR]
    r = (b - b.mean()) / max(b.std(), floor) - (a - a.mean()) / max(a.std(), floor)
    k = n // nb
    energy = (r ** 2).reshape(nb, k, nb, k).mean(axis=(1, 3))
    labels, regions = ndimage.label(energy > params[K.P_OVERLAY_CHANGE], structure=np.ones((3, 3)))
    if regions == 0:
        return False, 0, 0.0, 1
    if regions > K.OVERLAY_REGIONS:
        return False, K.OVERLAY_REGIONS + 1, 0.0, 2
    boxes = []
    for lab in range(1, regions + 1):
        ys, xs = np.nonzero(labels == lab)
        boxes.append((ys.min(), ys.max(), xs.min(), xs.max()))
    near = np.zeros((nb, nb), bool)
    for y0, y1, x0, x1 in boxes:
        near[max(0, y0 - 1):y1 + 2, max(0, x0 - 1):x1 + 2] = True
    if (energy[~near] > params[K.P_OVERLAY_REST]).any():
        return False, regions, 0.0, 3
    largest = 0.0
    small_corner, small_area = int(params[K.P_OVERLAY_CORNER_SMALL]), params[K.P_OVERLAY_SMALL_AREA]
    for y0, y1, x0, x1 in boxes:
        part = r[y0 * k:(y1 + 1) * k, x0 * k:(x1 + 1) * k]
        changed = part[np.abs(part) > 0.25]
        depth = min(y1 + 1, nb - y0, x1 + 1, nb - x0)
        reach = small_corner if changed.size <= small_area * n ** 2 and small_corner > corner else corner
        in_corner = (y1 < reach or y0 >= nb - reach) and (x1 < reach or x0 >= nb - reach)
        if not (depth <= band or in_corner):
            return False, regions, largest, 4
        largest = max(largest, changed.size / n ** 2)
        if changed.size > params[K.P_OVERLAY_AREA] * n ** 2:
            return False, regions, largest, 5
        if abs(changed.sum()) < params[K.P_OVERLAY_SIGN] * np.abs(changed).sum():
            return False, regions, largest, 6
    return True, regions, largest, 0


def _fine_planes(seed: int):
    """A photo-like 80 x 80 fine plane and its neighbours: copies with overlays, new content, a crop window."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (10, 10)).astype(np.float32), (FINE_SIZE, FINE_SIZE),
                      interpolation=cv2.INTER_CUBIC)
    base += cv2.GaussianBlur(rng.normal(0, 25, (FINE_SIZE, FINE_SIZE)).astype(np.float32), (0, 0), 1.0)
    a = np.clip(base, 0, 255).astype(np.uint8)
    out = []
    caption = a.astype(np.float32)
    caption[72:77, 6:40] = 0.5 * caption[72:77, 6:40] + 0.5 * 255  # light, along the bottom
    out.append(("caption", caption))
    corner_logo = a.astype(np.float32)
    corner_logo[3:13, 66:77] *= 0.6  # dark, in a corner
    out.append(("corner logo", corner_logo))
    two = caption.copy()
    two[3:13, 66:77] *= 0.6
    out.append(("caption and logo", two))
    deeper_logo = a.astype(np.float32)
    deeper_logo[12:18, 62:70] *= 0.5  # logo-sized (48 px, under 1% of the frame), 4 blocks into its corner
    out.append(("small logo deeper in a corner", deeper_logo))
    deeper_badge = a.astype(np.float32)
    deeper_badge[8:20, 64:75] *= 0.3  # 132 px (2.1% of the frame), 4 blocks deep: over a logo's 1.5%
    out.append(("larger logo deeper in a corner", deeper_badge))
    wider_logo = a.astype(np.float32)
    wider_logo[10:16, 61:75] *= 0.5  # 84 px (1.3%), as deep: a logo since the limit is 1.5%, not 1%
    out.append(("wider logo deeper in a corner", wider_logo))
    deeper_patch = a.astype(np.float32)
    deeper_patch[6:18, 62:74] *= 0.5  # as deep, but 144 px (2.25%): more than a logo
    out.append(("larger patch deeper in a corner", deeper_patch))
    centre = a.astype(np.float32)
    centre[35:45, 30:50] = rng.uniform(0, 255, (10, 20))  # new content of both signs in the middle
    out.append(("centre", centre))
    mixed = a.astype(np.float32)
    mixed[72:78, 6:23] += 70  # lighter and darker side by side along the bottom: one region of both signs
    mixed[72:78, 23:40] -= 70
    out.append(("two-signed strip", mixed))
    wide = a.astype(np.float32)
    wide[64:, :] = np.minimum(wide[64:, :] + 80, 255)  # one sign along the bottom, but 20% of the frame
    out.append(("wide bar", wide))
    scattered = a.astype(np.float32)
    for y, x in ((2, 2), (2, 70), (70, 2), (70, 70), (40, 2)):
        scattered[y:y + 6, x:x + 6] = 255  # five overlays: too many regions
    out.append(("scattered", scattered))
    out.append(("same", a.astype(np.float32)))
    return a, [(name, np.clip(img, 0, 255).astype(np.uint8)) for name, img in out]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("window", [(1.0, 1.0, 0.0, 0.0), (0.9, 0.88, 2.0, 3.5)])
def test_overlay_change_kernel_against_reference(seed, window):
    a, others = _fine_planes(seed)
    fx, fy, tx, ty = window
    verdicts = {}
    for name, b in others:
        if window[0] != 1.0:  # B as the window of A (a crop), then the change
            b_window = np.clip(_ref_window_plane(a.astype(float), fx, fy, tx, ty, FINE_SIZE / S), 0, 255)
            b = np.clip(b_window + (b.astype(float) - a), 0, 255).astype(np.uint8)
        out = np.empty(5)
        got = K.overlay_change(a, b, fx, fy, tx, ty, S, P, out)
        want = _ref_overlay_change(a, b, fx, fy, tx, ty, S, P)
        assert got == want[0], (name, out, want)
        assert int(out[0]) == want[1] and int(out[2]) == want[3], (name, out, want)
        if want[3] != 2:
            assert abs(out[1] - want[2]) < 1e-9, (name, out, want)
        verdicts[name] = got
    assert verdicts["caption"] and verdicts["corner logo"] and verdicts["caption and logo"]
    assert not (verdicts["centre"] or verdicts["two-signed strip"] or verdicts["wide bar"] or verdicts["scattered"]
                or verdicts["same"] or verdicts["larger patch deeper in a corner"]
                or verdicts["larger logo deeper in a corner"])
    if window[0] == 1.0:  # at the identity the small logo keeps its place (a crop window moves it)
        assert verdicts["small logo deeper in a corner"] and verdicts["wider logo deeper in a corner"]


def _ref_fine_window_cost(fa, fb, fx, fy, tx, ty, s, step):
    n = fb.shape[0]
    a = _ref_window_plane(fa.astype(float), fx, fy, tx, ty, n / s)[::step, ::step]
    b = fb.astype(float)[::step, ::step]
    m = a.size
    va = ((a - a.mean()) ** 2).sum()
    vb = ((b - b.mean()) ** 2).sum()
    cov = ((a - a.mean()) * (b - b.mean())).sum()
    return 1.0 - cov / np.sqrt((va + m) * (vb + m))


def _ref_refine(fa, fb, fx, fy, tx, ty, s):
    step, sub = 0.5, 4
    best = _ref_fine_window_cost(fa, fb, fx, fy, tx, ty, s, sub)
    while step >= 0.125:
        if step < 0.25 and sub != 2:
            sub = 2
            best = _ref_fine_window_cost(fa, fb, fx, fy, tx, ty, s, sub)
        moved, rounds = True, 0
        while moved and rounds < 4:
            moved, rounds = False, rounds + 1
            for dx, dy in ((step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)):
                nx, ny = tx + dx, ty + dy
                if nx < 0 or ny < 0 or nx > s * (1 - fx) or ny > s * (1 - fy):
                    continue
                c = _ref_fine_window_cost(fa, fb, fx, fy, nx, ny, s, sub)
                if c < best:
                    best, tx, ty, moved = c, nx, ny, True
        step *= 0.5
    return tx, ty, best


@pytest.mark.parametrize("seed", [4, 5])
def test_fine_window_refinement_against_reference_and_truth(seed):
    a, _ = _fine_planes(seed)
    fx, fy, tx, ty = 0.9, 0.86, 2.375, 3.625
    b = np.clip(np.round(_ref_window_plane(a.astype(float), fx, fy, tx, ty, FINE_SIZE / S)), 0, 255).astype(np.uint8)
    for window in ((fx, fy, tx, ty), (fx, fy, tx + 0.5, ty - 0.375), (1.0, 1.0, 0.0, 0.0)):
        for step in (1, 2):
            got = K.fine_window_cost(a, b, *window, S, step)
            assert abs(got - _ref_fine_window_cost(a, b, *window, S, step)) < 1e-9
    out = np.empty(3)
    start = (tx + 0.5, ty - 0.375)  # where a 48 px profile fit may leave it
    K.refine_window_fine(a, b, fx, fy, start[0], start[1], S, out)
    want = _ref_refine(a, b, fx, fy, start[0], start[1], S)
    assert np.allclose(out, want, atol=1e-9), (out, want)
    assert abs(out[0] - tx) <= 0.125 and abs(out[1] - ty) <= 0.125, out
    assert out[2] < K.fine_window_cost(a, b, fx, fy, start[0], start[1], S, 2)
