"""A halftone screen is found, with its period, and smoothed away; a picture without one is
left as it is, bit for bit."""

import numpy as np
import pytest
from conftest import real_photo
from PIL import Image, ImageDraw
from test_one_frame import factotum, number_card, triangle

from similar.vectors.screen import (
    EMBED_SIDE,
    descreened,
    descreened_for_embedding,
    screen_period,
)
from tools import devset


def grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), np.float32)


@pytest.mark.parametrize("cell", [3, 5, 7])
@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_a_halftone_screen_is_found_with_its_period(name, cell):
    picture = real_photo(name, size=None).convert("RGB").resize((480, 360))
    period = screen_period(grey(devset.halftone(picture, cell)))
    assert period is not None and abs(period - cell) < 0.15 * cell


def drawings() -> dict[str, Image.Image]:
    """Pictures with strong regular structure and no screen: a page of ruled lines, a
    checkerboard, a tricolour, a deck's number card, a factotum's hatched frame."""
    lines = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(lines)
    for y in range(10, 300, 6):
        draw.line([(10, y), (390, y)], fill="black", width=1)
    board = Image.fromarray(
        (np.indices((320, 320)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    ).convert("RGB")
    stripes = Image.new("RGB", (330, 220), "white")
    draw = ImageDraw.Draw(stripes)
    for x in (0, 220):
        draw.rectangle((x, 0, x + 109, 219), fill=(0, 146, 70) if x == 0 else (206, 43, 55))
    return {
        "ruled lines": lines,
        "checkerboard": board,
        "tricolour": stripes,
        "number card": number_card(8),
        "factotum": factotum("R"),
        "warning sign": triangle("worker"),
    }


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee", "page", "text"])
def test_a_photograph_has_no_screen(name):
    picture = real_photo(name, size=None).convert("RGB")
    assert screen_period(grey(picture)) is None
    assert descreened(picture) is picture


@pytest.mark.parametrize("name", list(drawings()))
def test_a_regular_drawing_has_no_screen(name):
    picture = drawings()[name]
    assert screen_period(grey(picture)) is None
    assert descreened(picture) is picture


def test_descreening_brings_a_halftone_back_near_its_picture():
    picture = real_photo("astronaut", size=None).convert("RGB").resize((480, 480))
    screened = devset.halftone(picture, 5)
    smooth = descreened(screened)
    assert smooth.size == screened.size and smooth.mode == "RGB"
    before = np.abs(grey(screened) - grey(picture)).mean()
    after = np.abs(grey(smooth) - grey(picture)).mean()
    assert after < 0.6 * before, (before, after)


def test_embedding_looks_for_a_screen_at_its_own_scale():
    """A large scan is looked at EMBED_SIDE pixels long; only a screened one is changed, to
    that size."""
    photo = real_photo("astronaut", size=None).convert("RGB").resize((1024, 1024))
    assert descreened_for_embedding(photo) is photo
    screened = devset.halftone(photo, 12)  # 6 pixels at EMBED_SIDE
    smooth = descreened_for_embedding(screened)
    assert smooth.size == (EMBED_SIDE, EMBED_SIDE)
    small = (EMBED_SIDE, EMBED_SIDE)
    reference = grey(photo.resize(small, Image.Resampling.BILINEAR))
    before = np.abs(grey(screened.resize(small, Image.Resampling.BILINEAR)) - reference).mean()
    assert np.abs(grey(smooth) - reference).mean() < 0.6 * before


def test_a_small_or_blank_picture_has_no_screen():
    assert screen_period(np.zeros((20, 20), np.float32)) is None
    assert screen_period(np.full((200, 200), 255, np.float32)) is None


@pytest.mark.parametrize("shape", [(64, 64), (97, 131), (384, 512), (512, 341)])
def test_a_new_grid_lays_off_the_axes_the_bins_whose_angle_is(shape):
    """The grid's off-axis test on the frequencies' ratio picks the bins whose angle within
    their quadrant lies between OFF_AXIS and 90 - OFF_AXIS degrees, and a ring's median is
    that of the bins within 10 % of its radius, in any order."""
    from similar.vectors import screen

    h, w = shape
    grid = screen.spectrum_grid(h, w)
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    angle = (np.degrees(np.arctan2(fy[:, None], fx[None, :])) % 90).ravel()
    off_axis = (angle > screen.OFF_AXIS) & (angle < 90 - screen.OFF_AXIS)
    band = np.zeros(h * w, bool)
    band[grid.band] = True
    assert np.array_equal(grid.looked, np.flatnonzero(band & off_axis))
    power = np.random.default_rng(h).random(h * w)
    order = np.argsort(grid.radius, kind="stable")
    ranked = grid.radius[order]
    for radius in (0.2, 0.3, 0.4):
        low, high = np.searchsorted(ranked, [0.9 * radius, 1.1 * radius])
        expected = float(np.median(power[order[low:high]])) + 1e-9
        assert screen.ring_median(power, grid, radius) == expected
