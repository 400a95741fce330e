"""The main figures of a run, in a table that fits a terminal: `make metrics [A=rev] [B=rev]`.

    python -m tools.metrics [A [B]]

With no revision, the workspace; with one, that revision (or experiment); with two, both
side by side. `dvc metrics show` prints every figure, in one very wide table.
"""

from __future__ import annotations

import json

from similar import parameters
from similar.errors import UserError, run
from tools.revisions import named_sides, read_output, resolve

# (stage, key in its metrics file, what the row says)
CHOSEN = (
    ("embed", "images", "images embedded"),
    ("embed", "failed", "images that failed"),
    ("embed", "random_weights", "random weights"),
    ("bulk_query", "recall@10", "CNN recall@10"),
    ("bulk_query", "mAP", "CNN mAP"),
    ("verify", "verified_pairs", "verified copies"),
    ("verify", "shared_part_pairs", "pairs sharing a part"),
    ("verify", "mAP", "verified mAP"),
    ("verify", "candidate_recall", "its ceiling (candidate recall)"),
    ("groups", "groups", "groups"),
    ("groups", "grouped_images", "images in groups"),
    ("groups", "largest_group", "largest group"),
    ("groups", "pairwise_precision", "groups pairwise precision"),
    ("groups", "pairwise_recall", "groups pairwise recall"),
    ("groups", "pairwise_f1", "groups pairwise F1"),
)
FILES = {
    "embed": "embed_metrics",
    "bulk_query": "query_metrics",
    "verify": "verify_metrics",
    "groups": "groups_metrics",
}


def read_metrics(config, rev: str | None) -> dict[str, dict]:
    """{stage: its metrics} of one side; a stage without metrics there is {}."""
    out = {}
    for stage, param in FILES.items():
        try:
            out[stage] = json.loads(read_output(str(getattr(config.paths, param)), rev))
        except (UserError, OSError, ValueError):
            out[stage] = {}
    return out


def shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def table(sides: dict[str, dict[str, dict]]) -> list[str]:
    """One row per chosen figure, one column per side."""
    names = list(sides)
    width = max(len(label) for _, _, label in CHOSEN)
    cols = [max(12, len(n)) for n in names]
    lines = [" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols))]
    for stage, key, label in CHOSEN:
        values = [shown(sides[n][stage].get(key)) for n in names]
        lines.append(
            label.ljust(width) + "  " + "  ".join(v.rjust(c) for v, c in zip(values, cols))
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    names = named_sides(argv, "metrics", __doc__.splitlines()[0])
    config = parameters.load()
    sides = {name: read_metrics(config, resolve(name)) for name in names}
    if not any(any(m.values()) for m in sides.values()):
        raise UserError(
            f"no metrics in {' or '.join(names)}: run the pipeline (`make all`), or commit "
            "its dvc.lock there"
        )
    print("\n".join(table(sides)))


if __name__ == "__main__":
    run(main)
