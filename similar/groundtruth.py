"""Ground truth for the metrics: which images are copies of each other (`data.groups`).

Two shapes are accepted: `id,group` (images of one group are copies of each other), or the
preview's exported review marks `reference,neighbour,match[,relation]`, whose confirmed copy
pairs are joined into groups; a mark whose relation is `shares_part` judged another question
(do the two share a part?) and never makes a copy.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import UserError
from .files import read_csv, require_file

RELATIONS = ("copy", "shares_part")
YES, NO = ("1", "true", "yes"), ("0", "false", "no")


class Mark(NamedTuple):
    """One judged pair of the preview's export."""

    reference: str
    neighbour: str
    match: bool
    relation: str

    @property
    def copy(self) -> bool:
        return self.relation == "copy"


def marks_of(rows: list[dict], source) -> list[Mark]:
    """The marks of an export's rows (no relation column: every mark judged a copy)."""
    out = []
    for number, r in enumerate(rows, start=2):
        relation = (r.get("relation") or "copy").strip()
        value = r["match"].strip().lower()
        if relation not in RELATIONS or value not in YES + NO:
            raise UserError(
                f"{source}, line {number}: match must be 1 or 0 and relation copy or "
                f"shares_part, got {r['match']!r} and {relation!r}"
            )
        out.append(Mark(r["reference"], r["neighbour"], value in YES, relation))
    return out


def read_marks(path) -> list[Mark] | None:
    """The review marks of a `data.groups` export; None when the file is an id,group list."""
    source = require_file(path, "ground-truth groups file", "set data.groups")
    rows = read_csv(source)
    if not rows or not {"reference", "neighbour", "match"} <= set(rows[0]):
        return None
    return marks_of(rows, source)


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
            (m.reference, m.neighbour) for m in marks_of(rows, source) if m.copy and m.match
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
