"""Exact search by matrix product: the references' rows times the vectors the store was loaded
from, faiss's blocked product and heaps, rescored in float64, ranked as every engine ranks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..errors import UserError
from ..files import read_ids_urls, require_file
from ..progress import over
from .knn import unit_rows
from .neighbours import entry
from .ranking import TIE_MARGIN, Hit, rank

QUERY_BLOCK = 4096  # references per faiss.knn call (it multiplies them in blocks of its own)


def product_matrix(reduced_path, count: int, distance: str) -> np.ndarray:
    """The vectors the store was loaded from, as float32 rows ready for dot products."""
    x = np.load(
        require_file(reduced_path, "reduced vectors", "run `dvc repro reduce`"), mmap_mode="r"
    )
    if x.shape[0] != count:
        raise UserError(
            f"{reduced_path} has {x.shape[0]} vectors but vectors.jsonl has {count}; "
            "rerun `dvc repro -f attach_iiif`"
        )
    return unit_rows(x) if distance == "cosine" else np.ascontiguousarray(x, dtype=np.float32)


def top_hits(
    x: np.ndarray,
    rows: np.ndarray,
    ids: list[str],
    urls: list,
    limit: int,
    queries: np.ndarray | None = None,
) -> Iterator[list[Hit]]:
    """Each row's `limit` best other rows as ranked Hits: `limit + TIE_MARGIN` candidates from
    faiss's blocked float32 product and heaps, scored again in float64 (so the 6 printed
    decimals do not depend on the BLAS), then the store's own ranking (ties by id). With
    `queries` (one vector per row, as x's rows are scaled), each is searched with instead of
    its row, which is only kept out of its list (the picture found on a page: never its page)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    n = x.shape[0]
    m = min(limit + TIE_MARGIN + 1, n)  # + 1: the row itself is among its own results
    for start in range(0, len(rows), QUERY_BLOCK):
        chunk = rows[start : start + QUERY_BLOCK]
        asked = x[chunk] if queries is None else queries[start : start + QUERY_BLOCK]
        asked = np.ascontiguousarray(asked, dtype=np.float32)
        _, cand = faiss.knn(asked, x, m, metric=faiss.METRIC_INNER_PRODUCT)
        for r, vector, cols in zip(chunk, asked, cand):
            cols = cols[(cols != r) & (cols >= 0)]
            exact = x[cols].astype(np.float64) @ vector.astype(np.float64)
            yield rank(
                [Hit(ids[c], urls[c], s) for c, s in zip(cols, exact)], limit, exclude=ids[r]
            )


def search_product(x: np.ndarray, ids: list[str], urls: list, refs: list[str], limit: int):
    """Entries for neighbours.json by matrix product, in reference order, and the ids not in
    the collection: the same lists as the store's exact search, at the speed of a product."""
    row = {iid: i for i, iid in enumerate(ids)}
    present = [r for r in refs if r in row]
    missing = [r for r in refs if r not in row]
    rows = np.array([row[r] for r in present], dtype=np.int64)
    entries = [
        entry(ids[r], urls[r], hits)
        for r, hits in zip(
            rows,
            over(top_hits(x, rows, ids, urls, limit), len(rows), "bulk_query", "ref"),
        )
    ]
    return entries, missing


def picture_hits(
    x: np.ndarray, ids: list[str], urls: list, pictures, limit: int, distance: str
) -> dict[str, list[Hit]]:
    """page id -> the `limit` nearest images of the picture found on it (vectors/pictures.py,
    projected as x was), never the page itself."""
    if not len(pictures):
        return {}
    queries = unit_rows(pictures.vectors) if distance == "cosine" else pictures.vectors
    found = top_hits(x, pictures.rows_in(ids), ids, urls, limit, queries)
    return dict(zip(map(str, pictures.ids), found))


def exact_lists(vectors_file, reduced_path, distance: str, refs: list[str], top: int) -> dict:
    """id -> the `top` neighbour entries of each of `refs`, by the exact product search."""
    ids, urls = read_ids_urls(vectors_file)
    x = product_matrix(reduced_path, len(ids), distance)
    found, _ = search_product(x, ids, urls, refs, top)
    return {e["reference"]["id"]: e["neighbours"] for e in found}
