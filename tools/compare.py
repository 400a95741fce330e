"""Compare two revisions or experiments: CNN lists, verified lists and groups.

    python -m tools.compare A B [--k 10] [--top 10]

A and B are git revisions (HEAD, a tag, a commit), DVC experiment names (as `dvc exp show`
lists them) or `workspace`. The outputs are read through DVC from each, so they need not
be checked out. Prints the mean Jaccard@k of the CNN lists and the references whose lists
changed most; the copies and shared parts the verifier found, gained and lost; the groups
that split, merged, appeared or vanished, and the images that moved. Writes
reports/compare.json.
"""

from __future__ import annotations

import argparse
import json
import sys

from similar import parameters
from similar.changes import compare_groups, compare_lists, compare_verified
from similar.errors import UserError, run
from similar.files import parse_csv, write_json
from tools.revisions import read_output, resolve


def read_side(config, rev: str | None) -> dict:
    """The neighbour lists of one side, and its verified lists and groups where it has them
    (None for a revision from before verify or groups ran)."""
    paths = config.paths
    return {
        "neighbours": json.loads(read_output(str(paths.neighbours), rev)),
        "verified": optional(lambda: json.loads(read_output(str(paths.verified), rev))),
        "groups": optional(lambda: parse_csv(read_output(str(paths.groups_csv), rev))),
    }


def optional(read):
    try:
        return read()
    except (UserError, OSError):
        return None


def compare(a: dict, b: dict, k: int) -> dict:
    both = {key: a[key] is not None and b[key] is not None for key in ("verified", "groups")}
    return {
        **compare_lists(a["neighbours"], b["neighbours"], k),
        "verified": compare_verified(a["verified"], b["verified"]) if both["verified"] else None,
        "groups": compare_groups(a["groups"], b["groups"]) if both["groups"] else None,
    }


def report_lists(result: dict, k: int, top: int) -> list[str]:
    key = f"mean_jaccard@{k}"
    lines = [f"CNN lists: {result['references']} shared references, {key} {result[key]:.4f}"]
    changed = sorted(
        ((ref, v) for ref, v in result["per_reference"].items() if v < 1),
        key=lambda kv: (kv[1], kv[0]),
    )
    if changed:
        lines.append(f"  most changed (Jaccard@{k}):")
        lines += [f"    {value:.3f}  {ref}" for ref, value in changed[:top]]
    return lines


def report_verified(verified: dict, top: int) -> list[str]:
    lines = []
    for relation, label in (("copy", "copies"), ("shares_part", "shared parts")):
        v = verified[relation]
        lines.append(
            f"verified {label}: {v['a']} -> {v['b']} pairs "
            f"(+{len(v['gained'])} gained, -{len(v['lost'])} lost)"
        )
        for sign, pairs in (("+", v["gained"]), ("-", v["lost"])):
            lines += [f"    {sign} {r} ~ {n}" for r, n in pairs[:top]]
    return lines


def report_groups(g: dict, top: int) -> list[str]:
    n = g["groups"]
    lines = [
        f"groups: {n['a']} -> {n['b']} ({n['unchanged']} unchanged); {len(g['split'])} split, "
        f"{len(g['merged'])} merged, {len(g['shrank'])} shrank, {len(g['grew'])} grew, "
        f"{len(g['appeared'])} appeared, {len(g['vanished'])} vanished; "
        f"{len(g['moved'])} images moved"
    ]
    lines += [f"  split:    {s['group']} -> {', '.join(s['into'])}" for s in g["split"][:top]]
    lines += [f"  merged:   {', '.join(m['from'])} -> {m['group']}" for m in g["merged"][:top]]
    lines += [f"  shrank:   {x['group']} -> {x['now']}" for x in g["shrank"][:top]]
    lines += [f"  grew:     {x['group']} -> {x['now']}" for x in g["grew"][:top]]
    lines += [f"  appeared: {x}" for x in g["appeared"][:top]]
    lines += [f"  vanished: {x}" for x in g["vanished"][:top]]
    lines += [
        f"  moved:    {m['id']}: {m['a'] or 'no group'} -> {m['b'] or 'no group'}"
        for m in g["moved"][:top]
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--k", default="10")
    ap.add_argument("--top", type=int, default=10, help="references to list (most changed)")
    args = ap.parse_args(argv)
    if not args.a or not args.b:
        raise UserError(
            "usage: make compare A=<rev or experiment> B=<rev, experiment or workspace> [K=10]"
        )
    if not str(args.k).isdigit() or int(args.k) < 1:
        raise UserError(f"K must be a whole number of at least 1, got {args.k!r}")
    args.k = int(args.k)
    config = parameters.load()
    result = {
        "a": args.a,
        "b": args.b,
        **compare(read_side(config, resolve(args.a)), read_side(config, resolve(args.b)), args.k),
    }
    write_json(config.paths.reports / "compare.json", result)
    print(f"{args.a} vs {args.b} (names: first member and size of a group)")
    lines = report_lists(result, args.k, args.top)
    for key, report in (("verified", report_verified), ("groups", report_groups)):
        if result[key] is None:
            lines.append(f"{key}: not in both (run verify and groups there, or `dvc pull`)")
        else:
            lines += report(result[key], args.top)
    print("\n".join(lines))
    for side in ("only_in_a", "only_in_b"):
        if result[side]:
            print(f"{len(result[side])} references {side.replace('_', ' ')}", file=sys.stderr)
    print(f"written: {config.paths.reports / 'compare.json'}")


if __name__ == "__main__":
    run(main)
