"""Stage `groups`: which illustrations are reused, and where: the groups of copies.

Reads the kNN graph and the images; candidate edges from the graph are verified by the same
verifier and feature cache as `verify`; copies are joined into groups by
`groups.join` (similar/clustering.py), pairs that only share a part never. Writes
data/groups/groups.csv (`id,group`, the format data.groups reads, so a reviewed run can be
the next run's ground truth), groups.json (largest first: members, copy edges with their
figures, possible members, shared parts), metrics, and precision and recall against
min_score.
"""

from __future__ import annotations

import time

import numpy as np
import orjson
from tqdm import tqdm

from similar import clustering, groups, query, rerank, settings
from similar.errors import UserError, run, warn
from similar.files import csv_bytes, json_bytes, read_csv, require_file, staged_outputs
from similar.graph import read_graph
from similar.groundtruth import read_groups, read_kinds
from similar.verify import image_refs, verify_pairs


def main() -> None:
    s = settings.load()
    g, paths = s.groups, s.paths
    started = time.perf_counter()
    ids, neighbours, scores = read_graph(paths.graph)
    index = read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`"))
    if [r["id"] for r in index] != ids.tolist():
        raise UserError(
            f"{paths.graph} was built for other images than {paths.image_index}; "
            "rerun `dvc repro graph`"
        )
    n = len(ids)
    if g.k > neighbours.shape[1]:
        warn(
            f"groups.k ({g.k}) is more than graph.k ({neighbours.shape[1]}, the neighbours "
            f"{paths.graph} holds): candidate edges are the graph's {neighbours.shape[1]}"
        )
    a, b, edge_scores = groups.candidate_edges(neighbours, scores, g.k, g.min_score, g.mutual)
    described = 0
    if g.verify:
        if not s.data.images.is_dir():
            raise UserError(
                f"{s.data.images}: the images are not here, and verified groups need "
                "them; `make pull` fetches the groups instead (or groups.verify: false)"
            )
        pairs = [(str(ids[i]), str(ids[j])) for i, j in zip(a, b)]
        with tqdm(total=len(pairs), desc="groups", unit="pair", disable=None) as bar:
            results, described = verify_pairs(
                pairs,
                s.verify,
                image_refs(index, s.data.images),
                paths.feature_cache,
                s.verify.workers,
                bar.update,
            )
        inliers = np.array([r.inliers for r in results], dtype=np.int64)
        relations = [r.relation(g.min_inliers, s.verify.min_agreement) for r in results]
        kept = np.array([rel == "copy" for rel in relations], dtype=bool)
        shared = np.array([rel == "shares_part" for rel in relations], dtype=bool)
    else:
        results, inliers = None, np.zeros(len(a), np.int64)
        kept, shared = np.ones(len(a), bool), np.zeros(len(a), bool)
    strength = inliers if g.verify else edge_scores
    labels = clustering.agglomerate(n, a[kept], b[kept], strength[kept], g.join)
    found = groups.named_groups(labels, ids)
    seconds = time.perf_counter() - started

    urls = dict(
        zip(
            *query.read_ids_urls(
                require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
            )
        )
    )
    name_of = np.full(n, -1, dtype=np.int64)
    for number, (_, members) in enumerate(found):
        name_of[members] = number
    rows = sorted((str(ids[i]), found[name_of[i]][0]) for i in np.flatnonzero(name_of >= 0))
    metrics = {
        "groups": len(found),
        "grouped_images": len(rows),
        "largest_group": len(found[0][1]) if found else 0,
        "edges_checked": int(len(a)) if g.verify else 0,
        "edges_verified": int(kept.sum()),
    }
    metrics["shared_part_pairs"] = int(shared.sum())
    metrics["sizes"] = groups.sizes(labels)
    truth = read_groups(s.data.groups)
    plot = []
    if truth:
        labels_true = groups.truth_labels(ids, truth)
        metrics.update(groups.pairwise(labels, labels_true))
        metrics["candidate_ceiling_recall"] = groups.candidate_ceiling(n, a, b, labels_true)
        cnn = groups.pairwise(groups.components(n, a, b), labels_true)
        metrics["cnn_only_pairwise_f1"] = cnn["pairwise_f1"]
        metrics["best_score_threshold_only"] = groups.best_threshold(
            n, a, b, edge_scores, labels_true
        )
        kinds = read_kinds(s.data.groups)
        if kinds:
            metrics["by_kind"] = groups.pairwise_by_kind(
                labels, labels_true, [kinds.get(str(i), "") for i in ids]
            )
        lowest = max(g.min_score, float(edge_scores.min())) if len(edge_scores) else g.min_score
        plot = groups.threshold_curve(n, a, b, edge_scores, kept, labels_true, lowest)
    with staged_outputs() as out:
        out.write_bytes(paths.groups_csv, csv_bytes(["id", "group"], rows))
        with open(out.path(paths.groups_json), "wb") as fh:
            fh.write(b"[\n")
            for number, record in enumerate(
                group_records(
                    found, ids, urls, (a, b, edge_scores), results, kept, shared, labels, s
                )
            ):
                fh.write(orjson.dumps(record))
                fh.write(b",\n" if number < len(found) - 1 else b"\n")
            fh.write(b"]\n")
        out.write_bytes(paths.groups_metrics, json_bytes(metrics))
        out.write_bytes(
            paths.groups_plot,
            csv_bytes(
                ["min_score", "precision", "recall", "f1", "cnn_precision", "cnn_recall", "cnn_f1"],
                plot,
            ),
        )
        out.write_bytes(
            paths.reports / "groups.json",
            json_bytes(
                {
                    "images": n,
                    "edges_checked": metrics["edges_checked"],
                    "images_described": described,
                    "seconds": round(seconds, 3),
                    "pairs_per_second": round(len(a) / seconds, 1)
                    if g.verify and seconds
                    else None,
                }
            ),
        )
    summary = (
        (
            f", pairwise precision {metrics['pairwise_precision']:.3f} recall "
            f"{metrics['pairwise_recall']:.3f} F1 {metrics['pairwise_f1']:.3f} (CNN alone "
            f"{metrics['cnn_only_pairwise_f1']:.3f})"
        )
        if truth
        else ""
    )
    rate = f" ({len(a) / seconds:.0f} pairs/s)" if g.verify and seconds else ""
    print(
        f"groups: {len(found)} groups of {len(rows)} images, largest {metrics['largest_group']}, "
        f"{metrics['edges_verified']} of {len(a)} candidate edges kept, {seconds:.1f}s{rate}"
        f"{summary}"
    )


def group_records(found, ids, urls, edges, results, kept, shared, labels, s):
    """groups.json's entries: members, copy edges and their figures, the possible members
    (one verified copy pair with the group: not enough to join) and the pairs that share a
    part with a member."""
    a, b, scores = edges

    def pair(e: int) -> dict:
        x, y = str(ids[a[e]]), str(ids[b[e]])
        out = {"a": x, "b": y, "score": round(float(scores[e]), 6)}
        if results is not None:
            out.update(rerank.figures(results[e], s.groups.min_inliers, s.verify.min_agreement))
        return out

    label_of = {name: int(labels[members[0]]) for name, members in found}
    by_label: dict[int, dict[str, list]] = {}
    for e in np.flatnonzero(kept | shared):
        la, lb = int(labels[a[e]]), int(labels[b[e]])
        if kept[e] and la == lb:
            by_label.setdefault(la, {}).setdefault("edges", []).append(e)
        else:
            key = "possible" if kept[e] else "shared_parts"
            for label in {la, lb}:
                by_label.setdefault(label, {}).setdefault(key, []).append(e)
    for name, members in found:
        mine = by_label.get(label_of[name], {})
        yield {
            "group": name,
            "size": len(members),
            "members": [{"id": str(ids[m]), "url": urls.get(str(ids[m]))} for m in members],
            "edges": [pair(e) for e in mine.get("edges", [])],
            "possible": [pair(e) for e in mine.get("possible", [])],
            "shared_parts": [pair(e) for e in mine.get("shared_parts", [])],
        }


if __name__ == "__main__":
    run(main)
