"""How bulk_query searches: which engine for which collection, and the store's own search.

Exact search (below qdrant.hnsw_above points) is the references' matrix product over the
vectors the store was loaded from (`bulk_query.engine: product`, similar.search.product); HNSW
search, and `engine: store`, ask the store. Both give entries as `neighbours.entry` builds
them. A reference that is a page with a picture printed on it (vectors/pages.py) is searched
with the picture too, the way the store is (`with_pictures`).
"""

from __future__ import annotations

from ..errors import UserError
from ..progress import over
from ..settings import BulkQuerySettings
from .neighbours import entry
from .product import picture_hits, search_product
from .ranking import Hit, with_picture


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

    def size(start: int) -> int:
        return min(batch_size, len(refs) - start)

    for start in over(range(0, len(refs), batch_size), len(refs), "bulk_query", "ref", size):
        chunk = refs[start : start + batch_size]
        answers = store.search_ids(chunk, limit, exact, hnsw_ef)
        for ref in chunk:
            if ref not in answers:
                missing.append(ref)
                continue
            url, hits = answers[ref]
            entries.append(entry(ref, url, hits))
    return entries, missing


def search_lists(
    config, x, ids, urls, refs, receipt, pictures=None
) -> tuple[list[dict], list[str], str]:
    """bulk_query's lists (entries, ids not in the collection, the mode in words): the product
    for exact search with `engine: product`, else the store, checked against its receipt. With
    `pictures` (vectors/pictures.py, projected), a reference's picture is searched too."""
    from .receipt import open_checked_store

    options = config.bulk_query
    exact, hnsw_ef = search_mode(options, receipt)
    mode = f"exact, {options.engine}" if exact else f"HNSW ef={hnsw_ef}"
    if pictures is not None:
        pictures = pictures.among(refs)
    if exact and options.engine == "product":
        entries, missing = search_product(x, ids, urls, refs, options.limit)
        distance = receipt.get("distance", "cosine")
        found = (
            {}
            if pictures is None
            else picture_hits(x, ids, urls, pictures, options.limit, distance)
        )
    else:
        with open_checked_store(config) as (store, _):
            entries, missing = search_all(
                store, refs, options.limit, options.batch_size, exact, hnsw_ef
            )
            found = {}
            if pictures is not None:
                found = store_picture_hits(
                    store, pictures, options.limit, options.batch_size, exact, hnsw_ef
                )
    if refs and not entries:
        raise UserError(
            f"{config.data.queries}: none of its {len(refs)} reference ids is in the "
            f"collection (first: {refs[0]}); list ids as images.csv names them"
        )
    return with_pictures(entries, found, options.limit), missing, mode


def store_picture_hits(
    store, pictures, limit: int, batch_size: int, exact: bool, hnsw_ef: int | None
) -> dict[str, list[Hit]]:
    """page id -> the store's `limit` neighbours of the picture found on it, never the page."""
    pages = [str(page) for page in pictures.ids]
    found: dict[str, list[Hit]] = {}
    for start in range(0, len(pages), batch_size):
        chunk = pages[start : start + batch_size]
        vectors = pictures.vectors[start : start + batch_size]
        found.update(zip(chunk, store.search_vectors(vectors, limit, exact, hnsw_ef, chunk)))
    return found


def with_pictures(entries: list[dict], found: dict[str, list[Hit]], limit: int) -> list[dict]:
    """The entries, each page's holding its own and its picture's neighbours (`found`;
    `ranking.with_picture`)."""
    out = []
    for e in entries:
        page, url = e["reference"]["id"], e["reference"]["url"]
        if page in found:
            own = [Hit(n["id"], n["url"], n["score"]) for n in e["neighbours"]]
            e = entry(page, url, with_picture(own, found[page], limit, page))
        out.append(e)
    return out
