"""A copy shows the same picture; a shared border, typeface or texture is only a shared part."""

import numpy as np
import pytest
from conftest import described, real_photo
from PIL import Image, ImageOps

from similar import settings
from similar.groups.clustering import agglomerate
from similar.verification.base import CopyRule
from similar.verification.runner import seed_of
from similar.verification.sift import check_pair
from tools.sample.hard_cases import card, framed, text_block

S = settings.VerifySettings(workers=1)


def features(img: Image.Image):
    return described(img, "JPEG", quality=90)


def relation(first: Image.Image, second: Image.Image):
    found = check_pair(features(first), features(second), S, seed_of("a", "b"))
    return found.relation(CopyRule.of(S)), found


def halftone(img: Image.Image) -> Image.Image:
    """Printed as dots: dithered to black and white at twice the size."""
    w, h = img.size
    return ImageOps.grayscale(img).resize((2 * w, 2 * h)).convert("1").convert("RGB")


@pytest.fixture(scope="module")
def picture():
    return real_photo("astronaut", size=None).resize((400, 400))


def shared_parts():
    coffee, rocket = real_photo("coffee", size=None), real_photo("rocket", size=None)
    brick = real_photo("brick", size=None)
    rng = np.random.default_rng(3)
    return {
        "border": (framed(coffee, 7, "Fig. 1. Temple Gate"), framed(rocket, 7, "Fig. 2. Harbour")),
        "card": (card(coffee, "A"), card(rocket, "K")),
        "typeface": (text_block(rng), text_block(rng)),
        "texture": (brick.crop((0, 0, 256, 256)), brick.crop((256, 256, 512, 512))),
    }


@pytest.mark.parametrize("part", ["border", "card", "typeface", "texture"])
def test_a_shared_part_is_never_a_copy(part):
    first, second = shared_parts()[part]
    kind, found = relation(first, second)
    assert kind in ("shares_part", None), found


def copies(picture):
    return {
        "crop": picture.crop((60, 40, 330, 300)),
        "halftone": halftone(picture),
        "mirror": ImageOps.mirror(picture),
        "framed": framed(picture, 7, "Fig. 3. Column"),
    }


@pytest.mark.parametrize("kind", ["crop", "halftone", "mirror", "framed"])
def test_a_picture_and_its_copy_are_a_copy(picture, kind):
    found, figures = relation(picture, copies(picture)[kind])
    assert found == "copy", figures
    assert figures.contained >= 0.9, figures  # a copy lies whole inside the other picture


@pytest.mark.parametrize(
    "kind, part", [("crop", "b"), ("framed", "a"), ("halftone", ""), ("mirror", "")]
)
def test_a_copy_says_which_picture_is_a_part_of_the_other(picture, kind, part):
    """A crop lies in its picture, the picture in its border and caption: a part of it; a
    halftone or a mirrored copy is the whole picture again."""
    _, figures = relation(picture, copies(picture)[kind])
    assert figures.part == part, figures
    assert figures.fields(CopyRule.of(S))["part"] == part


def test_a_copy_turned_on_a_larger_blank_canvas_is_no_more_than_the_picture(picture):
    """Turned 12 degrees on white: its frame grows, what it shows does not."""
    turned = picture.rotate(12, Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    found, figures = relation(picture, turned)
    assert found == "copy" and figures.part == "", figures


def turned_within_its_frame(picture: Image.Image, degrees: float = 30) -> Image.Image:
    """Turned and cut to its own frame, the corners left a blank black canvas."""
    return picture.rotate(degrees, Image.Resampling.BICUBIC, expand=False, fillcolor="black")


def test_a_copy_turned_within_its_frame_is_a_copy(picture):
    """It loses its corners to the frame (the overlap holds under `verify.min_overlap` of
    either frame: shares a part, before its canvas was left out), and what it shows lies
    whole in the original: its blank canvas is no part of it."""
    found, figures = relation(picture, turned_within_its_frame(picture))
    assert found == "copy" and figures.contained >= S.min_overlap, figures


@pytest.mark.parametrize("name", ["grass", "astronaut"])
def test_two_crops_that_share_a_strip_share_a_part(name):
    """Pixel for pixel the same over their strip, so they agree there: only the overlap's
    size tells them from a copy."""
    photo = real_photo(name, size=None).convert("RGB").resize((512, 512))
    first, second = photo.crop((0, 0, 280, 280)), photo.crop((180, 100, 460, 380))
    found, figures = relation(first, second)
    assert figures.inliers >= S.min_inliers and figures.agreement >= S.min_agreement, figures
    assert figures.contained < 0.3 and found == "shares_part", figures


def test_copies_are_grouped_and_shared_parts_never(picture):
    images = [picture, *copies(picture).values(), *shared_parts()["border"]]
    features_of = [features(img) for img in images]
    edges = [
        (i, j, check_pair(features_of[i], features_of[j], S, seed_of(str(i), str(j))))
        for i in range(len(images))
        for j in range(i + 1, len(images))
    ]
    kept = [
        (i, j, r.inliers)
        for i, j, r in edges
        if r.relation(CopyRule(15, S.min_agreement, S.min_overlap)) == "copy"
    ]
    a, b, strength = (np.array(x) for x in zip(*kept))
    labels = agglomerate(len(images), a, b, strength).tolist()
    assert len(set(labels[:5])) == 1 and len(set(labels)) == 3


def test_a_strong_crop_is_a_copy_whichever_of_the_two_comes_first():
    """The crop's colours were laid down onto the few pixels its region spans in the
    original's 64-pixel colour thumbnail, and a tenth of its cells changed colour: a
    shared part with the crop first, a copy with the original first."""
    from sklearn.datasets import load_sample_images

    from tools.devset import crop

    flower = Image.fromarray(load_sample_images().images[1]).resize((600, 400))
    part = crop(flower, 0.3, seed=64)
    first, second = relation(part, flower), relation(flower, part)
    assert first[0] == second[0] == "copy", (first[1], second[1])
    assert first[1].part == "a" and second[1].part == "b"
