"""A collection of any size for measuring the pipeline's cost: scan-sized pictures cut from the
packaged photographs, their copies and distractors (`python -m tools.sample.scale --images N
--out DIR`; never committed).

Each picture is a window of one photograph (a quarter to two thirds of its sides, anywhere
in it), resized so that its longer side is 500 to 1500 pixels, as illustration scans are.
About two pictures in five are distractors, alone in the collection; the others get one to
three copies of the sample's kinds (crop, rescale, grey, sepia, mirror, rotate, recompress,
contrast, noise), each again at 500 to 1500 pixels. Twenty-odd photographs give every
window, so windows of one photograph overlap: the collection holds pictures sharing a part
as a real one does, and groups.csv (a picture's copies) is the truth about copies only.
It measures cost (seconds, memory, disk), not quality: the development collection
(tools.devset) and the sample are for that.

Files: `images/<book>/<id>.jpg` (100 images a book), `groups.csv` (`id,group,kind`),
`iiif.csv` (placeholder links), `queries.txt` (every 20th picture's original, at most 1,000).
Picture p's pixels depend only on (seed, p), so the work splits over processes and the same
arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from similar.errors import UserError, run
from similar.files import atomic_dir, write_csv

from .collection import KINDS, TOO_SMALL, iiif_url, source_photos, variant

SIDES = (500, 1500)  # the longer side of every image, in pixels
COPIES = (0, 1, 2, 3)  # copies of a picture, drawn with COPY_ODDS
COPY_ODDS = (0.4, 0.3, 0.2, 0.1)
WINDOW = (0.25, 0.67)  # a picture's share of its photograph's sides
BOOK_SIZE = 100
REFERENCE_EVERY = 20
MAX_REFERENCES = 1000
_PHOTOS: list[tuple[str, Image.Image]] = []


def photos() -> list[tuple[str, Image.Image]]:
    if not _PHOTOS:
        _PHOTOS.extend((n, img) for n, img in source_photos() if n not in TOO_SMALL)
    return _PHOTOS


def scan_sized(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(SIDES[0], SIDES[1] + 1))
    w, h = img.size
    f = side / max(w, h)
    return img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC)


def picture_images(seed: int, picture: int) -> list[Image.Image]:
    """Picture `picture`'s original, then its copies."""
    rng = np.random.default_rng([seed, picture])
    _, photo = photos()[int(rng.integers(len(photos())))]
    w, h = photo.size
    fw, fh = rng.uniform(*WINDOW, size=2)
    cw, ch = max(32, int(w * fw)), max(32, int(h * fh))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    original = scan_sized(photo.crop((x, y, x + cw, y + ch)), rng)
    out = [original]
    for _ in range(int(rng.choice(COPIES, p=COPY_ODDS))):
        img = original
        for kind in rng.choice(KINDS, size=int(rng.integers(1, 3)), replace=False):
            img = variant(img, str(kind), rng)
        out.append(scan_sized(img, rng))
    return out


def write_pictures(task: tuple[Path, int, int, int]) -> list[tuple[str, str, str, int]]:
    """Write pictures [first, last) of the collection; their rows (id, group, kind, picture)."""
    folder, seed, first, last = task
    rows = []
    for p in range(first, last):
        for n, img in enumerate(picture_images(seed, p)):
            iid = f"p{p:06d}_{n}"
            rows.append((iid, f"g{p:06d}", "original" if n == 0 else "copy", p))
            book = folder / f"book{p // BOOK_SIZE:04d}"
            book.mkdir(parents=True, exist_ok=True)
            img.save(book / f"{iid}.jpg", "JPEG", quality=88)
    return rows


def pictures_for(images: int) -> int:
    """Pictures giving about `images` images (each has 1 + E[copies] on average)."""
    mean = 1 + float(np.dot(COPIES, COPY_ODDS))
    return max(1, round(images / mean))


def build(out: Path, images: int, seed: int = 100, processes: int = 0) -> dict:
    pictures = pictures_for(images)
    chunk = 50
    with atomic_dir(out, "--out") as tmp:
        tasks = [
            (tmp / "images", seed, first, min(first + chunk, pictures))
            for first in range(0, pictures, chunk)
        ]
        with ProcessPoolExecutor(processes or os.cpu_count() or 1) as pool:
            rows = [row for part in pool.map(write_pictures, tasks) for row in part]
        write_csv(tmp / "groups.csv", ["id", "group", "kind"], [r[:3] for r in rows])
        links = [
            (iid, iiif_url(f"book{p // BOOK_SIZE:04d}", page, (0, 0, 1000, 800), 3))
            for page, (iid, _, _, p) in enumerate(rows, start=1)
        ]
        write_csv(tmp / "iiif.csv", ["id", "iiif_url"], links)
        originals = [r[0] for r in rows if r[2] == "original"]
        references = originals[::REFERENCE_EVERY][:MAX_REFERENCES]
        (tmp / "queries.txt").write_text("".join(f"{r}\n" for r in references))
    return {"images": len(rows), "pictures": pictures, "references": len(references)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, required=True, help="about this many images")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args(argv)
    if args.images < 1:
        raise UserError("--images: give a positive number")
    if args.out.exists():
        raise UserError(f"--out: {args.out} exists; remove it or choose another folder")
    made = build(args.out, args.images, args.seed)
    print(
        f"scale collection: {made['images']} images of {made['pictures']} pictures, "
        f"{made['references']} references -> {args.out}"
    )


if __name__ == "__main__":
    run(main)
