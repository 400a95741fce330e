"""The vector store: one small interface, two Qdrant implementations.

`qdrant.url` chooses: empty -> Qdrant Edge (the engine in-process, stored under
`paths.store`); `http(s)://host:port` -> a Qdrant server through qdrant-client;
`local:<dir>` -> qdrant-client's on-disk local mode (tests, debugging).

Points are keyed by a UUIDv5 of the image id and carry `image_id` and `url` in their
payload. Searches are batched; a reference is named by id and its stored vector is used,
and it is never among its own neighbours.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import config as cfg
from .config import UserError

# extra results fetched so that ties at the cut are broken by id, not by the engine
TIE_MARGIN = 10
POINT_NAMESPACE = uuid.UUID("6f1c3a52-6d1e-5b8e-9d5c-0c8f6a3e2b17")


def point_id(image_id: str) -> str:
    """The Qdrant point id of an image: stable across runs and machines."""
    return str(uuid.uuid5(POINT_NAMESPACE, image_id))


@dataclass(frozen=True)
class CollectionSettings:
    """How a collection is built; the server honours all, Edge what applies to one process."""
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    on_disk: bool = False
    shard_number: int = 1
    replication_factor: int = 1
    hnsw_index: bool = False  # build the HNSW index (large collections); else exact search only
    distance: str = "cosine"  # cosine | dot: both score "higher is more similar"


@dataclass(frozen=True)
class Hit:
    id: str
    url: str | None
    score: float


def rank(hits: Sequence[Hit], limit: int, exclude: str | None = None) -> list[Hit]:
    """Neighbours by descending score (rounded to 6 decimals), ties by id, at most `limit`."""
    kept = [Hit(h.id, h.url, round(float(h.score), 6)) for h in hits if h.id != exclude]
    kept.sort(key=lambda h: (-h.score, h.id))
    return kept[:limit]


class VectorStore(ABC):
    """What ingest, bulk_query and search need from a collection."""

    backend: str

    @abstractmethod
    def recreate(self, dim: int, settings: CollectionSettings = CollectionSettings()) -> None:
        """Start an empty collection of `dim`-d cosine vectors (replacing any old one)."""

    @abstractmethod
    def upsert(self, image_ids: Sequence[str], vectors: np.ndarray,
               urls: Sequence[str | None]) -> None:
        """Add or replace points, one per image id."""

    @abstractmethod
    def commit(self) -> None:
        """Make everything upserted durable and searchable."""

    @abstractmethod
    def count(self) -> int:
        """Points in the collection; 0 when it does not exist."""

    @abstractmethod
    def dim(self) -> int | None:
        """The collection's vector size, or None when it does not exist."""

    @abstractmethod
    def fetch(self, image_ids: Sequence[str]) -> dict[str, tuple[str | None, np.ndarray]]:
        """For the ids present: (url, stored vector)."""

    @abstractmethod
    def search_vectors(self, vectors: np.ndarray, limit: int, exact: bool, hnsw_ef: int | None,
                       exclude: Sequence[str | None] | None = None) -> list[list[Hit]]:
        """Neighbours of each vector; `exclude[i]` is an image id kept out of row i."""

    @abstractmethod
    def image_ids(self) -> list[str]:
        """Every image id in the collection, sorted."""

    def search_ids(self, image_ids: Sequence[str], limit: int, exact: bool,
                   hnsw_ef: int | None = None) -> dict[str, tuple[str | None, list[Hit]]]:
        """Neighbours of stored images named by id: {id: (its url, neighbours)}; absent ids omitted."""
        found = self.fetch(image_ids)
        present = [i for i in image_ids if i in found]
        if not present:
            return {}
        vectors = np.stack([found[i][1] for i in present])
        results = self.search_vectors(vectors, limit, exact, hnsw_ef, exclude=present)
        return {i: (found[i][0], hits) for i, hits in zip(present, results)}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EdgeStore(VectorStore):
    """Qdrant Edge: the Qdrant engine inside this process, one shard folder per collection.

    `recreate` builds the new shard in a temporary folder; `commit` swaps it into place,
    so a failed ingest leaves the previous collection as it was.
    """

    backend = "edge"

    def __init__(self, root: str | os.PathLike, collection: str):
        import qdrant_edge as qe
        self.qe = qe
        self.root = Path(root)
        self.path = self.root / collection
        self._building: Path | None = None
        self._shard = None
        self._index = False

    def _open(self):
        if self._shard is None:
            if not (self.path.is_dir() and any(self.path.iterdir())):
                return None
            self._shard = self.qe.EdgeShard.load(str(self.path))
        return self._shard

    def recreate(self, dim: int, settings: CollectionSettings = CollectionSettings()) -> None:
        qe = self.qe
        self.close()
        self._building = self.path.with_name(f".{self.path.name}.building")
        shutil.rmtree(self._building, ignore_errors=True)
        self._building.parent.mkdir(parents=True, exist_ok=True)
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=getattr(qe.Distance, settings.distance.title()),
                                        on_disk=settings.on_disk),
            hnsw_config=qe.HnswIndexConfig(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct,
                                           full_scan_threshold=10000),
            # payload (image id, url) is read for every hit: keep it cached in memory
            payload_memory=qe.Memory.Cached)
        self._index = settings.hnsw_index
        self._shard = qe.EdgeShard.create(str(self._building), config)

    def upsert(self, image_ids, vectors, urls) -> None:
        qe = self.qe
        points = [qe.Point(point_id(i), np.asarray(v, np.float32).tolist(),
                           {"image_id": i, "url": u})
                  for i, v, u in zip(image_ids, vectors, urls)]
        self._shard.update(qe.UpdateOperation.upsert_points(points))

    def commit(self) -> None:
        shard = self._shard
        if self._index:
            shard.optimize()  # merge segments and build the HNSW index
        shard.flush()
        shard.close()
        self._shard = None
        if self._building is not None:
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if self.path.exists():
                os.replace(self.path, old)
            os.replace(self._building, self.path)
            shutil.rmtree(old, ignore_errors=True)
            self._building = None

    def count(self) -> int:
        shard = self._open()
        return 0 if shard is None else int(shard.count(self.qe.CountRequest(exact=True)))

    def dim(self) -> int | None:
        shard = self._open()
        if shard is None:
            return None
        return None if not self.count() else len(shard.scroll(
            self.qe.ScrollRequest(limit=1, with_vector=True))[0][0].vector)

    def fetch(self, image_ids):
        shard = self._open()
        if shard is None or not image_ids:
            return {}
        records = shard.retrieve([point_id(i) for i in image_ids], with_payload=True,
                                 with_vector=True)
        return {r.payload["image_id"]: (r.payload.get("url"), np.asarray(r.vector, np.float32))
                for r in records}

    def search_vectors(self, vectors, limit, exact, hnsw_ef, exclude=None):
        qe = self.qe
        shard = self._open()
        if shard is None:
            return [[] for _ in vectors]
        exclude = exclude or [None] * len(vectors)
        params = qe.SearchParams(exact=exact, hnsw_ef=hnsw_ef)
        requests = []
        for vector, ex in zip(vectors, exclude):
            filt = qe.Filter(must_not=[qe.HasIdCondition({point_id(ex)})]) if ex else None
            requests.append(qe.QueryRequest(
                limit=limit + TIE_MARGIN, query=qe.Query.Nearest(np.asarray(vector, np.float32).tolist()),
                filter=filt, with_payload=True, params=params))
        answers = shard.query_batch(qe.QueryBatchRequest(requests))
        return [rank([Hit(p.payload["image_id"], p.payload.get("url"), p.score) for p in points],
                     limit, ex)
                for points, ex in zip(answers, exclude)]

    def image_ids(self) -> list[str]:
        shard = self._open()
        if shard is None:
            return []
        ids, offset = [], None
        while True:
            records, offset = shard.scroll(self.qe.ScrollRequest(
                offset=offset, limit=1024, with_payload=True, with_vector=False))
            ids.extend(r.payload["image_id"] for r in records)
            if offset is None:
                return sorted(ids)

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def open_store(url: str, collection: str, edge_root: str | os.PathLike) -> VectorStore:
    """The store `qdrant.url` names."""
    url = (url or "").strip()
    if not url:
        return EdgeStore(edge_root, collection)
    from .server_store import ClientStore
    return ClientStore(url, collection)


def describe(url: str, collection: str, edge_root: str | os.PathLike) -> str:
    url = (url or "").strip()
    return f"Qdrant Edge at {Path(edge_root) / collection}" if not url else f"{url} ({collection})"


def check_collection_name(name: str) -> str:
    if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"params.yaml: 'qdrant.collection' {name!r} is not a valid collection name")
    return name


def store_settings(params: dict, collection: str | None = None) -> dict:
    """Arguments of open_store() from params; `collection` overrides the name (e.g. from a receipt)."""
    url = cfg.get_str(params, "qdrant.url", allow_empty=True)
    name = collection or collection_name(cfg.get_str(params, "qdrant.collection"), url)
    return {"url": url, "collection": check_collection_name(name),
            "edge_root": cfg.path(params, "store")}


def collection_name(base: str, url: str) -> str:
    """On a shared server, each DVC experiment loads its own collection (`<base>-<exp name>`),
    so runs from `dvc exp run --temp/--queue` never overwrite each other. The embedded store
    lives inside each experiment's own workspace and needs no suffix."""
    exp = os.environ.get("DVC_EXP_NAME", "").strip()
    return f"{base}-{exp}" if exp and (url or "").strip() else base


def collection_settings(params: dict, points: int) -> CollectionSettings:
    """Settings of a collection of `points` points; the HNSW index only from qdrant.hnsw_above."""
    return CollectionSettings(
        hnsw_index=points >= cfg.get_int(params, "qdrant.hnsw_above", 0),
        # Euclidean distance is left out: its scores rank the other way round
        distance=cfg.get_choice(params, "qdrant.distance", ["cosine", "dot"]),
        hnsw_m=cfg.get_int(params, "qdrant.hnsw_m", 2),
        hnsw_ef_construct=cfg.get_int(params, "qdrant.hnsw_ef_construct", 4),
        on_disk=cfg.get_bool(params, "qdrant.on_disk"),
        shard_number=cfg.get_int(params, "qdrant.shard_number", 1),
        replication_factor=cfg.get_int(params, "qdrant.replication_factor", 1))
