"""Stage `groups`: which illustrations are reused, and where: the groups of copies.

Reads the kNN graph and the images; candidate edges from the graph are verified by the same
verifier and feature cache as `verify`; copies are joined into groups by `groups.join`, pairs
that only share a part never. Writes data/groups/groups.csv (`id,group`, the format
data.groups reads, so a reviewed run can be the next run's ground truth), groups.json
(largest first: members, copy edges with their figures, possible members, shared parts),
metrics, and precision and recall against min_score.
"""

from __future__ import annotations

import time

from similar import groups, query, settings
from similar.errors import run, warn
from similar.files import csv_bytes, json_bytes, read_csv, require_file, staged_outputs
from similar.graph import read_graph
from similar.groundtruth import read_groups, read_kinds
from similar.images import require_images
from similar.verification.runner import image_refs, method_for, verify_pairs


def main() -> None:
    config = settings.load()
    grouping, verify, paths = config.groups, config.verify, config.paths
    started = time.perf_counter()
    ids, neighbours, scores = read_graph(paths.graph)
    index = read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`"))
    groups.check_index(ids, index, paths.graph, paths.image_index)
    if grouping.k > neighbours.shape[1]:
        warn(
            f"groups.k ({grouping.k}) is more than graph.k ({neighbours.shape[1]}, the "
            f"neighbours {paths.graph} holds): candidate edges are the graph's first "
            f"{neighbours.shape[1]}"
        )
    edges = groups.candidates(neighbours, scores, grouping)
    described = 0
    if grouping.verify and method_for(verify).verifies:
        require_images(config.data.images, groups.NEEDS_IMAGES)
        images = image_refs(index, config.data.images)
        pairs = groups.edge_pairs(ids, edges)
        results, described = verify_pairs(
            pairs,
            groups.checking(verify, grouping.min_inliers),
            images,
            paths.feature_cache,
            verify.workers,
            "groups",
        )
        edges = groups.verified(edges, results, grouping.min_inliers, verify.min_agreement)
    labels = groups.kept_labels(ids, edges, grouping.join)
    found = groups.named_groups(labels, ids)
    seconds = time.perf_counter() - started
    vectors = require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
    urls = dict(zip(*query.read_ids_urls(vectors)))
    truth, kinds = read_groups(config.data.groups), read_kinds(config.data.groups)
    metrics, plot = groups.figures(ids, edges, labels, found, truth, kinds, grouping.min_score)
    report = groups.report(ids, edges, described, seconds)
    with staged_outputs() as out:
        out.write_bytes(
            paths.groups_csv, csv_bytes(["id", "group"], groups.membership_rows(ids, found))
        )
        groups.write_groups_json(out.path(paths.groups_json), ids, urls, labels, found, edges)
        out.write_bytes(paths.groups_metrics, json_bytes(metrics))
        out.write_bytes(paths.groups_plot, csv_bytes(groups.PLOT_HEADER, plot))
        out.write_bytes(paths.reports / "groups.json", json_bytes(report))
    print(groups.summary(metrics, edges, seconds))


if __name__ == "__main__":
    run(main)
