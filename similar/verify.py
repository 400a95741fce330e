"""Geometric verification of candidate copies: do two images show the same picture?

For a pair, each RootSIFT descriptor of the first image finds its two nearest in the second;
Lowe's ratio test keeps the distinctive ones, each keypoint of the second image is used at
most once (one-to-one), and RANSAC fits a transform (`verify.transform`: a similarity, or a
homography for copies photographed at an angle) and counts the matches it explains: the
inliers. The mirrored first image is tried as well (`verify.mirror`), since reused
woodcuts are often reversed; the better of the two counts. A pair with at least
`verify.min_inliers` inliers is verified. This is how VISE confirms a match. A verified pair
is a `copy` when the aligned pictures also agree over their overlap (`verify.min_agreement`,
similar/overlap.py), else it only `shares_part` (a border, a typeface, a figure).

`Verifier` checks many pairs, in worker processes, reading each image's features from the
feature cache (describing the image once if it is not there). Results do not depend on the
order or the number of workers: each pair is computed alone, and RANSAC's random draws are
seeded by the pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .features import NONE, FeatureCache, Features, extract, settings_of
from .overlap import agreement, overlap
from .settings import VerifySettings

MAX_STORED_MATCHES = 40  # matched points kept per verified pair, for the preview's lines
# RANSAC's largest reprojection error, as a share of the longer side of the second image
THRESHOLD = 0.02


@dataclass(frozen=True)
class PairResult:
    inliers: int
    mirrored: bool = False
    # inlier matches as (x1, y1, x2, y2), each a share of its image's width or height
    matches: tuple = ()
    coverage: float = 0.0
    inlier_ratio: float = 0.0
    agreement: float = 0.0

    def relation(self, min_inliers: int, min_agreement: float) -> str | None:
        """`copy`, `shares_part`, or None when the pair is not verified at all."""
        if self.inliers < min_inliers:
            return None
        return "copy" if self.agreement >= min_agreement else "shares_part"


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


def seed_of(a_key: str, b_key: str) -> int:
    import zlib

    return zlib.crc32(f"{a_key}\n{b_key}".encode()) & 0x7FFFFFFF


def fit(
    a: Features, b: Features, ia: np.ndarray, ib: np.ndarray, s: VerifySettings, seed: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """The best transform RANSAC finds (a to b; None if none) and the matches' inlier mask."""
    import cv2

    n = len(ia)
    if n < (4 if s.transform == "homography" else 3):
        return None, np.zeros(n, bool)
    src, dst = a.xy[ia], b.xy[ib]
    threshold = THRESHOLD * max(b.size)
    cv2.setRNGSeed(seed)
    if s.transform == "homography":
        transform, mask = cv2.findHomography(
            src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999
        )
    else:
        transform, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=threshold,
            maxIters=2000,
            confidence=0.999,
            refineIters=10,
        )
    if mask is None or transform is None:
        return None, np.zeros(n, bool)
    return transform, mask.ravel().astype(bool)


def check_pair(a: Features, b: Features, s: VerifySettings, seed: int) -> PairResult:
    """Inliers of the pair, and of the mirrored first image when that explains more; the
    overlap figures of the better one."""
    best, found = PairResult(0), None
    for mirrored, fa in ((False, a), (True, a.mirrored() if s.mirror and a.count else None)):
        if fa is None:
            continue
        ia, ib = ratio_matches(fa, b, s.ratio)
        transform, mask = fit(fa, b, ia, ib, s, seed)
        inliers = int(mask.sum())
        if inliers > best.inliers:
            best = PairResult(inliers, mirrored, matched_points(a, b, ia[mask], ib[mask], mirrored))
            found = (fa, ia[mask], ib[mask], transform)
    if found is None or best.inliers < min(s.min_inliers, 3):
        return best
    fa, ia, ib, transform = found
    figures = overlap(fa.xy, fa.size, b.xy, b.size, ia, ib, transform)
    return replace(
        best,
        coverage=figures.coverage,
        inlier_ratio=figures.inlier_ratio,
        agreement=agreement(fa.thumb, fa.size, b.thumb, b.size, transform),
    )


def matched_points(a: Features, b: Features, ia, ib, mirrored: bool) -> tuple:
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


# ---------------------------------------------------------------- many pairs, several processes


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are, and their SHA-256 (its cache key)."""

    path: str
    sha256: str


class Verifier:
    """Checks pairs of images by id; features come from (and go to) the feature cache."""

    def __init__(self, s: VerifySettings, images: dict[str, ImageRef], cache_root):
        self.s = s
        self.images = images
        self.cache = FeatureCache(cache_root, settings_of(s.max_side, s.features))
        self._memo: dict[str, Features] = {}

    def features(self, image_id: str) -> tuple[Features, bool]:
        """(features, whether they were computed now)."""
        if image_id in self._memo:
            return self._memo[image_id], False
        ref = self.images.get(image_id)
        if ref is None:
            return NONE, False
        fresh = False
        f = self.cache.get(ref.sha256) if ref.sha256 else None
        if f is None:
            try:
                with open(ref.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = b""
            f = extract(data, self.s.max_side, self.s.features)
            if data and ref.sha256:
                self.cache.put(ref.sha256, f)
            fresh = True
        if len(self._memo) > 512:
            self._memo.clear()
        self._memo[image_id] = f
        return f, fresh

    def check(self, a: str, b: str) -> PairResult:
        fa, _ = self.features(a)
        fb, _ = self.features(b)
        if not fa.count or not fb.count:
            return PairResult(0)
        return check_pair(fa, fb, self.s, seed_of(a, b))


_WORKER: Verifier | None = None


def _init_worker(s, images, cache_root) -> None:
    import cv2

    cv2.setNumThreads(1)  # one pair per process: the processes are the parallelism
    global _WORKER
    _WORKER = Verifier(s, images, cache_root)


def _describe(ids: list[str]) -> int:
    return sum(_WORKER.features(i)[1] for i in ids)


def _check(pairs: list[tuple[str, str]]) -> list[PairResult]:
    return [_WORKER.check(a, b) for a, b in pairs]


def chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def verify_pairs(
    pairs: Sequence[tuple[str, str]],
    s: VerifySettings,
    images: dict[str, ImageRef],
    cache_root,
    workers: int | str,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[PairResult], int]:
    """Results for `pairs` in their order, and how many images were described now. Images are
    described first (each once, in parallel), then pairs are matched in parallel chunks."""
    needed = sorted({i for pair in pairs for i in pair})
    workers = default_workers() if workers == "auto" else workers
    if workers <= 1 or len(pairs) < 64:
        _init_worker(s, images, cache_root)
        described = _describe(needed)
        results = []
        for chunk in chunks(list(pairs), 64):
            results.extend(_check(chunk))
            if progress:
                progress(len(chunk))
        return results, described
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(s, images, cache_root)) as pool:
        described = sum(pool.imap(_describe, chunks(needed, 16)))
        # pairs that share their first image go to the same worker: its features stay in memory
        order = sorted(range(len(pairs)), key=lambda i: pairs[i])
        results: list[PairResult | None] = [None] * len(pairs)
        batches = chunks(order, 64)
        for idx, found in zip(batches, pool.imap(_check, [[pairs[i] for i in b] for b in batches])):
            for i, r in zip(idx, found):
                results[i] = r
            if progress:
                progress(len(idx))
    return results, described


def default_workers() -> int:
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def image_refs(index_rows: Iterable[dict], root) -> dict[str, ImageRef]:
    """id -> ImageRef from images.csv rows (path relative to the collection root)."""
    from pathlib import Path

    return {r["id"]: ImageRef(str(Path(root) / r["path"]), r.get("sha256", "")) for r in index_rows}
