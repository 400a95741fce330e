"""The interface every verification method implements, and what checking a pair gives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Features = Any  # whatever a method's describe() returns; only that method reads it


@dataclass(frozen=True)
class PairResult:
    """What checking a pair found. Methods may add figures (coverage, relation) as fields with
    defaults, so that results of other methods stay equal to themselves."""

    inliers: int
    mirrored: bool = False
    # inlier matches as (x1, y1, x2, y2), each a share of its image's width or height
    matches: tuple = ()
    # the overlap figures (similar/overlap.py); 0 where a method does not measure them
    coverage: float = 0.0
    inlier_ratio: float = 0.0
    agreement: float = 0.0
    contained: float = 0.0

    def relation(self, rule: CopyRule) -> str | None:
        """`copy`, `shares_part` (inliers enough, but the pictures disagree over their
        overlap, or overlap over a small part of both), or None when not verified at all."""
        if self.inliers < rule.min_inliers:
            return None
        same = self.agreement >= rule.min_agreement and self.contained >= rule.min_overlap
        return "copy" if same else "shares_part"

    def fields(self, rule: CopyRule) -> dict:
        """The checked pair's fields in the verified lists and groups.json."""
        relation = self.relation(rule)
        return {
            "inliers": self.inliers,
            "verified": relation == "copy",
            "mirrored": bool(relation == "copy" and self.mirrored),
            "relation": relation,
            "coverage": self.coverage,
            "inlier_ratio": self.inlier_ratio,
            "agreement": self.agreement,
            "contained": self.contained,
        }


@dataclass(frozen=True)
class CopyRule:
    """When a checked pair is verified (`verify.min_inliers`), and a copy rather than a pair
    that only shares a part (`verify.min_agreement`, `verify.min_overlap`)."""

    min_inliers: int
    min_agreement: float = 0.0
    min_overlap: float = 0.0

    @classmethod
    def of(cls, settings) -> CopyRule:
        return cls(settings.min_inliers, settings.min_agreement, settings.min_overlap)


class Method:
    """A verification method: describes each image once (the result is cached by content, under
    `cache_key()`), then checks pairs of descriptions."""

    name = ""
    # False for a method that checks nothing: stages then pass the CNN ranking through and
    # need no images
    verifies = True
    suffix = ".bin"  # file name ending of its entries in the feature cache

    def __init__(self, settings, max_pixels: int | None = None):
        self.settings = settings  # VerifySettings
        # embed.max_pixels: larger images have no features (None: embed's default)
        self.max_pixels = max_pixels or _default_max_pixels()

    def describe(self, data: bytes) -> Features:
        """The features of an image file's bytes; never fails on a bad file."""
        raise NotImplementedError

    def check(self, a: Features, b: Features, seed: int) -> PairResult:
        """Whether a and b show the same picture; random draws seeded by `seed`."""
        raise NotImplementedError

    def cache_key(self) -> str:
        """Every setting that changes what describe() returns, as canonical JSON
        (`cache.canonical`): the feature cache keeps one folder per key."""
        raise NotImplementedError

    def passing(self, a: Features, candidates: Sequence[Features]) -> Sequence[bool]:
        """A cheap test before the check: False for a candidate that cannot be a copy of `a`
        (then never checked). This default checks every one."""
        return [True] * len(candidates)

    def pack(self, features: Features) -> bytes:
        """A feature cache entry."""
        raise NotImplementedError

    def unpack(self, raw: bytes) -> Features | None:
        """The features of a cache entry; None for a torn or foreign one (describe again)."""
        raise NotImplementedError


def _default_max_pixels() -> int:
    from ..settings import EmbedSettings

    return EmbedSettings().max_pixels
