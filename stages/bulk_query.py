"""Stage `bulk_query`: the N most similar images of every reference, as neighbours.json.

Exact search (below qdrant.hnsw_above points) is the references' matrix product over the
vectors the store was loaded from (`bulk_query.engine: product`); HNSW search, and
`engine: store`, ask the store, checked against the ingest receipt first. A reference is
never its own neighbour. A reference that is a page with a picture printed on it is searched
with the picture too (data/reduced/pictures.npz): its list holds both's neighbours. Ids not
in the collection are warned about and listed in the metrics. With ground truth
(`data.groups`) the metrics also say how well each reference's known copies come first.
"""

from __future__ import annotations

from similar import parameters
from similar.errors import run, warn
from similar.evaluation import query_figures, score_histogram
from similar.files import csv_bytes, json_bytes, read_ids_urls, require_file, staged_outputs
from similar.groundtruth import read_groups, read_marks
from similar.search import engine as search
from similar.search import product, references
from similar.search.neighbours import neighbours_bytes
from similar.search.receipt import read_receipt
from similar.vectors.pictures import Pictures


def main() -> None:
    config = parameters.load()
    options, paths = config.bulk_query, config.paths
    receipt = read_receipt(config.paths)
    ids, urls = read_ids_urls(
        require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
    )
    x = product.product_matrix(paths.reduced, len(ids), receipt.get("distance", "cosine"))
    refs = references.read_references(config, ids)
    pictures = Pictures.read(paths.reduced_pictures, "reduce")
    entries, missing, mode = search.search_lists(config, x, ids, urls, refs, receipt, pictures)
    truth, marks = read_groups(config.data.groups), read_marks(config.data.groups)
    metrics, recall_rows = query_figures(entries, missing, x, ids, truth, options.limit, marks)
    with staged_outputs() as out:
        out.write_bytes(paths.neighbours, neighbours_bytes(entries))
        out.write_bytes(paths.query_metrics, json_bytes(metrics))
        out.write_bytes(paths.scores_plot, csv_bytes(["score", "count"], score_histogram(entries)))
        out.write_bytes(paths.recall_plot, csv_bytes(["k", "recall"], recall_rows))
    quality = ""
    if "recall@10" in metrics:
        quality += f", recall@10 {metrics['recall@10']:.3f}"
    if "mAP" in metrics:
        quality += f", mAP {metrics['mAP']:.3f}"
    if "marked_pairs" in metrics:
        quality += f" over the {metrics['marked_pairs']} pairs the review marks cover"
    print(
        f"bulk_query: {len(entries)} references x {options.limit} neighbours ({mode}) -> "
        f"{paths.neighbours}{quality}"
    )
    if missing:
        warn(
            f"{len(missing)} reference ids are not in the collection: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )


if __name__ == "__main__":
    run(main)
