"""Groups of copies: the reuse map of a whole collection, from its kNN graph.

Candidate edges are each image's first `groups.k` graph neighbours scoring at least
`groups.min_score` (with `groups.mutual`, only pairs that are in each other's lists). With
`groups.verify` each candidate is checked by the verifier and kept only as a copy: at least
`verify.min_inliers` inliers and pictures that agree over their overlap
(`verify.min_agreement`); a pair that only shares a part is listed, never kept. Groups join
by `groups.join` (similar/groups/clustering.py: two verified pairs, or one), named by their
smallest member id, so a name stays as long as its group does, and adding images changes
only the groups they join.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from ..errors import UserError
from ..evaluation import pairwise_figures, pairwise_on_marks
from ..files import read_json, require_file
from .clustering import adopt_lone, adopt_pieces, agglomerate

PLOT_STEPS = 20
NEEDS_IMAGES = (
    "verified groups need them; `make pull` fetches the groups instead (or groups.verify: false)"
)
PLOT_HEADER = ["min_score", "precision", "recall", "f1", "cnn_precision", "cnn_recall", "cnn_f1"]


@dataclass
class Edges:
    """Candidate edges (rows a < b of the graph, each with its best score), and once checked,
    each one's inliers, whether it is kept (a copy; unchecked: `inliers` None, all kept),
    whether it only shares a part, whether such a pair lies whole in each other and draws
    different things there (`differs`, `differ_whole`), which end is a part of the other
    (PART_OF codes), whether a pair that only shares a part draws different things in the
    overlap, whole in each other or not (`draws_apart`), and the fields groups.json gives
    each pair."""

    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray
    inliers: np.ndarray | None = None
    kept: np.ndarray = field(default=None)
    shared: np.ndarray = field(default=None)
    fields: list | None = None
    differs: np.ndarray = field(default=None)
    part: np.ndarray = field(default=None)
    draws_apart: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.kept is None:
            self.kept = np.ones(len(self.a), bool)
        if self.shared is None:
            self.shared = np.zeros(len(self.a), bool)
        if self.differs is None:
            self.differs = np.zeros(len(self.a), bool)
        if self.part is None:
            self.part = np.zeros(len(self.a), np.int8)
        if self.draws_apart is None:
            self.draws_apart = self.differs.copy()

    @property
    def strength(self) -> np.ndarray:
        """What orders the joins: inliers once checked, else the score."""
        return self.inliers if self.checked else self.scores

    @property
    def checked(self) -> bool:
        return self.inliers is not None


def directed_edges(rows, neighbours, scores, k: int, min_score: float):
    """(rows, columns, scores) of each row's first k neighbours scoring at least min_score."""
    k = min(k, neighbours.shape[1])
    rows = np.repeat(np.asarray(rows, dtype=np.int64), k)
    cols = neighbours[:, :k].ravel().astype(np.int64)
    s = scores[:, :k].ravel()
    keep = s >= min_score
    return rows[keep], cols[keep], s[keep]


def candidate_edges(
    neighbours: np.ndarray,
    scores: np.ndarray,
    k: int,
    min_score: float,
    mutual: bool,
    pictures=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (a < b, sorted) with their best score in either direction; with
    `pictures` (graph.PictureEdges), each picture's first k neighbours are edges of its page
    too (`mutual` does not apply to them: a picture is in no image's list)."""
    n = neighbours.shape[0]
    rows, cols, s = directed_edges(np.arange(n), neighbours, scores, k, min_score)
    if mutual:
        directed = rows * n + cols
        keep = np.isin(cols * n + rows, directed)
        rows, cols, s = rows[keep], cols[keep], s[keep]
    if pictures is not None and len(pictures.pages):
        more = directed_edges(pictures.pages, pictures.neighbours, pictures.scores, k, min_score)
        rows, cols, s = (np.concatenate(pair) for pair in zip((rows, cols, s), more))
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


def candidates(neighbours: np.ndarray, scores: np.ndarray, settings, pictures=None) -> Edges:
    """The candidate edges `groups.k`, `groups.min_score` and `groups.mutual` choose, with
    the pictures' found on pages (graph.PictureEdges) when given."""
    return Edges(
        *candidate_edges(
            neighbours, scores, settings.k, settings.min_score, settings.mutual, pictures
        )
    )


def edge_pairs(ids, edges: Edges) -> list[tuple[str, str]]:
    """The image ids of every candidate edge, the pairs to verify."""
    return [(str(ids[i]), str(ids[j])) for i, j in zip(edges.a, edges.b)]


PART_OF = {"": 0, "a": 1, "b": 2}  # Edges.part: neither end, a, or b is a part of the other


def draws_different(fields: dict, rule) -> bool:
    """Whether a checked pair draws different things where it overlaps (more than
    `verify.max_difference`)."""
    return fields["difference"] > rule.max_difference


def differ_whole(fields: dict, rule) -> bool:
    """Whether a checked pair lies whole in each other, or one in the other
    (`verify.min_overlap`), and draws different things there (`draws_different`): two
    pictures in one frame, not one picture in two."""
    return fields["contained"] >= rule.min_overlap and draws_different(fields, rule)


def verified(edges: Edges, results, rule) -> Edges:
    """The edges with the verifier's results of `edge_pairs`: kept when a copy."""
    inliers = np.array([r.inliers for r in results], dtype=np.int64)
    fields = [r.fields(rule) for r in results]
    kept = np.array([f["relation"] == "copy" for f in fields], dtype=bool)
    shared = np.array([f["relation"] == "shares_part" for f in fields], dtype=bool)
    differs = shared & np.array([differ_whole(f, rule) for f in fields], bool)
    part = np.array([PART_OF[f["part"]] for f in fields], dtype=np.int8)
    apart = shared & np.array([draws_different(f, rule) for f in fields], bool)
    return Edges(
        edges.a, edges.b, edges.scores, inliers, kept, shared, fields, differs, part, apart
    )


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
    return pairwise_figures(pairs(pred_counts), pairs(both_counts), pairs(truth_counts))


def truth_labels(ids, groups: dict[str, str]) -> np.ndarray:
    """Ground-truth label per image; an image without one is alone in its own."""
    names: dict[str, int] = {}
    out = np.empty(len(ids), dtype=np.int64)
    for i, iid in enumerate(ids):
        g = groups.get(str(iid))
        out[i] = names.setdefault(g, len(names)) if g else -1 - i
    return out


def threshold_curve(
    n: int, edges: Edges, truth: np.ndarray, lowest: float, join: str, held: np.ndarray
) -> list[tuple]:
    """Rows of (min_score, precision, recall, f1, cnn_precision, cnn_recall, cnn_f1): groups
    the stage would write (`joined`: the kept edges joined by `groups.join`, never across
    the pairs `held` apart, `apart_mask`, lone copies and pieces refused across
    `joins_refused`) from the edges scoring at least each threshold, and the connected
    components of all candidate edges at that threshold (what the CNN score alone would
    give)."""
    a, b, scores, kept = edges.a, edges.b, edges.scores, edges.kept
    refused = joins_refused(edges, held)
    top = float(scores.max()) if len(scores) else 1.0
    rows = []
    for t in np.linspace(lowest, max(lowest, top), PLOT_STEPS):
        at = scores >= t
        use = at & kept
        apart = a[at & held], b[at & held]
        across = a[at & refused], b[at & refused]
        labels = joined(
            n, a[use], b[use], edges.strength[use], edges.part[use], join, apart, across
        )
        v = pairwise(labels, truth)
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


def kept_labels(ids, edges: Edges, join: str, apart: str = "parts") -> np.ndarray:
    """Each image's group label: the kept edges joined by the rule `groups.join`, never
    across the pairs `groups.apart` keeps apart (`apart_mask`); then each lone image that
    is a copy of one group's members only joins it, and so does a group of pieces that lie
    in that group's pictures and in nothing else, where none of their pairs with it is two
    pictures in one frame (`Edges.differs`) or kept apart (`joined`)."""
    kept, held = edges.kept, apart_mask(edges, apart)
    refused = joins_refused(edges, held)
    return joined(
        len(ids),
        edges.a[kept],
        edges.b[kept],
        edges.strength[kept],
        edges.part[kept],
        join,
        (edges.a[held], edges.b[held]),
        (edges.a[refused], edges.b[refused]),
    )


def joined(n: int, a, b, strength, part, join: str, apart, refused) -> np.ndarray:
    """The copy edges a-b joined by the rule `join` never across the pairs `apart`
    (`agglomerate`); then each lone image that is a copy of one group's members only
    (`adopt_lone`), and each group of pieces of one group's pictures only (`adopt_pieces`),
    taken into that group, never across the pairs `refused`."""
    labels = agglomerate(n, a, b, strength, join, apart)
    labels = adopt_lone(labels, a, b, refused)
    return adopt_pieces(labels, a, b, part, refused)


def joins_refused(edges: Edges, held: np.ndarray) -> np.ndarray:
    """The pairs across which a lone copy of one member or a group of pieces is not taken
    into a group (`joined`): two pictures in one frame (`Edges.differs`), and the pairs
    kept apart (`held`)."""
    return edges.differs | held


def apart_mask(edges: Edges, apart: str) -> np.ndarray:
    """The checked pairs whose two images `groups.apart` keeps in two groups: `all`, every
    pair that only shares a part; `parts`, such a pair that draws different things in the
    overlap (`Edges.draws_apart`: two queens of one deck, lying whole in each other; two
    ensigns with another badge beside one flag in the canton) while a third picture is a
    copy of each as a part of it (`part_inside_both`: a crop of the figure both queens
    draw, the flag alone); `none`, no pair. One picture in two frames (in a border, on a
    page) draws nothing different where the two overlap, and stays one group."""
    if apart == "all":
        return edges.shared.copy()
    if apart == "none":
        return np.zeros(len(edges.a), bool)
    return edges.draws_apart & part_inside_both(edges)


def part_inside_both(edges: Edges) -> np.ndarray:
    """For each edge, whether some picture lies in both its ends as a part of each, by
    the copy edges (`Edges.part`)."""
    pieces: dict[int, set[int]] = {}  # picture -> the pictures that lie in it as parts
    inside = edges.kept & (edges.part > 0)
    for x, y, part in zip(edges.a[inside], edges.b[inside], edges.part[inside]):
        piece, whole = (x, y) if part == PART_OF["a"] else (y, x)
        pieces.setdefault(int(whole), set()).add(int(piece))
    empty: set[int] = set()
    return np.array(
        [
            bool(pieces.get(int(x), empty) & pieces.get(int(y), empty))
            for x, y in zip(edges.a, edges.b)
        ],
        dtype=bool,
    )


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


def marked_figures(ids, edges: Edges, labels: np.ndarray, marks) -> dict:
    """The groups' and the CNN-only components' pairwise figures over the pairs a partial
    review marks, and how many pairs that is."""
    out = pairwise_on_marks(ids, labels, marks)
    cnn = components(len(ids), edges.a, edges.b)
    out["cnn_only_pairwise_f1"] = pairwise_on_marks(ids, cnn, marks)["pairwise_f1"]
    return out


def figures(
    ids,
    edges: Edges,
    labels: np.ndarray,
    found: list,
    truth: dict[str, str],
    kinds: dict[str, str],
    grouping,
) -> tuple[dict, list]:
    """metrics/groups.json, and the threshold plot's rows (none without ground truth), from
    `grouping` (the groups settings: min_score, join, apart)."""
    n, a, b, kept = len(ids), edges.a, edges.b, edges.kept
    metrics = {
        "groups": len(found),
        "grouped_images": sum(len(members) for _, members in found),
        "largest_group": len(found[0][1]) if found else 0,
        "sizes": sizes(labels),
        "edges_checked": int(len(a)) if edges.checked else 0,
        "edges_verified": int(kept.sum()),
        "shared_part_pairs": int(edges.shared.sum()),
    }
    if not truth:
        return metrics, []
    labels_true = truth_labels(ids, truth)
    metrics.update(pairwise(labels, labels_true))
    ceiling = ceiling_labels(n, a, b, labels_true)
    metrics["candidate_ceiling_recall"] = pairwise(ceiling, labels_true)["pairwise_recall"]
    metrics["groups_mixing_pictures"] = mixing(labels, labels_true)
    metrics["cnn_only_pairwise_f1"] = pairwise(components(n, a, b), labels_true)["pairwise_f1"]
    metrics["best_score_threshold_only"] = best_threshold(n, a, b, edges.scores, labels_true)
    if kinds:
        metrics["by_kind"] = pairwise_by_kind(
            labels, labels_true, [kinds.get(str(i), "") for i in ids], ceiling
        )
    min_score = grouping.min_score
    lowest = max(min_score, float(edges.scores.min())) if len(edges.scores) else min_score
    held = apart_mask(edges, grouping.apart)
    curve = threshold_curve(n, edges, labels_true, lowest, grouping.join, held)
    return metrics, curve


def write_groups_json(target, ids, urls: dict, labels: np.ndarray, found: list, edges: Edges):
    """groups.json, one group per line, largest first: its members (id, url), its copy edges
    (a, b, score, and once checked inliers, relation and the overlap figures), its possible
    members (a copy of one member only, which `groups.join: two` keeps out) and the pairs
    that only share a part with a member. Written as it goes: a group at a time."""
    by_label: dict[int, dict[str, list]] = {}
    for e in np.flatnonzero(edges.kept | edges.shared):
        la, lb = int(labels[edges.a[e]]), int(labels[edges.b[e]])
        if edges.kept[e] and la == lb:
            by_label.setdefault(la, {}).setdefault("edges", []).append(e)
        else:
            key = "possible" if edges.kept[e] else "shared_parts"
            for label in {la, lb}:
                by_label.setdefault(label, {}).setdefault(key, []).append(e)

    def pair(e: int) -> dict:
        out = {
            "a": str(ids[edges.a[e]]),
            "b": str(ids[edges.b[e]]),
            "score": round(float(edges.scores[e]), 6),
        }
        return {**out, **edges.fields[e]} if edges.fields else {**out, "inliers": None}

    with open(target, "wb") as fh:
        fh.write(b"[\n")
        for number, (name, members) in enumerate(found):
            mine = by_label.get(int(labels[members[0]]), {})
            record = {
                "group": name,
                "size": len(members),
                "members": [{"id": str(ids[m]), "url": urls.get(str(ids[m]))} for m in members],
                **{key: [pair(e) for e in mine.get(key, [])] for key in PAIR_LISTS},
            }
            fh.write(orjson.dumps(record))
            fh.write(b",\n" if number < len(found) - 1 else b"\n")
        fh.write(b"]\n")


PAIR_LISTS = ("edges", "possible", "shared_parts")


def read_groups_json(path) -> list[dict]:
    """groups.json as written by `write_groups_json`."""
    return read_json(require_file(path, "groups", "run `dvc repro groups`"))


def report(ids, edges: Edges, described: int, seconds: float, resumed: int = 0) -> dict:
    """reports/groups.json: the run's timings (no rate for a run that read pairs back from
    a stopped run's journal: it is not the stage's)."""
    rate = round(len(edges.a) / seconds, 1) if edges.checked and seconds else None
    return {
        "images": len(ids),
        "edges_checked": int(len(edges.a)) if edges.checked else 0,
        "images_described": described,
        "pairs_read_back": resumed,
        "seconds": round(seconds, 3),
        "pairs_per_second": None if resumed else rate,
    }


def summary(metrics: dict, edges: Edges, seconds: float, resumed: int = 0) -> str:
    """The groups stage's one line."""
    quality = (
        f", pairwise precision {metrics['pairwise_precision']:.3f} recall "
        f"{metrics['pairwise_recall']:.3f} F1 {metrics['pairwise_f1']:.3f} (CNN alone "
        f"{metrics['cnn_only_pairwise_f1']:.3f})"
        if "pairwise_f1" in metrics
        else ""
    )
    rate = f" ({len(edges.a) / seconds:.0f} pairs/s)" if edges.checked and seconds else ""
    if resumed:  # a part run's rate is not the stage's
        rate = f" ({resumed} pairs read back from a stopped run)"
    return (
        f"groups: {metrics['groups']} groups of {metrics['grouped_images']} images, largest "
        f"{metrics['largest_group']}, {metrics['edges_verified']} of {len(edges.a)} candidate "
        f"edges copies, {metrics['shared_part_pairs']} share a part, {seconds:.1f}s{rate}{quality}"
    )


def pairs_within(*labels: np.ndarray) -> int:
    """Pairs of items that share every one of the given labels."""
    if not len(labels[0]):
        return 0
    _, counts = np.unique(np.stack(labels), axis=1, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_by_kind(pred: np.ndarray, truth: np.ndarray, kinds, ceiling=None) -> dict:
    """Pairwise precision and recall per kind of case: over the pairs with a member of that
    kind (put together, for precision; truly together, for recall), and over the pairs
    whose both members are of it (`_within`: the same icon at its sizes, without the pairs
    with its hard copies); with `ceiling` (the groups a perfect check of the candidates
    would find, `ceiling_labels`), the recall those reach: what no check of these
    candidates can exceed."""
    kinds = np.asarray(kinds)
    out = {}
    for kind in sorted(set(kinds.tolist())):
        other, same = kinds != kind, kinds == kind

        def mine(*labels, other=other):  # pairs with at least one member of the kind
            return pairs_within(*labels) - pairs_within(*(x[other] for x in labels))

        def both(*labels, same=same):  # pairs whose two members are of the kind
            return pairs_within(*(x[same] for x in labels))

        put, expected, correct = mine(pred), mine(truth), mine(pred, truth)
        put_within, expected_within, correct_within = both(pred), both(truth), both(pred, truth)
        out[str(kind)] = {
            "pairwise_precision": round(correct / put, 6) if put else 1.0,
            "pairwise_recall": round(correct / expected, 6) if expected else 1.0,
            "pairs_put_together": put,
            "pairs_expected": expected,
            "pairwise_precision_within": (
                round(correct_within / put_within, 6) if put_within else 1.0
            ),
            "pairwise_recall_within": (
                round(correct_within / expected_within, 6) if expected_within else 1.0
            ),
            "pairs_expected_within": expected_within,
        }
        if ceiling is not None:
            reached = mine(ceiling, truth)
            out[str(kind)]["candidate_ceiling_recall"] = (
                round(reached / expected, 6) if expected else 1.0
            )
    return out


def mixing(pred: np.ndarray, truth: np.ndarray) -> int:
    """How many groups (two or more images) hold images of more than one true group."""
    grouped = np.bincount(pred)[pred] > 1
    pairs = np.unique(np.stack([pred[grouped], truth[grouped]]), axis=1)
    return int((np.bincount(pairs[0]) > 1).sum()) if pairs.size else 0


def sizes(labels: np.ndarray) -> dict:
    """How many groups there are of each size (two or more), as {"size": count}."""
    counts = np.bincount(np.bincount(labels))
    return {str(size): int(counts[size]) for size in range(2, len(counts)) if counts[size]}


def ceiling_labels(n: int, a: np.ndarray, b: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The groups a perfect check of the candidate edges would find: the components of the
    edges that join truly alike images."""
    same = truth[a] == truth[b]
    return components(n, a[same], b[same])


def candidate_ceiling(n: int, a: np.ndarray, b: np.ndarray, truth: np.ndarray) -> float:
    """The pairwise recall that a perfect check of the candidate edges would reach."""
    return pairwise(ceiling_labels(n, a, b, truth), truth)["pairwise_recall"]


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
