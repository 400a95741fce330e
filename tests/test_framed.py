"""A pair too sparse for RANSAC laid frame on frame (similar/verification/sift.py,
`framed_check`): a small copy is found, and judged as strictly as the small floor's pairs."""

import numpy as np
import pytest
from conftest import described, real_photo
from PIL import Image

from similar import settings
from similar.verification import sift
from similar.verification.base import CopyRule, PairResult
from similar.verification.runner import seed_of

S = settings.VerifySettings(workers=1)
RULE = CopyRule.of(S)


def at_width(img: Image.Image, width: int) -> Image.Image:
    return img.resize((width, round(width * img.height / img.width)), Image.Resampling.LANCZOS)


@pytest.mark.parametrize(
    "name, width, framed", [("camera", 32, False), ("horse", 40, False), ("moon", 48, True)]
)
def test_a_copy_too_small_for_ransac_is_laid_frame_on_frame(name, width, framed):
    """A photograph's thumbnail of 32 to 48 pixels holds a dozen keypoints: a copy, by the
    few inliers RANSAC finds (compared within half a pixel of the small picture's own) or,
    where RANSAC finds no fit the copy rule accepts (the moon's), by the frame laid on the
    frame."""
    picture = real_photo(name, None)
    small, large = described(at_width(picture, width)), described(at_width(picture, 160))
    found = sift.check_pair(small, large, S, seed_of("a", "b"))
    assert found.relation(RULE) == "copy" and found.framed == framed, found
    assert found.keypoints < RULE.min_inliers / S.min_inlier_share  # the small floor's pairs


def test_a_framed_pair_is_judged_as_strictly_as_the_small_floor():
    """Agreement enough for a copy with inliers over the copy floor is not enough for a pair
    laid frame on frame: it needs the small floor's agreement."""
    figures = dict(inliers=30, agreement=0.7, contained=1.0, difference=0.0, keypoints=40)
    assert PairResult(**figures).relation(RULE) == "copy"
    assert PairResult(**figures, framed=True).relation(RULE) != "copy"
    assert PairResult(**{**figures, "agreement": 0.9}, framed=True).relation(RULE) == "copy"


def test_the_frame_is_laid_corner_on_corner_each_axis_scaled():
    transform = sift.frame_to_frame((48, 32), (128, 96))
    corners = np.array([[0.0, 0.0], [48.0, 32.0], [24.0, 16.0]])
    assert np.allclose(sift.mapped(corners, transform), [[0, 0], [128, 96], [64, 48]])


def test_a_frame_stretched_past_the_largest_change_of_aspect_is_no_fit():
    picture = real_photo("camera", None)
    wide, tall = described(picture.resize((160, 40))), described(picture.resize((40, 160)))
    some = np.arange(min(wide.count, tall.count, 3))
    assert len(some)
    assert sift.framed_fit(wide, tall, some, some, S.ratio).transform is None
    assert sift.framed_fit(wide, wide, some, some, S.ratio).transform is not None


def test_sift_puts_one_place_once():
    """Two keypoints on one place (a blob with two orientations) are one piece of evidence."""
    picture = described(real_photo("camera", 96))
    doubled = np.r_[np.arange(picture.count), np.arange(3)]
    assert sift.places(picture, doubled) == len(np.unique(picture.xy.round(1), axis=0))
