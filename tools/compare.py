"""Compare the neighbour lists of two revisions or experiments, reference by reference.

    python -m tools.compare A B [--k 10] [--top 10]

A and B are git revisions (HEAD, a tag, a commit), DVC experiment names (as `dvc exp show`
lists them) or `workspace`. neighbours.json is read through DVC from each, so it need not
be checked out. Prints the mean Jaccard@k of the two lists and the references whose
neighbours changed most; writes reports/compare.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from similar import parameters
from similar.errors import UserError, run
from similar.evaluation import jaccard
from similar.files import read_text, write_json


def resolve(rev: str) -> str | None:
    """A git revision for `rev`; None for the workspace.

    Experiment names resolve to their commit.
    """
    if rev in ("workspace", ""):
        return None
    if rev.startswith("-"):
        raise UserError(f"'{rev}' is not a revision or experiment name")
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True
        ).returncode
        == 0
    ):
        return rev
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    matches = [line.split()[1] for line in refs if line.split()[0].rsplit("/", 1)[-1] == rev]
    if len(matches) == 1:
        return matches[0]
    raise UserError(
        f"'{rev}' is neither a git revision nor a DVC experiment name (see `dvc exp show`)"
    )


def read_neighbours(path: str, rev: str | None) -> list[dict]:
    if rev is None:
        return json.loads(read_text(path))
    import dvc.api

    try:
        return json.loads(dvc.api.read(path, rev=rev, encoding="utf-8"))
    except Exception as exc:  # dvc raises many kinds for a missing file or cache entry
        raise UserError(
            f"cannot read {path} at {rev} ({exc.__class__.__name__}); was the "
            "pipeline run and committed there? `dvc pull` may fetch it"
        ) from None


def compare(a: list[dict], b: list[dict], k: int) -> dict:
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
    path = str(config.paths.neighbours)
    result = compare(
        read_neighbours(path, resolve(args.a)), read_neighbours(path, resolve(args.b)), args.k
    )
    result = {"a": args.a, "b": args.b, **result}
    write_json(config.paths.reports / "compare.json", result)
    key = f"mean_jaccard@{args.k}"
    print(
        f"{args.a} vs {args.b}: {result['references']} shared references, {key} {result[key]:.4f}"
    )
    changed = sorted(result["per_reference"].items(), key=lambda kv: (kv[1], kv[0]))[: args.top]
    if changed:
        print(f"most changed (Jaccard@{args.k}):")
        for ref, value in changed:
            print(f"  {value:.3f}  {ref}")
    for side in ("only_in_a", "only_in_b"):
        if result[side]:
            print(f"{len(result[side])} references {side.replace('_', ' ')}", file=sys.stderr)
    print(f"written: {config.paths.reports / 'compare.json'}")


if __name__ == "__main__":
    run(main)
