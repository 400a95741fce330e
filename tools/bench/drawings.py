"""Section drawings: the quality section's figures on the collection of real drawings
(`python -m tools.drawings --out data/drawings`, or `--drawings DIR`) when it is built, and
the share of the planted copies' pairs found (the pairs of a planted copy with the rest of
its source's group). Not run on `--quick`, nor where the collection is not built: one line
says how to build it. Its truth comes from file names (tools/drawings.py says what that
undercounts)."""

from __future__ import annotations

from pathlib import Path

from . import quality
from .runner import Row

BUILD = "python -m tools.drawings --out data/drawings"


def planted_recall(by_kind: dict) -> float:
    """Recall over the pairs of the planted copies' kinds (every kind but `drawing`)."""
    kinds = [figures for kind, figures in by_kind.items() if kind != "drawing"]
    expected = sum(figures["pairs_expected"] for figures in kinds)
    found = sum(figures["pairwise_recall"] * figures["pairs_expected"] for figures in kinds)
    return round(found / expected, 6) if expected else 1.0


def measure(work: Path, options) -> dict:
    folder = quality.built(options.drawings, options.quick)
    if folder is None:
        return {"collection": None, "build": BUILD}
    figures = quality.measured(
        work,
        f"drawings {folder}",
        *quality.devset_files(folder),
        options.quick,
        options.components,
    )
    return {**figures, "planted_recall": planted_recall(figures["by_kind"])}


def rows(figures: dict) -> list[Row]:
    if figures["collection"] is None:
        return [Row("quality on real drawings", f"not built ({figures['build']})")]
    planted = Row("quality on real drawings, planted copies", f"recall {figures['planted_recall']}")
    return [*quality.rows(figures), planted]
