"""Review marks as ground truth: the relation each mark judged, and metrics that count only
the pairs a partial review covers."""

import numpy as np
import pytest

from similar.errors import UserError
from similar.evaluation import (
    marked_pairs,
    pairwise_on_marks,
    query_figures,
    ranking_metrics,
    ranking_on_marks,
)
from similar.files import read_json
from similar.groundtruth import read_groups, read_marks
from similar.verification import rerank


def write(tmp_path, text):
    target = tmp_path / "marks.csv"
    target.write_text(text)
    return target


def test_shared_part_marks_never_join_copies(tmp_path):
    f = write(
        tmp_path,
        "reference,neighbour,match,relation\n"
        "a,b,1,copy\nb,c,1,copy\na,frame,1,shares_part\nc,d,0,copy\n",
    )
    assert read_groups(f) == {"a": "a", "b": "a", "c": "a"}
    marks = read_marks(f)
    assert [(m.reference, m.neighbour, m.match, m.relation) for m in marks][2] == (
        "a",
        "frame",
        True,
        "shares_part",
    )


def test_marks_without_relation_judged_copies(tmp_path):
    f = write(tmp_path, "reference,neighbour,match\na,b,1\nb,c,0\n")
    assert read_groups(f) == {"a": "a", "b": "a"}
    assert all(m.copy for m in read_marks(f))
    assert read_marks(write(tmp_path, "id,group\na,g\n")) is None


def test_a_bad_mark_names_its_line(tmp_path):
    f = write(tmp_path, "reference,neighbour,match,relation\na,b,1,copy\na,c,1,same\n")
    with pytest.raises(UserError, match=r"marks.csv, line 3: .* got '1' and 'same'"):
        read_groups(f)


def test_covered_pairs_are_closed_over_confirmed_groups(tmp_path):
    f = write(
        tmp_path,
        "reference,neighbour,match,relation\n"
        "a,b,1,copy\na,c,1,copy\nx,y,1,copy\na,x,0,copy\nb,z,1,shares_part\n",
    )
    copies, apart = marked_pairs(read_marks(f))
    assert copies == {("a", "b"), ("a", "c"), ("b", "c"), ("x", "y")}
    # "a is not x" says no member of a's group is a copy of one of x's
    assert apart == {(p, q) for p in "abc" for q in "xy"}


def test_a_partial_review_counts_only_what_it_judged(tmp_path):
    # 3 groups reviewed out of many: the grouping put 40 unreviewed images in 10 groups
    f = write(
        tmp_path,
        "reference,neighbour,match,relation\n"
        "a,b,1,copy\na,c,1,copy\nd,e,1,copy\nd,f,0,copy\ng,h,1,copy\n",
    )
    ids = list("abcdefgh") + [f"u{i}" for i in range(40)]
    # found: {a,b,c}, {d,e,f} (f wrongly), {g}, {h} (missed), the unreviewed 4 by 4
    labels = [0, 0, 0, 1, 1, 1, 2, 3] + [10 + i // 4 for i in range(40)]
    m = pairwise_on_marks(ids, labels, read_marks(f))
    # covered: copies ab ac bc de gh; apart df ef; together among them: ab ac bc de df ef
    assert m["marked_pairs"] == 7 and m["marked_copy_pairs"] == 5 and m["marked_images"] == 8
    assert m["pairwise_precision"] == round(4 / 6, 6)
    assert m["pairwise_recall"] == round(4 / 5, 6)
    assert m["pairwise_f1"] == round(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5), 6)


RANKING_MARKS = (
    "reference,neighbour,match,relation\n"
    "a,b,1,copy\na,c,1,copy\na,x,0,copy\nd,e,1,copy\na,frame,1,shares_part\n"
)


def test_ranking_against_marks_counts_only_judged_neighbours(tmp_path):
    marks = read_marks(write(tmp_path, RANKING_MARKS))
    # u1, u2 nobody judged with a; frame shares a part (no copy judged); c is missed
    lists = {"a": ["u1", "b", "u2", "x", "frame"], "d": ["u3", "e"], "u9": ["a"]}
    m = ranking_on_marks(lists, marks, [1, 2])
    # judged: a -> b, x (b at 1; c missed); d -> e (e at 1); u9 judged nothing, has no copy
    assert m["evaluated_references"] == 2
    assert m["recall@1"] == round((1 / 2 + 1) / 2, 6)
    assert m["mAP"] == round(((1 / 1) / 2 + 1) / 2, 6)
    assert m["marked_pairs"] == 3 and m["marked_copy_pairs"] == 3  # ab ac de, not bc
    # the same lists against the marks' groups count u1, u2 and frame as wrong
    assert ranking_metrics(lists, read_groups(tmp_path / "marks.csv"), [1])["mAP"] < m["mAP"]


def test_verify_and_bulk_query_figures_against_marks(tmp_path):
    marks = read_marks(write(tmp_path, RANKING_MARKS))
    truth = read_groups(tmp_path / "marks.csv")
    entries = [
        {
            "reference": {"id": ref, "url": None},
            "neighbours": [
                {
                    "id": n,
                    "url": None,
                    "score": 0.9,
                    "inliers": 0,
                    "verified": False,
                    "mirrored": False,
                    "relation": None,
                }
                for n in ns
            ],
        }
        for ref, ns in {"a": ["u1", "b", "c"], "d": ["u2", "e"]}.items()
    ]
    m = rerank.metrics(entries, entries, truth, 3, marks)
    assert m["mAP"] == 1.0 and m["candidate_recall"] == 1.0 and m["marked_pairs"] == 3
    assert rerank.metrics(entries, entries, truth, 3)["mAP"] < 1.0  # unjudged u1, u2 wrong
    x = np.eye(7, dtype=np.float32)
    ids = ["a", "b", "c", "d", "e", "u1", "u2"]
    figures, _ = query_figures(entries, [], x, ids, truth, 3, marks)
    assert figures["mAP"] == 1.0 and figures["marked_pairs"] == 3
    assert figures["marked_copy_pairs"] == 3


@pytest.mark.e2e
def test_bulk_query_and_verify_measure_against_marks_over_what_they_cover(pipeline, capsys):
    from conftest import run_stage

    lists = read_json(pipeline.root / "data/verified/neighbours.json")
    ref = lists[0]["reference"]["id"]
    first, second = (n["id"] for n in lists[0]["neighbours"][:2])
    (pipeline.root / "marks.csv").write_text(
        f"reference,neighbour,match,relation\n{ref},{first},1,copy\n{ref},{second},0,copy\n"
    )
    pipeline.set("data.groups", "marks.csv")
    for stage in ("bulk_query", "verify"):
        run_stage(stage)
        m = read_json(pipeline.root / f"metrics/{stage}.json")
        said = capsys.readouterr().out
        assert m["marked_copy_pairs"] == 1 and m["evaluated_references"] == 1
        # both judged pairs are in verify's lists; bulk_query's may stop before them
        assert m["marked_pairs"] == 2 if stage == "verify" else m["marked_pairs"] <= 2
        assert f"over the {m['marked_pairs']} pairs the review marks cover" in said
