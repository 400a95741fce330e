"""RootSIFT, Lowe's ratio test and RANSAC: the way VISE confirms that two images are copies.

For a pair, each RootSIFT descriptor of the first image finds its two nearest in the second
(exactly: similar/verification/distances.py);
Lowe's ratio test keeps the distinctive ones, each keypoint of the second image is used at
most once (one-to-one), and RANSAC fits a transform (`verify.transform`: an affine one by
default, so that a copy whose aspect changed lies whole on its original; a similarity; or a
homography for copies photographed at an angle) and counts the matches it explains: the
inliers; the matches are then looked for again where the fit lays each keypoint (guided
matching, similar/verification/guided.py), so that repeated pips and strokes count. A fit
that reflects the picture or stretches it past MAX_STRETCH is no fit. A pair of few
keypoints (a thumbnail, a small icon) that RANSAC does not make a copy is laid frame on
frame (`framed_check`) and judged as strictly as the small floor's pairs. The
mirrored first image is tried as well (`verify.mirror`), since reused woodcuts are often
reversed; the better of the two counts. A pair with at least `verify.min_inliers` inliers is
a `copy` when the aligned pictures also agree over their overlap and neither draws there
what the other lacks (`verify.min_agreement`, `verify.max_difference`,
similar/verification/overlap.py); else, from `verify.min_part_inliers` inliers, it only
`shares_part` (a border, a frame with another card, letter or pictogram in it, a typeface, a
figure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..cache import canonical
from . import prefilter, region
from .base import CopyRule, Method, PairResult
from .detail import Pictures, closer_views, decoded, made_from
from .distances import closeness, engine, numpy_products, passes_ratio, two_nearest
from .features import Features, extract, pack, settings_of, unpack_entry
from .guided import guided_matches, one_to_one
from .overlap import (
    agreement,
    colour_difference,
    content_contained,
    content_shares,
    difference,
    drawn_shares,
    hull_share,
    mapped,
    overlap,
    overlap_polygons,
    overlap_within,
    part_of,
)

MAX_STORED_MATCHES = 40  # matched points kept per verified pair, for the preview's lines
# RANSAC's largest reprojection error, as a share of the longer side of the second image
THRESHOLD = 0.02
MAX_STRETCH = 3.0  # an affine fit's largest change of aspect (a re-engraving, a stretched size)
OTHER_SIDE = ("b", "a")  # the picture that lies in side 0's or side 1's: a part of it
WHOLE = 0.95  # the share of each picture inside the overlap that makes the two whole to whole
CENTRAL = 0.5  # under this share of inliers inside the ring, the match is carried by the ring
REFINE_ROUNDS = 2  # least-squares fits of a homography over its inliers
PERSPECTIVE_GAIN = 1.1  # a homography kept instead lays this many times the matches close
# inliers among the distinctive matches from which the matches are searched again where the
# fit lays them (similar/verification/guided.py)
GUIDE_FROM = 6
# least-squares fits of an anisotropic transform to its guided matches (`with_guided`), where it
# stretches one axis at least REFIT_STRETCH times the other: a stretched copy's descriptors
# blur, and the few distinctive matches fit its stretch a few pixels off. Measured on the
# development collection's candidate edges (docs/performance.md, "A stretched copy fitted to
# its guided matches"): 13 more right copies, 3 lost, no more wrong; fitted so at 1.1 too, two
# decks' eights of hearts (one pip layout, hearts a little wider) became copies
REFIT_ROUNDS = 2
REFIT_STRETCH = 1.25


def ratio_matches(
    a: Features, b: Features, ratio: float, products: Callable = numpy_products
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into a, into b) of one-to-one matches passing Lowe's ratio test; `products`
    is an engine of similar/verification/distances.py (each gives the same matches)."""
    if a.count < 2 or b.count < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    best, nearest, second = two_nearest(closeness(a.desc, b.desc, b.norms, products))
    keep = np.flatnonzero(passes_ratio(a.norms - nearest, a.norms - second, ratio))
    return one_to_one(keep, best, a.norms - nearest)


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


@dataclass(frozen=True)
class Fitted:
    """A transform (a to b) and its inlier matches, as indices into a and into b: all of them,
    and the distinctive ones (those the ratio test kept) among them."""

    transform: np.ndarray | None
    a: np.ndarray
    b: np.ndarray
    distinctive_a: np.ndarray
    distinctive_b: np.ndarray
    refitted: bool = False  # the transform fitted again to the guided matches

    @property
    def inliers(self) -> int:
        return len(self.a)

    @property
    def guided(self) -> bool:
        """Whether the inliers are guided matches (more than the distinctive ones)."""
        return len(self.a) != len(self.distinctive_a)


def guided_fit(
    a: Features, b: Features, ia: np.ndarray, ib: np.ndarray, model: str, ratio: float, seed: int
) -> Fitted:
    """The transform `fit` finds for the ratio test's matches (ia, ib), with its guided
    matches (`with_guided`)."""
    transform, mask = fit(a, b, ia, ib, model, seed)
    return with_guided(a, b, transform, ia[mask], ib[mask], ratio)


def with_guided(
    a: Features, b: Features, transform, ia: np.ndarray, ib: np.ndarray, ratio: float
) -> Fitted:
    """A transform and the distinctive matches it explains (ia, ib), with the guided matches
    (`guided_matches`) as its inliers where it explains GUIDE_FROM of them and the guided
    ones are more. The transform is not fitted again to them (a guided match may be a
    similar stroke beside its counterpart, a club's lobe for a spade's, which the
    distinctive matches' fit does not follow) unless it stretches one axis REFIT_STRETCH
    times the other: then it is fitted to them by least squares, REFIT_ROUNDS times while
    that finds more, and the pair is judged up to its edge (`with_figures`)."""
    if transform is None or len(ia) < GUIDE_FROM:
        return Fitted(transform, ia, ib, ia, ib)
    reach = THRESHOLD * max(b.size)
    ga, gb = guided_matches(a, b, transform, reach, ratio)
    if len(ga) <= len(ia):
        return Fitted(transform, ia, ib, ia, ib)
    refitted = False
    for _ in range(REFIT_ROUNDS if stretch(transform) >= REFIT_STRETCH else 0):
        again = least_squares(a.xy[ga], b.xy[gb], transform)
        if again is None:
            break
        more_a, more_b = guided_matches(a, b, again, reach, ratio)
        if len(more_a) <= len(ga):
            break
        transform, ga, gb, refitted = again, more_a, more_b, True
    return Fitted(transform, ga, gb, ia, ib, refitted)


def stretch(transform: np.ndarray) -> float:
    """How many times the transform stretches one axis more than the other."""
    longest, shortest = np.linalg.svd(np.asarray(transform, np.float64)[:2, :2], compute_uv=False)
    return float(longest / max(shortest, 1e-12))


def least_squares(src: np.ndarray, dst: np.ndarray, like: np.ndarray) -> np.ndarray | None:
    """The transform of `like`'s kind (2 x 3 affine, 3 x 3 homography) fitted to the matches
    by least squares; None where it is no plausible copy's."""
    import cv2

    if len(src) < 4:
        return None
    if like.shape == (3, 3):
        again, _ = cv2.findHomography(src, dst, 0)
    else:
        ones = np.hstack([src, np.ones((len(src), 1), src.dtype)]).astype(np.float64)
        solved, *_ = np.linalg.lstsq(ones, dst.astype(np.float64), rcond=None)
        again = solved.T
    if again is None or not plausible(again):
        return None
    return again


def framed_fit(a: Features, b: Features, ia: np.ndarray, ib: np.ndarray, ratio: float) -> Fitted:
    """The frame of `a` laid on the frame of `b` (each axis scaled, nothing moved:
    `frame_to_frame`) as the transform, with the ratio test's matches (ia, ib) it lays
    within RANSAC's threshold and their guided matches (`with_guided`): the fit of a whole
    picture to its own copy at another size, where too few keypoints match for RANSAC to
    find it (an icon of 48 pixels holds a dozen), or where a fit from a few matches lies a
    pixel off."""
    transform = frame_to_frame(a.size, b.size) if len(ia) else None
    if transform is None or not plausible(transform):
        return Fitted(None, ia[:0], ib[:0], ia[:0], ib[:0])
    laid = lies_within(a.xy[ia], b.xy[ib], transform, THRESHOLD * max(b.size))
    return with_guided(a, b, transform, ia[laid], ib[laid], ratio)


def counted(fitted: Fitted, a: Features, b: Features, floor: int) -> Fitted:
    """The fit with its guided matches where they count. A pair whose distinctive inliers
    alone are under the copy `floor` is lifted by its guided matches only where each picture
    lies whole in the other (WHOLE): a part of a picture (a crop, a picture pasted on a
    page) lifted by repeated strokes lies in every picture that repeats them, as a crop of
    two spades lies in the three of spades and in the six."""
    if not fitted.guided or len(fitted.distinctive_a) >= floor:
        return fitted
    figures = overlap(a.xy, a.size, b.xy, b.size, fitted.a, fitted.b, fitted.transform)
    if figures.mutual >= WHOLE:
        return fitted
    alone = fitted.distinctive_a, fitted.distinctive_b
    return Fitted(fitted.transform, *alone, *alone, fitted.refitted)


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
    return stretch(transform) <= MAX_STRETCH


def check_pair(
    a: Features, b: Features, settings, seed: int, pictures: Callable | None = None
) -> PairResult:
    """`first_check`; where that finds no copy and `pictures` are given, the pair checked
    again with one picture described anew (similar/verification/region.py): the larger
    picture's part at a strong crop's scale (`zoomed_check`), the second picture at the
    first's aspect (`aspect_check`), or the picture printed on a page (`page_check`)."""
    checked, look = first_check(a, b, settings, seed, pictures)
    if pictures is None or checked.relation(CopyRule.of(settings)) == "copy":
        return checked
    zoomed = None
    if look.fitted is not None:
        zoomed = zoomed_check(a, b, look.fitted, settings, seed, pictures)
    return (
        zoomed
        or aspect_check(a, b, look.orientations, settings, seed, pictures)
        or page_check(a, b, checked, settings, seed, pictures)
        or checked
    )


@dataclass(frozen=True)
class Look:
    """What a first check saw besides its result: the better orientation's fit of the
    distinctive matches ((mirrored, Fitted); None where none was found), and each
    orientation's ratio-test matches ((mirrored, features, ia, ib))."""

    fitted: tuple | None
    orientations: list


def zoomed_check(
    a: Features, b: Features, found: tuple, settings, seed: int, pictures: Callable
) -> PairResult | None:
    """The pair checked again (`first_check`) with the larger picture's part that the other
    shows described at the crop's scale (similar/verification/region.py), when the fit
    `found` ((mirrored, Fitted) of the distinctive inliers) enlarges one picture
    region.ZOOM times and explains GUIDE_FROM matches; its result where it is a copy
    (`copy_anew`) whose inliers spread over region.SPREAD of the crop at least, else None."""
    mirrored, fitted = found
    zoom = region.enlarged_side(fitted.transform)
    if zoom is None or len(fitted.distinctive_a) < GUIDE_FROM:
        return None
    side, scale = zoom
    polygon = region.part_shown(a, b, fitted.transform, side, mirrored)
    picture = None if polygon is None else pictures(side)
    if picture is None:
        return None
    whole = (a, b)[side]
    part = region.described_part(whole, picture, polygon, scale, settings)
    if part is None:
        return None
    again = copy_anew(a, b, (part, b) if side == 0 else (a, part), settings, seed, pictures)
    if again is None:
        return None
    matched = np.array(again.matches, np.float64).reshape(-1, 4)  # shares of each picture
    crop = matched[:, 2:] if side == 0 else matched[:, :2]
    if hull_share(crop, (1, 1)) < region.SPREAD:
        return None
    return replace(again, zoomed=True, part=OTHER_SIDE[side])


def aspect_check(
    a: Features, b: Features, orientations: list, settings, seed: int, pictures: Callable
) -> PairResult | None:
    """The pair checked again with the second picture described at the first's aspect
    (`region.at_aspect`), where the two frames' aspects differ by region.ASPECT (at most
    MAX_STRETCH) and region.ASPECT_EVIDENCE places of ratio-test matches (`orientations`:
    as it is or mirrored) lie frame on frame (`frame_to_frame`); its result where it is a
    copy (`copy_anew`), else None. A worker keeps a picture described at an aspect
    (`detail.decoded`'s `derived`): a stretched card is checked against the other cards of
    its deck, of one aspect."""
    if not (a.count and b.count and min(a.size) and min(b.size)):
        return None
    aspect = a.size[0] / a.size[1]
    apart = aspect / (b.size[0] / b.size[1])
    if not region.ASPECT <= max(apart, 1 / apart) <= MAX_STRETCH:
        return None
    laid_on = frame_to_frame(a.size, b.size)
    evidence = 0
    for _, fa, ia, ib in orientations:
        laid = lies_within(fa.xy[ia], b.xy[ib], laid_on, THRESHOLD * max(b.size))
        evidence = max(evidence, places(fa, ia[laid]))
    if evidence < region.ASPECT_EVIDENCE:
        return None

    def describe() -> Features | None:
        picture = pictures(1)
        return None if picture is None else region.at_aspect(b, picture, aspect, settings)

    squeezed = made_from(pictures, 1, ("aspect", round(aspect, 4)), describe)
    if squeezed is None:
        return None
    return copy_anew(a, b, (a, squeezed), settings, seed, pictures)


def page_check(
    a: Features, b: Features, checked: PairResult, settings, seed: int, pictures: Callable
) -> PairResult | None:
    """The pair checked again with the picture printed on either picture, where that is a
    page of type (its thumbnail shows one: `Features.shows_page`; then the page as
    described), described on its own (`region.page_picture`), when the first check found
    region.PAGE_EVIDENCE inliers; its result where it is a copy (`copy_anew`), marked
    `zoomed` (its inliers counted over a denser description), else None. A worker keeps a
    page's picture described (`detail.decoded`'s `derived`): a page is checked against all
    its candidates."""
    if checked.inliers < region.PAGE_EVIDENCE:
        return None
    for side, whole in enumerate((a, b)):
        if not whole.shows_page:  # the thumbnail says so, before the page is decoded
            continue

        def describe(side=side, whole=whole) -> Features | None:
            picture = pictures(side)
            return None if picture is None else region.page_picture(whole, picture, settings)

        part = made_from(pictures, side, ("page picture",), describe)
        if part is None:
            continue
        again = copy_anew(a, b, (part, b) if side == 0 else (a, part), settings, seed, pictures)
        if again is not None:
            return replace(again, zoomed=True, part=OTHER_SIDE[side])
    return None


def copy_anew(
    a: Features, b: Features, pair: tuple, settings, seed: int, pictures: Callable
) -> PairResult | None:
    """The pair a, b checked again (`first_check`) as `pair`, one of its pictures described
    anew: the result, with the keypoints of a and b, where it is a copy with
    `verify.min_inliers` inliers at least (no small floor: the new description is not the
    picture's own); else None."""
    again, _ = first_check(*pair, settings, seed, pictures)
    rule = CopyRule.of(settings)
    again = replace(again, keypoints=min(a.count, b.count))
    if again.inliers < rule.min_inliers or again.relation(rule) != "copy":
        return None
    return again


def first_check(
    a: Features, b: Features, settings, seed: int, pictures: Callable | None = None
) -> tuple[PairResult, Look]:
    """Inliers of the pair, and of the mirrored first image when that explains more; the
    overlap figures of the better one. A pair of few keypoints (under the small floor) that
    this does not make a copy is laid frame on frame (`framed_check`). An affine fit that
    does not make the pair a copy is tried again as a homography (a copy photographed or
    printed at an angle), which is kept when it lays PERSPECTIVE_GAIN times the matches
    close (`closer`). With `pictures` (`detail.decoded`: the two pictures as described, on
    demand), an overlap that a thumbnail shows under-resolved is compared from the picture
    itself (similar/verification/detail.py). With the result, what the check saw (`Look`)."""
    rule = CopyRule.of(settings)
    keypoints = min(a.count, b.count)
    floor = rule.floor(keypoints)
    mirror = a.mirrored() if settings.mirror and a.count else None
    products = engine(settings.products)
    orientations = [
        (mirrored, fa, *ratio_matches(fa, b, settings.ratio, products))
        for mirrored, fa in ((False, a), (True, mirror))
        if fa is not None
    ]
    best, found = PairResult(0), None
    for mirrored, fa, ia, ib in orientations:
        fitted = guided_fit(fa, b, ia, ib, settings.transform, settings.ratio, seed)
        fitted = counted(fitted, fa, b, floor)
        if fitted.inliers > best.inliers:
            matches = matched_points(a, b, fitted.a, fitted.b)
            best = PairResult(fitted.inliers, mirrored, matches)
            found = (fa, ia, ib, fitted)
    look = Look(None if found is None else (best.mirrored, found[3]), orientations)
    checked = best = replace(best, keypoints=keypoints)
    enough = found is not None and best.inliers >= floor
    looks = oriented(pictures, best.mirrored)
    if enough:
        fa, ia, ib, fitted = found
        strict = best.inliers < rule.min_inliers
        checked = with_figures(best, fa, b, fitted, floor, strict, looks)
        if checked.relation(rule) == "copy":
            return checked, look
    if floor < rule.min_inliers:
        framed = framed_check(a, b, orientations, floor, settings.ratio, pictures)
        if framed.relation(rule) == "copy":
            return framed, look
    if not enough or settings.transform != "affine":
        return checked, look
    angled = counted(guided_fit(fa, b, ia, ib, "homography", settings.ratio, seed), fa, b, floor)
    if angled.transform is None or not closer(fa, b, ia, ib, angled.transform, fitted.transform):
        return checked, look
    matches = matched_points(a, b, angled.a, angled.b)
    again = PairResult(angled.inliers, best.mirrored, matches, keypoints=best.keypoints)
    strict = again.inliers < rule.min_inliers
    return with_figures(again, fa, b, angled, floor, strict, looks), look


def oriented(pictures: Callable | None, mirrored: bool) -> Pictures | None:
    """`pictures` for the orientation a fit was found in: the first picture mirrored too."""
    if pictures is None:
        return None
    return lambda side: pictures(side, mirrored and side == 0)


def closer(a: Features, b: Features, ia, ib, angled: np.ndarray, flat: np.ndarray) -> bool:
    """Whether a homography lays PERSPECTIVE_GAIN times the matches of an affine fit within
    half RANSAC's threshold: a picture seen at an angle, which the affine fit follows only
    roughly; a flat pair that both fit alike keeps its affine fit."""
    src, dst = a.xy[ia], b.xy[ib]
    close = 0.5 * THRESHOLD * max(b.size)
    laid_close = int(lies_within(src, dst, angled, close).sum())
    return laid_close >= PERSPECTIVE_GAIN * max(int(lies_within(src, dst, flat, close).sum()), 1)


def with_figures(
    found: PairResult,
    fa: Features,
    b: Features,
    fitted: Fitted,
    floor: int,
    strict: bool,
    pictures: Pictures | None = None,
) -> PairResult:
    """A verified pair's result with the overlap figures of its fit. Where each picture
    lies whole in the other (WHOLE: nothing was added around either, no frame, caption or
    margin of a copy), agreement compares the cells along the overlap's edge too when
    nothing is drawn inside them (a two of clubs: pips, index and frame all near the edge),
    and difference does when the match is carried there: when most distinctive inliers lie
    there (under CENTRAL inside: one deck's card frame, a club's pip against a spade's), or
    when the distinctive inliers alone are under the copy `floor` (the guided matches on
    repeated pips lifted it: a layout of pips that two decks share, engraved apart, whose
    corner indices and outline tell them apart). One picture reprinted in another border is
    matched inside, and its two borders stay out. `difference` is the larger of the
    strokes' and the colours' (`colour_difference`: where colour is what the picture
    shows). A `strict` pair (under `verify.min_inliers`, let in by the small floor: an icon,
    a flag; or laid frame on frame) must keep its colours, and where each picture lies
    whole in the other its ring is compared too: its few inliers say little about where the
    pictures differ (a two of clubs and a two of spades of 112 and 128 pixels, nine inliers
    on the corner index and the pips' stems). So is a pair whose stretch was fitted to its
    guided matches: the repeated pips then align, and the corner index tells the decks apart.
    Strokes that agree in the thumbnails are compared again from the pictures themselves
    where a thumbnail shows the overlap under-resolved and `pictures` are given
    (`strokes_differ`)."""
    transform = fitted.transform
    polygons = overlap_polygons(fa.size, b.size, transform)
    figures = overlap_within(fa.xy, fa.size, b.xy, b.size, fitted.a, fitted.b, polygons)
    whole = figures.mutual >= WHOLE
    distinctive = len(fitted.distinctive_a)
    carried = figures
    if fitted.guided:
        carried = overlap_within(
            fa.xy, fa.size, b.xy, b.size, fitted.distinctive_a, fitted.distinctive_b, polygons
        )
    ring_too = whole and (
        strict or fitted.refitted or carried.central < CENTRAL or distinctive < floor
    )
    drawn = drawn_shares(fa.canvas, fa.size, b.canvas, b.size, polygons)
    return replace(
        found,
        coverage=figures.coverage,
        inlier_ratio=figures.inlier_ratio,
        part=part_of(*content_shares(figures, drawn)),
        contained=content_contained(figures.contained, drawn),
        agreement=agreement(fa.thumb, fa.size, b.thumb, b.size, transform, whole),
        difference=max(
            strokes_differ(fa, b, transform, polygons, ring_too, pictures),
            colour_difference(fa.colour, fa.size, b.colour, b.size, transform, strict),
        ),
    )


def strokes_differ(
    fa: Features, b: Features, transform, polygons, ring_too: bool, pictures: Pictures | None
) -> float:
    """The strokes' `difference` of the pair through their thumbnails, or where a thumbnail
    shows the overlap (`polygons`) under-resolved, through the closer views
    (`detail.closer_views`: a picture printed small on a page, the part of a picture a
    strong crop shows, compared at their own resolution)."""
    views = None
    if pictures is not None and polygons is not None:
        views = closer_views(fa, b, transform, polygons, pictures)
    if views is None:
        return difference(fa.thumb, fa.size, b.thumb, b.size, transform, ring_too)
    return difference(*views, ring_too)


def frame_to_frame(a_size: tuple[int, int], b_size: tuple[int, int]) -> np.ndarray:
    """The affine transform that lays a picture of `a_size` on one of `b_size`, corner on
    corner, each axis scaled: the positions of the features and of the thumbnails are
    scaled so (laid pixel centre on pixel centre, the development collection's icons at
    their sizes kept half their strokes apart, 33 copies found against 69)."""
    return np.array([[b_size[0] / a_size[0], 0.0, 0.0], [0.0, b_size[1] / a_size[1], 0.0]])


def framed_check(
    a: Features,
    b: Features,
    orientations: list,
    floor: int,
    ratio: float,
    pictures: Callable | None = None,
) -> PairResult:
    """The pair laid frame on frame (`framed_fit`), as it is and mirrored, where the ratio
    test's matches it explains lie at `floor` places at least (`places`): the evidence
    RANSAC needs, with the transform given instead of searched. Its figures are taken as
    strictly as the small floor's (`with_figures`, strict; `PairResult.framed`): on the
    development collection, without that, a flag of one green field became the copy of a
    red one that has a green star in it."""
    best, found = PairResult(0, keypoints=min(a.count, b.count), framed=True), None
    for mirrored, fa, ia, ib in orientations:
        fitted = framed_fit(fa, b, ia, ib, ratio)
        if places(fa, fitted.distinctive_a) >= floor and fitted.inliers > best.inliers:
            matches = matched_points(a, b, fitted.a, fitted.b)
            best = replace(best, inliers=fitted.inliers, mirrored=mirrored, matches=matches)
            found = (fa, fitted)
    if found is None:
        return best
    looks = oriented(pictures, best.mirrored)
    return with_figures(best, found[0], b, found[1], floor, True, looks)


def places(features: Features, keypoints: np.ndarray) -> int:
    """How many places the keypoints lie at: SIFT puts two keypoints on one place where a
    blob has two orientations, which is one piece of evidence, not two."""
    return len(np.unique(features.xy[keypoints].round(1), axis=0))


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
        return prefilter.passing(a, candidates, s.ratio, s.mirror, s.prefilter, engine(s.products))

    def check(self, a: Features, b: Features, seed: int, read=None) -> PairResult:
        pictures = None
        if read is not None:
            pictures = decoded(read, self.settings.max_side, self.max_pixels)
        return check_pair(a, b, self.settings, seed, pictures)

    def cache_key(self) -> str:
        s = self.settings
        return canonical(settings_of(s.max_side, s.features, self.max_pixels, s.enlarge_to))

    def pack(self, features: Features) -> bytes:
        return pack(features)

    def unpack(self, raw: bytes) -> Features | None:
        return unpack_entry(raw)


METHOD = Sift
