"""Stages ingest, bulk_query and preview, and the ranking figures they report."""

import json
import re

import pytest
from conftest import run_stage

from similar import errors as cfg
from similar.evaluation import ranking_metrics
from similar.iiif.links import safe_link, thumbnail_url
from similar.preview import render
from similar.verification.points import Points


def test_neighbours_follow_the_schema(pipeline):
    root = pipeline.root
    entries = json.loads((root / "data/neighbours/neighbours.json").read_text())
    assert [e["reference"]["id"] for e in entries] == ["astronaut", "rocket"]
    for e in entries:
        assert set(e) == {"reference", "neighbours"} and set(e["reference"]) == {"id", "url"}
        assert len(e["neighbours"]) == 3
        assert e["reference"]["id"] not in [n["id"] for n in e["neighbours"]]
        keys = [(-n["score"], n["id"]) for n in e["neighbours"]]
        assert keys == sorted(keys)
        assert all(set(n) == {"id", "url", "score"} for n in e["neighbours"])
        assert all(round(n["score"], 6) == n["score"] for n in e["neighbours"])
    receipt = json.loads((root / "data/ingest/receipt.json").read_text())
    assert receipt["count"] == 12 and receipt["collection"] == "onit"
    assert receipt["fingerprint"].startswith("sha256:")


def test_bulk_query_metrics(pipeline):
    m = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert m["references"] == 2 and m["missing_references"] == 0 and m["missing_ids"] == []
    assert m["ann_recall@10"] == 1.0
    for key in ("recall@1", "mAP", "mean_top1_score", "mean_score@10"):
        assert -1 <= m[key] <= 1
    assert "recall@5" not in m  # limit is 3
    assert (pipeline.root / "plots/recall.csv").read_text().splitlines()[0] == "k,recall"


def test_missing_references_are_warned_not_fatal(pipeline, capsys):
    (pipeline.root / "queries.txt").write_text("ghost\nastronaut\nastronaut\n")
    run_stage("bulk_query")
    m = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert m["references"] == 1 and m["missing_ids"] == ["ghost"]
    err = capsys.readouterr().err
    assert "not in the collection: ghost" in err and "1 repeated ids ignored" in err


def test_all_references(pipeline):
    pipeline.set("bulk_query.references", "all")
    run_stage("bulk_query")
    entries = json.loads((pipeline.root / "data/neighbours/neighbours.json").read_text())
    assert len(entries) == 12


def test_a_page_is_searched_with_the_picture_found_on_it_too(pipeline):
    """A reference whose page holds a picture (here: astronaut, given coffee's vector as its
    picture's) lists its own neighbours and the picture's, coffee first, at most twice the
    limit; the other reference's list is as it was."""
    import numpy as np

    from similar.files import read_ids_urls
    from similar.vectors.pictures import Pictures

    root = pipeline.root
    before = json.loads((root / "data/neighbours/neighbours.json").read_text())
    ids, _ = read_ids_urls(root / "data/vectors/vectors.jsonl")
    x = np.load(root / "data/reduced/vectors.npy")
    picture = Pictures.of(["astronaut"], [[0, 0, 50, 50]], [x[ids.index("coffee")]], x.shape[1])
    picture.write(root / "data/reduced/pictures.npz")
    run_stage("bulk_query")
    after = json.loads((root / "data/neighbours/neighbours.json").read_text())
    page = [n["id"] for n in after[0]["neighbours"]]
    assert page[0] == "coffee" and len(page) <= 6 and "astronaut" not in page
    assert set(n["id"] for n in before[0]["neighbours"]) <= set(page)
    assert after[1] == before[1]


def test_wiped_store_is_detected(pipeline):
    import shutil

    shutil.rmtree(pipeline.root / "data/qdrant")
    pipeline.set("bulk_query.engine", "store")  # the product reads the vectors, not the store
    with pytest.raises(cfg.UserError, match=r"dvc repro -f ingest"):
        run_stage("bulk_query")


def test_bulk_query_is_byte_identical_on_rerun(pipeline):
    target = pipeline.root / "data/neighbours/neighbours.json"
    before = target.read_bytes()
    run_stage("ingest")
    run_stage("bulk_query")
    assert target.read_bytes() == before


def test_ranking_metrics_hand_computed():
    groups = {"a": "g1", "a2": "g1", "a3": "g1", "b": "g2", "b2": "g2", "c": "g3"}
    results = {"a": ["x", "a2", "y", "a3"], "b": ["b2", "x"], "c": ["a", "b"]}
    m = ranking_metrics(results, groups, [1, 2, 4])
    # a: copies at ranks 2 and 4 -> recall@1 0, @2 .5, @4 1; AP = (1/2 + 2/4) / 2 = .5
    # b: copy at rank 1 -> recall 1 everywhere; AP 1.  c has no copies: not evaluated.
    assert m == {
        "recall@1": 0.5,
        "recall@2": 0.75,
        "recall@4": 1.0,
        "mAP": 0.75,
        "evaluated_references": 2,
    }


def test_preview_pages_thumbnails_and_links(pipeline):
    out = pipeline.root / "data/preview"
    html = (out / "index.html").read_text()
    thumbs = re.findall(r'src="(thumbs/[0-9a-f]+\.jpg)"', html)
    assert thumbs and all((out / t).is_file() for t in thumbs)
    assert 'loading="lazy"' in html
    assert "https://iiif.example.org/iiif/3/astronaut/full/max/0/default.jpg" in html
    pipeline.set("preview.per_page", 1)
    run_stage("preview")
    assert (out / "page-2.html").is_file() and 'href="page-2.html"' in (
        out / "index.html"
    ).read_text()


def test_preview_escapes_hostile_ids_and_urls(tmp_path):
    evil = '"><img src=x onerror=alert(1)>'
    entries = [
        {
            "reference": {"id": evil, "url": "javascript:alert(1)"},
            "neighbours": [
                {"id": "<script>x</script>", "url": "https://ok.org/a", "score": 0.5},
                {"id": "weak", "url": None, "score": -0.5},
            ],
        }
    ]
    render(entries, tmp_path, per_page=10, min_score=0.0, thumbs={}, title="t<b>")
    html = (tmp_path / "index.html").read_text()
    assert evil not in html and "<script>x</script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html
    assert 'href="https://ok.org/a"' in html
    assert 'data-neighbour="weak"' not in html and "1 weaker neighbours hidden" in html
    assert "t&lt;b&gt;" in html


def test_iiif_helpers():
    assert safe_link("javascript:alert(1)") is None and safe_link("data:x") is None
    assert safe_link("HTTPS://a.org/x") == "HTTPS://a.org/x"
    v3 = "https://i.org/iiif/3/b%2F0001/10,20,300,400/max/0/default.jpg"
    assert (
        thumbnail_url(v3, 200)
        == "https://i.org/iiif/3/b%2F0001/10,20,300,400/!200,200/0/default.jpg"
    )
    v2 = "https://i.org/iiif/2/b%2F0001/full/full/0/default.png"
    assert thumbnail_url(v2, 150) == "https://i.org/iiif/2/b%2F0001/full/!150,150/0/default.jpg"
    assert thumbnail_url("https://i.org/page.html", 100) is None


def test_preview_iiif_thumbnails_with_local_fallback(pipeline):
    root = pipeline.root
    lines = (root / "iiif.csv").read_text().splitlines()
    # one image whose URL is not an Image API URL falls back to a local thumbnail
    lines = [
        line if not line.startswith("coffee,") else "coffee,https://example.org/page/coffee.html"
        for line in lines
    ]
    (root / "iiif.csv").write_text("\n".join(lines) + "\n")
    for stage in ("attach_iiif", "ingest", "bulk_query"):
        run_stage(stage)
    pipeline.set("bulk_query.references", "all")
    run_stage("bulk_query")
    run_stage("verify")
    run_stage("groups")
    pipeline.set("preview.thumbnails", "iiif")
    run_stage("preview")
    html = (root / "data/preview/index.html").read_text()
    assert 'src="https://iiif.example.org/iiif/3/astronaut/full/!160,160/0/default.jpg"' in html
    coffee = html.split('data-reference="coffee"')[1].split("</section>")[0]
    assert 'src="thumbs/' in coffee


def test_group_cards_show_members_by_date_then_possible_members_and_shared_parts_apart():
    from similar.preview import Context, Evidence, group_card

    def pair(a, b, inliers, relation):
        return {"a": a, "b": b, "score": 0.5, "inliers": inliers, "relation": relation}

    found = {
        "group": "a",
        "size": 3,
        "members": [{"id": "a", "url": None}, {"id": "b", "url": None}, {"id": "e", "url": None}],
        "edges": [
            {**pair("a", "b", 80, "copy"), "agreement": 0.9},
            {**pair("b", "e", 30, "copy"), "agreement": 0.8},
        ],
        "possible": [pair("b", "c", 30, "copy")],
        "shared_parts": [pair("a", "d", 400, "shares_part"), pair("d", "e", 12, "shares_part")],
    }
    books = {"a": "x", "b": "late", "c": "x", "d": "y", "e": "early"}
    matches = Points.of({"a": {"b": {"mirrored": False, "points": [[0.1, 0.2, 0.3, 0.4]]}}})
    ctx = Context(books=books, years={"early": 1701, "late": 1790}, evidence=Evidence(matches, 12))
    g = group_card(found, 1, ctx)
    assert g["size"] == 3 and g["id"] == "a"
    assert [b["book"] for b in g["books"]] == ["early", "late", "x"]
    assert [b["year"] for b in g["books"]] == [1701, 1790, None]
    assert [m["id"] for m in g["members"]] == ["e", "b"]  # by the year of their book
    # each member's figures are named as one pair: with the group's image where there is one
    badges = {m["id"]: m["badge"] for m in g["members"]}
    assert (badges["b"]["a"], badges["b"]["b"], badges["b"]["inliers"]) == ("a", "b", 80)
    assert (badges["e"]["a"], badges["e"]["b"], badges["e"]["label"]) == ("b", "e", "b")
    assert [(p["id"], p["reference"]) for p in g["possible"]] == [("c", "b")]
    # a picture sharing a part with two members is shown once, naming both
    (shared,) = g["shared"]
    assert shared["id"] == "d" and shared["with"] == ["a", "e"]
    assert [b["label"] for b in shared["badges"]] == ["a", "e"] and shared["badges"][1]["unsure"]
    page = ctx.evidence.take()
    assert page["pairs"]["a"]["b"]["points"] == [[0.1, 0.2, 0.3, 0.4]]
    assert page["pairs"]["a"]["b"]["figures"]["agreement"] == 0.9
    assert set(page["views"]) == {"a", "b", "c", "d", "e"}


def test_two_members_that_only_share_a_part_show_it_on_their_cards_not_as_outsiders():
    from similar.preview import Context, Evidence, group_card

    def pair(a, b, inliers, relation, part=""):
        return {"a": a, "b": b, "inliers": inliers, "relation": relation, "part": part}

    # two crops of one picture, from two places: each a copy of the whole, the two only
    # sharing a part, and an outsider sharing a part with one of them
    found = {
        "group": "whole",
        "size": 3,
        "members": [{"id": i, "url": None} for i in ("whole", "crop-left", "crop-right")],
        "edges": [
            pair("whole", "crop-left", 78, "copy", "b"),
            pair("whole", "crop-right", 37, "copy", "b"),
        ],
        "possible": [],
        "shared_parts": [
            pair("crop-left", "crop-right", 59, "shares_part"),
            pair("crop-left", "frame", 20, "shares_part"),
        ],
    }
    g = group_card(found, 1, Context(evidence=Evidence(Points.of({}), 12)))
    assert [s["id"] for s in g["shared"]] == ["frame"]  # no member shown again as an outsider
    parts = {m["id"]: [(b["a"], b["b"], b["relation"]) for b in m["parts"]] for m in g["members"]}
    assert parts == {
        "crop-left": [("crop-right", "crop-left", "shares_part")],
        "crop-right": [("crop-left", "crop-right", "shares_part")],
    }
    assert {m["id"]: m["badge"]["relation"] for m in g["members"]} == {
        "crop-left": "copy",
        "crop-right": "copy",
    }


def test_overview_counts_the_groups_each_pair_of_books_shares():
    from similar.preview import book_matrix

    found = [
        {"group": "a", "members": [{"id": "a"}, {"id": "b"}, {"id": "c"}]},
        {"group": "d", "members": [{"id": "d"}, {"id": "e"}]},
    ]
    books = {"a": "x", "b": "y", "c": "y", "d": "y", "e": "z"}
    order, rows, lists = book_matrix(found, books, {"z": 1700}, per_page=1)
    assert order == ["z", "x", "y"]  # dated first
    assert [r["cells"] for r in rows] == [[0, 0, 1], [0, 0, 1], [1, 1, 1]]
    assert lists["pair-1-2"] == {"x": "x", "y": "y", "groups": [["groups.html#g-1", "a"]]}
    assert lists["pair-2-2"]["groups"] == [["groups.html#g-1", "a"]]
    assert lists["pair-0-2"]["groups"] == [["groups-2.html#g-2", "d"]]
    assert set(lists) == {"pair-0-2", "pair-1-2", "pair-2-2"}


def test_find_index_names_where_each_image_is():
    from similar.preview import find_index

    entries = [
        {"reference": {"id": "r1"}, "neighbours": [{"id": "n"}]},
        {"reference": {"id": "r2"}, "neighbours": [{"id": "r1"}]},
    ]
    found = [
        {
            "group": "g",
            "members": [{"id": "g"}, {"id": "n"}],
            "possible": [{"a": "g", "b": "p"}],
            "shared_parts": [],
        }
    ]
    rows = find_index(entries, found, {"n": "book"}, per_page=1)
    assert rows == [
        ["g", "", "", "groups.html#g-1"],
        ["n", "book", "index.html#ref-1", "groups.html#g-1"],
        ["p", "", "", "groups.html#g-1"],
        ["r1", "", "index.html#ref-1", ""],
        ["r2", "", "page-2.html#ref-2", ""],
    ]


def test_years_file_is_checked(tmp_path):
    from similar.preview import read_years

    good = tmp_path / "years.csv"
    good.write_text("book,year\nb/1,1750\nb/2,-20\n")
    assert read_years(good) == {"b/1": 1750, "b/2": -20} and read_years(None) == {}
    bad = tmp_path / "bad.csv"
    bad.write_text("book,year\nb/1,circa 1750\n")
    with pytest.raises(cfg.UserError, match="'circa 1750' of book 'b/1' is not a year"):
        read_years(bad)
    bad.write_text("title,date\nx,1\n")
    with pytest.raises(cfg.UserError, match="expected columns book,year"):
        read_years(bad)
    with pytest.raises(cfg.UserError, match="preview.years"):
        read_years(tmp_path / "missing.csv")


def test_matched_points_read_either_way_round_and_thinned():
    from similar.preview import MAX_POINTS, shown_points
    from similar.verification.points import Points, points_of

    matches = Points.of({"a": {"b": {"mirrored": True, "points": [[0.1, 0.2, 0.3, 0.4]]}}})
    assert points_of(matches, "a", "b")["points"] == [[0.1, 0.2, 0.3, 0.4]]
    assert points_of(matches, "b", "a") == {"mirrored": True, "points": [[0.3, 0.4, 0.1, 0.2]]}
    assert points_of(matches, "a", "c") is None
    many = [[i / 1000, 0.123456, 0.5, 0.5] for i in range(MAX_POINTS * 2 + 1)]
    thin = shown_points(many)
    assert len(thin) <= MAX_POINTS and thin[0] == [0.0, 0.123, 0.5, 0.5]


def test_pair_figures_are_read_from_what_the_pair_carries():
    from similar.preview import pair_figures

    pair = {"a": "x", "b": "y", "inliers": 30, "relation": "copy", "new_figure": 0.5, "no": None}
    assert pair_figures(pair) == {"inliers": 30, "relation": "copy", "new_figure": 0.5}


def test_the_evidence_names_the_picture_that_is_a_part_of_the_other():
    """groups.json's pair a-b shown from b's side, and a verified list's pair (reference,
    neighbour): `part` becomes the id of the picture that lies in the other."""
    from similar.preview import Evidence

    evidence = Evidence(Points.of({}), 12)
    crop = {"a": "crop", "b": "card", "inliers": 40, "relation": "copy", "part": "a"}
    evidence.badge("card", "crop", crop)
    listed = {"id": "page", "inliers": 40, "relation": "copy", "part": "b"}
    evidence.badge("card", "page", listed)
    whole = {"id": "halftone", "inliers": 40, "relation": "copy", "part": ""}
    evidence.badge("card", "halftone", whole)
    pairs = evidence.take()["pairs"]["card"]
    assert pairs["crop"]["figures"]["part"] == "crop"
    assert pairs["page"]["figures"]["part"] == "page"
    assert pairs["halftone"]["figures"]["part"] == ""
