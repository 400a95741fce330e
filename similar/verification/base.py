"""The interface every verification method implements, and what checking a pair gives."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

Features = Any  # whatever a method's describe() returns; only that method reads it
# the agreement a copy under min_inliers needs (let in by min_small_inliers), which must also
# keep its colours (similar/verification/overlap.py, `recoloured`): measured on the
# development collection, recall 0.369 at 0.95, 0.395 at 0.85, 0.408 at 0.75 and 0.414 at
# 0.6, each at precision 0.994 with the one group that mixes (Romania's flag and Chad's)
SMALL_AGREEMENT = 0.75


@dataclass(frozen=True)
class PairResult:
    """What checking a pair found. Methods may add figures (coverage, relation) as fields with
    defaults, so that results of other methods stay equal to themselves."""

    inliers: int
    mirrored: bool = False
    # inlier matches as (x1, y1, x2, y2), each a share of its image's width or height
    matches: tuple = ()
    # the overlap figures (similar/verification/overlap.py); 0 where a method does not measure them
    coverage: float = 0.0
    inlier_ratio: float = 0.0
    agreement: float = 0.0
    contained: float = 0.0
    difference: float = 0.0
    keypoints: int = 0  # the keypoints of the image with fewer (0: not counted)
    # laid frame on frame (similar/verification/sift.py, `framed_check`): judged as strictly
    # as a pair let in by the small floor
    framed: bool = False
    # found with the larger picture's part described at the strong crop's scale, or the
    # picture printed on a page described on its own (similar/verification/region.py): its
    # inliers are counted over a denser description than a whole picture's, so they do not
    # rank it against pairs of whole pictures
    zoomed: bool = False
    # "a" or "b": that picture lies whole in the other, a part of it (a crop, a picture
    # printed on a page or in a border); "" neither (similar/verification/overlap.py, `part_of`)
    part: str = ""

    def turned(self) -> PairResult:
        """The result of the pair named the other way round: the matched points' ends
        swapped, and which picture is the part."""
        return replace(
            self,
            matches=tuple((x2, y2, x1, y1) for x1, y1, x2, y2 in self.matches),
            part={"a": "b", "b": "a"}.get(self.part, self.part),
        )

    def relation(self, rule: CopyRule) -> str | None:
        """`copy` (inliers enough, the pictures agree over their overlap, neither draws
        there what the other does not, and one lies whole inside the other), `shares_part`
        (not a copy, with the higher inlier floor of a shared part), or None."""
        if self.inliers < rule.floor(self.keypoints):
            return None
        # a pair under min_inliers, let in by the small floor, or laid frame on frame, must
        # agree almost everywhere
        agree = rule.min_agreement
        if self.inliers < rule.min_inliers or self.framed:
            agree = max(agree, SMALL_AGREEMENT)
        same = (
            self.agreement >= agree
            and self.contained >= rule.min_overlap
            and self.difference <= rule.max_difference
        )
        if same:
            return "copy"
        return "shares_part" if self.inliers >= rule.min_part_inliers else None

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
            "difference": self.difference,
            "part": self.part,
        }


@dataclass(frozen=True)
class CopyRule:
    """When a checked pair is a copy (`verify.min_inliers`, `verify.min_small_inliers`,
    `verify.min_inlier_share`, `verify.min_agreement`, `verify.min_overlap`,
    `verify.max_difference`), and when a pair that is not one is reported as sharing a part
    (`verify.min_part_inliers`)."""

    min_inliers: int
    min_agreement: float = 0.0
    min_overlap: float = 0.0
    max_difference: float = 1.0
    min_part_inliers: int = 0
    min_small_inliers: int = 0
    min_inlier_share: float = 0.0

    def floor(self, keypoints: int) -> int:
        """The inliers a copy needs when the image with fewer keypoints has `keypoints`: a
        small icon or flag holds a few dozen, of which min_inliers would be most; it needs
        min_small_inliers and min_inlier_share of them instead (never more than min_inliers)."""
        if not self.min_small_inliers or not keypoints:
            return self.min_inliers
        share = math.ceil(self.min_inlier_share * keypoints - 1e-9)
        return min(self.min_inliers, max(self.min_small_inliers, share))

    @classmethod
    def of(cls, settings) -> CopyRule:
        return cls(
            settings.min_inliers,
            settings.min_agreement,
            settings.min_overlap,
            settings.max_difference,
            settings.min_part_inliers,
            settings.min_small_inliers,
            settings.min_inlier_share,
        )


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

    def check(self, a: Features, b: Features, seed: int, read=None) -> PairResult:
        """Whether a and b show the same picture; random draws seeded by `seed`. `read(side)`,
        where given, returns the bytes of the first (0) or second (1) image file, for a
        method that looks at the pictures again (similar/verification/detail.py)."""
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
