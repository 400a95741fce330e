"""Stage `groups`: which illustrations are reused, and where: the groups of copies.

Reads the kNN graph and the images; candidate edges from the graph are verified by the same
verifier and feature cache as `verify`; groups are the connected components. Writes
data/groups/groups.csv (`id,group`, the format data.groups reads, so a reviewed run can be
the next run's ground truth), groups.json (largest first, members and verified edges),
metrics, and precision and recall against min_score.
"""

from __future__ import annotations

import time

import numpy as np
import orjson
from tqdm import tqdm

from similar import groups, query, settings
from similar.errors import UserError, run
from similar.files import csv_bytes, json_bytes, read_csv, require_file, staged_outputs
from similar.graph import read_graph
from similar.groundtruth import read_groups
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
                max_pixels=s.embed.max_pixels,
                scheduler=s.compute.scheduler,
            )
        inliers = np.array([r.inliers for r in results], dtype=np.int64)
        kept = inliers >= g.min_inliers
    else:
        inliers, kept = None, np.ones(len(a), bool)
    labels = groups.components(n, a[kept], b[kept])
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
    truth = read_groups(s.data.groups)
    plot = []
    if truth:
        labels_true = groups.truth_labels(ids, truth)
        metrics.update(groups.pairwise(labels, labels_true))
        cnn = groups.pairwise(groups.components(n, a, b), labels_true)
        metrics["cnn_only_pairwise_f1"] = cnn["pairwise_f1"]
        lowest = max(g.min_score, float(edge_scores.min())) if len(edge_scores) else g.min_score
        plot = groups.threshold_curve(n, a, b, edge_scores, kept, labels_true, lowest)
    with staged_outputs() as out:
        out.write_bytes(paths.groups_csv, csv_bytes(["id", "group"], rows))
        with open(out.path(paths.groups_json), "wb") as fh:
            fh.write(b"[\n")
            edge_group = name_of[a[kept]]
            order = np.argsort(edge_group, kind="stable")
            ea, eb, es = a[kept][order], b[kept][order], edge_scores[kept][order]
            ei = inliers[kept][order] if inliers is not None else None
            bounds = np.searchsorted(edge_group[order], np.arange(len(found) + 1))
            for number, (name, members) in enumerate(found):
                lo, hi = bounds[number], bounds[number + 1]
                fh.write(
                    orjson.dumps(
                        {
                            "group": name,
                            "size": len(members),
                            "members": [
                                {"id": str(ids[m]), "url": urls.get(str(ids[m]))} for m in members
                            ],
                            "edges": [
                                {
                                    "a": str(ids[x]),
                                    "b": str(ids[y]),
                                    "score": round(float(z), 6),
                                    "inliers": None if ei is None else int(ei[lo + i]),
                                }
                                for i, (x, y, z) in enumerate(zip(ea[lo:hi], eb[lo:hi], es[lo:hi]))
                            ],
                        }
                    )
                )
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


if __name__ == "__main__":
    run(main)
