"""Embedding images: the settings that make a vector, decoding beside the model, batches, cache.

`plan()` resolves `embed.*` for this machine (`auto` takes the GPU's defaults where there is
one). `identity()` is everything besides the image bytes that changes a vector's bits: the
embed cache is keyed by it, the embed stage records it, and `make search` checks a new
image is embedded the same way as the collection was.

DataLoader workers read each image, look its bytes up in the cache and otherwise decode and
resize it, and hand over whole batches: one uint8 tensor of the batch's new images (pinned
for the GPU) plus the cached vectors. The main process only moves pixels to the device and
runs the model.

With `compute.scheduler` set to a Dask cluster (`local:N` or `tcp://`), decoding and the
model run on its workers instead, in tasks of IMAGES_PER_TASK images (whole batches, each
worker loading the model once): the same vectors to the bit, since every forward pass has
the same shape (see Embedder), and a worker lost mid-run costs only its task, which runs
again elsewhere. What a task computed is in the cache as soon as it ends.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import allocator, compute
from ..cache import EmbedCache, PictureCache, content_hash
from ..errors import UserError
from ..machine import cores
from ..settings import AUTO, EmbedSettings
from . import jpeg, pages
from .images import ImageEntry, open_rgb, too_large
from .model import (
    PREPROCESS_VERSION,
    Embedder,
    ModelSpec,
    resolve_device,
    to_pixels,
    weights_identity,
)
from .pictures import Pictures
from .screen import descreened_for_embedding

# device-aware defaults of the `auto` values: (cpu, cuda)
DEFAULT_BATCH = (4, 256)
DEFAULT_PRECISION = ("fp32", "bf16")
DEFAULT_DECODER = ("pil", "pil")
IMAGES_PER_TASK = 64  # images a cluster task embeds: what a lost worker costs
TASKS_AT_ONCE = 256  # tasks handed to the cluster together: their vectors held here at once
PACK_EVERY = 20000  # new vectors between two packings of the cache: at most so many loose files
# the embed params whose change gives other vectors; `make search` refuses to mix them
VECTOR_PARAMS = (
    "model",
    "weights",
    "seed",
    "image_size",
    "draft",
    "precision",
    "batch_size",
    "decoder",
)


@dataclass(frozen=True)
class EmbedPlan:
    """`embed.*` resolved for this machine: what actually runs."""

    spec: ModelSpec
    device: str
    precision: str
    batch_size: int
    num_workers: int
    draft: bool
    max_pixels: int
    decoder: str
    pictures: bool = False


def default_workers(device: str) -> int:
    """Decoding processes beside the model: 2 on the CPU, all cores but two beside a GPU."""
    return 2 if device == "cpu" else max(1, cores() - 2)


def plan(embed: EmbedSettings) -> EmbedPlan:
    device = resolve_device(embed.device).type
    gpu = int(device == "cuda")

    def pick(value, defaults):
        return defaults[gpu] if value == AUTO else value

    decoder = pick(embed.decoder, DEFAULT_DECODER)
    if decoder == "nvjpeg" and device != "cuda":
        raise UserError("params.yaml: 'embed.decoder' nvjpeg needs a CUDA device; use auto or pil")
    return EmbedPlan(
        spec=ModelSpec(embed.model, embed.weights, embed.seed, embed.image_size),
        device=device,
        precision=pick(embed.precision, DEFAULT_PRECISION),
        batch_size=pick(embed.batch_size, DEFAULT_BATCH),
        num_workers=default_workers(device) if embed.num_workers == AUTO else embed.num_workers,
        draft=embed.draft,
        max_pixels=embed.max_pixels,
        decoder=decoder,
        pictures=embed.pictures,
    )


def identity(p: EmbedPlan) -> dict:
    """Everything besides the image bytes that changes a vector's bits."""
    return {
        "model": p.spec.name,
        "weights": p.spec.weights,
        "seed": p.spec.seed,
        "weights_id": weights_identity(p.spec),
        "image_size": p.spec.image_size,
        "draft": p.draft,
        "precision": p.precision,
        "batch_size": p.batch_size,
        "decoder": p.decoder,
        "device": p.device,
        "preprocess": PREPROCESS_VERSION,
        "torch": torch.__version__,
    }


def check_same_identity(now: dict, built: dict, warn) -> None:
    """A new image must be embedded as the collection was: a changed vector param is an error
    naming it; another device or torch version only gives slightly different bits."""
    for key in VECTOR_PARAMS:
        if key in built and built[key] != now[key]:
            raise UserError(
                f"embed.{key} is {now[key]!r} in params.yaml but the collection was built with "
                f"{built[key]!r}; set it back, or rebuild the collection with `make all`"
            )
    if built.get("weights_id", now["weights_id"]) != now["weights_id"]:
        raise UserError(
            f"the weights file {now['weights']} has changed since the collection was "
            "built; restore it, or rebuild the collection with `make all`"
        )
    for key in ("device", "torch", "preprocess"):
        if key in built and built[key] != now[key]:
            warn(
                f"the collection was embedded with {key} {built[key]!r}, this search uses "
                f"{now[key]!r}: scores may differ in the last digits"
            )


def picture_identity(p: EmbedPlan) -> dict:
    """What changes a picture's box or vector: the vectors' identity and the rule's version."""
    return {**identity(p), "pictures": pages.VERSION}


def make_embedder(p: EmbedPlan) -> Embedder:
    return Embedder(p.spec, p.device, p.precision, p.batch_size)


@dataclass
class Caches:
    """Where a run finds and keeps vectors, and pictures (None: not looked for)."""

    vectors: EmbedCache
    pictures: PictureCache | None

    @classmethod
    def of(cls, root, p: EmbedPlan, dim: int) -> Caches:
        pictures = PictureCache(root, picture_identity(p), dim) if p.pictures else None
        return cls(EmbedCache(root, identity(p), dim), pictures)

    def pack(self) -> None:
        self.vectors.pack()
        if self.pictures is not None:
            self.pictures.pack()


@dataclass
class Item:
    index: int
    digest: str = ""
    vector: np.ndarray | None = None
    size: tuple[int, int] = (0, 0)
    reason: str | None = None
    fresh: bool = False  # computed now (not from the cache)
    looked: bool = False  # whether a picture on a page was looked for (or is known)
    searched: bool = False  # looked for in this run (not known from the cache)
    box: pages.Box | None = None  # the picture on the page, in the image's pixels
    picture: np.ndarray | None = None  # its vector


@dataclass
class Batch:
    """One batch as a worker hands it over: every item, and the new images' pixels in order."""

    items: list[Item]
    pixels: torch.Tensor | None = None  # uint8 (m, 3, S, S) for the fresh items decoded here
    jpegs: list[torch.Tensor] = field(default_factory=list)  # raw files left to the GPU decoder
    order: list[int] = field(
        default_factory=list
    )  # fresh items: positions, pixels first then jpegs
    pictures: list[tuple[int, torch.Tensor]] = field(
        default_factory=list
    )  # (position, uint8 pixels) of the pictures found on pages now

    def pin_memory(self) -> Batch:
        if self.pixels is not None:
            self.pixels = self.pixels.pin_memory()
        return self


class DecodedBatches(Dataset):
    """Batch `b` of the entries: cached vectors, decoded pixels, failures with their reason."""

    def __init__(self, entries: list[ImageEntry], p: EmbedPlan, caches: Caches):
        self.entries = entries
        self.p = p
        self.caches = caches
        self.draft_size = p.spec.image_size if p.draft else None

    def __len__(self) -> int:
        return -(-len(self.entries) // self.p.batch_size)

    def __getitem__(self, b: int) -> Batch:
        start = b * self.p.batch_size
        items, pixels, jpegs, to_decode, order, pictures = [], [], [], [], [], []
        for i in range(start, min(start + self.p.batch_size, len(self.entries))):
            item, data = self._read(i)
            items.append(item)
            if data is None:
                continue
            needs_vector = item.vector is None
            if (
                needs_vector
                and self.p.decoder == "nvjpeg"
                and jpeg.gpu_decodable(data, self.p.max_pixels)
            ):
                # decoded on the GPU: the page is not looked at for a picture
                jpegs.append(torch.frombuffer(bytearray(data), dtype=torch.uint8))
                to_decode.append(len(items) - 1)
                item.size = jpeg.size_of(data)
                item.fresh = True
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    img, item.size = open_rgb(io.BytesIO(data), self.p.max_pixels, self.draft_size)
            except ValueError as exc:
                item.reason, item.vector = str(exc), None
                continue
            if needs_vector:
                pixels.append(to_pixels(descreened_for_embedding(img), self.p.spec.image_size))
                order.append(len(items) - 1)
                item.fresh = True
            if not item.looked:
                found = self.picture_pixels(img, item)
                if found is not None:
                    pictures.append((len(items) - 1, found))
        stacked = torch.from_numpy(np.stack(pixels)) if pixels else None
        return Batch(items, stacked, jpegs, order + to_decode, pictures)

    def picture_pixels(self, img, item: Item) -> torch.Tensor | None:
        """Look for a picture on the decoded page: its box goes to the item, its pixels are
        returned (None when there is none)."""
        item.looked = item.searched = True
        box = pages.picture_box(img)
        if box is None:
            return None
        item.box = pages.scaled(box, img.size, item.size)
        part = descreened_for_embedding(img.crop(box))
        return torch.from_numpy(to_pixels(part, self.p.spec.image_size))

    def _read(self, i: int) -> tuple[Item, bytes | None]:
        """The item, and its bytes when they still need decoding."""
        try:
            data = self.entries[i].path.read_bytes()
        except OSError as exc:
            return Item(i, reason=f"cannot read: {exc.strerror or exc}"), None
        digest = content_hash(data)
        item = Item(i, digest=digest, looked=self.caches.pictures is None)
        if not item.looked:
            known = self.caches.pictures.get(digest)
            if known is not None:
                item.looked = True
                item.box, item.picture = known
        hit = self.caches.vectors.get(digest)
        if hit is None:
            return item, data
        item.vector, item.size = hit
        # the cache never overrides a limit: results must not depend on what is cached
        if reason := too_large(item.size, self.p.max_pixels):
            item.reason, item.vector, item.box, item.picture = reason, None, None, None
            return item, None
        # decoded again only to look for a picture on it
        return item, (None if item.looked else data)


def embed_batch(embedder: Embedder, batch: Batch) -> np.ndarray:
    """Vectors of a batch's fresh items, in `batch.order`."""
    parts = []
    if batch.pixels is not None:
        parts.append(batch.pixels)
    if batch.jpegs:
        parts.append(jpeg.decode_resize(batch.jpegs, embedder.spec.image_size, embedder.device))
    pixels = parts[0] if len(parts) == 1 else torch.cat([t.to(embedder.device) for t in parts])
    return embedder.embed_pixels(pixels)


def require_finite(vector: np.ndarray, said: str) -> None:
    """A UserError saying `said` (what had a NaN or infinite vector) and the fix, when the
    model gave one."""
    if not np.isfinite(vector).all():
        raise UserError(f"{said}; check embed.weights and embed.precision")


class PicturePasses:
    """The pictures found on pages, embedded in full passes of the model's batch size (a
    picture's bits do not depend on the others in its pass, see Embedder): each item gets its
    `picture` by `flush()` at the latest."""

    def __init__(self, embedder: Embedder, caches: Caches, keep_new: bool):
        self.embedder, self.caches, self.keep_new = embedder, caches, keep_new
        self.waiting: list[tuple[Item, torch.Tensor]] = []
        self.size = embedder.batch_size or 1

    def add(self, item: Item, pixels: torch.Tensor) -> None:
        self.waiting.append((item, pixels))
        if len(self.waiting) >= self.size:
            self.flush()

    def flush(self) -> None:
        while self.waiting:
            now, self.waiting = self.waiting[: self.size], self.waiting[self.size :]
            vectors = self.embedder.embed_pixels(torch.stack([pixels for _, pixels in now]))
            for (item, _), vector in zip(now, vectors):
                require_finite(
                    vector, "the model gave a NaN or infinite vector for the picture on a page"
                )
                item.picture = vector
                if self.keep_new:
                    self.caches.pictures.put(item.digest, item.box, vector)


def embedded_batches(
    entries: list[ImageEntry],
    p: EmbedPlan,
    embedder: Embedder,
    caches: Caches,
    num_workers: int | None = None,
    keep_new: bool = True,
) -> Iterator[list[Item]]:
    """Batches of items in entry order, every readable one with its vector: from the cache, or
    computed now (and, with `keep_new`, added to the cache). Unreadable ones carry a reason.
    Pictures found on pages have their vectors once every batch was taken."""
    workers = p.num_workers if num_workers is None else num_workers
    passes = PicturePasses(embedder, caches, keep_new)
    loader = DataLoader(
        DecodedBatches(entries, p, caches),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=p.device == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    for batch in loader:
        yield finish_batch(entries, embedder, passes, batch)
    passes.flush()


def finish_batch(
    entries: list[ImageEntry], embedder: Embedder, passes: PicturePasses, batch: Batch
) -> list[Item]:
    """The batch's items, the fresh ones given their vectors now (and kept in the cache), the
    pictures found on pages handed to `passes`."""
    keep_new, caches = passes.keep_new, passes.caches
    if batch.order:
        for pos, vector in zip(batch.order, embed_batch(embedder, batch)):
            item = batch.items[pos]
            require_finite(
                vector,
                f"{entries[item.index].path}: the model gave a NaN or infinite vector for this "
                "image",
            )
            item.vector = vector
            if keep_new:
                caches.vectors.put(item.digest, vector, item.size)
    found = dict(batch.pictures)
    for pos, item in enumerate(batch.items):
        if pos in found and item.reason is None:
            passes.add(item, found[pos])
        elif keep_new and item.searched and item.box is None and item.reason is None:
            caches.pictures.put(item.digest, None, None)
    return batch.items


@dataclass(frozen=True)
class EmbedJob:
    """What every cluster worker needs, sent to each once."""

    entries: list[ImageEntry]
    plan: EmbedPlan
    cache_root: str | None
    # the model's threads in the stage's own process: a float sum split over another number
    # of threads rounds differently, so every worker uses as many for the same bits
    threads: int = 1


_WORKER: dict[int, tuple[EmbedJob, Embedder, Caches]] = {}


def worker_setup() -> None:
    """One thread per worker process (the processes are the parallelism), and an allocator
    that keeps the blocks of the arrays a batch makes (similar/allocator.py)."""
    torch.set_num_threads(1)
    allocator.for_arrays()


def embed_task(job: EmbedJob, batches: range) -> list[Item]:
    """The items of these batches of `job.entries`, embedded in this worker (the model loaded
    once per worker and job)."""
    found = _WORKER.get(id(job))
    if found is None or found[0] is not job:
        _WORKER.clear()
        torch.set_num_threads(job.threads)
        embedder = make_embedder(job.plan)
        caches = Caches.of(job.cache_root, job.plan, embedder.dim)
        found = _WORKER[id(job)] = (job, embedder, caches)
    _, embedder, caches = found
    decoded = DecodedBatches(job.entries, job.plan, caches)
    passes = PicturePasses(embedder, caches, True)
    items: list[Item] = []
    for b in batches:
        items += finish_batch(job.entries, embedder, passes, decoded[b])
    passes.flush()
    return items


def scheduled_batches(
    entries: list[ImageEntry], p: EmbedPlan, cache_root, scheduler: str
) -> Iterator[list[Item]]:
    """As `embedded_batches`, each task's items in entry order, computed on `scheduler`."""
    # absolute paths: a cluster's workers do not run in the stage's folder
    entries = [replace(e, path=e.path.absolute()) for e in entries]
    job = EmbedJob(
        entries,
        p,
        str(Path(cache_root).absolute()) if cache_root else None,
        torch.get_num_threads(),
    )
    per_task = max(1, IMAGES_PER_TASK // p.batch_size)
    count = -(-len(entries) // p.batch_size)
    tasks = [range(b, min(b + per_task, count)) for b in range(0, count, per_task)]
    with compute.scheduler(scheduler, compute.cores(), worker_setup) as run:
        for start in range(0, len(tasks), TASKS_AT_ONCE):
            window = tasks[start : start + TASKS_AT_ONCE]
            yield from run.map(
                embed_task,
                window,
                job,
                label=lambda t: f"embedding {entries[t[0] * p.batch_size].relpath} and after",
            )


def embed_collection(
    entries: list[ImageEntry],
    p: EmbedPlan,
    cache_root,
    vectors_target,
    staging,
    scheduler: str = "",
) -> dict:
    """Embed every entry into `vectors_target` (staged); returns the index rows, failures and
    counts. Raises before anything is staged when no image could be decoded. With a Dask
    `scheduler` (not the default ""), decoding and the model run on its workers."""
    from ..files import NpyRowWriter
    from ..progress import over

    on_cluster = compute.kind_of(scheduler)[0] != "pool"
    if on_cluster:
        dim = p.spec.dim
        batches = scheduled_batches(entries, p, cache_root, scheduler)
    else:
        embedder = make_embedder(p)
        dim = embedder.dim
        batches = embedded_batches(entries, p, embedder, Caches.of(cache_root, p, dim))
    index_rows, failed_rows, pictured = [], [], []
    computed = reused = unpacked = 0
    packer = Caches.of(cache_root, p, dim)
    first_batch_at = None
    writer = NpyRowWriter(vectors_target, dim)
    try:
        for batch in over(batches, len(entries), "embed", "img", size=len):
            first_batch_at = first_batch_at or time.perf_counter()
            good = [it for it in batch if it.vector is not None]
            fresh = sum(1 for it in good if it.fresh)
            computed += fresh
            reused += len(good) - fresh
            unpacked += fresh
            if unpacked >= PACK_EVERY:
                packer.pack()
                unpacked = 0
            failed_rows.extend(
                (entries[it.index].relpath, it.reason) for it in batch if it.reason is not None
            )
            if good:
                writer.write(np.stack([it.vector for it in good]))
                index_rows.extend(
                    (entries[it.index].id, entries[it.index].relpath, *it.size, it.digest)
                    for it in good
                )
                pictured.extend(it for it in good if it.box is not None)
        if not index_rows:
            first = failed_rows[0][1] if failed_rows else "no reason"
            raise UserError(
                f"none of the {len(entries)} images could be decoded (first: "
                f"{failed_rows[0][0] if failed_rows else '?'}: {first}); "
                "nothing was written"
            )
    except BaseException:
        writer.abort()
        raise
    writer.finish_into(staging)
    packer.pack()
    return {
        "index": index_rows,
        "failed": failed_rows,
        "pictures": Pictures.of(
            [entries[it.index].id for it in pictured],
            [it.box for it in pictured],
            [it.picture for it in pictured],
            dim,
        ),
        "dim": dim,
        "computed": computed,
        "reused": reused,
        "first_batch_at": first_batch_at,
    }


def run_metrics(done: dict, plan: EmbedPlan) -> dict:
    """metrics/embed.json from `embed_collection`'s result."""
    return {
        "images": len(done["index"]),
        "failed": len(done["failed"]),
        "pictures": len(done["pictures"]),
        "dim": done["dim"],
        "random_weights": plan.spec.weights == "random",
    }


def run_report(done: dict, plan: EmbedPlan, embed: EmbedSettings, seconds: float, started):
    """reports/embed.json: the run's timings and what ran (`started`: when the process began)."""
    from ..parameters import as_plain

    images = len(done["index"])
    return {
        "images": images,
        "failed": len(done["failed"]),
        "dim": done["dim"],
        "computed": done["computed"],
        "reused": done["reused"],
        "seconds": round(seconds, 3),
        "images_per_second": round(images / seconds, 3),
        "startup_seconds": round(done["first_batch_at"] - started, 3),
        "device": plan.device,
        "precision": plan.precision,
        "batch_size": plan.batch_size,
        "num_workers": plan.num_workers,
        "decoder": plan.decoder,
        "params": as_plain(embed),
    }
