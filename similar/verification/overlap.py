"""Copy or shared part: how much of each picture a verified transform explains.

RANSAC's transform maps the first image onto the second; its *overlap* is the part of the
second image that the first one's frame covers (and its image in the first). A copy shows the
same picture, so most keypoints inside the overlap agree with the transform. A pair that
shares only a part (a printed border or frame, a card's border and pips, a typeface, a
texture, a figure drawn into another scene) has inliers on that part alone, and most
keypoints inside the overlap unmatched, or inliers spread over a small share of the picture.

* `inlier_ratio`: inliers / the keypoints inside the overlap, of the image with fewer there;
* `coverage`: the share of each image inside the inliers' convex hull, the smaller of the two;
* `contained`: the share of each image inside the overlap, the larger of the two: a copy, even
  a crop, lies (almost) whole inside the other picture; two different crops of one scene, or
  two tiles of one texture with a patch in common, overlap over a part of each. A picture's
  blank canvas (`blank`: one flat tone along its edge, as a rotation within the frame or a
  scan's margin adds) is no part of it (`content_contained`);
* `part`: which picture, if either, lies whole in the other as a part of it (`part_of`);
* `agreement`: the first image's thumbnail laid onto the second's by the transform; the
  overlap's bounding box cut into GRID x GRID cells, of which the inner CELLS x CELLS count
  (the outer RING is where frames, borders, captions and a copy's trimmed edges lie); the
  share of those cells with something drawn in them (not flat in both) whose pixels agree
  (normalised correlation at least AGREE). Keypoints gather on high-contrast ornament, so a
  shared border can hold most keypoints and inliers; the pictures' own pixels disagree.
  Two pictures that lie whole in each other (nothing added around either) with nothing
  drawn inside the ring are compared over every cell;
* `difference`: the aligned thumbnails' strokes compared both ways, cell by cell over the
  overlap's inner cells: the share of cells where one picture draws what the other has not
  even a trace of. Different cards of one deck, pictograms in one warning triangle, letters
  in one factotum frame agree in most cells (frame, pips, ground) and differ in a few; a
  copy differs in none. Strokes are gradients against the picture's own strongest, so a
  recoloured copy (a hand-coloured print, other inks) draws the same strokes: recolouring
  is not a difference. Two pictures that lie whole in each other and whose inliers lie
  mostly in the ring (the match is carried by a frame and what is drawn near it) are
  compared over every cell, ring included: a card's pips or corner index may lie there.
  One picture reprinted in another border is matched inside; its borders stay out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

GRID = 12
RING = 2
CELLS = GRID - 2 * RING
AGREE = 0.5  # normalised correlation of a cell's pixels that counts as the same drawing
FLAT = 4.0  # grey levels of standard deviation below which a cell holds nothing drawn
FILLED = 0.9  # share of a cell that must lie inside the overlap to be compared
AGREEMENT_SIDE = 96  # agreement compares thumbnails this long (cells of tone, not strokes)


@dataclass(frozen=True)
class Overlap:
    coverage: float
    inlier_ratio: float
    shares: tuple[float, float] = (0.0, 0.0)  # the share of each image inside the overlap
    central: float = 0.0  # the share of the inliers inside the overlap's inner cells

    @property
    def contained(self) -> float:
        """The share of each image inside the overlap, the larger of the two."""
        return round(max(self.shares), 4)

    @property
    def mutual(self) -> float:
        """The share of each image inside the overlap, the smaller of the two."""
        return round(min(self.shares), 4)


NONE = Overlap(0.0, 0.0)


def frame(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float32)


def homogeneous(transform: np.ndarray) -> np.ndarray:
    """A 2 x 3 (similarity, affine) transform as 3 x 3; a homography as it is."""
    return np.vstack([transform, [0, 0, 1]]) if transform.shape == (2, 3) else transform


def mapped(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Points under a 2 x 3 (similarity, affine) or 3 x 3 (homography) transform."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    moved = np.c_[points, np.ones(len(points))] @ homogeneous(transform).T
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
    polygons = None if len(ia) < 3 else overlap_polygons(a_size, b_size, transform)
    return overlap_within(a_xy, a_size, b_xy, b_size, ia, ib, polygons)


def overlap_within(
    a_xy: np.ndarray,
    a_size: tuple[int, int],
    b_xy: np.ndarray,
    b_size: tuple[int, int],
    ia: np.ndarray,
    ib: np.ndarray,
    polygons: tuple[np.ndarray, np.ndarray] | None,
) -> Overlap:
    """`overlap` over the overlap its transform gives (`polygons`: `overlap_polygons`),
    worked out once by a caller that needs it besides."""
    if polygons is None or len(ia) < 3:
        return NONE
    in_a, in_b = polygons
    there = min(int(inside(a_xy, in_a).sum()), int(inside(b_xy, in_b).sum()))
    ratio = min(1.0, len(ia) / there) if there else 0.0
    coverage = min(hull_share(a_xy[ia], a_size), hull_share(b_xy[ib], b_size))
    return Overlap(
        round(coverage, 4),
        round(ratio, 4),
        (area_share(in_a, a_size), area_share(in_b, b_size)),
        round(central_share(b_xy[ib], in_b), 4),
    )


WHOLE_IN = 0.85  # the share of a picture inside the overlap that lays it whole in the other
PART = 0.8  # ... while the other holds more than this share of itself outside the overlap


def part_of(a_share: float, b_share: float) -> str:
    """Which picture is a part of the other ("a", "b", or "" for neither), by the share of
    what each shows inside the overlap (`content_shares`): it lies whole in the other
    (WHOLE_IN of it inside), and the other shows more around it (under PART of it inside):
    a crop of a picture, a picture printed on a page or in a border, a figure drawn into a
    scene."""
    if a_share >= WHOLE_IN and b_share < PART:
        return "a"
    if b_share >= WHOLE_IN and a_share < PART:
        return "b"
    return ""


BLANK_RANGE = 6  # grey levels a blank canvas varies by between neighbouring pixels, at most
BLANK_SHARE = 0.01  # the share of a thumbnail that is blank before it counts
# ... and at most: more is the ground the picture is drawn on (a pip on a card's white, an
# icon on white), which a crop of it shares with every other crop
BLANK_MOST = 0.5


def blank(thumb: np.ndarray) -> np.ndarray:
    """Where a thumbnail shows a blank canvas: regions of one flat tone (locally within
    BLANK_RANGE, over the region within FLAT) that touch its edge, such as the black
    corners a rotation within the same frame adds, or a scan's bare margin."""
    import cv2

    if not thumb.size:
        return np.zeros(thumb.shape, bool)
    near = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(thumb, near).astype(np.int16) - cv2.erode(thumb, near)
    flat = (spread <= BLANK_RANGE).astype(np.uint8)
    count, labels = cv2.connectedComponents(flat, connectivity=4)
    edge = np.unique(np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    edge = edge[edge > 0]
    if not len(edge):
        return np.zeros(thumb.shape, bool)
    tones = thumb.astype(np.float64).ravel()
    sizes = np.bincount(labels.ravel(), minlength=count)
    means = np.bincount(labels.ravel(), tones, count) / np.maximum(sizes, 1)
    squares = np.bincount(labels.ravel(), tones * tones, count) / np.maximum(sizes, 1)
    spread_of = np.sqrt(np.maximum(squares - means * means, 0))
    canvas = edge[spread_of[edge] < FLAT]
    return np.isin(labels, canvas)


def drawn_shares(
    a_canvas: np.ndarray,
    a_size: tuple[int, int],
    b_canvas: np.ndarray,
    b_size: tuple[int, int],
    polygons: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[float | None, float | None]:
    """Each picture's `drawn_share` inside the overlap (`polygons`: `overlap_polygons`):
    None for one without a blank canvas to leave out (`blank` of its thumbnail, covering
    from BLANK_SHARE to BLANK_MOST of it), and for both where there is no overlap."""
    if polygons is None:
        return None, None
    in_a, in_b = polygons
    return drawn_share(a_canvas, a_size, in_a), drawn_share(b_canvas, b_size, in_b)


def content_contained(contained: float, drawn: tuple[float | None, float | None]) -> float:
    """`contained` with each picture's blank canvas left out of it (`drawn_shares`). A copy
    rotated within its frame loses its corners to the frame and gains a blank canvas
    there; what it shows lies whole in the original."""
    return round(max([contained, *(share for share in drawn if share is not None)]), 4)


def content_shares(figures: Overlap, drawn: tuple[float | None, float | None]) -> list[float]:
    """The share of what each picture shows inside the overlap: its drawn pixels' where it
    has a blank canvas (`drawn_shares`: a copy turned on a larger white canvas is no more
    than the picture), else its frame's (`Overlap.shares`)."""
    return [area if share is None else share for area, share in zip(figures.shares, drawn)]


def drawn_share(canvas: np.ndarray, size: tuple[int, int], polygon: np.ndarray) -> float | None:
    """The share of a picture's drawn pixels (its thumbnail less its blank `canvas`) inside
    a polygon in its own pixels; None where it has no blank canvas to leave out."""
    import cv2

    if not canvas.size or not BLANK_SHARE <= canvas.mean() <= BLANK_MOST:
        return None
    scale = np.diag(to_pixels(canvas.shape, size))[:2].astype(np.float32)
    inside_mask = np.zeros(canvas.shape, np.uint8)
    cv2.fillConvexPoly(inside_mask, np.round(polygon * scale).astype(np.int32), 1)
    drawn = ~canvas
    return float((drawn & (inside_mask > 0)).sum()) / float(drawn.sum())


def overlap_polygons(
    a_size: tuple[int, int], b_size: tuple[int, int], transform: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The overlap in a's pixels and in b's: the part of b that a's frame covers under
    `transform` (a to b), and its image in a; None where there is none."""
    if transform is None:
        return None
    try:
        back = np.linalg.inv(homogeneous(transform))
    except np.linalg.LinAlgError:
        return None
    in_b = intersection(mapped(frame(a_size), transform), frame(b_size))
    if len(in_b) < 3:
        return None
    return mapped(in_b, back), in_b


def central_share(points: np.ndarray, polygon: np.ndarray) -> float:
    """The share of the points inside the inner cells of the polygon's bounding box (the
    DIFFERENCE_RING of DIFFERENCE_GRID cells along each side left out)."""
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    margin = (high - low) * DIFFERENCE_RING / DIFFERENCE_GRID
    inside_box = np.all((points > low + margin) & (points < high - margin), axis=1)
    return float(inside_box.mean()) if len(points) else 0.0


def area_share(polygon: np.ndarray, size: tuple[int, int]) -> float:
    """The share of an image of `size` that a polygon inside it covers."""
    import cv2

    if len(polygon) < 3 or not size[0] or not size[1]:
        return 0.0
    return min(1.0, abs(float(cv2.contourArea(polygon.astype(np.float32)))) / (size[0] * size[1]))


def agreement(
    a_thumb: np.ndarray,
    a_size: tuple[int, int],
    b_thumb: np.ndarray,
    b_size: tuple[int, int],
    transform: np.ndarray | None,
    whole: bool = False,
) -> float:
    """The share of the overlap's drawn cells where the aligned thumbnails agree, compared
    in the frame that shows the overlap with fewer pixels (`laid_pair`) and at most
    AGREEMENT_SIDE pixels long: a strong crop is compared over its part of the whole, not
    over the few pixels that part takes in a thumbnail of the whole reduced again. Inside
    the RING; for two pictures `whole` in each other with nothing drawn inside it (a two of
    clubs: its pips, index and frame all near the edge), over every cell."""
    if transform is None or not a_thumb.size or not b_thumb.size:
        return 0.0
    pair = laid_pair(a_thumb, a_size, b_thumb, b_size, transform)
    if pair is None:
        return 0.0
    laid, target, valid = at_most(pair.laid, pair.target, pair.valid, AGREEMENT_SIDE)
    lines = grid_lines(valid, GRID)
    if lines is None:
        return 0.0
    xs, ys = lines
    for ring in (RING, 0) if whole else (RING,):
        agreeing, drawn = cells_agreeing(
            laid, target, valid, xs[ring : GRID + 1 - ring], ys[ring : GRID + 1 - ring]
        )
        if drawn:
            return round(agreeing / drawn, 4)
    return 0.0


def cells_agreeing(laid, target, valid, xs, ys) -> tuple[int, int]:
    """Of the cells between the grid lines xs and ys that lie in the overlap (FILLED) and
    hold something drawn (FLAT): how many agree (AGREE), and how many there are. Each
    cell's means, spreads and covariance come from sums over its pixels, all cells at once."""
    cell, within = cell_index(xs, ys, valid.shape)
    cells = (len(ys) - 1) * (len(xs) - 1)
    area = np.bincount(cell[within], minlength=cells)
    inside = within & valid
    where = cell[inside]
    count = np.bincount(where, minlength=cells)
    filled = (area >= 4) & (count / np.maximum(area, 1) >= FILLED)
    first = laid[inside].astype(np.float64)
    second = target[inside].astype(np.float64)
    per_pixel = np.maximum(count, 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(where, weights=values, minlength=cells) / per_pixel

    first_mean, second_mean = mean(first), mean(second)
    first_spread = np.sqrt(np.maximum(mean(first * first) - first_mean**2, 0.0))
    second_spread = np.sqrt(np.maximum(mean(second * second) - second_mean**2, 0.0))
    covariance = mean(first * second) - first_mean * second_mean
    drawn = filled & (np.maximum(first_spread, second_spread) >= FLAT)
    both = drawn & (np.minimum(first_spread, second_spread) >= FLAT)
    correlation = covariance[both] / (first_spread[both] * second_spread[both])
    return int((correlation >= AGREE).sum()), int(drawn.sum())


def cell_index(xs: np.ndarray, ys: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's cell between the grid lines xs and ys (numbered row by row), and whether
    the pixel lies in one."""
    column = np.searchsorted(xs, np.arange(shape[1]), side="right") - 1
    row = np.searchsorted(ys, np.arange(shape[0]), side="right") - 1
    columns, rows = len(xs) - 1, len(ys) - 1
    within = ((row >= 0) & (row < rows))[:, None] & ((column >= 0) & (column < columns))[None, :]
    return row[:, None] * columns + column[None, :], within


def at_most(
    laid: np.ndarray, target: np.ndarray, valid: np.ndarray, side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The laid pair cut to the overlap's bounding box, reduced by area until that box is at
    most `side` pixels long (cells of tone, not strokes)."""
    import cv2

    rows, cols = np.nonzero(valid)
    if not len(rows):
        return laid, target, valid
    box = np.s_[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    laid, target, valid = laid[box], target[box], valid[box]
    factor = side / max(valid.shape)
    if factor >= 1:
        return laid, target, valid
    size = (max(1, round(valid.shape[1] * factor)), max(1, round(valid.shape[0] * factor)))
    laid, target, share = (
        cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        for image in (laid, target, valid.astype(np.float32))
    )
    return laid, target, share > 0.99


def grid_lines(where: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The lines (x, then y) that cut the bounding box of `where` into cells x cells; None
    where it is empty."""
    rows, cols = np.nonzero(where)
    if not len(rows):
        return None
    xs = np.linspace(cols.min(), cols.max() + 1, cells + 1).round().astype(int)
    ys = np.linspace(rows.min(), rows.max() + 1, cells + 1).round().astype(int)
    return xs, ys


def to_pixels(shape, size: tuple[int, int]) -> np.ndarray:
    """The 3 x 3 scaling from a picture's coordinates (a picture of `size`, width and
    height) to pixels of an array of `shape` showing it whole (its thumbnail, say)."""
    return np.diag([shape[1] / max(size[0], 1), shape[0] / max(size[1], 1), 1.0])


def between_thumbnails(a_shape, a_size, b_shape, b_size, transform: np.ndarray) -> np.ndarray:
    """The transform from pixels of a's thumbnail (of `a_shape`) to pixels of b's, 3 x 3;
    LinAlgError for a degenerate one."""
    to_a, to_b = to_pixels(a_shape, a_size), to_pixels(b_shape, b_size)
    return to_b @ homogeneous(transform) @ np.linalg.inv(to_a)


def laid_onto(image: np.ndarray, onto: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """An image laid by `onto` into a frame of `shape`, and where it holds pixels there."""
    import cv2

    h, w = shape[:2]
    laid = cv2.warpPerspective(image, onto, (w, h), flags=cv2.INTER_LINEAR)
    valid = cv2.warpPerspective(np.ones(image.shape[:2], np.float32), onto, (w, h)) > 0.99
    return laid, valid


class Laid(NamedTuple):
    """Two thumbnails in one frame (float32), where both hold pixels, and how many times the
    frame was enlarged (1 for none)."""

    laid: np.ndarray
    target: np.ndarray
    valid: np.ndarray
    grow: float


def laid_pair(
    a_thumb: np.ndarray,
    a_size: tuple[int, int],
    b_thumb: np.ndarray,
    b_size: tuple[int, int],
    transform: np.ndarray,
) -> Laid | None:
    """The two thumbnails in one frame: the one that shows the overlap with fewer pixels is
    the frame, so that neither is compared blurred by enlargement (a strong crop shows its
    part at more pixels than the whole does); the other is smoothed to that scale first, so
    that reducing it adds no aliased strokes. A frame under SMALLEST_FRAME pixels (a small
    icon's thumbnail holds only its own) is then enlarged, so that strokes are compared over
    cells of several pixels."""
    import cv2

    try:
        onto = between_thumbnails(a_thumb.shape, a_size, b_thumb.shape, b_size, transform)
        if abs(np.linalg.det(onto[:2, :2])) > 1.0:  # a is enlarged onto b: lay b onto a
            onto, a_thumb, b_thumb = np.linalg.inv(onto), b_thumb, a_thumb
    except np.linalg.LinAlgError:
        return None
    source = a_thumb.astype(np.float32)
    shrink = 1.0 / max(np.sqrt(abs(np.linalg.det(onto[:2, :2]))), 1e-6)
    if shrink > 1.25:  # capped: a degenerate fit would ask for an enormous kernel
        source = cv2.GaussianBlur(source, (0, 0), 0.5 * min(shrink, MAX_SHRINK))
    grow = SMALLEST_FRAME / max(b_thumb.shape)
    if grow > 1:  # a small picture's frame, enlarged after the other is smoothed to its scale
        h, w = (max(1, round(side * grow)) for side in b_thumb.shape)
        onto = np.diag([w / b_thumb.shape[1], h / b_thumb.shape[0], 1.0]) @ onto
        b_thumb = cv2.resize(b_thumb, (w, h), interpolation=cv2.INTER_CUBIC)
    laid, valid = laid_onto(source, onto, b_thumb.shape)
    return Laid(laid, b_thumb.astype(np.float32), valid, max(grow, 1.0))


def gradient(grey: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the lightly smoothed picture."""
    import cv2

    smooth = cv2.GaussianBlur(grey, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy)


def strong_level(magnitude: np.ndarray, where: np.ndarray) -> float:
    """A picture's strong gradient over a region: its 99th percentile there."""
    values = magnitude[where]
    return float(np.percentile(values, 99)) if values.size else 0.0


MAX_SHRINK = 8.0  # the largest reduction smoothed for (a copy is not 8 times smaller)
SMALLEST_FRAME = 192  # a smaller frame is enlarged to this many pixels to be compared
STROKE_FLOOR = 24.0  # gradient (grey levels per pixel, Sobel) below which nothing is drawn
STROKE_SHARE = 0.3  # a stroke: at least this share of the picture's strong gradient
TRACE_SHARE = 0.1  # its counterpart: at least this share of the other picture's
EDGE = 0.03  # share of the frame's shorter side left out along the overlap's edge
# pixels a stroke may move between copies (resampling, alignment); 2 for the pairs let in by
# the small floor found 44 more right candidate edges on the development collection, and
# made a two of clubs the copy of a two of spades at 80 to 160 pixels (tests/test_one_frame.py)
REACH = 1
# ... and in a small picture's frame enlarged `grow` times, this share of one of its own
# pixels (whole pixels of the frame, never under REACH): one icon rendered at 48 and 64
# pixels draws its strokes up to half a pixel apart (0.75: the drawings' border_all and
# border_bottom icons became copies)
SMALL_REACH = 0.5
UNMATCHED = 0.1  # share of a cell's strokes without counterpart that makes it differ
MIN_STROKES = 4  # unmatched stroke pixels a differing cell holds at least
# difference's grid is finer than agreement's, its ring thinner: a card's pips and a
# pictogram's corners near the overlap's edge lie inside it (agreement's ring stays wide,
# where a shared frame would agree)
DIFFERENCE_GRID = 16
DIFFERENCE_RING = 2


def difference(
    a_thumb: np.ndarray,
    a_size: tuple[int, int],
    b_thumb: np.ndarray,
    b_size: tuple[int, int],
    transform: np.ndarray | None,
    ring_too: bool = False,
) -> float:
    """The share of the overlap's inner drawn cells (the DIFFERENCE_GRID x DIFFERENCE_GRID
    cells of its bounding box, the outer DIFFERENCE_RING left out) where one picture draws
    what the other does not: strokes (strong gradients, against the picture's own
    strongest, so that a lighter print or other colours draw the same lines) with not even
    a trace (a weak gradient) within REACH pixels in the other (a small picture's frame
    enlarged: within SMALL_REACH of its own pixels), either way. A different
    card, letter or pictogram in one frame differs where they differ, however much of the
    frame agrees. With `ring_too`, the ring's cells are compared as well."""
    import cv2

    if transform is None or not a_thumb.size or not b_thumb.size:
        return 1.0
    pair = laid_pair(a_thumb, a_size, b_thumb, b_size, transform)
    if pair is None:
        return 1.0
    laid, target, valid, grow = pair
    # the overlap's edge is left out: a copy's trimmed margin, or a frame printed around it
    margin = 2 * max(2, round(EDGE * min(valid.shape))) + 1
    inner = cv2.erode(valid.astype(np.uint8), np.ones((margin, margin), np.uint8)) > 0
    lines = grid_lines(inner, DIFFERENCE_GRID)
    if lines is None:
        return 1.0
    reach = max(REACH, int(SMALL_REACH * grow))
    near = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    alone = np.zeros(inner.shape, bool)
    drawn = np.zeros(inner.shape, bool)
    magnitudes = [gradient(laid), gradient(target)]
    levels = [strong_level(m, inner) for m in magnitudes]
    for this, other in ((0, 1), (1, 0)):
        stroke = (magnitudes[this] >= max(STROKE_FLOOR, STROKE_SHARE * levels[this])) & inner
        trace = magnitudes[other] >= TRACE_SHARE * max(levels[other], STROKE_FLOOR)
        near_trace = cv2.dilate(trace.astype(np.uint8), near) > 0
        alone |= stroke & ~near_trace
        drawn |= stroke
    counted, differs = cell_strokes(drawn, alone, *lines)
    if not ring_too:  # the outer ring of cells is left out: frames, captions, margins
        inner = np.s_[DIFFERENCE_RING:-DIFFERENCE_RING, DIFFERENCE_RING:-DIFFERENCE_RING]
        counted, differs = counted[inner], differs[inner]
    cells = int(counted.sum())
    differing = int((differs & counted).sum())
    return round(differing / cells, 4) if cells else 1.0


def cell_strokes(drawn: np.ndarray, alone: np.ndarray, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """Per cell between the grid lines: whether it holds strokes enough to be compared
    (MIN_STROKES), and whether enough of them have no counterpart (MIN_STROKES, UNMATCHED)."""
    cell, within = cell_index(xs, ys, drawn.shape)
    shape = (len(ys) - 1, len(xs) - 1)
    strokes = np.bincount(cell[within & drawn], minlength=shape[0] * shape[1]).reshape(shape)
    lone = np.bincount(cell[within & alone], minlength=shape[0] * shape[1]).reshape(shape)
    return strokes >= MIN_STROKES, (lone >= MIN_STROKES) & (lone >= UNMATCHED * strokes)


COLOUR_GRID = 12
CHROMA = 12.0  # Lab chroma under which a colour is a grey: paper (cream is 9), ink
HUE = 30.0  # degrees of hue that make two colours different ones
# where one of the two is a grey, a cell changes when its lightness does by this much (a black
# stripe for a light blue one); a wash laid on paper keeps it light
LIGHTNESS = 40.0
# or when the grey is this dark and the colour at least TONED strong (a black stripe for a green
# one): a transparent wash laid on dark ink leaves it dark and dull
DARK = 40.0
TONED = 45.0  # a picture in one hue, nowhere stronger than this chroma, is toned (sepia, a tint)
RECOLOURED = 0.15  # the share of the overlap that changes, and that keeps, to differ
# a field: a cell of flat colour in both pictures, no step of lightness between neighbouring
# pixels this large (no stroke, no hatching, no paper grain) and its lightness this even (no
# shading: a photograph's smooth fundus or sky is no field); a flag's stripe, a flat icon's fill
FIELD_STEP = 3.0
FIELD_SPREAD = 2.0
# degrees of hue that make two fields' colours different ones (Ireland's orange and Italy's
# red: 16); a field that keeps its hue keeps its colour, lighter, darker or stronger (another
# printing, a faded one)
FIELD_HUE = 12.0
FIELD_SHARE = 0.08  # the share of the overlap a field that changes, and one that keeps, cover
# the share of the overlap's cells whose colour may change in a pair that must keep its
# colours (one let in by the small inlier floor): a few cells of anti-aliasing and gloss
KEPT = 0.1


def colour_difference(
    a_colour: np.ndarray,
    a_size: tuple[int, int],
    b_colour: np.ndarray,
    b_size: tuple[int, int],
    transform: np.ndarray | None,
    kept: bool = False,
) -> float:
    """Where colours are what a picture shows (a flag's stripes and fields), a picture in
    other colours is another one. Each of the overlap's COLOUR_GRID x COLOUR_GRID cells
    inside the RING (mean colours) keeps its colour or changes it: by HUE degrees of hue
    where both are coloured, by LIGHTNESS where one is a grey. Two pictures differ where at
    least RECOLOURED of the overlap changes while at least as much keeps its hue: France's
    flag and Italy's (the red field kept, the blue one green); or where their fields of flat
    colour change (`fields_changed`). The larger share that changed is returned, else 0.
    Recolouring a drawing is not a difference: a drawing recoloured as a whole (other inks,
    channels exchanged, two colourists' copies of one print) keeps no hue and its colour
    lies over strokes, a toned one (sepia, a tint, a coloured ink: one weak hue) is left
    out, and a hand-coloured copy lays colour where its print holds greys of the same
    lightness. A pair that must keep its colours (`kept`: one let in by the small inlier
    floor, whose few inliers say little) differs by any change of colour (`recoloured`),
    toned or not: oxygen's cyan folder and its violet one, two flags' stripes in a gloss.
    The two are compared in the frame of the thumbnail that shows the overlap larger, the
    other enlarged onto it, whichever the pair names first: a strong crop laid down onto
    the few pixels its region spans in its original's thumbnail changed colour in a tenth
    of its cells."""
    import cv2

    if transform is None or not a_colour.size or not b_colour.size:
        return 0.0
    try:
        onto = between_thumbnails(a_colour.shape, a_size, b_colour.shape, b_size, transform)
        if abs(np.linalg.det(onto[:2, :2])) < 1:  # b's thumbnail shows the overlap smaller
            onto = np.linalg.inv(onto)
            a_colour, b_colour = b_colour, a_colour
    except np.linalg.LinAlgError:
        return 0.0
    first, second = (
        cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        for image in (a_colour, b_colour)
    )
    colours, fields = cell_colours(*laid_onto(first, onto, second.shape), second)
    if not len(colours):
        return 0.0
    if kept:
        return max(recoloured(colours), fields_changed(colours, fields))
    if toned(colours[:, 0]) or toned(colours[:, 1]):
        return 0.0
    return max(hues_changed(colours), fields_changed(colours, fields))


def hues_changed(colours: np.ndarray) -> float:
    """The share of the cells whose colour changes (`colour_changes`) where at least
    RECOLOURED changes and as much keeps its hue; else 0."""
    kept, changed = colour_changes(colours)
    if min(kept, changed) < RECOLOURED * len(colours):
        return 0.0
    return round(changed / len(colours), 4)


def recoloured(colours: np.ndarray) -> float:
    """The share of the cells whose colour changes (`colour_changes`), when that is at least
    KEPT; else 0: for a pair that must keep its colours."""
    share = colour_changes(colours)[1] / len(colours)
    return round(share, 4) if share >= KEPT else 0.0


def colour_changes(colours: np.ndarray) -> tuple[int, int]:
    """How many cells keep their hue (both coloured, under HUE apart), and how many change
    their colour (both coloured and HUE apart, or one a grey and `not_a_wash`)."""
    coloured = chroma(colours).min(axis=1) >= CHROMA
    apart = angle_between(*hue(colours).T)
    kept = int((coloured & (apart < HUE)).sum())
    changed = int((coloured & (apart >= HUE)).sum())
    changed += int((~coloured & not_a_wash(colours[:, 0], colours[:, 1])).sum())
    return kept, changed


def fields_changed(colours: np.ndarray, fields: np.ndarray) -> float:
    """A picture of flat colour fields (a flag, a flat icon: no stroke inside its fields) is
    its colours, so another colour in its fields makes another picture, even one recoloured
    as a whole (Serbia's stripes and Sierra Leone's). Where both pictures are coloured (at
    least RECOLOURED of their cells of CHROMA), a cell that is a field in both changes its
    colour when both are coloured and FIELD_HUE of hue apart, or when one is a grey and the
    other a strong colour (TONED) or LIGHTNESS apart: a field painted that the other leaves
    white or black. The share that changes, when that is RECOLOURED and the changed fields
    hold `several_hues`, or FIELD_SHARE beside as much of coloured fields that keep their
    hue (Ireland's orange field and Italy's red one, their green ones kept); else 0. A
    drawing's colour lies over its strokes, and a scan's over paper grain: neither holds
    fields, and both keep the rule above."""
    strength = chroma(colours)
    strong = strength >= CHROMA
    if min(strong[:, 0].mean(), strong[:, 1].mean()) < RECOLOURED:
        return 0.0
    hues = hue(colours)
    same_hue = angle_between(hues[:, 0], hues[:, 1]) < FIELD_HUE
    coloured = strong.all(axis=1)
    painted = (strength.max(axis=1) >= TONED) | (
        np.abs(colours[:, 0, 0] - colours[:, 1, 0]) >= LIGHTNESS
    )
    changed = fields & np.where(coloured, ~same_hue, painted)
    moved, kept = int(changed.sum()), int((fields & coloured & same_hue).sum())
    cells = len(colours)
    whole = moved >= RECOLOURED * cells and several_hues(hues[changed], strong[changed])
    if whole or min(moved, kept) >= FIELD_SHARE * cells:
        return round(moved / cells, 4)
    return 0.0


def several_hues(hues: np.ndarray, strong: np.ndarray) -> bool:
    """Whether the fields of either picture (hues, with whether each colour is strong
    enough to have one) hold two colours HUE apart: a layout of colours, recoloured field
    by field; one hue recoloured is a tint (a photograph's red fundus made green)."""
    for side in range(hues.shape[1]):
        picked = hues[strong[:, side], side]
        if (angle_between(picked[:, None], picked[None, :]) >= HUE).any():
            return True
    return False


def cell_colours(
    laid: np.ndarray, valid: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two mean Lab colours of each of the overlap's inner cells (COLOUR_GRID x
    COLOUR_GRID over its bounding box, the outer RING left out, FILLED), (cells, 2, 3), and
    whether each is a field in both pictures: its lightness spreads less than FIELD_SPREAD
    (standard deviation) and no two neighbouring pixels of the cell, inside the overlap, lie
    FIELD_STEP of lightness apart."""
    lines = grid_lines(valid, COLOUR_GRID)
    if lines is None:
        return np.zeros((0, 2, 3), np.float32), np.zeros(0, bool)
    inner = slice(RING, COLOUR_GRID + 1 - RING)  # frames, margins and trimmed edges out
    xs, ys = (line[inner] for line in lines)
    side = len(xs) - 1
    cell, within = cell_index(xs, ys, valid.shape)
    area = np.bincount(cell[within], minlength=side * side)
    counted = within & valid
    filled = np.bincount(cell[counted], minlength=side * side)
    kept = (area > 0) & (filled >= FILLED * np.maximum(area, 1))
    sums = [
        np.bincount(cell[counted], weights=image[..., channel][counted], minlength=side * side)
        for image in (laid, second)
        for channel in range(3)
    ]
    colours = np.stack(sums, axis=1)[kept] / filled[kept, None]
    per_pixel = np.maximum(filled, 1)
    even = np.ones(side * side, bool)
    for image, lightness_sum in ((laid, sums[0]), (second, sums[3])):
        lightness = image[..., 0][counted]
        squares = np.bincount(cell[counted], weights=lightness * lightness, minlength=side * side)
        mean = lightness_sum / per_pixel
        even &= squares / per_pixel - mean * mean < FIELD_SPREAD**2
        even &= steps_in_cells(image[..., 0], cell, counted, side * side) == 0
    return colours.reshape(-1, 2, 3).astype(np.float32), even[kept]


def steps_in_cells(lightness: np.ndarray, cell: np.ndarray, counted: np.ndarray, cells: int):
    """How many pairs of neighbouring pixels (across, then down) of each cell, both counted,
    lie FIELD_STEP of lightness or more apart."""
    found = np.zeros(cells, np.int64)
    for before, after in ((np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:-1, :], np.s_[1:, :])):
        pair = counted[before] & counted[after] & (cell[before] == cell[after])
        jump = np.abs(lightness[after] - lightness[before]) >= FIELD_STEP
        found += np.bincount(cell[before][pair & jump], minlength=cells)
    return found


def not_a_wash(one: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Whether two cell colours (Lab, or arrays of them), one of them a grey, differ by more
    than a wash laid on the grey could make: LIGHTNESS apart, or a DARK grey against a
    strong (TONED) colour."""
    first_greyer = chroma(one) < chroma(other)
    grey = np.where(first_greyer, one[..., 0], other[..., 0])
    colour = np.where(first_greyer, chroma(other), chroma(one))
    lighter = np.abs(one[..., 0] - other[..., 0]) >= LIGHTNESS
    return lighter | ((grey < DARK) & (colour >= TONED))


def chroma(lab: np.ndarray) -> np.ndarray:
    """The chroma of Lab colours (the last axis)."""
    return np.hypot(lab[..., 1], lab[..., 2])


def hue(lab: np.ndarray) -> np.ndarray:
    """The hue angle of Lab colours (the last axis), degrees."""
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))


def angle_between(first, second):
    """Degrees between hue angles, 0 to 180."""
    apart = np.abs(np.asarray(first) - np.asarray(second)) % 360
    return np.minimum(apart, 360 - apart)


def toned(colours: np.ndarray) -> bool:
    """Whether one picture's colours are greys and one weak hue (TONED): sepia, a tint, a
    coloured ink. A flag of one strong colour and white (Austria's) is not."""
    strength = chroma(colours)
    coloured = strength >= CHROMA
    if not coloured.any() or strength[coloured].max() >= TONED:
        return False
    hues = hue(colours[coloured])
    return bool((angle_between(hues[0], hues) < HUE).all())
