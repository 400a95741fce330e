"""Stage `graph`: the exact kNN graph of the whole collection, at the speed of the hardware.

Reads the reduced vectors and images.csv; writes data/graph/knn.npz (every image's
`graph.k` nearest neighbours with their scores) and its metrics. A blocked matrix product
with top k per block: faiss heaps on the CPU, torch topk on a GPU.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from similar import graph, knn, settings
from similar.errors import run
from similar.files import json_bytes, staged_outputs


def main() -> None:
    s = settings.load()
    g = s.graph
    started = time.perf_counter()
    x, ids = graph.read_inputs(s.paths.reduced, s.paths.image_index, g.k)
    device, engine = knn.engine_for(g.device, g.engine)
    with tqdm(
        total=knn.blocks_of_work(len(ids), g.block, engine),
        desc="graph",
        unit="block",
        disable=None,
    ) as bar:
        neighbours, scores = knn.exact_knn(
            x, ids, g.k, s.qdrant.distance, device, engine, g.block, bar.update
        )
    seconds = time.perf_counter() - started
    metrics = graph.graph_metrics(neighbours, scores)
    with staged_outputs() as out:
        graph.write_graph(out.path(s.paths.graph), ids, neighbours, scores)
        out.write_bytes(s.paths.graph_metrics, json_bytes(metrics))
        out.write_bytes(
            s.paths.reports / "graph.json",
            json_bytes(
                {
                    "images": len(ids),
                    "k": g.k,
                    "device": device,
                    "engine": engine,
                    "block": g.block,
                    "seconds": round(seconds, 3),
                }
            ),
        )
    print(
        f"graph: {len(ids)} images x {g.k} neighbours ({engine} on {device}) -> {s.paths.graph}, "
        f"{seconds:.1f}s"
    )


if __name__ == "__main__":
    run(main)
