"""How a neighbour list is ordered, whoever computed it: by score rounded to 6 decimals,
descending, ties by id, never the reference itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# extra results fetched so that ties at the cut are broken by id, not by the engine
TIE_MARGIN = 10
# a page searched with the picture found on it too lists at most this many times the limit
WITH_PICTURE = 2


@dataclass(frozen=True)
class Hit:
    id: str
    url: str | None
    score: float


def rank(hits: Sequence[Hit], limit: int, exclude: str | None = None) -> list[Hit]:
    """Neighbours by descending score (rounded to 6 decimals), ties by id, at most `limit`."""
    kept = [Hit(h.id, h.url, round(float(h.score), 6)) for h in hits if h.id != exclude]
    kept.sort(key=lambda h: (-h.score, h.id))
    return kept[:limit]


def with_picture(
    own: Sequence[Hit], picture: Sequence[Hit], limit: int, exclude: str | None = None
) -> list[Hit]:
    """A page's list: its own neighbours and those of the picture found on it, each image
    once with its better score, ranked, at most WITH_PICTURE times `limit`."""
    best: dict[str, Hit] = {}
    for hit in [*own, *picture]:
        if hit.id not in best or hit.score > best[hit.id].score:
            best[hit.id] = hit
    return rank(list(best.values()), WITH_PICTURE * limit, exclude)
