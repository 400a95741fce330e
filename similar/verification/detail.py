"""A closer look: a pair's overlap compared at the resolution of its content.

A check compares strokes through each picture's thumbnail (`features.THUMB` pixels along its
longer side). A picture that fills its thumbnail is compared at that resolution, where a
card's pips and a pictogram are resolved. A picture printed small on a page is not: on a
page twice its height a card spans about 77 thumbnail pixels and its pips 6 to 8, and the
difference test cannot tell a club's pip from a spade's (on the development collection a
pasted seven of spades was the copy of the seven of clubs). Where the overlap spans fewer
than RESOLVED pixels of a picture's thumbnail and the picture itself holds GAIN times as
many there, that picture is decoded again (as it was described) and its region around the
overlap cut out and reduced to a thumbnail of its own, the two views aligned again by ECC
(`aligned`): the strokes are then compared at the resolution a whole picture is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .features import THUMB, Features, described_picture, thumbnail
from .overlap import homogeneous, to_pixels

RESOLVED = 144  # thumbnail pixels along the overlap's longer side, under which it looks closer
GAIN = 1.25  # ... when the picture itself holds this many times as many there
MIN_REGION = 8  # pixels a side of the smallest region cut out (a sliver holds no strokes)
# ECC's refinement of the views' alignment: iterations, the change that ends it, and the
# Gaussian (pixels) it smooths the views by
ECC_ROUNDS = 50
ECC_EPS = 1e-4
ECC_SMOOTH = 3

# a picture as it is described, decoded on demand: side 0 (the first, mirrored where the check
# mirrored it) or 1; None where it cannot be read
Pictures = Callable[[int], "np.ndarray | None"]


def thumbnail_extent(
    thumb_shape, size: tuple[int, int], polygon: np.ndarray
) -> tuple[float, float]:
    """The longer side of the polygon's bounding box (in a picture of `size`), in pixels of
    the thumbnail (of `thumb_shape`) and of the picture."""
    span = polygon.max(axis=0) - polygon.min(axis=0)
    scale = np.diag(to_pixels(thumb_shape, size))[:2]
    return float((span * scale).max()), float(span.max())


def under_resolved(thumb_shape, size: tuple[int, int], polygon: np.ndarray) -> bool:
    """Whether the thumbnail shows the overlap at under RESOLVED pixels while the picture
    holds GAIN times as many."""
    in_thumb, in_picture = thumbnail_extent(thumb_shape, size, polygon)
    return in_thumb < RESOLVED and in_picture >= GAIN * in_thumb


def box_around(
    shape, size: tuple[int, int], polygon: np.ndarray, margin: float = 0.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """The pixels (low and high corners, x then y) of an array of `shape` showing a picture
    of `size` whole that hold the polygon's bounding box (in the picture's coordinates),
    grown by `margin` of its width and height on each side and cut to the array; None for
    a box under MIN_REGION pixels a side (a sliver holds no strokes)."""
    scale = np.diag(to_pixels(shape, size))[:2]
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    pad = margin * (high - low)
    low = np.maximum(np.floor((low - pad) * scale), 0).astype(int)
    high = np.minimum(np.ceil((high + pad) * scale), shape[1::-1]).astype(int)
    if (high - low).min() < MIN_REGION:
        return None
    return low, high


def region(picture: np.ndarray, size: tuple[int, int], polygon: np.ndarray):
    """The picture's region around the polygon (in the coordinates of a picture of `size`),
    cut from `picture` (grey, as described) and reduced to THUMB pixels: (its thumbnail, its
    size in those coordinates, the 3 x 3 transform from the region's coordinates to the
    picture's); None for a region under MIN_REGION pixels a side."""
    from PIL import Image

    box = box_around(picture.shape, size, polygon)
    if box is None:
        return None
    low, high = box
    scale = np.diag(to_pixels(picture.shape, size))[:2]
    cut = Image.fromarray(np.ascontiguousarray(picture[low[1] : high[1], low[0] : high[0]]))
    extent = (high - low) / scale
    shift = np.array([[1.0, 0.0, low[0] / scale[0]], [0.0, 1.0, low[1] / scale[1]], [0, 0, 1]])
    return thumbnail(cut, THUMB, "L"), (float(extent[0]), float(extent[1])), shift


def closer_views(
    fa: Features, b: Features, transform: np.ndarray, polygons, pictures: Pictures
) -> tuple | None:
    """(a's thumbnail, size, b's thumbnail, size, transform) to compare the pair's strokes
    with: each picture that shows the overlap under-resolved replaced by its region
    (`region`), the transform between the two views; None where neither is, or a picture
    cannot be read again, or its region is a sliver."""
    views = []
    changed = False
    for side, (features, polygon) in enumerate(((fa, polygons[0]), (b, polygons[1]))):
        if not under_resolved(features.thumb.shape, features.size, polygon):
            views.append((features.thumb, features.size, np.eye(3)))
            continue
        picture = pictures(side)
        view = None if picture is None else region(picture, features.size, polygon)
        if view is None:
            return None
        views.append(view)
        changed = True
    if not changed:
        return None
    (a_thumb, a_size, a_shift), (b_thumb, b_size, b_shift) = views
    between = np.linalg.inv(b_shift) @ homogeneous(transform) @ a_shift
    return a_thumb, a_size, b_thumb, b_size, aligned(a_thumb, a_size, b_thumb, b_size, between)


def aligned(a_thumb, a_size, b_thumb, b_size, between: np.ndarray) -> np.ndarray:
    """`between` (3 x 3, a's coordinates to b's) refined by ECC over the two views (a
    homography maximising their correlation, from `between`), or as it was where ECC does
    not converge. At a view's finer resolution the fit's residual (a perspective fitted
    from keypoints) is a pixel or two, which the difference test counts as strokes without
    a counterpart; a global transform cannot lay one pip's shape on another's."""
    import cv2

    to_a, to_b = to_pixels(a_thumb.shape, a_size), to_pixels(b_thumb.shape, b_size)
    try:
        warp = np.linalg.inv(to_b @ between @ np.linalg.inv(to_a)).astype(np.float32)
        _, warp = cv2.findTransformECC(
            b_thumb.astype(np.float32),
            a_thumb.astype(np.float32),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ROUNDS, ECC_EPS),
            None,
            ECC_SMOOTH,
        )
        return np.linalg.inv(to_b) @ np.linalg.inv(warp.astype(np.float64)) @ to_a
    except (cv2.error, np.linalg.LinAlgError):
        return between


def decoded(read: Callable[[int], bytes], max_side: int, max_pixels: int) -> Callable:
    """`pictures` for a pair whose files' bytes `read(side)` gives: each decoded once, as it
    was described (grey, read-only); `pictures(side, mirrored)`, and
    `pictures.derived(side, what, make)` for what is made from one. Where `read` also keeps
    pictures for later pairs (`read.kept(side, make)`: the runner's `PairFiles`), a picture
    decoded for an earlier pair is reused: a page is looked at closer against many
    candidates."""
    found: dict[int, np.ndarray | None] = {}
    kept = getattr(read, "kept", None)

    def derived(side: int, what, make: Callable):
        """What `make()` makes from a picture (its features at another aspect, say), kept
        under `what` by the worker where `read` keeps pictures, else made afresh."""
        return kept(side, make, what) if kept else make()

    def picture(side: int, mirrored: bool = False) -> np.ndarray | None:
        if side not in found:

            def make() -> np.ndarray | None:
                return grey_picture(read(side), max_side, max_pixels)

            found[side] = kept(side, make) if kept else make()
        grey = found[side]
        return grey[:, ::-1] if grey is not None and mirrored else grey

    picture.derived = derived
    return picture


def made_from(pictures: Pictures, side: int, what, make: Callable):
    """What `make()` makes from a picture, kept under `what` where `pictures` keeps what is
    made (`decoded`'s `derived`), else made afresh."""
    derived = getattr(pictures, "derived", None)
    return derived(side, what, make) if derived else make()


def grey_picture(data: bytes, max_side: int, max_pixels: int) -> np.ndarray | None:
    """The picture as it was described, grey; read-only, since later pairs may share it."""
    image = described_picture(data, max_side, max_pixels)
    if image is None:
        return None
    grey = np.array(image.convert("L"))
    grey.flags.writeable = False
    return grey
