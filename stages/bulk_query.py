"""Stage `bulk_query`: the N most similar images of every reference, as neighbours.json.

Exact search (below qdrant.hnsw_above points) is the references' matrix product over the
vectors the store was loaded from (`bulk_query.engine: product`); HNSW search, and
`engine: store`, ask the store, checked against the ingest receipt first. A reference is
never its own neighbour. Ids not in the collection are warned about and listed in the
metrics. With ground truth (`data.groups`) the metrics also say how well each reference's
known copies come first.
"""

from __future__ import annotations

from similar import query, settings
from similar.errors import UserError, run, warn
from similar.evaluation import ranking_metrics
from similar.files import csv_bytes, json_bytes, require_file, staged_outputs
from similar.groundtruth import read_groups
from similar.receipt import open_checked_store, read_receipt


def main() -> None:
    s = settings.load()
    b, paths = s.bulk_query, s.paths
    receipt = read_receipt(s)
    exact, hnsw_ef = query.search_mode(b, receipt)
    ids, urls = query.read_ids_urls(
        require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
    )
    x = query.product_matrix(paths.reduced, len(ids), receipt.get("distance", "cosine"))
    refs = query.read_references(s, lambda: ids)
    if exact and b.engine == "product":
        entries, missing = query.search_product(x, ids, urls, refs, b.limit)
    else:
        with open_checked_store(s) as (store, _):
            entries, missing = query.search_all(store, refs, b.limit, b.batch_size, exact, hnsw_ef)
    if refs and not entries:
        raise UserError(
            f"{s.data.queries}: none of its {len(refs)} reference ids is in the "
            f"collection (first: {refs[0]}); list ids as images.csv names them"
        )
    metrics = {
        "references": len(entries),
        "missing_references": len(missing),
        **query.score_metrics(entries),
        "ann_recall@10": query.sampled_recall(entries, x, ids),
    }
    groups = read_groups(s.data.groups)
    recall_rows = []
    if groups:
        results = {e["reference"]["id"]: [n["id"] for n in e["neighbours"]] for e in entries}
        curve = ranking_metrics(results, groups, range(1, b.limit + 1))
        metrics.update(
            {f"recall@{k}": curve[f"recall@{k}"] for k in query.RECALL_KS if k <= b.limit}
        )
        metrics["mAP"] = curve["mAP"]
        metrics["evaluated_references"] = curve["evaluated_references"]
        recall_rows = [(k, f"{curve[f'recall@{k}']:.6f}") for k in range(1, b.limit + 1)]
    metrics["missing_ids"] = missing
    with staged_outputs() as out:
        out.write_bytes(paths.neighbours, query.neighbours_bytes(entries))
        out.write_bytes(paths.query_metrics, json_bytes(metrics))
        out.write_bytes(
            paths.scores_plot, csv_bytes(["score", "count"], query.score_histogram(entries))
        )
        out.write_bytes(paths.recall_plot, csv_bytes(["k", "recall"], recall_rows))
    summary = (
        f", recall@10 {metrics['recall@10']:.3f}, mAP {metrics['mAP']:.3f}"
        if "recall@10" in metrics
        else ""
    )
    mode = f"exact, {b.engine}" if exact else f"HNSW ef={hnsw_ef}"
    print(
        f"bulk_query: {len(entries)} references x {b.limit} neighbours ({mode}) -> "
        f"{paths.neighbours}{summary}"
    )
    if missing:
        warn(
            f"{len(missing)} reference ids are not in the collection: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )


if __name__ == "__main__":
    run(main)
