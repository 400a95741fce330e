"""Exact k nearest neighbours of every vector: a blocked matrix product, top k kept per block.

Memory grows with block x N, never with N x N. Two engines give the same graph:
* `faiss` (the CPU): the product of each pair of row blocks is computed once and serves both
  blocks, so the whole graph costs half the products of a plain search (faiss.knn); faiss's
  heaps keep every row's best k as the blocks stream past.
* `torch` (a GPU, or the CPU without faiss): one row block against all vectors, then topk.
Each engine keeps a few more candidates than k; rows come out sorted by score descending,
ties by id (the vectors are put in id order first, so ties by position are ties by id), a row
whose k-th score ties the last candidate is redone in full, and a vector is never its own
neighbour. Same input, same machine: byte-identical result.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UserError
from .ranking import TIE_MARGIN

QUERY_PRODUCT = 1 << 26  # scores (float32) a product of queries against every vector holds

# candidates beyond k that the engines keep, so that ties at the cut are seen


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def sort_rows(scores: np.ndarray, cols: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first k by score descending, ties by column (two stable sorts = lexsort)."""
    by_col = np.argsort(cols, axis=1, kind="stable")
    scores = np.take_along_axis(scores, by_col, 1)
    cols = np.take_along_axis(cols, by_col, 1)
    by_score = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cols, by_score, 1), np.take_along_axis(scores, by_score, 1)


def cuda_present() -> bool:
    """Whether a CUDA device can be used; without an NVIDIA driver on the machine, this is
    answered without importing torch (seconds of start-up the CPU engine does not need)."""
    if not (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidiactl")):
        return False
    import torch

    return torch.cuda.is_available()


def engine_for(device: str, engine: str) -> tuple[str, str]:
    """(device, engine) actually used for `graph.device` / `graph.engine`."""
    import importlib.util

    cuda = cuda_present()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device == "cuda" and not cuda:
        raise UserError(
            "params.yaml: 'graph.device' is cuda but no CUDA device is available; use auto or cpu"
        )
    has_faiss = importlib.util.find_spec("faiss") is not None
    if engine == "auto":
        engine = "faiss" if device == "cpu" and has_faiss else "torch"
    if engine == "faiss" and (device != "cpu" or not has_faiss):
        raise UserError(
            "params.yaml: 'graph.engine' faiss runs on the CPU with faiss-cpu "
            "installed; use auto or torch"
        )
    return device, engine


def knn_faiss(x: np.ndarray, k: int, block: int, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """The best k of every row of `x` against all others, unordered.

    Every heap is first filled from its own diagonal block. Then each pair of blocks (i < j)
    is multiplied once: its rows go through faiss's heaps of block i as they are; for block
    j, only the entries above each column's current k-th best (a small share, after the
    first blocks) are gathered and added, so the product never needs transposing."""
    # faiss's OpenMP threads must not spin while OpenBLAS multiplies on the same cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    n = x.shape[0]
    scores = np.empty((n, k), dtype=np.float32)
    cols = np.empty((n, k), dtype=np.int64)
    heaps = faiss.float_minheap_array_t()
    heaps.nh, heaps.k = n, k
    heaps.val, heaps.ids = faiss.swig_ptr(scores), faiss.swig_ptr(cols)
    heaps.heapify()
    buf = np.empty((block, block), dtype=np.float32)

    def product(i0: int, j0: int) -> np.ndarray:
        xi, xj = x[i0 : i0 + block], x[j0 : j0 + block]
        if len(xi) == block and len(xj) == block:
            return np.matmul(xi, xj.T, out=buf)
        return np.ascontiguousarray(xi @ xj.T)

    starts = list(range(0, n, block))
    for i0 in starts:
        s = product(i0, i0)
        np.fill_diagonal(s, -np.inf)
        heaps.addn(s.shape[1], faiss.swig_ptr(s), i0, i0, s.shape[0])
        if progress:
            progress(1)
    for a, i0 in enumerate(starts):
        for j0 in starts[a + 1 :]:
            s = product(i0, j0)
            ni, nj = s.shape
            heaps.addn(nj, faiss.swig_ptr(s), j0, i0, ni)
            # scores[:, 0] is each heap's top: the k-th best so far
            hits = np.flatnonzero(s > scores[j0 : j0 + nj, 0][None, :])
            if len(hits):
                add_by_column(heaps, s.ravel()[hits], *np.divmod(hits, nj), i0, j0)
            if progress:
                progress(1)
    return cols, scores


def add_by_column(
    heaps, values: np.ndarray, rows: np.ndarray, columns: np.ndarray, i0: int, j0: int
) -> None:
    """Offer each column's candidates (rows of block i0) to the heap of that column (j0 + c)."""
    import faiss

    order = np.argsort(columns, kind="stable")
    values, rows, columns = values[order], rows[order], columns[order]
    heads, first, counts = np.unique(columns, return_index=True, return_counts=True)
    width = int(counts.max())
    slot = np.repeat(np.arange(len(heads)), counts)
    pos = np.arange(len(columns)) - first[slot]
    vals = np.full((len(heads), width), -np.inf, dtype=np.float32)
    ids = np.full((len(heads), width), -1, dtype=np.int64)
    vals[slot, pos] = values
    ids[slot, pos] = rows + i0
    subset = (heads + j0).astype(np.int64)
    heaps.addn_query_subset_with_ids(
        len(subset), faiss.swig_ptr(subset), width, faiss.swig_ptr(vals), faiss.swig_ptr(ids), width
    )


def knn_torch(
    x: np.ndarray, k: int, block: int, device: str, progress=None
) -> tuple[np.ndarray, np.ndarray]:
    """The best k of every row of `x` against all others, by blocks of rows, topk on `device`."""
    import torch

    n = x.shape[0]
    xt = torch.from_numpy(x).to(device)
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # exact float32 products
    cols = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    try:
        for i0 in range(0, n, block):
            s = xt[i0 : i0 + block] @ xt.T
            rows = torch.arange(s.shape[0], device=device)
            s[rows, rows + i0] = -float("inf")
            top = torch.topk(s, k, dim=1)
            scores[i0 : i0 + block] = top.values.cpu().numpy()
            cols[i0 : i0 + block] = top.indices.cpu().numpy()
            if progress:
                progress(1)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_tf32
    return cols, scores


def finish(
    x: np.ndarray, cols: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first k of each row's candidates by score, ties by position; a row whose k-th score
    equals its last candidate's may have more ties beyond the candidates: it is redone in full."""
    cols, scores = sort_rows(scores, cols, cols.shape[1])
    if cols.shape[1] > k:

        def full_row(r: int) -> np.ndarray:
            row = x @ x[r]
            row[r] = -np.inf
            return row

        redo_ties(cols, scores, k, full_row)
    return cols[:, :k], scores[:, :k]


def redo_ties(cols: np.ndarray, scores: np.ndarray, k: int, full_row) -> None:
    """Rows of sorted candidates whose k-th score equals their last candidate's may have more
    ties beyond the candidates: each is ranked again from `full_row(r)` (its scores against
    every column), ties by column, its first k in place."""
    for r in np.flatnonzero(scores[:, k - 1] == scores[:, -1]):
        row = full_row(r)
        order = np.argsort(-row, kind="stable")[:k]
        cols[r, :k], scores[r, :k] = order, row[order]


def exact_knn(
    x: np.ndarray,
    ids,
    k: int,
    distance: str = "cosine",
    device: str = "cpu",
    engine: str = "faiss",
    block: int = 4096,
    progress=None,
    probes: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """(neighbours int32 N x k, scores float32 N x k) of every row of `x`, rows in the order of
    `ids`, neighbours as row indices; best first, ties by id, never the row itself. Engine
    `ivf` is approximate (it searches `probes` lists): a true neighbour may be missed, and one
    found carries its true score."""
    n = x.shape[0]
    by_id = np.argsort(np.asarray(ids), kind="stable")
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[by_id])
    if distance == "cosine":
        xs = unit_rows(xs)
    fetch = min(k + TIE_MARGIN, n - 1)
    if engine == "ivf":
        cols, scores = knn_ivf(xs, fetch, probes, progress)
    elif engine == "faiss":
        cols, scores = knn_faiss(xs, fetch, block, progress)
    else:
        cols, scores = knn_torch(xs, fetch, block, device, progress)
    cols, scores = finish(xs, cols, scores, k)
    back = np.empty(n, dtype=np.int64)
    back[by_id] = np.arange(n)
    neighbours = by_id[cols[back]]
    return neighbours.astype(np.int32), scores[back].astype(np.float32)


def blocks_of_work(n: int, block: int, engine: str) -> int:
    """How many progress steps `exact_knn` reports."""
    if engine == "ivf":
        return n  # rows searched
    b = -(-n // block)
    return b * (b + 1) // 2 if engine == "faiss" else b


def approximate_engine(method: str) -> tuple[str, str]:
    """(device, engine) of the approximate graph: faiss's inverted file, on the CPU."""
    import importlib.util

    if importlib.util.find_spec("faiss") is None:
        raise UserError(
            f"params.yaml: 'graph.method' {method} needs faiss-cpu for the approximate "
            "graph: install it (`pip install -r requirements.txt`), or set graph.method: exact"
        )
    return "cpu", "ivf"


def approximate(method: str, n: int, threshold: int) -> bool:
    """Whether `graph.method` (auto: from `graph.approximate_from` images on) asks for the
    approximate engine."""
    if method == "auto":
        return threshold > 0 and n >= threshold
    return method == "approximate"


def centroids_for(n: int) -> int:
    """k-means lists for `n` vectors: about 4 sqrt(n), each with at least 39 points to
    train on (fewer, larger lists lost recall in measurements: docs/performance.md)."""
    return int(max(1, min(4 * round(n**0.5), n // 39)))


def knn_ivf(x: np.ndarray, k: int, probes: int, progress=None):
    """Each row's k best candidates, unordered, from an inverted file: k-means (faiss, fixed
    seed) puts every row in the list of its nearest centroid; the rows of one list are then
    compared, by one matrix product, with the rows of the `probes` lists whose centroids are
    nearest that list's own. A neighbour found carries its product score; a slot left empty
    (fewer candidates than k) scores -inf and `finish` redoes its row in full."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    n, d = x.shape
    lists = centroids_for(n)
    means = faiss.Kmeans(d, lists, niter=20, seed=1234, max_points_per_centroid=256)
    means.train(x)
    nearest = faiss.IndexFlatIP(d)
    nearest.add(means.centroids)
    owner = nearest.search(x, 1)[1].ravel()
    near = nearest.search(means.centroids, min(probes, lists))[1]
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.arange(lists + 1))
    cols = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    for c in range(lists):
        rows = order[starts[c] : starts[c + 1]]
        if len(rows):
            found = np.concatenate([order[starts[m] : starts[m + 1]] for m in near[c]])
            s = x[rows] @ x[found].T
            s[rows[:, None] == found[None, :]] = -np.inf  # never itself
            m = min(k, len(found))
            best = np.argpartition(-s, m - 1, axis=1)[:, :m]
            cols[rows, :m] = found[best]
            scores[rows, :m] = np.take_along_axis(s, best, 1)
        if progress:
            progress(len(rows))
    return cols, scores


def queries_knn(
    queries: np.ndarray,
    own: np.ndarray,
    x: np.ndarray,
    ids,
    k: int,
    distance: str = "cosine",
    block: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """(neighbours int32 Q x k, scores float32 Q x k): the k rows of `x` nearest each query,
    never the query's `own` row; best first, ties by id, exact (one product of a block of
    queries against every vector at a time, at most `block` queries and QUERY_PRODUCT scores:
    a million images take 64 queries at a time)."""
    n = x.shape[0]
    k = min(k, n - 1)
    by_id = np.argsort(np.asarray(ids), kind="stable")
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[by_id])
    queries = np.asarray(queries, dtype=np.float32)
    if distance == "cosine":
        xs, queries = unit_rows(xs), unit_rows(queries)
    position = np.empty(n, dtype=np.int64)
    position[by_id] = np.arange(n)
    mine = position[np.asarray(own, dtype=np.int64)]
    neighbours = np.empty((len(queries), k), dtype=np.int32)
    scores = np.empty((len(queries), k), dtype=np.float32)
    block = max(1, min(block, QUERY_PRODUCT // n))
    for start in range(0, len(queries), block):
        product = queries[start : start + block] @ xs.T
        product[np.arange(len(product)), mine[start : start + block]] = -np.inf
        best = best_columns(product, k)
        neighbours[start : start + block] = by_id[best]
        scores[start : start + block] = np.take_along_axis(product, best, 1)
    return neighbours, scores


def best_columns(product: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best columns, by score descending, ties by column: the best k plus a
    margin are sorted, and a row whose k-th score ties its margin's last is sorted in full."""
    fetch = min(k + TIE_MARGIN, product.shape[1])
    if fetch == product.shape[1]:
        return np.argsort(-product, axis=1, kind="stable")[:, :k]
    cols = np.argpartition(-product, fetch - 1, axis=1)[:, :fetch]
    cols, scores = sort_rows(np.take_along_axis(product, cols, 1), cols, fetch)
    redo_ties(cols, scores, k, product.__getitem__)
    return cols[:, :k]
