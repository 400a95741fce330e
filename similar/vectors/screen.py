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
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.hypot(fx, fy)
    angle = np.degrees(np.arctan2(fy, fx)) % 90
    band = (radius > 1 / PERIODS[1]) & (radius < 1 / PERIODS[0])
    off_axis = (angle > OFF_AXIS) & (angle < 90 - OFF_AXIS)
    looked = band & off_axis
    if not looked.any():
        return None
    peak, _ = strongest(power, radius, looked)
    py, px = np.unravel_index(peak, power.shape)
    at = float(radius[py, px])
    ring = ring_median(power, radius, at)
    qy = int(round(fx[0, px] * h)) % h  # the peak turned by 90 degrees
    qx = int(round(-fy[py, 0] * w)) % w
    first, second = near(power, py, px), near(power, qy, qx)
    prominence = min(float(power[py, px]), float(second.max())) / ring
    share = 2 * (first.sum() + second.sum()) / (power[band].sum() + 1e-9)
    if prominence < MIN_PROMINENCE or share < MIN_SHARE:
        return None
    coarser = (radius > 1 / COARSEST) & (radius <= 1 / PERIODS[1]) & off_axis
    if coarser.any() and strongest(power, radius, coarser)[1] >= prominence:
        return None  # the finest harmonics of a coarser lattice: a grid of pips, a chequer
    return 1 / at


def strongest(power: np.ndarray, radius: np.ndarray, where: np.ndarray) -> tuple[int, float]:
    """The strongest bin where `where` holds, and its power over the median of its ring."""
    peak = int(np.argmax(np.where(where, power, -1.0)))
    return peak, float(power.flat[peak]) / ring_median(power, radius, float(radius.flat[peak]))


def ring_median(power: np.ndarray, radius: np.ndarray, at: float) -> float:
    """The median power of the frequencies within 10 % of `at`."""
    return float(np.median(power[(np.abs(radius - at) < 0.1 * at) & (radius > 0)])) + 1e-9


def centre(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    top, left = max(0, (h - SIDE) // 2), max(0, (w - SIDE) // 2)
    return grey[top : top + SIDE, left : left + SIDE]


def near(power: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 3 x 3 bins around (y, x), wrapping as the spectrum does."""
    h, w = power.shape
    return power[np.ix_([(y + d) % h for d in (-1, 0, 1)], [(x + d) % w for d in (-1, 0, 1)])]


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
