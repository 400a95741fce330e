"""A real development collection from Debian's packages, with its ground truth: never committed.

`python -m tools.devset --out DIR` downloads (`apt-get download`, into `DIR/debs`, kept) and
unpacks `gnome-cards-data`, `oxygen-icon-theme`, `tango-icon-theme` and `famfamfam-flag-png`,
then writes `DIR/images/<kind>/<id>.png`, `DIR/groups.csv` (`id,group,kind`) and
placeholder IIIF links (`DIR/iiif.csv`):

* cards: each card of the chosen decks, rendered with `rsvg-convert --export-id` and cut to
  its drawn box, CARD_HEIGHT pixels high on white. Every card of a deck is a different
  picture in one frame. Decks that share a design (looked at, card by card) are one FAMILY:
  `anglo` and `anglo_bitmap` (the bitmap version of one deck), `neoclassical` and
  `neoclassical_4_color` (the same drawings, two suits recoloured: a recoloured copy is a
  copy). Also alike, and left out of the default decks so that the truth stays certain:
  `gnomangelo`, `gnomangelo_bitmap` (anglo's face cards), `anglo_modern` and its 4-colour
  version, `atlasnye`, `atlasnye_skat` and `Атласные`, `bellot` and `paris` (one king);
  most decks' number cards follow one pip layout. `ancient_french` and `neoclassical` number
  cards (looked at: the fours and nines of diamonds) have the same pips in the same places
  and differ in the corner indices' typeface, the card's outline and the ink's tint: two
  engravings of one layout, so different pictures, told apart only near the card's edge.
* icons: oxygen's icons at ICON_SIZES, tango's scalable icons rendered at TANGO_SIZES, on
  white; a file that is a link to another icon is that icon. Oxygen draws many of its
  smaller sizes anew (its parts laid out again for the size, or another design): such a
  size is of kind `icon_redrawn` (`redrawn`), so that the figures of icons rendered from
  one drawing and of icons redrawn are told apart.
* flags: famfamfam's 16 x 11 flags, enlarged by whole factors (FLAG_SCALES), nearest pixel.
* hard copies of some cards and icons, the kinds a printer's copy takes (`stretched`,
  `halftone`, `crop`, `pasted`, `recoloured`), each from a fixed seed.

Ground truth, from the file names: a card's group is its deck's family and the card's name
(`card-anglo-heart_7`); an icon's is its theme and name (`icon-oxygen-edit-copy`, the sizes
together); a flag's is its country (`flag-fr`); groups whose largest images hold the same
pixels are one (under the first name); a hard copy is in its source's group. The kind
column says which of card, icon (icon_redrawn), flag or the hard copies' kinds an image
is. A redrawn icon stays in its name's group: the figures of kind `icon` over pairs
whose both members are icons (`pairwise_recall_within`) are those of one drawing at its
sizes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from similar.errors import UserError, run

PACKAGES = ("gnome-cards-data", "oxygen-icon-theme", "tango-icon-theme", "famfamfam-flag-png")
DECKS = (
    "ancient_french",
    "anglo",
    "anglo_bitmap",
    "dondorf",
    "neoclassical",
    "neoclassical_4_color",
    "ornamental",
    "swiss-xvii",
)
FAMILY = {"anglo_bitmap": "anglo", "neoclassical_4_color": "neoclassical"}
SUITS = ("club", "diamond", "heart", "spade")
RANKS = tuple(str(n) for n in range(1, 11)) + ("jack", "queen", "king")
CARD_HEIGHT = 300
ICON_SIZES = (48, 64, 128)
# mean difference (grey levels, over RGB) from the largest size shrunk to its own, at which an
# oxygen icon's smaller size is drawn anew: 134 of its 240 smaller sizes lie under 5, 7
# between 5 and 8 (an emblem's or a page's outline retouched), 99 above (looked at: parts
# laid out again, another book, another box)
REDRAWN = 8.0
TANGO_SIZES = (64, 128)
FLAG_SCALES = (4, 8)
HARD_KINDS = ("stretched", "halftone", "crop", "pasted", "recoloured")
# the commands it runs, and the Debian package that holds each
COMMANDS = {"apt-get": "apt", "dpkg-deb": "dpkg", "rsvg-convert": "librsvg2-bin"}
IIIF_BASE = "https://iiif.example.org/iiif/3"  # placeholder links, for attach_iiif
PAPER = (244, 237, 222)
INK = (38, 30, 24)


def require_commands(commands=tuple(COMMANDS), tool: str = "devset") -> None:
    """A missing command is one line naming the package that holds it."""
    for command in commands:
        if shutil.which(command) is None:
            raise UserError(
                f"{tool} needs {command}, which is not installed: "
                f"apt-get install {COMMANDS[command]}"
            )


def download(cache: Path, packages=PACKAGES) -> list[Path]:
    """The packages' .deb files in `cache`, downloaded once."""
    cache.mkdir(parents=True, exist_ok=True)
    for name in packages:
        if not list(cache.glob(f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", name], cwd=cache, check=True)
    return sorted(path for name in packages for path in cache.glob(f"{name}_*.deb"))


def unpack(debs: list[Path], root: Path) -> Path:
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / "usr/share"


def on_white(img: Image.Image) -> Image.Image:
    """An image with transparency, laid on white."""
    img = img.convert("RGBA")
    out = Image.new("RGB", img.size, (255, 255, 255))
    out.paste(img, (0, 0), img)
    return out


def drawn_box(img: Image.Image) -> Image.Image:
    """The part of a transparent render that holds something."""
    box = img.convert("RGBA").getchannel("A").getbbox()
    return img.crop(box) if box else img


def card_group(deck: str, card: str) -> str:
    return f"card-{FAMILY.get(deck, deck)}-{card}"


def icon_group(theme: str, name: str) -> str:
    return f"icon-{theme}-{name}"


def flag_group(country: str) -> str:
    return f"flag-{country}"


def render_cards(share: Path, decks, out: Path, rows: list) -> dict[str, Path]:
    """Each card of each deck as a PNG under `out`; id -> path."""
    made = {}
    with tempfile.TemporaryDirectory() as tmp:
        for deck in decks:
            svg = Path(tmp) / f"{deck}.svg"
            svg.write_bytes(gzip.decompress((share / f"aisleriot/cards/{deck}.svgz").read_bytes()))
            for suit in SUITS:
                for rank in RANKS:
                    card = f"{suit}_{rank}"
                    raw = Path(tmp) / "card.png"
                    subprocess.run(
                        [
                            "rsvg-convert",
                            f"--export-id={card}",
                            "-z",
                            "3",
                            str(svg),
                            "-o",
                            str(raw),
                        ],
                        check=True,
                        capture_output=True,
                    )
                    img = on_white(drawn_box(Image.open(raw)))
                    width = round(img.width * CARD_HEIGHT / img.height)
                    img = img.resize((width, CARD_HEIGHT), Image.Resampling.LANCZOS)
                    made[f"card-{deck}-{card}"] = save(img, out, "card", f"card-{deck}-{card}")
                    rows.append((f"card-{deck}-{card}", card_group(deck, card), "card"))
    return made


def save(img: Image.Image, out: Path, kind: str, name: str) -> Path:
    path = out / kind / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=False)
    return path


def oxygen_icons(share: Path, count: int, out: Path, rows: list) -> dict[str, Path]:
    """`count` oxygen icons (evenly over the sorted names present at every size), each at
    ICON_SIZES; id -> path of the largest."""
    base = share / "icons/oxygen/base"
    largest = base / f"{max(ICON_SIZES)}x{max(ICON_SIZES)}"
    names = sorted(
        str(p.relative_to(largest))
        for p in largest.rglob("*.png")
        if not p.is_symlink()
        and all((base / f"{s}x{s}" / p.relative_to(largest)).exists() for s in ICON_SIZES)
    )
    pick = [names[i] for i in np.linspace(0, len(names) - 1, min(count, len(names))).astype(int)]
    made = {}
    for rel in pick:
        name = Path(rel).stem
        drawn = {
            size: on_white(Image.open((base / f"{size}x{size}" / rel).resolve()))
            for size in ICON_SIZES
        }
        for size, img in drawn.items():
            key = f"icon-oxygen-{name}-{size}"
            kind = "icon_redrawn" if redrawn(img, drawn[max(ICON_SIZES)]) else "icon"
            made[key] = save(img, out, kind, key)
            rows.append((key, icon_group("oxygen", name), kind))
    return made


def redrawn(small: Image.Image, largest: Image.Image) -> bool:
    """Whether an icon's smaller size was drawn anew for its size (its parts laid out
    again, an emblem enlarged, another design), not rendered from its largest: it differs
    from the largest shrunk to its size by REDRAWN grey levels or more."""
    if small.size == largest.size:
        return False
    shrunk = largest.convert("RGB").resize(small.size, Image.Resampling.LANCZOS)
    difference = np.abs(
        np.asarray(small.convert("RGB"), np.float32) - np.asarray(shrunk, np.float32)
    )
    return float(difference.mean()) >= REDRAWN


def tango_icons(share: Path, count: int, out: Path, rows: list) -> dict[str, Path]:
    """`count` tango scalable icons, rendered at TANGO_SIZES."""
    svgs = sorted(p for p in (share / "icons/Tango/scalable").rglob("*.svg") if not p.is_symlink())
    pick = [svgs[i] for i in np.linspace(0, len(svgs) - 1, min(count, len(svgs))).astype(int)]
    made = {}
    with tempfile.TemporaryDirectory() as tmp:
        for svg in pick:
            for size in TANGO_SIZES:
                raw = Path(tmp) / "icon.png"
                subprocess.run(
                    ["rsvg-convert", "-w", str(size), "-h", str(size), str(svg), "-o", str(raw)],
                    check=True,
                    capture_output=True,
                )
                key = f"icon-tango-{svg.stem}-{size}"
                made[key] = save(on_white(Image.open(raw)), out, "icon", key)
                rows.append((key, icon_group("tango", svg.stem), "icon"))
    return made


def flags(share: Path, out: Path, rows: list) -> None:
    for path in sorted((share / "flags/countries/16x11").glob("*.png")):
        img = on_white(Image.open(path))
        for scale in FLAG_SCALES:
            key = f"flag-{path.stem}-x{scale}"
            big = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
            save(big, out, "flag", key)
            rows.append((key, flag_group(path.stem), "flag"))


def stretched(img: Image.Image, factor: float = 1.45) -> Image.Image:
    """Wider by `factor` (a change of aspect: a stretched IIIF size, a re-engraving)."""
    return img.resize((round(img.width * factor), img.height), Image.Resampling.LANCZOS)


def halftone(img: Image.Image, cell: int = 4) -> Image.Image:
    """A printed halftone: black dots on a 45-degree screen, their size from the darkness."""
    grey = np.asarray(img.convert("L"), np.float32) / 255
    scale = 2
    h, w = grey.shape
    big = np.asarray(
        Image.fromarray((grey * 255).astype(np.uint8)).resize(
            (w * scale, h * scale), Image.Resampling.BILINEAR
        ),
        np.float32,
    )
    ys, xs = np.mgrid[0 : h * scale, 0 : w * scale].astype(np.float32)
    period = cell * scale
    u = (xs + ys) / np.sqrt(2) / period
    v = (xs - ys) / np.sqrt(2) / period
    # distance to the nearest screen point, 0..~0.7 of a period
    d = np.hypot(u - np.round(u), v - np.round(v))
    radius = np.sqrt(np.clip(1 - big / 255, 0, 1) / np.pi)
    ink = d < radius
    out = np.where(ink, 20, 250).astype(np.uint8)
    return Image.fromarray(out).resize((w, h), Image.Resampling.BOX).convert("RGB")


def crop(img: Image.Image, share: float = 0.45, seed: int = 0) -> Image.Image:
    """A strong crop: `share` of each side, placed by `seed`, enlarged to the source's size."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    cw, ch = round(w * share), round(h * share)
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    part = img.crop((x, y, x + cw, y + ch))
    return part.resize((round(cw / share), round(ch / share)), Image.Resampling.LANCZOS)


def pasted(img: Image.Image, seed: int = 0) -> Image.Image:
    """The picture printed on a page of text: smaller, with lines of type above and below."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    page_w, page_h = round(w * 1.6), round(h * 2.0)
    page = Image.new("RGB", (page_w, page_h), PAPER)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(max(10, page_w // 40))
    pic = img.resize((round(w * 0.8), round(h * 0.8)), Image.Resampling.LANCZOS)
    top = round(page_h * float(rng.uniform(0.25, 0.4)))
    left = (page_w - pic.width) // 2
    words = "the of plate figure drawn after engraved book page chapter view".split()
    for y in range(12, page_h - 12, max(14, page_w // 28)):
        if top - 8 < y < top + pic.height + 8:
            continue
        line = " ".join(rng.choice(words, size=12).tolist())
        draw.text((16, y), line, fill=INK, font=font)
    page.paste(pic, (left, top))
    return page


def recoloured(img: Image.Image) -> Image.Image:
    """The same drawing in other colours: channels rotated and tinted, as a hand-coloured or
    re-inked copy."""
    r, g, b = img.convert("RGB").split()
    swapped = Image.merge("RGB", (b, r, g))
    tint = Image.new("RGB", img.size, (200, 170, 120))
    return Image.blend(swapped, tint, 0.25)


MAKERS = {
    "stretched": lambda img, seed: stretched(img),
    "halftone": lambda img, seed: halftone(img),
    "crop": lambda img, seed: crop(img, seed=seed),
    "pasted": lambda img, seed: pasted(img, seed=seed),
    "recoloured": lambda img, seed: recoloured(img),
}


def evenly(ids: list, count: int) -> list:
    """`count` of the ids (all, if fewer), evenly over them, the first and the last among them."""
    return [ids[i] for i in np.linspace(0, len(ids) - 1, min(count, len(ids))).astype(int)]


def save_copy(img: Image.Image, kind: str, key: str, seed: int, group: str, out: Path, rows):
    """A hard copy of `kind` of the picture `key` saved as `<kind>-<key>`, in its group."""
    name = f"{kind}-{key}"
    save(MAKERS[kind](img, seed), out, kind, name)
    rows.append((name, group, kind))


def hard_copies(sources: dict[str, Path], groups: dict[str, str], count: int, out: Path, rows):
    """Each hard kind of copy of `count` sources, evenly over their sorted ids."""
    for seed, key in enumerate(evenly(sorted(sources), count)):
        img = Image.open(sources[key]).convert("RGB")
        for kind in HARD_KINDS:
            save_copy(img, kind, key, seed, groups[key], out, rows)


def merge_identical(rows: list, images: Path) -> list:
    """The rows with groups whose largest images hold the same pixels made one (under the
    first name): famfamfam draws some countries' flags alike (Norway's and Svalbard's),
    themes ship one icon under two names."""
    largest: dict[str, tuple[int, str, str]] = {}
    for key, group, kind in rows:
        with Image.open(images / kind / f"{key}.png") as img:
            pixels = img.width * img.height
            if pixels > largest.get(group, (0, "", ""))[0]:
                largest[group] = (pixels, key, kind)
    first: dict[str, str] = {}
    same: dict[str, str] = {}
    for group in sorted(largest):
        _, key, kind = largest[group]
        with Image.open(images / kind / f"{key}.png") as img:
            digest = hashlib.sha256(repr(img.size).encode() + img.convert("RGB").tobytes())
        same[group] = first.setdefault(digest.hexdigest(), group)
    return [(key, same[group], kind) for key, group, kind in rows]


def build(out: Path, decks=DECKS, icons: int = 120, tango: int = 60, copies: int = 40) -> int:
    """The collection under `out`; the number of images."""
    debs = download(out / "debs")
    with tempfile.TemporaryDirectory() as tmp:
        share = unpack(debs, Path(tmp))
        images = out / "images"
        rows: list = []
        cards = render_cards(share, decks, images, rows)
        big_icons = {
            k: p
            for k, p in oxygen_icons(share, icons, images, rows).items()
            if k.endswith(f"-{max(ICON_SIZES)}")
        }
        tango_icons(share, tango, images, rows)
        flags(share, images, rows)
    rows = merge_identical(rows, images)
    groups = {r[0]: r[1] for r in rows}
    hard_copies(cards, groups, copies, images, rows)
    hard_copies(big_icons, groups, copies // 4, images, rows)
    write_truth(out, rows)
    return len(rows)


def write_truth(out: Path, rows: list) -> None:
    """`groups.csv` (id, group, kind) and placeholder IIIF links (`iiif.csv`), sorted by id."""
    from similar.files import csv_bytes

    rows = sorted(rows)
    (out / "groups.csv").write_bytes(csv_bytes(["id", "group", "kind"], rows))
    links = [(r[0], f"{IIIF_BASE}/{r[0]}/full/max/0/default.png") for r in rows]
    (out / "iiif.csv").write_bytes(csv_bytes(["id", "iiif_url"], links))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--decks", default=",".join(DECKS), help="comma-separated deck names")
    parser.add_argument("--icons", type=int, default=120, help="oxygen icons")
    parser.add_argument("--tango", type=int, default=60, help="tango icons")
    parser.add_argument("--copies", type=int, default=40, help="cards given hard copies")
    args = parser.parse_args(argv)
    require_commands()
    n = build(args.out, tuple(args.decks.split(",")), args.icons, args.tango, args.copies)
    print(f"devset: {n} images in {args.out / 'images'}, ground truth {args.out / 'groups.csv'}")


if __name__ == "__main__":
    run(main)
