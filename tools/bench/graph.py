"""Section graph: the graph stage (whole process) against faiss.knn (whole process) on the same
synthetic vectors (`--graph-points`, 100k by default), and the stage's approximate graph
(`graph.method: approximate`) on them: its seconds and its recall@20 against the exact one.
The vectors have the structure of embeddings (topics, sub-topics, near-copies): on
structureless random vectors no approximate index finds neighbours."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .runner import Row, python_module, run_process, run_stage, vector_project, write_params

K = 20


def measure(work: Path, options) -> dict:
    from similar.search.graph import read_graph

    n = options.graph_points
    project = work / f"graph-{n}"
    vector_project(project, n, seed=4, like_embeddings=True)
    write_params(project, graph={"k": K, "method": "approximate"})
    approximate_s, approximate_rss = run_stage("graph", project)
    _, approximate, _ = read_graph(project / "data/graph/knn.npz")
    write_params(project, graph={"k": K, "method": "exact"})
    seconds, rss = run_stage("graph", project)
    knn = python_module("tools.bench.knn_baseline", "data/reduced/vectors.npy", K, "faiss.npy")
    faiss_s, faiss_rss = run_process(knn, project)
    _, ours, _ = read_graph(project / "data/graph/knn.npz")
    theirs = np.load(project / "faiss.npy")
    agree = np.mean([len(set(a) & set(b)) / K for a, b in zip(ours.tolist(), theirs.tolist())])
    recall = np.mean(
        [len(set(a) & set(b)) / K for a, b in zip(approximate.tolist(), ours.tolist())]
    )
    engine = json.loads((project / "reports/graph.json").read_text())["engine"]
    shutil.rmtree(project)
    return {
        "points": n,
        "k": K,
        "engine": engine,
        "seconds": round(seconds, 2),
        "faiss_seconds": round(faiss_s, 2),
        "seconds_over_faiss": round(seconds / faiss_s, 3),
        "peak_rss_mib": rss,
        "faiss_peak_rss_mib": faiss_rss,
        "neighbours_agreeing_with_faiss": round(float(agree), 6),
        "approximate_seconds": round(approximate_s, 2),
        "approximate_peak_rss_mib": approximate_rss,
        f"approximate_recall@{K}": round(float(recall), 6),
    }


def rows(g: dict) -> list[Row]:
    return [
        Row(
            f"graph {g['points']} x {g['k']} ({g['engine']}) / faiss.knn, whole processes",
            f"{g['seconds']} s / {g['faiss_seconds']} s = {g['seconds_over_faiss']}, "
            f"peak RSS {g['peak_rss_mib']} MiB (faiss {g['faiss_peak_rss_mib']} MiB)",
        ),
        Row(
            f"graph {g['points']} x {g['k']}, approximate (graph.method) / exact",
            f"{g['approximate_seconds']} s / {g['seconds']} s, recall@{g['k']} "
            f"{g[f'approximate_recall@{K}']}",
        ),
    ]
