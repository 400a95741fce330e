"""Section groups: the groups stage (whole process, no verification) on a synthetic kNN graph
(`--groups-points`, 1M images by default) with planted groups of copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .runner import Row, empty_ground_truth, run_stage, write_index, write_params

K = 20
MIN_SCORE = 0.7


def synthetic_graph(n: int, k: int, seed: int = 5) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A kNN graph of n images: random weak neighbours, and one image in ten in a planted
    group of 2 to 8 copies whose members are each other's best neighbours."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:07d}" for i in range(n)]
    neighbours = rng.integers(0, n - 1, size=(n, k), dtype=np.int64)
    neighbours += neighbours >= np.arange(n)[:, None]  # never itself
    scores = np.sort(rng.uniform(0.0, 0.6, size=(n, k)).astype(np.float32), axis=1)[:, ::-1]
    start = 0
    while start < n // 10:
        size = int(rng.integers(2, 9))
        members = np.arange(start, start + size) * 10
        members = members[members < n]
        for m in members:
            others = [o for o in members if o != m][:k]
            neighbours[m, : len(others)] = others
            scores[m, : len(others)] = np.linspace(0.95, 0.8, len(others))
        start += size
    return ids, neighbours.astype(np.int32), scores


def measure(work: Path, options) -> dict:
    from similar.search.graph import write_graph

    n = options.groups_points
    project = work / f"groups-{n}"
    for folder in ("data/graph", "data/vectors"):
        (project / folder).mkdir(parents=True)
    ids, neighbours, scores = synthetic_graph(n, K)
    write_graph(project / "data/graph/knn.npz", ids, neighbours, scores)
    write_index(project, ids)
    with open(project / "data/vectors/vectors.jsonl", "w") as fh:
        fh.writelines(f'{{"id":"{i}","url":null,"vector":[0.0]}}\n' for i in ids)
    write_params(
        project,
        data={"groups": empty_ground_truth(project)},
        groups={"k": K, "min_score": MIN_SCORE, "verify": False},
    )
    seconds, rss = run_stage("groups", project)
    m = json.loads((project / "metrics/groups.json").read_text())
    shutil.rmtree(project)
    return {
        "images": n,
        "k": K,
        "min_score": MIN_SCORE,
        "seconds": round(seconds, 2),
        "peak_rss_mib": rss,
        "groups": m["groups"],
        "grouped_images": m["grouped_images"],
    }


def rows(g: dict) -> list[Row]:
    return [
        Row(
            f"groups {g['images']} x {g['k']}, unverified, whole process",
            f"{g['seconds']} s, peak RSS {g['peak_rss_mib']} MiB, {g['groups']} groups",
        )
    ]
