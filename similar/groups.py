"""Groups of copies: the reuse map of a whole collection, from its kNN graph.

Candidate edges are each image's first `groups.k` graph neighbours scoring at least
`groups.min_score` (with `groups.mutual`, only pairs that are in each other's lists). With
`groups.verify` each candidate is checked by the verifier and kept only with at least
`verify.min_inliers` inliers. Groups are the connected components of the kept edges
(scipy.sparse.csgraph), named by their smallest member id, so a name stays as long as its
group does, and adding images changes only the groups they join.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from .errors import UserError
from .files import read_json, require_file

PLOT_STEPS = 20
NEEDS_IMAGES = (
    "verified groups need them; `make pull` fetches the groups instead (or groups.verify: false)"
)
PLOT_HEADER = ["min_score", "precision", "recall", "f1", "cnn_precision", "cnn_recall", "cnn_f1"]


@dataclass
class Edges:
    """Candidate edges (rows a < b of the graph, each with its best score), and once checked,
    each one's inliers and whether it is kept (unchecked: `inliers` None, all kept)."""

    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray
    inliers: np.ndarray | None = None
    kept: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.kept is None:
            self.kept = np.ones(len(self.a), bool)

    @property
    def checked(self) -> bool:
        return self.inliers is not None


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


def check_index(ids, index: list[dict], graph_path, index_path) -> None:
    """The graph must be of the images images.csv lists, in its order."""
    if [r["id"] for r in index] != list(map(str, ids)):
        raise UserError(
            f"{graph_path} was built for other images than {index_path}; rerun `dvc repro graph`"
        )


def candidates(neighbours: np.ndarray, scores: np.ndarray, settings) -> Edges:
    """The candidate edges `groups.k`, `groups.min_score` and `groups.mutual` choose."""
    return Edges(
        *candidate_edges(neighbours, scores, settings.k, settings.min_score, settings.mutual)
    )


def edge_pairs(ids, edges: Edges) -> list[tuple[str, str]]:
    """The image ids of every candidate edge, the pairs to verify."""
    return [(str(ids[i]), str(ids[j])) for i, j in zip(edges.a, edges.b)]


def verified(edges: Edges, results, min_inliers: int) -> Edges:
    """The edges with the verifier's results of `edge_pairs`: kept with enough inliers."""
    inliers = np.array([r.inliers for r in results], dtype=np.int64)
    return Edges(edges.a, edges.b, edges.scores, inliers, inliers >= min_inliers)


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


def kept_groups(ids, edges: Edges) -> list[tuple[str, np.ndarray]]:
    """The named groups (`named_groups`) of the kept edges."""
    return named_groups(components(len(ids), edges.a[edges.kept], edges.b[edges.kept]), ids)


def group_of(n: int, found: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Each row's number in `found`, -1 for an image in no group."""
    number = np.full(n, -1, dtype=np.int64)
    for i, (_, members) in enumerate(found):
        number[members] = i
    return number


def membership_rows(ids, found: list[tuple[str, np.ndarray]]) -> list[tuple[str, str]]:
    """groups.csv's rows (id, group), by id."""
    number = group_of(len(ids), found)
    return sorted((str(ids[i]), found[number[i]][0]) for i in np.flatnonzero(number >= 0))


def figures(
    ids, edges: Edges, found: list, truth: dict[str, str], min_score: float
) -> tuple[dict, list]:
    """metrics/groups.json, and the threshold plot's rows (none without ground truth)."""
    n, a, b, kept = len(ids), edges.a, edges.b, edges.kept
    metrics = {
        "groups": len(found),
        "grouped_images": sum(len(members) for _, members in found),
        "largest_group": len(found[0][1]) if found else 0,
        "edges_checked": int(len(a)) if edges.checked else 0,
        "edges_verified": int(kept.sum()),
    }
    if not truth:
        return metrics, []
    labels_true = truth_labels(ids, truth)
    metrics.update(pairwise(components(n, a[kept], b[kept]), labels_true))
    metrics["cnn_only_pairwise_f1"] = pairwise(components(n, a, b), labels_true)["pairwise_f1"]
    lowest = max(min_score, float(edges.scores.min())) if len(edges.scores) else min_score
    return metrics, threshold_curve(n, a, b, edges.scores, kept, labels_true, lowest)


def write_groups_json(target, ids, urls: dict, found: list, edges: Edges) -> None:
    """groups.json, one group per line, largest first: its members (id, url) and its kept
    edges (a, b, score, inliers). Written as it goes: a group at a time."""
    kept = edges.kept
    edge_group = group_of(len(ids), found)[edges.a[kept]]
    order = np.argsort(edge_group, kind="stable")
    ea, eb, es = edges.a[kept][order], edges.b[kept][order], edges.scores[kept][order]
    ei = edges.inliers[kept][order] if edges.checked else None
    bounds = np.searchsorted(edge_group[order], np.arange(len(found) + 1))
    with open(target, "wb") as fh:
        fh.write(b"[\n")
        for number, (name, members) in enumerate(found):
            lo, hi = bounds[number], bounds[number + 1]
            members_out = [{"id": str(ids[m]), "url": urls.get(str(ids[m]))} for m in members]
            edges_out = [
                {
                    "a": str(ids[x]),
                    "b": str(ids[y]),
                    "score": round(float(z), 6),
                    "inliers": None if ei is None else int(ei[lo + i]),
                }
                for i, (x, y, z) in enumerate(zip(ea[lo:hi], eb[lo:hi], es[lo:hi]))
            ]
            fh.write(
                orjson.dumps(
                    {
                        "group": name,
                        "size": len(members),
                        "members": members_out,
                        "edges": edges_out,
                    }
                )
            )
            fh.write(b",\n" if number < len(found) - 1 else b"\n")
        fh.write(b"]\n")


def read_groups_json(path) -> list[dict]:
    """groups.json as written by `write_groups_json`."""
    return read_json(require_file(path, "groups", "run `dvc repro groups`"))


def report(ids, edges: Edges, described: int, seconds: float) -> dict:
    """reports/groups.json: the run's timings."""
    rate = round(len(edges.a) / seconds, 1) if edges.checked and seconds else None
    return {
        "images": len(ids),
        "edges_checked": int(len(edges.a)) if edges.checked else 0,
        "images_described": described,
        "seconds": round(seconds, 3),
        "pairs_per_second": rate,
    }


def summary(metrics: dict, edges: Edges, seconds: float) -> str:
    """The groups stage's one line."""
    quality = (
        f", pairwise precision {metrics['pairwise_precision']:.3f} recall "
        f"{metrics['pairwise_recall']:.3f} F1 {metrics['pairwise_f1']:.3f} (CNN alone "
        f"{metrics['cnn_only_pairwise_f1']:.3f})"
        if "pairwise_f1" in metrics
        else ""
    )
    rate = f" ({len(edges.a) / seconds:.0f} pairs/s)" if edges.checked and seconds else ""
    return (
        f"groups: {metrics['groups']} groups of {metrics['grouped_images']} images, largest "
        f"{metrics['largest_group']}, {metrics['edges_verified']} of {len(edges.a)} candidate "
        f"edges kept, {seconds:.1f}s{rate}{quality}"
    )
