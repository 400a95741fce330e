"""Section hard_copies: how many of a printer's hard copies the check calls a copy, per kind.

The photographs that scikit-image and scikit-learn ship (PHOTOGRAPHS, each 600 pixels on its
longer side), each with one copy of every kind in KINDS (halftones at three screens, strong
crops, printed on a page of type, stretched, rescanned small, turned, turned within its own
frame (the corners cut off, a black canvas there), seen at an angle, in
a border with a caption, recoloured), each pair put through the prefilter and checked by
`verify.method` with the default settings, as verify checks a candidate pair. Every pair is
a candidate, so the ceiling of each figure is 1: these figures are the check's own recall
(prefilter included), apart from the candidates.
`--quick`: QUICK photographs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .runner import Row

PHOTOGRAPHS = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
QUICK = 2
SIDE = 600


def photographs(count: int) -> dict[str, Image.Image]:
    """The first `count` photographs (scikit-image's, then scikit-learn's china and flower),
    RGB, SIDE pixels on the longer side."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    out = {}
    for name in PHOTOGRAPHS:
        pixels = np.asarray(getattr(skimage.data, name)())
        if pixels.dtype == bool:
            pixels = pixels.astype(np.uint8) * 255
        out[name] = Image.fromarray(pixels.astype(np.uint8)).convert("RGB")
    for name, pixels in zip(("china", "flower"), load_sample_images().images):
        out[name] = Image.fromarray(pixels)
    chosen = dict(list(out.items())[:count])
    return {name: at_side(img) for name, img in chosen.items()}


def at_side(img: Image.Image) -> Image.Image:
    scale = SIDE / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)))


def at_an_angle(img: Image.Image) -> Image.Image:
    """Photographed at an angle: the top edge narrower than the bottom."""
    w, h = img.size
    quad = (round(0.08 * w), 0, 0, h, w, h, round(0.92 * w), round(0.05 * h))
    return img.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)


def framed(img: Image.Image) -> Image.Image:
    """In a ruled border on paper, a caption below."""
    w, h = img.size
    page = Image.new("RGB", (w + 80, h + 120), (245, 240, 225))
    draw = ImageDraw.Draw(page)
    draw.rectangle((10, 10, w + 69, h + 69), outline=(30, 30, 30), width=6)
    page.paste(img, (40, 40))
    caption = "Fig. 12. A view drawn after nature"
    draw.text((40, h + 80), caption, fill=(30, 30, 30), font=ImageFont.load_default(24))
    return page


def kinds() -> dict:
    """Each kind of hard copy: (picture, seed) -> copy."""
    from tools import devset

    return {
        "halftone of 3 pixels": lambda img, seed: devset.halftone(img, 3),
        "halftone of 5 pixels": lambda img, seed: devset.halftone(img, 5),
        "halftone of 8 pixels": lambda img, seed: devset.halftone(img, 8),
        "crop of 45%": lambda img, seed: devset.crop(img, 0.45, seed=seed),
        "crop of 30%": lambda img, seed: devset.crop(img, 0.3, seed=seed),
        "crop of 20%": lambda img, seed: devset.crop(img, 0.2, seed=seed),
        "on a page of type": lambda img, seed: devset.pasted(img, seed=seed),
        "stretched": lambda img, seed: devset.stretched(img),
        "rescanned at 40%": lambda img, seed: img.resize(
            (img.width * 2 // 5, img.height * 2 // 5)
        ).filter(ImageFilter.GaussianBlur(0.6)),
        "turned 7 degrees": lambda img, seed: img.rotate(7, expand=True, fillcolor="white"),
        "turned 30 degrees in its frame": lambda img, seed: img.rotate(30, fillcolor="black"),
        "at an angle": lambda img, seed: at_an_angle(img),
        "border and caption": lambda img, seed: framed(img),
        "recoloured": lambda img, seed: devset.recoloured(img),
    }


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "PNG")
    return out.getvalue()


def measure(work, options) -> dict:
    from similar import settings
    from similar.verification.base import CopyRule
    from similar.verification.runner import method_for

    verify = settings.VerifySettings(workers=1)
    method = method_for(verify)
    rule = CopyRule.of(verify)
    pictures = photographs(QUICK if options.quick else len(PHOTOGRAPHS) + 2)
    makers = kinds()
    found = {kind: 0 for kind in makers}
    stopped = {kind: 0 for kind in makers}  # by the prefilter, as verify would stop them
    for seed, (_, picture) in enumerate(sorted(pictures.items())):
        data = png(picture)
        original = method.describe(data)
        for kind, make in makers.items():
            copy_data = png(make(picture, seed))
            copy = method.describe(copy_data)
            if not method.passing(original, [copy])[0]:
                stopped[kind] += 1
                continue
            files = (data, copy_data)  # what verify reads again for a closer look
            checked = method.check(original, copy, seed, files.__getitem__)
            found[kind] += checked.relation(rule) == "copy"
    return {"pictures": len(pictures), "found": found, "stopped": stopped, "method": verify.method}


def rows(figures: dict) -> list[Row]:
    total = sum(figures["found"].values())
    pairs = figures["pictures"] * len(figures["found"])
    out = [
        Row(
            f"hard copies of {figures['pictures']} photographs ({figures['method']})",
            f"{total} of {pairs} called a copy (ceiling {pairs}: every pair a candidate)",
        )
    ]
    stopped = figures.get("stopped", {})
    for kind, count in figures["found"].items():
        lost = f" ({stopped[kind]} stopped by the prefilter)" if stopped.get(kind) else ""
        out.append(Row(f"hard copies, {kind}", f"{count} of {figures['pictures']}{lost}"))
    return out
