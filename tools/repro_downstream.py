"""Run the query-side stages whose outputs are missing, on a clone without the images.

After `dvc repro --allow-missing` (which skips every stage with missing data), a clone that
pulled only the vectors still lacks the neighbours and the preview. This runs `ingest`,
`bulk_query` and `preview`, in that order, each alone and only when DVC reports it stale
and all of its inputs are here; it never runs `embed` or `reduce`.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

QUERY_SIDE = ("ingest", "bulk_query", "preview")


def stale_with_inputs(stage: str) -> bool:
    out = subprocess.run(["dvc", "status", "--json", stage], capture_output=True, text=True,
                         check=True).stdout
    entries = json.loads(out or "{}").get(stage, [])
    if not entries:
        return False
    deps = {path for e in entries if isinstance(e, dict) for path in e.get("changed deps", {})}
    return all(Path(p).exists() for p in deps)


def main() -> None:
    for stage in QUERY_SIDE:
        if stale_with_inputs(stage):
            print(f"+ dvc repro --single-item --force {stage}", flush=True)
            subprocess.run(["dvc", "repro", "--single-item", "--force", stage], check=True)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)
