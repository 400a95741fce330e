"""Deterministic figures shared by stages and tools: cosine kNN, list overlap, recall and mAP,
the neighbour lists' scores and their agreement with exact search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .groundtruth import groups_from_pairs

RECALL_KS = (1, 5, 10)  # the recall@k figures the metrics report
MARKED = ("marked_pairs", "marked_copy_pairs")  # how much review marks cover, beside their figures
SCORE_BINS = np.round(np.linspace(-1.0, 1.0, 101), 2)


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64. Tiny norms (random weights give ~1e-12) are kept:
    only an exactly zero row stays zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cosine_knn(x: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Indices of each row's k most cosine-similar other rows, best first, ties by index."""
    xn = normalise(x)
    n = xn.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        sims = xn[start : start + block] @ xn.T
        rows = np.arange(start, min(start + block, n))
        sims[rows - start, rows] = -np.inf
        # lexsort: last key is primary; stable ordering by index breaks ties
        for r, row in enumerate(sims):
            order = np.lexsort((np.arange(n), -row))[:k]
            out[start + r] = order
    return out


KNN_SAMPLE = 2000
KNN_K = 10


def knn_preservation(before: np.ndarray, after: np.ndarray, seed: int, k: int = KNN_K) -> float:
    """Mean share of each image's k nearest neighbours that survive a reduction, on a seeded
    sample of up to KNN_SAMPLE images."""
    n = before.shape[0]
    if n <= k:
        return 1.0
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, KNN_SAMPLE), replace=False))
    return round(mean_overlap(cosine_knn(before[rows], k), cosine_knn(after[rows], k)), 6)


def mean_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean fraction of shared entries between row-aligned neighbour lists of equal width."""
    if len(a) == 0:
        return 0.0
    k = a.shape[1]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a.tolist(), b.tolist())]))


def jaccard(a: Iterable, b: Iterable) -> float:
    a, b = set(a), set(b)
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def ranking_metrics(
    results: Mapping[str, Sequence[str]], groups: Mapping[str, str], ks: Sequence[int]
) -> dict:
    """Recall@k and mAP of neighbour lists against ground-truth groups of copies.

    Only references with at least one other member in their group count. recall@k is the
    share of a reference's copies found in its first k neighbours; AP is the mean
    precision at the ranks where copies appear, over all its copies.
    """
    members: dict[str, set[str]] = {}
    for iid, group in groups.items():
        members.setdefault(group, set()).add(iid)
    recalls = {k: [] for k in ks}
    aps = []
    for ref, neighbours in results.items():
        if ref not in groups:
            continue
        relevant = members[groups[ref]] - {ref}
        if not relevant:
            continue
        hits = 0
        precision_sum = 0.0
        hit_at = np.zeros(len(neighbours) + 1)
        for rank, nid in enumerate(neighbours, start=1):
            if nid in relevant:
                hits += 1
                precision_sum += hits / rank
            hit_at[rank] = hits
        for k in ks:
            recalls[k].append(hit_at[min(k, len(neighbours))] / len(relevant))
        aps.append(precision_sum / len(relevant))
    evaluated = len(aps)
    out = {f"recall@{k}": round(float(np.mean(v)), 6) if v else 0.0 for k, v in recalls.items()}
    out["mAP"] = round(float(np.mean(aps)), 6) if aps else 0.0
    out["evaluated_references"] = evaluated
    return out


def ranking(
    results: Mapping[str, Sequence[str]], truth: Mapping[str, str], marks, ks: Sequence[int]
) -> dict:
    """`ranking_metrics` against ground truth, or against review marks (`marks` not None)
    counted over the pairs the marks cover only."""
    if marks is None:
        return ranking_metrics(results, truth, ks)
    return ranking_on_marks(results, marks, ks)


def ranking_on_marks(results: Mapping[str, Sequence[str]], marks, ks: Sequence[int]) -> dict:
    """Recall@k and mAP of neighbour lists against review marks, counting only the pairs the
    marks cover: a neighbour nobody judged with its reference is left out of the list (neither
    right nor wrong), a marked copy missing from the list still counts as missed. Says how many
    listed pairs the marks cover (`marked_pairs`) and how many copies they know of the lists'
    references (`marked_copy_pairs`)."""
    copies, apart = marked_pairs(marks)
    covered = copies | apart
    judged = {
        ref: [n for n in neighbours if (min(ref, n), max(ref, n)) in covered]
        for ref, neighbours in results.items()
    }
    out = ranking_metrics(judged, groups_from_pairs(copies), ks)
    out["marked_pairs"] = sum(len(v) for v in judged.values())
    out["marked_copy_pairs"] = sum(1 for a, b in copies if a in results or b in results)
    return out


def score_metrics(entries: list[dict]) -> dict:
    top1 = [e["neighbours"][0]["score"] for e in entries if e["neighbours"]]
    top10 = [n["score"] for e in entries for n in e["neighbours"][:10]]
    return {
        "mean_top1_score": round(float(np.mean(top1)), 6) if top1 else 0.0,
        "mean_score@10": round(float(np.mean(top10)), 6) if top10 else 0.0,
    }


def score_histogram(entries: list[dict]) -> list[tuple]:
    scores = [n["score"] for e in entries for n in e["neighbours"]]
    counts, _ = np.histogram(scores, bins=SCORE_BINS)
    return [(f"{lo:.2f}", int(c)) for lo, c in zip(SCORE_BINS[:-1], counts)]


def sampled_recall(
    entries: list[dict],
    x: np.ndarray,
    ids: list[str],
    k: int = 10,
    sample: int = 250,
    seed: int = 0,
) -> float:
    """Share of the neighbour lists' top-k that an exact search also puts in the top k, on a
    seeded sample of references: one float32 matrix product, its k-th best score per row, and
    a neighbour counts when it scores at least that (less 1e-6: ties and rounding). Measures
    what approximate search (HNSW) costs, and checks the exact engines."""
    if not entries:
        return 0.0
    rng = np.random.default_rng(seed)
    chosen = [
        entries[i]
        for i in sorted(rng.choice(len(entries), size=min(sample, len(entries)), replace=False))
    ]
    row = {iid: i for i, iid in enumerate(ids)}
    rows = np.array([row[e["reference"]["id"]] for e in chosen], dtype=np.int64)
    sims = x[rows] @ x.T
    sims[np.arange(len(rows)), rows] = -np.inf
    overlaps = []
    for e, _row, srow in zip(chosen, rows, sims):
        kk = min(k, len(e["neighbours"]), len(ids) - 1)
        if kk:
            kth = np.partition(srow, len(srow) - kk)[len(srow) - kk]
            got = [row[n["id"]] for n in e["neighbours"][:kk]]
            overlaps.append(float(np.mean(srow[got] >= kth - 1e-6)))
    return round(float(np.mean(overlaps)), 6) if overlaps else 0.0


def query_figures(
    entries: list[dict], missing: list[str], x, ids, truth: dict, limit: int, marks=None
):
    """bulk_query's metrics, and its recall plot's rows (none without ground truth); against
    review marks (`marks`), over the pairs they cover only."""
    metrics = {
        "references": len(entries),
        "missing_references": len(missing),
        **score_metrics(entries),
        "ann_recall@10": sampled_recall(entries, x, ids),
    }
    recall_rows = []
    if truth:
        results = {e["reference"]["id"]: [n["id"] for n in e["neighbours"]] for e in entries}
        curve = ranking(results, truth, marks, range(1, limit + 1))
        metrics.update({f"recall@{k}": curve[f"recall@{k}"] for k in RECALL_KS if k <= limit})
        for key in ("mAP", "evaluated_references", *MARKED):
            if key in curve:
                metrics[key] = curve[key]
        recall_rows = [(k, f"{curve[f'recall@{k}']:.6f}") for k in range(1, limit + 1)]
    metrics["missing_ids"] = missing
    return metrics, recall_rows


def marked_pairs(marks) -> tuple[set, set]:
    """The pairs review marks cover, as (copies, not copies) of sorted id pairs: every pair
    within a component of confirmed copies is a copy; a pair marked "not a copy" makes every
    pair across the two components not copies. Marks of another relation (shares_part) judge
    no copy and cover nothing here."""
    judged = [m for m in marks if m.copy]
    component = groups_from_pairs((m.reference, m.neighbour) for m in judged if m.match)
    members: dict[str, list[str]] = {}
    for iid, name in component.items():
        members.setdefault(name, []).append(iid)

    def group(iid: str) -> list[str]:
        return members.get(component.get(iid, ""), [iid])

    copies = {(x, y) for ms in members.values() for x in ms for y in ms if x < y}
    apart = {
        (min(x, y), max(x, y))
        for m in judged
        if not m.match
        for x in group(m.reference)
        for y in group(m.neighbour)
        if x != y
    }
    return copies, apart - copies


def pairwise_figures(together: int, right: int, expected: int) -> dict:
    """Pairwise precision, recall and F1 from the pairs put together, those of them that are
    right, and the pairs expected together (1.0 where a count is zero, F1 0 when both are)."""
    precision = right / together if together else 1.0
    recall = right / expected if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairwise_precision": round(precision, 6),
        "pairwise_recall": round(recall, 6),
        "pairwise_f1": round(f1, 6),
    }


def pairwise_on_marks(ids: Sequence[str], labels: Sequence, marks) -> dict:
    """Pairwise precision, recall and F1 of a grouping (`labels`, one per id) counted over the
    pairs the review marks cover only, and how many pairs and images that is: an image nobody
    reviewed is neither right nor wrong."""
    label = dict(zip(ids, (int(v) for v in labels)))
    copies, apart = marked_pairs(marks)
    known = [p for p in copies | apart if p[0] in label and p[1] in label]
    together = {p for p in known if label[p[0]] == label[p[1]]}
    right = len(together & copies)
    expected = sum(1 for p in known if p in copies)
    return {
        **pairwise_figures(len(together), right, expected),
        "marked_pairs": len(known),
        "marked_copy_pairs": expected,
        "marked_images": len({i for p in known for i in p}),
    }
