"""The approach `make bench` compares the graph stage against: faiss.knn over all vectors.

    python -m tools.bench.knn_baseline VECTORS.npy K OUT.npy

The same unit-length float32 vectors, every row searched against all of them (faiss's
blocked product and heaps); the row itself is dropped from its k+1 results.
"""

from __future__ import annotations

import sys

import faiss
import numpy as np


def main(vectors: str, k: str, out: str) -> None:
    x = np.load(vectors).astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    _, found = faiss.knn(x, x, int(k) + 1, metric=faiss.METRIC_INNER_PRODUCT)
    own = found == np.arange(len(x))[:, None]
    rows = [row[~mask][: int(k)] for row, mask in zip(found, own)]
    np.save(out, np.stack(rows))


if __name__ == "__main__":
    main(*sys.argv[1:4])
