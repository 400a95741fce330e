"""neighbours.json: the neighbour lists of reference images, built and written one way.

An array in reference order, `{"reference": {"id","url"}, "neighbours": [{"id","url","score"},
...]}`, by descending score (6 decimals), ties by id, a reference never among its own
neighbours (`ranking.rank`). The verify stage adds fields to each neighbour.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .ranking import Hit


def entry(reference: str, url: str | None, hits: Iterable[Hit]) -> dict:
    """One reference's entry from its ranked hits."""
    return {
        "reference": {"id": reference, "url": url},
        "neighbours": [{"id": h.id, "url": h.url, "score": h.score} for h in hits],
    }


def neighbours_bytes(entries: list[dict]) -> bytes:
    """One reference per line inside a JSON array: diffable, and byte-stable."""
    lines = [json.dumps(e, ensure_ascii=False, separators=(", ", ": ")) for e in entries]
    body = ",\n".join(lines)
    return ("[\n" + body + ("\n" if lines else "") + "]\n").encode("utf-8")
