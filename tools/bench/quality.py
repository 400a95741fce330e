"""Section quality: how trustworthy the groups are, on real features (`efficientnet_lite0`, the
weights its package ships): pairwise precision, recall, its candidate ceiling, the largest
group, the groups that mix pictures and the figures per kind with their ceilings, on the
development collection when one is built (`python -m tools.devset --out data/devset`, or
`--devset DIR`), else on the sample, saying which. The pipeline runs as a user runs it: embed,
reduce, attach_iiif, graph, groups, in a scratch project."""

from __future__ import annotations

import json
from pathlib import Path

from .runner import ROOT, Row, run_stage, write_params

STAGES = ("embed", "reduce", "attach_iiif", "graph", "groups")
QUICK_PICTURES = 8
QUICK_COMPONENTS = 64  # the quick sample's images are fewer than the default components


def collection(work: Path, options) -> tuple[str, Path, Path, Path]:
    """(what it is, its images, its ground truth, its IIIF links)."""
    devset = built(options.devset, options.quick)
    if devset is not None:
        return f"development collection {devset}", *devset_files(devset)
    from tools.sample import DEFAULT_PICTURES, build

    pictures = QUICK_PICTURES if options.quick else DEFAULT_PICTURES
    build(work / "sample", pictures)
    sample = work / "sample"
    return (
        f"sample ({pictures} pictures)",
        sample / "images",
        sample / "groups.csv",
        sample / "iiif.csv",
    )


def built(folder: str, quick: bool) -> Path | None:
    """A collection's folder (relative to the project) where it is built (its groups.csv
    there) and the run is not `--quick`; else None."""
    path = Path(folder)
    path = path if path.is_absolute() else ROOT / path
    return path if not quick and (path / "groups.csv").is_file() else None


def devset_files(devset: Path) -> tuple[Path, Path, Path]:
    return devset / "images", devset / "groups.csv", devset / "iiif.csv"


def measure(work: Path, options) -> dict:
    return measured(work, *collection(work, options), options.quick, options.components)


def reduce_settings(quick: bool, components: int = 0) -> dict:
    """The scratch project's `reduce` keys: QUICK_COMPONENTS on `--quick`, else
    `--components` where given, else params.yaml's."""
    if quick:
        return {"n_components": QUICK_COMPONENTS}
    return {"n_components": components} if components else {}


def measured(
    work: Path,
    what: str,
    images: Path,
    truth: Path,
    links: Path,
    quick: bool,
    components: int = 0,
) -> dict:
    """The groups' figures of a collection with its ground truth, through the stages a user
    runs, in a scratch project under `work`."""
    project = work / "project"
    write_params(
        project,
        data={"images": str(images), "groups": str(truth), "iiif_csv": str(links)},
        embed={"model": "efficientnet_lite0", "weights": "imagenet"},
        reduce=reduce_settings(quick, components),
    )
    seconds = sum(run_stage(stage, project)[0] for stage in STAGES)
    metrics = json.loads((project / "metrics/groups.json").read_text())
    keys = ("pairwise_precision", "pairwise_recall", "pairwise_f1", "candidate_ceiling_recall")
    return {
        "collection": what,
        "images": sum(1 for _ in open(truth, encoding="utf-8")) - 1,
        **{key: metrics.get(key, 0.0) for key in keys},
        "largest_group": metrics["largest_group"],
        "groups_mixing_pictures": metrics.get("groups_mixing_pictures", 0),
        "by_kind": metrics.get("by_kind", {}),
        "seconds": round(seconds, 1),
    }


def rows(q: dict) -> list[Row]:
    out = [
        Row(
            f"quality on the {q['collection']}, {q['images']} images",
            f"pairwise precision {q['pairwise_precision']}, recall {q['pairwise_recall']} "
            f"(ceiling {q['candidate_ceiling_recall']}), F1 {q['pairwise_f1']}, "
            f"largest group {q['largest_group']}, "
            f"{q['groups_mixing_pictures']} groups mixing pictures",
        )
    ]
    for kind, figures in sorted(q["by_kind"].items()):
        out.append(
            Row(
                f"quality, kind {kind or '(none)'}",
                f"precision {figures['pairwise_precision']}, recall {figures['pairwise_recall']} "
                f"(ceiling {figures.get('candidate_ceiling_recall', '-')}, "
                f"{figures['pairs_expected']} pairs expected); both of the kind: "
                f"precision {figures.get('pairwise_precision_within', '-')}, recall "
                f"{figures.get('pairwise_recall_within', '-')} "
                f"({figures.get('pairs_expected_within', 0)} pairs)",
            )
        )
    return out
