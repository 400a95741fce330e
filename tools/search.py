"""Search the collection with images from outside it: where does this picture, or a copy, appear?

    python -m tools.search IMAGE_OR_FOLDER [--limit 10] [--json]

Each image is embedded exactly as the collection was (the embed stage records how, in
`paths.embed_identity`; a changed parameter is refused), projected with the saved PCA, and
searched in the collection the last `ingest` loaded, after checking the store still holds
it. A folder is embedded and searched in batches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from similar import embedding, parameters, pca
from similar.cache import EmbedCache
from similar.errors import UserError, run, warn
from similar.files import read_json, require_file
from similar.images import ImageEntry, discover
from similar.neighbours import entry
from similar.receipt import open_checked_store
from similar.search import search_mode
from similar.settings import Settings

BATCH = 64


def query_entries(target: Path, patterns) -> list[ImageEntry]:
    if target.is_file():
        return [ImageEntry(str(target), target.name, target)]
    if target.is_dir():
        files = discover(target, patterns)
        if not files:
            raise UserError(f"{target}: no images matching data.patterns")
        return [ImageEntry(str(f), f.relative_to(target).as_posix(), f) for f in files]
    raise UserError(f"{target}: no such image file or folder")


def embed_queries(
    entries: list[ImageEntry], p: embedding.EmbedPlan, cache_root
) -> tuple[list, np.ndarray]:
    """(entries embedded, raw vectors); unreadable files are reported and skipped."""
    embedder = embedding.make_embedder(p)
    cache = EmbedCache(cache_root, embedding.identity(p), embedder.dim)
    done, vectors = [], []
    for batch in embedding.embedded_batches(
        entries, p, embedder, cache, num_workers=0, keep_new=False
    ):
        for it in batch:
            if it.reason is not None:
                if len(entries) == 1:
                    raise UserError(f"{entries[it.index].path}: {it.reason}")
                warn(f"{entries[it.index].path}: skipped, {it.reason}")
            else:
                done.append(entries[it.index])
                vectors.append(it.vector)
    if not vectors:
        raise UserError("none of the query images could be read")
    return done, np.stack(vectors)


def search(target: Path, limit: int, config: Settings) -> list[dict]:
    built = read_json(
        require_file(
            config.paths.embed_identity,
            "record of the embedding",
            "no pipeline run found; run `make all` first",
        )
    )
    p = embedding.plan(config.embed)
    embedding.check_same_identity(embedding.identity(p), built, warn)
    pca_path = require_file(config.paths.pca, "PCA model", "run `make all` first")
    entries, raw = embed_queries(
        query_entries(target, config.data.patterns), p, config.paths.embed_cache
    )
    model = pca.load(pca_path)
    if raw.shape[1] != model.mean.shape[0]:
        raise UserError(
            f"the model gives {raw.shape[1]}-d vectors but the saved PCA expects "
            f"{model.mean.shape[0]}; rebuild with `make all`"
        )
    reduced = model.project(raw)
    with open_checked_store(config) as (store, receipt):
        exact, hnsw_ef = search_mode(config.bulk_query, receipt)
        results = []
        for start in range(0, len(reduced), BATCH):
            results.extend(
                store.search_vectors(reduced[start : start + BATCH], limit, exact, hnsw_ef)
            )
    return [entry(e.id, None, hits) for e, hits in zip(entries, results)]


def print_table(entries: list[dict]) -> None:
    for e in entries:
        print(f"{e['reference']['id']}")
        width = max([len(n["id"]) for n in e["neighbours"]] + [2])
        print(f"  {'score':>8}  {'id':<{width}}  url")
        for n in e["neighbours"]:
            print(f"  {n['score']:>8.4f}  {n['id']:<{width}}  {n['url'] or '-'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", help="an image file or a folder of images")
    ap.add_argument("--limit", default="10")
    ap.add_argument("--json", action="store_true", help="print JSON (neighbours.json entries)")
    args = ap.parse_args(argv)
    if not args.image:
        raise UserError("usage: make search IMAGE=<file or folder> [LIMIT=10] [JSON=1]")
    if not args.limit.isdigit() or int(args.limit) < 1:
        raise UserError(f"LIMIT must be a whole number of at least 1, got {args.limit!r}")
    target = Path(args.image)
    entries = search(target, int(args.limit), parameters.load())
    if args.json:
        data = entries[0] if target.is_file() else entries
        json.dump(data, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print_table(entries)


if __name__ == "__main__":
    run(main)
