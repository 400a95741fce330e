"""`python -m tools.sample`: build the sample collection, unless it is up to date."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from similar.errors import UserError, run

from . import collection
from .collection import DEFAULT_OUT, DEFAULT_PICTURES, build, is_current


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=collection.__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT, type=Path)
    ap.add_argument(
        "--pictures",
        default=DEFAULT_PICTURES,
        type=int,
        help=f"distinct pictures (default {DEFAULT_PICTURES})",
    )
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args(argv)
    if not args.force and is_current(args.out, args.pictures):
        print(f"sample: {args.out} is up to date")
        return
    if args.out.exists() and not (args.out / "VERSION").exists():
        raise UserError(f"{args.out} exists and is not a sample folder; remove it first")
    shutil.rmtree(args.out, ignore_errors=True)
    stats = build(args.out, args.pictures)
    print(
        f"sample: {stats['images']} images of {stats['pictures']} pictures (hard cases "
        f"included), "
        f"{stats['references']} references -> {args.out}"
    )


if __name__ == "__main__":
    run(main)
