"""The kNN graph of the whole collection (`data/graph/knn.npz`): build, check, write, read.

knn.npz holds arrays, no pickles: `ids` (unicode, images.csv order), `neighbours` (int32
N x k, row indices into ids) and `scores` (float32 N x k, cosine or the store's distance),
rows best first, ties by id, never an image itself. The pictures found on pages
(vectors/pictures.py) have neighbours of their own: `picture_pages` (int32 P, the row of
each picture's page), `picture_neighbours` and `picture_scores` (P x k, as above, never the
picture's own page).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import UserError
from ..files import read_csv, require_file
from . import knn


def read_inputs(vectors_path: Path, index_path: Path, k: int) -> tuple[np.ndarray, list[str]]:
    """The reduced vectors (memory-mapped) and their ids, checked against each other and k."""
    x = np.load(
        require_file(vectors_path, "reduced vectors", "run `dvc repro reduce`"), mmap_mode="r"
    )
    ids = [
        r["id"] for r in read_csv(require_file(index_path, "image index", "run `dvc repro embed`"))
    ]
    if len(ids) != x.shape[0]:
        raise UserError(
            f"{index_path} has {len(ids)} rows but {vectors_path} has {x.shape[0]} "
            "vectors; rerun with `dvc repro -f reduce`"
        )
    if not ids:
        raise UserError(f"{index_path}: the collection is empty; nothing to connect")
    if k > len(ids) - 1:
        raise UserError(
            f"params.yaml: 'graph.k' is {k}, but {len(ids)} images have at most "
            f"{len(ids) - 1} neighbours each; lower it"
        )
    return x, ids


class PictureEdges(NamedTuple):
    """The neighbours of the pictures found on pages: each picture's page (a row), its
    neighbours (rows) and their scores."""

    pages: np.ndarray
    neighbours: np.ndarray
    scores: np.ndarray

    @classmethod
    def none(cls, k: int) -> PictureEdges:
        return cls(np.zeros(0, np.int32), np.zeros((0, k), np.int32), np.zeros((0, k), np.float32))


def picture_edges(x, ids, pictures, k: int, distance: str, block: int) -> PictureEdges:
    """Each picture's k nearest images, never its own page."""
    pages = pictures.rows_in(ids)
    if not len(pages):
        return PictureEdges.none(k)
    neighbours, scores = knn.queries_knn(pictures.vectors, pages, x, ids, k, distance, block)
    return PictureEdges(pages.astype(np.int32), neighbours, scores)


def write_graph(
    target,
    ids: list[str],
    neighbours: np.ndarray,
    scores: np.ndarray,
    pictures: PictureEdges | None = None,
) -> None:
    if pictures is None:
        pictures = PictureEdges.none(neighbours.shape[1])
    with open(target, "wb") as fh:
        np.savez(
            fh,
            ids=np.asarray(ids, dtype=str),
            neighbours=neighbours.astype(np.int32),
            scores=scores.astype(np.float32),
            picture_pages=pictures.pages.astype(np.int32),
            picture_neighbours=pictures.neighbours.astype(np.int32),
            picture_scores=pictures.scores.astype(np.float32),
        )


def read_graph(source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, neighbours, scores) of a knn.npz."""
    path = require_file(source, "kNN graph", "run `dvc repro graph`")
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["ids"], z["neighbours"], z["scores"]
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"{path}: not a kNN graph ({exc}); rerun `dvc repro -f graph`") from None


def read_picture_edges(source) -> PictureEdges:
    """The pictures' neighbours of a knn.npz; none in a graph written before them."""
    with np.load(source, allow_pickle=False) as z:
        if "picture_pages" not in z.files:
            return PictureEdges.none(z["neighbours"].shape[1])
        return PictureEdges(z["picture_pages"], z["picture_neighbours"], z["picture_scores"])


def graph_metrics(neighbours: np.ndarray, scores: np.ndarray) -> dict:
    """Deterministic figures of the graph: its size, scores, and how often an edge is mutual."""
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbours.ravel().astype(np.int64)
    mutual = np.isin(cols * n + rows, rows * n + cols).mean() if n else 0.0
    return {
        "images": int(n),
        "k": int(k),
        "mean_top1_score": round(float(scores[:, 0].mean()), 6),
        f"mean_score@{k}": round(float(scores.mean()), 6),
        "mutual_edges": round(float(mutual), 6),
    }
