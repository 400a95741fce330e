"""Groups of copies: the reuse map of a whole collection, from its kNN graph.

Candidate edges are each image's first `groups.k` graph neighbours scoring at least
`groups.min_score` (with `groups.mutual`, only pairs that are in each other's lists). With
`groups.verify` each candidate is checked by the verifier and kept only with at least
`groups.min_inliers` inliers. Groups are the connected components of the kept edges
(scipy.sparse.csgraph), named by their smallest member id, so a name stays as long as its
group does, and adding images changes only the groups they join.
"""

from __future__ import annotations

import numpy as np

PLOT_STEPS = 20


def candidate_edges(
    neighbours: np.ndarray, scores: np.ndarray, k: int, min_score: float, mutual: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (a < b, sorted) with their best score in either direction."""
    n, width = neighbours.shape
    k = min(k, width)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbours[:, :k].ravel().astype(np.int64)
    s = scores[:, :k].ravel()
    keep = s >= min_score
    rows, cols, s = rows[keep], cols[keep], s[keep]
    if mutual:
        directed = rows * n + cols
        keep = np.isin(cols * n + rows, directed)
        rows, cols, s = rows[keep], cols[keep], s[keep]
    a, b = np.minimum(rows, cols), np.maximum(rows, cols)
    key = a * n + b
    order = np.lexsort((-s, key))  # per edge, its best score first
    key, s = key[order], s[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    key, s = key[first], s[first]
    return key // n, key % n, s.astype(np.float32)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected component of every node (labels 0..c-1)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def named_groups(labels: np.ndarray, ids) -> list[tuple[str, np.ndarray]]:
    """(name, member rows sorted by id) of every component of two or more, largest first,
    then by name; a group is named by its smallest member id."""
    ids = np.asarray(ids)
    by_id = np.argsort(ids, kind="stable")
    sizes = np.bincount(labels)
    out = []
    order = by_id[np.argsort(labels[by_id], kind="stable")]  # by label, then by id
    bounds = np.cumsum(sizes)
    for label in np.flatnonzero(sizes >= 2):
        members = order[bounds[label] - sizes[label] : bounds[label]]
        out.append((str(ids[members[0]]), members))
    out.sort(key=lambda g: (-len(g[1]), g[0]))
    return out


def pairwise(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Pairwise precision, recall and F1 of a grouping against ground truth: over all pairs of
    images put together. Labels are per image; a label seen once stands alone."""

    def pairs(counts):
        return int((counts * (counts - 1) // 2).sum())

    _, pred_counts = np.unique(pred, return_counts=True)
    _, truth_counts = np.unique(truth, return_counts=True)
    _, both_counts = np.unique(np.stack([pred, truth]), axis=1, return_counts=True)
    together, correct, expected = pairs(pred_counts), pairs(both_counts), pairs(truth_counts)
    precision = correct / together if together else 1.0
    recall = correct / expected if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairwise_precision": round(precision, 6),
        "pairwise_recall": round(recall, 6),
        "pairwise_f1": round(f1, 6),
    }


def truth_labels(ids, groups: dict[str, str]) -> np.ndarray:
    """Ground-truth label per image; an image without one is alone in its own."""
    names: dict[str, int] = {}
    out = np.empty(len(ids), dtype=np.int64)
    for i, iid in enumerate(ids):
        g = groups.get(str(iid))
        out[i] = names.setdefault(g, len(names)) if g else -1 - i
    return out


def threshold_curve(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    scores: np.ndarray,
    kept: np.ndarray,
    truth: np.ndarray,
    lowest: float,
) -> list[tuple]:
    """Rows of (min_score, precision, recall, f1, cnn_precision, cnn_recall, cnn_f1): groups
    from the kept (verified) edges scoring at least each threshold, and from all candidate
    edges at that threshold (what the CNN score alone would give)."""
    top = float(scores.max()) if len(scores) else 1.0
    rows = []
    for t in np.linspace(lowest, max(lowest, top), PLOT_STEPS):
        at = scores >= t
        v = pairwise(components(n, a[at & kept], b[at & kept]), truth)
        c = pairwise(components(n, a[at], b[at]), truth)
        rows.append(
            (
                f"{t:.4f}",
                *(
                    f"{x:.6f}"
                    for x in (
                        v["pairwise_precision"],
                        v["pairwise_recall"],
                        v["pairwise_f1"],
                        c["pairwise_precision"],
                        c["pairwise_recall"],
                        c["pairwise_f1"],
                    )
                ),
            )
        )
    return rows


def pairs_within(*labels: np.ndarray) -> int:
    """Pairs of items that share every one of the given labels."""
    if not len(labels[0]):
        return 0
    _, counts = np.unique(np.stack(labels), axis=1, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_by_kind(pred: np.ndarray, truth: np.ndarray, kinds) -> dict:
    """Pairwise precision and recall per kind of case: over the pairs with a member of that
    kind (put together, for precision; truly together, for recall)."""
    kinds = np.asarray(kinds)
    out = {}
    for kind in sorted(set(kinds.tolist())):
        other = kinds != kind

        def mine(*labels, other=other):  # pairs with at least one member of the kind
            return pairs_within(*labels) - pairs_within(*(x[other] for x in labels))

        put, expected, correct = mine(pred), mine(truth), mine(pred, truth)
        out[str(kind)] = {
            "pairwise_precision": round(correct / put, 6) if put else 1.0,
            "pairwise_recall": round(correct / expected, 6) if expected else 1.0,
            "pairs_put_together": put,
            "pairs_expected": expected,
        }
    return out


def sizes(labels: np.ndarray) -> dict:
    """How many groups there are of each size (two or more), as {"size": count}."""
    counts = np.bincount(np.bincount(labels))
    return {str(size): int(counts[size]) for size in range(2, len(counts)) if counts[size]}


def candidate_ceiling(n: int, a: np.ndarray, b: np.ndarray, truth: np.ndarray) -> float:
    """The pairwise recall that a perfect check of the candidate edges would reach."""
    same = truth[a] == truth[b]
    return pairwise(components(n, a[same], b[same]), truth)["pairwise_recall"]


def best_threshold(
    n: int, a: np.ndarray, b: np.ndarray, scores: np.ndarray, truth: np.ndarray
) -> dict:
    """The CNN-score threshold alone (components of the candidate edges at least that score)
    with the best pairwise F1, over the distinct scores' percentiles."""
    best = {"pairwise_f1": -1.0}
    for t in (
        np.unique(np.quantile(scores, np.linspace(0, 1, 101), method="lower"))
        if len(scores)
        else []
    ):
        at = scores >= t
        labels = components(n, a[at], b[at])
        found = pairwise(labels, truth)
        if found["pairwise_f1"] > best["pairwise_f1"]:
            largest = int(np.bincount(labels).max()) if n else 0
            best = {"min_score": round(float(t), 6), **found, "largest_group": largest}
    return best if len(scores) else {}
