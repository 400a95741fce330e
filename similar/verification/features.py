"""Local features of an image, as geometric verification needs them, cached by content.

RootSIFT (OpenCV's SIFT, each descriptor L1-normalised and square-rooted, so that a dot product
compares like the Hellinger kernel) on the greyscale image scaled to at most `verify.max_side`
pixels, the strongest `verify.features` keypoints in OpenCV's order, with the indices of the
`STRONGEST` strongest (what the prefilter compares). Decoding obeys `embed.max_pixels`, and a
large PNG or TIFF is reduced by a whole factor as soon as it is decoded; a halftone is
described descreened (similar/vectors/screen.py). An image's mirror needs no second extraction:
mirroring moves each keypoint to x' = w - 1 - x and permutes its descriptor (the 4 x 4 cells
flip, the orientation bins run backwards). A greyscale thumbnail (longest side THUMB pixels)
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

import numpy as np

from ..vectors.images import open_rgb
from ..vectors.screen import descreened

# 2: the strongest keypoints' indices, large images reduced early; 3: thumbnail;
# 4: thumbnail of 192 pixels (pips, letters and pictograms resolved); 5: halftones descreened
FEATURES_VERSION = 5
STRONGEST = 256  # keypoints whose indices an entry keeps, strongest first
THUMB = 192  # longest side of the greyscale thumbnail an entry keeps
HEAD = 24  # width, height, keypoints, strongest kept, thumbnail width and height (uint32 each)
MIN_SIDE = 32
QUANT = 512.0  # RootSIFT components stay under 0.5: uint8 at 1/512 keeps them to 0.001


NO_THUMB = np.zeros((0, 0), np.uint8)


@dataclass(frozen=True)
class Features:
    xy: np.ndarray  # (n, 2) float32 keypoint positions, in the scaled image
    desc: np.ndarray  # (n, 128) float32 unit RootSIFT descriptors
    size: tuple[int, int]  # (w, h) of the scaled image
    strongest: np.ndarray | None = None  # indices of the strongest keypoints, strongest first
    thumb: np.ndarray = field(default_factory=lambda: NO_THUMB)  # (th, tw) uint8 grey

    @property
    def strongest_descriptors(self) -> np.ndarray:
        """Descriptors of the strongest keypoints, strongest first."""
        return self.desc if self.strongest is None else self.desc[self.strongest]

    @property
    def count(self) -> int:
        return len(self.xy)

    def mirrored(self) -> Features:
        """The features of the horizontally mirrored image, without extracting again."""
        xy = self.xy.copy()
        xy[:, 0] = self.size[0] - 1 - xy[:, 0]
        d = self.desc.reshape(-1, 4, 4, 8)[:, ::-1, :, MIRROR_BINS]
        desc = np.ascontiguousarray(d.reshape(-1, 128))
        thumb = np.ascontiguousarray(self.thumb[:, ::-1])
        return Features(xy, desc, self.size, self.strongest, thumb)


MIRROR_BINS = np.array([(-i) % 8 for i in range(8)])
NONE = Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (0, 0))


def settings_of(max_side: int, max_features: int, max_pixels: int) -> dict:
    import cv2

    return {
        "kind": "rootsift",
        "max_side": max_side,
        "max_features": max_features,
        "max_pixels": max_pixels,
        "version": FEATURES_VERSION,
        "opencv": cv2.__version__,
    }


def extract(data: bytes, max_side: int, max_features: int, max_pixels: int) -> Features:
    """RootSIFT features of an image file's bytes; NONE for anything without usable features
    (and for an image over `max_pixels`, which embed refuses as well)."""
    import cv2
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img, _ = open_rgb(
                io.BytesIO(data), max_pixels=max_pixels, draft_size=max_side, reduce_to=max_side
            )
    except ValueError:
        return NONE
    if min(img.size) < MIN_SIDE:
        return NONE
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.BILINEAR,
        )
    img = descreened(img)
    grey = np.asarray(img.convert("L"))
    sift = cv2.SIFT_create(nfeatures=max_features)
    keypoints, desc = sift.detectAndCompute(grey, None)
    if desc is None or len(keypoints) == 0:
        return NONE
    desc = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12))
    xy = np.array([k.pt for k in keypoints], dtype=np.float32)
    # ties keep OpenCV's order
    strongest = np.argsort(-np.array([k.response for k in keypoints]), kind="stable")
    side = THUMB / max(img.size)
    thumb = img.convert("L").resize(
        (max(1, round(img.width * side)), max(1, round(img.height * side))),
        Image.Resampling.BOX,
    )
    found = Features(
        xy, desc.astype(np.float32), img.size, strongest[:STRONGEST], np.asarray(thumb)
    )
    return unpack(pack(found))


def entry_size(count: int, strongest: int, thumb_pixels: int) -> int:
    return HEAD + 136 * count + 2 * strongest + thumb_pixels


def pack(f: Features) -> bytes:
    """Cache entry: width, height, count, strongest kept, thumbnail width and height, then
    positions (float32), descriptors (uint8), the strongest keypoints' indices (uint16) and
    the thumbnail (uint8)."""
    q = np.clip(np.rint(f.desc * QUANT), 0, 255).astype(np.uint8)
    strongest = np.arange(min(f.count, STRONGEST)) if f.strongest is None else f.strongest
    th, tw = f.thumb.shape
    sizes = [f.size[0], f.size[1], f.count, len(strongest), tw, th]
    return (
        np.array(sizes, dtype="<u4").tobytes()
        + f.xy.astype("<f4").tobytes()
        + q.tobytes()
        + strongest.astype("<u2").tobytes()
        + np.ascontiguousarray(f.thumb, dtype=np.uint8).tobytes()
    )


def unpack(raw: bytes) -> Features:
    w, h, n, k, tw, th = (int(x) for x in np.frombuffer(raw[:HEAD], dtype="<u4"))
    at = HEAD + 8 * n
    xy = np.frombuffer(raw[HEAD:at], dtype="<f4").reshape(-1, 2)
    q = np.frombuffer(raw[at : at + 128 * n], dtype=np.uint8).reshape(-1, 128)
    at += 128 * n
    strongest = np.frombuffer(raw[at : at + 2 * k], dtype="<u2")
    at += 2 * k
    thumb = np.frombuffer(raw[at : at + tw * th], dtype=np.uint8).reshape(th, tw)
    d = q.astype(np.float32)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return Features(xy.copy(), d, (w, h), strongest.astype(np.intp), thumb.copy())


def unpack_entry(raw: bytes | None) -> Features | None:
    """The features of a cache entry; None for a missing one or one that does not hold valid
    features (wrong length, positions that are not finite, indices past its keypoints)."""
    if raw is None or len(raw) < HEAD:
        return None
    n, k, tw, th = (int(x) for x in np.frombuffer(raw[8:HEAD], dtype="<u4"))
    if len(raw) != entry_size(n, k, tw * th) or k > min(n, STRONGEST):
        return None
    f = unpack(raw)
    if not np.isfinite(f.xy).all() or (k and f.strongest.max() >= n):
        return None
    return f
