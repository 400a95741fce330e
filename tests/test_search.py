"""Searching the collection with images from outside it (`make search`)."""

import json
import shutil

import pytest
from conftest import run_stage
from PIL import Image

from similar import errors as cfg
from similar import parameters
from tools.search import main as search_main
from tools.search import search


@pytest.fixture
def built(pipeline):
    return pipeline


def top(entry):
    return entry["neighbours"][0]


def test_collection_image_under_another_name_finds_itself(built, tmp_path):
    copy = tmp_path / "unknown_scan.jpg"
    shutil.copy(built.root / "images/book_a/chelsea.jpg", copy)
    [entry] = search(copy, 5, parameters.load())
    assert entry["reference"] == {"id": str(copy), "url": None}
    assert top(entry)["id"] == "chelsea" and top(entry)["score"] >= 0.999
    assert len(entry["neighbours"]) == 5


@pytest.mark.parametrize("change", ["quality50", "half"])
def test_recompressed_or_halved_copy_finds_its_original(built, tmp_path, change):
    img = Image.open(built.root / "images/book_a/rocket.jpg")
    target = tmp_path / f"{change}.jpg"
    if change == "half":
        img = img.resize((img.width // 2, img.height // 2))
    img.save(target, quality=50 if change == "quality50" else 90)
    [entry] = search(target, 3, parameters.load())
    assert top(entry)["id"] == "rocket"


def test_folder_is_searched_in_batches_and_bad_files_skipped(built, tmp_path, capsys):
    folder = tmp_path / "finds"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "astronaut_mirror"):
        src = next((built.root / "images").rglob(f"{name}.jpg"))
        shutil.copy(src, folder / f"q_{name}.jpg")
    (folder / "broken.jpg").write_bytes(b"nope")
    search_main([str(folder), "--limit", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [e["reference"]["id"] for e in out] == [
        str(folder / f"q_{n}.jpg")
        for n in sorted(["astronaut", "coffee", "chelsea", "rocket", "astronaut_mirror"])
    ]
    assert all(e["neighbours"][0]["id"] == e["reference"]["id"].split("q_")[1][:-4] for e in out)


def test_table_output(built, tmp_path, capsys):
    shutil.copy(built.root / "images/book_a/coffee.jpg", tmp_path / "c.jpg")
    search_main([str(tmp_path / "c.jpg"), "--limit", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(tmp_path / "c.jpg") and "score" in lines[1] and "relation" in lines[1]
    assert "coffee" in lines[2] and "https://iiif.example.org" in lines[2]
    assert " copy " in lines[2] and "no verified copy" not in "\n".join(lines)


def test_candidates_are_verified_and_copies_come_first(built, tmp_path):
    img = Image.open(built.root / "images/book_a/chelsea.jpg")
    img.resize((200, 200)).save(tmp_path / "small.jpg", quality=70)
    [entry] = search(tmp_path / "small.jpg", 6, parameters.load())
    ns = entry["neighbours"]
    assert ns[0]["relation"] == "copy" and ns[0]["verified"] and ns[0]["inliers"] > 0
    copies = [n["id"] for n in ns if n["verified"]]
    assert set(copies) <= {"chelsea", "chelsea_mirror", "chelsea_crop"} and "chelsea" in copies
    ranks = [{"copy": 0, "shares_part": 1, None: 2}[n["relation"]] for n in ns]
    assert ranks == sorted(ranks)  # copies, then shared parts, then the rest
    assert all(n["inliers"] is not None for n in ns)  # every candidate was checked


def test_no_verified_copy_is_said(built, tmp_path, capsys):
    from conftest import real_photo

    real_photo("camera", size=256).save(tmp_path / "unrelated.jpg")
    search_main([str(tmp_path / "unrelated.jpg"), "--limit", "4"])
    out = capsys.readouterr().out
    assert "no verified copy" in out


def test_region_searches_for_a_detail(built, tmp_path):
    # the left half of the rocket photograph, as a researcher would frame a detail
    [entry] = search(
        built.root / "images/book_a/rocket.jpg", 6, parameters.load(), region=(0, 0, 128, 256)
    )
    assert entry["reference"]["id"] == str(built.root / "images/book_a/rocket.jpg")
    top = entry["neighbours"][0]
    assert top["id"].startswith("rocket") and top["relation"] in ("copy", "shares_part")


def test_a_page_searches_with_the_picture_found_on_it_too(built, tmp_path):
    """A page with the collection's cat printed on it: the page's own neighbour and the
    picture's are both listed (at most twice the limit), the cat checked a copy."""
    from tools import devset

    page = tmp_path / "page.png"
    with Image.open(built.root / "images/book_a/chelsea.jpg") as img:
        devset.pasted(img.convert("RGB"), seed=1).save(page)
    [entry] = search(page, 1, parameters.load())
    found = {n["id"]: n for n in entry["neighbours"]}
    assert len(found) <= 2 and found["chelsea"]["verified"]
    built.set("embed.pictures", False)
    [whole] = search(page, 1, parameters.load())
    assert [n["id"] for n in whole["neighbours"]] != ["chelsea"]  # the page alone: not the cat


@pytest.mark.parametrize(
    "region,message",
    [
        ("10,20,30", "REGION must be x,y,w,h"),
        ("0,0,0,10", "at least 1 pixel"),
        ("200,0,100,10", "reaches past"),
    ],
)
def test_a_bad_region_is_one_clear_line(built, region, message):
    image = built.root / "images/book_a/rocket.jpg"
    with pytest.raises(cfg.UserError, match=message):
        search_main([str(image), "--region", region])


def test_no_run_yet_names_make_all(small_collection, tmp_path):
    with pytest.raises(cfg.UserError, match="make all"):
        search(tmp_path, 3, parameters.load())


def test_changed_weights_are_refused(built, tmp_path):
    built.set("embed.seed", 7)
    with pytest.raises(cfg.UserError, match=r"embed.seed is 7 .* built with 0"):
        search(built.root / "images/book_a/coffee.jpg", 3, parameters.load())


def test_unreadable_image_is_clear(built, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(cfg.UserError, match="bad.jpg: cannot decode"):
        search(bad, 3, parameters.load())
    with pytest.raises(cfg.UserError, match="no such image file or folder"):
        search(tmp_path / "missing.jpg", 3, parameters.load())


def test_works_on_the_client_backend(built, tmp_path):
    built.set("qdrant.url", f"local:{tmp_path / 'q'}")
    run_stage("ingest")
    shutil.copy(built.root / "images/book_a/chelsea.jpg", tmp_path / "x.jpg")
    [entry] = search(tmp_path / "x.jpg", 3, parameters.load())
    assert top(entry)["id"] == "chelsea" and top(entry)["score"] >= 0.999
