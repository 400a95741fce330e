"""Ground truth for the metrics: which images are copies of each other (`data.groups`).

Two shapes are accepted: `id,group` (images of one group are copies of each other), or the
preview's exported review marks `reference,neighbour,match`, whose confirmed pairs are
joined into groups.
"""

from __future__ import annotations

from .errors import UserError
from .files import read_csv, require_file


def read_groups(path) -> dict[str, str]:
    """Ground truth as id -> group."""
    source = require_file(
        path,
        "ground-truth groups file",
        "set data.groups in params.yaml to a CSV with columns id,group",
    )
    rows = read_csv(source)  # cells as written, the preview's leading ' taken off
    columns = set(rows[0]) if rows else set()
    if {"reference", "neighbour", "match"} <= columns:
        return groups_from_pairs(
            (r["reference"], r["neighbour"])
            for r in rows
            if r["match"].strip() in ("1", "true", "yes")
        )
    if rows and not {"id", "group"} <= columns:
        raise UserError(f"{source}: expected columns id,group or reference,neighbour,match")
    return {r["id"]: r["group"] for r in rows if r["id"] and r["group"]}


def groups_from_pairs(pairs) -> dict[str, str]:
    """Union-find over confirmed copy pairs; each group is named by its smallest id."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}


def read_kinds(path) -> dict[str, str]:
    """id -> kind of case, from the optional `kind` column of an id,group ground truth (the
    sample's: `plain` or a hard case); empty without that column."""
    rows = read_csv(require_file(path, "ground-truth groups file", "set data.groups"))
    if not rows or "kind" not in rows[0]:
        return {}
    return {r["id"]: r["kind"] or "" for r in rows if r["id"]}
