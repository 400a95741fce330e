"""Stages ingest, bulk_query and preview, and the ranking figures they report."""

import json
import re

import pytest
from conftest import run_stage

from similar import errors as cfg
from similar.evaluation import ranking_metrics
from similar.iiif import safe_link, thumbnail_url
from similar.preview import render


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
    matches = {"a": {"b": {"mirrored": False, "points": [[0.1, 0.2, 0.3, 0.4]]}}}
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
