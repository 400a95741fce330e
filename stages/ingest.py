"""Stage `ingest`: load vectors.jsonl into the Qdrant collection, replacing what was there.

The collection is rebuilt from scratch on every run, so a rerun never leaves duplicates
or stale points. The receipt records what was loaded (collection, count, a fingerprint
of vectors.jsonl); bulk_query checks it against the store before trusting the store.
"""
from __future__ import annotations

import time
from tqdm import tqdm

from . import config as cfg
from .files import read_vector_batches, sha256_file, write_json
from .store import collection_settings, describe, open_store, store_settings


def receipt_for(store_info: dict, count: int, dim: int, fingerprint: str) -> dict:
    return {**store_info, "count": count, "dim": dim,
            "fingerprint": f"sha256:{fingerprint}"}


def main() -> None:
    params = cfg.load_params()
    batch_size = cfg.get_int(params, "qdrant.batch_size", 1)
    st = store_settings(params)
    source = cfg.require_file(cfg.path(params, "vectors"), "vectors.jsonl",
                              "run `dvc repro attach_iiif`")
    started = time.perf_counter()
    fingerprint = sha256_file(source)
    with open(source, "rb") as fh:
        settings = collection_settings(params, sum(1 for _ in fh))
    count, dim = 0, None
    with open_store(**st) as store:
        for ids, vectors, urls in tqdm(read_vector_batches(source, batch_size), desc="ingest",
                                       unit="batch", disable=None):
            if dim is None:
                dim = vectors.shape[1]
                store.recreate(dim, settings)
            store.upsert(ids, vectors, urls)
            count += len(ids)
        if dim is None:
            raise cfg.UserError(f"{source}: no vectors to load")
        store.commit()
        stored = store.count()
        backend = store.backend
    if stored != count:
        raise RuntimeError(f"store holds {stored} points after loading {count}: duplicate ids?")
    seconds = time.perf_counter() - started
    receipt = receipt_for({"backend": backend, "collection": st["collection"],
                           "distance": settings.distance, "hnsw_index": settings.hnsw_index},
                          count, dim, fingerprint)
    write_json(cfg.path(params, "receipt"), receipt)
    write_json(cfg.path(params, "ingest_metrics"), {"points": count})
    print(f"ingest: {count} points of {dim} dimensions -> {describe(**st)}, {seconds:.1f}s")


if __name__ == "__main__":
    cfg.run(main)
