"""Robust mode on top of the verified groups (undouble.robust_grouping, Undouble(robust=True))."""
from __future__ import annotations

import cv2
import numpy as np

from undouble import corpus
from undouble import robust as R
from undouble import robust_grouping as RG
from undouble.robust_grouping import HASH_ONLY_RELATION, robust_groups
from undouble.verify import make_thumbnails


def _photo(seed: int, width: int = 400, height: int = 300) -> np.ndarray:
    return corpus._shots(np.random.default_rng(seed), width, height, 1)[0]


def _links(rows):
    """RobustLinks from (a, b, container) triples (-1: full frame, b = a rotated 90)."""
    a = np.array([r[0] for r in rows], np.int64)
    b = np.array([r[1] for r in rows], np.int64)
    c = np.array([r[2] for r in rows], np.int64)
    n = len(rows)
    return R.RobustLinks(a, b, np.where(c < 0, 1, 0).astype(np.int8), np.where(c < 0, 6, 5).astype(np.int8),
                         np.full(n, 0.9, np.float32), np.where(c < 0, 1.0, 0.5).astype(np.float32), c)


def _thumbs(images):
    return make_thumbnails(images), np.array([(im.shape[1], im.shape[0]) for im in images], np.int64)


def _by_rank(ranking):
    rank = {r: k for k, r in enumerate(ranking)}
    return lambda rows: np.argsort([rank[int(r)] for r in rows], kind="stable")


def test_verified_relations_kept_robust_ones_added_and_one_hop_named():
    photo = _photo(5)
    images = [photo, cv2.resize(photo, (600, 450), interpolation=cv2.INTER_CUBIC), photo.copy(),
              np.ascontiguousarray(np.rot90(photo, -1))]
    thumbs, sizes = _thumbs(images)
    # normal group {1, 0, 2} (keeper 1); row 3 is row 0 rotated 90, linked to 0 only
    groups = [np.array([1, 0, 2])]
    made = robust_groups(groups, _links([(0, 3, -1)]), 4, _by_rank([1, 0, 2, 3]), thumbs, sizes,
                         [["keeper", "resized", "same pixels"]], [np.array([1.0, 0.95, 0.97])])
    assert len(made) == 1
    assert made[0].rows.tolist() == [1, 0, 2, 3]
    assert made[0].relation[:3] == ["keeper", "resized", "same pixels"]
    np.testing.assert_allclose(made[0].similarity[:3], [1.0, 0.95, 0.97])
    # 3 is not an upright copy of the keeper: named through the member it is linked to
    assert made[0].relation[3] == "rotated 90 (of another member)"
    assert np.isnan(made[0].similarity[3])


def test_container_becomes_keeper_and_members_are_checked_against_it():
    photo = _photo(6, 480, 360)
    crop = np.ascontiguousarray(photo[40:320, 50:430])
    images = [crop, cv2.resize(crop, (190, 140), interpolation=cv2.INTER_AREA), photo, _photo(7)]
    thumbs, sizes = _thumbs(images)
    # normal group {0, 1} (keeper 0); row 2 contains row 0 (a window link); row 3 is unrelated
    made = robust_groups([np.array([0, 1])], _links([(2, 0, 2)]), 4, _by_rank([0, 1, 2, 3]), thumbs, sizes,
                         [["keeper", "resized"]], [np.array([1.0, 0.9])])
    assert [g.rows.tolist() for g in made] == [[2, 0, 1]]  # the container wins; 0's copy 1 comes with it
    rel = made[0].relation
    assert rel[0] == "keeper"
    assert rel[1] == "cropped (50% of the keeper's area)"  # from the link
    # 1 has no link to 2 and was not in 2's group: verified against the keeper directly
    # 1 has no link to 2 and was not in 2's group: checked against the keeper directly (a 58% crop, resized,
    # is beyond the thumbnail check's crop search), then named by its relation to its own group's keeper, 0
    assert rel[2] in ("resized (of another member)",) or rel[2].startswith("cropped ("), rel
    assert made[0].similarity[1] == np.float32(0.9)


def test_hash_only_groups_get_text_relations():
    photo, other = _photo(8), _photo(9)
    images = [photo, other, np.ascontiguousarray(photo[::-1])]
    thumbs, sizes = _thumbs(images)
    # a hash-only group of two distinct photos (0, 1): 1 fails the check against 0
    made = robust_groups([np.array([0, 1])], _links([(0, 2, -1)]), 3, _by_rank([0, 1, 2]), thumbs, sizes)
    assert [g.rows.tolist() for g in made] == [[0, 1, 2]]
    assert made[0].relation == ["keeper", HASH_ONLY_RELATION, "rotated 90"]


def test_split_by_keeper_brings_the_normal_group_of_a_linked_member():
    known = np.array([0, 0, -1, -1])  # {0, 1} a normal group; 2 contains 0; 3 alone
    links = _links([(2, 0, 2)])
    groups = RG.split_by_keeper(np.array([0, 1, 2, 3]), known, links)
    assert [g.tolist() for g in groups] == [[2, 0, 1]]


def test_split_by_keeper_gives_a_crop_to_its_best_container():
    """A crop that two photos hold is taken only by the one that holds it about as well as its best one:
    here photo 0 (ranked first, so grown first) holds crop 2 at 0.88, photo 1 at 0.985."""
    links = _links([(0, 2, 0), (1, 2, 1)])
    sims = np.array([0.88, 0.985], np.float32)
    links = R.RobustLinks(links.a, links.b, links.orientation, links.relation, sims, links.area_fraction,
                          links.container, np.zeros(2, bool))
    known = np.array([-1, -1, -1])
    assert [g.tolist() for g in RG.split_by_keeper(np.array([0, 1, 2]), known, links)] == [[1, 2]]
    # within the margin, the first-grown photo takes it, as before
    close = R.RobustLinks(links.a, links.b, links.orientation, links.relation,
                          np.array([0.96, 0.985], np.float32), links.area_fraction, links.container,
                          np.zeros(2, bool))
    assert [g.tolist() for g in RG.split_by_keeper(np.array([0, 1, 2]), known, close)] == [[0, 2]]
    # a frame around the crop (1: a letterbox of it) is no crop container: its link is not compared, the
    # crop goes with photo 0 and brings in its frame
    framed = R.RobustLinks(links.a, links.b, links.orientation, links.relation, sims, links.area_fraction,
                           links.container, np.array([False, True]))
    assert [g.tolist() for g in RG.split_by_keeper(np.array([0, 1, 2]), known, framed)] == [[0, 1, 2]]


def test_verified_keepers_first_puts_each_verified_keeper_at_its_groups_first_place():
    from undouble._model_groups import verified_keepers_first

    members = np.array([10, 11, 12, 13, 14])
    # ranked 13, 11, 10, 14, 12; verified groups {10, 11} (keeper 10) and {12, 13, 14} (keeper 14)
    order = np.array([3, 1, 0, 4, 2])
    normal_keeper = {10: 10, 11: 10, 12: 14, 13: 14, 14: 14}
    got = members[verified_keepers_first(order, members, normal_keeper)].tolist()
    assert got == [14, 10, 11, 13, 12]  # each keeper takes its group's first place; the others keep their order
    # rows in no verified group and keepers already first stay where they are
    assert verified_keepers_first(order, members, {10: 10, 11: 10}).tolist() == [3, 0, 1, 4, 2]
    assert verified_keepers_first(order, members, {}).tolist() == order.tolist()


def _write(folder, files):
    for name, img in files.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])


def test_undouble_robust_on_verified_groups(tmp_path):
    from undouble import Undouble

    photo = _photo(31, 480, 360)
    _write(tmp_path, {
        "a_original.jpg": photo,
        "b_small.jpg": cv2.resize(photo, (240, 180), interpolation=cv2.INTER_AREA),
        "c_rot90.jpg": np.ascontiguousarray(np.rot90(photo, -1)),
        "d_crop.jpg": photo[60:320, 70:420],
        "e_other.jpg": _photo(32, 480, 360),
    })
    results = {}
    for robust in (False, True):
        model = Undouble(method="phash", verbose=40, robust=robust)
        model.import_data(str(tmp_path))
        model.compute_hash()
        model.group(threshold=10)
        results[robust] = model
    plain, model = results[False], results[True]
    names = [[p.split("/")[-1] for p in g] for g in model.results["select_pathnames"]]
    assert len(names) == 1 and names[0][0] == "a_original.jpg", names
    assert sorted(names[0]) == ["a_original.jpg", "b_small.jpg", "c_rot90.jpg", "d_crop.jpg"]
    relation = dict(zip(names[0], model.results["select_relation"][0]))
    assert relation["a_original.jpg"] == "keeper"
    assert relation["b_small.jpg"] == "resized"  # the verified group's relation, kept
    assert relation["c_rot90.jpg"] == "rotated 90"
    assert relation["d_crop.jpg"].startswith("cropped (")
    sims = model.results["select_similarity"][0]
    assert len(sims) == 4 and sims[0] == 1.0 and np.all((sims[1:] > 0.5) & (sims[1:] <= 1.0))
    stats = model.results["stats"]
    assert stats["robust"] is True and stats["verify"] is True and stats["n_robust_links"] >= 2
    # move() gets one keeper ranking per group, with the relations
    ranks = model._ranks_with_relations()
    assert ranks is not None and [r.relation for r in ranks[0]] == model.results["select_relation"][0]
    # without robust: the rotation and the crop are not in the verified group
    plain_names = sorted(sorted(p.split("/")[-1] for p in g) for g in plain.results["select_pathnames"])
    assert plain_names == [["a_original.jpg", "b_small.jpg"]], plain_names
    assert "robust" not in plain.results["stats"]


def test_undouble_robust_without_verification(tmp_path, monkeypatch):
    from undouble import Undouble

    photo = _photo(41, 480, 360)
    _write(tmp_path, {"a.jpg": photo, "b_mirror.jpg": np.ascontiguousarray(photo[:, ::-1]),
                      "c_other.jpg": _photo(42, 480, 360)})
    told = []
    real = R.find_robust_links
    monkeypatch.setattr(RG, "find_robust_links", lambda *a, **k: told.append(k["groups_are_copies"]) or real(*a, **k))
    model = Undouble(method="phash", verbose=40, robust=True, verify=False)
    model.import_data(str(tmp_path))
    model.compute_hash()
    model.group(threshold=10)
    names = [sorted(p.split("/")[-1] for p in g) for g in model.results["select_pathnames"]]
    assert names == [["a.jpg", "b_mirror.jpg"]]
    assert model.results["select_relation"][0][1] == "mirrored"
    assert model.results["stats"]["verify"] is False and model.results["stats"]["robust"] is True
    assert told == [False]  # hash-only groups are not taken for copies (no representatives, own pixels)


def _window_links(rows):
    """RobustLinks from (a, b, container, similarity, framed) rows; container -1: a full-frame link."""
    a, b, c, s, f = (np.array([r[k] for r in rows]) for k in range(5))
    n = len(rows)
    return R.RobustLinks(a.astype(np.int64), b.astype(np.int64), np.where(c < 0, 1, 0).astype(np.int8),
                         np.where(c < 0, 6, 5).astype(np.int8), s.astype(np.float32),
                         np.where(c < 0, 1.0, 0.5).astype(np.float32), c.astype(np.int64), f.astype(bool))


def test_a_frame_keeps_its_own_photo_not_another_shot_it_holds_worse():
    """Screenshot 0 frames photo 1 (0.94) and, over the same region, another shot 2 (0.68) and a verified copy 3
    of photo 1 (0.65, in 1's normal group): 2 is left out, 3 kept; a framed link over another region of the
    screen (a tenth of its area) and links that are no frame's stay whatever their similarity."""
    known = np.array([-1, 0, -1, 0, -1, -1, -1])
    rows = [(0, 1, 0, 0.94, True), (0, 2, 0, 0.68, True), (0, 3, 0, 0.65, True), (0, 4, 0, 0.6, True),
            (5, 2, 5, 0.9, False), (6, 2, 6, 0.5, False)]
    links = _window_links(rows)
    area = links.area_fraction.copy()
    area[3] = 0.05  # 4 lies in another part of the screen
    links = R.RobustLinks(links.a, links.b, links.orientation, links.relation, links.similarity, area,
                          links.container, links.framed)
    pruned = RG.prune_other_photos_of_a_frame(links, known, margin=0.15)
    kept = sorted(zip(pruned.a.tolist(), pruned.b.tolist()))
    assert kept == [(0, 1), (0, 3), (0, 4), (5, 2), (6, 2)]
    assert len(pruned.framed) == len(kept)
    # a wider margin keeps the other shot
    assert len(RG.prune_other_photos_of_a_frame(links, known, margin=0.3)) == len(rows)
    # and so does a frame whose other shot is a verified copy of its photo (one normal group)
    assert len(RG.prune_other_photos_of_a_frame(links, np.array([-1, 0, 0, 0, -1, -1, -1]), margin=0.15)) \
        == len(rows)


def test_split_by_keeper_turns_into_frames_only():
    # 0: a photo; 1: its screenshot; 2: its letterbox; 3: 0 mirrored. 1 (best ranked) and 2 both contain 0.
    known = np.full(4, -1)
    rows = [(1, 0, 1, 0.8, True), (2, 0, 2, 0.9, True), (0, 3, -1, 0.95, False)]
    groups = RG.split_by_keeper(np.array([1, 2, 0, 3]), known, _window_links(rows))
    assert [sorted(g.tolist()) for g in groups] == [[0, 1, 2, 3]]
    assert groups[0][0] == 1  # the container first, then the ranking
    # the same links where the containers continue the photo (two photos that share a region): not joined
    rows = [(1, 0, 1, 0.88, False), (2, 0, 2, 0.9, False), (0, 3, -1, 0.95, False)]
    groups = RG.split_by_keeper(np.array([1, 2, 0, 3]), known, _window_links(rows))
    assert [g.tolist() for g in groups] == [[1, 0, 3]]  # 2 is left alone
    # ... and when 1 holds the crop clearly worse than 2 does (by more than CROP_MARGIN), the crop goes with 2
    rows = [(1, 0, 1, 0.8, False), (2, 0, 2, 0.9, False), (0, 3, -1, 0.95, False)]
    groups = RG.split_by_keeper(np.array([1, 2, 0, 3]), known, _window_links(rows))
    assert [g.tolist() for g in groups] == [[2, 0, 3]]  # 1 is left alone
    # a screenshot holding two photos is their keeper: each is linked to it directly (a walk from one of the
    # photos would not turn up into the screenshot and down into the other)
    rows = [(1, 0, 1, 0.8, True), (1, 2, 1, 0.8, True)]
    groups = RG.split_by_keeper(np.array([0, 1, 2]), np.full(3, -1), _window_links(rows))
    assert len(groups) == 1 and groups[0][0] == 1 and sorted(groups[0].tolist()) == [0, 1, 2]
    groups = RG.split_by_keeper(np.array([0, 2, 1]), np.full(3, -1), _window_links(rows))
    assert len(groups) == 1 and groups[0].tolist() == [1, 0, 2]  # the same group whatever the order (members by rank)


def test_split_by_keeper_stops_after_max_hops():
    # a chain of full-frame links 0 - 1 - 2 - 3: the keeper 0 reaches 2 robust links far
    rows = [(0, 1, -1, 0.9, False), (1, 2, -1, 0.9, False), (2, 3, -1, 0.9, False)]
    groups = RG.split_by_keeper(np.array([0, 1, 2, 3]), np.full(4, -1), _window_links(rows), max_hops=2)
    assert [g.tolist() for g in groups] == [[0, 1, 2]]
    groups = RG.split_by_keeper(np.array([0, 1, 2, 3]), np.full(4, -1), _window_links(rows), max_hops=3)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3]]


def test_prune_ambiguous_drops_a_much_worse_container():
    # 2 lies in 0 (similarity 0.95) and in 1 (0.7: another photo sharing that region); 3 in 0 and 1 alike
    rows = [(0, 2, 0, 0.95, False), (1, 2, 1, 0.7, False), (0, 3, 0, 0.9, False), (1, 3, 1, 0.85, False),
            (0, 4, -1, 0.5, False)]
    pruned = RG.prune_ambiguous(_window_links(rows), margin=0.15)
    kept = sorted(zip(pruned.a.tolist(), pruned.b.tolist()))
    assert kept == [(0, 2), (0, 3), (0, 4), (1, 3)]
    assert pruned.framed is not None and len(pruned.framed) == 4
