"""What changed between two runs: the CNN neighbour lists, the verified lists, the groups."""

from __future__ import annotations

from collections import defaultdict

from .evaluation import jaccard


def compare_lists(a: list[dict], b: list[dict], k: int) -> dict:
    """Per shared reference, the Jaccard overlap of the two top-k neighbour lists."""
    lists_b = {e["reference"]["id"]: [n["id"] for n in e["neighbours"][:k]] for e in b}
    per_ref = {}
    for e in a:
        ref = e["reference"]["id"]
        if ref in lists_b:
            per_ref[ref] = round(jaccard([n["id"] for n in e["neighbours"][:k]], lists_b[ref]), 6)
    mean = round(sum(per_ref.values()) / len(per_ref), 6) if per_ref else 0.0
    only_a = sorted({e["reference"]["id"] for e in a} - set(lists_b))
    only_b = sorted(set(lists_b) - {e["reference"]["id"] for e in a})
    return {
        f"mean_jaccard@{k}": mean,
        "references": len(per_ref),
        "only_in_a": only_a,
        "only_in_b": only_b,
        "per_reference": per_ref,
    }


def verified_pairs(lists: list[dict], relation: str) -> set[tuple[str, str]]:
    """(reference, neighbour) of every pair the verifier called `relation`."""
    return {
        (e["reference"]["id"], n["id"])
        for e in lists
        for n in e["neighbours"]
        if n.get("relation") == relation
    }


def compare_verified(a: list[dict], b: list[dict]) -> dict:
    """Copies and shared parts found in `a` and `b`: how many, and which were gained or lost."""
    out = {}
    for relation in ("copy", "shares_part"):
        pa, pb = verified_pairs(a, relation), verified_pairs(b, relation)
        out[relation] = {
            "a": len(pa),
            "b": len(pb),
            "gained": [list(p) for p in sorted(pb - pa)],
            "lost": [list(p) for p in sorted(pa - pb)],
        }
    return out


def group_sets(rows: list[dict]) -> dict[str, frozenset[str]]:
    """groups.csv rows (id, group) to {id: the members of its group}."""
    members: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        members[row["group"]].add(row["id"])
    return {i: frozenset(m) for m in members.values() for i in m}


def named(group: frozenset[str]) -> str:
    """A group by its first member and its size (labels are not comparable across runs)."""
    return f"{min(group)} ({len(group)})"


def successor(group: frozenset[str] | None, other: dict) -> frozenset[str] | None:
    """The group of `other` that holds most of `group`'s members (ties: the first by name)."""
    if group is None:
        return None
    held = [other[i] for i in group if i in other]
    if not held:
        return None
    return min(set(held), key=lambda g: (-held.count(g), min(g)))


def reshaped(changed: set[frozenset[str]], a: dict, b: dict, smaller: bool) -> list[dict]:
    """The changed groups of `a` that lived on in one group of `b` that holds only some of
    their members (smaller) or all of them and more (not smaller)."""
    out = []
    for g in sorted(changed, key=min):
        parts = {b[i] for i in g if i in b}
        if len(parts) != 1:
            continue
        (after,) = parts
        alone = all(a.get(i, g) == g for i in after)  # not merged with another group
        if alone and (smaller and after < g or not smaller and after > g):
            out.append({"group": named(g), "now": named(after)})
    return out


def compare_groups(a_rows: list[dict], b_rows: list[dict]) -> dict:
    """Which groups split, merged, shrank, grew, appeared or vanished from `a` to `b`, and
    which images moved: joined a group, left one, or went to another than the rest of theirs
    did."""
    a, b = group_sets(a_rows), group_sets(b_rows)
    sets_a, sets_b = set(a.values()), set(b.values())
    changed_a, changed_b = sets_a - sets_b, sets_b - sets_a

    def into(group: frozenset[str], other: dict) -> set[frozenset[str]]:
        return {other[i] for i in group if i in other}

    split = [(g, into(g, b)) for g in changed_a if len(into(g, b)) > 1]
    merged = [(g, into(g, a)) for g in changed_b if len(into(g, a)) > 1]
    moved = [
        i
        for i in sorted(set(a) | set(b))
        if (i in a) != (i in b) or b.get(i) != successor(a.get(i), b)
    ]
    return {
        "groups": {"a": len(sets_a), "b": len(sets_b), "unchanged": len(sets_a & sets_b)},
        "split": [
            {"group": named(g), "into": sorted(named(p) for p in parts)}
            for g, parts in sorted(split, key=lambda x: min(x[0]))
        ],
        "merged": [
            {"group": named(g), "from": sorted(named(p) for p in parts)}
            for g, parts in sorted(merged, key=lambda x: min(x[0]))
        ],
        "shrank": reshaped(changed_a, a, b, smaller=True),
        "grew": reshaped(changed_a, a, b, smaller=False),
        "vanished": sorted(named(g) for g in changed_a if not into(g, b)),
        "appeared": sorted(named(g) for g in changed_b if not into(g, a)),
        "moved": [
            {"id": i, "a": named(a[i]) if i in a else None, "b": named(b[i]) if i in b else None}
            for i in moved
        ],
    }
