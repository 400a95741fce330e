"""Stage `bulk_query`: the N most similar images of every reference, as neighbours.json.

References are named by id and searched by their stored vectors, many per call; a
reference is never its own neighbour. Ids not in the collection are warned about and
listed in the metrics. With ground truth (`data.groups`) the metrics also say how well
each reference's known copies come first.
"""
from __future__ import annotations

import json

import numpy as np
from tqdm import tqdm

from . import config as cfg
from .evaluation import normalise, ranking_metrics
from .files import (atomic_open, read_csv, read_json, read_vector_batches, text_lines,
                    write_csv, write_json)
from .store import VectorStore, open_store, store_settings

RECALL_KS = (1, 5, 10)
SCORE_BINS = np.round(np.linspace(-1.0, 1.0, 101), 2)


def read_references(params: dict, store: VectorStore) -> list[str]:
    """The reference ids in list order, without repeats."""
    if cfg.get_choice(params, "bulk_query.references", ["file", "all"]) == "all":
        return store.image_ids()
    source = cfg.require_file(cfg.get_str(params, "data.queries"), "reference list",
                              "set data.queries in params.yaml (one image id per line)")
    ids = text_lines(source)
    unique = list(dict.fromkeys(ids))
    if len(unique) < len(ids):
        cfg.warn(f"{source}: {len(ids) - len(unique)} repeated ids ignored")
    if not unique:
        raise cfg.UserError(f"{source}: no reference ids (one image id per line)")
    return unique


def read_groups(path: str) -> dict[str, str]:
    """Ground truth as id -> group. Two shapes are accepted: `id,group` (images of one group
    are copies of each other), or the preview's exported review marks
    `reference,neighbour,match`, whose confirmed pairs are joined into groups."""
    source = cfg.require_file(path, "ground-truth groups file",
                              "set data.groups in params.yaml to a CSV with columns id,group")
    rows = read_csv(source)
    columns = set(rows[0]) if rows else set()
    if {"reference", "neighbour", "match"} <= columns:
        return groups_from_pairs((r["reference"], r["neighbour"]) for r in rows
                                 if r["match"].strip() in ("1", "true", "yes"))
    if rows and not {"id", "group"} <= columns:
        raise cfg.UserError(f"{source}: expected columns id,group or reference,neighbour,match")
    return {r["id"]: r["group"] for r in rows if r["id"] and r["group"]}


def groups_from_pairs(pairs) -> dict[str, str]:
    """Union-find over confirmed copy pairs; each group is named by its smallest id."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}


def read_receipt(params: dict) -> dict:
    return read_json(cfg.require_file(cfg.path(params, "receipt"), "ingest receipt",
                                      "run `dvc repro ingest`"))


def check_receipt(receipt: dict, store: VectorStore) -> None:
    """The store must hold what ingest recorded; a wiped or different store is a UserError."""
    name = receipt["collection"]
    if receipt.get("backend") not in (None, store.backend):
        raise cfg.UserError(f"collection '{name}' was loaded into the {receipt['backend']} store, "
                            f"but qdrant.url now names the {store.backend} one; run "
                            "`dvc repro -f ingest`")
    points = store.count()
    if points != receipt["count"]:
        raise cfg.UserError(
            f"collection '{name}' holds {points} points but the ingest receipt records "
            f"{receipt['count']} (a wiped server, or a container restarted without its volume?); "
            "reload it with `dvc repro -f ingest`")
    dim = store.dim()
    if dim != receipt["dim"]:
        raise cfg.UserError(f"collection '{name}' has {dim}-d vectors but the receipt records "
                            f"{receipt['dim']}; reload it with `dvc repro -f ingest`")


def search_mode(params: dict, receipt: dict) -> tuple[bool, int | None]:
    """(exact, hnsw_ef). `bulk_query.exact: auto` uses the HNSW index when ingest built one
    (collections of at least qdrant.hnsw_above points), exact search otherwise."""
    exact = cfg.get(params, "bulk_query.exact")
    if exact not in (True, False, "auto"):
        raise cfg.UserError(f"params.yaml: 'bulk_query.exact' must be auto, true or false; got {exact!r}")
    if exact == "auto":
        exact = not receipt.get("hnsw_index", False)
    return exact, None if exact else cfg.get_int(params, "bulk_query.hnsw_ef", 1)


def search_all(store: VectorStore, refs: list[str], limit: int, batch_size: int, exact: bool,
               hnsw_ef: int | None = None):
    """Entries for neighbours.json in reference order, and the ids not in the collection."""
    entries, missing = [], []
    for start in tqdm(range(0, len(refs), batch_size), desc="bulk_query", unit="batch",
                      disable=None):
        chunk = refs[start:start + batch_size]
        answers = store.search_ids(chunk, limit, exact, hnsw_ef)
        for ref in chunk:
            if ref not in answers:
                missing.append(ref)
                continue
            url, hits = answers[ref]
            entries.append({"reference": {"id": ref, "url": url},
                            "neighbours": [{"id": h.id, "url": h.url, "score": h.score}
                                           for h in hits]})
    return entries, missing


def score_metrics(entries: list[dict]) -> dict:
    top1 = [e["neighbours"][0]["score"] for e in entries if e["neighbours"]]
    top10 = [n["score"] for e in entries for n in e["neighbours"][:10]]
    return {"mean_top1_score": round(float(np.mean(top1)), 6) if top1 else 0.0,
            "mean_score@10": round(float(np.mean(top10)), 6) if top10 else 0.0}


def score_histogram(entries: list[dict]) -> list[tuple]:
    scores = [n["score"] for e in entries for n in e["neighbours"]]
    counts, _ = np.histogram(scores, bins=SCORE_BINS)
    return [(f"{lo:.2f}", int(c)) for lo, c in zip(SCORE_BINS[:-1], counts)]


def exact_recall(entries: list[dict], vectors_path, k: int = 10, sample: int = 1000,
                 seed: int = 0, distance: str = "cosine") -> float:
    """Overlap of the store's top-k with an exact search computed here from vectors.jsonl
    (same distance), on a seeded sample of references: what approximate search (HNSW) costs."""
    if not entries:
        return 0.0
    ids, blocks = [], []
    for batch_ids, vectors, _ in read_vector_batches(vectors_path, 8192):
        ids.extend(batch_ids)
        blocks.append(vectors)
    matrix = np.concatenate(blocks).astype(np.float64)
    if distance == "cosine":
        matrix = normalise(matrix)
    row = {iid: i for i, iid in enumerate(ids)}
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(entries), size=min(sample, len(entries)), replace=False))
    overlaps = []
    for e in (entries[i] for i in chosen):
        r = row[e["reference"]["id"]]
        sims = matrix @ matrix[r]
        sims[r] = -np.inf
        kk = min(k, len(ids) - 1, len(e["neighbours"]))
        if kk == 0:
            continue
        truth = set(np.argsort(-sims, kind="stable")[:kk].tolist())
        got = {row[n["id"]] for n in e["neighbours"][:kk]}
        overlaps.append(len(truth & got) / kk)
    return round(float(np.mean(overlaps)), 6) if overlaps else 0.0


def write_neighbours(target, entries: list[dict]) -> None:
    """One reference per line inside a JSON array: diffable, and byte-stable."""
    with atomic_open(target) as fh:
        fh.write("[\n")
        for i, entry in enumerate(entries):
            fh.write(json.dumps(entry, ensure_ascii=False, separators=(", ", ": ")))
            fh.write(",\n" if i < len(entries) - 1 else "\n")
        fh.write("]\n")


def main() -> None:
    params = cfg.load_params()
    limit = cfg.get_int(params, "bulk_query.limit", 1)
    batch_size = cfg.get_int(params, "bulk_query.batch_size", 1)
    groups_path = cfg.get_str(params, "data.groups")
    receipt = read_receipt(params)
    with open_store(**store_settings(params, receipt["collection"])) as store:
        check_receipt(receipt, store)
        exact, hnsw_ef = search_mode(params, receipt)
        refs = read_references(params, store)
        entries, missing = search_all(store, refs, limit, batch_size, exact, hnsw_ef)
    write_neighbours(cfg.path(params, "neighbours"), entries)
    metrics = {"references": len(entries), "missing_references": len(missing),
               **score_metrics(entries),
               "ann_recall@10": exact_recall(entries, cfg.path(params, "vectors"),
                                             distance=receipt.get("distance", "cosine"))}
    ks = sorted(set(RECALL_KS) | {limit})
    groups = read_groups(groups_path)
    recall_rows = []
    if groups:
        results = {e["reference"]["id"]: [n["id"] for n in e["neighbours"]] for e in entries}
        curve = ranking_metrics(results, groups, range(1, limit + 1))
        metrics.update({f"recall@{k}": curve[f"recall@{k}"] for k in RECALL_KS if k <= limit})
        metrics["mAP"] = curve["mAP"]
        metrics["evaluated_references"] = curve["evaluated_references"]
        recall_rows = [(k, f"{curve[f'recall@{k}']:.6f}") for k in range(1, limit + 1)]
    metrics["missing_ids"] = missing
    write_json(cfg.path(params, "query_metrics"), metrics)
    write_csv(cfg.path(params, "scores_plot"), ["score", "count"], score_histogram(entries))
    write_csv(cfg.path(params, "recall_plot"), ["k", "recall"], recall_rows)
    summary = f", recall@10 {metrics['recall@10']:.3f}, mAP {metrics['mAP']:.3f}" \
        if "recall@10" in metrics else ""
    mode = "exact" if exact else f"HNSW ef={hnsw_ef}"
    print(f"bulk_query: {len(entries)} references x {limit} neighbours ({mode}) -> "
          f"{cfg.path(params, 'neighbours')}{summary}")
    if missing:
        cfg.warn(f"{len(missing)} reference ids are not in the collection: "
                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")


if __name__ == "__main__":
    cfg.run(main)
