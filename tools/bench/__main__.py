"""The command line of `make bench` (`python -m tools.bench --help`)."""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
from pathlib import Path

from similar import parameters
from similar.errors import UserError, run
from similar.files import write_json

from . import __doc__ as about
from .registry import SECTIONS
from .runner import table

QUICK = {  # --quick: tiny sizes, one repetition
    "repeat": 1,
    "images": 6,
    "points": 2000,
    "references": 100,
    "scale_points": 2000,
    "graph_points": 2000,
    "gpu_images": 256,
    "groups_points": 5000,
}


def options(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=about.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    ap.add_argument("--scale", type=int, default=0, help="only the scale run, on N vectors")
    ap.add_argument(
        "--pipeline",
        type=int,
        default=0,
        help="only the whole pipeline, on a synthetic collection of about N scans",
    )
    ap.add_argument(
        "--pipeline-dir", default="", help="keep --pipeline's collection and project here"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=600, help="scans for the embed run")
    ap.add_argument("--points", type=int, default=20000, help="store comparison (in-process)")
    ap.add_argument("--scale-points", type=int, default=200000, help="stage processes at scale")
    ap.add_argument("--graph-points", type=int, default=100000)
    ap.add_argument("--groups-points", type=int, default=1000000)
    ap.add_argument("--references", type=int, default=1000)
    ap.add_argument("--gpu-images", type=int, default=16000, help="scans for the GPU embed run")
    ap.add_argument(
        "--devset",
        default="data/devset",
        help="the development collection for the quality section (python -m tools.devset)",
    )
    ap.add_argument(
        "--drawings",
        default="data/drawings",
        help="the collection of real drawings for the drawings section (python -m tools.drawings)",
    )
    ap.add_argument(
        "--components",
        type=int,
        default=0,
        help="reduce.n_components of the quality and drawings sections' projects (0: "
        "params.yaml's; a collection of fewer images than that needs fewer: the copy set, 128)",
    )
    ap.add_argument("--only", default="", help=f"comma-separated sections of {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    args.scan_size = (400, 300) if args.quick else (1600, 1200)
    chosen = [x for x in args.only.split(",") if x] or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise UserError(
            f"--only: unknown section {sorted(unknown)[0]!r}; choose from {', '.join(SECTIONS)}"
        )
    args.sections = [name for name in SECTIONS if name in chosen]
    if args.scale:
        args.sections, args.scale_points = ["scale"], args.scale
    if args.pipeline:
        args.sections = ["pipeline"]
    return args


def report_name(args: argparse.Namespace) -> str:
    """A quick or partial run never overwrites the figures of a full one."""
    if args.scale:
        return f"bench-scale-{args.scale}.json"
    if args.pipeline:
        return f"bench-pipeline-{args.pipeline}.json"
    if args.quick:
        return "bench-quick.json"
    return f"bench-{args.only.replace(',', '-')}.json" if args.only else "bench.json"


def main(argv: list[str] | None = None) -> None:
    args = options(argv)
    sections = [importlib.import_module(f"{__package__}.{name}") for name in args.sections]
    for section in sections:
        if hasattr(section, "check"):
            section.check(args)
    target = parameters.load().paths.reports / report_name(args)
    report: dict = {"quick": args.quick, "repeat": args.repeat, "cpus": os.cpu_count()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name, section in zip(args.sections, sections, strict=True):
            work = Path(tmp) / name
            work.mkdir()
            report[name] = section.measure(work, args)
            rows += section.rows(report[name])
    write_json(target, report)
    print(table(rows))
    print(f"written: {target}")


if __name__ == "__main__":
    run(main)
