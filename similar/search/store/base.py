"""What every vector store offers: the interface, ranked hits, point ids, collection settings.

Points are keyed by a UUIDv5 of the image id and carry `image_id` and `url` in their
payload. Searches are batched; a reference is named by id and its stored vector is used,
and it is never among its own neighbours. A collection also keeps a stamp of what was
loaded into it (the receipt's fingerprint, count, dimension), written only once loading
has finished, so a reader can tell this revision's vectors from another's.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..ranking import TIE_MARGIN, Hit, rank  # noqa: F401  (the stores rank as every engine does)

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


class VectorStore(ABC):
    """What ingest, bulk_query and search need from a collection."""

    backend: str

    @abstractmethod
    def recreate(self, dim: int, settings: CollectionSettings = CollectionSettings()) -> None:
        """Start an empty collection of `dim`-d vectors (replacing any old one on commit)."""

    @abstractmethod
    def upsert(
        self, image_ids: Sequence[str], vectors: np.ndarray, urls: Sequence[str | None]
    ) -> None:
        """Add or replace points, one per image id."""

    @abstractmethod
    def commit(self, stamp: dict) -> None:
        """Make everything upserted durable and searchable, and mark it with `stamp`."""

    @abstractmethod
    def stamp(self) -> dict | None:
        """The stamp of the last completed load; None when there is none."""

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
    def search_vectors(
        self,
        vectors: np.ndarray,
        limit: int,
        exact: bool,
        hnsw_ef: int | None,
        exclude: Sequence[str | None] | None = None,
    ) -> list[list[Hit]]:
        """Neighbours of each vector; `exclude[i]` is an image id kept out of row i."""

    @abstractmethod
    def image_ids(self) -> list[str]:
        """Every image id in the collection, sorted."""

    def search_ids(
        self, image_ids: Sequence[str], limit: int, exact: bool, hnsw_ef: int | None = None
    ) -> dict[str, tuple[str | None, list[Hit]]]:
        """Neighbours of stored images named by id: {id: (its url, neighbours)}.

        Absent ids are omitted.
        """
        found = self.fetch(image_ids)
        present = [i for i in image_ids if i in found]
        if not present:
            return {}
        vectors = np.stack([found[i][1] for i in present])
        results = self.search_vectors(vectors, limit, exact, hnsw_ef, exclude=present)
        return {i: (found[i][0], hits) for i, hits in zip(present, results)}

    def close(self) -> None:  # noqa: B027 - a store with nothing to release keeps this
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
