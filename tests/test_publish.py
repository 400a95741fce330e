"""The publish stage: IIIF Presentation 3 and W3C linking annotations that the official schema
accepts, one Manifest per group and one Canvas per member, the same bytes on a rerun."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from conftest import run_stage
from publish_checks import check_folder, invalid

from similar.files import read_csv, read_json
from similar.groups.grouping import read_groups_json
from similar.iiif import publish
from similar.verification.points import Points

BASE = "https://example.org/reuse/iiif"


def members() -> dict[str, publish.Member]:
    rows = [
        ("lion", "book_a/lion.jpg", 300, 200, None, ""),
        ("lion copy", "book_b/lion copy.png", 150, 100, None, "1563"),
        (
            "lion_iiif",
            "book_c/lion_iiif.jpg",
            600,
            400,
            "https://iiif.example.org/iiif/3/b%2F0001/10,20,600,400/max/0/default.jpg",
            "",
        ),
        ("frame", "book_c/frame.jpg", 100, 100, None, ""),
    ]
    out = {r[0]: publish.Member(*r[:4], link=r[4], year=r[5]) for r in rows}
    out["woodcut"] = publish.Member(
        "woodcut",
        "woodcut.jpg",
        80,
        60,
        link="https://iiif.example.org/iiif/3/p%2F7/20,20,160,120/max/0/default.jpg",
        manifest="https://library.example.org/book/manifest.json",
        canvas="https://library.example.org/book/canvas/7",
        xywh="10,10,80,60",
    )
    return out


def groups() -> list[dict]:
    def pair(a, b, relation="copy", **figures):
        base = {"a": a, "b": b, "score": 0.91, "inliers": 120, "verified": relation == "copy"}
        return {**base, "mirrored": False, "relation": relation, "agreement": 0.8, **figures}

    return [
        {
            "group": "lion",
            "size": 3,
            "members": [{"id": i, "url": None} for i in ("lion", "lion copy", "lion_iiif")],
            "edges": [pair("lion", "lion copy", mirrored=True), pair("lion", "lion_iiif")],
            "possible": [],
            "shared_parts": [pair("frame", "lion", relation="shares_part")],
        },
        {
            "group": "woodcut",
            "size": 2,
            "members": [{"id": "woodcut", "url": None}, {"id": "frame", "url": None}],
            "edges": [pair("frame", "woodcut")],
            "possible": [],
            "shared_parts": [],
        },
    ]


def test_every_file_validates_and_has_a_manifest_per_group(tmp_path):
    matches = {"lion": {"lion copy": {"mirrored": True, "points": [[0.1, 0.2, 0.5, 0.5]] * 3}}}
    files = publish.publish(groups(), members(), Points.of(matches), BASE, "Reuse")
    publish.write_files(tmp_path, files)
    collection = check_folder(tmp_path, groups())
    assert all(item["id"].startswith(BASE + "/") for item in collection["items"])
    page = json.loads((tmp_path / "annotations/lion.json").read_text())
    first = page["items"][0]
    # the box of the inliers on each side, in each canvas's pixels
    assert first["target"][0].endswith("#xywh=30,40,1,1")
    assert first["target"][1].endswith("#xywh=75,50,1,1")
    assert "mirrored" in first["body"]["value"] and "120 inliers" in first["body"]["value"]
    # a pair without matched points: the whole of both pictures
    assert page["items"][1]["target"][1].endswith("#xywh=0,0,600,400")
    manifest = json.loads((tmp_path / "manifests/lion.json").read_text())
    bodies = [c["items"][0]["items"][0]["body"]["id"] for c in manifest["items"]]
    assert bodies == [
        f"{BASE}/images/book_a/lion.jpg",
        f"{BASE}/images/book_b/lion%20copy.png",
        members()["lion_iiif"].link,
    ]
    # the id with a space gets a safe name of its own
    assert "lion_copy-" in manifest["items"][1]["id"]


def test_annotations_on_the_source_canvas_are_part_of_the_source_manifest(tmp_path):
    publish.write_files(tmp_path, publish.publish(groups(), members(), Points(), BASE, "Reuse"))
    assert invalid(tmp_path) == {}
    (page,) = sorted((tmp_path / "sources").iterdir())
    annotation = json.loads(page.read_text())["items"][0]
    target = annotation["target"]
    assert target["source"]["id"] == "https://library.example.org/book/canvas/7"
    assert target["source"]["partOf"] == [
        {"id": "https://library.example.org/book/manifest.json", "type": "Manifest"}
    ]
    assert target["selector"]["value"] == "xywh=10,10,80,60"
    assert "reused in 1 other images: frame" in annotation["body"][0]["value"]
    assert annotation["body"][1]["id"] == f"{BASE}/manifests/woodcut.json"


def test_pairs_csv_names_both_images_of_every_pair():
    files = publish.publish(groups(), members(), Points(), BASE, "Reuse")
    rows = list(csv.DictReader(io.StringIO(files["pairs.csv"].decode())))
    assert len(rows) == 2 * 4
    copy = rows[1]
    assert (copy["id"], copy["other"], copy["book"], copy["year"]) == (
        "lion copy",
        "lion",
        "book_b",
        "1563",
    )
    iiif = rows[3]
    assert iiif["id"] == "lion_iiif" and iiif["region"] == "10,20,600,400 (0,0,600,400 of it)"
    woodcut = rows[7]
    assert woodcut["source"] == "https://library.example.org/book/canvas/7"
    assert woodcut["region"] == "10,10,80,60 (0,0,80,60 of it)"


def test_the_same_groups_give_the_same_bytes_and_a_new_base_url_moves_every_id():
    once = publish.publish(groups(), members(), Points(), BASE, "Reuse")
    assert publish.publish(groups(), members(), Points(), BASE, "Reuse") == once
    moved = publish.publish(groups(), members(), Points(), "http://127.0.0.1:9/x", "Reuse")
    assert BASE not in b"".join(moved.values()).decode()


def test_a_content_state_opens_the_group_manifest():
    encoded = publish.content_state(f"{BASE}/manifests/lion.json")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    state = publish.decode_content_state(encoded)
    assert state["motivation"] == ["contentState"]
    assert state["target"] == {"id": f"{BASE}/manifests/lion.json", "type": "Manifest"}
    link = publish.viewer_link("http://127.0.0.1:8642/mirador.html", BASE, "lion copy")
    assert link.startswith("http://127.0.0.1:8642/mirador.html?iiif-content=")
    target = publish.decode_content_state(link.split("=", 1)[1])["target"]["id"]
    assert target == publish.Ids(BASE).manifest("lion copy")


@pytest.mark.parametrize("name", ["lion", "a/b", "../x", "ü", "", "x" * 200])
def test_names_are_safe_and_distinct(name):
    safe = publish.name_of(name)
    assert safe and "/" not in safe and not safe.startswith(".") and len(safe) <= 80
    assert safe != publish.name_of(name + " ")


def test_the_stage_publishes_the_pipeline_and_a_rerun_gives_the_same_bytes(pipeline):
    run_stage("publish")
    folder = pipeline.root / "data/iiif"
    found = read_groups_json(pipeline.root / "data/groups/groups.json")
    assert found
    check_folder(folder, found)
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    run_stage("publish")
    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before
    rows = list(csv.DictReader(io.StringIO((folder / "pairs.csv").read_text())))
    pairs = sum(len(g["edges"]) + len(g["shared_parts"]) for g in found)
    assert len(rows) == 2 * pairs
    # the preview links every group to its Manifest in Mirador, by content state
    collection = read_json(folder / "collection.json")
    pages = sorted((pipeline.root / "data/preview").glob("group*.html"))
    states = re.findall(
        r'href="[^"]*\?iiif-content=([A-Za-z0-9_-]+)"', "".join(p.read_text() for p in pages)
    )
    opened = [publish.decode_content_state(s)["target"]["id"] for s in states]
    assert sorted(opened) == sorted(item["id"] for item in collection["items"])


def test_pairs_only_the_groups_stage_checked_get_their_matched_region(pipeline):
    from similar.verification.points import Points, group_pairs, points_of

    found = read_groups_json(pipeline.root / "data/groups/groups.json")
    matches = Points.of(read_json(pipeline.root / "data/verified/matches.json"))
    only_groups = {p for p in group_pairs(found) if points_of(matches, *p) is None}
    assert only_groups  # the groups stage checks pairs of the whole graph
    group_points = Points.of(read_json(pipeline.root / "data/groups/points.json"))
    assert all(points_of(group_points, *p) for p in only_groups)
    for gone in (pipeline.root / "images", pipeline.root / ".cache"):
        shutil.rmtree(gone)  # publish reads the points; it checks no pair again
    run_stage("publish")
    sizes = {
        r["id"]: f"0,0,{r['width']},{r['height']}"
        for r in read_csv(pipeline.root / "data/embeddings/images.csv")
    }
    folder = pipeline.root / "data/iiif"
    rows = list(csv.DictReader(io.StringIO((folder / "pairs.csv").read_text())))
    checked = [r for r in rows if tuple(r["pair"].split("--")) in only_groups]
    assert checked
    for row in checked:  # a box of matched points, never the whole picture
        overlap = row["region"].split("(")[-1].removesuffix(" of it)")
        x, y, w, h = (int(v) for v in overlap.split(","))
        assert overlap != sizes[row["id"]] and w > 0 and h > 0
        assert row["difference"] != ""


def test_paint_files_paints_every_canvas_from_its_file(tmp_path):
    files = publish.publish(groups(), members(), Points(), BASE, "Reuse", paint="files")
    publish.write_files(tmp_path, files)
    assert invalid(tmp_path) == {}
    manifest = json.loads((tmp_path / "manifests/lion.json").read_text())
    bodies = [c["items"][0]["items"][0]["body"]["id"] for c in manifest["items"]]
    assert bodies[2] == f"{BASE}/images/book_c/lion_iiif.jpg"
    # the source canvases are still annotated: they do not depend on what paints ours
    assert list((tmp_path / "sources").iterdir())


def test_a_part_shared_with_an_image_in_no_group_targets_that_image(tmp_path):
    found, images = groups(), members()
    images["plate"] = publish.Member("plate", "plate.jpg", 50, 40)
    extra = {"a": "lion", "b": "plate", "score": 0.5, "inliers": 30, "relation": "shares_part"}
    found[0]["shared_parts"].append(extra)
    publish.write_files(tmp_path, publish.publish(found, images, Points(), BASE, "Reuse"))
    check_folder(tmp_path, found)
    last = json.loads((tmp_path / "annotations/lion.json").read_text())["items"][-1]
    assert last["target"][0] == f"{BASE}/manifests/lion/canvas/lion#xywh=0,0,300,200"
    assert last["target"][1]["source"] == {
        "id": f"{BASE}/images/plate.jpg",
        "type": "Image",
        "format": "image/jpeg",
    }
    assert last["target"][1]["selector"]["value"] == "xywh=0,0,50,40"
    assert "shares part: lion and plate" in last["body"]["value"]


def test_no_groups_is_an_empty_collection_that_still_validates(tmp_path):
    publish.write_files(tmp_path, publish.publish([], {}, Points(), BASE, "Reuse"))
    assert check_folder(tmp_path, [])["items"] == []
