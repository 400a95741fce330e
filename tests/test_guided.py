"""Guided matching: keypoints looked for again only where a fitted transform lays them."""

import numpy as np

from similar.verification.features import LEVEL, Features, levels
from similar.verification.guided import NEAR, guided_matches, one_to_one, within
from similar.verification.sift import Fitted, counted, ratio_matches

SHIFT = np.array([[1.0, 0.0, 30.0], [0.0, 1.0, 20.0]])


def unit(rows: np.ndarray) -> np.ndarray:
    """Descriptors of length 1, as levels."""
    return levels(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def repeated_pips(count: int = 9, seed: int = 0) -> tuple[Features, Features]:
    """A picture of `count` identical pips on a grid (one descriptor, repeated, each drawn
    with its own noise) and the same picture shifted by SHIFT: every pip's descriptor is as
    near to every pip of the other as to its own counterpart."""
    rng = np.random.default_rng(seed)
    pip = unit(rng.random((1, 128)))
    xy = np.array([(40 + 60 * (i % 3), 40 + 80 * (i // 3)) for i in range(count)], np.float32)
    first, second = (
        unit(np.repeat(pip, count, axis=0) + rng.normal(0, 1e-3, (count, 128))) for _ in range(2)
    )
    shifted = xy + SHIFT[:, 2].astype(np.float32)
    return Features(xy, first, (260, 300)), Features(shifted, second, (300, 330))


def test_repeated_pips_fail_the_ratio_test_and_each_finds_its_own_counterpart_guided():
    first, second = repeated_pips()
    assert len(ratio_matches(first, second, 0.8)[0]) == 0
    ia, ib = guided_matches(first, second, SHIFT, reach=6.0, ratio=0.8)
    assert len(ia) == first.count
    assert np.allclose(first.xy[ia] + SHIFT[:, 2], second.xy[ib])


def test_a_keypoint_laid_far_from_every_keypoint_finds_none():
    first, second = repeated_pips()
    moved = Features(second.xy + np.float32(40), second.desc, second.size)
    assert len(guided_matches(first, moved, SHIFT, reach=6.0, ratio=0.8)[0]) == 0


def test_a_candidate_whose_descriptor_is_not_near_is_no_match():
    first, second = repeated_pips()
    other = unit(np.random.default_rng(5).random((second.count, 128)) - 0.5)
    apart = other.astype(np.float64) - first.desc[0].astype(np.float64)
    assert np.sqrt((apart**2).sum(axis=1)).min() / LEVEL > NEAR
    ia, _ = guided_matches(first, Features(second.xy, other, second.size), SHIFT, 6.0, 0.8)
    assert len(ia) == 0


def test_two_candidates_alike_at_one_place_are_no_match():
    """The ratio test, made local: two keypoints of the second picture where one of the first
    is laid, with equal descriptors, say nothing about which is its counterpart."""
    first, second = repeated_pips(count=1)
    twin = Features(
        np.vstack([second.xy, second.xy + np.float32(2)]),
        np.vstack([second.desc, second.desc]),
        second.size,
    )
    assert len(guided_matches(first, twin, SHIFT, 6.0, 0.8)[0]) == 0
    assert len(guided_matches(first, second, SHIFT, 6.0, 0.8)[0]) == 1


def test_one_to_one_keeps_for_each_keypoint_of_the_second_its_closest():
    keep = np.array([0, 1, 2, 3])
    best = np.array([5, 5, 7, 7])
    distance = np.array([0.4, 0.2, 0.3, 0.3])
    ia, ib = one_to_one(keep, best, distance)
    assert ia.tolist() == [1, 2] and ib.tolist() == [5, 7]
    empty = one_to_one(np.zeros(0, np.int64), best, distance)
    assert len(empty[0]) == len(empty[1]) == 0


def lifted_fit(scale: float) -> tuple[Fitted, Features, Features]:
    """A fit of a picture laid at `scale` into a 400-pixel square (whole at 1, a part of
    it below), with 20 inliers of which 5 are distinctive."""
    rng = np.random.default_rng(3)
    xy = (rng.random((20, 2)) * 200).astype(np.float32)
    transform = np.array([[2 * scale, 0, 0], [0, 2 * scale, 0]], np.float64)
    laid = (xy * 2 * scale).astype(np.float32)
    desc = unit(rng.random((20, 128)))
    first, second = Features(xy, desc, (200, 200)), Features(laid, desc, (400, 400))
    everyone = np.arange(20)
    return Fitted(transform, everyone, everyone, everyone[:5], everyone[:5]), first, second


def test_guided_matches_lift_a_pair_over_the_floor_only_where_both_lie_whole():
    """A part of a picture lifted by repeated strokes lies in every picture repeating them,
    so it keeps its distinctive inliers only; a whole pair, or one whose distinctive
    inliers reach the floor, keeps them all."""
    whole, first, second = lifted_fit(1.0)
    assert counted(whole, first, second, floor=15).inliers == 20
    part, first, second = lifted_fit(0.4)
    assert counted(part, first, second, floor=15).inliers == 5
    assert counted(part, first, second, floor=5).inliers == 20


def test_the_band_search_finds_exactly_the_points_a_full_comparison_finds():
    """`within` measures only a band of x around each point; it finds the same pairs, in the
    same order, as measuring every pair, points on the band's edge and out of the picture
    included."""
    rng = np.random.default_rng(11)
    xy = (rng.random((400, 2)) * 300).astype(np.float32)
    laid = np.vstack([xy[:50] + rng.normal(0, 4, (50, 2)), rng.random((80, 2)) * 340 - 20])
    laid = np.vstack([laid, xy[:5] + np.float32([6.0, 0.0])]).astype(np.float32)
    for reach in (0.1, 6.0, 25.0):
        across = laid[:, 0, None] - xy[None, :, 0]
        down = laid[:, 1, None] - xy[None, :, 1]
        want = np.nonzero(across * across + down * down < reach * reach)
        found = within(laid, xy, reach)
        assert len(want[0]) > 0 or reach < 1
        np.testing.assert_array_equal(found[0], want[0])
        np.testing.assert_array_equal(found[1], want[1])
