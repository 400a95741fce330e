"""Many pairs checked by the method `verify.method` names, wherever `compute.scheduler` says.

Each image is described once into the feature cache, keyed by the SHA-256 of the bytes read
now (an image changed since embed is one error line), then the pairs that share a first image
go to one task: the method's prefilter rejects the candidates that cannot be copies, and
those that pass are checked. Tasks run in a process pool here or on a Dask cluster
(similar.compute). Results do not depend on the scheduler, the order or the number of
workers: each pair is computed alone, and random draws (RANSAC's) are seeded by the pair.
Nor on the order a stage names a pair in: each is checked once, its lower id first, and
its result turned round for the other order (`canonical_pairs`). Each task's results are
kept until the run ends (similar/verification/journal.py): a stopped run started again over
the same pairs checks only the tasks it had not finished.
"""

from __future__ import annotations

import importlib
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import allocator, compute, progress
from ..cache import ContentCache, content_hash
from ..errors import UserError
from .base import Method, PairResult
from .distances import engine, single_threaded, torch_products
from .journal import Journal, journal_settings, task_key
from .registry import METHODS

# unpacked features a worker keeps, by their arrays' bytes (about 0.5 MB an image at 1000
# keypoints): a first image's candidates are drawn from the whole collection, so a memo
# holding fewer images than a task's working set unpacks most candidates again
MEMO_BYTES = 384 * 2**20
# pictures decoded again for a closer look that a worker keeps (a 512-pixel grey one: 256 KiB)
PICTURES_BYTES = 64 * 2**20
PAIRS_PER_TASK = 512
IMAGES_PER_TASK = 16
# below these a worker process costs more than it gives (measured on the sample:
# docs/performance.md); `verify.workers: auto` starts one per this much work, up to the cores
PAIRS_PER_WORKER = 4000
IMAGES_PER_WORKER = 64
NO_MATCH = PairResult(0)


def method_for(settings, max_pixels: int | None = None) -> Method:
    """The method `verify.method` names, set up with these VerifySettings."""
    module = importlib.import_module(f"{__package__}.{METHODS[settings.method]}")
    return module.METHOD(settings, max_pixels)


def seed_of(a_key: str, b_key: str) -> int:
    return zlib.crc32(f"{a_key}\n{b_key}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are, and the SHA-256 embed recorded for them."""

    path: str
    sha256: str


def image_refs(index_rows: Iterable[dict], root) -> dict[str, ImageRef]:
    """id -> ImageRef from images.csv rows (path relative to the collection root), absolute:
    a cluster's workers do not run in the stage's folder."""
    root = Path(root).absolute()
    return {r["id"]: ImageRef(str(root / r["path"]), r.get("sha256", "")) for r in index_rows}


@dataclass(frozen=True)
class Job:
    """What every worker needs, sent to each once: the settings and where the images are."""

    settings: object  # VerifySettings
    images: dict[str, ImageRef]
    cache_root: str | None
    max_pixels: int | None = None
    journal: str = ""  # journal_settings: where finished tasks are kept ("" keeps none)


def feature_cache(method: Method, root) -> ContentCache:
    cache = ContentCache(root, method.cache_key())
    cache.suffix = method.suffix
    return cache


class Verifier:
    """Checks pairs of images by id in one process; features come from (and go to) the cache."""

    def __init__(self, job: Job):
        self.job = job
        self.method = method_for(job.settings, job.max_pixels)
        self.cache = feature_cache(self.method, job.cache_root)
        self.journal = Journal(job.cache_root, job.journal)
        self._memo = LastUsed(MEMO_BYTES)
        self.pictures = LastUsed(PICTURES_BYTES)  # decoded again for a closer look, by SHA-256

    def _cached(self, key: str):
        raw = self.cache.get_bytes(key)
        found = self.method.unpack(raw)
        if raw is not None and found is None:
            self.cache.damaged(key, "it does not hold valid features")
        return found

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
                f"{ref.path}: image {image_id!r} is missing (on a cluster, every worker must "
                "see data.images under the same path)"
            ) from None
        except OSError:
            data = b""
        digest = content_hash(data) if data else ""
        if ref.sha256 and digest and digest != ref.sha256:
            raise UserError(
                f"image {image_id} ({ref.path}) changed since embed: rerun `dvc repro embed`"
            )
        if digest and self.cache.folder is not None:
            cached = self._cached(digest)
            if cached is not None:  # unpacked to check it: kept for this worker's checks
                self._memo.put(image_id, cached, footprint(cached))
                return False
        found = self.method.describe(data)
        if digest:
            self.cache.put_bytes(digest, self.method.pack(found))
        self._memo.put(image_id, found, footprint(found))
        return True

    def features(self, image_id: str):
        if image_id in self._memo:
            return self._memo.get(image_id)
        ref = self.job.images.get(image_id)
        if ref is None:
            return self.method.describe(b"")
        found = self._cached(ref.sha256) if ref.sha256 else None
        if found is None:  # no cache, or an entry lost since describe
            found = self.method.describe(self.image_bytes(image_id))
        self._memo.put(image_id, found, footprint(found))
        return found

    def check(self, a: str, b: str) -> PairResult:
        return self.method.check(
            self.features(a), self.features(b), seed_of(a, b), self.reader(a, b)
        )

    def check_many(self, a: str, others: Sequence[str]) -> list[PairResult]:
        """`a` against each of `others`: the prefilter first, the check for those it passes."""
        fa = self.features(a)
        fbs = [self.features(b) for b in others]
        keep = self.method.passing(fa, fbs)
        return [
            self.method.check(fa, fb, seed_of(a, b), self.reader(a, b)) if ok else NO_MATCH
            for b, fb, ok in zip(others, fbs, keep)
        ]

    def reader(self, a: str, b: str) -> PairFiles:
        """`read(side)` for a pair: the bytes of image `a` (0) or `b` (1), read when a check
        asks for them (b"" for one that cannot be read)."""
        return PairFiles(self, (a, b))

    def image_bytes(self, image_id: str) -> bytes:
        ref = self.job.images.get(image_id)
        if ref is None:
            return b""
        try:
            with open(ref.path, "rb") as fh:
                return fh.read()
        except OSError:
            return b""


class PairFiles:
    """The files of a pair, read when a check asks: `read(side)` their bytes;
    `read.kept(side, make)` a picture made from them (`make()`: decoded as described, by
    similar/verification/detail.py), kept by the worker under the SHA-256 embed recorded for
    the file, so that a page looked at closer against each of its candidates is decoded once
    (made afresh for a file whose SHA-256 is unknown)."""

    def __init__(self, verifier: Verifier, ids: tuple[str, str]):
        self.verifier = verifier
        self.ids = ids

    def __call__(self, side: int) -> bytes:
        return self.verifier.image_bytes(self.ids[side])

    def kept(self, side: int, make: Callable, what=None):
        """`make()` (the picture decoded, or with `what`, something made from it) kept
        under the file's SHA-256 (and `what`)."""
        ref = self.verifier.job.images.get(self.ids[side])
        if ref is None or not ref.sha256:
            return make()
        pictures = self.verifier.pictures
        key = ref.sha256 if what is None else (ref.sha256, what)
        if key not in pictures:
            made = make()
            size = made.nbytes if isinstance(made, np.ndarray) else footprint(made)
            pictures.put(key, made, size)
        return pictures.get(key)


class LastUsed:
    """Values by key, the least recently used dropped once they hold more than `limit` bytes
    (the last one always kept)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: OrderedDict = OrderedDict()
        self.held = 0

    def __contains__(self, key) -> bool:
        return key in self.items

    def get(self, key):
        """The value under `key` (which must be there), now the most recently used."""
        self.items.move_to_end(key)
        return self.items[key][0]

    def put(self, key, value, size: int) -> None:
        """Keep `value` (of `size` bytes) under `key` unless one is kept there."""
        if key in self.items:
            return
        self.items[key] = (value, size)
        self.held += size
        while self.held > self.limit and len(self.items) > 1:
            self.held -= self.items.popitem(last=False)[1][1]


def footprint(features) -> int:
    """Bytes of a method's features' arrays (0 for what holds none)."""
    fields = getattr(features, "__dict__", {}).values()
    return sum(getattr(value, "nbytes", 0) for value in fields) + 256


_VERIFIERS: dict[int, Verifier] = {}


def verifier_for(job: Job) -> Verifier:
    """This process's verifier of `job`, kept across its tasks."""
    found = _VERIFIERS.get(id(job))
    if found is None or found.job is not job:
        _VERIFIERS.clear()
        found = _VERIFIERS[id(job)] = Verifier(job)
    return found


def worker_setup() -> None:
    """One thread per worker process (the processes are the parallelism), and an allocator
    that keeps the blocks of the arrays a check makes (similar/allocator.py)."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)
    single_threaded()
    allocator.for_arrays()


def describe_task(job: Job, ids: list[str]) -> int:
    v = verifier_for(job)
    return sum(v.describe(i) for i in ids)


def check_task(job: Job, groups: list[tuple[str, list[str]]]) -> list[list[PairResult]]:
    """The results of a task, read from the journal when a stopped run finished it."""
    v = verifier_for(job)
    key = task_key(groups, job.images)
    found = v.journal.get(key)
    if found is None:
        found = [v.check_many(a, others) for a, others in groups]
        v.journal.put(key, found)
    return found


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


def default_workers() -> int:
    return compute.cores()


def verify_pairs(
    pairs: Sequence[tuple[str, str]],
    settings,
    images: dict[str, ImageRef],
    cache_root,
    workers: int | str,
    label: str | None = None,
    *,
    max_pixels: int | None = None,
    scheduler: str = "",
) -> tuple[list[PairResult], int, int]:
    """Results for `pairs` in their order, how many images were described now, and how many
    pairs were read back from a stopped run's journal instead of checked. Images are
    described first (each once, in parallel), then pairs are checked in parallel tasks that
    share their first image; with a `label`, a progress bar of that name counts the pairs as
    their tasks complete. The same results whichever scheduler and workers run them, and
    whichever way round a pair is named."""
    started = time.time()
    job = Job(
        settings,
        images,
        str(Path(cache_root).absolute()) if cache_root else None,
        max_pixels,
        journal_settings(settings, max_pixels) if cache_root else "",
    )
    feature_cache(method_for(settings, max_pixels), job.cache_root).check_writable(
        "paths.feature_cache"
    )
    needed = sorted({i for pair in pairs for i in pair})
    checked = canonical_pairs(pairs)
    tasks, positions = pair_tasks(checked)
    count = workers_for(workers, len(checked), len(needed))
    found_checked: list[PairResult] = [NO_MATCH] * len(checked)
    journal, keys = Journal(job.cache_root, job.journal), [task_key(t, images) for t in tasks]
    resumed = held(journal, keys, tasks)
    said_resumed(resumed, len(checked))
    bar = progress.bar(len(checked), label, "pair", shown=bool(label))
    preload = ("torch",) if engine(settings.products) is torch_products else ()
    with bar, compute.scheduler(scheduler, count, worker_setup, preload) as run:
        described = sum(
            run.map(
                describe_task,
                chunks(needed, IMAGES_PER_TASK),
                job,
                label=lambda ids: f"describing images {ids[0]} to {ids[-1]}",
            )
        )
        found = run.map(
            check_task,
            tasks,
            job,
            progress=lambda task: bar.update(sum(len(others) for _, others in task)),
            label=lambda task: f"checking the pairs of {task[0][0]} to {task[-1][0]}",
        )
    feature_cache(method_for(settings, max_pixels), job.cache_root).pack()
    journal.forget(keys, started)
    for task_found, task_where in zip(found, positions):
        for group_found, group_where in zip(task_found, task_where):
            for r, i in zip(group_found, group_where):
                found_checked[i] = r
    return named_as_asked(pairs, checked, found_checked), described, resumed


def held(journal: Journal, keys: list[str], tasks: list) -> int:
    """The pairs of the tasks (named by `keys`) that `journal` holds."""
    return sum(
        len(others) for key, task in zip(keys, tasks) if journal.holds(key) for _, others in task
    )


def said_resumed(resumed: int, pairs: int) -> None:
    """One line on standard error when a stopped run's journal holds some of the pairs."""
    if resumed:
        print(
            f"resuming: {resumed} of {pairs} pairs were checked by a run that was stopped; "
            "they are read back, the rest checked",
            file=sys.stderr,
        )


def canonical_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each pair once, its lower id first: the check is not symmetric (the ratio test
    looks for the first picture's keypoints among the second's, RANSAC's seed is the
    pair's), so a pair is checked in one order whichever way a stage names it."""
    return sorted({(a, b) if a <= b else (b, a) for a, b in pairs})


def named_as_asked(
    pairs: Sequence[tuple[str, str]],
    checked: list[tuple[str, str]],
    results: list[PairResult],
) -> list[PairResult]:
    """The results of `checked` (canonical_pairs) for `pairs` in their order, turned round
    where a pair was named higher id first."""
    where = {pair: result for pair, result in zip(checked, results)}
    return [where[(a, b)] if a <= b else where[(b, a)].turned() for a, b in pairs]
