"""Stage `groups`: which illustrations are reused, and where: the groups of copies.

Reads the kNN graph and the images; candidate edges from the graph are verified by the same
verifier and feature cache as `verify`, and kept when the pair is a copy, not a shared part;
groups join by `groups.join`. Writes data/groups/groups.csv (`id,group`, the format
data.groups reads, so a reviewed run can be the next run's ground truth), groups.json
(largest first, members and verified edges), points.json (the matched points of the pairs
groups.json lists, which preview and publish draw), metrics, and precision and recall against
min_score.
"""

from __future__ import annotations

import time

from similar import parameters
from similar.errors import run
from similar.files import (
    csv_bytes,
    json_bytes,
    read_csv,
    read_ids_urls,
    require_file,
    staged_outputs,
)
from similar.groundtruth import read_groups, read_kinds, read_marks
from similar.groups import candidates as edge_checks
from similar.groups import grouping as groups
from similar.search.graph import read_graph
from similar.verification.points import write_points


def main() -> None:
    config = parameters.load()
    grouping, paths = config.groups, config.paths
    started = time.perf_counter()
    ids, neighbours, scores = read_graph(paths.graph)
    index = read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`"))
    groups.check_index(ids, index, paths.graph, paths.image_index)
    edges = edge_checks.candidate_edges(neighbours, scores, grouping, paths.graph)
    edges, described, resumed, results = edge_checks.verify_edges(config, ids, index, edges)
    labels = groups.kept_labels(ids, edges, grouping.join, grouping.apart)
    found = groups.named_groups(labels, ids)
    listed = edge_checks.listed_pairs(ids, edges, found, results)
    seconds = time.perf_counter() - started
    vectors = require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
    urls = dict(zip(*read_ids_urls(vectors)))
    truth, kinds = read_groups(config.data.groups), read_kinds(config.data.groups)
    metrics, plot = groups.figures(ids, edges, labels, found, truth, kinds, grouping)
    marks = read_marks(config.data.groups)
    if marks is not None:  # a partial review: count only the pairs it judged
        metrics.update(groups.marked_figures(ids, edges, labels, marks))
    report = groups.report(ids, edges, described, seconds, resumed)
    with staged_outputs() as out:
        out.write_bytes(
            paths.groups_csv, csv_bytes(["id", "group"], groups.membership_rows(ids, found))
        )
        groups.write_groups_json(out.path(paths.groups_json), ids, urls, labels, found, edges)
        write_points(out.path(paths.group_points), listed)
        out.write_bytes(paths.groups_metrics, json_bytes(metrics))
        out.write_bytes(paths.groups_plot, csv_bytes(groups.PLOT_HEADER, plot))
        out.write_bytes(paths.reports / "groups.json", json_bytes(report))
    line = groups.summary(metrics, edges, seconds, resumed)
    if marks is not None:
        line += f", over the {metrics['marked_pairs']} pairs the review marks cover"
    print(line)


if __name__ == "__main__":
    run(main)
