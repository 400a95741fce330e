"""The vector store on a Qdrant server (or qdrant-client's local mode) through qdrant-client.

`qdrant.url: http(s)://host:port` talks to a server; the API key comes only from the
environment (QDRANT_API_KEY). `qdrant.url: local:<dir>` uses qdrant-client's on-disk
local mode, which speaks the same client API and needs no server. The stamp of what was
loaded lives in the collection's own metadata, so a colleague's server collection is
checked as thoroughly as a local one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from ...errors import StoreBusy, UserError
from ...settings import StoreTarget
from .base import TIE_MARGIN, CollectionSettings, Hit, VectorStore, point_id, rank

RETRIES = 3
TIMEOUT_SECONDS = 5
READY_TIMEOUT_SECONDS = 600
STAMP_KEY = "similar_images_load"


class ClientStore(VectorStore):
    backend = "server"

    def __init__(self, target: StoreTarget, collection: str):
        from qdrant_client import QdrantClient, models

        self.models = models
        self.url = target.url
        self.collection = collection
        if target.kind == "local":
            self.backend = "local"
            try:
                self.client = QdrantClient(path=target.location)
            except RuntimeError as exc:  # portalocker: the folder is open in another process
                if "already accessed" not in str(exc):
                    raise
                raise StoreBusy(
                    f"{target.location}: qdrant-client's local store is in use by "
                    "another process; wait for it to finish and run again"
                ) from None
        elif target.kind == "server":
            # the version check is a network call of its own that only warns; our errors are clearer
            self.client = QdrantClient(
                url=target.url,
                api_key=os.environ.get("QDRANT_API_KEY") or None,
                timeout=TIMEOUT_SECONDS,
                prefer_grpc=False,
                check_compatibility=False,
            )
        else:
            raise ValueError(f"not a client target: {target}")

    def _call(self, what: str, fn, *args, **kwargs):
        """Run a client call; connection trouble and refused keys become one-line UserErrors."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        last = None
        for attempt in range(RETRIES):
            try:
                return fn(*args, **kwargs)
            except UnexpectedResponse as exc:
                if exc.status_code in (401, 403):
                    raise UserError(
                        f"Qdrant at {self.url} refused the API key ({exc.status_code}); "
                        "set QDRANT_API_KEY to the server's key"
                    ) from None
                raise
            except (ResponseHandlingException, ConnectionError, OSError) as exc:
                last = exc
                if attempt < RETRIES - 1:
                    time.sleep(0.5 * (attempt + 1))
        raise UserError(
            f"cannot reach Qdrant at {self.url} ({what}: {last.__class__.__name__}); "
            "start it with `make db-up` or fix qdrant.url in params.yaml"
        ) from None

    def _exists(self) -> bool:
        return bool(self._call("collection_exists", self.client.collection_exists, self.collection))

    def recreate(self, dim: int, settings: CollectionSettings = CollectionSettings()) -> None:
        m = self.models
        if self._exists():
            self._call("delete_collection", self.client.delete_collection, self.collection)
        self._call(
            "create_collection",
            self.client.create_collection,
            self.collection,
            vectors_config=m.VectorParams(
                size=dim,
                distance=getattr(m.Distance, settings.distance.upper()),
                on_disk=settings.on_disk,
            ),
            hnsw_config=m.HnswConfigDiff(
                m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct
            ),
            # indexing_threshold 0 keeps the collection unindexed: exact search only
            optimizers_config=None
            if settings.hnsw_index
            else m.OptimizersConfigDiff(indexing_threshold=0),
            shard_number=settings.shard_number,
            replication_factor=settings.replication_factor,
            metadata={STAMP_KEY: None},
        )

    def upsert(self, image_ids, vectors, urls) -> None:
        m = self.models
        points = [
            m.PointStruct(
                id=point_id(i),
                vector=np.asarray(v, np.float32).tolist(),
                payload={"image_id": i, "url": u},
            )
            for i, v, u in zip(image_ids, vectors, urls)
        ]
        self._call("upsert", self.client.upsert, self.collection, points=points, wait=True)

    def commit(self, stamp: dict) -> None:
        """Upserts already waited until applied; wait for indexing to finish (status green),
        then stamp the collection."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while self.backend != "local":
            info = self._call("get_collection", self.client.get_collection, self.collection)
            if str(getattr(info.status, "value", info.status)) == "green":
                break
            if time.monotonic() > deadline:
                raise UserError(
                    f"collection '{self.collection}' at {self.url} is still "
                    f"{info.status} after {READY_TIMEOUT_SECONDS}s of indexing"
                )
            time.sleep(1)
        self._call(
            "update_collection",
            self.client.update_collection,
            self.collection,
            metadata={STAMP_KEY: stamp},
        )

    def stamp(self) -> dict | None:
        if not self._exists():
            return None
        info = self._call("get_collection", self.client.get_collection, self.collection)
        value = (info.config.metadata or {}).get(STAMP_KEY)
        return value if isinstance(value, dict) else None

    def count(self) -> int:
        if not self._exists():
            return 0
        return int(self._call("count", self.client.count, self.collection, exact=True).count)

    def dim(self) -> int | None:
        if not self._exists():
            return None
        info = self._call("get_collection", self.client.get_collection, self.collection)
        return int(info.config.params.vectors.size)

    def fetch(self, image_ids):
        if not image_ids or not self._exists():
            return {}
        records = self._call(
            "retrieve",
            self.client.retrieve,
            self.collection,
            ids=[point_id(i) for i in image_ids],
            with_payload=True,
            with_vectors=True,
        )
        return {
            r.payload["image_id"]: (r.payload.get("url"), np.asarray(r.vector, np.float32))
            for r in records
        }

    def _request(self, query, limit, exact, hnsw_ef, exclude):
        m = self.models
        filt = (
            m.Filter(must_not=[m.HasIdCondition(has_id=[point_id(exclude)])]) if exclude else None
        )
        # local mode is always exact and warns about search params, so it gets none
        params = None if self.backend == "local" else m.SearchParams(exact=exact, hnsw_ef=hnsw_ef)
        return m.QueryRequest(
            query=query, filter=filt, limit=limit + TIE_MARGIN, with_payload=True, params=params
        )

    def _batch(self, requests, excludes, limit):
        answers = self._call(
            "query_batch_points", self.client.query_batch_points, self.collection, requests=requests
        )
        return [
            rank(
                [Hit(p.payload["image_id"], p.payload.get("url"), p.score) for p in answer.points],
                limit,
                ex,
            )
            for answer, ex in zip(answers, excludes)
        ]

    def search_vectors(self, vectors, limit, exact, hnsw_ef, exclude=None):
        exclude = exclude or [None] * len(vectors)
        requests = [
            self._request(np.asarray(v, np.float32).tolist(), limit, exact, hnsw_ef, ex)
            for v, ex in zip(vectors, exclude)
        ]
        return self._batch(requests, exclude, limit)

    def search_ids(self, image_ids: Sequence[str], limit: int, exact: bool, hnsw_ef=None):
        """The server looks the references up itself: query by point id, one batched call."""
        found = self.fetch(image_ids)  # urls, and which ids exist
        present = [i for i in image_ids if i in found]
        if not present:
            return {}
        requests = [self._request(point_id(i), limit, exact, hnsw_ef, i) for i in present]
        results = self._batch(requests, present, limit)
        return {i: (found[i][0], hits) for i, hits in zip(present, results)}

    def image_ids(self) -> list[str]:
        if not self._exists():
            return []
        ids, offset = [], None
        while True:
            records, offset = self._call(
                "scroll",
                self.client.scroll,
                self.collection,
                limit=1024,
                offset=offset,
                with_payload=True,
                with_vectors=False,
            )
            ids.extend(r.payload["image_id"] for r in records)
            if offset is None:
                return sorted(ids)

    def close(self) -> None:
        self.client.close()
