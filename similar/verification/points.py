"""The matched points of checked pairs: verify's matches.json and the groups stage's points.json,
each a -> b -> {mirrored, points}, read as one index of arrays (`Points`).

Both are written one reference to a line (one JSON object all the same), so that they are
read a line at a time: a dense collection of 10,000 images holds the points of about 94,000
pairs, which as Python lists took about a gigabyte."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from pathlib import Path

import numpy as np
import orjson

CHECKED = ("copy", "shares_part")
PAIR_LISTS = ("edges", "possible", "shared_parts")  # groups.json's lists of pairs


def point_record(result) -> dict:
    """A pair's entry in matches.json or points.json: mirrored, and its inlier matches (the
    result's own tuples, not copied)."""
    return {"mirrored": result.mirrored, "points": result.matches}


def write_points(target, pairs: Iterable[tuple[str, str, object]]) -> None:
    """points.json from (a, b, result) sorted by a: one reference written at a time, one to a
    line, so that no copy of the whole file is held, written or read."""
    with open(target, "wb") as fh:
        fh.write(b"{")
        for number, (a, found) in enumerate(groupby(pairs, key=lambda pair: pair[0])):
            records = {b: point_record(result) for _, b, result in found}
            fh.write(reference_line(number, a, records))
        fh.write(b"\n}\n")


def records_bytes(matches: dict) -> bytes:
    """matches.json: a -> b -> record, laid out as points.json is (one reference to a line)."""
    lines = [reference_line(number, a, found) for number, (a, found) in enumerate(matches.items())]
    return b"{" + b"".join(lines) + b"\n}\n"


def reference_line(number: int, a: str, records: dict) -> bytes:
    """One reference's records on a line of its own, after a comma past the first."""
    return (b",\n" if number else b"\n") + orjson.dumps(a) + b":" + orjson.dumps(records)


class Points:
    """Matched points by pair, all in one float32 array: (a, b) -> the rows it holds there
    and whether the pair was mirrored. verify's file may hold a pair both ways round (each
    image a reference with the other among its candidates: two checks, each its own
    points); a later file only fills the pairs held neither way."""

    def __init__(self):
        self.where: dict[tuple[str, str], tuple[int, int, bool]] = {}
        self.chunks: list[np.ndarray] = []
        self.rows = 0
        self.array = np.zeros((0, 4), np.float32)

    @classmethod
    def of(cls, first: dict, *filling: dict) -> Points:
        """The points of a -> b -> record mappings: the first's, then the pairs the others
        add."""
        points = cls()
        points.add_all(first)
        for source in filling:
            points.add_all(source, fill=True)
        return points.done()

    def add_all(self, source: dict, fill: bool = False) -> None:
        for a, found in source.items():
            for b, record in found.items():
                self.add(a, b, record, fill)

    def add(self, a: str, b: str, record: dict, fill: bool = False) -> None:
        """Keep a pair's record unless it is held already (with `fill`: either way round)."""
        if (a, b) in self.where or (fill and (b, a) in self.where):
            return
        points = np.asarray(record.get("points") or [], np.float32).reshape(-1, 4)
        self.where[(a, b)] = (self.rows, len(points), bool(record.get("mirrored")))
        self.chunks.append(points)
        self.rows += len(points)

    def done(self) -> Points:
        if self.chunks:
            self.array = np.concatenate([self.array, *self.chunks])
            self.chunks = []
        return self

    def record(self, a: str, b: str) -> dict | None:
        """The pair's record as it was written (a -> b), or None."""
        found = self.where.get((a, b))
        if found is None:
            return None
        start, count, mirrored = found
        # written to 4 decimals: float32 gives them back exactly at that precision
        points = np.round(self.array[start : start + count].astype(np.float64), 4).tolist()
        return {"mirrored": mirrored, "points": points}

    def __len__(self) -> int:
        return len(self.where)


def points_of(points: Points, a: str, b: str) -> dict | None:
    """The matched points of pair (a, b), in a -> b order."""
    found = points.record(a, b)
    if found is not None:
        return found
    found = points.record(b, a)
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


def add_points_file(points: Points, path: Path, fill: bool = False) -> None:
    """The records of a matches.json or points.json, a line at a time where it was written
    so (whole otherwise)."""
    with open(path, "rb") as fh:
        first = fh.readline()
        if first.strip() != b"{":  # not one reference to a line: read it whole
            points.add_all(orjson.loads(first + fh.read()), fill)
            return
        for line in fh:
            line = line.strip().rstrip(b",")
            if line and line != b"}":
                points.add_all(orjson.loads(b"{" + line + b"}"), fill)


def read_points(paths) -> Points:
    """The matched points of every checked pair: verify's, then the groups stage's for the
    pairs verify did not keep (it checks pairs of the whole graph, verify only each
    reference's first candidates), as far as each file is there."""
    points = Points()
    for path, fill in ((Path(paths.matches), False), (Path(paths.group_points), True)):
        if path.is_file():
            add_points_file(points, path, fill)
    return points.done()
