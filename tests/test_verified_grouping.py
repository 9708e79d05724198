"""Verified grouping (issue 18): candidate pairs checked on the pixels, groups built around
verified keepers, each member's relation to its keeper, verify=False as the hash-only seed."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from undouble import Undouble
from undouble.corpus import BASIC_KINDS, make_corpus, read_truth, transform
from undouble.grouping import group_hashes, group_verified
from undouble.keeper import rank_keepers
from undouble.verify import REL_CROPPED, REL_RESIZED, VerifyResult

THRESHOLD_ALL = 40  # phash, 64 bits: nearly every pair of a small set is a candidate


def _read_rgb(path: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Two scenes of three different shots each (hard negatives), and a copy of every basic
    kind of the first shot of each scene. Returns (folder, {file name: truth group})."""
    root = tmp_path_factory.mktemp("verified") / "photos"
    make_corpus(root, n_scenes=2, shots_per_scene=3, copies_per_shot=0, size_range=(300, 360), seed=5)
    truth = {name: group for name, group, _ in read_truth(root / "truth.csv")}
    os.remove(root / "truth.csv")
    rng = np.random.default_rng(0)
    for name, group in list(truth.items()):
        if not group.endswith("_00"):
            continue
        img = _read_rgb(root / name)
        for kind in BASIC_KINDS:
            copy = f"{group}_{kind.replace(' ', '_')}.jpg"
            if kind == "exact copy":
                shutil.copyfile(root / name, root / copy)
            else:
                out, quality = transform(img, kind, rng)
                data = out if out.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(root / copy), data, [cv2.IMWRITE_JPEG_QUALITY, quality])
            truth[copy] = group
    return root, truth


def _group_sets(model: Undouble) -> set:
    """Groups as (keeper name, frozenset of names): comparable across input orders."""
    return {(os.path.basename(paths[0]), frozenset(os.path.basename(p) for p in paths))
            for paths in model.results["select_pathnames"]}


def _scan(target, verify=True, threshold=THRESHOLD_ALL, **kwargs) -> Undouble:
    model = Undouble(method="phash", verify=verify, verbose=30, **kwargs)
    model.import_data(target)
    model.compute_hash()
    model.group(threshold=threshold)
    return model


# --------------------------------------------------------------------------- the whole pipeline
def test_shots_of_a_scene_stay_apart(scenes):
    root, truth = scenes
    model = _scan(str(root))
    groups = [{truth[os.path.basename(p)] for p in paths} for paths in model.results["select_pathnames"]]
    assert len(groups) == 2 and all(len(g) == 1 for g in groups), f"a group mixes different shots: {groups}"
    assert model.params["verify"] is True and model.results["stats"]["verify"] is True
    # the candidates did include the hard negatives: hash alone at this threshold mixes shots
    unverified = _scan(str(root), verify=False)
    assert any(len({truth[os.path.basename(p)] for p in paths}) > 1
               for paths in unverified.results["select_pathnames"])


@pytest.mark.parametrize("kind", BASIC_KINDS)
def test_every_copy_kind_joins_its_original(scenes, kind):
    """Each kind alone with every original (the other shots of the scene are hard negatives)."""
    root, truth = scenes
    originals = [str(root / n) for n in truth if n.endswith("_original.jpg")]
    copies = [str(root / n) for n in truth if n.endswith(f"_00_{kind.replace(' ', '_')}.jpg")]
    assert len(originals) == 6 and len(copies) == 2
    model = _scan(originals + copies)
    got = sorted(sorted(os.path.basename(p) for p in paths) for paths in model.results["select_pathnames"])
    want = sorted(sorted([f"{scene}_00_original.jpg", f"{scene}_00_{kind.replace(' ', '_')}.jpg"])
                  for scene in ("s00000", "s00001"))
    assert got == want


def test_arrays_verify_from_the_arrays(scenes):
    root, truth = scenes
    names = sorted(n for n in truth if n.split("_", 2)[-1].split(".")[0] in
                   ("original", "brightness", "contrast", "blur", "grey", "watermark", "reencode", "exact_copy"))
    images = []
    for n in names:
        img = _read_rgb(root / n)
        images.append(cv2.resize(img, (320, 240), interpolation=cv2.INTER_AREA))
    model = _scan(np.stack(images))
    assert model.results["thumbs"].shape[0] == len(names)
    groups = [{truth[names[int(p.split("_")[1])]] for p in paths} for paths in model.results["select_pathnames"]]
    assert groups and all(len(g) == 1 for g in groups), groups
    firsts = sorted(g.pop() for g in groups)
    assert firsts == ["s00000_00", "s00001_00"]  # every other shot is alone
    assert [len(p) for p in model.results["select_pathnames"]] == [8, 8]  # the original and 7 copies


def test_groups_do_not_depend_on_the_input_order(scenes):
    root, _ = scenes
    files = sorted(str(p) for p in root.iterdir())
    reference = _group_sets(_scan(files))
    assert reference
    rng = np.random.default_rng(3)
    for _ in range(2):
        shuffled = [files[k] for k in rng.permutation(len(files))]
        assert _group_sets(_scan(shuffled)) == reference


def test_relations_and_similarities_in_results(scenes):
    root, _ = scenes
    model = _scan(str(root))
    res = model.results
    assert len(res["select_relation"]) == len(res["select_similarity"]) == len(res["select_pathnames"])
    seen = {}
    for paths, rel, sim in zip(res["select_pathnames"], res["select_relation"], res["select_similarity"]):
        assert len(rel) == len(paths) == len(sim)
        assert rel[0] == "keeper" and sim[0] == 1.0
        assert all(0.0 <= s <= 1.0 for s in sim)
        for p, r in zip(paths[1:], rel[1:]):
            seen[os.path.basename(p).split("_", 2)[-1]] = r
    assert set(seen) == {f"{k.replace(' ', '_')}.jpg" for k in BASIC_KINDS if k != "contrast"} | {"original.jpg"} \
        or "contrast.jpg" in seen  # every member has a relation to its keeper
    assert seen["crop.jpg"].startswith("cropped (") and seen["crop.jpg"].endswith("% of the keeper's area)")
    pct = int(seen["crop.jpg"].split("(")[1].split("%")[0])
    assert 70 <= pct < 100


def test_identical_same_pixels_and_resized(tmp_path):
    make_corpus(tmp_path, n_scenes=1, shots_per_scene=1, copies_per_shot=0, size_range=(320, 320), seed=4)
    img = cv2.imread(str(tmp_path / "s00000_00_original.jpg"))
    cv2.imwrite(str(tmp_path / "a.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 0])  # largest file: the keeper
    shutil.copyfile(tmp_path / "a.png", tmp_path / "b_copy.png")
    cv2.imwrite(str(tmp_path / "c_same.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])  # same pixels, other bytes
    h, w = img.shape[:2]
    cv2.imwrite(str(tmp_path / "d_small.png"), cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    for name in ("s00000_00_original.jpg", "truth.csv"):
        os.remove(tmp_path / name)
    model = _scan(str(tmp_path), threshold=10)
    got = dict(zip((os.path.basename(p) for p in model.results["select_pathnames"][0]),
                   model.results["select_relation"][0]))
    assert got == {"a.png": "keeper", "b_copy.png": "identical", "c_same.png": "same pixels",
                   "d_small.png": "resized"}
    sim = dict(zip(got, model.results["select_similarity"][0]))
    assert sim["a.png"] == sim["b_copy.png"] == 1.0 and sim["d_small.png"] < 1.0
    # the selection window's tiles read the relation from the ranks group() recorded
    assert {os.path.basename(r.path): r.relation for r in model._ranks_with_relations()[0]} == got
    import matplotlib

    matplotlib.use("Agg")
    titles = [ax.get_title() for fig in model.plot(show=False) for ax in fig.axes]
    assert any("identical" in t for t in titles) and any("resized" in t for t in titles)


def test_relations_in_export_and_cli(scenes, tmp_path, capsys):
    from undouble.cli import main

    root, _ = scenes
    model = _scan(str(root))
    data = json.loads(Path(model.export(tmp_path / "g.json")).read_text())
    assert data["verify"] is True and data["relations"] == model.results["select_relation"]
    assert [[round(float(s), 4) for s in sim] for sim in model.results["select_similarity"]] == data["similarities"]
    rows = list(csv.DictReader(open(model.export(tmp_path / "g.csv"), newline="")))
    assert [r["relation"] for r in rows] == [r for rel in data["relations"] for r in rel]

    assert main(["scan", str(root), "--threshold", str(THRESHOLD_ALL), "--no-cache", "-q"]) == 0
    text = capsys.readouterr().out
    assert "(edited)" in text and "% of the keeper's area)" in text and "verified)." in text
    assert main(["scan", str(root), "--threshold", str(THRESHOLD_ALL), "--no-cache", "-q", "--no-verify"]) == 0
    text = capsys.readouterr().out
    assert "(edited)" not in text and "hash only)." in text
    assert main(["scan", str(root), "--threshold", str(THRESHOLD_ALL), "--no-cache", "-q", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and rows[0]["relation"] == "keeper" and {r["relation"] for r in rows} >= {"keeper", "edited"}


def test_verify_false_gives_the_hash_only_components(scenes):
    root, _ = scenes
    model = _scan(str(root), verify=False, threshold=10)
    res = model.results
    expected = group_hashes(res["img_hash"], 10)
    assert sorted(sorted(g.tolist()) for g in res["select_idx"]) == sorted(g.tolist() for g in expected)
    assert "select_relation" not in res and res["stats"]["verify"] is False
    assert model.params["verify"] is False


def test_colour_beats_its_greyscale_copy(tmp_path):
    make_corpus(tmp_path, n_scenes=1, shots_per_scene=1, copies_per_shot=0, size_range=(300, 300), seed=2)
    colour = _read_rgb(tmp_path / "s00000_00_original.jpg")
    cv2.imwrite(str(tmp_path / "a_colour.png"), cv2.cvtColor(colour, cv2.COLOR_RGB2BGR))
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    sharper = cv2.addWeighted(grey, 1.6, cv2.GaussianBlur(grey, (0, 0), 1.0), -0.6, 0)  # sharper by far
    cv2.imwrite(str(tmp_path / "b_grey_sharper.png"), sharper)
    os.remove(tmp_path / "s00000_00_original.jpg")
    os.remove(tmp_path / "truth.csv")
    verified = _scan(str(tmp_path))
    assert [os.path.basename(p) for p in verified.results["select_pathnames"][0]] == ["a_colour.png",
                                                                                       "b_grey_sharper.png"]
    hash_only = _scan(str(tmp_path), verify=False)  # the seed's rule: sharpest first
    assert os.path.basename(hash_only.results["select_pathnames"][0][0]) == "b_grey_sharper.png"


def test_rank_keepers_puts_colour_before_grey():
    ranks = rank_keepers(["/x/grey.jpg", "/x/colour.jpg"], resolutions=[(800, 600), (400, 300)],
                         file_sizes=[10, 10], blur_scores=[500.0, 10.0], blur_sizes=[1, 1],
                         is_grey=[True, False])
    assert [r.path for r in ranks] == ["/x/colour.jpg", "/x/grey.jpg"]
    assert "greyscale" in ranks[0].reason and "greyscale" in ranks[1].reason
    plain = rank_keepers(["/x/grey.jpg", "/x/colour.jpg"], resolutions=[(800, 600), (400, 300)],
                         file_sizes=[10, 10], blur_scores=[500.0, 10.0], blur_sizes=[1, 1])
    assert plain[0].path == "/x/grey.jpg"  # without is_grey, resolution decides as before


# --------------------------------------------------------------------------- the rule itself
def _fake_verify(ok_pairs: set, calls: list):
    """A verify(first, second) that accepts exactly ``ok_pairs`` (unordered) and records its calls."""
    def verify(first, second):
        calls.append(sorted(zip(first.tolist(), second.tolist())))
        ok = np.array([frozenset((a, b)) in ok_pairs for a, b in zip(first.tolist(), second.tolist())], bool)
        m = ok.size
        return VerifyResult(ok, np.where(ok, 0.9, 0.1).astype(np.float32), np.where(ok, REL_RESIZED, 0).astype(np.int8),
                            np.ones(m, np.float32), np.full(m, -1, np.int8))
    return verify


def _by_rank(ranking):
    return lambda members: np.asarray(sorted(members.tolist(), key=ranking.index), np.int64)


def test_a_chain_through_a_failed_pair_is_not_one_group():
    a, b, c = 0, 1, 2
    ok = {frozenset((a, b)), frozenset((b, c))}  # A-C fails verification
    calls: list = []
    got = group_verified(3, np.array([a, b]), np.array([b, c]), _fake_verify(ok, calls), _by_rank([a, b, c]))
    assert [g.tolist() for g in got.groups] == [[a, b]]  # C failed against the keeper A
    assert calls[1] == [(a, c)] and got.n_keeper_checks == 1  # the missing keeper pair, in one more call
    # with B as keeper both pass against it: one group
    got = group_verified(3, np.array([a, b]), np.array([b, c]), _fake_verify(ok, []), _by_rank([b, a, c]))
    assert [g.tolist() for g in got.groups] == [[b, a, c]]


def test_failed_members_regroup_among_themselves_and_unverified_pairs_never_link():
    # keeper 0 with 1; 2-3 verified together but not against 0; 4 is a candidate of 0 that fails
    ok = {frozenset((0, 1)), frozenset((1, 2)), frozenset((2, 3))}
    got = group_verified(5, np.array([0, 1, 2, 0]), np.array([1, 2, 3, 4]), _fake_verify(ok, []),
                         _by_rank([0, 1, 2, 3, 4]))
    assert [g.tolist() for g in got.groups] == [[0, 1], [2, 3]]
    assert got.n_candidates == 4 and got.n_verified == 3


def test_crops_of_one_original_join_through_the_keeper():
    original, crop1, crop2 = 0, 1, 2
    ok = {frozenset((original, crop1)), frozenset((original, crop2))}  # the crops do not contain each other
    got = group_verified(3, np.array([0, 0, 1]), np.array([1, 2, 2]), _fake_verify(ok, []),
                         _by_rank([original, crop1, crop2]))
    assert [g.tolist() for g in got.groups] == [[0, 1, 2]]
    assert got.relation[0].tolist() == [-1, REL_RESIZED, REL_RESIZED]
    assert got.similarity[0].tolist() == pytest.approx([1.0, 0.9, 0.9])


def test_verification_is_asked_in_an_order_free_orientation():
    calls: list = []
    canonical = np.array([2, 0, 1])  # row 1 sorts first, then row 2, then row 0
    group_verified(3, np.array([0, 0, 1]), np.array([1, 2, 2]), _fake_verify(set(), calls),
                   _by_rank([0, 1, 2]), canonical=canonical)
    assert calls == [[(1, 0), (1, 2), (2, 0)]]  # (lower rank, higher rank)


def test_crop_relation_text_says_who_contains_whom():
    from undouble.grouping import relation_texts

    def verify(first, second):
        m = first.size
        return VerifyResult(np.ones(m, bool), np.full(m, 0.8, np.float32), np.full(m, REL_CROPPED, np.int8),
                            np.full(m, 0.81, np.float32), np.zeros(m, np.int8))  # first contains second
    got = group_verified(2, np.array([0]), np.array([1]), verify, _by_rank([0, 1]))
    assert relation_texts(got, ["/a", "/b"]) == [["keeper", "cropped (81% of the keeper's area)"]]
    got = group_verified(2, np.array([0]), np.array([1]), verify, _by_rank([1, 0]))
    assert relation_texts(got, ["/a", "/b"]) == [["keeper", "uncropped (the keeper is 81% of its area)"]]


# --------------------------------------------------------------------------- evaluate
def test_evaluate_with_and_without_verification(scenes, tmp_path):
    from undouble.evaluate import evaluate

    root, truth = scenes
    folder = tmp_path / "set"
    folder.mkdir()
    names = [n for n in truth if n.endswith("_original.jpg") or n.endswith("_00_resize.jpg")]
    for n in names:
        shutil.copyfile(root / n, folder / n)
    csv_file = tmp_path / "truth.csv"
    with open(csv_file, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "group"])
        for name in names:
            writer.writerow([name, truth[name]])
    report = evaluate(folder, truth=csv_file, thresholds=[THRESHOLD_ALL], verify="both", verbose=30)
    on, off = report.rows
    assert (on.verify, off.verify) == (True, False)
    # hand count: 8 files; the two originals with their resized copies are the only true pairs
    assert on.true_pairs == off.true_pairs == 2
    assert (on.predicted_pairs, on.true_positives, on.precision, on.recall) == (2, 2, 1.0, 1.0)
    # hash alone at this threshold links different shots: each group of k files makes k(k-1)/2 pairs
    assert off.predicted_pairs > 2 and off.precision == 2 / off.predicted_pairs and off.recall == 1.0


@pytest.mark.parametrize("command", [["scan"], ["move"], ["plot", "--out", "x"], ["report", "-o", "r.html"],
                                     ["example"]])
def test_no_verify_flag_on_every_grouping_command(command, tmp_path):
    from undouble.cli import build_parser

    parser = build_parser()
    args = [command[0]] + ([] if command[0] == "example" else [str(tmp_path)]) + command[1:]
    assert parser.parse_args(args).verify is True
    assert parser.parse_args(args + ["--no-verify"]).verify is False


def _slow_second_look(pair_i, pair_j, ok, sizes, dist, max_distance, min_area=0.6):
    """crop_second_look by the definition: orphans, two candidate links away, a size that contains them."""
    n = int(max(pair_i.max(), pair_j.max())) + 1
    adj = {k: set() for k in range(n)}
    linked = set()
    for a, b, v in zip(pair_i.tolist(), pair_j.tolist(), ok.tolist()):
        adj[a].add(b)
        adj[b].add(a)
        if v:
            linked.update((a, b))
    known = {frozenset((a, b)) for a, b in zip(pair_i.tolist(), pair_j.tolist())}
    out = set()
    for x in range(n):
        if x in linked or not adj[x]:
            continue
        for y in adj[x]:
            for z in adj[y]:
                (wx, hx), (wz, hz) = sizes[x], sizes[z]
                if (z != x and frozenset((x, z)) not in known and 0 < wx <= wz and 0 < hx <= hz
                        and (wx, hx) != (wz, hz) and wx * hx >= min_area * wz * hz and dist[x, z] <= max_distance):
                    out.add((x, z))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_crop_second_look_against_reference(seed):
    from undouble.second_look import crop_second_look

    rng = np.random.default_rng(seed)
    n = 60
    pairs = {tuple(sorted(p)) for p in rng.integers(0, n, size=(150, 2)).tolist() if p[0] != p[1]}
    pair_i, pair_j = (np.array(v, np.int64) for v in zip(*sorted(pairs)))
    ok = rng.random(pair_i.size) < 0.3
    sizes = rng.choice([[800, 600], [780, 590], [700, 560], [800, 800], [0, 0], [400, 300]], size=n)
    dist = rng.integers(0, 30, size=(n, n))
    dist = np.minimum(dist, dist.T)
    got_a, got_b = crop_second_look(pair_i, pair_j, ok, sizes, lambda a, b: dist[a, b], 20)
    got = set(zip(got_a.tolist(), got_b.tolist()))
    assert got == _slow_second_look(pair_i, pair_j, ok, sizes, dist, 20)
    assert len(got) == got_a.size  # each pair once


def test_an_orphan_crop_is_grouped_with_its_original_through_the_second_look():
    """0 is a crop of 2 whose hash is far from it (no candidate pair), but both are near shot 1."""
    from undouble.grouping import group_verified
    from undouble.second_look import crop_second_look
    from undouble.verify import REL_CROPPED, VerifyResult

    copies = {frozenset((0, 2))}
    calls = []

    def verify(a, b):
        calls.append(len(a))
        ok = np.array([frozenset((x, y)) in copies for x, y in zip(a.tolist(), b.tolist())])
        return VerifyResult(ok, np.where(ok, 0.8, 0.2).astype(np.float32), np.where(ok, REL_CROPPED, 0).astype(np.int8),
                            np.where(ok, 0.9, 0.0).astype(np.float32), np.where(ok, 1, -1).astype(np.int8))

    sizes = np.array([[760, 570], [800, 600], [800, 600]])
    order = lambda m: np.sort(m)[::-1]  # the keeper: the highest row (2)
    pair_i, pair_j = np.array([0, 1]), np.array([1, 2])
    alone = group_verified(3, pair_i, pair_j, verify, order)
    assert alone.groups == []
    look = lambda a, b, ok: crop_second_look(a, b, ok, sizes, lambda x, z: np.full(len(x), 12), 20)
    got = group_verified(3, pair_i, pair_j, verify, order, second_look=look)
    assert [g.tolist() for g in got.groups] == [[2, 0]] and got.relation[0].tolist() == [-1, REL_CROPPED]
    far = lambda a, b, ok: crop_second_look(a, b, ok, sizes, lambda x, z: np.full(len(x), 25), 20)
    assert group_verified(3, pair_i, pair_j, verify, order, second_look=far).groups == []


@pytest.mark.parametrize("seed", range(5))
def test_keeper_rank_orders_components_as_keeper_order_does(seed):
    """group_verified with one order of all rows (keeper_rank) = the same rule as a per-component callable."""
    from undouble.grouping import group_verified
    from undouble.verify import VerifyResult

    rng = np.random.default_rng(seed)
    n = 80
    copies = rng.integers(0, 12, size=n)  # rows with the same label verify as copies, a few at random
    pair_i, pair_j = rng.integers(0, n, size=(2, 400))
    rank = rng.permutation(n)

    def verify(a, b):
        ok = (copies[a] == copies[b]) | (((a * 7 + b * 3) % 11) == 0)
        return VerifyResult(ok, (0.5 + 0.4 * ok).astype(np.float32), (2 * ok).astype(np.int8),
                            np.ones(len(a), np.float32), np.full(len(a), -1, np.int8))

    by_callable = group_verified(n, pair_i, pair_j, verify, lambda m: m[np.argsort(rank[m])])
    by_rank = group_verified(n, pair_i, pair_j, verify, lambda m: 1 / 0, keeper_rank=rank)
    assert len(by_rank.groups) == len(by_callable.groups) > 0
    for field in ("groups", "relation", "similarity", "area_fraction", "keeper_contains"):
        for x, y in zip(getattr(by_rank, field), getattr(by_callable, field)):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
    assert by_rank.n_keeper_checks == by_callable.n_keeper_checks


# --------------------------------------------------------------------------- the keeper most similar to the others
def _table_verify(table: dict, calls: list | None = None):
    """verify(first, second) from {frozenset((a, b)): similarity} (absent: rejected), relation 'edited'."""
    from undouble.verify import REL_EDITED

    def verify(first, second):
        if calls is not None:
            calls.append(sorted(zip(first.tolist(), second.tolist())))
        sim = np.array([table.get(frozenset((a, b)), 0.1) for a, b in zip(first.tolist(), second.tolist())],
                       np.float32)
        ok = np.array([frozenset((a, b)) in table for a, b in zip(first.tolist(), second.tolist())], bool)
        m = ok.size
        return VerifyResult(ok, sim, np.where(ok, REL_EDITED, 0).astype(np.int8), np.ones(m, np.float32),
                            np.full(m, -1, np.int8))
    return verify


def _reference_keeper(members, table, klass, sharp, margin=0.0, tolerance=0.85):
    """By the definition: candidates of the rule keeper's class, sharp enough, verified with all others;
    the largest summed similarity, if it beats the rule keeper's (by more than the margin)."""
    cands = [m for m in members if klass[m] == klass[members[0]]]
    best_sharp = max(sharp[m] for m in cands)
    score = {}
    for m in cands:
        if sharp[m] < tolerance * best_sharp:
            continue
        if all(frozenset((m, o)) in table for o in members if o != m):
            score[m] = sum(table[frozenset((m, o))] for o in members if o != m)
    if not score:
        return members[0]
    best = max(score, key=lambda m: (score[m], -members.index(m)))
    return best if best != members[0] and score[best] > score.get(members[0], -np.inf) + margin else members[0]


def test_an_edited_keeper_gives_way_to_the_photo_its_copies_come_from():
    # rule order: 0 (a brightened copy, "sharpest"), 1 (the photo), 2 (a watermarked copy)
    table = {frozenset((0, 1)): 0.95, frozenset((1, 2)): 0.8, frozenset((0, 2)): 0.55}
    calls: list = []
    args = (3, np.array([0, 0, 1]), np.array([1, 2, 2]))
    got = group_verified(*args, _table_verify(table, calls), _by_rank([0, 1, 2]), keeper_class=np.zeros(3, np.int64))
    assert [g.tolist() for g in got.groups] == [[1, 0, 2]]  # the members stay, the keeper changes
    assert got.similarity[0].tolist() == pytest.approx([1.0, 0.95, 0.8])  # now against the new keeper
    assert got.relation[0][0] == -1 and got.n_keeper_checks == 0
    # without keeper_class, or with the photo of another class (fewer pixels), the rule's keeper stays
    plain = group_verified(*args, _table_verify(table), _by_rank([0, 1, 2]))
    assert [g.tolist() for g in plain.groups] == [[0, 1, 2]]
    other = group_verified(*args, _table_verify(table), _by_rank([0, 1, 2]), keeper_class=np.array([5, 4, 5]))
    assert [g.tolist() for g in other.groups] == [[0, 1, 2]]
    # a blurred candidate (contrast-normalised sharpness under 0.85 of the sharpest) is no keeper
    blurred = group_verified(*args, _table_verify(table), _by_rank([0, 1, 2]), keeper_class=np.zeros(3, np.int64),
                             sharpness_of=lambda rows: np.array([10.0, 6.0, 9.0])[rows])
    assert [g.tolist() for g in blurred.groups] == [[0, 1, 2]]
    # copies as similar to each other as to the photo: the rule decides
    even = {frozenset((0, 1)): 0.9, frozenset((1, 2)): 0.9, frozenset((0, 2)): 0.9}
    got = group_verified(*args, _table_verify(even), _by_rank([0, 1, 2]), keeper_class=np.zeros(3, np.int64))
    assert [g.tolist() for g in got.groups] == [[0, 1, 2]]


def test_a_copy_that_failed_the_edited_keeper_joins_the_original_that_replaced_it(monkeypatch):
    import undouble.grouping as grouping_module

    # rule order: 0 (a contrast copy, "sharpest"), 1 (the photo), 2 (another contrast copy), 3 (a watermark:
    # passes against the photo only), 4 (verified with copy 2 but not with the photo), 5-6 (a pair of their
    # own, 5 also verified with the photo but kept in its group)
    table = {frozenset((0, 1)): 0.95, frozenset((1, 2)): 0.9, frozenset((0, 2)): 0.85, frozenset((1, 3)): 0.8,
             frozenset((2, 4)): 0.7, frozenset((5, 6)): 0.9, frozenset((1, 5)): 0.6}
    pairs = [tuple(sorted(p)) for p in table]
    args = (7, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    calls: list = []
    got = group_verified(*args, _table_verify(table, calls), _by_rank([0, 1, 2, 3, 4, 5, 6]),
                         keeper_class=np.zeros(7, np.int64))
    assert [g.tolist() for g in got.groups] == [[1, 0, 2, 3], [5, 6]]
    assert got.similarity[0].tolist() == pytest.approx([1.0, 0.95, 0.9, 0.8])
    assert all((1, 4) in call for call in calls[-1:])  # 4 was checked against the new keeper, and failed
    monkeypatch.setattr(grouping_module, "READMIT_TO_NEW_KEEPERS", False)
    off = group_verified(*args, _table_verify(table), _by_rank([0, 1, 2, 3, 4, 5, 6]),
                         keeper_class=np.zeros(7, np.int64))
    assert [g.tolist() for g in off.groups] == [[1, 0, 2], [5, 6]]


def test_most_similar_keeper_against_reference():
    switched = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = 7
        members = list(range(n))
        table = {frozenset((a, b)): float(rng.choice([0.5, 0.6, 0.7, 0.8, 0.9, 0.97]))
                 for a in range(n) for b in range(a + 1, n) if a == 0 or rng.random() < 0.93}
        klass = rng.integers(0, 2, n)
        klass[0] = 0
        sharp = rng.uniform(5, 10, n)
        got = group_verified(n, np.zeros(n - 1, np.int64), np.arange(1, n), _table_verify(table), _by_rank(members),
                             keeper_class=klass, sharpness_of=lambda rows: sharp[rows])
        assert len(got.groups) == 1 and sorted(got.groups[0].tolist()) == members  # all verified against 0
        keeper = int(got.groups[0][0])
        assert keeper == _reference_keeper(members, table, klass, sharp)
        switched += keeper != 0
        for row, sim in zip(got.groups[0][1:].tolist(), got.similarity[0][1:].tolist()):
            assert sim == pytest.approx(table[frozenset((keeper, row))])
    assert switched >= 2  # not only the trivial case (the rule's keeper kept)


def test_keeper_first_moves_the_verified_keeper_to_rank_0_and_says_why():
    from undouble._model_groups import keeper_first

    ranks = rank_keepers(["/x/a.jpg", "/x/b.jpg", "/x/c.jpg"], resolutions=[(800, 600)] * 3, file_sizes=[10, 10, 10],
                         blur_scores=[30.0, 20.0, 10.0], blur_sizes=[1, 1, 1])
    assert [r.path for r in ranks] == ["/x/a.jpg", "/x/b.jpg", "/x/c.jpg"]
    assert keeper_first(ranks, "/x/a.jpg") == ranks  # already first: unchanged
    moved = keeper_first(ranks, "/x/b.jpg")
    assert [r.path for r in moved] == ["/x/b.jpg", "/x/a.jpg", "/x/c.jpg"] and [r.rank for r in moved] == [0, 1, 2]
    assert "most similar" in moved[0].reason and "keeper rule" in moved[1].reason
    assert moved[2].reason == ranks[2].reason
