"""How a neighbour list is ordered, whoever computed it: by score rounded to 6 decimals,
descending, ties by id, never the reference itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# extra results fetched so that ties at the cut are broken by id, not by the engine
TIE_MARGIN = 10


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
