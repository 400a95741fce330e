"""The matched points of checked pairs: verify's matches.json, completed for the groups' pairs."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .runner import image_refs, method_for, verify_pairs

CHECKED = ("copy", "shares_part")
PAIR_LISTS = ("edges", "possible", "shared_parts")  # groups.json's lists of pairs


def points_of(matches: dict, a: str, b: str) -> dict | None:
    """The matched points of pair (a, b) from matches.json, in a -> b order."""
    if b in matches.get(a, {}):
        return matches[a][b]
    found = matches.get(b, {}).get(a)
    if found is None:
        return None
    return {**found, "points": [[p[2], p[3], p[0], p[1]] for p in found["points"]]}


def group_pairs(found: list[dict]) -> list[tuple[str, str]]:
    """The checked pairs of groups.json's groups (copies, possible members, shared parts)."""
    return sorted(
        {
            (e["a"], e["b"])
            for g in found
            for key in PAIR_LISTS
            for e in g.get(key, [])
            if e.get("relation") in CHECKED
        }
    )


def with_group_points(config: Settings, found: list[dict], matches: dict, rows) -> dict:
    """matches.json with the matched points of the groups' pairs that verify's lists did not
    hold (the groups stage checks pairs of the whole graph), checked again by the same
    verifier over its feature cache; as it is where the images are not here."""
    missing = [p for p in group_pairs(found) if points_of(matches, *p) is None]
    verifier = config.verify
    if not missing or not method_for(verifier).verifies or not Path(config.data.images).is_dir():
        return matches
    results, _ = verify_pairs(
        missing,
        verifier,
        image_refs(rows, config.data.images),
        config.paths.feature_cache,
        verifier.workers,
        max_pixels=config.embed.max_pixels,
        scheduler=config.compute.scheduler,
    )
    out = {ref: dict(found) for ref, found in matches.items()}
    for (a, b), r in zip(missing, results):
        out.setdefault(a, {})[b] = {"mirrored": r.mirrored, "points": [list(p) for p in r.matches]}
    return out
