"""RootSIFT, Lowe's ratio test and RANSAC: the way VISE confirms that two images are copies.

For a pair, each RootSIFT descriptor of the first image finds its two nearest in the second;
Lowe's ratio test keeps the distinctive ones, each keypoint of the second image is used at
most once (one-to-one), and RANSAC fits a transform (`verify.transform`: an affine one by
default, so that a copy whose aspect changed lies whole on its original; a similarity; or a
homography for copies photographed at an angle) and counts the matches it explains: the
inliers. A fit that reflects the picture or stretches it past MAX_STRETCH is no fit. The
mirrored first image is tried as well (`verify.mirror`), since reused woodcuts are often
reversed; the better of the two counts. A pair with at least `verify.min_inliers` inliers is
a `copy` when the aligned pictures also agree over their overlap and neither draws there
what the other lacks (`verify.min_agreement`, `verify.max_difference`,
similar/verification/overlap.py); else, from `verify.min_part_inliers` inliers, it only
`shares_part` (a border, a frame with another card, letter or pictogram in it, a typeface, a
figure).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..cache import canonical
from . import prefilter
from .base import CopyRule, Method, PairResult
from .features import Features, extract, pack, settings_of, unpack_entry
from .overlap import agreement, colour_difference, difference, mapped, overlap

MAX_STORED_MATCHES = 40  # matched points kept per verified pair, for the preview's lines
# RANSAC's largest reprojection error, as a share of the longer side of the second image
THRESHOLD = 0.02
MAX_STRETCH = 3.0  # an affine fit's largest change of aspect (a re-engraving, a stretched size)
WHOLE = 0.95  # the share of each picture inside the overlap that makes the two whole to whole
CENTRAL = 0.5  # under this share of inliers inside the ring, the match is carried by the ring
REFINE_ROUNDS = 2  # least-squares fits of a homography over its inliers
PERSPECTIVE_GAIN = 1.1  # a homography kept instead lays this many times the matches close


def ratio_matches(a: Features, b: Features, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into a, into b) of one-to-one matches passing Lowe's ratio test."""
    if a.count < 2 or b.count < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sims = a.desc @ b.desc.T
    rows = np.arange(len(sims))
    best = sims.argmax(axis=1)
    s1 = sims[rows, best]
    sims[rows, best] = -np.inf
    s2 = sims.max(axis=1)
    # unit descriptors: distance^2 = 2 - 2 * similarity
    d1 = np.sqrt(np.maximum(2 - 2 * s1, 0))
    d2 = np.sqrt(np.maximum(2 - 2 * s2, 0))
    keep = np.flatnonzero(d1 < ratio * d2)
    if not len(keep):
        return keep, keep
    # one-to-one: a keypoint of b matched from several of a keeps only its closest
    order = keep[np.lexsort((keep, d1[keep]))]
    _, first_use = np.unique(best[order], return_index=True)
    chosen = np.sort(order[first_use])
    return chosen, best[chosen]


def fit(
    a: Features, b: Features, ia: np.ndarray, ib: np.ndarray, model: str, seed: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """The best transform of `model` (similarity, affine, homography) RANSAC finds (a to b;
    None if none) and the matches' inlier mask."""
    import cv2

    n = len(ia)
    if n < (4 if model == "homography" else 3):
        return None, np.zeros(n, bool)
    src, dst = a.xy[ia], b.xy[ib]
    threshold = THRESHOLD * max(b.size)
    cv2.setRNGSeed(seed)
    if model == "homography":
        transform, mask = cv2.findHomography(
            src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999
        )
        if transform is not None and mask is not None:
            transform, mask = refined(src, dst, transform, mask.ravel().astype(bool), threshold)
    else:
        estimate = cv2.estimateAffine2D if model == "affine" else cv2.estimateAffinePartial2D
        transform, mask = estimate(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=threshold,
            maxIters=2000,
            confidence=0.999,
            refineIters=10,
        )
    if mask is None or transform is None or not plausible(transform):
        return None, np.zeros(n, bool)
    return transform, mask.ravel().astype(bool)


def refined(
    src: np.ndarray, dst: np.ndarray, transform: np.ndarray, mask: np.ndarray, threshold: float
) -> tuple[np.ndarray | None, np.ndarray]:
    """A homography fitted again by least squares over its inliers, REFINE_ROUNDS times, the
    inliers counted again at the same threshold each time: RANSAC's model is fitted to a
    minimal sample, a few pixels off across the picture, which the difference test (strokes
    within a pixel of each other) would count as strokes without a counterpart."""
    import cv2

    for _ in range(REFINE_ROUNDS):
        if mask.sum() < 4:
            break
        again, _ = cv2.findHomography(src[mask], dst[mask], 0)
        if again is None:
            break
        transform = again
        mask = lies_within(src, dst, transform, threshold)
    return transform, mask


def lies_within(src: np.ndarray, dst: np.ndarray, transform: np.ndarray, reach: float):
    """Which matches the transform lays within `reach` pixels of their counterpart."""
    return np.linalg.norm(mapped(src, transform) - dst, axis=1) < reach


def plausible(transform: np.ndarray) -> bool:
    """A copy's transform keeps the picture's sides (a mirror is tried as its own image,
    so that `mirrored` says so) and stretches one axis at most MAX_STRETCH times the other."""
    linear = np.asarray(transform, np.float64)[:2, :2]
    if not np.isfinite(transform).all() or np.linalg.det(linear) <= 0:
        return False
    longest, shortest = np.linalg.svd(linear, compute_uv=False)
    return longest <= MAX_STRETCH * shortest


def check_pair(a: Features, b: Features, settings, seed: int) -> PairResult:
    """Inliers of the pair, and of the mirrored first image when that explains more; the
    overlap figures of the better one. An affine fit that does not make the pair a copy is
    tried again as a homography (a copy photographed or printed at an angle), which is
    kept when it lays PERSPECTIVE_GAIN times the matches close (`closer`)."""
    best, found = PairResult(0), None
    mirror = a.mirrored() if settings.mirror and a.count else None
    for mirrored, fa in ((False, a), (True, mirror)):
        if fa is None:
            continue
        ia, ib = ratio_matches(fa, b, settings.ratio)
        transform, mask = fit(fa, b, ia, ib, settings.transform, seed)
        inliers = int(mask.sum())
        if inliers > best.inliers:
            best = PairResult(inliers, mirrored, matched_points(a, b, ia[mask], ib[mask]))
            found = (fa, ia, ib, mask, transform)
    best = replace(best, keypoints=min(a.count, b.count))
    rule = CopyRule.of(settings)
    if found is None or best.inliers < rule.floor(best.keypoints):  # no figures needed
        return best
    fa, ia, ib, mask, transform = found
    checked = with_figures(best, fa, b, ia[mask], ib[mask], transform)
    if settings.transform != "affine" or checked.relation(rule) == "copy":
        return checked
    angled, angled_mask = fit(fa, b, ia, ib, "homography", seed)
    if angled is None or not closer(fa, b, ia, ib, angled, transform):
        return checked
    matches = matched_points(a, b, ia[angled_mask], ib[angled_mask])
    again = PairResult(int(angled_mask.sum()), best.mirrored, matches, keypoints=best.keypoints)
    return with_figures(again, fa, b, ia[angled_mask], ib[angled_mask], angled)


def closer(a: Features, b: Features, ia, ib, angled: np.ndarray, flat: np.ndarray) -> bool:
    """Whether a homography lays PERSPECTIVE_GAIN times the matches of an affine fit within
    half RANSAC's threshold: a picture seen at an angle, which the affine fit follows only
    roughly; a flat pair that both fit alike keeps its affine fit."""
    src, dst = a.xy[ia], b.xy[ib]
    close = 0.5 * THRESHOLD * max(b.size)
    laid_close = int(lies_within(src, dst, angled, close).sum())
    return laid_close >= PERSPECTIVE_GAIN * max(int(lies_within(src, dst, flat, close).sum()), 1)


def with_figures(found: PairResult, fa: Features, b: Features, ia, ib, transform) -> PairResult:
    """A verified pair's result with the overlap figures of its transform. Where each picture
    lies whole in the other (WHOLE: nothing was added around either, no frame, caption or
    margin of a copy), agreement compares the cells along the overlap's edge too when
    nothing is drawn inside them (a two of clubs: pips, index and frame all near the edge),
    and difference does when most inliers lie there (under CENTRAL inside): the match is
    carried by a frame and what is drawn near it (one deck's card frame, a club's pip
    against a spade's), so that must agree too. One picture reprinted in another border is
    matched inside, and its two borders stay out. `difference` is the larger of the strokes'
    and the colours' (`colour_difference`: where colour is what the picture shows)."""
    figures = overlap(fa.xy, fa.size, b.xy, b.size, ia, ib, transform)
    whole = figures.mutual >= WHOLE
    ring_too = whole and figures.central < CENTRAL
    return replace(
        found,
        coverage=figures.coverage,
        inlier_ratio=figures.inlier_ratio,
        contained=figures.contained,
        agreement=agreement(fa.thumb, fa.size, b.thumb, b.size, transform, whole),
        difference=max(
            difference(fa.thumb, fa.size, b.thumb, b.size, transform, ring_too),
            colour_difference(fa.colour, fa.size, b.colour, b.size, transform),
        ),
    )


def matched_points(a: Features, b: Features, ia, ib) -> tuple:
    """Up to MAX_STORED_MATCHES inlier matches, positions as shares of each image's size, in
    the original (not mirrored) first image; evenly spread over the list."""
    pick = np.linspace(0, len(ia) - 1, min(len(ia), MAX_STORED_MATCHES)).round().astype(int)
    out = []
    for i, j in zip(np.asarray(ia)[pick], np.asarray(ib)[pick]):
        x1, y1 = a.xy[i]
        out.append(
            (
                round(float(x1) / max(a.size[0], 1), 4),
                round(float(y1) / max(a.size[1], 1), 4),
                round(float(b.xy[j][0]) / max(b.size[0], 1), 4),
                round(float(b.xy[j][1]) / max(b.size[1], 1), 4),
            )
        )
    return tuple(out)


class Sift(Method):
    """RootSIFT features (`similar.verification.features`), checked by ratio test and RANSAC."""

    name = "sift"
    suffix = ".sift"

    def describe(self, data: bytes) -> Features:
        s = self.settings
        return extract(data, s.max_side, s.features, self.max_pixels, s.enlarge_to)

    def passing(self, a: Features, candidates) -> np.ndarray:
        s = self.settings
        return prefilter.passing(a, candidates, s.ratio, s.mirror, s.prefilter)

    def check(self, a: Features, b: Features, seed: int) -> PairResult:
        return check_pair(a, b, self.settings, seed)

    def cache_key(self) -> str:
        s = self.settings
        return canonical(settings_of(s.max_side, s.features, self.max_pixels, s.enlarge_to))

    def pack(self, features: Features) -> bytes:
        return pack(features)

    def unpack(self, raw: bytes) -> Features | None:
        return unpack_entry(raw)


METHOD = Sift
