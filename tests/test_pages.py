"""The picture on a page of type: found where rows of type lie above and below it, and on
nothing else (a photograph, a drawing, a page of type alone, a blank or tiny image)."""

import numpy as np
import pytest
from conftest import real_photo
from PIL import Image, ImageDraw

from similar.vectors import pages
from tools import devset


def placed_box(photo: Image.Image, seed: int = 0) -> tuple[int, int, int, int]:
    """Where devset.pasted puts the picture on its page (the same draws, in order)."""
    w, h = photo.size
    page_w, page_h = round(w * 1.6), round(h * 2.0)
    top = round(page_h * float(np.random.default_rng(seed).uniform(0.25, 0.4)))
    pic_w, pic_h = round(w * 0.8), round(h * 0.8)
    left = (page_w - pic_w) // 2
    return left, top, left + pic_w, top + pic_h


def overlap(a, b) -> float:
    """Intersection over union of two boxes."""
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


@pytest.mark.parametrize("name,size", [("astronaut", 300), ("coffee", 700), ("chelsea", 1200)])
def test_the_picture_pasted_into_a_page_is_found_where_it_was_put(name, size):
    photo = real_photo(name, size=size).convert("RGB")
    page = devset.pasted(photo, seed=3)
    box = pages.picture_box(page)
    assert box is not None and overlap(box, placed_box(photo, seed=3)) > 0.9


def test_a_drawing_pasted_into_a_page_is_found_by_its_strokes_on_the_paper():
    drawing = Image.new("RGB", (240, 200), "white")
    draw = ImageDraw.Draw(drawing)
    draw.ellipse((40, 30, 200, 170), outline="black", width=6)
    draw.line((40, 100, 200, 100), fill="black", width=4)
    box = pages.picture_box(devset.pasted(drawing, seed=1))
    left, top, _, _ = placed_box(drawing, seed=1)
    # the strokes, not the white around them (white is no ink on cream paper)
    strokes = (left + 32, top + 24, left + 160, top + 136)
    assert box is not None and overlap(box, strokes) > 0.9


def test_a_yellow_drawing_no_darker_than_the_paper_is_found_by_its_colour():
    drawing = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(drawing).regular_polygon((100, 100, 90), 5, fill=(250, 220, 0))
    box = pages.picture_box(devset.pasted(drawing, seed=4))
    left, top, right, bottom = placed_box(drawing, seed=4)
    assert box is not None and overlap(box, (left, top, right, bottom)) > 0.6


def type_only(width: int = 400, height: int = 600) -> Image.Image:
    page = Image.new("RGB", (width, height), devset.PAPER)
    draw = ImageDraw.Draw(page)
    for y in range(12, height - 20, 18):
        draw.text((16, y), "the plate engraved after the drawing " * 2, fill=devset.INK)
    return page


@pytest.mark.parametrize(
    "image",
    [
        real_photo("astronaut", size=400).convert("RGB"),
        real_photo("camera", size=256).convert("RGB"),
        real_photo("hubble_deep_field", size=300).convert("RGB"),
        type_only(),
        Image.new("RGB", (300, 300), "white"),
        Image.new("RGB", (1, 1), "black"),
    ],
    ids=["photograph", "grey photograph", "dark sky", "type alone", "blank", "one pixel"],
)
def test_nothing_else_is_a_page_with_a_picture(image):
    assert pages.picture_box(image) is None


def test_a_picture_covering_most_of_the_page_is_no_page():
    """Three short lines under a large picture: a caption, not a page of type."""
    photo = real_photo("rocket", size=400).convert("RGB")
    page = Image.new("RGB", (photo.width + 40, photo.height + 80), devset.PAPER)
    page.paste(photo, (20, 10))
    draw = ImageDraw.Draw(page)
    for line in range(3):
        draw.text((20, photo.height + 18 + 18 * line), "a caption of the plate", fill=devset.INK)
    assert pages.picture_box(page) is None


def test_what_is_left_once_touching_type_is_trimmed_must_be_a_picture_not_a_sliver():
    """Lines of type as bars; a narrow mark joins two of them into one tall run: trimmed of
    the type, 20 pixels wide under lines of 13, it is no picture."""
    page = Image.new("RGB", (400, 400), devset.PAPER)
    draw = ImageDraw.Draw(page)
    for top in [10, 28, 46, 64, 82, 100, 180, 198, 216]:
        draw.rectangle((20, top, 380, top + 12), fill=devset.INK)
    draw.rectangle((20, 140, 380, 152), fill=devset.INK)
    draw.rectangle((190, 113, 209, 139), fill=devset.INK)  # the run 100..152
    assert pages.picture_box(page) is None
    draw.rectangle((150, 113, 249, 139), fill=devset.INK)  # now as wide as 7 lines' height
    assert pages.picture_box(page) == (150, 113, 250, 140)


def test_runs_are_the_stretches_of_marked_rows():
    marked = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert pages.runs(marked) == [(1, 3), (5, 6), (7, 10)]
    assert pages.runs(np.zeros(4, bool)) == []


def test_a_box_found_on_a_reduced_decoding_is_given_in_the_full_images_pixels():
    assert pages.scaled((10, 20, 50, 60), (100, 100), (400, 300)) == (40, 60, 200, 180)
    assert pages.scaled((0, 0, 100, 100), (100, 100), (401, 399)) == (0, 0, 401, 399)


@pytest.mark.e2e
@pytest.mark.parametrize("pictures", [True, False])
def test_a_page_joins_its_pictures_group_through_the_picture_found_on_it(project, pictures):
    """Four photographs, each pasted into a page of type: each page's own nearest image is
    another page (the type), so with one candidate a page only finds its photograph through
    the picture found on it (real weights: the ones the model's package ships)."""
    from conftest import run_stage, write_collection

    from similar.files import read_csv

    names = ("astronaut", "coffee", "chelsea", "rocket")
    images = {}
    for seed, name in enumerate(names):
        photo = real_photo(name, size=320).convert("RGB")
        images[f"{name}.png"] = photo
        images[f"page_{name}.png"] = devset.pasted(photo, seed=seed)
    write_collection(project.root / "images", images)
    (project.root / "iiif.csv").write_text("id,iiif_url\n")
    (project.root / "groups.csv").write_text(
        "id,group\n" + "".join(f"{n},{n}\npage_{n},{n}\n" for n in names)
    )
    for key, value in {
        "embed.model": "efficientnet_lite0",
        "embed.weights": "imagenet",
        "embed.image_size": 224,
        "embed.pictures": pictures,
        "reduce.n_components": 6,
        "graph.k": 1,
        "groups.k": 1,
    }.items():
        project.set(key, value)
    for stage in ("embed", "reduce", "attach_iiif", "graph", "groups"):
        run_stage(stage)
    group_of = {
        row["id"]: row["group"] for row in read_csv(project.root / "data/groups/groups.csv")
    }
    together = {name for name in names if group_of.get(f"page_{name}", "?") == group_of.get(name)}
    if pictures:
        assert together == set(names)
    else:  # the whole pages' vectors find two of the four
        assert len(together) < len(names), together
