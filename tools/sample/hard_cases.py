"""The sample's hard cases: different pictures that share a part, and copies in other frames.

Printed books reuse borders, frames, typefaces, card templates and figures around different
illustrations. Each case below is a set of distinct pictures (the ground truth keeps them
apart, since copies show the same picture) that share such a part: tiles of one texture, text
blocks in one typeface, pictures in one printed frame with one caption layout, playing cards
with one border and suit, one figure drawn into several scenes. The last case is the other
way round: the same picture printed plain and inside two different frames is one group.
Everything is drawn from fixed seeds: same code, same bytes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

PAPER = (244, 237, 222)
INK = (38, 30, 24)
WORDS = (
    "the of a and to in river temple gate road city mountain camp desert ruins wall tower "
    "palm well caravan bridge harbour mosque column statue tomb garden market village shore "
    "plain valley ancient stone great north south view near from with upon which their"
).split()
# cases whose members are distinct pictures, and the one whose members are copies
KINDS = ("texture", "text", "frame", "deck", "series", "framed_copy")
FRAME_SIZE = (300, 220)  # the picture inside a printed frame
BAND = 36  # width of an ornamental border
CAPTION = 40


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size)


def ornament(size: tuple[int, int], band: int, seed: int) -> Image.Image:
    """Paper with a woodcut-like border of `band` pixels: ruled lines and irregular strokes
    (not a repeated motif, so that its features are distinctive, as a real border's are)."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(img)
    for inset, width in ((3, 3), (band - 6, 2)):
        draw.rectangle((inset, inset, w - 1 - inset, h - 1 - inset), outline=INK, width=width)
    lo, hi = 8, band - 10
    for _ in range(int((w + h) * 0.45)):
        side = int(rng.integers(4))
        along = float(rng.uniform(0, w if side < 2 else h))
        across = float(rng.uniform(lo, hi))
        x, y = {
            0: (along, across),
            1: (along, h - 1 - across),
            2: (across, along),
            3: (w - 1 - across, along),
        }[side]
        r = float(rng.uniform(2, 7))
        shape = int(rng.integers(4))
        if shape == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=INK, width=int(rng.integers(1, 3)))
        elif shape == 1:
            draw.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2), fill=INK)
        elif shape == 2:
            dx, dy = rng.uniform(-2 * r, 2 * r, 2)
            draw.line((x, y, x + dx, y + dy), fill=INK, width=int(rng.integers(1, 4)))
        else:
            start = float(rng.uniform(0, 360))
            draw.arc((x - r, y - r, x + r, y + r), start, start + 200, fill=INK, width=2)
    return img


def framed(picture: Image.Image, seed: int, caption: str) -> Image.Image:
    """The picture fitted to FRAME_SIZE inside the border of `seed`, a caption line below."""
    pw, ph = FRAME_SIZE
    page = ornament((pw + 2 * BAND, ph + 2 * BAND + CAPTION), BAND, seed)
    page.paste(ImageOps.fit(picture, FRAME_SIZE, Image.Resampling.LANCZOS), (BAND, BAND))
    draw = ImageDraw.Draw(page)
    draw.text((BAND + pw // 2, BAND + ph + CAPTION // 2), caption, INK, font(17), anchor="mm")
    return page


def suit(draw: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    """A club: three leaves and a stem."""
    for cx, cy in ((x, y - r * 0.6), (x - r * 0.6, y + r * 0.1), (x + r * 0.6, y + r * 0.1)):
        draw.ellipse((cx - r * 0.5, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5), fill=INK)
    draw.polygon(((x, y), (x - r * 0.45, y + r), (x + r * 0.45, y + r)), fill=INK)


def card(face: Image.Image, rank: str) -> Image.Image:
    """A playing card: one border, one suit and its pips; only the face picture differs."""
    w, h = 240, 340
    img = ornament((w, h), 30, seed=52)
    draw = ImageDraw.Draw(img)
    for x, y, flip in ((40, 44, False), (w - 40, h - 44, True)):
        draw.text((x, y - 22 if not flip else y + 22), rank, INK, font(20), anchor="mm")
        suit(draw, x, y, 9)
    for x in (70, w - 70):
        for y in (56, h - 56):
            suit(draw, x, y, 12)
    img.paste(ImageOps.fit(face, (150, 190), Image.Resampling.LANCZOS), (45, 75))
    draw.rectangle((45, 75, 195, 265), outline=INK, width=2)
    return img


def scene(background: Image.Image, figure: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The figure (an oval cut-out) drawn into a scene at a place of the scene's own."""
    img = ImageOps.fit(background, (320, 240), Image.Resampling.LANCZOS)
    fig = ImageOps.fit(figure, (110, 130), Image.Resampling.LANCZOS)
    mask = Image.new("L", fig.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, fig.width - 1, fig.height - 1), fill=255)
    x, y = int(rng.integers(10, 320 - 120)), int(rng.integers(10, 240 - 140))
    img.paste(fig, (x, y), mask)
    return img


def text_block(rng: np.random.Generator, size: tuple[int, int] = (360, 250)) -> Image.Image:
    """A block of running text, justified left, in the default typeface."""
    img = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(img)
    face = font(17)
    y = 14
    while y < size[1] - 24:
        line, x_end = [], 14
        while True:
            word = str(rng.choice(WORDS))
            width = draw.textlength(word + " ", font=face)
            if x_end + width > size[0] - 14:
                break
            line.append(word)
            x_end += width
        draw.text((14, y), " ".join(line), INK, face)
        y += 24
    return img


def halves(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    return [img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))]


def caption(rng: np.random.Generator, number: int) -> str:
    return f"Fig. {number}. " + " ".join(str(w) for w in rng.choice(WORDS[8:], 2)).title()


def hard_pictures(
    textures: list[Image.Image], page: Image.Image, contents: list[Image.Image], tile
) -> list[tuple[str, list[Image.Image]]]:
    """(kind, images) per picture: images[0] is the original. Distinct-picture kinds give one
    image each (the sample adds copies); a framed copy gives its plain, framed ones too.
    `contents` are distinct pictures shared by no other case (18 at least); `tile(img, n)`
    cuts a picture into n x n tiles."""
    rng = np.random.default_rng(1890)
    out = [("texture", [t]) for texture in textures for t in tile(texture, 2)]
    out += [("text", [half]) for half in halves(page)]
    out += [("text", [text_block(rng)]) for _ in range(4)]
    out += [("frame", [framed(c, 7, caption(rng, 10 + n))]) for n, c in enumerate(contents[:5])]
    out += [("deck", [card(c, rank)]) for c, rank in zip(contents[5:10], "AKQJ9")]
    figure = contents[10]
    out += [("series", [scene(c, figure, rng)]) for c in contents[11:15]]
    for n, c in enumerate(contents[15:18]):
        label = caption(rng, 30 + n)
        out.append(("framed_copy", [c, framed(c, 7, label), framed(c, 11 + n, label)]))
    return out
