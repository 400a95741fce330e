"""Section models: embed images/s of EfficientNet-Lite0 beside B3, whole `stages.embed`
processes (fp32, from an empty cache), on the same scans as the embed section. The models take
turns, so a change in the machine's load falls on each. Lite0 runs on the weights its package
ships (what a user runs), B3 on a random state-dict file (the same arithmetic as its ImageNet
weights, and no download)."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from similar.vectors.networks import LITE_NETWORKS

from .runner import Row, make_scans, run_stage, write_params, write_weights

MODELS = ("efficientnet_b3", "efficientnet_lite0")
QUICK_MODELS = ("efficientnet_b0", "efficientnet_lite0")  # --quick: a small model beside Lite0


def measure(work: Path, options) -> dict:
    models = QUICK_MODELS if options.quick else MODELS
    images = work / "scans"
    make_scans(images, options.images, options.scan_size)
    projects = {}
    for model in models:
        project = work / model
        weights = "imagenet" if model in LITE_NETWORKS else project / "weights.pth"
        project.mkdir()
        if weights != "imagenet":
            write_weights(weights, model)
        embed = {"model": model, "weights": str(weights), "precision": "fp32"}
        write_params(
            project,
            data={"images": str(images)},
            embed=embed,
            paths={"embed_cache": str(project / "cache")},
        )
        projects[model] = project
    runs: dict[str, list] = {model: [] for model in models}
    for _ in range(options.repeat):
        for model, project in projects.items():
            shutil.rmtree(project / "cache", ignore_errors=True)
            seconds, peak = run_stage("embed", project)
            stage = json.loads((project / "reports/embed.json").read_text())
            runs[model].append((seconds, peak, stage))
    figures: dict = {"images": options.images, "image_size": "x".join(map(str, options.scan_size))}
    for model, done in runs.items():
        figures[model] = {
            "ips": round(options.images / statistics.median(r[0] for r in done), 2),
            "stage_ips": round(statistics.median(r[2]["images_per_second"] for r in done), 2),
            "startup_seconds": round(statistics.median(r[2]["startup_seconds"] for r in done), 2),
            "peak_rss_mib": max(r[1] for r in done),
        }
    figures["lite0_over_" + models[0]] = round(
        figures["efficientnet_lite0"]["ips"] / figures[models[0]]["ips"], 2
    )
    return figures


def rows(m: dict) -> list[Row]:
    other = next(k for k in m if k.startswith("efficientnet_") and k != "efficientnet_lite0")
    out = [
        Row(
            f"embed efficientnet_lite0 / {other} (whole process)",
            f"{m[f'lite0_over_{other}']}x",
            ratio=True,
        )
    ]
    for model in (other, "efficientnet_lite0"):
        r = m[model]
        out.append(
            Row(
                f"embed {model}, fp32, {m['images']} scans of {m['image_size']}",
                f"{r['ips']} img/s (stage {r['stage_ips']}, start-up {r['startup_seconds']} s, "
                f"peak RSS {r['peak_rss_mib']} MiB)",
            )
        )
    return out
