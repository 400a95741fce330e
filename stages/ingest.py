"""Stage `ingest`: load vectors.jsonl into the Qdrant collection, replacing what was there.

The collection is rebuilt from scratch on every run, so a rerun never leaves duplicates
or stale points. The receipt records what was loaded (collection, count, a fingerprint
of vectors.jsonl), and the collection is stamped with the same fingerprint once loading
has finished; every reader checks the two agree before trusting the store.
"""

from __future__ import annotations

import time

from similar import parameters
from similar.errors import UserError, run
from similar.files import json_bytes, read_vector_batches, require_file, staged_outputs
from similar.progress import over
from similar.search import receipt as receipts
from similar.search.store import collection_name, collection_settings, describe, store_for


def main() -> None:
    config = parameters.load()
    options = config.qdrant
    source = require_file(config.paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
    started = time.perf_counter()
    fingerprint = receipts.fingerprint(source)
    with open(source, "rb") as fh:
        collection = collection_settings(options, sum(1 for _ in fh))
    name = collection_name(options.collection, options.target)
    count, dim = 0, None
    with store_for(config, name) as store:
        batches = read_vector_batches(source, options.batch_size)
        for ids, vectors, urls in over(batches, None, "ingest", "batch"):
            if dim is None:
                dim = vectors.shape[1]
                store.recreate(dim, collection)
            store.upsert(ids, vectors, urls)
            count += len(ids)
        if dim is None:
            raise UserError(f"{source}: no vectors to load")
        receipt = receipts.make_receipt(
            store.backend, name, collection.distance, collection.hnsw_index, count, dim, fingerprint
        )
        store.commit(receipts.stamp_of(receipt))
        stored = store.count()
    if stored != count:
        raise RuntimeError(f"store holds {stored} points after loading {count}: duplicate ids?")
    seconds = time.perf_counter() - started
    with staged_outputs() as out:
        out.write_bytes(config.paths.receipt, json_bytes(receipt))
        out.write_bytes(config.paths.ingest_metrics, json_bytes({"points": count}))
    print(f"ingest: {count} points of {dim} dimensions -> {describe(config, name)}, {seconds:.1f}s")


if __name__ == "__main__":
    run(main)
