"""Qdrant Edge: the Qdrant engine inside this process, one shard folder per collection.

`recreate` builds the new shard in a temporary folder of its own; `commit` writes the
stamp into it and swaps it into place, so a failed or killed ingest leaves the previous
collection as it was, and a later run removes the leftovers. The store is held under a
file lock while open (see `lock`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ...files import check_replaceable, remove_stale_temps, temp_prefix
from .base import TIE_MARGIN, CollectionSettings, Hit, VectorStore, point_id, rank
from .lock import StoreLock, busy

STAMP_FILE = "loaded.json"


class EdgeStore(VectorStore):
    backend = "edge"

    def __init__(self, root: str | os.PathLike, collection: str, lock_timeout: float = 0.0):
        import qdrant_edge as qe

        self.qe = qe
        self.root = Path(root)
        self.path = self.root / collection
        self._lock = StoreLock(self.path, lock_timeout)
        self._building: Path | None = None
        self._shard = None
        self._index = False

    def _load(self, folder: Path):
        try:
            return self.qe.EdgeShard.load(str(folder))
        except Exception as exc:  # the engine raises plain Exceptions
            if "WouldBlock" in str(exc):  # held by a process that does not take our lock
                raise busy(self.path, "another process", self._lock.timeout) from None
            raise

    def _open(self):
        if self._shard is None:
            self._lock.acquire()
            if not (self.path.is_dir() and any(self.path.iterdir())):
                return None
            self._shard = self._load(self.path)
        return self._shard

    def recreate(self, dim: int, settings: CollectionSettings = CollectionSettings()) -> None:
        qe = self.qe
        self._close_shard()
        check_replaceable(self.path, "paths.store", marker=STAMP_FILE)  # commit replaces it
        self._lock.acquire()
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.root, self.path.name)
        self._building = Path(
            tempfile.mkdtemp(prefix=temp_prefix(self.path), suffix=".tmp", dir=self.root)
        )
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=dim,
                distance=getattr(qe.Distance, settings.distance.title()),
                on_disk=settings.on_disk,
            ),
            hnsw_config=qe.HnswIndexConfig(
                m=settings.hnsw_m,
                ef_construct=settings.hnsw_ef_construct,
                full_scan_threshold=10000,
            ),
            # payload (image id, url) is read for every hit: keep it cached in memory
            payload_memory=qe.Memory.Cached,
        )
        self._index = settings.hnsw_index
        self._shard = qe.EdgeShard.create(str(self._building / "shard"), config)

    def upsert(self, image_ids, vectors, urls) -> None:
        qe = self.qe
        points = [
            qe.Point(point_id(i), np.asarray(v, np.float32).tolist(), {"image_id": i, "url": u})
            for i, v, u in zip(image_ids, vectors, urls)
        ]
        self._shard.update(qe.UpdateOperation.upsert_points(points))

    def commit(self, stamp: dict) -> None:
        shard = self._shard
        if self._index:
            shard.optimize()  # merge segments and build the HNSW index
        shard.flush()
        shard.close()
        self._shard = None
        if self._building is not None:
            built = self._building / "shard"
            (built / STAMP_FILE).write_text(json.dumps(stamp, sort_keys=True) + "\n")
            old = self._building / "old"
            check_replaceable(self.path, "paths.store", marker=STAMP_FILE)
            if self.path.exists():
                os.replace(self.path, old)
            os.replace(built, self.path)
            shutil.rmtree(self._building, ignore_errors=True)
            self._building = None

    def stamp(self) -> dict | None:
        if self._open() is None:
            return None
        try:
            return json.loads((self.path / STAMP_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def count(self) -> int:
        shard = self._open()
        return 0 if shard is None else int(shard.count(self.qe.CountRequest(exact=True)))

    def dim(self) -> int | None:
        shard = self._open()
        if shard is None:
            return None
        return (
            None
            if not self.count()
            else len(shard.scroll(self.qe.ScrollRequest(limit=1, with_vector=True))[0][0].vector)
        )

    def fetch(self, image_ids):
        shard = self._open()
        if shard is None or not image_ids:
            return {}
        records = shard.retrieve(
            [point_id(i) for i in image_ids], with_payload=True, with_vector=True
        )
        return {
            r.payload["image_id"]: (r.payload.get("url"), np.asarray(r.vector, np.float32))
            for r in records
        }

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
            requests.append(
                qe.QueryRequest(
                    limit=limit + TIE_MARGIN,
                    query=qe.Query.Nearest(np.asarray(vector, np.float32).tolist()),
                    filter=filt,
                    with_payload=True,
                    params=params,
                )
            )
        answers = shard.query_batch(qe.QueryBatchRequest(requests))
        return [
            rank(
                [Hit(p.payload["image_id"], p.payload.get("url"), p.score) for p in points],
                limit,
                ex,
            )
            for points, ex in zip(answers, exclude)
        ]

    def image_ids(self) -> list[str]:
        shard = self._open()
        if shard is None:
            return []
        ids, offset = [], None
        while True:
            records, offset = shard.scroll(
                self.qe.ScrollRequest(
                    offset=offset, limit=1024, with_payload=True, with_vector=False
                )
            )
            ids.extend(r.payload["image_id"] for r in records)
            if offset is None:
                return sorted(ids)

    def _close_shard(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None

    def close(self) -> None:
        self._close_shard()
        if self._building is not None:  # an ingest that never committed
            shutil.rmtree(self._building, ignore_errors=True)
            self._building = None
        self._lock.release()
