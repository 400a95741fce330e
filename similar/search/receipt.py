"""The ingest receipt: what was loaded into the store, and the check every reader makes.

Ingest writes the receipt (a DVC output, in git) and stamps the collection itself with the
same fingerprint: the SHA-256 of vectors.jsonl, with the count and dimension. A reader
(bulk_query, `make search`, `make all`) opens the store through `open_checked_store`, which
refuses a store that holds anything else: a wiped or missing collection, another backend,
or another revision's vectors, such as after `git checkout` of an older dvc.lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..errors import UserError
from ..files import read_json, require_file, sha256_file
from ..settings import PathSettings, Settings
from .store import VectorStore, store_for

RELOAD = "reload it with `dvc repro -f ingest` (`make all` does this by itself)"


def fingerprint(vectors_path) -> str:
    return f"sha256:{sha256_file(vectors_path)}"


def make_receipt(
    backend: str,
    collection: str,
    distance: str,
    hnsw_index: bool,
    count: int,
    dim: int,
    fingerprint: str,
) -> dict:
    return {
        "backend": backend,
        "collection": collection,
        "distance": distance,
        "hnsw_index": hnsw_index,
        "count": count,
        "dim": dim,
        "fingerprint": fingerprint,
    }


def stamp_of(receipt: dict) -> dict:
    """What the collection itself keeps of its receipt."""
    return {"fingerprint": receipt["fingerprint"], "count": receipt["count"], "dim": receipt["dim"]}


def read_receipt(paths: PathSettings) -> dict:
    """The receipt ingest wrote (`paths.receipt`)."""
    return read_json(require_file(paths.receipt, "ingest receipt", "run `dvc repro ingest`"))


def check_receipt(receipt: dict, store: VectorStore) -> None:
    """The store must hold what ingest recorded; anything else is a UserError naming the fix."""
    name = receipt["collection"]
    if receipt.get("backend") not in (None, store.backend):
        raise UserError(
            f"collection '{name}' was loaded into the {receipt['backend']} store, "
            f"but qdrant.url now names the {store.backend} one; {RELOAD}"
        )
    points = store.count()
    if points != receipt["count"]:
        raise UserError(
            f"collection '{name}' holds {points} points but the ingest receipt records "
            f"{receipt['count']} (a wiped server, or a container restarted without its volume?); "
            f"{RELOAD}"
        )
    dim = store.dim()
    if dim != receipt["dim"]:
        raise UserError(
            f"collection '{name}' has {dim}-d vectors but the receipt records "
            f"{receipt['dim']}; {RELOAD}"
        )
    stamp = store.stamp()
    if stamp is None:
        raise UserError(
            f"collection '{name}' carries no record of what was loaded into it; {RELOAD}"
        )
    if stamp.get("fingerprint") != receipt["fingerprint"]:
        raise UserError(
            f"collection '{name}' holds another revision's vectors "
            f"({str(stamp.get('fingerprint'))[:19]}..., the receipt records "
            f"{receipt['fingerprint'][:19]}...); {RELOAD}"
        )


@contextlib.contextmanager
def open_checked_store(config: Settings) -> Iterator[tuple[VectorStore, dict]]:
    """The store the receipt names, checked against it, with the receipt."""
    receipt = read_receipt(config.paths)
    with store_for(config, receipt["collection"]) as store:
        check_receipt(receipt, store)
        yield store, receipt
