"""Section scale: attach_iiif, ingest and bulk_query (product, and the store's exact search) as
real stage processes on N synthetic vectors (`--scale-points`, 200k by default; `--scale N`
runs only this section): seconds and peak RSS each; then bulk_query's two ways to search
exactly, in-process on the loaded project."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from .runner import Row, empty_ground_truth, run_stage, vector_project, write_params

STAGES = (  # (key, stage, bulk_query.engine)
    ("attach_iiif", "attach_iiif", None),
    ("ingest", "ingest", None),
    ("bulk_query", "bulk_query", "product"),
    ("bulk_query_store", "bulk_query", "store"),
)
NEIGHBOURS = 50


def measure(work: Path, options) -> dict:
    n = options.scale_points
    project = work / f"scale-{n}"
    ids = vector_project(project, n, seed=2)
    with open(project / "iiif.csv", "w") as fh:
        fh.write("id,iiif_url\n")
        fh.writelines(
            f"{i},https://iiif.example.org/iiif/3/{i}/full/max/0/default.jpg\n" for i in ids
        )
    chosen = np.random.default_rng(3).choice(n, size=min(options.references, n), replace=False)
    refs = [ids[i] for i in sorted(chosen)]
    (project / "queries.txt").write_text("".join(f"{r}\n" for r in refs))
    data = {"iiif_csv": "iiif.csv", "queries": "queries.txt"}
    data["groups"] = empty_ground_truth(project)
    out = {"points": n, "references": len(chosen)}
    for key, stage, engine in STAGES:
        write_params(project, data=data, bulk_query={"engine": engine or "product"})
        seconds, rss = run_stage(stage, project)
        out[key] = {"seconds": round(seconds, 2), "peak_rss_mib": rss}
    out["bulk_query_store_over_product"] = round(
        out["bulk_query_store"]["seconds"] / out["bulk_query"]["seconds"], 1
    )
    out["exact_options"] = exact_options(project, refs)
    shutil.rmtree(project)
    return out


def exact_options(project: Path, refs: list[str]) -> dict:
    """bulk_query's two ways to search exactly, in-process on the loaded scale project: the
    references' matrix product, and Qdrant's exact search asked for limit + 1 without a
    filter (the reference itself dropped), beside today's filtered search; seconds each."""
    from similar.files import read_ids_urls
    from similar.search import product
    from similar.search.ranking import rank
    from similar.search.store.edge import EdgeStore

    start = time.perf_counter()
    ids, urls = read_ids_urls(project / "data/vectors/vectors.jsonl")
    x = product.product_matrix(project / "data/reduced/vectors.npy", len(ids), "cosine")
    product, _ = product.search_product(x, ids, urls, refs, NEIGHBOURS)
    product_s = time.perf_counter() - start
    store = EdgeStore(project / "data/qdrant", "onit")
    store.count()  # opening the shard is not the search
    found = store.fetch(refs)
    vectors = np.stack([found[r][1] for r in refs])
    start = time.perf_counter()
    unfiltered = []
    for at in range(0, len(refs), 64):
        hits = store.search_vectors(vectors[at : at + 64], NEIGHBOURS + 1, True, None)
        unfiltered += [rank(h, NEIGHBOURS, exclude=r) for h, r in zip(hits, refs[at : at + 64])]
    unfiltered_s = time.perf_counter() - start
    start = time.perf_counter()
    store.search_vectors(vectors, NEIGHBOURS, True, None, exclude=refs)
    filtered_s = time.perf_counter() - start
    store.close()
    same = np.mean(
        [
            [n["id"] for n in e["neighbours"]] == [h.id for h in u]
            for e, u in zip(product, unfiltered)
        ]
    )
    return {
        "product_seconds": round(product_s, 2),
        "store_unfiltered_seconds": round(unfiltered_s, 2),
        "store_filtered_seconds": round(filtered_s, 2),
        "store_unfiltered_over_product": round(unfiltered_s / product_s, 1),
        "same_lists": round(float(same), 4),
    }


def rows(s: dict) -> list[Row]:
    out = [
        Row(
            f"scale {s['points']}: {key}",
            f"{s[key]['seconds']} s, peak RSS {s[key]['peak_rss_mib']} MiB",
        )
        for key, _, _ in STAGES
    ]
    o = s["exact_options"]
    return out + [
        Row(
            f"scale {s['points']}: bulk_query store / product",
            f"{s['bulk_query_store_over_product']}x",
        ),
        Row(
            f"scale {s['points']}: exact search in-process",
            f"product {o['product_seconds']} s, "
            f"Qdrant unfiltered {o['store_unfiltered_seconds']} s "
            f"({o['store_unfiltered_over_product']}x), "
            f"filtered {o['store_filtered_seconds']} s, "
            f"same lists {o['same_lists']}",
        ),
    ]
