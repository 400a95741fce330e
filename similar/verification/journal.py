"""The pairs a run has checked, kept until it ends, so that a stopped run resumes.

Checking the candidate pairs of a large collection takes hours. Each task's results are
written, as the task ends, as one entry of a ContentCache folder under `paths.feature_cache`
keyed by everything that decides them: the task's images (ids and SHA-256), the verifier's
settings, the library's own code and the versions of the libraries a check uses. A run
started again over the same pairs (after Ctrl-C, a lost machine, a killed worker pool) reads
the tasks that ended and checks only the rest; the results are the same bytes as an
uninterrupted run's. A run that ends removes its entries, and those a stopped run left
before it began, so the journal never holds more than the runs going on or stopped. A
changed setting, image or line of code reads nothing a stopped run left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..cache import ContentCache, canonical, folder_of
from .base import PairResult

# the libraries whose arithmetic a check's results depend on
LIBRARIES = ("numpy", "opencv-python-headless", "torch", "scipy")
SUFFIX = ".pairs"
FORMAT = 1
RETRIES = 3


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over every module of the library (its path and bytes): a resumed run reads
    only what this very code checked."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


def journal_settings(settings, max_pixels: int | None) -> str:
    """What decides a check's results besides its images, as canonical JSON: the verifier's
    settings (not its worker count), the pixel limit, the code and the libraries."""
    fields = {k: v for k, v in dataclasses.asdict(settings).items() if k != "workers"}
    return canonical(
        {
            "journal": "checked pairs",
            "format": FORMAT,
            "verify": fields,
            "max_pixels": max_pixels,
            "code": code_digest(),
            "libraries": library_versions(),
        }
    )


def task_key(task: Sequence[tuple[str, Sequence[str]]], images: dict) -> str:
    """The entry name of a task (its groups of a first image and its others), by the ids and
    the SHA-256 of every image it checks."""

    def named(image_id: str) -> list[str]:
        ref = images.get(image_id)
        return [image_id, ref.sha256 if ref is not None else ""]

    blob = canonical({"task": [[named(a), [named(b) for b in others]] for a, others in task]})
    return hashlib.sha256(blob.encode()).hexdigest()


def encoded(results: list[list[PairResult]]) -> bytes:
    """A task's results as JSON, each result by the fields that differ from their defaults
    (Python's floats are written to the last bit, so they read back equal)."""
    defaults = PairResult(0)
    rows = [
        [
            {
                f.name: getattr(result, f.name)
                for f in dataclasses.fields(result)
                if getattr(result, f.name) != getattr(defaults, f.name)
            }
            for result in group
        ]
        for group in results
    ]
    return json.dumps(rows, separators=(",", ":"), allow_nan=True, default=plain).encode()


def plain(value):
    """A numpy scalar as the Python value it equals (json's hook for what it cannot write)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a result's field")


def decoded(payload: bytes) -> list[list[PairResult]] | None:
    """A task's results from `encoded`; None when the payload is not one."""
    try:
        rows = json.loads(payload)
        return [[result_of(fields) for fields in group] for group in rows]
    except (ValueError, TypeError, AttributeError):
        return None


def result_of(fields: dict) -> PairResult:
    """A result from the fields `encoded` wrote (those at their defaults left out)."""
    if "matches" in fields:
        fields = {**fields, "matches": tuple(tuple(m) for m in fields["matches"])}
    return PairResult(**{"inliers": 0, **fields})


class Journal:
    """The entries of one journal folder (none when `root` is None or settings are "")."""

    def __init__(self, root: str | os.PathLike | None, settings: str):
        self.folder = folder_of(root, settings) if root and settings else None
        self.settings = settings
        self._cache: ContentCache | None = None

    def _entries(self) -> ContentCache:
        """The folder's cache, made when it is first used (a run without a feature cache
        makes none; a run that ends removes it once empty)."""
        if self._cache is None:
            self._cache = ContentCache(self.folder.parent, self.settings)
            self._cache.suffix = SUFFIX
        return self._cache

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{SUFFIX}"

    def holds(self, key: str) -> bool:
        return self.folder is not None and self._file(key).exists()

    def get(self, key: str) -> list[list[PairResult]] | None:
        """The results a stopped run wrote for the task named `key`; None when there are
        none (or they are damaged: then warned, and checked again)."""
        if not self.holds(key):
            return None
        payload = self._entries().get_bytes(key)
        found = None if payload is None else decoded(payload)
        if payload is not None and found is None:
            self._entries().damaged(key, "it does not hold a task's results")
        return found

    def put(self, key: str, results: list[list[PairResult]]) -> None:
        if self.folder is None:
            return
        payload = encoded(results)
        for attempt in range(RETRIES):
            try:
                self._entries().put_bytes(key, payload)
                return
            except FileNotFoundError:  # its folder removed, empty, by a run that ended beside
                if attempt == RETRIES - 1:
                    raise
                self._cache = None

    def forget(self, keys: Sequence[str], before: float) -> None:
        """Remove the entries of `keys`, and those written before `before` (a time.time()):
        left by a stopped run that no run resumed, or half-written by a killed worker. The
        folder goes once it is empty."""
        if self.folder is None or not self.folder.is_dir():
            return
        for key in keys:
            with contextlib.suppress(OSError):
                self._file(key).unlink()
        for shard in (p for p in self.folder.iterdir() if p.is_dir()):
            # and the half-written entries of a process killed before `before`
            for entry in [*shard.glob(f"*{SUFFIX}"), *shard.glob("*.tmp")]:
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < before:
                        entry.unlink()
            with contextlib.suppress(OSError):
                shard.rmdir()  # only when empty
        with contextlib.suppress(OSError):
            if not any(p.is_dir() for p in self.folder.iterdir()):
                (self.folder / "settings.json").unlink(missing_ok=True)
                self.folder.rmdir()
