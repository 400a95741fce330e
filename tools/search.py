"""Search the collection with images from outside it: where does this picture, or a copy, appear?

    python -m tools.search IMAGE_OR_FOLDER [--limit 10] [--json]

Each image is embedded exactly as the last `embed` run did (model, weights, preprocessing
and batch shape, read from dvc.lock), projected with the saved PCA, and searched in the
collection the last `ingest` loaded. A folder is embedded and searched in batches.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from stages import config as cfg
from stages import pca
from stages.bulk_query import check_receipt, read_receipt, search_mode
from stages.embed import cache_settings, embedded_batches, read_settings
from stages.embed_cache import EmbedCache
from stages.images import ImageEntry, discover
from stages.model import Embedder
from stages.store import open_store, store_settings

# the embed params that change a vector; search refuses to mix them with another run's
VECTOR_PARAMS = ("model", "weights", "seed", "image_size", "draft", "precision", "batch_size")


def last_embed_params(lock_path: str = "dvc.lock") -> dict:
    """The embed params of the run that built the collection, as dvc.lock recorded them."""
    try:
        with open(lock_path, encoding="utf-8") as fh:
            lock = yaml.safe_load(fh) or {}
        return lock["stages"]["embed"]["params"]["params.yaml"]["embed"]
    except (FileNotFoundError, KeyError, TypeError):
        raise cfg.UserError("no pipeline run found (dvc.lock has no embed stage); run `make all` "
                            "first") from None


def check_same_embedding(params: dict, recorded: dict) -> None:
    for key in VECTOR_PARAMS:
        now = params["embed"].get(key)
        if key in recorded and recorded[key] != now:
            raise cfg.UserError(
                f"embed.{key} is {now!r} in params.yaml but the collection was built with "
                f"{recorded[key]!r}; set it back, or rebuild the collection with `make all`")


def query_entries(target: Path, patterns) -> list[ImageEntry]:
    if target.is_file():
        return [ImageEntry(str(target), target.name, target)]
    if target.is_dir():
        files = discover(target, patterns)
        if not files:
            raise cfg.UserError(f"{target}: no images matching data.patterns")
        return [ImageEntry(str(f), f.relative_to(target).as_posix(), f) for f in files]
    raise cfg.UserError(f"{target}: no such image file or folder")


def embed_queries(entries: list[ImageEntry], settings: dict, cache_root) -> tuple[list, np.ndarray]:
    """(entries embedded, raw vectors); unreadable files are reported and skipped."""
    embedder = Embedder(settings["spec"], settings["device"], settings["precision"])
    cache = EmbedCache(cache_root, cache_settings(settings, embedder), embedder.dim)
    done, vectors = [], []
    for batch in embedded_batches(entries, settings, embedder, cache, num_workers=0,
                                  keep_new=False):
        for it in batch:
            if it.reason is not None:
                if len(entries) == 1:
                    raise cfg.UserError(f"{entries[it.index].path}: {it.reason}")
                cfg.warn(f"{entries[it.index].path}: skipped, {it.reason}")
            else:
                done.append(entries[it.index])
                vectors.append(it.vector)
    if not vectors:
        raise cfg.UserError("none of the query images could be read")
    return done, np.stack(vectors)


def search(target: Path, limit: int, params: dict) -> list[dict]:
    recorded = last_embed_params()
    check_same_embedding(params, recorded)
    pca_path = cfg.require_file(cfg.path(params, "pca"), "PCA model", "run `make all` first")
    receipt = read_receipt(params)
    settings = read_settings(params)
    cache_root = cfg.get_str(params, "paths.embed_cache", allow_empty=True) or None
    entries, raw = embed_queries(query_entries(target, settings["patterns"]), settings, cache_root)
    model = pca.load(pca_path)
    if raw.shape[1] != model.mean.shape[0]:
        raise cfg.UserError(f"the model gives {raw.shape[1]}-d vectors but the saved PCA expects "
                            f"{model.mean.shape[0]}; rebuild with `make all`")
    reduced = model.project(raw)
    with open_store(**store_settings(params, receipt["collection"])) as store:
        check_receipt(receipt, store)
        exact, hnsw_ef = search_mode(params, receipt)
        results = []
        for start in range(0, len(reduced), 64):
            results.extend(store.search_vectors(reduced[start:start + 64], limit, exact, hnsw_ef))
    return [{"reference": {"id": e.id, "url": None},
             "neighbours": [{"id": h.id, "url": h.url, "score": h.score} for h in hits]}
            for e, hits in zip(entries, results)]


def print_table(entries: list[dict]) -> None:
    for e in entries:
        print(f"{e['reference']['id']}")
        width = max([len(n["id"]) for n in e["neighbours"]] + [2])
        print(f"  {'score':>8}  {'id':<{width}}  url")
        for n in e["neighbours"]:
            print(f"  {n['score']:>8.4f}  {n['id']:<{width}}  {n['url'] or '-'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path, help="an image file or a folder of images")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print JSON (neighbours.json entries)")
    args = ap.parse_args(argv)
    if args.limit < 1:
        raise cfg.UserError("--limit must be at least 1")
    entries = search(args.image, args.limit, cfg.load_params())
    if args.json:
        data = entries[0] if args.image.is_file() else entries
        json.dump(data, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print_table(entries)


if __name__ == "__main__":
    cfg.run(main)
