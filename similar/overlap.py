"""Copy or shared part: how much of each picture a verified transform explains.

RANSAC's transform maps the first image onto the second; its *overlap* is the part of the
second image that the first one's frame covers (and its image in the first). A copy shows the
same picture, so most keypoints inside the overlap agree with the transform. A pair that
shares only a part (a printed border or frame, a card's border and pips, a typeface, a
texture, a figure drawn into another scene) has inliers on that part alone, and most
keypoints inside the overlap unmatched, or inliers spread over a small share of the picture.

* `inlier_ratio`: inliers / the keypoints inside the overlap, of the image with fewer there;
* `coverage`: the share of each image inside the inliers' convex hull, the smaller of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Overlap:
    coverage: float
    inlier_ratio: float


NONE = Overlap(0.0, 0.0)


def frame(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float32)


def mapped(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Points under a 2 x 3 (similarity, affine) or 3 x 3 (homography) transform."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    full = np.vstack([transform, [0, 0, 1]]) if transform.shape == (2, 3) else transform
    moved = np.c_[points, np.ones(len(points))] @ full.T
    return (moved[:, :2] / moved[:, 2:3]).astype(np.float32)


def intersection(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The convex polygon shared by two convex polygons (possibly empty)."""
    import cv2

    area, polygon = cv2.intersectConvexConvex(first.astype(np.float32), second.astype(np.float32))
    if polygon is None or area <= 0:
        return np.zeros((0, 2), np.float32)
    return polygon.reshape(-1, 2)


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside (or on) a convex polygon, whichever its orientation."""
    if len(polygon) < 3 or not len(points):
        return np.zeros(len(points), bool)
    edge = np.roll(polygon, -1, axis=0) - polygon
    rel = points[:, None, :] - polygon[None, :, :]
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    return np.all(cross >= -1e-3, axis=1) | np.all(cross <= 1e-3, axis=1)


def hull_share(points: np.ndarray, size: tuple[int, int]) -> float:
    """The share of an image of `size` inside the convex hull of the points."""
    import cv2

    if len(points) < 3 or not size[0] or not size[1]:
        return 0.0
    hull = cv2.convexHull(np.asarray(points, dtype=np.float32))
    return min(1.0, float(cv2.contourArea(hull)) / (size[0] * size[1]))


def overlap(
    a_xy: np.ndarray,
    a_size: tuple[int, int],
    b_xy: np.ndarray,
    b_size: tuple[int, int],
    ia: np.ndarray,
    ib: np.ndarray,
    transform: np.ndarray | None,
) -> Overlap:
    """The figures of inlier matches a_xy[ia] -> b_xy[ib] under `transform` (a to b)."""
    if transform is None or len(ia) < 3:
        return NONE
    try:
        back = np.linalg.inv(
            np.vstack([transform, [0, 0, 1]]) if transform.shape == (2, 3) else transform
        )
    except np.linalg.LinAlgError:
        return NONE
    in_b = intersection(mapped(frame(a_size), transform), frame(b_size))
    if len(in_b) < 3:
        return NONE
    in_a = mapped(in_b, back)
    there = min(int(inside(a_xy, in_a).sum()), int(inside(b_xy, in_b).sum()))
    ratio = min(1.0, len(ia) / there) if there else 0.0
    coverage = min(hull_share(a_xy[ia], a_size), hull_share(b_xy[ib], b_size))
    return Overlap(round(coverage, 4), round(ratio, 4))
