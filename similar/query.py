"""Neighbour lists of reference images: which references, how to search, what to report.

Shared by bulk_query (and, for the search mode, `make search`). neighbours.json is an array
in reference order, `{"reference": {"id","url"}, "neighbours": [{"id","url","score"}, ...]}`,
by descending score (6 decimals), ties by id, a reference never among its own neighbours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
import orjson
from tqdm import tqdm

from .errors import UserError, warn
from .files import atomic_open, require_file, text_lines
from .knn import unit_rows
from .ranking import TIE_MARGIN, Hit, rank
from .settings import BulkQuerySettings, Settings

RECALL_KS = (1, 5, 10)
QUERY_BLOCK = 4096  # references per faiss.knn call (it multiplies them in blocks of its own)
SCORE_BINS = np.round(np.linspace(-1.0, 1.0, 101), 2)


def read_references(s: Settings, all_ids) -> list[str]:
    """The reference ids in list order, without repeats; `all_ids()` lists the collection."""
    if s.bulk_query.references == "all":
        return sorted(all_ids())
    source = require_file(
        s.data.queries, "reference list", "set data.queries in params.yaml (one image id per line)"
    )
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


def search_all(
    store, refs: list[str], limit: int, batch_size: int, exact: bool, hnsw_ef: int | None = None
):
    """Entries for neighbours.json in reference order, and the ids not in the collection."""
    entries, missing = [], []
    for start in tqdm(
        range(0, len(refs), batch_size), desc="bulk_query", unit="batch", disable=None
    ):
        chunk = refs[start : start + batch_size]
        answers = store.search_ids(chunk, limit, exact, hnsw_ef)
        for ref in chunk:
            if ref not in answers:
                missing.append(ref)
                continue
            url, hits = answers[ref]
            entries.append(
                {
                    "reference": {"id": ref, "url": url},
                    "neighbours": [{"id": h.id, "url": h.url, "score": h.score} for h in hits],
                }
            )
    return entries, missing


def score_metrics(entries: list[dict]) -> dict:
    top1 = [e["neighbours"][0]["score"] for e in entries if e["neighbours"]]
    top10 = [n["score"] for e in entries for n in e["neighbours"][:10]]
    return {
        "mean_top1_score": round(float(np.mean(top1)), 6) if top1 else 0.0,
        "mean_score@10": round(float(np.mean(top10)), 6) if top10 else 0.0,
    }


def score_histogram(entries: list[dict]) -> list[tuple]:
    scores = [n["score"] for e in entries for n in e["neighbours"]]
    counts, _ = np.histogram(scores, bins=SCORE_BINS)
    return [(f"{lo:.2f}", int(c)) for lo, c in zip(SCORE_BINS[:-1], counts)]


def read_ids_urls(path) -> tuple[list[str], list[str | None]]:
    """Ids and URLs of vectors.jsonl in file order, without parsing the vectors (the store's
    records are `{"id", "url", "vector"}` in that order; anything else is parsed whole)."""
    ids, urls = [], []
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            cut = line.find(b',"vector":')
            try:
                obj = orjson.loads(line[:cut] + b"}" if cut > 0 else line)
                ids.append(obj["id"])
                urls.append(obj.get("url"))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(
                    f"{path}:{line_no}: not a vector record ({exc}); "
                    "rerun `dvc repro -f attach_iiif`"
                ) from None
    return ids, urls


def product_matrix(reduced_path, count: int, distance: str) -> np.ndarray:
    """The vectors the store was loaded from, as float32 rows ready for dot products."""
    x = np.load(
        require_file(reduced_path, "reduced vectors", "run `dvc repro reduce`"), mmap_mode="r"
    )
    if x.shape[0] != count:
        raise UserError(
            f"{reduced_path} has {x.shape[0]} vectors but vectors.jsonl has {count}; "
            "rerun `dvc repro -f attach_iiif`"
        )
    return unit_rows(x) if distance == "cosine" else np.ascontiguousarray(x, dtype=np.float32)


def top_hits(
    x: np.ndarray, rows: np.ndarray, ids: list[str], urls: list, limit: int
) -> Iterator[list[Hit]]:
    """Each row's `limit` best other rows as ranked Hits: `limit + TIE_MARGIN` candidates from
    faiss's blocked float32 product and heaps, scored again in float64 (so the 6 printed
    decimals do not depend on the BLAS), then the store's own ranking (ties by id)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    n = x.shape[0]
    m = min(limit + TIE_MARGIN + 1, n)  # + 1: the row itself is among its own results
    for start in range(0, len(rows), QUERY_BLOCK):
        chunk = rows[start : start + QUERY_BLOCK]
        _, cand = faiss.knn(x[chunk], x, m, metric=faiss.METRIC_INNER_PRODUCT)
        for r, cols in zip(chunk, cand):
            cols = cols[(cols != r) & (cols >= 0)]
            exact = x[cols].astype(np.float64) @ x[r].astype(np.float64)
            yield rank(
                [Hit(ids[c], urls[c], s) for c, s in zip(cols, exact)], limit, exclude=ids[r]
            )


def search_product(x: np.ndarray, ids: list[str], urls: list, refs: list[str], limit: int):
    """Entries for neighbours.json by matrix product, in reference order, and the ids not in
    the collection: the same lists as the store's exact search, at the speed of a product."""
    row = {iid: i for i, iid in enumerate(ids)}
    present = [r for r in refs if r in row]
    missing = [r for r in refs if r not in row]
    rows = np.array([row[r] for r in present], dtype=np.int64)
    entries = [
        {
            "reference": {"id": ids[r], "url": urls[r]},
            "neighbours": [{"id": h.id, "url": h.url, "score": h.score} for h in hits],
        }
        for r, hits in zip(
            rows,
            tqdm(
                top_hits(x, rows, ids, urls, limit),
                total=len(rows),
                desc="bulk_query",
                unit="ref",
                disable=None,
            ),
        )
    ]
    return entries, missing


def exact_lists(vectors_file, reduced_path, distance: str, refs: list[str], top: int) -> dict:
    """id -> the `top` neighbour entries of each of `refs`, by the exact product search."""
    ids, urls = read_ids_urls(vectors_file)
    x = product_matrix(reduced_path, len(ids), distance)
    found, _ = search_product(x, ids, urls, refs, top)
    return {e["reference"]["id"]: e["neighbours"] for e in found}


def sampled_recall(
    entries: list[dict],
    x: np.ndarray,
    ids: list[str],
    k: int = 10,
    sample: int = 250,
    seed: int = 0,
) -> float:
    """Share of the neighbour lists' top-k that an exact search also puts in the top k, on a
    seeded sample of references: one float32 matrix product, its k-th best score per row, and
    a neighbour counts when it scores at least that (less 1e-6: ties and rounding). Measures
    what approximate search (HNSW) costs, and checks the exact engines."""
    if not entries:
        return 0.0
    rng = np.random.default_rng(seed)
    chosen = [
        entries[i]
        for i in sorted(rng.choice(len(entries), size=min(sample, len(entries)), replace=False))
    ]
    row = {iid: i for i, iid in enumerate(ids)}
    rows = np.array([row[e["reference"]["id"]] for e in chosen], dtype=np.int64)
    sims = x[rows] @ x.T
    sims[np.arange(len(rows)), rows] = -np.inf
    overlaps = []
    for e, _row, srow in zip(chosen, rows, sims):
        kk = min(k, len(e["neighbours"]), len(ids) - 1)
        if kk:
            kth = np.partition(srow, len(srow) - kk)[len(srow) - kk]
            got = [row[n["id"]] for n in e["neighbours"][:kk]]
            overlaps.append(float(np.mean(srow[got] >= kth - 1e-6)))
    return round(float(np.mean(overlaps)), 6) if overlaps else 0.0


def neighbours_bytes(entries: list[dict]) -> bytes:
    """One reference per line inside a JSON array: diffable, and byte-stable."""
    lines = [json.dumps(entry, ensure_ascii=False, separators=(", ", ": ")) for entry in entries]
    body = ",\n".join(lines)
    return ("[\n" + body + ("\n" if lines else "") + "]\n").encode("utf-8")


def write_neighbours(target, entries: list[dict]) -> None:
    with atomic_open(target, "wb") as fh:
        fh.write(neighbours_bytes(entries))
