"""The vector store: one interface (`base`), Qdrant Edge in-process (`edge`), and a Qdrant
server or qdrant-client's local mode (`client`). `qdrant.url` is parsed once, in settings,
into a `StoreTarget`; this is the one place that turns it into a store."""

from __future__ import annotations

import os
from pathlib import Path

from ...settings import QdrantSettings, Settings, StoreTarget
from .base import CollectionSettings, Hit, VectorStore, point_id, rank  # noqa: F401


def open_store(
    target: StoreTarget, collection: str, edge_root: str | os.PathLike, lock_timeout: float = 0.0
) -> VectorStore:
    """The store `target` names (the embedded one is opened, and locked, when first used;
    `lock_timeout` is how long it waits for another process)."""
    if target.kind == "edge":
        from .edge import EdgeStore

        return EdgeStore(edge_root, collection, lock_timeout)
    from .client import ClientStore

    return ClientStore(target, collection)


def collection_name(base: str, target: StoreTarget) -> str:
    """On a shared server, each DVC experiment loads its own collection (`<base>-<exp name>`),
    so runs from `dvc exp run --temp/--queue` never overwrite each other. The embedded store
    lives inside each experiment's own workspace and needs no suffix."""
    exp = os.environ.get("DVC_EXP_NAME", "").strip()
    return f"{base}-{exp}" if exp and target.kind != "edge" else base


def store_for(config: Settings, collection: str | None = None) -> VectorStore:
    """The store of these settings; `collection` (from a receipt) overrides the name."""
    q = config.qdrant
    name = collection or collection_name(q.collection, q.target)
    return open_store(q.target, name, config.paths.store, q.lock_timeout)


def describe(config: Settings, collection: str) -> str:
    return config.qdrant.target.describe(collection, Path(config.paths.store))


def collection_settings(q: QdrantSettings, points: int) -> CollectionSettings:
    """Settings of a collection of `points` points; the HNSW index only from qdrant.hnsw_above."""
    return CollectionSettings(
        hnsw_index=points >= q.hnsw_above,
        distance=q.distance,
        hnsw_m=q.hnsw_m,
        hnsw_ef_construct=q.hnsw_ef_construct,
        on_disk=q.on_disk,
        shard_number=q.shard_number,
        replication_factor=q.replication_factor,
    )
