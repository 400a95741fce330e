"""The collection of real drawings: its ground-truth rule and its planted copies, on a small
library drawn here in the clip-art library's layout."""

import csv

from PIL import Image, ImageDraw

from tools import drawings


def drawing(colour, shape: str, size=(96, 80)) -> Image.Image:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if shape == "box":
        draw.rectangle((10, 10, 60, 50), fill=colour)
    else:
        draw.ellipse((20, 8, 90, 70), fill=colour)
    return img


def library(root):
    (root / "shapes/jigsaw").mkdir(parents=True)
    (root / "recreation/games").mkdir(parents=True)
    (root / "special/gradients").mkdir(parents=True)
    drawing((200, 30, 30, 255), "box").save(root / "shapes/jigsaw/piece_01.png")
    drawing((20, 20, 120, 255), "disc").save(root / "shapes/jigsaw/piece 02.png")
    drawing((200, 30, 30, 255), "box").save(root / "recreation/games/piece_01.png")
    Image.new("RGBA", (80, 80), (0, 0, 0, 0)).save(root / "special/gradients/glow.png")
    drawing((0, 0, 0, 255), "box", (12, 40)).save(root / "shapes/tiny.png")
    return root


def truth(out):
    with open(out / "groups.csv", newline="") as f:
        return {row["id"]: (row["group"], row["kind"]) for row in csv.DictReader(f)}


def test_every_drawing_is_its_own_picture_unless_it_holds_the_same_pixels(tmp_path):
    out = tmp_path / "out"
    drawings.collect(library(tmp_path / "png"), out, count=0)
    found = truth(out)
    assert set(found) == {
        "oc-shapes-jigsaw-piece_01",
        "oc-shapes-jigsaw-piece_02",
        "oc-recreation-games-piece_01",
    }  # the blank gradient and the tiny drawing are left out
    assert found["oc-shapes-jigsaw-piece_01"][0] == found["oc-recreation-games-piece_01"][0]
    assert found["oc-shapes-jigsaw-piece_02"] == ("oc-shapes-jigsaw-piece_02", "drawing")
    with Image.open(out / "images/drawing/oc-shapes-jigsaw-piece_02.png") as img:
        assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255)
    assert (out / "iiif.csv").read_text().count("\n") == 4


def test_planted_copies_join_their_sources_group_the_kinds_in_turn(tmp_path):
    out = tmp_path / "out"
    count = drawings.collect(library(tmp_path / "png"), out, count=3)
    found = truth(out)
    copies = {key: value for key, value in found.items() if value[1] != "drawing"}
    assert count == 6 and len(copies) == 3
    assert sorted(kind for _, kind in copies.values()) == sorted(drawings.devset.HARD_KINDS[:3])
    for key, (group, kind) in copies.items():
        source = key.removeprefix(f"{kind}-")
        assert group == found[source][0]
        assert (out / "images" / kind / f"{key}.png").is_file()


def test_a_library_without_drawings_is_one_line(tmp_path):
    import pytest

    from similar.errors import UserError

    (tmp_path / "png").mkdir()
    with pytest.raises(UserError, match="holds no drawings"):
        drawings.collect(tmp_path / "png", tmp_path / "out")


def test_a_shift_plants_the_copies_on_the_next_drawings_the_kinds_moved_on(tmp_path):
    plain, shifted, png = tmp_path / "plain", tmp_path / "shifted", library(tmp_path / "png")
    drawings.collect(png, plain, count=1)
    drawings.collect(png, shifted, count=1, shift=1)

    def copies(out):
        return {key: kind for key, (_, kind) in truth(out).items() if kind != "drawing"}

    # the large drawings, sorted: recreation-games-piece_01, shapes-jigsaw-piece_01, ..._02
    kinds = drawings.devset.HARD_KINDS
    assert copies(plain) == {f"{kinds[0]}-oc-recreation-games-piece_01": kinds[0]}
    assert copies(shifted) == {f"{kinds[1]}-oc-shapes-jigsaw-piece_01": kinds[1]}
