"""Stage `embed`: every image of the collection to one mean-pooled feature vector.

Images are decoded in DataLoader worker processes while the model runs on the previous
batch; vectors are streamed to disk, so memory does not grow with the collection.
An unreadable image is listed in failed.csv and skipped; the run goes on.
"""
from __future__ import annotations

import time
import warnings

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from . import config as cfg
from .files import NpyRowWriter, write_csv, write_json
from .images import ImageEntry, index_collection, open_rgb
from .model import Embedder, ModelSpec, preprocess


class DecodedImages(Dataset):
    """Decodes and preprocesses one image per item; failures come back as a reason."""

    def __init__(self, entries: list[ImageEntry], image_size: int, max_pixels: int,
                 draft: bool = True):
        self.entries = entries
        self.image_size = image_size
        self.max_pixels = max_pixels
        self.draft_size = image_size if draft else None

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                img, size = open_rgb(self.entries[i].path, self.max_pixels, self.draft_size)
                return i, preprocess(img, self.image_size), size, None
            except ValueError as exc:
                return i, None, None, str(exc)


def _as_list(batch):
    return batch


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


def embed_collection(s: dict, out_vectors, out_index, out_failed) -> dict:
    """Embed every image; write vectors, the image index and the failure list. Returns counts."""
    entries = index_collection(s["images"], s["patterns"], s["id_from"])
    if not entries:
        raise cfg.UserError(f"{s['images']}: no images matching data.patterns "
                            f"({', '.join(s['patterns'])})")
    embedder = Embedder(s["spec"], s["device"], s["precision"])
    loader = DataLoader(
        DecodedImages(entries, s["spec"].image_size, s["max_pixels"], s["draft"]),
        batch_size=s["batch_size"], num_workers=s["num_workers"], collate_fn=_as_list,
        persistent_workers=False, prefetch_factor=4 if s["num_workers"] else None)
    index_rows, failed_rows = [], []
    with NpyRowWriter(out_vectors, embedder.dim) as writer:
        for batch in tqdm(loader, desc="embed", unit="batch", disable=None):
            good = [item for item in batch if item[1] is not None]
            for i, _, _, reason in batch:
                if reason is not None:
                    failed_rows.append((entries[i].relpath, reason))
            if not good:
                continue
            writer.write(embedder(torch.stack([t for _, t, _, _ in good])))
            for i, _, (w, h), _ in good:
                index_rows.append((entries[i].id, entries[i].relpath, w, h))
    if not index_rows:
        raise cfg.UserError(f"{s['images']}: none of the {len(entries)} images could be decoded; "
                            f"see {out_failed}")
    write_csv(out_index, ["id", "path", "width", "height"], index_rows)
    write_csv(out_failed, ["path", "reason"], failed_rows)
    return {"images": len(index_rows), "failed": len(failed_rows), "dim": embedder.dim}


def main() -> None:
    params = cfg.load_params()
    s = read_settings(params)
    started = time.perf_counter()
    counts = embed_collection(s, cfg.path(params, "embeddings"), cfg.path(params, "image_index"),
                              cfg.path(params, "failed"))
    seconds = time.perf_counter() - started
    random_weights = s["spec"].weights == "random"
    write_json(cfg.path(params, "embed_metrics"), {**counts, "random_weights": random_weights})
    write_json(cfg.path(params, "reports") / "embed.json",
               {**counts, "computed": counts["images"], "reused": 0, "seconds": round(seconds, 3),
                "images_per_second": round(counts["images"] / seconds, 3)})
    note = " (random weights: the vectors carry no meaning)" if random_weights else ""
    print(f"embed: {counts['images']} images -> {counts['dim']}-d vectors, {counts['failed']} failed, "
          f"{seconds:.1f}s{note}")
    if counts["failed"]:
        cfg.warn(f"{counts['failed']} images could not be read; see {cfg.path(params, 'failed')}")


if __name__ == "__main__":
    cfg.run(main)
