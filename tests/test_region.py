"""A strong crop matched again against the part of the whole it shows
(similar/verification/region.py): which fits ask for it, the part described at the crop's
scale, and real photographs' strong crops found, a crop of another photograph not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from similar.settings import VerifySettings
from similar.verification import region
from similar.verification.base import CopyRule
from similar.verification.features import NONE, Features, extract
from similar.verification.sift import aspect_check, check_pair, decoded, first_check
from tools import devset


def affine(scale: float) -> np.ndarray:
    return np.array([[scale, 0.0, 5.0], [0.0, scale, 7.0]])


def test_a_fit_that_enlarges_one_picture_twice_makes_the_other_its_strong_crop():
    assert region.enlarged_side(affine(3.0)) == (0, pytest.approx(3.0))
    assert region.enlarged_side(affine(1 / 2.5)) == (1, pytest.approx(2.5))
    assert region.enlarged_side(affine(1.5)) is None
    assert region.enlarged_side(None) is None


def test_the_part_shown_is_the_overlap_in_the_larger_picture_unmirrored():
    whole = Features(np.zeros((0, 2), np.float32), NONE.desc, (400, 300))
    crop = Features(np.zeros((0, 2), np.float32), NONE.desc, (200, 150))
    # the crop shows the whole's box from (100, 50), twice enlarged
    fit = np.array([[2.0, 0.0, -200.0], [0.0, 2.0, -100.0]])
    part = region.part_shown(whole, crop, fit, 0, mirrored=False)
    assert part.min(axis=0) == pytest.approx((100, 50)) and part.max(axis=0) == pytest.approx(
        (200, 125)
    )
    mirrored = region.part_shown(whole, crop, fit, 0, mirrored=True)
    assert mirrored[:, 0].min() == pytest.approx(399 - 200) and mirrored[:, 0].max() == (
        pytest.approx(399 - 100)
    )


def photograph() -> Image.Image:
    import skimage.data

    img = Image.fromarray(skimage.data.chelsea())
    return img.resize((600, 600 * img.height // img.width))


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "PNG")
    return out.getvalue()


def described(data: bytes, settings: VerifySettings) -> Features:
    return extract(data, settings.max_side, settings.features, 10**8)


def test_the_part_is_described_at_the_crops_scale_in_the_wholes_coordinates():
    settings = VerifySettings(workers=1)
    data = png(photograph())
    whole = described(data, settings)
    picture = decoded([data].__getitem__, settings.max_side, 10**8)(0)
    polygon = np.array([[100, 80], [200, 80], [200, 160], [100, 160]], np.float32)
    part = region.described_part(whole, picture, polygon, 4.0, settings)
    inside = whole.xy[
        (whole.xy[:, 0] >= 90)
        & (whole.xy[:, 0] <= 210)
        & (whole.xy[:, 1] >= 72)
        & (whole.xy[:, 1] <= 168)
    ]
    assert part.size == whole.size and part.thumb is whole.thumb
    # every keypoint within the part and its margin, many more than the whole keeps there
    assert part.xy[:, 0].min() >= 90 - 1 and part.xy[:, 0].max() <= 210 + 1
    assert part.xy[:, 1].min() >= 72 - 1 and part.xy[:, 1].max() <= 168 + 1
    assert part.count > 2 * len(inside)


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_strong_crop_is_a_copy_once_its_part_is_described_at_its_scale(seed, mirrored):
    """A fifth of each side of a photograph, enlarged five times (and mirrored): the whole's
    keypoints there give a few inliers (no copy); its part described at the crop's scale
    gives a copy, whichever of the two is checked first."""
    from PIL import ImageOps

    settings = VerifySettings(workers=1)
    picture = photograph()
    crop = devset.crop(picture, 0.2, seed=seed)
    files = (png(picture), png(ImageOps.mirror(crop) if mirrored else crop))
    whole, crop = (described(data, settings) for data in files)
    pictures = decoded(files.__getitem__, settings.max_side, 10**8)
    rule = CopyRule.of(settings)
    first, _ = first_check(whole, crop, settings, 0, pictures)
    assert first.relation(rule) != "copy"
    for a, b, read in ((whole, crop, files), (crop, whole, files[::-1])):
        found = check_pair(a, b, settings, 0, decoded(read.__getitem__, settings.max_side, 10**8))
        assert found.relation(rule) == "copy" and found.inliers >= rule.min_inliers, found
        assert found.mirrored == mirrored and found.zoomed


def test_a_strong_crop_of_another_photograph_is_no_copy():
    import skimage.data

    settings = VerifySettings(workers=1)
    other = Image.fromarray(skimage.data.coffee())
    other = other.resize((600, 600 * other.height // other.width))
    rule = CopyRule.of(settings)
    for seed in range(6):
        files = (png(photograph()), png(devset.crop(other, 0.2, seed=seed)))
        whole, crop = (described(data, settings) for data in files)
        pictures = decoded(files.__getitem__, settings.max_side, 10**8)
        assert check_pair(whole, crop, settings, seed, pictures).relation(rule) != "copy"


def test_a_crop_matched_over_too_small_a_share_of_it_keeps_the_first_result(monkeypatch):
    """The zoomed check's result counts only where its inliers spread over region.SPREAD of
    the crop: asked for more than the whole crop, the strong crop keeps its first result."""
    settings = VerifySettings(workers=1)
    picture = photograph()
    files = (png(picture), png(devset.crop(picture, 0.2, seed=1)))
    whole, crop = (described(data, settings) for data in files)
    pictures = decoded(files.__getitem__, settings.max_side, 10**8)
    first, _ = first_check(whole, crop, settings, 0, pictures)
    monkeypatch.setattr(region, "SPREAD", 1.01)
    assert check_pair(whole, crop, settings, 0, pictures) == first


def test_a_picture_described_at_another_aspect_keeps_its_own_coordinates():
    settings = VerifySettings(workers=1)
    data = png(photograph())
    whole = described(data, settings)
    picture = decoded([data].__getitem__, settings.max_side, 10**8)(0)
    narrowed = region.at_aspect(whole, picture, 0.7 * whole.size[0] / whole.size[1], settings)
    assert narrowed.size == whole.size and narrowed.thumb is whole.thumb
    assert narrowed.count > 100
    assert (narrowed.xy >= -1).all() and (narrowed.xy <= np.array(whole.size) + 1).all()


def card_files(first, second) -> tuple[bytes, bytes]:
    from test_one_frame import png as card_png

    return card_png(first), card_png(second)


def test_a_narrowed_card_is_a_copy_once_described_at_its_originals_aspect():
    """A card narrowed to 0.7 of its width: its pips' descriptors change, and the first
    check finds only a shared part; described again at the card's aspect, it is a copy.
    Another card of the frame narrowed alike is not."""
    from test_one_frame import S, number_card

    rule = CopyRule.of(S)
    files = card_files(number_card(7), devset.stretched(number_card(7), 0.7))
    card, narrowed = (described(data, S) for data in files)
    pictures = decoded(files.__getitem__, S.max_side, 10**8)
    first, _ = first_check(card, narrowed, S, 0, pictures)
    assert first.relation(rule) != "copy"
    found = check_pair(card, narrowed, S, 0, pictures)
    assert found.relation(rule) == "copy" and found.inliers >= rule.min_inliers, found
    for factor in (0.7, 1.45):
        files = card_files(number_card(7), devset.stretched(number_card(8), factor))
        card, other = (described(data, S) for data in files)
        pictures = decoded(files.__getitem__, S.max_side, 10**8)
        assert check_pair(card, other, S, 0, pictures).relation(rule) != "copy"


def test_frames_of_like_aspect_are_not_described_again():
    settings = VerifySettings(workers=1)
    picture = photograph()
    files = (png(picture), png(devset.stretched(picture, 1.1)))
    a, b = (described(data, settings) for data in files)
    pictures = decoded(files.__getitem__, settings.max_side, 10**8)
    _, look = first_check(a, b, settings, 0, pictures)
    assert aspect_check(a, b, look.orientations, settings, 0, pictures) is None


def test_the_picture_on_a_page_is_described_on_its_own_at_the_largest_side():
    """A photograph printed between lines of type: its part of the page (as described, grey)
    enlarged to `verify.max_side` and described alone, positions in the page's coordinates
    inside the picture; the photograph itself is no page."""
    from conftest import real_photo

    from similar.verification.detail import grey_picture

    settings = VerifySettings(workers=1)
    photo = real_photo("coffee", size=200).convert("RGB")
    page = devset.pasted(photo, seed=2)
    data = io.BytesIO()
    page.save(data, "PNG")
    whole = extract(data.getvalue(), settings.max_side, settings.features, 10**8)
    grey = grey_picture(data.getvalue(), settings.max_side, 10**8)
    part = region.page_picture(whole, grey, settings)
    assert part is not None and part.size == whole.size and part.count > 0
    scale = whole.size[0] / page.width
    left, top = (page.width - round(photo.width * 0.8)) // 2 * scale, 0.2 * page.height * scale
    assert part.xy[:, 0].min() >= left - 2 and part.xy[:, 1].min() >= top
    bare = io.BytesIO()
    photo.save(bare, "PNG")
    alone = grey_picture(bare.getvalue(), settings.max_side, 10**8)
    assert region.page_picture(whole, alone, settings) is None
    # the thumbnail says which is a page before either is decoded again
    photo_features = extract(bare.getvalue(), settings.max_side, settings.features, 10**8)
    assert whole.shows_page and not photo_features.shows_page
