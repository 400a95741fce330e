"""Build the sample collection from real photographs shipped inside scikit-image and scikit-learn.

Each distinct picture (a whole photograph, or one tile of a photograph that is only used in
tiles: distinct pictures never share pixels) appears once as an
"original" and 2-5 times as the kind of copy printers made when they reused an
illustration: cropped, rescaled, grayscale or sepia, mirrored, slightly rotated,
re-compressed, with contrast or noise changed. The hard cases of hard_cases.py follow
(different pictures sharing a texture, a typeface, a frame, a card template or a figure;
one picture in different frames), each picture with a copy. Images are filed in book folders
under ids that say nothing about their group; groups.csv holds the ground truth ("copies
show the same picture") and each image's kind of case (`plain` or a hard one), iiif.csv
realistic IIIF Image API URLs, queries.txt the reference list. Same code, same bytes.

"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from similar.errors import UserError
from similar.files import atomic_dir, write_csv

from .hard_cases import hard_pictures

VERSION = "3"
SKIMAGE_FILES = [
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "page.png",
    "text.png",
    "motorcycle_left.png",
    "retina.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
    "color.png",
    "logo.png",
    "clock_motion.png",
    "microaneurysms.png",
    "cell.png",
    "horse.png",
]
SKLEARN_FILES = ["china.jpg", "flower.jpg"]
TEXTURES = {"brick", "grass", "gravel"}  # their tiles are the hard case of one texture
PAGES = {"page", "text"}  # text: "page" gives the hard case of one typeface
RESERVED = {"china", "flower", "coffee", "rocket", "astronaut"}  # tiles for the hard cases
TOO_SMALL = {"microaneurysms"}  # 102 px: its copies would be too small to show anything
BOOKS = [
    ("voyage_orient_1843", 3),
    ("travels_arabia_1829", 2),
    ("tour_du_monde_1862", 3),
    ("reise_nubien_1835", 2),
    ("journey_levant_1851", 3),
    ("viaggio_egitto_1847", 2),
    ("voyage_perse_1821", 3),
    ("narrative_syria_1838", 2),
]
IIIF_HOST = "https://iiif.example.org"


def source_photos() -> list[tuple[str, Image.Image]]:
    """The real photographs, as RGB, from the installed wheels (no network)."""
    import skimage.data
    import sklearn.datasets

    photos = []
    sk = Path(skimage.data.__file__).parent
    for name in SKIMAGE_FILES:
        with Image.open(sk / name) as img:
            photos.append((Path(name).stem, ImageOps.exif_transpose(img).convert("RGB")))
    sl = Path(sklearn.datasets.__file__).parent / "images"
    for name in SKLEARN_FILES:
        with Image.open(sl / name) as img:
            photos.append((Path(name).stem, img.convert("RGB")))
    return photos


def tiles(img: Image.Image, n: int) -> list[Image.Image]:
    """The n x n non-overlapping tiles of a picture."""
    w, h = img.size
    return [
        img.crop((qx * w // n, qy * h // n, (qx + 1) * w // n, (qy + 1) * h // n))
        for qy in range(n)
        for qx in range(n)
    ]


def distinct_pictures(count: int) -> list[Image.Image]:
    """Pictures that share no pixels: each photograph is used either whole (the small ones)
    or cut into tiles (the large ones), never both, so that no "distinct" picture is a crop
    of another. Wholes first, then tiles. Textures, pages and the RESERVED photographs are
    left to the hard cases."""
    wholes, parts = [], []
    for name, img in source_photos():
        if name in TOO_SMALL | TEXTURES | PAGES | RESERVED:
            continue
        if min(img.size) < 400:
            wholes.append(img)
        else:
            parts.extend(tiles(img, 3 if min(img.size) >= 800 else 2))
    pictures = wholes + parts
    if count > len(pictures):
        raise UserError(f"--pictures: at most {len(pictures)} distinct pictures can be made")
    return pictures[:count]


def hard_case_pictures() -> list[tuple[str, list[Image.Image]]]:
    """The hard cases, from the photographs distinct_pictures leaves out."""
    photos = dict(source_photos())
    reserved = [tiles(photos[name], 2) for name in sorted(RESERVED)]
    contents = [tile for group in zip(*reserved) for tile in group]  # one of each in turn
    textures = [photos[name] for name in sorted(TEXTURES)]
    return hard_pictures(textures, photos["page"], contents, tiles)


def _sepia(img: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(img)
    return ImageOps.colorize(gray, (45, 25, 10), (250, 235, 205))


def _noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.normal(0, rng.uniform(6, 14), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _recompress(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def variant(img: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    if kind == "crop":
        f = rng.uniform(0.75, 0.92)
        cw, ch = int(w * f), int(h * f)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return img.crop((x, y, x + cw, y + ch))
    if kind == "rescale":
        f = rng.uniform(0.45, 0.8)
        return img.resize((max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.LANCZOS)
    if kind == "grayscale":
        return ImageOps.grayscale(img).convert("RGB")
    if kind == "sepia":
        return _sepia(img)
    if kind == "mirror":
        return ImageOps.mirror(img)
    if kind == "rotate":
        return img.rotate(
            float(rng.uniform(-4, 4)),
            Image.Resampling.BICUBIC,
            expand=True,
            fillcolor=(255, 255, 255),
        )
    if kind == "recompress":
        return _recompress(img, int(rng.integers(15, 40)))
    if kind == "contrast":
        return ImageEnhance.Contrast(img).enhance(float(rng.choice([0.6, 0.75, 1.35, 1.6])))
    if kind == "noise":
        return _noise(img, rng)
    raise ValueError(kind)


KINDS = [
    "crop",
    "rescale",
    "grayscale",
    "sepia",
    "mirror",
    "rotate",
    "recompress",
    "contrast",
    "noise",
]


def iiif_url(book: str, page: int, box: tuple[int, int, int, int], version: int) -> str:
    x, y, w, h = box
    ident = f"{book}%2F{page:04d}"
    size = "max" if version == 3 else "full"
    return f"{IIIF_HOST}/iiif/{version}/{ident}/{x},{y},{w},{h}/{size}/0/default.jpg"


def build(out: Path, pictures: int, seed: int = 1843, hard: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    images = []  # (picture index, PIL image, is the original, kind of case)
    plain = distinct_pictures(pictures)
    for p, pic in enumerate(plain):
        images.append((p, pic, True, "plain"))
        for _ in range(int(rng.integers(3, 6))):  # 3 to 5 copies
            kinds = rng.choice(KINDS, size=int(rng.integers(1, 3)), replace=False)
            img = pic
            for kind in kinds:
                img = variant(img, str(kind), rng)
            images.append((p, img, False, "plain"))
    hard_cases = hard_case_pictures() if hard else []
    for p, (case, given) in enumerate(hard_cases, start=len(plain)):
        images += [(p, img, n == 0, case) for n, img in enumerate(given)]
        images.append((p, variant(given[-1], str(rng.choice(KINDS)), rng), False, case))
    order = rng.permutation(len(images))
    pages = {book: 0 for book, _ in BOOKS}
    rows_groups, rows_iiif, originals = [], [], {}
    with atomic_dir(out, "--out") as tmp:
        for n in order:
            p, img, original, case = images[n]
            book, version = BOOKS[int(rng.integers(0, len(BOOKS)))]
            pages[book] += int(rng.integers(1, 9))
            iid = f"{book}_p{pages[book]:04d}"
            folder = tmp / "images" / book
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{iid}.jpg", "JPEG", quality=90)
            rows_groups.append((iid, f"g{p:03d}", case))
            box = (int(rng.integers(80, 400)), int(rng.integers(120, 600)), img.width, img.height)
            rows_iiif.append((iid, iiif_url(book, pages[book], box, 3 if version == 3 else 2)))
            if original:
                originals[p] = iid
        rows_groups.sort()
        rows_iiif.sort()
        write_csv(tmp / "groups.csv", ["id", "group", "kind"], rows_groups)
        write_csv(tmp / "iiif.csv", ["id", "iiif_url"], rows_iiif)
        refs = [originals[p] for p in range(len(plain))][: max(1, min(20, pictures))]
        for case in dict.fromkeys(case for case, _ in hard_cases):  # two of each hard case
            first = [p for p, (c, _) in enumerate(hard_cases, start=len(plain)) if c == case]
            refs += [originals[p] for p in first[:2]]
        (tmp / "queries.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
        (tmp / "VERSION").write_text(marker(pictures, seed, hard))
    return {
        "images": len(images),
        "pictures": len(plain) + len(hard_cases),
        "references": len(refs),
    }


def marker(pictures: int, seed: int, hard: bool) -> str:
    return f"{VERSION} pictures={pictures} seed={seed}" + ("" if hard else " plain") + "\n"


DEFAULT_OUT = Path("data/sample")
DEFAULT_PICTURES = 46


def is_current(out: Path, pictures: int = DEFAULT_PICTURES, seed: int = 1843) -> bool:
    found = out / "VERSION"
    return found.is_file() and found.read_text() == marker(pictures, seed, True)


def uses_sample(images: Path, out: Path = DEFAULT_OUT) -> bool:
    """Whether the collection `data.images` names lies inside the sample folder."""
    return Path(images).resolve().is_relative_to(out.resolve())
