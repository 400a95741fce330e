"""Stage `embed`: every image of the collection to one mean-pooled feature vector.

Images are decoded in DataLoader worker processes while the model runs on the previous
batch; vectors are streamed to disk, so memory does not grow with the collection.
Vectors already in the per-image cache (same bytes, same settings) are reused, so adding
images or resuming a killed run computes only what is missing.
An unreadable image is listed in failed.csv and skipped; the run goes on.
"""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from . import config as cfg
from .files import NpyRowWriter, write_csv, write_json
from .embed_cache import EmbedCache, content_hash
from .images import ImageEntry, index_collection, open_rgb
from .model import PREPROCESS_VERSION, Embedder, ModelSpec, preprocess, weights_identity


@dataclass
class Item:
    index: int
    digest: str = ""
    tensor: torch.Tensor | None = None
    vector: np.ndarray | None = None
    size: tuple[int, int] = (0, 0)
    reason: str | None = None


class DecodedImages(Dataset):
    """One image per item: its cached vector if the cache has its bytes, else the decoded,
    preprocessed tensor. Failures come back as a reason. Runs in DataLoader workers."""

    def __init__(self, entries: list[ImageEntry], image_size: int, max_pixels: int,
                 draft: bool, cache: EmbedCache):
        self.entries = entries
        self.image_size = image_size
        self.max_pixels = max_pixels
        self.draft_size = image_size if draft else None
        self.cache = cache

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> Item:
        try:
            data = self.entries[i].path.read_bytes()
        except OSError as exc:
            return Item(i, reason=f"cannot read: {exc.strerror or exc}")
        digest = content_hash(data)
        hit = self.cache.get(digest)
        if hit is not None:
            return Item(i, digest=digest, vector=hit[0], size=hit[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                img, size = open_rgb(io.BytesIO(data), self.max_pixels, self.draft_size)
            except ValueError as exc:
                return Item(i, reason=str(exc))
        return Item(i, digest=digest, tensor=preprocess(img, self.image_size), size=size)


def _as_list(batch):
    return batch


def cache_settings(s: dict, embedder: Embedder) -> dict:
    """Everything besides the image bytes that changes a vector's bits."""
    spec = s["spec"]
    return {"model": spec.name, "weights": weights_identity(spec), "image_size": spec.image_size,
            "draft": s["draft"], "precision": s["precision"], "device": embedder.device.type,
            "batch_size": s["batch_size"], "preprocess": PREPROCESS_VERSION,
            "torch": torch.__version__}


def embed_batch(embedder: Embedder, items: list[Item], batch_size: int) -> np.ndarray:
    """Vectors of the items' tensors. The batch is padded to `batch_size` so every forward
    pass has the same shape: kernels differ by shape, and a vector's bits must not depend
    on which other images shared its batch (or on whether it came from the cache)."""
    batch = torch.stack([it.tensor for it in items])
    if len(items) < batch_size:
        pad = torch.zeros((batch_size - len(items), *batch.shape[1:]), dtype=batch.dtype)
        batch = torch.cat([batch, pad])
    return embedder(batch)[: len(items)]


def read_settings(params: dict) -> dict:
    return {
        "images": cfg.get_str(params, "data.images"),
        "patterns": cfg.get(params, "data.patterns"),
        "id_from": cfg.get_choice(params, "data.id_from", ["stem", "relpath"]),
        "spec": ModelSpec(
            name=cfg.get_str(params, "embed.model"),
            weights=str(cfg.get(params, "embed.weights")),
            seed=cfg.get_int(params, "embed.seed", 0),
            image_size=cfg.get_int(params, "embed.image_size", 32),
        ),
        "device": cfg.get_choice(params, "embed.device", ["auto", "cpu", "cuda"]),
        "precision": cfg.get_choice(params, "embed.precision", ["fp32", "bf16"]),
        "batch_size": cfg.get_int(params, "embed.batch_size", 1),
        "num_workers": cfg.get_int(params, "embed.num_workers", 0),
        "max_pixels": cfg.get_int(params, "embed.max_pixels", 1),
        "draft": cfg.get_bool(params, "embed.draft"),
    }


def embedded_batches(entries: list[ImageEntry], s: dict, embedder: Embedder, cache: EmbedCache,
                     num_workers: int, keep_new: bool = True) -> Iterator[list[Item]]:
    """Batches of items in entry order, every readable one with its vector: from the cache, or
    computed now (and, with `keep_new`, added to the cache). Unreadable ones carry a reason."""
    loader = DataLoader(
        DecodedImages(entries, s["spec"].image_size, s["max_pixels"], s["draft"], cache),
        batch_size=s["batch_size"], num_workers=num_workers, collate_fn=_as_list,
        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    for batch in loader:
        fresh = [it for it in batch if it.tensor is not None]
        if fresh:
            for it, vector in zip(fresh, embed_batch(embedder, fresh, s["batch_size"])):
                it.vector = vector
                if keep_new:
                    cache.put(it.digest, vector, it.size)
        yield batch


def embed_collection(s: dict, out_vectors, out_index, out_failed, cache_root=None) -> dict:
    """Embed every image; write vectors, the image index and the failure list. Returns counts."""
    entries = index_collection(s["images"], s["patterns"], s["id_from"])
    if not entries:
        raise cfg.UserError(f"{s['images']}: no images matching data.patterns "
                            f"({', '.join(s['patterns'])})")
    embedder = Embedder(s["spec"], s["device"], s["precision"])
    cache = EmbedCache(cache_root, cache_settings(s, embedder), embedder.dim)
    index_rows, failed_rows = [], []
    computed = reused = 0
    with NpyRowWriter(out_vectors, embedder.dim) as writer:
        batches = embedded_batches(entries, s, embedder, cache, s["num_workers"])
        for batch in tqdm(batches, desc="embed", unit="batch", disable=None,
                          total=-(-len(entries) // s["batch_size"])):
            good = [it for it in batch if it.vector is not None]
            fresh = sum(1 for it in good if it.tensor is not None)
            computed += fresh
            reused += len(good) - fresh
            failed_rows.extend((entries[it.index].relpath, it.reason) for it in batch
                               if it.reason is not None)
            if good:
                writer.write(np.stack([it.vector for it in good]))
                index_rows.extend((entries[it.index].id, entries[it.index].relpath, *it.size,
                                   it.digest) for it in good)
    if not index_rows:
        raise cfg.UserError(f"{s['images']}: none of the {len(entries)} images could be decoded; "
                            f"see {out_failed}")
    write_csv(out_index, ["id", "path", "width", "height", "sha256"], index_rows)
    write_csv(out_failed, ["path", "reason"], failed_rows)
    return {"images": len(index_rows), "failed": len(failed_rows), "dim": embedder.dim,
            "computed": computed, "reused": reused}


def main() -> None:
    params = cfg.load_params()
    s = read_settings(params)
    started = time.perf_counter()
    cache_root = cfg.get_str(params, "paths.embed_cache", allow_empty=True) or None
    counts = embed_collection(s, cfg.path(params, "embeddings"), cfg.path(params, "image_index"),
                              cfg.path(params, "failed"), cache_root)
    seconds = time.perf_counter() - started
    random_weights = s["spec"].weights == "random"
    metrics = {k: counts[k] for k in ("images", "failed", "dim")}
    write_json(cfg.path(params, "embed_metrics"), {**metrics, "random_weights": random_weights})
    write_json(cfg.path(params, "reports") / "embed.json",
               {**counts, "seconds": round(seconds, 3),
                "images_per_second": round(counts["images"] / seconds, 3)})
    note = " (random weights: the vectors carry no meaning)" if random_weights else ""
    print(f"embed: {counts['images']} images -> {counts['dim']}-d vectors ({counts['computed']} "
          f"computed, {counts['reused']} from cache), {counts['failed']} failed, {seconds:.1f}s{note}")
    if counts["failed"]:
        cfg.warn(f"{counts['failed']} images could not be read; see {cfg.path(params, 'failed')}")


if __name__ == "__main__":
    cfg.run(main)
