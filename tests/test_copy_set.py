"""The copy set: photographs with hard copies of every kind in turn, among distractors."""

import csv

import pytest
from PIL import Image

from similar.errors import UserError
from tools import copy_set


def small_devset(root):
    """A development collection of two cards and an icon at two sizes."""
    rows = [
        ("card-a-club_2", "card-a-club_2", "card"),
        ("card-a-spade_2", "card-a-spade_2", "card"),
        ("icon-t-x-32", "icon-t-x", "icon"),
        ("icon-t-x-48", "icon-t-x", "icon"),
    ]
    for key, _, kind in rows:
        (root / "images" / kind).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 60), "white").save(root / "images" / kind / f"{key}.png")
    with open(root / "groups.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("id", "group", "kind"), *rows])
    return root


def test_copies_take_the_kinds_in_turn_and_join_their_photograph(tmp_path):
    collection = small_devset(tmp_path / "devset")
    n = copy_set.build(tmp_path / "set", collection, count=3, photos=3)
    rows = list(csv.DictReader(open(tmp_path / "set/groups.csv", encoding="utf-8")))
    assert n == len(rows) == 3 * (1 + copy_set.COPIES) + 3
    kinds = list(copy_set.copy_kinds())
    copies = [r for r in rows if r["kind"] not in ("photo", "distractor")]
    assert sorted(r["kind"] for r in copies) == sorted(kinds[: 3 * copy_set.COPIES])
    for r in copies:
        photograph = r["id"].rsplit("-", 1)[0]
        assert r["group"] == photograph and (tmp_path / "set/images" / r["kind"]).is_dir()
    links = list(csv.DictReader(open(tmp_path / "set/iiif.csv", encoding="utf-8")))
    assert [r["id"] for r in links] == sorted(r["id"] for r in rows)


def test_a_shift_gives_each_photograph_the_next_kinds(tmp_path):
    collection = small_devset(tmp_path / "devset")
    kinds = list(copy_set.copy_kinds())
    for shift in (0, 1, len(kinds) + 2):
        folder = tmp_path / f"shift-{shift}"
        copy_set.build(folder, collection, count=0, photos=2, shift=shift)
        rows = list(csv.DictReader(open(folder / "groups.csv", encoding="utf-8")))
        photos = [r["id"] for r in rows if r["kind"] == "photo"]
        assert len(photos) == 2
        for i, photo in enumerate(sorted(photos, key=[r["id"] for r in rows].index)):
            given = sorted(r["kind"] for r in rows if r["group"] == photo and r["id"] != photo)
            turns = range(copy_set.COPIES * i + shift, copy_set.COPIES * (i + 1) + shift)
            assert given == sorted(kinds[turn % len(kinds)] for turn in turns), (shift, photo)


def test_distractors_keep_their_groups_and_are_chosen_evenly(tmp_path):
    collection = small_devset(tmp_path / "devset")
    copy_set.build(tmp_path / "set", collection, count=2, photos=1)
    rows = list(csv.DictReader(open(tmp_path / "set/groups.csv", encoding="utf-8")))
    chosen = {r["id"]: r["group"] for r in rows if r["kind"] == "distractor"}
    assert chosen == {"card-a-club_2": "card-a-club_2", "icon-t-x-48": "icon-t-x"}


def test_a_missing_development_collection_says_how_to_build_it(tmp_path):
    with pytest.raises(UserError, match="python -m tools.devset --out"):
        copy_set.build(tmp_path / "set", tmp_path / "nowhere", photos=1)
