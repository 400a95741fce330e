"""Finding the images of a collection, naming them, and decoding them to clean RGB.

Discovery is recursive, case-insensitive on extensions, sorted, and safe on symlink
loops. Files that would share an id (`plate.jpg` beside `plate.tif`, a master beside its
derivative) keep their extension in it (`plate.jpg`, `plate.tif`). A file whose name is not
UTF-8 cannot be an id in UTF-8 outputs: it is skipped and listed under its name with the
bad bytes escaped (`caf\\xe9.jpg`). Decoding applies EXIF orientation and turns every mode
Pillow reads (palette, alpha, CMYK, 16-bit, float) into 8-bit RGB, so the model sees what a
person sees.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageFile, ImageOps

from ..errors import UserError

# A truncated file must fail loudly, not decode as a grey half-image.
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_PATTERNS = (
    *("*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.bmp", "*.gif", "*.webp"),
    *("*.jp2", "*.j2k", "*.ppm", "*.pgm", "*.pbm", "*.pnm"),  # JPEG 2000 masters, netpbm
)
ORIENTATION_TAG = 0x0112
TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}


@dataclass(frozen=True)
class ImageEntry:
    id: str
    relpath: str  # POSIX, relative to the collection root
    path: Path


def discover(root: str | os.PathLike, patterns: Iterable[str] = DEFAULT_PATTERNS) -> list[Path]:
    """All files under `root` whose names match a pattern, case-insensitively, sorted by relpath.

    Symlinked folders are followed once: a folder reached again through a link is skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"{root}: image folder not found; set data.images in params.yaml "
            "(or run `make sample` for the sample collection)"
        )
    lowered = [p.lower() for p in patterns]
    seen_dirs: set[tuple[int, int]] = set()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            low = name.lower()
            if any(fnmatch.fnmatchcase(low, pat) for pat in lowered):
                full = Path(dirpath) / name
                if full.is_file():
                    found.append(full)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def image_id(relpath: str, id_from: str = "stem") -> str:
    """The image id: the file name without extension, or the relative path without it."""
    pure = PurePosixPath(relpath)
    if id_from == "stem":
        return pure.stem
    if id_from == "relpath":
        return str(pure.with_suffix(""))
    raise UserError(f"params.yaml: 'data.id_from' must be stem or relpath, got {id_from!r}")


NOT_UTF8_NAME = "file name is not UTF-8; rename it (e.g. `convmv -f latin1 -t utf8 --notest`)"


def shown_name(relpath: str) -> str | None:
    """`relpath` with its undecodable bytes escaped when it is not UTF-8, else None."""
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(relpath).decode("utf-8", "backslashreplace")
    return None


def index_collection(
    root: str | os.PathLike,
    patterns: Iterable[str] = DEFAULT_PATTERNS,
    id_from: str = "stem",
    skipped: list[tuple[str, str]] | None = None,
) -> list[ImageEntry]:
    """Discover images and give each an id. Files that would share one keep their extension
    in it; two that still share one are a UserError. Files that cannot have an id go to
    `skipped` as (shown path, reason)."""
    root = Path(root)
    named = []
    for full in discover(root, patterns):
        rel = full.relative_to(root).as_posix()
        if (shown := shown_name(rel)) is not None:
            if skipped is not None:
                skipped.append((shown, NOT_UTF8_NAME))
            continue
        named.append((image_id(rel, id_from), rel, full))
    shared = Counter(iid for iid, _, _ in named)
    entries: list[ImageEntry] = []
    by_id: dict[str, str] = {}
    for iid, rel, full in named:
        if shared[iid] > 1:
            iid = id_with_extension(rel, id_from)
        if iid in by_id:
            raise UserError(
                f"two images have the id '{iid}': {root / by_id[iid]} and {full} (files that "
                f"differ only in extension keep it in their ids); {duplicate_fix(id_from)}"
            )
        by_id[iid] = rel
        entries.append(ImageEntry(iid, rel, full))
    return entries


def id_with_extension(relpath: str, id_from: str) -> str:
    """The id of a file whose plain id another file shares: the extension kept."""
    return PurePosixPath(relpath).name if id_from == "stem" else relpath


def duplicate_fix(id_from: str) -> str:
    if id_from == "stem":
        return "rename one, or set data.id_from: relpath in params.yaml"
    return "rename one"


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """Width and height as displayed, after the EXIF orientation is applied."""
    w, h = img.size
    try:
        orientation = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not stop decoding
        orientation = 1
    return (h, w) if orientation in TRANSPOSED_ORIENTATIONS else (w, h)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def too_large(size: tuple[int, int], max_pixels: int) -> str | None:
    """The reason an image of this (displayed) size is refused, or None; the same text whether
    the image was decoded now or its vector came from the cache."""
    w, h = size
    if w * h > max_pixels:
        return f"too large: {w}x{h} pixels exceeds embed.max_pixels={max_pixels}"
    return None


def stable_text(exc: BaseException) -> str:
    """An exception's message without object addresses, so failed.csv is the same every run."""
    return re.sub(r"<([\w.]+) object at 0x[0-9a-fA-F]+>", r"<\1>", str(exc))


def reduced(img: Image.Image, factor: int) -> Image.Image:
    """`img` shrunk by a whole factor (box filter); modes reduce() refuses become 8-bit first."""
    exif = img.getexif()
    if img.mode.startswith("I;16"):
        img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8), "L")
    elif img.mode in ("P", "1"):
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    small = img.reduce(factor)
    small.info["exif"] = exif.tobytes()  # exif_transpose still sees the orientation
    return small


def open_rgb(
    path: str | os.PathLike,
    max_pixels: int,
    draft_size: int | None = None,
    reduce_to: int | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode an image file to RGB with EXIF orientation applied.

    Returns the image and its full displayed size. `draft_size` lets JPEG decoding skip
    work by decoding at a reduced scale, never below that size on either side. `reduce_to`
    shrinks any other format by a whole factor right after decoding (before the copies that
    orientation and colour conversion make), keeping the longer side at least that long.
    Raises ValueError (with a reason fit for failed.csv) on anything undecodable.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below governs, whatever Pillow's default
    try:
        with Image.open(path) as img:
            size = oriented_size(img)
            if reason := too_large(size, max_pixels):
                raise ValueError(reason)
            if min(size) < 1:
                raise ValueError("empty image")
            if draft_size and img.format == "JPEG":
                # draft keeps both sides >= the requested size
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            if reduce_to and max(img.size) >= 2 * reduce_to:
                img = reduced(img, max(img.size) // reduce_to)
            img = ImageOps.exif_transpose(img) or img
            return to_rgb(img), size
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types for broken files
        raise ValueError(
            f"cannot decode: {exc.__class__.__name__}: {stable_text(exc)}".strip()
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def require_images(folder: Path, needs: str) -> None:
    """A UserError when the collection's folder is not here (a clone that pulled results)."""
    if not Path(folder).is_dir():
        raise UserError(f"{folder}: the images are not here, and {needs}")
