"""The matched points of checked pairs: verify's matches.json and the groups stage's points.json,
each a -> b -> {mirrored, points}, read as one."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from pathlib import Path

import orjson

from ..files import read_json

CHECKED = ("copy", "shares_part")
PAIR_LISTS = ("edges", "possible", "shared_parts")  # groups.json's lists of pairs


def point_record(result) -> dict:
    """A pair's entry in matches.json or points.json: mirrored, and its inlier matches (the
    result's own tuples, not copied)."""
    return {"mirrored": result.mirrored, "points": result.matches}


def write_points(target, pairs: Iterable[tuple[str, str, object]]) -> None:
    """points.json from (a, b, result) sorted by a: one reference written at a time, so that
    no copy of the whole file is held."""
    with open(target, "wb") as fh:
        fh.write(b"{")
        for number, (a, found) in enumerate(groupby(pairs, key=lambda pair: pair[0])):
            records = {b: point_record(result) for _, b, result in found}
            fh.write(b"," if number else b"")
            fh.write(orjson.dumps(a) + b":" + orjson.dumps(records))
        fh.write(b"}\n")


def points_of(matches: dict, a: str, b: str) -> dict | None:
    """The matched points of pair (a, b), in a -> b order."""
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


def merged(matches: dict, group_points: dict) -> dict:
    """matches.json with the groups' pairs it does not hold (the groups stage checks pairs of
    the whole graph, verify only each reference's first candidates)."""
    out = {ref: dict(found) for ref, found in matches.items()}
    for a, found in group_points.items():
        for b, record in found.items():
            if b not in out.get(a, {}) and a not in out.get(b, {}):  # held either way round
                out.setdefault(a, {})[b] = record
    return out


def read_points(paths) -> dict:
    """The matched points of every checked pair: verify's and the groups stage's, as far as
    each file is there."""
    files = [Path(paths.matches), Path(paths.group_points)]
    found = [read_json(f) if f.is_file() else {} for f in files]
    return merged(*found)
