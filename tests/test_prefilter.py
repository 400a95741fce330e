"""The prefilter's counts (similar.verification.prefilter): candidates compared a few at a
time count as each compared alone."""

import numpy as np

from similar.verification.distances import numpy_products, torch_products
from similar.verification.features import Features, levels
from similar.verification.prefilter import CANDIDATES_AT_ONCE, ratio_counts


def picture(count: int, rng, like: Features | None = None) -> Features:
    """Features of `count` random keypoints; with `like`, its first descriptors a little
    moved (a copy), the rest new."""
    rows = rng.random((count, 128)) ** 3
    if like is not None:
        shared = min(count, like.count)
        rows[:shared] = like.desc[:shared] / 256 + rng.normal(0, 0.002, (shared, 128))
    rows = np.abs(rows)
    desc = levels(rows / np.linalg.norm(rows, axis=1, keepdims=True))
    strongest = np.arange(min(count, 256))
    return Features(np.zeros((count, 2), np.float32), desc, (300, 300), strongest)


def test_candidates_a_few_at_a_time_count_as_each_alone():
    rng = np.random.default_rng(4)
    first = picture(400, rng)
    sizes = [300, 1, 40, 256, 0, 3, 500, 120, 2, 260, 90, 300, 17]
    candidates = [picture(n, rng, first if i % 3 == 0 else None) for i, n in enumerate(sizes)]
    assert len(candidates) > CANDIDATES_AT_ONCE
    for products in (numpy_products, torch_products):
        together = ratio_counts(first, candidates, 0.8, True, products)
        alone = np.vstack([ratio_counts(first, [c], 0.8, True, products) for c in candidates])
        np.testing.assert_array_equal(together, alone)
    assert together[0, 0] > 100 and together[1].tolist() == [0, 0] and together[4].max() == 0
