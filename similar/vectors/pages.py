"""A picture printed on a page of type: its box, found from the rows of type around it.

A page's vector is mostly its type, so a picture pasted into a page is rarely among the
nearest images of the picture's other copies. Found here, the picture is embedded on its own
(embedding.py), and the graph stage gives it neighbours of its own (search/graph.py).

The rule, on the page reduced to at most SIDE pixels: the paper is the median colour of the
page's edges, at least PAPER (light); a row is marked where some pixel differs from it by
more than MARK levels in a colour channel (a yellow star on cream paper is marked, white is
not). Runs of marked rows are lines of type or pictures. A page holds a picture when at
least LINES runs are no taller than 1.5 times the typical (median) run, and the tallest run
is at least TALL times the typical one: the picture is that run, as wide as what is marked
in it (`trimmed`: a line of type touching it is cut off where it reaches past the picture's
sides), at least SMALLEST lines of type on each side once trimmed, and covers at most MOST
of the page. A picture beside a column of type (not above or below it) is not found.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

VERSION = 3  # of the rule: part of the cache's settings, so that a new rule finds again
SIDE = 512
MARK = 40
PAPER = 128  # the paper is at least this light (a starry sky's black is no page)
LINES = 3
TALL = 3.0
SMALLEST = 2.0  # a picture's sides, trimmed, in lines of type at least
MOST = 0.7

Box = tuple[int, int, int, int]  # left, top, right, bottom in the image's pixels


def runs(marked: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-d mask."""
    edges = np.diff(np.concatenate([[0], marked.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def marked_pixels(img: Image.Image) -> tuple[np.ndarray | None, float]:
    """Where the page (reduced to at most SIDE pixels) differs from its paper in any colour
    channel, and the scale of that reduction; None when its edges are not light paper."""
    scale = min(1.0, SIDE / max(img.size))
    rgb = img if img.mode == "RGB" else img.convert("RGB")  # decoded pages are RGB already
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(rgb, dtype=np.int16)
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    paper = np.median(edges, axis=0).astype(np.int16)
    if paper.mean() < PAPER:
        return None, scale
    return (np.abs(pixels - paper) > MARK).any(axis=2), scale


def picture_box(img: Image.Image) -> Box | None:
    """The box of the picture on a page of type, in `img`'s pixels; None when `img` is not
    such a page."""
    marked, scale = marked_pixels(img)
    if marked is None:
        return None
    rows = runs(marked.any(axis=1))
    if len(rows) <= LINES:
        return None
    heights = np.array([stop - start for start, stop in rows])
    typical = float(np.median(heights))
    tallest = int(np.argmax(heights))
    lines = int((heights <= 1.5 * typical).sum())
    if heights[tallest] < TALL * typical or lines < LINES:
        return None
    left, top, right, bottom = trimmed(marked, *rows[tallest], round(typical))
    if min(right - left, bottom - top) < SMALLEST * typical:
        return None  # trimmed to a sliver: a part of a picture, or of a line of type
    if (right - left) * (bottom - top) > MOST * marked.size:
        return None
    width, height = img.size
    return (
        max(0, int(left / scale)),
        max(0, int(top / scale)),
        min(width, round(right / scale)),
        min(height, round(bottom / scale)),
    )


def trimmed(marked: np.ndarray, top: int, bottom: int, line: int) -> tuple[int, int, int, int]:
    """The picture's box in a run of marked rows (left, top, right, bottom): as wide as what
    is marked in the run without its first and last `line` rows, less the rows at either end
    that are marked outside those columns (a line of type touching the picture)."""
    core = marked[top + line : bottom - line] if bottom - top > 2 * line else marked[top:bottom]
    columns = np.flatnonzero(core.any(axis=0))
    left, right = int(columns[0]), int(columns[-1]) + 1
    outside = marked[:, :left].any(axis=1) | marked[:, right:].any(axis=1)
    while top < bottom and outside[top]:
        top += 1
    while bottom > top and outside[bottom - 1]:
        bottom -= 1
    return left, top, right, bottom


def scaled(box: Box, decoded: tuple[int, int], full: tuple[int, int]) -> Box:
    """A box found on an image decoded at `decoded` size, in the pixels of its `full` size."""
    sx, sy = full[0] / decoded[0], full[1] / decoded[1]
    left, top, right, bottom = box
    return (
        int(left * sx),
        int(top * sy),
        min(full[0], round(right * sx)),
        min(full[1], round(bottom * sy)),
    )
