"""Many pairs checked by the method `verify.method` names, in worker processes.

Each image is described once, its features read from (or written to) the feature cache.
Results do not depend on the order or the number of workers: each pair is computed alone,
and random draws (RANSAC's) are seeded by the pair.
"""

from __future__ import annotations

import importlib
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..cache import ContentCache
from .base import Method, PairResult
from .registry import METHODS

CHUNK = 64  # pairs per task of a worker


def method_for(settings) -> Method:
    """The method `verify.method` names, set up with these VerifySettings."""
    module = importlib.import_module(f"{__package__}.{METHODS[settings.method]}")
    return module.METHOD(settings)


def seed_of(a_key: str, b_key: str) -> int:
    return zlib.crc32(f"{a_key}\n{b_key}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are, and their SHA-256 (its cache key)."""

    path: str
    sha256: str


def image_refs(index_rows: Iterable[dict], root) -> dict[str, ImageRef]:
    """id -> ImageRef from images.csv rows (path relative to the collection root)."""
    return {r["id"]: ImageRef(str(Path(root) / r["path"]), r.get("sha256", "")) for r in index_rows}


class Verifier:
    """Checks pairs of images by id; features come from (and go to) the feature cache."""

    def __init__(self, settings, images: dict[str, ImageRef], cache_root):
        self.method = method_for(settings)
        self.images = images
        self.cache = ContentCache(cache_root, self.method.cache_key())
        self.cache.suffix = self.method.suffix
        self._memo: dict[str, object] = {}

    def features(self, image_id: str) -> tuple[object, bool]:
        """(features, whether they were computed now)."""
        if image_id in self._memo:
            return self._memo[image_id], False
        ref = self.images.get(image_id)
        if ref is None:
            return self.method.describe(b""), False
        fresh = False
        found = self.method.unpack(self.cache.get_bytes(ref.sha256)) if ref.sha256 else None
        if found is None:
            try:
                with open(ref.path, "rb") as fh:
                    data = fh.read()
            except OSError:
                data = b""
            found = self.method.describe(data)
            if data and ref.sha256:
                self.cache.put_bytes(ref.sha256, self.method.pack(found))
            fresh = True
        if len(self._memo) > 512:
            self._memo.clear()
        self._memo[image_id] = found
        return found, fresh

    def check(self, a: str, b: str) -> PairResult:
        return self.method.check(self.features(a)[0], self.features(b)[0], seed_of(a, b))


_WORKER: Verifier | None = None


def _init_worker(settings, images, cache_root) -> None:
    import cv2

    cv2.setNumThreads(1)  # one pair per process: the processes are the parallelism
    global _WORKER
    _WORKER = Verifier(settings, images, cache_root)


def _describe(ids: list[str]) -> int:
    return sum(_WORKER.features(i)[1] for i in ids)


def _check(pairs: list[tuple[str, str]]) -> list[PairResult]:
    return [_WORKER.check(a, b) for a, b in pairs]


def chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def verify_pairs(
    pairs: Sequence[tuple[str, str]],
    settings,
    images: dict[str, ImageRef],
    cache_root,
    workers: int | str,
    label: str | None = None,
) -> tuple[list[PairResult], int]:
    """Results for `pairs` in their order, and how many images were described now. Images are
    described first (each once, in parallel), then pairs are matched in parallel chunks; with
    a `label`, a progress bar of that name counts the pairs."""
    needed = sorted({i for pair in pairs for i in pair})
    workers = default_workers() if workers == "auto" else workers
    bar = tqdm(total=len(pairs), desc=label, unit="pair", disable=None if label else True)
    with bar:
        if workers <= 1 or len(pairs) < CHUNK:
            _init_worker(settings, images, cache_root)
            described = _describe(needed)
            results = []
            for chunk in chunks(list(pairs), CHUNK):
                results.extend(_check(chunk))
                bar.update(len(chunk))
            return results, described
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        setup = (settings, images, cache_root)
        with ctx.Pool(workers, initializer=_init_worker, initargs=setup) as pool:
            described = sum(pool.imap(_describe, chunks(needed, 16)))
            # pairs sharing their first image go to the same worker: its features stay in memory
            order = sorted(range(len(pairs)), key=lambda i: pairs[i])
            results: list[PairResult | None] = [None] * len(pairs)
            batches = chunks(order, CHUNK)
            tasks = [[pairs[i] for i in b] for b in batches]
            for idx, found in zip(batches, pool.imap(_check, tasks)):
                for i, r in zip(idx, found):
                    results[i] = r
                bar.update(len(idx))
    return results, described


def default_workers() -> int:
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
