"""The cheap test before the check: most candidate pairs are not copies, so reject them early.

Lowe's ratio test among the strongest keypoints of both images
(`Features.strongest_descriptors`), for the first image as it is and mirrored, counts the
distinctive matches;
a pair whose count stays under `verify.prefilter` in both orientations cannot be a copy and
is never checked. One matrix product compares an image with a few of its candidates at once.
The test is a separate step before the verifier's check, which it leaves unchanged: a pair
it passes is checked exactly as without it. `verify.prefilter: 0` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .distances import FAR, closeness, numpy_products, passes_ratio, two_nearest
from .features import Features

CANDIDATES_AT_ONCE = 8


def ratio_counts(
    a: Features,
    candidates: Sequence[Features],
    ratio: float,
    mirror: bool,
    products: Callable = numpy_products,
) -> np.ndarray:
    """(len(candidates), 2) counts of ratio-test matches among the strongest keypoints: the
    first image as it is, and mirrored (0 when `mirror` is off). `products` is an engine of
    similar/verification/distances.py: each gives the same counts. Candidates are compared
    CANDIDATES_AT_ONCE at a time: each one's counts are its own, and a product with all of
    a reference's hundred candidates (512 x 25,600 closeness values, 100 MB) is written to
    memory and read back several times, where a few candidates' stay in the processor's
    caches (measured: 220 candidates 16 times faster in eights than at once)."""
    counts = np.zeros((len(candidates), 2), np.int64)
    if a.count < 2 or not len(candidates):
        return counts
    top, top_norms = a.strongest_descriptors, a.strongest_norms
    # the mirror the check goes on to use (Features.mirrored: worked out once an image)
    rows = np.vstack([top, a.mirrored().strongest_descriptors]) if mirror else top
    row_norms = np.concatenate([top_norms, top_norms]) if mirror else top_norms
    for start in range(0, len(candidates), CANDIDATES_AT_ONCE):
        some = candidates[start : start + CANDIDATES_AT_ONCE]
        passed = ratio_passed(rows, row_norms, some, ratio, products)
        if passed is None:
            continue
        counts[start : start + len(some), 0] = passed[: len(top)].sum(axis=0)
        if mirror:
            counts[start : start + len(some), 1] = passed[len(top) :].sum(axis=0)
    return counts


def ratio_passed(
    rows: np.ndarray,
    row_norms: np.ndarray,
    candidates: Sequence[Features],
    ratio: float,
    products: Callable,
) -> np.ndarray | None:
    """(len(rows), len(candidates)) whether each row's nearest among a candidate's strongest
    keypoints passes the ratio test; None when no candidate has two keypoints."""
    tops = [b.strongest_descriptors for b in candidates]
    width = max(len(t) for t in tops)
    if width < 2:
        return None
    stacked = np.zeros((len(candidates), width, 128), np.int8)
    norms = np.full((len(candidates), width), FAR, np.int64)  # padding: never the nearest
    for i, (t, b) in enumerate(zip(tops, candidates)):
        stacked[i, : len(t)] = t
        norms[i, : len(t)] = b.strongest_norms
    close = closeness(rows, stacked.reshape(-1, 128), norms.reshape(-1), products)
    _, nearest, second = two_nearest(close.reshape(len(rows), len(candidates), width))
    passed = passes_ratio(row_norms[:, None] - nearest, row_norms[:, None] - second, ratio)
    return passed & (second > -FAR)  # a candidate with one keypoint has no second match


def passing(
    a: Features,
    candidates: Sequence[Features],
    ratio: float,
    mirror: bool,
    threshold: int,
    products: Callable = numpy_products,
) -> np.ndarray:
    """Which candidates may be copies of `a` and go on to the check (all, for threshold 0)."""
    if threshold <= 0:
        return np.ones(len(candidates), bool)
    return ratio_counts(a, candidates, ratio, mirror, products).max(axis=1) >= threshold
