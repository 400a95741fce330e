"""Lowe's ratio test and one-to-one matching (similar.verification.sift) on hand-made features."""

import numpy as np

from similar import settings
from similar.verification.features import Features, levels
from similar.verification.runner import method_for
from similar.verification.sift import Sift, ratio_matches


def features(desc, size=(100, 100)):
    """Features of hand-made descriptors of a few components, each spread over 128 // width
    of a descriptor's 128 (distances keep their ratios), as levels."""
    desc = np.asarray(desc, np.float32)
    desc = np.repeat(desc, 128 // desc.shape[1], axis=1)
    desc = np.pad(desc, ((0, 0), (0, 128 - desc.shape[1])))
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    xy = np.arange(2 * len(desc), dtype=np.float32).reshape(-1, 2)
    return Features(xy, levels(desc), size)


def test_distinctive_matches_pass_and_ambiguous_ones_do_not():
    a = features([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]])
    # b: a0's twin; a1's twin; two equally close candidates for a2
    b = features([[1, 0.05, 0, 0], [0, 1, 0.05, 0], [0, 0, 1, 0.9], [0, 0, 0.9, 1]])
    ia, ib = ratio_matches(a, b, 0.8)
    assert ia.tolist() == [0, 1] and ib.tolist() == [0, 1]


def test_each_keypoint_of_the_second_image_is_used_once():
    a = features([[1, 0, 0], [1, 0.1, 0], [0, 0, 1]])
    b = features([[1, 0.01, 0], [0, 1, 0], [0, 0.1, 1]])
    ia, ib = ratio_matches(a, b, 0.9)
    assert len(set(ib.tolist())) == len(ib)
    assert (0 in ib.tolist()) and ia.tolist()[ib.tolist().index(0)] == 0  # the closer one


def test_too_few_features_match_nothing():
    one = features([[1, 0]])
    ia, ib = ratio_matches(one, features([[1, 0], [0, 1]]), 0.8)
    assert len(ia) == len(ib) == 0


def test_the_registry_gives_sift_by_default_and_none_checks_nothing():
    assert isinstance(method_for(settings.VerifySettings()), Sift)
    none = method_for(settings.VerifySettings(method="none"))
    assert not none.verifies and none.check(None, None, 0).inliers == 0
    assert set(settings.VerifySettings.__dataclass_fields__["method"].metadata["choices"]) == {
        "sift",
        "none",
    }
