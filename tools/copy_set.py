"""A set of photographs with a printer's hard copies among distractors: never committed.

`python -m tools.copy_set --out DIR [--devset data/devset] [--shift N]` writes
`DIR/images/<kind>/<id>.png`, `DIR/groups.csv` (`id,group,kind`) and placeholder IIIF
links (`DIR/iiif.csv`), as `tools.devset` does, for the pipeline to group
(docs/performance.md gives its figures):

* the photographs that scikit-image and scikit-learn ship (`tools.bench.hard_copies`), 600
  pixels on the longer side, kind `photo`;
* COPIES hard copies of each, of the kinds `tools.bench.hard_copies.kinds` makes and one
  mirrored and turned (MIRROR_TURN degrees), taken in turn over the photographs: the copy
  `j` of the photograph `i` is of kind `COPIES * i + j` (modulo the number of kinds), made
  with that number as its seed; its kind is its folder. `--shift N` adds N to that number
  (each photograph's copies of other kinds, made with other seeds: the same measure on
  another draw);
* DISTRACTORS cards and icons of the development collection (`tools.devset`), evenly over
  their sorted ids, kind `distractor`, in their own groups there.

Ground truth: a copy is in its photograph's group; scikit-image's `cat` and `chelsea` are
one photograph (the cat is a crop of chelsea), one group under `chelsea`.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image, ImageOps

from similar.errors import UserError, run

from . import devset

COPIES = 3
DISTRACTORS = 100
MIRROR_TURN = 12
SAME_PHOTOGRAPH = {"cat": "chelsea"}


def copy_kinds() -> dict:
    """Each kind of hard copy, by its folder name: (picture, seed) -> copy."""
    from .bench import hard_copies

    kinds = dict(hard_copies.kinds())
    kinds["mirrored and turned"] = lambda img, seed: ImageOps.mirror(img).rotate(
        MIRROR_TURN, expand=True, fillcolor="white"
    )
    return {folder_name(kind): make for kind, make in kinds.items()}


def folder_name(kind: str) -> str:
    return kind.replace(" ", "_").replace("%", "pc")


def photographs(out: Path, rows: list, count: int | None = None, shift: int = 0) -> None:
    """The photographs (the first `count`; all by default) and their hard copies, their
    kinds in turn from the `shift`-th."""
    from .bench import hard_copies

    kinds = copy_kinds()
    names = list(kinds)
    count = len(hard_copies.PHOTOGRAPHS) + 2 if count is None else count
    for i, (name, img) in enumerate(hard_copies.photographs(count).items()):
        group = SAME_PHOTOGRAPH.get(name, name)
        devset.save(img.convert("RGB"), out, "photo", name)
        rows.append((name, group, "photo"))
        for j in range(COPIES):
            turn = COPIES * i + j + shift
            kind = names[turn % len(names)]
            devset.save(kinds[kind](img, turn).convert("RGB"), out, kind, f"{name}-{kind}")
            rows.append((f"{name}-{kind}", group, kind))


def distractors(collection: Path, count: int, out: Path, rows: list) -> None:
    """`count` of the development collection's cards and icons, in their groups there."""
    with open(collection / "groups.csv", encoding="utf-8", newline="") as fh:
        found = [r for r in csv.DictReader(fh) if r["kind"] in ("card", "icon", "icon_redrawn")]
    by_id = {r["id"]: r for r in found}
    for key in devset.evenly(sorted(by_id), count):
        row = by_id[key]
        with Image.open(collection / "images" / row["kind"] / f"{key}.png") as img:
            devset.save(img.convert("RGB"), out, "distractor", key)
        rows.append((key, row["group"], "distractor"))


def build(
    out: Path,
    collection: Path,
    count: int = DISTRACTORS,
    photos: int | None = None,
    shift: int = 0,
) -> int:
    """The set under `out` (`photos` photographs, all by default, their copies' kinds and
    seeds shifted by `shift`); the number of images."""
    if not (collection / "groups.csv").is_file():
        raise UserError(
            f"{collection / 'groups.csv'} not found: build the development collection first "
            f"(python -m tools.devset --out {collection})"
        )
    rows: list = []
    images = out / "images"
    photographs(images, rows, photos, shift)
    distractors(collection, count, images, rows)
    devset.write_truth(out, rows)
    return len(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--devset", type=Path, default=Path("data/devset"), help="the development collection"
    )
    parser.add_argument("--distractors", type=int, default=DISTRACTORS)
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        help="shift each photograph's copies to the next kinds and seeds (another draw)",
    )
    args = parser.parse_args(argv)
    if args.shift < 0:
        raise UserError(f"--shift must be 0 or more, got {args.shift}")
    n = build(args.out, args.devset, args.distractors, shift=args.shift)
    print(f"copy set: {n} images in {args.out / 'images'}, ground truth {args.out / 'groups.csv'}")


if __name__ == "__main__":
    run(main)
