"""Section embed_gpu: on a machine with CUDA, the embed stage (PIL and nvjpeg decoding) against
the seed loop on the GPU, the model-only and the decode ceilings; elsewhere, it says it was
skipped. `measure_device` runs the same code on any device (the tests run it on the CPU)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .embed import MODEL
from .runner import (
    Row,
    cosines,
    make_scans,
    python_module,
    run_process,
    run_stage,
    write_params,
    write_weights,
)

SCAN_SIZE = (1600, 1200)


def measure(work: Path, options) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    return measure_device(work, options.gpu_images, SCAN_SIZE, "cuda")


def link_scans(folder: Path, source: Path, count: int) -> None:
    """`count` scan files in `folder`, hard links to the distinct ones in `source`."""
    folder.mkdir(parents=True, exist_ok=True)
    distinct = sorted(source.glob("*.jpg"))
    for i in range(count):
        os.link(distinct[i % len(distinct)], folder / f"scan_{i:06d}.jpg")


def decode_one(args) -> int:
    from similar.vectors.images import open_rgb
    from similar.vectors.model import to_pixels

    path, image_size = args
    img, _ = open_rgb(path, 1 << 40, image_size)
    return int(to_pixels(img, image_size)[0, 0, 0])


def decode_ceiling(files: list[Path], processes: int, image_size: int = 224) -> float:
    """Images/s of the workers' own decode and resize code, `processes` at a time, no model."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(processes) as pool:
        start = time.perf_counter()
        pool.map(decode_one, [(f, image_size) for f in files], chunksize=16)
        return len(files) / (time.perf_counter() - start)


def model_ceiling(
    model: str,
    weights: Path,
    device: str,
    precision: str,
    batch: int,
    image_size: int = 224,
    steps: int = 20,
) -> float:
    """Images/s of the model alone on uint8 batches already on the device."""
    import torch

    from similar.vectors.model import Embedder, ModelSpec

    embedder = Embedder(
        ModelSpec(model, str(weights), image_size=image_size), device, precision, batch
    )
    pixels = torch.randint(
        0, 255, (batch, 3, image_size, image_size), dtype=torch.uint8, device=device
    )
    for _ in range(2):
        embedder.embed_pixels(pixels)
    start = time.perf_counter()
    for _ in range(steps):
        embedder.embed_pixels(pixels)  # returns on the CPU: each step waits for the device
    return steps * batch / (time.perf_counter() - start)


def embed_vectors(folder: Path, model: str, weights: Path, **embed) -> np.ndarray:
    """In-process vectors of every image of `folder` with these embed params (no cache)."""
    from similar import parameters
    from similar.cache import EmbedCache
    from similar.vectors import embedding
    from similar.vectors.images import index_collection

    config = parameters.from_mapping({"embed": {"model": model, "weights": str(weights), **embed}})
    plan = embedding.plan(config.embed)
    embedder = embedding.make_embedder(plan)
    entries = index_collection(folder, ["*.jpg"])
    caches = embedding.Caches(EmbedCache(None, {}, embedder.dim), None)
    batches = embedding.embedded_batches(entries, plan, embedder, caches)
    return np.stack([item.vector for batch in batches for item in batch])


def measure_device(
    work: Path,
    n_images: int,
    size: tuple[int, int],
    device: str,
    model: str = MODEL,
    seed_images: int = 500,
    processes: int = 0,
) -> dict:
    """The embed stage on `device` (a GPU; the CPU runs it in tests) against the seed loop on
    the same device, the model-only ceiling and the decode ceiling of `processes` workers."""
    from similar import parameters
    from similar.vectors import embedding

    processes = processes or embedding.default_workers("cuda")
    distinct, images, weights = work / "distinct", work / "gpu-scans", work / "weights-gpu.pth"
    make_scans(distinct, min(n_images, 256), size)
    link_scans(images, distinct, n_images)
    write_weights(weights, model)
    subset = work / "gpu-subset"
    link_scans(subset, distinct, min(seed_images, n_images))
    loop = python_module(
        "tools.bench.embed_baseline", subset, weights, model, work / "seed.npz", "--device", device
    )
    seed_s, _ = run_process(loop, work)
    seed_ips = len(list(subset.glob("*.jpg"))) / seed_s
    plan = embedding.plan(parameters.from_mapping({"embed": {"device": device}}).embed)
    out = {
        "device": device,
        "images": n_images,
        "image_size": f"{size[0]}x{size[1]}",
        "batch_size": plan.batch_size,
        "precision": plan.precision,
        "workers": plan.num_workers,
        "seed_loop_ips": round(seed_ips, 1),
    }
    project = work / "gpu-embed"
    for decoder in ("pil", "nvjpeg") if device == "cuda" else ("pil",):
        embed = {"weights": str(weights), "model": model, "device": device, "decoder": decoder}
        write_params(project, data={"images": str(images)}, embed=embed, paths={"embed_cache": ""})
        wall, _ = run_stage("embed", project)
        report = json.loads((project / "reports/embed.json").read_text())
        out[decoder] = {
            "whole_process_seconds": round(wall, 2),
            "whole_process_ips": round(n_images / wall, 1),
            "stage_ips": round(report["images_per_second"], 1),
            "startup_seconds": report["startup_seconds"],
        }
    out["model_ceiling_ips"] = round(
        model_ceiling(model, weights, device, plan.precision, plan.batch_size), 1
    )
    out["decode_ceiling_ips"] = round(
        decode_ceiling(sorted(images.glob("*.jpg"))[:4000], processes), 1
    )
    out["decode_processes"] = processes
    cpu = embed_vectors(subset, model, weights, device="cpu", precision="fp32", batch_size=4)
    for decoder in out.keys() & {"pil", "nvjpeg"}:
        found = embed_vectors(subset, model, weights, device=device, decoder=decoder)
        figures = out[decoder]
        figures["min_cosine_to_cpu_fp32"] = round(float(cosines(found, cpu).min()), 5)
        figures["speedup_over_seed_loop"] = round(figures["stage_ips"] / seed_ips, 1)
        figures["share_of_decode_ceiling"] = round(
            figures["stage_ips"] / out["decode_ceiling_ips"], 2
        )
        figures["share_of_model_ceiling"] = round(
            figures["stage_ips"] / out["model_ceiling_ips"], 2
        )
    return out


def rows(g: dict) -> list[Row]:
    if "skipped" in g:
        return [Row("embed on a GPU", f"skipped: {g['skipped']}")]
    out = []
    for decoder in ("pil", "nvjpeg"):
        if decoder in g:
            d = g[decoder]
            out.append(
                Row(
                    f"embed on {g['device']}, {decoder} decode",
                    f"stage {d['stage_ips']} img/s, "
                    f"whole process {d['whole_process_seconds']} s, "
                    f"start-up {d['startup_seconds']} s, "
                    f"{d['speedup_over_seed_loop']}x seed loop, "
                    f"{d['share_of_decode_ceiling']} of decode ceiling, min cosine "
                    f"{d['min_cosine_to_cpu_fp32']}",
                )
            )
    return out + [
        Row(f"embed on {g['device']}: seed loop", f"{g['seed_loop_ips']} img/s"),
        Row(f"embed on {g['device']}: model ceiling", f"{g['model_ceiling_ips']} img/s"),
        Row(
            f"embed on {g['device']}: decode ceiling ({g['decode_processes']} processes)",
            f"{g['decode_ceiling_ips']} img/s",
        ),
    ]
