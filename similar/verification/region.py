"""A pair checked again with one picture described anew, as the other shows it.

A strong crop. An image keeps `verify.features` keypoints spread over the whole picture, so
the part that a strong crop shows holds few of them: a crop of a fifth of each side keeps
about a twenty-fifth, and the crop, enlarged five times, is described at scales the whole
was not. Such a pair finds a few inliers, under the copy floor, with a fit that enlarges one
picture ZOOM times or more. That part of the larger picture (as described, decoded again) is
cut out with a MARGIN around it, enlarged to the crop's scale (at most `verify.max_side`
pixels) and described on its own (`described_part`).

A copy whose aspect changed. SIFT's descriptors do not survive a stretch of one axis by a
half: such a pair finds a few ratio-test matches, and RANSAC no fit. Where the two frames'
aspects differ by ASPECT or more and ASPECT_EVIDENCE places of those matches lie frame on
frame, the second picture is described again at the first's aspect (`at_aspect`).

A picture printed on a page of type. The page's letters hold most of its keypoints, and the
picture, a part of the page described at the page's scale, holds few: a pasted card finds 5
to 14 inliers with its original, under the copy floor. Where a pair finds at least
PAGE_EVIDENCE inliers and no copy, each picture that is such a page (vectors/pages.py, on
the page as described) has its picture enlarged to `verify.max_side` pixels and described on
its own (`page_picture`).

Each way the new keypoints, in the picture's own coordinates, are checked as its own
were. Everything after (the copy floor, agreement, difference, colours) judges the pair as
any other, with one more demand: `verify.min_inliers` inliers (the new description is not
the picture's own, and the small floor is for pictures of few keypoints); and for a crop,
inliers spread over SPREAD of it.
"""

from __future__ import annotations

import numpy as np

from ..vectors.pages import picture_box
from .detail import box_around
from .features import Features, rootsift
from .overlap import overlap_polygons

ZOOM = 2.0  # a fit enlarging one picture this many times makes the other a strong crop of it
MARGIN = 0.1  # share of the part's width and height added around it before it is described
# two frames whose aspects (width over height) differ by this factor or more: one picture may be
# the other stretched, and is described again at the other's aspect when ASPECT_EVIDENCE
# places of ratio-test matches lie frame on frame
ASPECT = 1.15
ASPECT_EVIDENCE = 3
# inliers a pair must find before a page's picture is described on its own: on the
# development collection 11 of the 12 pasted pages' copies it finds have 5 or more, and 557
# of 600 other pictures of their decks and themes fewer (the page is not decoded for them)
PAGE_EVIDENCE = 5
# the share of the crop that its inliers' convex hull covers at least: a crop of two pips of a
# card lies in every card that lays two pips so (the development collection's three of spades
# in its six: 0.08), a crop of a picture is matched over its content (0.27 to 0.65 there)
SPREAD = 0.2


def enlarged_side(transform: np.ndarray | None) -> tuple[int, float] | None:
    """Which picture a fit (first to second) shows a strong crop of, and how many times the
    crop enlarges it: (0, scale) where the second is a crop of the first, (1, scale) the
    other way round; None for a fit of like scales."""
    if transform is None:
        return None
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(transform, np.float64)[:2, :2]))))
    if scale >= ZOOM:
        return 0, scale
    if scale > 0 and 1 / scale >= ZOOM:
        return 1, 1 / scale
    return None


def part_shown(
    first: Features, second: Features, transform: np.ndarray, side: int, mirrored: bool
) -> np.ndarray | None:
    """The polygon of the larger picture (`side`) that the other shows under `transform`,
    in that picture's own coordinates (not mirrored, where the fit was found mirrored)."""
    polygons = overlap_polygons(first.size, second.size, transform)
    if polygons is None:
        return None
    polygon = polygons[side].copy()
    if mirrored and side == 0:
        polygon[:, 0] = first.size[0] - 1 - polygon[:, 0]
    return polygon


def described_part(
    whole: Features, picture: np.ndarray, polygon: np.ndarray, scale: float, settings
) -> Features | None:
    """The features of a picture's part (`polygon`, in its coordinates), cut with a MARGIN
    from the picture as described (grey), enlarged `scale` times (to at most
    `settings.max_side` pixels) and described (`described_anew`). None where the part is a
    sliver or holds no keypoints."""
    box = box_around(picture.shape, whole.size, polygon, MARGIN)
    if box is None:
        return None
    (left, top), (right, bottom) = box
    width, height = right - left, bottom - top
    grow = max(1.0, min(scale, settings.max_side / max(width, height)))
    size = (round(width * grow), round(height * grow))
    return described_anew(whole, picture, (left, top, right, bottom), size, settings)


def at_aspect(whole: Features, picture: np.ndarray, aspect: float, settings) -> Features | None:
    """The features of a whole picture (as described, grey) resized to the `aspect` (width
    over height) of the picture it is checked against, its longer side at most
    `settings.max_side` (`described_anew`): a copy whose aspect was changed (a stretched
    IIIF size, an uneven scan, a re-engraving) described as its original is. SIFT's
    descriptors do not survive a stretch of 1.45: the development collection's stretched
    cards found 0 to 7 inliers with their originals, and 33 to 155 so."""
    rows, cols = picture.shape
    width, height = rows * aspect, float(rows)
    shrink = min(1.0, settings.max_side / max(width, height))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    return described_anew(whole, picture, (0, 0, cols, rows), size, settings)


def page_picture(whole: Features, picture: np.ndarray, settings) -> Features | None:
    """The features of the picture printed on a page of type (`picture`: the page as
    described, grey), enlarged to `settings.max_side` pixels and described on its own
    (`described_anew`); None where the page holds no such picture (vectors/pages.py) or it
    holds no keypoints."""
    from PIL import Image

    box = picture_box(Image.fromarray(picture))
    if box is None:
        return None
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    grow = max(1.0, settings.max_side / max(width, height))
    size = (round(width * grow), round(height * grow))
    return described_anew(whole, picture, (left, top, right, bottom), size, settings)


def described_anew(
    whole: Features, picture: np.ndarray, box: tuple[int, int, int, int], size, settings
) -> Features | None:
    """The picture's `box` (left, top, right, bottom, in its pixels) resized to `size` and
    described on its own: positions in the whole picture's coordinates, with its size and
    thumbnails (the figures compare the whole pictures); None where it holds no keypoints."""
    from PIL import Image

    left, top, right, bottom = box
    cut = Image.fromarray(np.ascontiguousarray(picture[top:bottom, left:right]))
    if tuple(size) != cut.size:
        cut = cut.resize(tuple(size), Image.Resampling.BICUBIC)
    described = rootsift(np.asarray(cut), settings.features)
    if described is None:
        return None
    xy, desc, _ = described
    rows, cols = picture.shape
    per_x, per_y = cols / max(whole.size[0], 1), rows / max(whole.size[1], 1)
    factor = np.array([cut.width / (right - left) * per_x, cut.height / (bottom - top) * per_y])
    xy = (xy / factor + (left / per_x, top / per_y)).astype(np.float32)
    return Features(xy, desc, whole.size, None, whole.thumb, whole.colour)
