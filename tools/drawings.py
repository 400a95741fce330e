"""A collection of real drawings from Debian's clip art, with planted printer's copies: never
committed.

`python -m tools.drawings --out DIR` downloads `openclipart-png` (`apt-get download`, into
`DIR/debs`, kept) and writes `DIR/images/<kind>/<id>.png`, `DIR/groups.csv` (`id,group,kind`)
and placeholder IIIF links (`DIR/iiif.csv`), as `tools.devset` does:

* drawings: every PNG of the Open Clip Art Library's 0.18 release (about 8,000), laid on
  white, its id its path (`oc-<folder>-...-<name>`). Left out: files Pillow refuses (two
  stop signs of 623 million pixels), drawings under TINY pixels and drawings blank on white
  (the gradients, which are transparency alone). What it holds that a development
  collection needs: whole playing-card decks (different cards in one frame), warning
  signs (different pictograms in one triangle), jigsaw pieces, arrows, flags, icon themes.
* hard copies of PLANTED drawings (at least MIN_SIDE pixels), one each, of the kinds a
  printer's copy takes (`tools.devset.HARD_KINDS` in turn), each from a fixed seed.
  `--shift N` draws them again: each chosen drawing's Nth successor among the sorted ids,
  the kinds and seeds N on.

Ground truth, from the file names alone: every file is its own picture, except that files
holding the same pixels are one (the library files one drawing under several folders); a
hard copy is in its source's group. The library also holds one drawing in other colours,
mirrored or turned (jigsaw pieces, arrows, balloons, card backs) under other names: by the
copy rule those are copies, by this truth different pictures, so this truth undercounts
precision; docs/performance.md says how the groups that mix pictures divide.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

from PIL import Image

from similar.errors import UserError, run

from . import devset

PACKAGE = "openclipart-png"
PLANTED = 150
MIN_SIDE = 64  # a planted drawing's shorter side, at least
TINY = 16  # a drawing's shorter side under this is left out (no feature can be found on it)
BLANK_RANGE = 8  # grey levels within which every channel of a blank drawing lies


def drawing_id(relative: Path) -> str:
    """`oc-` and the file's path under the library's png folder, folders joined by `-`."""
    return "oc-" + "-".join(relative.with_suffix("").parts).replace(" ", "_")


def is_blank(img: Image.Image) -> bool:
    return max(high - low for low, high in img.getextrema()) < BLANK_RANGE


def on_white(path: Path) -> Image.Image:
    """A drawing's file laid on white; a few are exported at 100 million pixels and more,
    which Pillow warns of: they are drawn all the same (over its limit it refuses them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            return devset.on_white(img)


def drawings(library: Path, out: Path, rows: list) -> dict[str, tuple[Path, tuple[int, int]]]:
    """Each drawing of `library` on white under `out` (id -> its path and size); rows of the
    truth."""
    found: dict[str, tuple[Path, tuple[int, int]]] = {}
    for path in sorted(library.rglob("*.png")):
        try:
            drawn = on_white(path)
        except (OSError, Image.DecompressionBombError):
            continue
        if min(drawn.size) < TINY or is_blank(drawn):
            continue
        key = drawing_id(path.relative_to(library))
        found[key] = devset.save(drawn, out, "drawing", key), drawn.size
        rows.append((key, key, "drawing"))
    return found


def planted(sources: dict, groups: dict[str, str], count: int, out: Path, rows, shift: int = 0):
    """One hard copy of each of `count` drawings (evenly over the sorted ids of those at
    least MIN_SIDE pixels each way, each moved `shift` ids on; `sources`: id -> path and
    size), the kinds in turn from the `shift`-th."""
    large = sorted(key for key, (_, size) in sources.items() if min(size) >= MIN_SIDE)
    if not large:
        return
    places = devset.evenly(list(range(len(large))), count)
    for seed, place in enumerate(places, start=shift):
        key = large[(place + shift) % len(large)]
        kind = devset.HARD_KINDS[seed % len(devset.HARD_KINDS)]
        with Image.open(sources[key][0]) as img:
            devset.save_copy(img.convert("RGB"), kind, key, seed, groups[key], out, rows)


def collect(library: Path, out: Path, count: int = PLANTED, shift: int = 0) -> int:
    """The collection under `out` from the library's png folder; the number of images."""
    images = out / "images"
    rows: list = []
    sources = drawings(library, images, rows)
    if not sources:
        raise UserError(f"{library} holds no drawings (PNG files)")
    rows = devset.merge_identical(rows, images)
    planted(sources, {r[0]: r[1] for r in rows}, count, images, rows, shift)
    devset.write_truth(out, rows)
    return len(rows)


def build(out: Path, count: int = PLANTED, shift: int = 0) -> int:
    debs = devset.download(out / "debs", (PACKAGE,))
    with tempfile.TemporaryDirectory() as tmp:
        share = devset.unpack(debs, Path(tmp))
        return collect(share / "openclipart/png", out, count, shift)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--planted", type=int, default=PLANTED, help="drawings given a copy")
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        help="plant the copies on other drawings, of other kinds and seeds (another draw)",
    )
    args = parser.parse_args(argv)
    if args.shift < 0:
        raise UserError(f"--shift must be 0 or more, got {args.shift}")
    devset.require_commands(("apt-get", "dpkg-deb"), "drawings")
    n = build(args.out, args.planted, args.shift)
    print(f"drawings: {n} images in {args.out / 'images'}, ground truth {args.out / 'groups.csv'}")


if __name__ == "__main__":
    run(main)
