"""Groups of copies: candidate edges, components, verification, naming, ground truth round trip."""

import json

import numpy as np
import pytest
from conftest import real_photo, run_stage

from similar.groundtruth import read_groups
from similar.groups import grouping as groups
from similar.verification.base import CopyRule


def test_components_of_a_hand_made_graph():
    # 0-1-2 chained, 3-4 a pair, 5 alone; neighbours as a kNN graph of width 2
    neighbours = np.array([[1, 5], [0, 2], [1, 0], [4, 0], [3, 2], [0, 1]])
    scores = np.array(
        [[0.9, 0.1], [0.9, 0.8], [0.8, 0.2], [0.7, 0.1], [0.7, 0.2], [0.1, 0.1]], np.float32
    )
    a, b, s = groups.candidate_edges(neighbours, scores, k=2, min_score=0.5, mutual=False)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (1, 2), (3, 4)]
    assert s.tolist() == pytest.approx([0.9, 0.8, 0.7])
    labels = groups.components(6, a, b)
    ids = ["f", "c", "e", "b", "a", "d"]
    named = groups.named_groups(labels, ids)
    assert [(name, [ids[m] for m in members]) for name, members in named] == [
        ("c", ["c", "e", "f"]),
        ("a", ["a", "b"]),
    ]
    # mutual: 0-5 and 1-2 are in each other's lists; 2->0 is not answered by 0->2
    a, b, _ = groups.candidate_edges(neighbours, scores, k=2, min_score=0.0, mutual=True)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (0, 5), (1, 2), (3, 4)]


def test_a_pictures_neighbours_are_candidates_of_its_page():
    """Image 5's picture (found on it as on a page) is near 3 and 4: edges 3-5 and 4-5 join
    the graph's; a duplicate keeps its best score, min_score and k apply, mutual does not."""
    from similar.search.graph import PictureEdges

    neighbours = np.array([[1, 5], [0, 2], [1, 0], [4, 0], [3, 2], [0, 1]])
    scores = np.array(
        [[0.9, 0.1], [0.9, 0.8], [0.8, 0.2], [0.7, 0.1], [0.7, 0.2], [0.1, 0.1]], np.float32
    )
    pictures = PictureEdges(
        np.array([5]), np.array([[3, 4, 0]]), np.array([[0.95, 0.6, 0.3]], np.float32)
    )
    a, b, s = groups.candidate_edges(neighbours, scores, 2, 0.5, False, pictures)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (1, 2), (3, 4), (3, 5), (4, 5)]
    assert s.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.95, 0.6])
    a, b, _ = groups.candidate_edges(neighbours, scores, 1, 0.0, True, pictures)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (3, 4), (3, 5)]


def test_pairwise_figures_hand_computed():
    pred = np.array([0, 0, 0, 1, 1, 2])  # pairs: 01 02 12 34
    truth = np.array([0, 0, 1, 1, 1, 2])  # pairs: 01 23 24 34
    m = groups.pairwise(pred, truth)
    assert m == {"pairwise_precision": 0.5, "pairwise_recall": 0.5, "pairwise_f1": 0.5}
    assert groups.pairwise(truth, truth)["pairwise_f1"] == 1.0


@pytest.fixture
def grouped(pipeline):
    pipeline.set("graph.k", 11)
    pipeline.set("groups.k", 11)
    run_stage("graph")
    run_stage("groups")
    return pipeline


def csv_rows(root):
    return (root / "data/groups/groups.csv").read_text().splitlines()


def test_groups_stage_finds_each_photo_with_its_copies(grouped):
    root = grouped.root
    rows = csv_rows(root)
    assert rows[0] == "id,group"
    found = dict(r.split(",") for r in rows[1:])
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        assert found[name] == found[f"{name}_crop"] == found[f"{name}_mirror"]
    assert len(set(found.values())) == 4
    data = json.loads((root / "data/groups/groups.json").read_text())
    assert [g["size"] for g in data] == [3, 3, 3, 3]
    assert data[0]["group"] == "astronaut"  # named by the smallest id; ties by name
    assert all(e["inliers"] >= 15 for g in data for e in g["edges"])
    assert data[0]["members"][0] == {
        "id": "astronaut",
        "url": "https://iiif.example.org/iiif/3/astronaut/full/max/0/default.jpg",
    }
    m = json.loads((root / "metrics/groups.json").read_text())
    assert (m["groups"], m["grouped_images"], m["largest_group"]) == (4, 12, 3)
    assert m["pairwise_precision"] == m["pairwise_recall"] == 1.0
    assert m["edges_checked"] > m["edges_verified"] >= 8
    plot = (root / "plots/groups_threshold.csv").read_text().splitlines()
    assert plot[0] == "min_score,precision,recall,f1,cnn_precision,cnn_recall,cnn_f1"
    assert len(plot) == 1 + groups.PLOT_STEPS


def test_verification_cuts_a_false_edge_the_score_would_keep(grouped):
    """With random weights every image scores high against every other: the score alone
    joins everything into one group, verification keeps the four pictures apart."""
    root = grouped.root
    grouped.set("groups.min_score", -1.0)
    run_stage("groups")
    assert json.loads((root / "metrics/groups.json").read_text())["groups"] == 4
    grouped.set("groups.verify", False)
    run_stage("groups")
    m = json.loads((root / "metrics/groups.json").read_text())
    assert m["largest_group"] == 12 and m["pairwise_precision"] < 0.3
    assert m["edges_checked"] == 0


def test_rerun_is_byte_identical_and_the_csv_is_ground_truth(grouped):
    root = grouped.root
    first = {
        p: (root / p).read_bytes()
        for p in ("data/groups/groups.csv", "data/groups/groups.json", "metrics/groups.json")
    }
    run_stage("groups")
    assert {p: (root / p).read_bytes() for p in first} == first
    truth = read_groups(root / "data/groups/groups.csv")
    assert truth["rocket_mirror"] == truth["rocket"] == "rocket"
    grouped.set("data.groups", "data/groups/groups.csv")  # a reviewed run as the next truth
    run_stage("groups")
    m = json.loads((root / "metrics/groups.json").read_text())
    assert m["pairwise_precision"] == m["pairwise_recall"] == 1.0


def test_adding_images_changes_only_the_groups_they_join(grouped):
    root = grouped.root
    grouped.set("groups.min_score", -1.0)
    run_stage("groups")
    before = {g["group"]: g for g in json.loads((root / "data/groups/groups.json").read_text())}
    photo = real_photo("coffee", size=256)
    photo.rotate(5, expand=True, fillcolor="white").save(
        root / "images/book_b/zz_coffee_rotated.jpg"
    )
    real_photo("camera", size=256).save(root / "images/book_b/zz_camera.jpg")
    # every pair a candidate, so that the groups depend on verification alone
    grouped.set("graph.k", 13)
    grouped.set("groups.k", 13)
    grouped.set("groups.min_score", -1.0)
    for stage in ("embed", "reduce", "attach_iiif", "graph", "groups"):
        run_stage(stage)
    after = {g["group"]: g for g in json.loads((root / "data/groups/groups.json").read_text())}
    assert set(after) == set(before)
    assert [m["id"] for m in after["coffee"]["members"]] == [
        m["id"] for m in before["coffee"]["members"]
    ] + ["zz_coffee_rotated"]
    for name in ("astronaut", "chelsea", "rocket"):
        assert [m["id"] for m in after[name]["members"]] == [
            m["id"] for m in before[name]["members"]
        ]


def test_figures_per_kind_sizes_and_ceiling_hand_computed():
    pred = np.array([0, 0, 0, 1, 1, 2])  # pairs: 01 02 12 34
    truth = np.array([0, 0, 1, 1, 1, 2])  # pairs: 01 23 24 34
    kinds = ["plain", "plain", "frame", "frame", "frame", "plain"]
    by_kind = groups.pairwise_by_kind(pred, truth, kinds)
    # plain: put 01 02 12 (01 right); expected 01
    assert by_kind["plain"] == {
        "pairwise_precision": round(1 / 3, 6),
        "pairwise_recall": 1.0,
        "pairs_put_together": 3,
        "pairs_expected": 1,
        # both plain: put 01 (right); expected 01
        "pairwise_precision_within": 1.0,
        "pairwise_recall_within": 1.0,
        "pairs_expected_within": 1,
    }
    # frame: put 02 12 34 (34 right); expected 23 24 34
    assert by_kind["frame"]["pairwise_precision"] == round(1 / 3, 6)
    assert by_kind["frame"]["pairwise_recall"] == round(1 / 3, 6)
    # both frame: put 34 (right); expected 23 24 34
    assert by_kind["frame"]["pairwise_precision_within"] == 1.0
    assert by_kind["frame"]["pairwise_recall_within"] == round(1 / 3, 6)
    assert by_kind["frame"]["pairs_expected_within"] == 3
    assert groups.sizes(pred) == {"2": 1, "3": 1}
    a, b = np.array([0, 1, 2]), np.array([1, 2, 3])  # candidates 01 12 23: 24 and 34 missing
    assert groups.candidate_ceiling(6, a, b, truth) == round(2 / 4, 6)
    # a perfect check of 01 12 23 joins 01 and 23: frame's 23 of 23 24 34, plain's 01 of 01
    ceiling = groups.ceiling_labels(6, a, b, truth)
    by_kind = groups.pairwise_by_kind(pred, truth, kinds, ceiling)
    assert by_kind["frame"]["candidate_ceiling_recall"] == round(1 / 3, 6)
    assert by_kind["plain"]["candidate_ceiling_recall"] == 1.0
    # group 0 (images 0 1 2) mixes truth 0 and 1; group 1 (3 4) does not; 5 is alone
    assert groups.mixing(pred, truth) == 1
    assert groups.mixing(np.arange(6), truth) == 0
    best = groups.best_threshold(6, a, b, np.array([0.9, 0.2, 0.8], np.float32), truth)
    assert best["min_score"] == 0.8 and best["pairwise_precision"] == 1.0


def test_two_copies_whose_centred_cosine_is_minus_one_are_candidates():
    # N = 2: PCA centring puts the two vectors opposite, cosine exactly -1.0
    from similar.settings import GroupsSettings

    neighbours, scores = np.array([[1], [0]]), np.array([[-1.0], [-1.0]], np.float32)
    edges = groups.candidates(neighbours, scores, GroupsSettings())
    assert list(zip(edges.a.tolist(), edges.b.tolist())) == [(0, 1)]


def test_groups_k_past_graph_k_names_both(grouped, capsys):
    grouped.set("groups.k", 50)
    run_stage("groups")
    assert "groups.k (50) is more than graph.k (11" in capsys.readouterr().err


def test_groups_json_lists_figures_and_no_shared_part_inside_a_group(grouped):
    found = json.loads((grouped.root / "data/groups/groups.json").read_text())
    for g in found:
        assert set(g) == {"group", "size", "members", "edges", "possible", "shared_parts"}
        for e in g["edges"]:
            assert e["relation"] == "copy" and 0 <= e["agreement"] <= 1
            assert {"coverage", "inlier_ratio", "inliers"} <= set(e)
        assert all(e["relation"] == "shares_part" for e in g["shared_parts"])


@pytest.mark.parametrize("join", ["two", "one"])
def test_the_threshold_plot_describes_the_groups_the_stage_writes(join):
    from similar.settings import GroupsSettings

    # two verified triangles and one wrong verified bridge between them
    ids = np.array([f"i{n}" for n in range(6)])
    a = np.array([0, 0, 1, 3, 3, 4, 2])
    b = np.array([1, 2, 2, 4, 5, 5, 3])
    edges = groups.Edges(a, b, np.full(7, 0.5, np.float32), inliers=np.full(7, 40))
    truth = {f"i{n}": "left" if n < 3 else "right" for n in range(6)}
    grouping = GroupsSettings(join=join)
    labels = groups.kept_labels(ids, edges, join)
    found = groups.named_groups(labels, ids)
    metrics, plot = groups.figures(ids, edges, labels, found, truth, {}, grouping)
    row = dict(zip(groups.PLOT_HEADER, plot[0]))
    assert float(row["precision"]) == metrics["pairwise_precision"]
    assert float(row["recall"]) == metrics["pairwise_recall"]
    assert metrics["pairwise_precision"] == (1.0 if join == "two" else 0.4)


def test_groups_apart_keeps_a_bridged_pair_that_only_shares_a_part_in_two_groups():
    """Two triangles bridged by one wrong copy edge (2-3), joined by `groups.join: one`;
    a checked pair across them (1-4) only shares a part. With `groups.apart` the stage's
    groups and its threshold plot keep the two apart."""
    from similar.settings import GroupsSettings

    ids = np.array([f"i{n}" for n in range(6)])
    a = np.array([0, 0, 1, 3, 3, 4, 2, 1])
    b = np.array([1, 2, 2, 4, 5, 5, 3, 4])
    kept = np.array([True] * 7 + [False])
    edges = groups.Edges(a, b, np.full(8, 0.5, np.float32), np.full(8, 40), kept, shared=~kept)
    truth = {f"i{n}": "left" if n < 3 else "right" for n in range(6)}
    assert len(set(groups.kept_labels(ids, edges, "one").tolist())) == 1
    labels = groups.kept_labels(ids, edges, "one", apart="all")
    assert len(set(labels.tolist())) == 2
    assert len(set(groups.kept_labels(ids, edges, "one", apart="parts").tolist())) == 1
    grouping = GroupsSettings(join="one", apart="all")
    found = groups.named_groups(labels, ids)
    metrics, plot = groups.figures(ids, edges, labels, found, truth, {}, grouping)
    row = dict(zip(groups.PLOT_HEADER, plot[0]))
    assert metrics["pairwise_precision"] == 1.0 == float(row["precision"])


RULE = CopyRule(15, min_agreement=0.6, min_overlap=0.85, max_difference=0.0)


def queens(part: int, contained: float, difference: float) -> groups.Edges:
    """Two queens of one deck (0, 1), each with a copy of its own (3, 4), and a third
    picture (2) that is a copy of each, as a part of them where `part` is PART_OF["b"] (a
    crop of the figure both draw); the queens' own pair (0-1) only shares a part, with these
    figures."""
    a = np.array([0, 1, 0, 1, 2, 2, 0])
    b = np.array([2, 2, 3, 4, 3, 4, 1])
    kept = np.array([True] * 6 + [False])
    fields = [{"contained": 1.0, "difference": 0.0}] * 6
    fields.append({"contained": contained, "difference": difference})
    differs = ~kept & np.array([groups.differ_whole(f, RULE) for f in fields])
    parts = np.array([part, part, 0, 0, 0, 0, 0], np.int8)
    return groups.Edges(a, b, np.full(7, 0.5), np.full(7, 40), kept, ~kept, fields, differs, parts)


def test_a_part_of_two_pictures_that_differ_in_one_frame_does_not_join_them():
    """`groups.apart: parts`: the queens lie whole on each other and differ there (their
    corner indices), and the figure's crop is a part of each: two groups. Each keeps its
    own copy; the crop joins one of them."""
    ids = np.array([f"i{n}" for n in range(5)])
    edges = queens(groups.PART_OF["b"], contained=1.0, difference=0.05)
    labels = groups.kept_labels(ids, edges, "one")
    assert labels[0] != labels[1] and labels[0] == labels[3] and labels[1] == labels[4]
    assert len(set(groups.kept_labels(ids, edges, "one", apart="none").tolist())) == 1


@pytest.mark.parametrize(
    "part, contained, difference",
    [
        (0, 1.0, 0.05),  # the third picture is the whole picture again: no part of both
        (2, 0.4, 0.0),  # one picture in two frames (a border, a page): the same where they meet
        (2, 1.0, 0.0),  # their pair found no difference
    ],
)
def test_a_third_picture_joins_two_pictures_where_nothing_says_they_differ(
    part, contained, difference
):
    ids = np.array([f"i{n}" for n in range(5)])
    edges = queens(part, contained, difference)
    assert len(set(groups.kept_labels(ids, edges, "one").tolist())) == 1


def test_a_part_of_two_pictures_that_differ_keeps_them_apart_though_neither_is_whole():
    """Two ensigns with other badges (0, 1) lie only partly on each other and differ where
    they do; the Union flag alone (2) is a part of each: two groups, whatever the join."""
    ids = np.array([f"i{n}" for n in range(5)])
    edges = queens(groups.PART_OF["b"], contained=0.06, difference=0.23)
    edges.draws_apart = ~edges.kept & np.array(
        [groups.draws_different(f, RULE) for f in edges.fields]
    )
    labels = groups.kept_labels(ids, edges, "one")
    assert labels[0] != labels[1] and labels[0] == labels[3] and labels[1] == labels[4]


def test_a_lone_copy_of_one_member_is_refused_where_its_pair_with_another_is_kept_apart():
    """0 and 1 (one ensign and the Union flag alone, a part of it) are a group of two; 2,
    another ensign, is a copy of 1 only (1 a part of it) and shares only the flag with 0,
    drawing another badge: it stays out, though neither ensign lies whole in the other."""
    ids = np.array([f"i{n}" for n in range(3)])
    a, b = np.array([0, 1, 0]), np.array([1, 2, 2])
    kept = np.array([True, True, False])
    fields = [{"contained": 1.0, "difference": 0.0}] * 2 + [{"contained": 0.06, "difference": 0.23}]
    parts = np.array([groups.PART_OF["b"], groups.PART_OF["a"], 0], np.int8)
    differs = ~kept & np.array([groups.differ_whole(f, RULE) for f in fields])
    apart = ~kept & np.array([groups.draws_different(f, RULE) for f in fields])
    edges = groups.Edges(
        a, b, np.full(3, 0.5), np.full(3, 40), kept, ~kept, fields, differs, parts, apart
    )
    labels = groups.kept_labels(ids, edges, "two")
    assert labels[0] == labels[1] and labels[2] != labels[0]
    assert len(set(groups.kept_labels(ids, edges, "two", apart="none").tolist())) == 1
    # the threshold plot refuses it too: its rows are the groups the stage writes
    from similar.settings import GroupsSettings

    truth = {"i0": "ensign", "i1": "ensign", "i2": "other ensign"}
    found = groups.named_groups(labels, ids)
    metrics, plot = groups.figures(ids, edges, labels, found, truth, {}, GroupsSettings())
    row = dict(zip(groups.PLOT_HEADER, plot[0]))
    assert metrics["pairwise_precision"] == 1.0 == float(row["precision"])


@pytest.mark.parametrize("contained, taken_in", [(0.3, True), (1.0, False)])
def test_a_copy_of_one_member_joins_unless_it_is_another_picture_in_a_members_frame(
    contained, taken_in
):
    """3 is a copy of 0 only (a strong crop); its pair with 1 only shares a part: two crops
    of one picture that overlap in a strip (taken in), or a picture lying whole in 1 that
    draws something else there (kept out, a possible member)."""
    ids = np.array([f"i{n}" for n in range(4)])
    a, b = np.array([0, 0, 1, 0, 1]), np.array([1, 2, 2, 3, 3])
    kept = np.array([True, True, True, True, False])
    fields = [{"contained": 1.0, "difference": 0.0}] * 4
    fields.append({"contained": contained, "difference": 0.1})
    differs = ~kept & np.array([groups.differ_whole(f, RULE) for f in fields])
    edges = groups.Edges(a, b, np.full(5, 0.5), np.full(5, 40), kept, ~kept, fields, differs)
    labels = groups.kept_labels(ids, edges, "two")
    assert (labels[3] == labels[0]) == taken_in and labels[0] == labels[1] == labels[2]
