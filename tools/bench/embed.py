"""Section embed: images/s of the stage (whole process, fp32 and bf16) against the original
per-image loop (whole process), on the same realistic scans with the same weights file; the
model-only ceiling; accuracy against the mean-pooled reference; and the rerun after adding 1%
new images (the cache) against the baseline's full recomputation."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np

from .runner import (
    Row,
    cosines,
    make_scans,
    median_time,
    python_module,
    run_process,
    run_stage,
    write_params,
    write_weights,
)

MODEL = "efficientnet_b3"
QUICK_MODEL = "efficientnet_b0"  # --quick: startup dominates; a small model keeps it short


def measure(work: Path, options) -> dict:
    import torch

    from similar.vectors.model import Embedder, ModelSpec

    n_images, repeat = options.images, options.repeat
    model = QUICK_MODEL if options.quick else MODEL
    size = options.scan_size
    images, weights, cache = work / "scans", work / "weights.pth", work / "cache"
    make_scans(images, n_images, size)
    write_weights(weights, model)
    project = work / "embed"
    stage = {}

    def ours(precision: str, runs: int, keep_cache: bool = False) -> tuple[float, np.ndarray]:
        """Median wall time of whole `embed` processes, each starting from an empty cache
        (as a first run does) unless `keep_cache`; the stage's own figures go to `stage`."""
        embed = {"weights": str(weights), "precision": precision, "model": model}
        write_params(
            project, data={"images": str(images)}, embed=embed, paths={"embed_cache": str(cache)}
        )
        times, reports = [], []
        for _ in range(runs):
            if not keep_cache:
                shutil.rmtree(cache, ignore_errors=True)
            times.append(run_stage("embed", project)[0])
            reports.append(json.loads((project / "reports/embed.json").read_text()))
        if not keep_cache:  # a first run's figures, not a cached rerun's
            stage[precision] = {
                k: statistics.median(r[k] for r in reports)
                for k in ("images_per_second", "startup_seconds")
            }
        return statistics.median(times), np.load(project / "data/embeddings/vectors.npy")

    baseline_out = work / "baseline.npz"
    loop = python_module("tools.bench.embed_baseline", images, weights, model, baseline_out)
    baseline_s = statistics.median(run_process(loop, work)[0] for _ in range(repeat))
    baseline = np.load(baseline_out)
    # once only: where the CPU has no bf16 instructions, autocast is many times slower
    bf16_s, bf16_vec = ours("bf16", 1)
    ours_s, ours_vec = ours("fp32", repeat)

    # the rerun after adding 1% new images: the last fp32 run left the cache warm
    extra = max(1, n_images // 100)
    make_scans(work / "extra", n_images + extra, size)
    for f in sorted((work / "extra").glob("*.jpg"))[n_images:]:
        shutil.copy(f, images / f.name)
    incremental_s = ours("fp32", 1, keep_cache=True)[0]
    baseline_full_s = baseline_s * (n_images + extra) / n_images

    embedder = Embedder(ModelSpec(model, str(weights), image_size=224))
    batch = torch.randn(4, 3, 224, 224)
    embedder(batch)  # warm-up
    ceiling_s = median_time(lambda: [embedder(batch) for _ in range(8)], max(1, repeat))
    ref = baseline["reference"]
    return {
        "model": model,
        "images": n_images,
        "image_size": f"{size[0]}x{size[1]}",
        "ours_ips": round(n_images / ours_s, 2),
        "ours_stage_ips": round(stage["fp32"]["images_per_second"], 2),
        "ours_startup_seconds": round(stage["fp32"]["startup_seconds"], 2),
        "ours_bf16_ips": round(n_images / bf16_s, 2),
        "baseline_ips": round(n_images / baseline_s, 2),
        "speedup": round(baseline_s / ours_s, 2),
        "speedup_bf16": round(baseline_s / bf16_s, 2),
        "ceiling_ips": round(32 / ceiling_s, 2),
        "incremental_speedup": round(baseline_full_s / incremental_s, 2),
        "incremental_seconds": round(incremental_s, 2),
        "min_cosine_to_reference": round(float(cosines(ours_vec, ref).min()), 5),
        "min_cosine_bf16_to_reference": round(float(cosines(bf16_vec, ref).min()), 5),
        "min_cosine_baseline_to_reference": round(
            float(cosines(baseline["returned"], ref).min()), 5
        ),
    }


def rows(e: dict) -> list[Row]:
    return [
        Row("embed speedup fp32 (ours / per-image loop)", f"{e['speedup']}x", ratio=True),
        Row("embed speedup bf16", f"{e['speedup_bf16']}x", ratio=True),
        Row("embed incremental speedup (+1% images)", f"{e['incremental_speedup']}x", ratio=True),
        Row(
            "embed ours fp32",
            f"{e['ours_ips']} img/s (stage {e['ours_stage_ips']}, "
            f"start-up {e['ours_startup_seconds']} s)",
        ),
        Row("embed ours bf16", f"{e['ours_bf16_ips']} img/s"),
        Row("embed baseline", f"{e['baseline_ips']} img/s"),
        Row("embed model-only ceiling", f"{e['ceiling_ips']} img/s"),
        Row("embed min cosine to mean-pooled reference", str(e["min_cosine_to_reference"])),
        Row("  bf16", str(e["min_cosine_bf16_to_reference"])),
        Row("  baseline (top-left cell)", str(e["min_cosine_baseline_to_reference"])),
    ]
