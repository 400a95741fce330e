"""Geometric verification of candidate copies: do two images show the same picture?

For a pair, each RootSIFT descriptor of the first image finds its two nearest in the second;
Lowe's ratio test keeps the distinctive ones, each keypoint of the second image is used at
most once (one-to-one), and RANSAC fits a transform (`verify.transform`: a similarity, or a
homography for copies photographed at an angle) and counts the matches it explains: the
inliers. The mirrored first image is tried as well (`verify.mirror`), since reused
woodcuts are often reversed; the better of the two counts. A pair with at least
`verify.min_inliers` inliers is verified. This is how VISE confirms a match.

`verify_pairs` checks many pairs where `compute.scheduler` says (a process pool, or a Dask
cluster): each image is described once into the feature cache, keyed by the bytes read now,
then the pairs of one first image are prefiltered together (similar.prefilter) and those
that pass are checked. Results do not depend on the scheduler or the number of workers:
each pair is computed alone, and RANSAC's random draws are seeded by the pair.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import compute, prefilter
from .cache import content_hash
from .errors import UserError
from .features import NONE, FeatureCache, Features, extract, settings_of
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
) -> np.ndarray:
    """A boolean inlier mask of the matches under the best transform RANSAC finds."""
    import cv2

    n = len(ia)
    if n < (4 if s.transform == "homography" else 3):
        return np.zeros(n, bool)
    src, dst = a.xy[ia], b.xy[ib]
    threshold = THRESHOLD * max(b.size)
    cv2.setRNGSeed(seed)
    if s.transform == "homography":
        _, mask = cv2.findHomography(
            src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999
        )
    else:
        _, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=threshold,
            maxIters=2000,
            confidence=0.999,
            refineIters=10,
        )
    return np.zeros(n, bool) if mask is None else mask.ravel().astype(bool)


def check_pair(a: Features, b: Features, s: VerifySettings, seed: int) -> PairResult:
    """Inliers of the pair, and of the mirrored first image when that explains more."""
    best = PairResult(0)
    for mirrored, fa in ((False, a), (True, a.mirrored() if s.mirror and a.count else None)):
        if fa is None:
            continue
        ia, ib = ratio_matches(fa, b, s.ratio)
        mask = fit(fa, b, ia, ib, s, seed)
        inliers = int(mask.sum())
        if inliers > best.inliers:
            best = PairResult(inliers, mirrored, matched_points(a, b, ia[mask], ib[mask], mirrored))
    return best


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


# ---------------------------------------------------------------- many pairs, any scheduler


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are, and the SHA-256 embed recorded for them."""

    path: str
    sha256: str


@dataclass(frozen=True)
class Job:
    """What every worker needs, sent to each once: the settings and where the images are."""

    s: VerifySettings
    images: dict[str, ImageRef]
    cache_root: str | None
    max_pixels: int
    prefilter: int


MEMO_SIZE = 256  # unpacked features a worker keeps (about 0.5 MB each at 1000 keypoints)
PAIRS_PER_TASK = 512
IMAGES_PER_TASK = 16
# below these a worker process costs more than it gives (measured on the sample, docs/performance)
PAIRS_PER_WORKER = 4000
IMAGES_PER_WORKER = 64


class Verifier:
    """Checks pairs of images by id in one process; features come from (and go to) the cache."""

    def __init__(self, job: Job):
        self.job = job
        self.s = job.s
        self.cache = FeatureCache(
            job.cache_root, settings_of(job.s.max_side, job.s.features, job.max_pixels)
        )
        self._memo: OrderedDict[str, Features] = OrderedDict()

    def describe(self, image_id: str) -> bool:
        """Put the image's features in the cache unless they are there; whether it computed
        them now. The image's bytes must still be those embed read."""
        ref = self.job.images.get(image_id)
        if ref is None:
            return False
        try:
            with open(ref.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise UserError(
                f"{ref.path}: image {image_id!r} is missing (on a cluster: every worker must "
                "see data.images under the same path)"
            ) from None
        except OSError:
            data = b""
        digest = content_hash(data) if data else ""
        if ref.sha256 and data and digest != ref.sha256:
            raise UserError(
                f"image {image_id} ({ref.path}) changed since embed: rerun `dvc repro embed`"
            )
        if digest and self.cache.folder is not None and self.cache.get(digest) is not None:
            return False
        f = checked(extract(data, self.s.max_side, self.s.features, self.job.max_pixels), ref)
        if digest:
            self.cache.put(digest, f)
        self._keep(image_id, f)
        return True

    def features(self, image_id: str) -> Features:
        if image_id in self._memo:
            self._memo.move_to_end(image_id)
            return self._memo[image_id]
        ref = self.job.images.get(image_id)
        if ref is None:
            return NONE
        f = self.cache.get(ref.sha256) if ref.sha256 else None
        if f is None:  # no cache, or an entry lost since describe
            try:
                with open(ref.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = b""
            f = checked(extract(data, self.s.max_side, self.s.features, self.job.max_pixels), ref)
        self._keep(image_id, f)
        return f

    def _keep(self, image_id: str, f: Features) -> None:
        self._memo[image_id] = f
        if len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    def check(self, a: str, b: str) -> PairResult:
        fa, fb = self.features(a), self.features(b)
        if not fa.count or not fb.count:
            return PairResult(0)
        return check_pair(fa, fb, self.s, seed_of(a, b))

    def check_many(self, a: str, others: Sequence[str]) -> list[PairResult]:
        """`a` against each of `others`: the prefilter first, the check for those it passes."""
        fa = self.features(a)
        fbs = [self.features(b) for b in others]
        keep = prefilter.passing(fa, fbs, self.s.ratio, self.s.mirror, self.job.prefilter)
        return [
            check_pair(fa, fb, self.s, seed_of(a, b)) if ok and fa.count and fb.count else NO_MATCH
            for b, fb, ok in zip(others, fbs, keep)
        ]


NO_MATCH = PairResult(0)


def checked(f: Features, ref: ImageRef) -> Features:
    """Features fit to be cached: finite positions, or an error naming the image."""
    if not np.isfinite(f.xy).all() or not np.isfinite(f.desc).all():
        raise UserError(f"{ref.path}: its local features are not finite numbers; report this")
    return f


_VERIFIERS: dict[int, Verifier] = {}


def verifier_for(job: Job) -> Verifier:
    """This process's verifier of `job` (kept across its tasks)."""
    found = _VERIFIERS.get(id(job))
    if found is None or found.job is not job:
        _VERIFIERS.clear()
        found = _VERIFIERS[id(job)] = Verifier(job)
    return found


def worker_setup() -> None:
    """One thread per worker process: the processes are the parallelism."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)


def describe_task(job: Job, ids: list[str]) -> int:
    v = verifier_for(job)
    return sum(v.describe(i) for i in ids)


def check_task(job: Job, groups: list[tuple[str, list[str]]]) -> list[list[PairResult]]:
    v = verifier_for(job)
    return [v.check_many(a, others) for a, others in groups]


def pair_tasks(pairs: Sequence[tuple[str, str]]) -> tuple[list, list]:
    """Pairs grouped by their first image, in tasks of about PAIRS_PER_TASK pairs: the tasks,
    and for each task and group the positions of its pairs in `pairs`."""
    by_first: dict[str, list[int]] = {}
    for i, (a, _) in enumerate(pairs):
        by_first.setdefault(a, []).append(i)
    tasks, positions, task, where, size = [], [], [], [], 0
    for a in sorted(by_first):
        idx = by_first[a]
        task.append((a, [pairs[i][1] for i in idx]))
        where.append(idx)
        size += len(idx)
        if size >= PAIRS_PER_TASK:
            tasks.append(task)
            positions.append(where)
            task, where, size = [], [], 0
    if task:
        tasks.append(task)
        positions.append(where)
    return tasks, positions


def chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def workers_for(workers: int | str, pairs: int, images: int) -> int:
    """`verify.workers`, with auto chosen by the work: a process per core only when each gets
    enough pairs or images to repay its start and its own reading of the features."""
    if workers != "auto":
        return int(workers)
    wanted = max(pairs // PAIRS_PER_WORKER, images // IMAGES_PER_WORKER, 1)
    return min(compute.cores(), wanted)


def verify_pairs(
    pairs: Sequence[tuple[str, str]],
    s: VerifySettings,
    images: dict[str, ImageRef],
    cache_root,
    workers: int | str,
    progress: Callable[[int], None] | None = None,
    *,
    max_pixels: int,
    scheduler: str = "",
    prefilter_threshold: int | None = None,
) -> tuple[list[PairResult], int]:
    """Results for `pairs` in their order, and how many images were described now. Images are
    described first (each once, in parallel), then pairs are checked in parallel tasks that
    share their first image. The same results whichever scheduler and workers run them."""
    threshold = s.prefilter if prefilter_threshold is None else prefilter_threshold
    job = Job(s, images, str(cache_root) if cache_root else None, max_pixels, threshold)
    cache = FeatureCache(job.cache_root, settings_of(s.max_side, s.features, max_pixels))
    cache.check_writable("paths.feature_cache")
    needed = sorted({i for pair in pairs for i in pair})
    tasks, positions = pair_tasks(pairs)
    count = workers_for(workers, len(pairs), len(needed))
    with compute.scheduler(scheduler, count, worker_setup) as run:
        described = sum(
            run.map(
                describe_task,
                chunks(needed, IMAGES_PER_TASK),
                job,
                label=lambda ids: f"describing images {ids[0]} to {ids[-1]}",
            )
        )
        results: list[PairResult] = [NO_MATCH] * len(pairs)
        found = run.map(
            check_task,
            tasks,
            job,
            progress=(lambda task: progress(sum(len(o) for _, o in task))) if progress else None,
            label=lambda task: f"checking the pairs of {task[0][0]} to {task[-1][0]}",
        )
        for task_found, task_where in zip(found, positions):
            for group_found, group_where in zip(task_found, task_where):
                for r, i in zip(group_found, group_where):
                    results[i] = r
    return results, described


def image_refs(index_rows: Iterable[dict], root) -> dict[str, ImageRef]:
    """id -> ImageRef from images.csv rows (path relative to the collection root)."""
    from pathlib import Path

    return {r["id"]: ImageRef(str(Path(root) / r["path"]), r.get("sha256", "")) for r in index_rows}
