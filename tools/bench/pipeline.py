"""Section pipeline (`--pipeline N`, run alone): every stage as a user runs it, each its own
process, on a collection of about N scan-sized images (tools.sample.scale), with real
features (`efficientnet_lite0`, the weights its package ships): per stage the seconds and
the process's peak RSS; then the disk and the count of files of every cache and output.
`--pipeline-dir DIR` keeps the collection and the project there (a second run reuses the
collection, and the caches too unless they are removed), else both go with the bench's
temporary folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from tools.sample import scale

from .runner import ROOT, Row, run_stage, write_params

STAGES = tuple(  # dvc.yaml's order; fetch has nothing to do on a local collection
    stage for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"] if stage != "fetch"
)
COMPONENTS = 256  # reduce.n_components' default; fewer only for a tiny collection
GROUP_FIGURES = (
    "edges_checked",
    "edges_verified",
    "shared_part_pairs",
    "groups",
    "largest_group",
    "pairwise_precision",
    "pairwise_recall",
    "candidate_ceiling_recall",
)
MEASURED = (".cache", "data", "metrics", "reports", "plots")  # the project's folders


def collection(folder: Path, images: int) -> dict:
    """The scale collection in `folder`, built unless a build of the same size is there."""
    marker = folder / "BUILT"
    built = json.loads(marker.read_text()) if marker.is_file() else {}
    if built.get("asked") == images:
        return built
    made = {"asked": images, **scale.build(folder / "collection", images)}
    marker.write_text(json.dumps(made))
    return made


def footprint(root: Path) -> dict:
    """Bytes and files under each of the project's folders and their first level."""
    folders = [root / top for top in MEASURED if (root / top).is_dir()]
    folders += [sub for top in folders for sub in sorted(top.iterdir()) if sub.is_dir()]
    out = {}
    for folder in sorted(folders):
        files = [f for f in folder.rglob("*") if f.is_file()]
        out[str(folder.relative_to(root))] = {
            "mib": round(sum(f.stat().st_size for f in files) / 2**20, 1),
            "files": len(files),
        }
    return out


def measure(work: Path, options) -> dict:
    home = Path(options.pipeline_dir).resolve() if options.pipeline_dir else work
    home.mkdir(parents=True, exist_ok=True)
    made = collection(home, options.pipeline)
    images = home / "collection"
    project = home / "project"
    write_params(
        project,
        data={
            "images": str(images / "images"),
            "groups": str(images / "groups.csv"),
            "iiif_csv": str(images / "iiif.csv"),
            "queries": str(images / "queries.txt"),
        },
        embed={"model": "efficientnet_lite0", "weights": "imagenet"},
        reduce={"n_components": min(COMPONENTS, made["images"] - 1)},
    )
    stages = {}
    for stage in STAGES:
        seconds, rss = run_stage(stage, project)
        stages[stage] = {"seconds": round(seconds, 1), "peak_rss_mib": rss}
    groups = json.loads((project / "metrics/groups.json").read_text())
    return {
        "images": made["images"],
        "pictures": made["pictures"],
        "references": made["references"],
        "cpus": os.cpu_count(),
        "stages": stages,
        "total_seconds": round(sum(s["seconds"] for s in stages.values()), 1),
        **{key: groups.get(key) for key in GROUP_FIGURES},
        "collection_mib": round(sum(f.stat().st_size for f in images.rglob("*.jpg")) / 2**20, 1),
        "disk": footprint(project),
    }


def rows(p: dict) -> list[Row]:
    head = f"pipeline, {p['images']} images"
    out = [
        Row(f"{head}, {stage}", f"{s['seconds']} s, peak RSS {s['peak_rss_mib']} MiB")
        for stage, s in p["stages"].items()
    ]
    out.append(Row(f"{head}, every stage", f"{p['total_seconds']} s"))
    out.append(
        Row(
            f"{head}, groups",
            f"{p['edges_checked']} candidate edges checked, {p['edges_verified']} verified, "
            f"{p['groups']} groups, largest {p['largest_group']}; copies: precision "
            f"{p['pairwise_precision']}, recall {p['pairwise_recall']} "
            f"(ceiling {p['candidate_ceiling_recall']})",
        )
    )
    out += [
        Row(f"{head}, disk {name}", f"{d['mib']} MiB in {d['files']} files")
        for name, d in p["disk"].items()
        if "/" not in name or name.startswith((".cache/", "data/"))
    ]
    return out
