"""The closer look (similar/verification/detail.py): which overlaps a thumbnail shows
under-resolved, the region cut from the picture, and a picture decoded again as described."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from similar.verification import detail
from similar.verification.features import THUMB
from similar.verification.overlap import frame, mapped


def box(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def test_a_small_region_of_a_reduced_picture_is_under_resolved():
    # a page described at 270 x 512, its thumbnail 101 x 192: a card over 40% of its height
    page, thumb = (270, 512), (192, 101)
    card = box(50, 150, 210, 355)
    assert detail.thumbnail_extent(thumb, page, card) == pytest.approx((76.9, 205.0), abs=0.1)
    assert detail.under_resolved(thumb, page, card)


def test_a_whole_picture_or_one_its_thumbnail_holds_whole_is_not():
    assert not detail.under_resolved((192, 128), (200, 300), frame((200, 300)))
    # an icon of 48 pixels: its thumbnail is the icon itself, nothing finer to look at
    assert not detail.under_resolved((48, 48), (48, 48), box(10, 10, 30, 30))


def test_a_region_is_cut_around_the_polygon_and_reduced_to_a_thumbnail():
    picture = np.zeros((512, 400), np.uint8)
    picture[200:300, 100:150] = 255  # a white block inside the region
    thumb, size, shift = detail.region(picture, (400, 512), box(80, 180, 330, 480))
    assert size == (250, 300) and max(thumb.shape) == THUMB
    # the region's origin is the polygon's corner in the picture's coordinates
    assert np.allclose(mapped(np.array([[0.0, 0.0]]), shift[:2]), [[80, 180]])
    row, col = (np.array(np.nonzero(thumb > 128)).mean(axis=1) * 300 / THUMB).round()
    assert (row + 180, col + 80) == pytest.approx((250, 125), abs=3)


def test_a_region_of_a_picture_decoded_at_another_size_keeps_its_coordinates():
    """Features' coordinates are those of the picture described (enlarged, for a small one
    with verify.enlarge_to): the decoded picture is scaled to them."""
    picture = np.zeros((256, 200), np.uint8)
    _, size, shift = detail.region(picture, (400, 512), box(80, 180, 330, 480))
    assert size == pytest.approx((250, 300), abs=2)
    assert np.allclose(shift[:2, 2], [80, 180], atol=2)


def test_two_views_a_pixel_and_a_half_apart_are_aligned_again():
    """ECC lays the first view back on the second where the fit left it off by 1.5 pixels."""
    import cv2

    rng = np.random.default_rng(3)
    drawing = cv2.GaussianBlur(rng.integers(0, 256, (160, 160)).astype(np.float32), (0, 0), 3)
    second = drawing[8:152, 8:152]
    first = drawing[7:151, 6:150]  # the same drawing, 2 pixels right and 1 down
    off = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1]])  # the fit said -0.5, -0.5
    size = (144, 144)
    found = detail.aligned(first, size, second, size, off)
    assert np.allclose(found[:2, 2], [-2, -1], atol=0.1), found
    assert np.allclose(found[:2, :2], np.eye(2), atol=0.01), found


def test_views_that_ecc_cannot_align_keep_the_fit():
    flat = np.full((64, 64), 128, np.uint8)
    fit = np.array([[1.0, 0, 3.0], [0, 1.0, 0], [0, 0, 1]])
    assert np.array_equal(detail.aligned(flat, (64, 64), flat, (64, 64), fit), fit)


def test_a_sliver_is_not_cut_out():
    picture = np.zeros((512, 400), np.uint8)
    assert detail.region(picture, (400, 512), box(100, 100, 104, 300)) is None


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def test_pictures_are_decoded_once_each_as_described_and_mirrored_on_demand():
    left = Image.new("L", (120, 80), 0)
    left.paste(255, (0, 0, 60, 80))  # white on the left half
    files = {0: png_bytes(left.convert("RGB")), 1: b"not an image"}
    reads = []

    def read(side):
        reads.append(side)
        return files[side]

    pictures = detail.decoded(read, 512, 10**8)
    plain, mirrored = pictures(0), pictures(0, True)
    assert plain.shape == (80, 120) and plain[:, :50].mean() > 250 and plain[:, 70:].mean() < 5
    assert np.array_equal(mirrored, plain[:, ::-1])
    assert pictures(1) is None and pictures(1) is None
    assert reads == [0, 1]  # each file read once


class KeepingFiles:
    """`read` that keeps pictures for later pairs, as the runner's PairFiles does."""

    def __init__(self, files: dict, kept: dict):
        self.files, self.store, self.reads = files, kept, []

    def __call__(self, side):
        self.reads.append(side)
        return self.files[side]

    def kept(self, side, make, what=None):
        key = side if what is None else (side, what)
        if key not in self.store:
            self.store[key] = make()
        return self.store[key]


def test_a_picture_kept_by_the_reader_is_decoded_once_for_many_pairs_and_read_only():
    page = Image.new("RGB", (300, 200), "white")
    page.paste((20, 20, 20), (40, 40, 140, 160))
    store = {}
    first, second = KeepingFiles({0: png_bytes(page)}, store), KeepingFiles({}, store)
    one = detail.decoded(first, 512, 10**8)(0)
    again = detail.decoded(second, 512, 10**8)(0)
    assert first.reads == [0] and second.reads == [] and again is one
    assert not one.flags.writeable  # shared between pairs: nobody may draw on it
    plain = detail.decoded(lambda side: png_bytes(page), 512, 10**8)(0)
    assert np.array_equal(plain, one)


def test_what_is_made_from_a_picture_is_kept_by_the_reader_under_its_name():
    """`pictures.derived` (a picture's features at another aspect, say): made once for
    many pairs where the reader keeps pictures, afresh where it does not."""
    store, made = {}, []

    def make():
        made.append(1)
        return len(made)

    files = {1: b""}
    first = detail.decoded(KeepingFiles(files, store), 512, 10**8)
    second = detail.decoded(KeepingFiles(files, store), 512, 10**8)
    assert first.derived(1, ("aspect", 0.7), make) == 1
    assert second.derived(1, ("aspect", 0.7), make) == 1  # kept
    assert second.derived(1, ("aspect", 1.4), make) == 2  # another name, made again
    plain = detail.decoded(lambda side: b"", 512, 10**8)
    assert plain.derived(1, ("aspect", 0.7), make) == 3 and plain.derived(1, "x", make) == 4
