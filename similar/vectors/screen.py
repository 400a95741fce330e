"""Printed halftone screens: found in a picture's spectrum and smoothed away before the picture
is embedded or described.

A halftone prints tone as a lattice of dots. Where the screen is resolved (a period of
PERIODS pixels at the scale a picture is embedded or described at), its dots are what a
CNN and SIFT see first: a halftoned copy shares almost no keypoints with its original and
is not among its neighbours. A screen is a lattice, so its spectrum holds a sharp peak and
the same peak turned by 90 degrees, off the axes (where the straight edges of frames and
borders put theirs), which together hold a fair share of the high frequencies. A picture
with such a peak is smoothed by a Gaussian of SMOOTH screen periods; any other picture is
left as it is, bit for bit.

A peak that is only the finest harmonic of a coarser lattice (a chequer, a regular grid of
pips, whose own peaks below the screen periods stand out more) is not a screen.

Measured on the development collection (`tools/devset.py`: 1,640 cards, icons, flags and
their hard copies) and on 22 photographs of scikit-image and scikit-learn with 9 other kinds
of copy each: every photograph's halftone at 3, 4, 5 and 8 pixels (600 wide) is found, and 49 of
the 50 halftoned cards and icons (the one missed is an ace: a single small pip holds few
dots); 2 of 1,810 pictures without a screen are smoothed (a flag of a diagonal row of stars,
a ten of diamonds stretched), which costs those two keypoints, never a false copy. A screen
finer than PERIODS[0] pixels is averaged away by the reduction itself; a coarser one, or one
printed at 0 or 90 degrees, is not looked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

PERIODS = (2.2, 8.0)  # screen periods looked for, in pixels at the scale used
SIDE = 512  # the spectrum is taken over at most this many pixels square, from the centre
EMBED_SIDE = 512  # embed looks for a screen at this scale, where a CNN's input still shows it
MIN_PROMINENCE = 300.0  # the peak (and its partner) over the median of their frequency ring
MIN_SHARE = 0.01  # the two peaks' share of the power at the screen periods
OFF_AXIS = 15.0  # degrees from either axis within which peaks are ignored
SMOOTH = 0.35  # Gaussian sigma, in screen periods
COARSEST = 64  # the longest period of a coarser lattice looked for, in pixels


def screen_period(grey: np.ndarray) -> float | None:
    """The period in pixels of the halftone screen a greyscale picture is printed with, or
    None."""
    grey = centre(np.asarray(grey, np.float32))
    h, w = grey.shape
    if min(h, w) < 4 * PERIODS[1]:
        return None
    at = spectrum_grid(h, w)
    if not len(at.looked):
        return None
    power = (np.abs(np.fft.fft2((grey - grey.mean()) * at.window)) ** 2).ravel()
    peak = strongest(power, at.looked)
    py, px = divmod(peak, w)
    radius = float(at.radius[peak])
    qy = int(round(at.fx[px] * h)) % h  # the peak turned by 90 degrees
    qx = int(round(-at.fy[py] * w)) % w
    first, second = near(power, h, w, py, px), near(power, h, w, qy, qx)
    prominence = min(float(power[peak]), float(second.max())) / ring_median(power, at, radius)
    share = 2 * (first.sum() + second.sum()) / (power[at.band].sum() + 1e-9)
    if prominence < MIN_PROMINENCE or share < MIN_SHARE:
        return None
    if len(at.coarser):
        coarse = strongest(power, at.coarser)
        coarse_ring = ring_median(power, at, float(at.radius[coarse]))
        if float(power[coarse]) / coarse_ring >= prominence:
            return None  # the finest harmonics of a coarser lattice: a grid of pips, a chequer
    return 1 / radius


@dataclass(frozen=True)
class Grid:
    """What a spectrum of one size needs besides the picture, computed once per size: the
    window, each bin's frequencies and radius (flat), and the bins of the screen periods
    (`band`, `looked`: off the axes) and of the coarser lattices."""

    window: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    radius: np.ndarray
    band: np.ndarray
    looked: np.ndarray
    coarser: np.ndarray


# tan(OFF_AXIS): a bin lies off the axes where its smaller frequency is more than this share of
# its larger (its angle within the quadrant between OFF_AXIS and 90 - OFF_AXIS degrees)
OFF_AXIS_SLOPE = float(np.tan(np.radians(OFF_AXIS)))


@lru_cache(maxsize=16)
def spectrum_grid(h: int, w: int) -> Grid:
    """The grid of an h x w spectrum. Scans come in many sizes, so a new size must be cheap:
    no sort and no angle over its bins (the angle test on the frequencies' ratio)."""
    fy = np.fft.fftfreq(h)
    fx = np.fft.fftfreq(w)
    radius = np.hypot(fx[None, :], fy[:, None]).ravel()
    across, down = np.abs(fx)[None, :], np.abs(fy)[:, None]
    off_axis = (np.minimum(across, down) > OFF_AXIS_SLOPE * np.maximum(across, down)).ravel()
    band = (radius > 1 / PERIODS[1]) & (radius < 1 / PERIODS[0])
    coarser = (radius > 1 / COARSEST) & (radius <= 1 / PERIODS[1]) & off_axis
    return Grid(
        window=np.outer(np.hanning(h), np.hanning(w)).astype(np.float32),
        fx=fx,
        fy=fy,
        radius=radius,
        band=np.flatnonzero(band),
        looked=np.flatnonzero(band & off_axis),
        coarser=np.flatnonzero(coarser),
    )


def strongest(power: np.ndarray, bins: np.ndarray) -> int:
    """The strongest of the (flat) bins."""
    return int(bins[np.argmax(power[bins])])


def ring_median(power: np.ndarray, grid: Grid, radius: float) -> float:
    """The median power of the frequencies within 10 % of `radius`."""
    ring = (grid.radius >= 0.9 * radius) & (grid.radius < 1.1 * radius)
    return float(np.median(power[ring])) + 1e-9


def centre(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    top, left = max(0, (h - SIDE) // 2), max(0, (w - SIDE) // 2)
    return grey[top : top + SIDE, left : left + SIDE]


def near(power: np.ndarray, h: int, w: int, y: int, x: int) -> np.ndarray:
    """The 3 x 3 bins around (y, x) of a flat h x w spectrum, wrapping as the spectrum does."""
    rows = [(y + d) % h for d in (-1, 0, 1)]
    cols = [(x + d) % w for d in (-1, 0, 1)]
    return power[[r * w + c for r in rows for c in cols]]


def descreened(img: Image.Image) -> Image.Image:
    """The picture smoothed by SMOOTH periods of its halftone screen; itself when it has
    none."""
    period = screen_period(np.asarray(img.convert("L"), np.float32))
    if period is None:
        return img
    import cv2

    pixels = np.asarray(img)
    smooth = cv2.GaussianBlur(pixels, (0, 0), SMOOTH * period, borderType=cv2.BORDER_REFLECT)
    return Image.fromarray(smooth, img.mode)


def descreened_for_embedding(img: Image.Image) -> Image.Image:
    """What embed feeds the model: the picture itself, or, where a screen shows at
    EMBED_SIDE pixels, the picture at that size, descreened."""
    scale = EMBED_SIDE / max(img.size)
    work = img
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        work = img.resize(size, Image.Resampling.BILINEAR)
    smooth = descreened(work)
    return img if smooth is work else smooth
