"""Local features of an image, as geometric verification needs them, cached by content.

RootSIFT (OpenCV's SIFT, each descriptor L1-normalised and square-rooted, so that a dot product
compares like the Hellinger kernel) on the greyscale image scaled to at most `verify.max_side`
pixels, the strongest `verify.features` keypoints spread over the picture (`spread`) in
OpenCV's order, each descriptor kept as whole levels (LEVEL to a unit, at most 127, so that
products of descriptors are exact: similar/verification/distances.py), with the indices of
the `STRONGEST` strongest, spread alike (what the prefilter compares). A faint or flat
picture (a pale print, a photograph of sky and sand) holds few keypoints at SIFT's own
contrast threshold, and a copy needs `verify.min_inliers` of them: it is detected at lower
thresholds (CONTRASTS) until it holds ENOUGH. A small picture (an icon, a flag) is enlarged
to `verify.enlarge_to` pixels first where that is set. Decoding obeys `embed.max_pixels`, and a
large PNG or TIFF is reduced by a whole factor as soon as it is decoded; a halftone is
described descreened (similar/vectors/screen.py). An image's mirror needs no second extraction:
mirroring moves each keypoint to x' = w - 1 - x and permutes its descriptor (the 4 x 4 cells
flip, the orientation bins run backwards). A greyscale thumbnail (longest side THUMB pixels, or
the picture's own if fewer) and a colour one (COLOUR pixels)
goes with them, so that a check can compare the aligned pictures themselves, not only their
keypoints (similar/verification/overlap.py).

Features are kept in a content-addressed cache beside the embed cache (`paths.feature_cache`),
keyed by the SHA-256 of the bytes read and the feature settings (`pack`, `unpack_entry`), so
each image is described once; an entry that is damaged, or holds positions that are not
finite, is described again.
An unreadable, tiny (under 32 px), blank or featureless image has no features: 0 inliers.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..vectors.images import open_rgb
from ..vectors.screen import descreened
from .distances import squared_norms
from .overlap import blank

# 2: the strongest keypoints' indices, large images reduced early; 3: thumbnail;
# 4: thumbnail of 192 pixels (pips, letters and pictograms resolved); 5: halftones descreened;
# 6: faint pictures detected at lower contrast, small ones enlarged if asked, a colour
# thumbnail, a thumbnail never larger than the picture; 7: keypoints spread over cells;
# 8: descriptors as levels of 1/256, at most 127 (int8)
FEATURES_VERSION = 8
STRONGEST = 256  # keypoints whose indices an entry keeps, strongest first (spread over cells)
SPREAD = 4  # the strongest keypoints are taken in turn from SPREAD x SPREAD cells
THUMB = 192  # longest side of the greyscale thumbnail an entry keeps
COLOUR = 64  # longest side of the colour thumbnail (flat regions' colours, not strokes)
# width, height, keypoints, strongest kept, thumbnail width and height, colour thumbnail's
# width and height (uint32 each)
HEAD = 32
MIN_SIDE = 32
# RootSIFT components stay under 0.5: levels of 1/256 keep them to 0.002 in an int8 (at most
# 127), whose products torch's int8 product computes exactly (similar/verification/distances.py)
LEVEL = 256.0
TOP_LEVEL = 127
# SIFT's contrast thresholds, tried in turn until a picture holds ENOUGH keypoints: measured on
# the sample, pale or flat photographs hold 9 to 40 keypoints at 0.04 and 100 to 700 at 0.01
CONTRASTS = (0.04, 0.02, 0.01, 0.005)
ENOUGH = 200
LAYERS = 3  # SIFT's layers per octave, over which its contrast threshold is divided


NO_THUMB = np.zeros((0, 0), np.uint8)
NO_COLOUR = np.zeros((0, 0, 3), np.uint8)


@dataclass(frozen=True)
class Features:
    xy: np.ndarray  # (n, 2) float32 keypoint positions, in the scaled image
    desc: np.ndarray  # (n, 128) int8 RootSIFT descriptors as levels (`levels`)
    size: tuple[int, int]  # (w, h) of the scaled image
    strongest: np.ndarray | None = None  # indices of the strongest keypoints, strongest first
    thumb: np.ndarray = field(default_factory=lambda: NO_THUMB)  # (th, tw) uint8 grey
    colour: np.ndarray = field(default_factory=lambda: NO_COLOUR)  # (ch, cw, 3) uint8 RGB

    @cached_property
    def strongest_descriptors(self) -> np.ndarray:
        """Descriptors of the strongest keypoints, strongest first (what the prefilter
        compares a first image's candidates by: taken out once)."""
        return self.desc if self.strongest is None else self.desc[self.strongest]

    @cached_property
    def norms(self) -> np.ndarray:
        """Each descriptor's squared length (int64, exact)."""
        return squared_norms(self.desc)

    @cached_property
    def strongest_norms(self) -> np.ndarray:
        return self.norms if self.strongest is None else self.norms[self.strongest]

    @property
    def count(self) -> int:
        return len(self.xy)

    @cached_property
    def shows_page(self) -> bool:
        """Whether the thumbnail shows a page of type with a picture printed on it
        (vectors/pages.py): what asks for the picture to be described on its own
        (similar/verification/region.py); on the development collection and the drawings it
        says so for the same pictures as the page as described does, but for 4 in 2,000."""
        from PIL import Image

        from ..vectors.pages import picture_box

        if not self.thumb.size:
            return False
        return picture_box(Image.fromarray(self.thumb)) is not None

    @cached_property
    def canvas(self) -> np.ndarray:
        """Where the thumbnail shows a blank canvas (`overlap.blank`): worked out once for
        the picture, not for each pair it is checked in."""
        return blank(self.thumb)

    def mirrored(self) -> Features:
        """The features of the horizontally mirrored image, without extracting again; worked
        out once (a first image is checked against each of its candidates)."""
        found = self.__dict__.get("_mirrored")
        if found is None:
            found = self.__dict__["_mirrored"] = self._mirror()
        return found

    def _mirror(self) -> Features:
        xy = self.xy.copy()
        xy[:, 0] = self.size[0] - 1 - xy[:, 0]
        d = self.desc.reshape(-1, 4, 4, 8)[:, ::-1, :, MIRROR_BINS]
        desc = np.ascontiguousarray(d.reshape(-1, 128))
        thumb = np.ascontiguousarray(self.thumb[:, ::-1])
        colour = np.ascontiguousarray(self.colour[:, ::-1])
        mirror = Features(xy, desc, self.size, self.strongest, thumb, colour)
        mirror.__dict__["norms"] = self.norms  # a permutation keeps each length
        return mirror


MIRROR_BINS = np.array([(-i) % 8 for i in range(8)])
NONE = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.int8), (0, 0))


def levels(unit: np.ndarray) -> np.ndarray:
    """Descriptors of length about 1 (RootSIFT's) as int8 levels of 1/LEVEL, at most TOP_LEVEL."""
    return np.clip(np.rint(unit * LEVEL), 0, TOP_LEVEL).astype(np.int8)


def settings_of(max_side: int, max_features: int, max_pixels: int, enlarge_to: int = 0) -> dict:
    import cv2

    return {
        "kind": "rootsift",
        "max_side": max_side,
        "max_features": max_features,
        "max_pixels": max_pixels,
        "enlarge_to": enlarge_to,
        "version": FEATURES_VERSION,
        "opencv": cv2.__version__,
    }


def extract(
    data: bytes, max_side: int, max_features: int, max_pixels: int, enlarge_to: int = 0
) -> Features:
    """RootSIFT features of an image file's bytes; NONE for anything without usable features
    (and for an image over `max_pixels`, which embed refuses as well)."""

    native = described_picture(data, max_side, max_pixels)
    if native is None:
        return NONE
    img = resized(native, max_side, min(enlarge_to, max_side))
    described = rootsift(np.asarray(img.convert("L")), max_features)
    if described is None:
        return NONE
    xy, desc, response = described
    strongest = spread(xy, response, img.size, STRONGEST)
    # never more pixels than the picture has: a check lays a sharper picture onto it smoothed
    thumb, colour = thumbnail(native, THUMB, "L"), thumbnail(native, COLOUR, "RGB")
    found = Features(xy, desc, img.size, strongest, thumb, colour)
    return unpack(pack(found))


def rootsift(grey: np.ndarray, max_features: int) -> tuple | None:
    """(positions (n, 2) float32, RootSIFT descriptors as levels (n, 128) int8, responses) of
    a grey picture's keypoints (`detected`); None where it has none."""
    keypoints, desc = detected(grey, max_features)
    if desc is None or len(keypoints) == 0:
        return None
    desc = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12))
    xy = np.array([k.pt for k in keypoints], dtype=np.float32)
    return xy, levels(desc), np.array([k.response for k in keypoints])


def described_picture(data: bytes, max_side: int, max_pixels: int):
    """The picture as it is described (a PIL image): decoded, reduced to `max_side`, a
    halftone descreened; None for one that cannot be read or is tiny (under MIN_SIDE)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img, _ = open_rgb(
                io.BytesIO(data), max_pixels=max_pixels, draft_size=max_side, reduce_to=max_side
            )
    except ValueError:
        return None
    if min(img.size) < MIN_SIDE:
        return None
    # a screen is found at the size it is described at, before a small picture is enlarged
    return descreened(resized(img, max_side))


def spread(xy: np.ndarray, response: np.ndarray, size: tuple[int, int], count: int) -> np.ndarray:
    """The indices of `count` strongest keypoints spread over the picture, strongest first:
    the strongest of each of SPREAD x SPREAD cells in turn, then the second strongest of
    each, and so on (ties keep OpenCV's order). A picture printed on a page of type holds few
    of the page's strongest keypoints (the letters' are), but its share of the cells."""
    cell_x = np.minimum((xy[:, 0] * SPREAD // max(size[0], 1)).astype(int), SPREAD - 1)
    cell_y = np.minimum((xy[:, 1] * SPREAD // max(size[1], 1)).astype(int), SPREAD - 1)
    cell = cell_y * SPREAD + cell_x
    index = np.arange(len(cell))
    by_cell = np.lexsort((index, -response, cell))  # each cell's keypoints, strongest first
    first = np.searchsorted(cell[by_cell], cell[by_cell])  # where each one's cell begins
    rank = np.empty(len(cell), np.int64)  # each keypoint's place among its cell's
    rank[by_cell] = index - first
    return np.lexsort((index, -response, rank))[:count]


def resized(img, max_side: int, enlarge_to: int = 0):
    """The picture reduced to `max_side`, or one smaller than `enlarge_to` enlarged to it."""
    from PIL import Image

    longer = max(img.size)
    if longer > max_side:
        scale, resample = max_side / longer, Image.Resampling.BILINEAR
    elif longer < enlarge_to:
        scale, resample = enlarge_to / longer, Image.Resampling.BICUBIC
    else:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, resample)


def detected(grey: np.ndarray, max_features: int) -> tuple[list, np.ndarray | None]:
    """SIFT's keypoints at its own contrast threshold, or where that finds fewer than
    ENOUGH, at the first of the lower CONTRASTS that does (the last: whatever it finds); of
    those, `max_features` spread over the picture (`spread`), and their descriptors. The
    lower thresholds take one detection: a keypoint's response is the contrast a threshold
    is compared with (over the octave's layers), so each threshold's keypoints are those of
    the lowest with response enough."""
    import cv2

    sift = cv2.SIFT_create(contrastThreshold=CONTRASTS[0])
    found = sift.detect(grey, None)
    enough = min(ENOUGH, max_features)
    if len(found) < enough:
        lower = cv2.SIFT_create(contrastThreshold=CONTRASTS[-1]).detect(grey, None)
        response = np.array([k.response for k in lower], np.float64) * LAYERS
        for contrast in CONTRASTS[1:]:
            kept = np.flatnonzero(response >= contrast)
            if len(kept) >= enough:
                break
        found = [lower[i] for i in kept] if len(kept) > len(found) else found
    if not found:
        return [], None
    if len(found) > max_features:
        xy = np.array([k.pt for k in found], np.float32)
        response = np.array([k.response for k in found])
        chosen = spread(xy, response, grey.shape[::-1], max_features)
        found = [found[i] for i in sorted(chosen)]
    return sift.compute(grey, found)


def thumbnail(img, longest: int, mode: str) -> np.ndarray:
    """The picture in `mode` (L, RGB), its longer side reduced to `longest` pixels by area
    (never enlarged)."""
    from PIL import Image

    side = min(1.0, longest / max(img.size))
    size = (max(1, round(img.width * side)), max(1, round(img.height * side)))
    return np.asarray(img.convert(mode).resize(size, Image.Resampling.BOX))


def entry_size(count: int, strongest: int, thumb_pixels: int, colour_pixels: int = 0) -> int:
    return HEAD + 136 * count + 2 * strongest + thumb_pixels + 3 * colour_pixels


def pack(f: Features) -> bytes:
    """Cache entry: width, height, count, strongest kept, thumbnail width and height, then
    positions (float32), descriptors (levels, 1 byte each), the strongest keypoints' indices
    (uint16) and the thumbnail (uint8) and the colour thumbnail (uint8, RGB)."""
    strongest = np.arange(min(f.count, STRONGEST)) if f.strongest is None else f.strongest
    th, tw = f.thumb.shape
    ch, cw = f.colour.shape[:2]
    sizes = [f.size[0], f.size[1], f.count, len(strongest), tw, th, cw, ch]
    return (
        np.array(sizes, dtype="<u4").tobytes()
        + f.xy.astype("<f4").tobytes()
        + np.ascontiguousarray(f.desc, dtype=np.int8).tobytes()
        + strongest.astype("<u2").tobytes()
        + np.ascontiguousarray(f.thumb, dtype=np.uint8).tobytes()
        + np.ascontiguousarray(f.colour, dtype=np.uint8).tobytes()
    )


def unpack(raw: bytes) -> Features:
    w, h, n, k, tw, th, cw, ch = (int(x) for x in np.frombuffer(raw[:HEAD], dtype="<u4"))
    at = HEAD + 8 * n
    xy = np.frombuffer(raw[HEAD:at], dtype="<f4").reshape(-1, 2)
    desc = np.frombuffer(raw[at : at + 128 * n], dtype=np.int8).reshape(-1, 128)
    at += 128 * n
    strongest = np.frombuffer(raw[at : at + 2 * k], dtype="<u2")
    at += 2 * k
    thumb = np.frombuffer(raw[at : at + tw * th], dtype=np.uint8).reshape(th, tw)
    at += tw * th
    colour = np.frombuffer(raw[at : at + 3 * cw * ch], dtype=np.uint8).reshape(ch, cw, 3)
    return Features(
        xy.copy(), desc.copy(), (w, h), strongest.astype(np.intp), thumb.copy(), colour.copy()
    )


def unpack_entry(raw: bytes | None) -> Features | None:
    """The features of a cache entry; None for a missing one or one that does not hold valid
    features (wrong length, positions that are not finite, indices past its keypoints)."""
    if raw is None or len(raw) < HEAD:
        return None
    n, k, tw, th, cw, ch = (int(x) for x in np.frombuffer(raw[8:HEAD], dtype="<u4"))
    if len(raw) != entry_size(n, k, tw * th, cw * ch) or k > min(n, STRONGEST):
        return None
    f = unpack(raw)
    if not np.isfinite(f.xy).all() or (k and f.strongest.max() >= n) or (f.desc < 0).any():
        return None
    return f
