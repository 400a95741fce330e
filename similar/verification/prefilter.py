"""The cheap test before the check: most candidate pairs are not copies, so reject them early.

Lowe's ratio test among the strongest keypoints of both images
(`Features.strongest_descriptors`), for the first image as it is and mirrored, counts the
distinctive matches;
a pair whose count stays under `verify.prefilter` in both orientations cannot be a copy and
is never checked. One matrix product compares an image with all of its candidates at once.
The test is a separate step before the verifier's check, which it leaves unchanged: a pair
it passes is checked exactly as without it. `verify.prefilter: 0` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .features import MIRROR_BINS, Features

FLOOR = -2.0  # similarity of padding: below any pair of (non-negative) RootSIFT descriptors


def mirrored_descriptors(desc: np.ndarray) -> np.ndarray:
    """Descriptors of the horizontally mirrored image (see Features.mirrored)."""
    return desc.reshape(-1, 4, 4, 8)[:, ::-1, :, MIRROR_BINS].reshape(-1, 128)


def two_largest(sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and second largest values along the last axis (equal when the largest is
    there twice), as np.partition gives them, in three passes instead of a partition's sort
    work; `sims` is spoilt."""
    where = sims.argmax(axis=-1)[..., None]
    best = np.take_along_axis(sims, where, -1)[..., 0]
    np.put_along_axis(sims, where, -np.inf, -1)
    return best, sims.max(axis=-1)


def ratio_counts(
    a: Features, candidates: Sequence[Features], ratio: float, mirror: bool
) -> np.ndarray:
    """(len(candidates), 2) counts of ratio-test matches among the strongest keypoints: the
    first image as it is, and mirrored (0 when `mirror` is off)."""
    counts = np.zeros((len(candidates), 2), np.int64)
    if a.count < 2 or not len(candidates):
        return counts
    top = a.strongest_descriptors
    rows = np.vstack([top, mirrored_descriptors(top)]) if mirror else top
    tops = [b.strongest_descriptors for b in candidates]
    width = max(len(t) for t in tops)
    if width < 2:
        return counts
    stacked = np.zeros((len(candidates), width, 128), np.float32)
    real = np.zeros((len(candidates), width), bool)
    for i, t in enumerate(tops):
        stacked[i, : len(t)] = t
        real[i, : len(t)] = True
    sims = (rows @ stacked.reshape(-1, 128).T).reshape(len(rows), len(candidates), width)
    sims[:, ~real] = FLOOR
    best, second = two_largest(sims)
    # unit descriptors: distance^2 = 2 - 2 * similarity; d1 < ratio * d2, squared
    passed = (2 - 2 * best) < ratio * ratio * np.maximum(2 - 2 * second, 0)
    passed &= second > FLOOR  # a candidate with one keypoint has no second match
    n_top = len(top)
    counts[:, 0] = passed[:n_top].sum(axis=0)
    if mirror:
        counts[:, 1] = passed[n_top:].sum(axis=0)
    return counts


def passing(
    a: Features, candidates: Sequence[Features], ratio: float, mirror: bool, threshold: int
) -> np.ndarray:
    """Which candidates may be copies of `a` and go on to the check (all, for threshold 0)."""
    if threshold <= 0:
        return np.ones(len(candidates), bool)
    return ratio_counts(a, candidates, ratio, mirror).max(axis=1) >= threshold
