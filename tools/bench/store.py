"""Section store: ingest's points/s into Qdrant Edge against qdrant-client's local mode; and
bulk_query's references/s, batched by point id, against the two-step loop (retrieve the
vector, then search with it, one reference at a time) on the same store, with recall@50
beside that of an HNSW index. In-process, on synthetic vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from similar.evaluation import normalise

from .runner import Row, median_time, synthetic

NEIGHBOURS = 50


def load(store, ids, x, batch: int = 512, collection=None) -> None:
    """Recreate the store's collection (`collection`: its CollectionSettings) with x."""
    from similar.search.store import CollectionSettings

    store.recreate(x.shape[1], collection or CollectionSettings())
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        store.upsert(chunk, x[start : start + batch], [None] * len(chunk))
    store.commit({})


def measure(work: Path, options) -> dict:
    from similar import parameters
    from similar.search.engine import search_mode
    from similar.search.store import CollectionSettings, collection_settings, open_store
    from similar.search.store.edge import EdgeStore
    from similar.settings import StoreTarget

    n, refs, repeat = options.points, options.references, options.repeat
    ids, x = synthetic(n)
    ours_s = median_time(lambda: load(EdgeStore(work / "edge", "bench"), ids, x), repeat)
    target = StoreTarget.parse(f"local:{work / 'local'}")
    base_s = median_time(lambda: load(open_store(target, "bench", work), ids, x), repeat)
    ingest = {
        "points": n,
        "ours_pps": round(n / ours_s, 1),
        "baseline_pps": round(n / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
    }

    defaults = parameters.defaults()
    collection = collection_settings(defaults.qdrant, n)
    load(EdgeStore(work / "edge", "bench"), ids, x, collection=collection)
    exact, ef = search_mode(defaults.bulk_query, {"hnsw_index": collection.hnsw_index})
    store = EdgeStore(work / "edge", "bench")
    rng = np.random.default_rng(1)
    chosen = [ids[i] for i in rng.choice(n, size=min(refs, n), replace=False)]
    answers = {}

    def ours():
        for start in range(0, len(chosen), 64):
            answers.update(store.search_ids(chosen[start : start + 64], NEIGHBOURS, exact, ef))

    def two_step():
        for ref in chosen:
            vector = store.fetch([ref])[ref][1]
            store.search_vectors(vector[None, :], NEIGHBOURS, exact, ef, exclude=[ref])

    ours_s = median_time(ours, repeat)
    base_s = median_time(two_step, repeat)
    store.close()

    # for reference: the same references through an HNSW index (what qdrant.hnsw_above turns on)
    ef_hnsw = defaults.bulk_query.hnsw_ef
    indexed = EdgeStore(work / "edge-hnsw", "bench")
    load(indexed, ids, x, collection=CollectionSettings(hnsw_index=True))
    hnsw_answers = {}

    def hnsw():
        for start in range(0, len(chosen), 64):
            batch = chosen[start : start + 64]
            hnsw_answers.update(indexed.search_ids(batch, NEIGHBOURS, False, ef_hnsw))

    hnsw_s = median_time(hnsw, 1)
    indexed.close()
    query = {
        "references": len(chosen),
        "points": n,
        "search": "exact" if exact else f"hnsw ef={ef}",
        "ours_qps": round(len(chosen) / ours_s, 1),
        "baseline_qps": round(len(chosen) / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
        "recall@50": recall(x, ids, chosen, answers),
        "hnsw_qps": round(len(chosen) / hnsw_s, 1),
        "hnsw_recall@50": recall(x, ids, chosen, hnsw_answers),
    }
    return {"ingest": ingest, "bulk_query": query}


def recall(x: np.ndarray, ids: list[str], chosen: list[str], found: dict) -> float:
    """Mean share of each reference's true 50 nearest (cosine) that the store returned."""
    xn = normalise(x)
    row = {iid: i for i, iid in enumerate(ids)}
    values = []
    for ref in chosen:
        sims = xn @ xn[row[ref]]
        sims[row[ref]] = -np.inf
        truth = set(np.argpartition(-sims, NEIGHBOURS)[:NEIGHBOURS].tolist())
        values.append(len(truth & {row[h.id] for h in found[ref][1]}) / NEIGHBOURS)
    return round(float(np.mean(values)), 4)


def rows(figures: dict) -> list[Row]:
    i, q = figures["ingest"], figures["bulk_query"]
    return [
        Row("ingest speedup (Edge / client local mode)", f"{i['speedup']}x", ratio=True),
        Row("bulk_query speedup (batched / two-step loop)", f"{q['speedup']}x", ratio=True),
        Row("ingest ours", f"{i['ours_pps']} points/s"),
        Row("ingest baseline", f"{i['baseline_pps']} points/s"),
        Row("bulk_query ours", f"{q['ours_qps']} refs/s ({q['search']})"),
        Row("bulk_query baseline", f"{q['baseline_qps']} refs/s"),
        Row("bulk_query recall@50", str(q["recall@50"])),
        Row(
            "bulk_query with HNSW index",
            f"{q['hnsw_qps']} refs/s, recall@50 {q['hnsw_recall@50']}",
        ),
    ]
