"""Verified lists: the pair layout, re-ranking by inliers, extension past bulk_query.limit."""

from similar.verification import rerank
from similar.verification.base import CopyRule, PairResult

RULE = CopyRule(15, 0.6, 0.7)


def entry(ref, *scores):
    return {
        "reference": {"id": ref, "url": None},
        "neighbours": [{"id": f"{ref}{i}", "url": None, "score": s} for i, s in enumerate(scores)],
    }


def test_pair_layout_takes_each_references_first_candidates_in_order():
    lists = [entry("a", 0.9, 0.8, 0.7), entry("b", 0.5)]
    assert rerank.pair_layout(lists, 2) == [("a", "a0"), ("a", "a1"), ("b", "b0")]


def copy(inliers, mirrored=False, matches=()):
    return PairResult(inliers, mirrored, matches, agreement=0.9, contained=1.0)


def test_copies_first_by_inliers_then_shared_parts_then_the_rest_unchecked():
    """Copies first, by inliers, those in the reference's orientation before mirrored ones
    (once every keypoint is matched, a mirrored copy's inliers equal the original's)."""
    e = entry("a", 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
    part = PairResult(90, agreement=0.2)  # many inliers, but the pictures disagree
    out = rerank.rerank(e, [copy(3), copy(20), copy(40, True), part, copy(30)], RULE)
    ns = out["neighbours"]
    assert [n["id"] for n in ns] == ["a4", "a1", "a2", "a3", "a0", "a5"]
    assert [n["inliers"] for n in ns] == [30, 20, 40, 90, 3, None]
    assert [n["relation"] for n in ns] == ["copy", "copy", "copy", "shares_part", None, None]
    assert [n["verified"] for n in ns] == [True, True, True, False, False, False]
    assert [n["mirrored"] for n in ns] == [False, False, True, False, False, False]


def test_a_copy_found_through_a_part_described_at_a_crops_scale_ranks_after_whole_ones():
    """A strong crop matched against the part of the whole it shows, described on its own,
    counts its inliers over a denser description: a halved copy of the whole (30 inliers)
    stays before a crop of it (120) in its list."""
    e = entry("a", 0.9, 0.8, 0.7)
    crop = PairResult(120, agreement=0.9, contained=1.0, zoomed=True)
    out = rerank.rerank(e, [crop, copy(30), copy(20)], RULE)
    assert [n["id"] for n in out["neighbours"]] == ["a1", "a2", "a0"]
    assert [n["relation"] for n in out["neighbours"]] == ["copy"] * 3


def test_rerank_lists_slices_results_by_the_layout_and_keeps_verified_points():
    lists = [entry("a", 0.9, 0.8), entry("b", 0.5)]
    pairs = rerank.pair_layout(lists, 5)
    results = [copy(1), copy(30, False, ((0.1, 0.2, 0.3, 0.4),)), copy(16)]
    assert len(pairs) == len(results)
    verified, matches = rerank.rerank_lists(lists, results, 5, RULE)
    assert [n["id"] for n in verified[0]["neighbours"]] == ["a1", "a0"]
    assert verified[1]["neighbours"][0]["inliers"] == 16
    assert matches == {
        "a": {"a1": {"mirrored": False, "points": ((0.1, 0.2, 0.3, 0.4),)}},
        "b": {"b0": {"mirrored": False, "points": ()}},
    }


def test_short_lists_are_extended_without_repeats_or_the_reference():
    lists = [entry("a", 0.9), entry("b", 0.9, 0.8)]
    asked = []

    def more(refs, top):
        asked.append((refs, top))
        extra = [{"id": i, "url": None, "score": 0.1} for i in ("a0", "a", "x", "y")]
        return {"a": extra}

    out = rerank.extend_lists(lists, 2, more)
    assert asked == [(["a"], 2)]
    assert [n["id"] for n in out[0]["neighbours"]] == ["a0", "x"]
    assert out[1] == lists[1]


def test_passed_through_keeps_the_cnn_ranking():
    e = entry("a", 0.9, 0.8)
    out = rerank.passed_through(e)
    assert [n["id"] for n in out["neighbours"]] == ["a0", "a1"]
    assert all(n["inliers"] is None and not n["verified"] for n in out["neighbours"])


def test_metrics_count_pairs_and_measure_against_the_ceiling():
    lists = [entry("a", 0.9, 0.8)]
    verified = [rerank.rerank(lists[0], [copy(2), copy(30)], RULE)]
    truth = {"a": "g", "a1": "g"}
    m = rerank.metrics(verified, lists, truth, 2)
    assert m["pairs"] == 2 and m["verified_pairs"] == 1 and m["mirrored_matches"] == 0
    assert m["distinct_pairs"] == 2
    # a1 lists a back: the pair is listed twice and checked once
    back = entry("a1", 0.9)
    back["neighbours"][0]["id"] = "a"
    both = verified + [rerank.rerank(back, [copy(20)], RULE)]
    counted = rerank.metrics(both, lists + [back], truth, 2)
    assert counted["pairs"] == 3 and counted["distinct_pairs"] == 2
    assert "3 pairs listed (2 checked" in rerank.summary(counted, 3, 1.0, "out")
    assert m["recall@1"] == 1.0 and m["mAP"] == 1.0 and m["candidate_recall"] == 1.0
