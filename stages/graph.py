"""Stage `graph`: the kNN graph of the whole collection, at the speed of the hardware.

Reads the reduced vectors, the pictures found on pages and images.csv; writes
data/graph/knn.npz (every image's `graph.k` nearest neighbours with their scores, and every
picture's, exact) and its metrics. Exact: a blocked matrix
product with top k per block (faiss heaps on the CPU, torch topk on a GPU); past
`graph.approximate_from` images, an inverted file (faiss IVF) searched approximately.
"""

from __future__ import annotations

import time

from similar import parameters
from similar.errors import run
from similar.files import json_bytes, staged_outputs
from similar.progress import bar
from similar.search import graph, knn
from similar.vectors.pictures import Pictures


def main() -> None:
    config = parameters.load()
    options, paths = config.graph, config.paths
    started = time.perf_counter()
    x, ids = graph.read_inputs(paths.reduced, paths.image_index, options.k)
    device, engine = knn.engine_for(options.device, options.engine)
    if knn.approximate(options.method, len(ids), options.approximate_from):
        device, engine = knn.approximate_engine(options.method)
    steps = knn.blocks_of_work(len(ids), options.block, engine)
    with bar(steps, "graph", "block") as shown:
        neighbours, scores = knn.exact_knn(
            x,
            ids,
            options.k,
            config.qdrant.distance,
            device,
            engine,
            options.block,
            shown.update,
            options.probes,
        )
    found = Pictures.read(paths.reduced_pictures, "reduce")
    pictures = graph.picture_edges(x, ids, found, options.k, config.qdrant.distance, options.block)
    seconds = time.perf_counter() - started
    metrics = graph.graph_metrics(neighbours, scores)
    metrics["pictures"] = len(found)
    report = {
        "images": len(ids),
        "k": options.k,
        "device": device,
        "engine": engine,
        "block": options.block,
        "probes": options.probes if engine == "ivf" else None,
    }
    report["seconds"] = round(seconds, 3)
    with staged_outputs() as out:
        graph.write_graph(out.path(paths.graph), ids, neighbours, scores, pictures)
        out.write_bytes(paths.graph_metrics, json_bytes(metrics))
        out.write_bytes(paths.reports / "graph.json", json_bytes(report))
    print(
        f"graph: {len(ids)} images x {options.k} neighbours ({engine} on {device}), "
        f"pictures found on pages: {len(found)} -> {paths.graph}, {seconds:.1f}s"
    )


if __name__ == "__main__":
    run(main)
