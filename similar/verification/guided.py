"""Guided matching: the matches of a pair searched again where a fitted transform lays them.

Lowe's ratio test drops a keypoint whose second-nearest descriptor is almost as near as its
nearest: every pip of a ten of clubs, every repeated letter and hatching stroke, and most
keypoints of a copy whose aspect, screen or colours changed enough to blur its descriptors.
Once RANSAC has fitted a transform to the distinctive matches, each keypoint of the first
picture is looked for only near the place the transform lays it (RANSAC's threshold): among
those few candidates the nearest descriptor is the match, when it is near enough (NEAR) and
clearly nearer than the next candidate there (the ratio test, now local). A repeated pip
then finds its own counterpart, not the one its neighbour's descriptor resembles.
"""

from __future__ import annotations

import numpy as np

from .distances import passes_ratio
from .features import LEVEL, Features
from .overlap import mapped

# RootSIFT distance (unit descriptors, 0 to 1.41) under which a guided candidate is a match:
# measured on the development collection (docs/pipeline.md, "Guided matching"); compared as
# squared distances of the descriptors' levels (features.LEVEL to a unit), exactly
NEAR = 0.6
NEAR_SQUARED = round((NEAR * LEVEL) ** 2)


def one_to_one(keep: np.ndarray, best: np.ndarray, distance: np.ndarray):
    """(indices into a, into b) of the kept matches (a's index `keep`, b's `best[keep]`),
    each keypoint of b used once: by the a keypoint whose descriptor lies closest."""
    if not len(keep):
        return keep, keep
    order = keep[np.lexsort((keep, distance[keep]))]
    _, first_use = np.unique(best[order], return_index=True)
    chosen = np.sort(order[first_use])
    return chosen, best[chosen]


def guided_matches(
    a: Features, b: Features, transform: np.ndarray, reach: float, ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into a, into b) of one-to-one matches between keypoints of b within `reach`
    pixels of where `transform` lays a keypoint of a, and whose descriptors are NEAR and
    pass the ratio test among those candidates."""
    if not a.count or not b.count:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, columns = within(mapped(a.xy, transform).astype(np.float32), b.xy, reach)
    products = np.einsum(
        "ij,ij->i", a.desc[rows].astype(np.int32), b.desc[columns].astype(np.int32)
    )
    distance = a.norms[rows] + b.norms[columns] - 2 * products.astype(np.int64)  # squared
    order = np.lexsort((distance, rows))  # each keypoint's candidates, nearest first
    rows, columns, distance = rows[order], columns[order], distance[order]
    found, first = np.unique(rows, return_index=True)
    has_second = np.append(first[1:], len(rows)) - first > 1
    nearest = distance[first]
    second = np.where(has_second, distance[np.minimum(first + 1, len(rows) - 1)], np.inf)
    kept = np.flatnonzero((nearest < NEAR_SQUARED) & passes_ratio(nearest, second, ratio))
    chosen, matched = one_to_one(kept, columns[first], nearest)
    return found[chosen], matched


def within(laid: np.ndarray, xy: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows of `laid`, rows of `xy`) of the points closer than `reach`, in row order: only
    the points of `xy` in a band of x around each laid point are measured (a few hundredths
    of all pairs), the band a pixel wider than `reach` so that it holds every such pair."""
    order = np.argsort(xy[:, 0], kind="stable")
    sorted_x = xy[order, 0]
    low = np.searchsorted(sorted_x, laid[:, 0] - (reach + 1), "left")
    high = np.searchsorted(sorted_x, laid[:, 0] + (reach + 1), "right")
    counts = high - low
    rows = np.repeat(np.arange(len(laid)), counts)
    starts = np.cumsum(counts) - counts
    columns = order[low[rows] + np.arange(len(rows)) - starts[rows]]
    across = laid[rows, 0] - xy[columns, 0]
    down = laid[rows, 1] - xy[columns, 1]
    close = across * across + down * down < reach * reach
    rows, columns = rows[close], columns[close]
    ranked = np.lexsort((columns, rows))
    return rows[ranked], columns[ranked]
