"""Neighbour lists of reference images: which references, how to search, what to report.

Shared by bulk_query (and, for the search mode, `make search`). neighbours.json is an array
in reference order, `{"reference": {"id","url"}, "neighbours": [{"id","url","score"}, ...]}`,
by descending score (6 decimals), ties by id, a reference never among its own neighbours.
"""
from __future__ import annotations

import json

import numpy as np
from tqdm import tqdm

from .errors import UserError, warn
from .evaluation import normalise
from .files import atomic_open, read_vector_batches, require_file, text_lines
from .settings import BulkQuerySettings, Settings
from .store import VectorStore

RECALL_KS = (1, 5, 10)
SCORE_BINS = np.round(np.linspace(-1.0, 1.0, 101), 2)


def read_references(s: Settings, store: VectorStore) -> list[str]:
    """The reference ids in list order, without repeats."""
    if s.bulk_query.references == "all":
        return store.image_ids()
    source = require_file(s.data.queries, "reference list",
                          "set data.queries in params.yaml (one image id per line)")
    ids = text_lines(source)
    unique = list(dict.fromkeys(ids))
    if len(unique) < len(ids):
        warn(f"{source}: {len(ids) - len(unique)} repeated ids ignored")
    if not unique:
        raise UserError(f"{source}: no reference ids (one image id per line)")
    return unique


def search_mode(q: BulkQuerySettings, receipt: dict) -> tuple[bool, int | None]:
    """(exact, hnsw_ef). `bulk_query.exact: auto` uses the HNSW index when ingest built one
    (collections of at least qdrant.hnsw_above points), exact search otherwise."""
    exact = q.exact
    if exact == "auto":
        exact = not receipt.get("hnsw_index", False)
    return exact, None if exact else q.hnsw_ef


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


def neighbours_bytes(entries: list[dict]) -> bytes:
    """One reference per line inside a JSON array: diffable, and byte-stable."""
    lines = [json.dumps(entry, ensure_ascii=False, separators=(", ", ": ")) for entry in entries]
    body = ",\n".join(lines)
    return ("[\n" + body + ("\n" if lines else "") + "]\n").encode("utf-8")


def write_neighbours(target, entries: list[dict]) -> None:
    with atomic_open(target, "wb") as fh:
        fh.write(neighbours_bytes(entries))
