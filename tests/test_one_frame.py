"""Different pictures in one frame are never copies; a picture's hard copies are.

A real deck's cards, the pictograms of one warning triangle and a printer's factotum initials
share everything but what they show: the card, border and pips; the red triangle; the
ornamental frame. Their hard copies (stretched, halftoned, strongly cropped, recoloured,
printed on a page) share what they show.
"""

import dataclasses
import hashlib
import io
import math

import numpy as np
import pytest
from conftest import described, real_photo
from PIL import Image, ImageDraw, ImageFont

from similar import settings
from similar.verification import sift
from similar.verification.base import CopyRule, PairResult
from similar.verification.runner import ImageRef, method_for, seed_of, verify_pairs
from similar.verification.sift import Sift, check_pair, plausible, with_figures
from tools import devset
from tools.bench.hard_copies import at_an_angle, at_side

S = settings.VerifySettings(workers=1)
CREAM, PURPLE, RED, BLACK = (250, 246, 232), (92, 52, 120), (196, 24, 36), (20, 20, 20)
# pip rows of a real deck's number cards: (column, row) on a 3 x 7 grid
PIPS = {
    7: [(0, 0), (2, 0), (1, 1.5), (0, 3), (2, 3), (0, 6), (2, 6)],
    8: [(0, 0), (2, 0), (1, 1.5), (0, 3), (2, 3), (1, 4.5), (0, 6), (2, 6)],
    9: [(0, 0), (2, 0), (0, 2), (2, 2), (1, 3), (0, 4), (2, 4), (0, 6), (2, 6)],
}


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def relation(first: Image.Image, second: Image.Image):
    found = check_pair(described(first), described(second), S, seed_of("a", "b"))
    return found.relation(CopyRule.of(S)), found


def heart(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, down: bool = False):
    s = -1 if down else 1
    draw.ellipse((x - r, y - s * r * 0.6 - r * 0.5, x, y - s * r * 0.6 + r * 0.5), fill=RED)
    draw.ellipse((x, y - s * r * 0.6 - r * 0.5, x + r, y - s * r * 0.6 + r * 0.5), fill=RED)
    draw.polygon([(x - r, y - s * r * 0.45), (x + r, y - s * r * 0.45), (x, y + s * r)], fill=RED)


FRANCE = [(0, 85, 164), (250, 250, 250), (239, 65, 53)]
ITALY = [(0, 146, 70), (250, 250, 250), (206, 43, 55)]


def woven_flag(colours) -> Image.Image:
    """A tricolour woven in one cloth (a photograph's texture under its colours), so that the
    two flags hold the same keypoints and differ only in a field's colour."""
    cloth = np.asarray(real_photo("brick", size=240).convert("L"), np.float32)[:160] / 255
    flag = np.zeros(cloth.shape + (3,), np.float32)
    third = cloth.shape[1] // 3
    for stripe, colour in enumerate(colours):
        flag[:, stripe * third : (stripe + 1) * third] = colour
    flag[:, 3 * third :] = colours[-1]
    return Image.fromarray(np.uint8(flag * (0.7 + 0.3 * cloth[..., None])))


def number_card(rank: int, index_size: int = 26, outline: int = 14, corner_pips=True):
    """A number card of hearts as printed decks draw it: cream card, purple ruled frame,
    corner indices (`index_size`), corner pips, pips on a 3 x 7 grid (the lower ones upside
    down); `outline` is the radius of the card's corners."""
    w, h = 250, 360
    img = Image.new("RGB", (w, h), CREAM)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((2, 2, w - 3, h - 3), radius=outline, outline=PURPLE, width=4)
    draw.rectangle((36, 30, w - 37, h - 31), outline=PURPLE, width=2)
    font = ImageFont.load_default(index_size)
    for x, y, angle in ((8, 6, 0), (w - 30, h - 34, 180)):
        mark = Image.new("RGBA", (24, 30), (0, 0, 0, 0))
        ImageDraw.Draw(mark).text((2, 0), str(rank), fill=RED, font=font)
        img.paste(mark.rotate(angle), (x, y), mark.rotate(angle))
    if corner_pips:
        heart(draw, 20, 48, 7)
        heart(draw, w - 21, h - 49, 7, down=True)
    for col, row in PIPS[rank]:
        x, y = 75 + col * 50, 60 + row * 40
        heart(draw, x, y, 15, down=row > 3)
    return img


def black_pip(draw: ImageDraw.ImageDraw, suit: str, x: float, y: float, r: float, down=False):
    """A club (three lobes) or a spade (a heart upside down), each on a stem."""
    s = -1 if down else 1
    if suit == "club":
        for dx, dy in ((0, -0.55), (-0.55, 0.1), (0.55, 0.1)):
            cx, cy = x + dx * r, y + s * dy * r
            draw.ellipse((cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2), fill=BLACK)
    else:
        for left in (x - r, x):
            draw.ellipse(
                (left, y - s * r * 0.1 - r / 2, left + r, y - s * r * 0.1 + r / 2), fill=BLACK
            )
        draw.polygon(
            [(x - r, y + s * 0.05 * r), (x + r, y + s * 0.05 * r), (x, y - s * r)], fill=BLACK
        )
    draw.polygon(
        [(x, y + s * 0.2 * r), (x - 0.4 * r, y + s * r), (x + 0.4 * r, y + s * r)], fill=BLACK
    )


def two_card(suit: str, pip_at: float = 62) -> Image.Image:
    """The two of clubs or of spades as printed decks draw it: one pip near the top edge and
    one near the bottom edge (`pip_at` pixels from it), where a frame's ring of cells lies."""
    w, h = 250, 360
    img = Image.new("RGB", (w, h), CREAM)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((2, 2, w - 3, h - 3), radius=14, outline=PURPLE, width=4)
    draw.text((10, 8), "2", fill=BLACK, font=ImageFont.load_default(26))
    black_pip(draw, suit, 20, 52, 8)
    black_pip(draw, suit, w / 2, pip_at, 22)
    black_pip(draw, suit, w / 2, h - 1 - pip_at, 22, down=True)
    return img


def triangle(pictogram: str) -> Image.Image:
    """A warning sign: white ground, red triangle, a black pictogram inside."""
    size = 320
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    corners = [(size / 2, 14), (size - 14, size - 34), (14, size - 34)]
    draw.polygon(corners, fill=RED)
    inner = [(size / 2, 62), (size - 58, size - 58), (58, size - 58)]
    draw.polygon(inner, fill=(255, 255, 255))
    cx, cy = size / 2, size * 0.62
    if pictogram == "exclamation":
        draw.rounded_rectangle((cx - 10, cy - 70, cx + 10, cy + 10), radius=8, fill=BLACK)
        draw.ellipse((cx - 11, cy + 22, cx + 11, cy + 44), fill=BLACK)
    elif pictogram == "lightning":
        draw.polygon(
            [
                (cx + 8, cy - 75),
                (cx - 30, cy + 5),
                (cx - 2, cy + 5),
                (cx - 14, cy + 55),
                (cx + 30, cy - 15),
                (cx + 2, cy - 15),
                (cx + 20, cy - 75),
            ],
            fill=BLACK,
        )
    else:  # a worker: head, body, a raised arm and legs
        draw.ellipse((cx - 12, cy - 72, cx + 12, cy - 48), fill=BLACK)
        draw.line([(cx, cy - 45), (cx, cy + 5)], fill=BLACK, width=12)
        draw.line([(cx, cy - 35), (cx + 35, cy - 60)], fill=BLACK, width=9)
        draw.line([(cx, cy - 30), (cx - 30, cy - 5)], fill=BLACK, width=9)
        draw.line([(cx, cy + 5), (cx - 22, cy + 50)], fill=BLACK, width=10)
        draw.line([(cx, cy + 5), (cx + 22, cy + 50)], fill=BLACK, width=10)
    return img


def factotum(letter: str, letter_size: int = 150) -> Image.Image:
    """A factotum initial: one ornamental block (ruled square, corner leaves, hatching), a
    different letter set into its middle."""
    size = 300
    img = Image.new("RGB", (size, size), CREAM)
    draw = ImageDraw.Draw(img)
    draw.rectangle((4, 4, size - 5, size - 5), outline=BLACK, width=5)
    draw.rectangle((40, 40, size - 41, size - 41), outline=BLACK, width=3)
    for i in range(12, size - 12, 9):  # hatched band between the rules
        draw.line([(i, 10), (i + 24, 36)], fill=BLACK, width=2)
        draw.line([(i, size - 36), (i + 24, size - 10)], fill=BLACK, width=2)
        draw.line([(10, i), (36, i + 24)], fill=BLACK, width=2)
        draw.line([(size - 36, i), (size - 10, i + 24)], fill=BLACK, width=2)
    for cx, cy in ((70, 70), (size - 70, 70), (70, size - 70), (size - 70, size - 70)):
        for k in range(6):  # a leaf rosette in each corner of the field
            a = k * math.pi / 3
            x, y = cx + 14 * math.cos(a), cy + 14 * math.sin(a)
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=BLACK, width=2)
    font = ImageFont.load_default(letter_size)
    draw.text((size / 2, size / 2 + 6), letter, fill=BLACK, font=font, anchor="mm")
    return img


ONE_FRAME = {
    "deck 7 and 8": lambda: (number_card(7), number_card(8)),
    "deck 8 and 9": lambda: (number_card(8), number_card(9)),
    "deck two of clubs and of spades": lambda: (two_card("club"), two_card("spade")),
    "deck two, pips at the edge": lambda: (two_card("club", 36), two_card("spade", 36)),
    "triangle exclamation and lightning": lambda: (triangle("exclamation"), triangle("lightning")),
    "triangle lightning and worker": lambda: (triangle("lightning"), triangle("worker")),
    "factotum A and B": lambda: (factotum("A"), factotum("B")),
    "factotum R and P": lambda: (factotum("R"), factotum("P")),
    "flags, one field in another colour": lambda: (woven_flag(FRANCE), woven_flag(ITALY)),
}


@pytest.mark.parametrize("case", list(ONE_FRAME))
def test_different_pictures_in_one_frame_are_never_copies(case):
    first, second = ONE_FRAME[case]()
    kind, found = relation(first, second)
    assert kind != "copy", found


THUMBNAILS = (48, 64, 80, 96, 112, 128, 160)


@pytest.mark.parametrize("case", list(ONE_FRAME))
def test_different_pictures_in_one_frame_are_never_copies_at_thumbnail_sizes(case):
    """Each picture at each of THUMBNAILS pixels (its longer side) against the other at
    each: pairs of few keypoints, let in by the small floor or laid frame on frame. A two
    of clubs and a two of spades of 80 to 160 pixels were copies while such pairs' strokes
    could lie 2 pixels apart."""
    first, second = ONE_FRAME[case]()
    firsts = {side: described(longer_side(first, side)) for side in THUMBNAILS}
    seconds = {side: described(longer_side(second, side)) for side in THUMBNAILS}
    rule = CopyRule.of(S)
    copies = [
        (one, other)
        for one in THUMBNAILS
        for other in THUMBNAILS
        if check_pair(firsts[one], seconds[other], S, seed_of("a", "b")).relation(rule) == "copy"
    ]
    assert not copies


@pytest.mark.parametrize(
    "case, sides",
    [
        ("triangle exclamation and lightning", (48, 64)),
        ("triangle lightning and worker", (48, 64)),
        ("factotum R and P", (48, 96)),
        ("deck 7 and 8", (48, 96)),
    ],
)
def test_a_small_drawing_is_a_copy_of_itself_at_another_size(case, sides):
    """Each drawing reduced to 48 pixels and to 64 or 96: the smaller one's strokes lie up to
    half of its own pixel from the larger's, more than a pixel of its frame enlarged to be
    compared. Within that reach each is a copy (half of them were only "shares a part" or
    nothing)."""
    for picture in ONE_FRAME[case]():
        small, large = (described(longer_side(picture, side)) for side in sides)
        found = check_pair(small, large, S, seed_of("a", "b"))
        assert found.relation(CopyRule.of(S)) == "copy", found


def longer_side(img: Image.Image, side: int) -> Image.Image:
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


@pytest.mark.parametrize("case", ["deck", "two", "two at the edge", "triangle", "factotum"])
def test_the_frames_own_copies_are_copies(case):
    """The same card, sign or initial, rescanned smaller: the rule still sees a copy."""
    first = {
        "deck": number_card(8),
        "two": two_card("club"),
        "two at the edge": two_card("club", 36),
        "triangle": triangle("worker"),
        "factotum": factotum("R"),
    }
    second = first[case].resize((first[case].width * 3 // 4, first[case].height * 3 // 4))
    kind, found = relation(first[case], second)
    assert kind == "copy", found


def test_repeated_strokes_are_matched_where_the_fit_lays_them(monkeypatch):
    """The two of clubs stretched: its distinctive matches alone are under the copy floor
    (the pips and the frame's corners repeat, and fail the ratio test); looked for again
    where their fit lays them, they make a copy."""
    picture = two_card("club")
    stretched = devset.stretched(picture, 1.45)
    kind, found = relation(picture, stretched)
    assert kind == "copy", found
    monkeypatch.setattr(sift, "GUIDE_FROM", 10**6)
    kind, found = relation(picture, stretched)
    assert kind is None and found.inliers < S.min_inliers, found


def other_deck(rank: int) -> Image.Image:
    """`number_card(rank)` engraved for another deck: the same pips in the same places, a
    larger corner index, rounder corners, no corner pip."""
    return number_card(rank, index_size=34, outline=30, corner_pips=False)


def test_a_pair_lifted_by_guided_matches_alone_must_agree_along_its_edges():
    """Where the distinctive inliers alone are under the copy floor, the guided matches on
    repeated pips lifted the pair: the cells along the edge (corner indices, outline) are
    compared too, so another deck's engraving of one layout differs."""
    first, second = described(number_card(8)), described(other_deck(8))
    ia, ib = sift.ratio_matches(first, second, S.ratio)
    fitted = sift.guided_fit(first, second, ia, ib, S.transform, S.ratio, 1)
    strict = fitted.inliers < S.min_inliers
    carried = with_figures(PairResult(fitted.inliers), first, second, fitted, 0, strict)
    lifted = with_figures(PairResult(fitted.inliers), first, second, fitted, 10**6, strict)
    assert carried.difference == 0 and lifted.difference > 0, (carried, lifted)


def test_a_stretch_is_fitted_again_to_its_guided_matches(monkeypatch):
    """An eight stretched: its few distinctive matches fit the stretch a little off, and the
    pair only shares a part; fitted again to its guided matches, it is a copy, and the eight
    of another deck's engraving stretched alike is not (its edge is compared)."""
    picture, stretched = number_card(8), devset.stretched(number_card(8), 1.45)
    first, second = described(picture), described(stretched)
    ia, ib = sift.ratio_matches(first, second, S.ratio)
    fitted = sift.guided_fit(first, second, ia, ib, S.transform, S.ratio, 1)
    assert fitted.refitted and sift.stretch(fitted.transform) == pytest.approx(1.45, abs=0.02)
    assert relation(picture, stretched)[0] == "copy"
    assert relation(other_deck(8), stretched)[0] != "copy"
    monkeypatch.setattr(sift, "REFIT_ROUNDS", 0)
    assert relation(picture, stretched)[0] == "shares_part"


def test_a_transform_that_keeps_the_aspect_is_not_fitted_again():
    """Below REFIT_STRETCH the distinctive matches' fit stands: two decks' engravings of one
    layout at nearly one aspect would align on their repeated pips."""
    picture = number_card(8)
    copy = picture.resize((picture.width * 3 // 4, picture.height * 3 // 4))
    first, second = described(picture), described(copy)
    ia, ib = sift.ratio_matches(first, second, S.ratio)
    fitted = sift.guided_fit(first, second, ia, ib, S.transform, S.ratio, 1)
    assert not fitted.refitted and sift.stretch(fitted.transform) < sift.REFIT_STRETCH


def test_least_squares_fits_the_matches_exactly_and_refuses_a_mirror():
    src = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 3]], np.float32)
    stretch = np.array([[1.45, 0, 2.0], [0, 1.0, -1.0]])
    dst = (src @ stretch[:, :2].T + stretch[:, 2]).astype(np.float32)
    assert np.allclose(sift.least_squares(src, dst, stretch), stretch, atol=1e-4)
    assert sift.stretch(stretch) == pytest.approx(1.45)
    mirrored = dst * np.array([-1, 1], np.float32)
    assert sift.least_squares(src, mirrored, stretch) is None
    assert sift.least_squares(src[:3], dst[:3], stretch) is None


def on_a_page(picture: Image.Image, scale: float = 3.0) -> Image.Image:
    """The picture printed on a blank page `scale` times its size, a third of the way down."""
    w, h = picture.size
    page = Image.new("RGB", (int(w * scale), int(h * scale)), devset.PAPER)
    page.paste(picture, ((page.width - w) // 2, (page.height - h) // 3))
    return page


def checked_with_pictures(first: Image.Image, second: Image.Image, look: bool = True):
    """The relation of a pair checked as verify checks it, the files at hand for a closer
    look (or not, with `look` false)."""
    files = (png(first), png(second))
    method = method_for(S)
    found = method.check(
        method.describe(files[0]),
        method.describe(files[1]),
        seed_of("a", "b"),
        files.__getitem__ if look else None,
    )
    return found.relation(CopyRule.of(S)), found


@pytest.mark.parametrize("letters", [("E", "F"), ("R", "P"), ("A", "B")])
def test_one_frame_small_on_a_page_is_compared_at_its_own_resolution(letters):
    """A factotum with a small letter printed on a page three times its size spans about 64
    pixels of the page's thumbnail, its letter 6: through the thumbnails the block with
    another letter is its copy. Cut from the page and compared at its own resolution, it
    is not; the same block on the page stays a copy."""
    page = on_a_page(factotum(letters[0], 40))
    other, same = factotum(letters[1], 40), factotum(letters[0], 40)
    assert checked_with_pictures(page, other, look=False)[0] == "copy"  # the thumbnails' blur
    kind, found = checked_with_pictures(page, other)
    assert kind != "copy" and found.difference > 0, found
    kind, found = checked_with_pictures(page, same)
    assert kind == "copy", found


def test_a_card_pasted_on_a_page_is_found_through_the_picture_described_on_its_own(monkeypatch):
    """A two of clubs printed between lines of type: the page's letters hold its keypoints,
    and the card, described at the page's scale, finds 13 inliers with its original, under
    the copy floor. The page's picture (vectors/pages.py) described on its own is a copy of
    it, marked as found through a denser description; the two of spades is not."""
    from similar.verification import region

    clubs, spades = ONE_FRAME["deck two of clubs and of spades"]()
    page = devset.pasted(clubs.convert("RGB"), seed=1)
    kind, found = checked_with_pictures(page, clubs)
    assert kind == "copy" and found.zoomed and found.inliers >= S.min_inliers, found
    assert checked_with_pictures(page, spades)[0] != "copy"
    assert checked_with_pictures(clubs, page)[0] == "copy"  # the page on either side
    monkeypatch.setattr(region, "PAGE_EVIDENCE", 10**6)  # the page's picture not looked at
    assert checked_with_pictures(page, clubs)[0] != "copy"


def test_a_strong_crop_is_compared_at_its_own_resolution():
    """A crop of a fifth of each side of a 600-pixel photograph spans 38 pixels of the
    whole's thumbnail, too few cells to compare (difference 1.0: a shared part); cut from
    the whole as described, it is compared at its own resolution and is a copy."""
    picture = at_side(real_photo("astronaut", size=None).convert("RGB"))
    crop = devset.crop(picture, 0.2, seed=0)
    kind, found = checked_with_pictures(picture, crop, look=False)
    assert kind == "shares_part" and found.difference == 1.0, found
    kind, found = checked_with_pictures(picture, crop)
    assert kind == "copy" and found.difference == 0, found


def test_verify_reads_the_pictures_again_for_a_closer_look(tmp_path):
    pictures = {
        "page": on_a_page(factotum("E", 40)),
        "other": factotum("F", 40),
        "same": factotum("E", 40),
    }
    images = {}
    for name, picture in pictures.items():
        data = png(picture)
        (tmp_path / f"{name}.png").write_bytes(data)
        images[name] = ImageRef(str(tmp_path / f"{name}.png"), hashlib.sha256(data).hexdigest())
    pairs = [("page", "other"), ("page", "same")]
    results, _, _ = verify_pairs(pairs, S, images, tmp_path / "cache", 1)
    rule = CopyRule.of(S)
    assert [r.relation(rule) for r in results] == ["shares_part", "copy"]


HARD = {
    "stretched": lambda img: devset.stretched(img, 1.45),
    "halftone": lambda img: devset.halftone(img, 3),
    "coarse halftone": lambda img: devset.halftone(img, 6),
    "crop": lambda img: devset.crop(img, 0.55, seed=1),
    "strong crop": lambda img: devset.crop(img, 0.3, seed=1),
    "at an angle": at_an_angle,
    "recoloured": devset.recoloured,
    "pasted": lambda img: devset.pasted(img, seed=2),
}


@pytest.mark.parametrize("kind", list(HARD))
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_a_picture_and_its_hard_copy_are_a_copy(name, kind):
    picture = real_photo(name, size=None).convert("RGB").resize((400, 300))
    found, figures = relation(picture, HARD[kind](picture))
    assert found == "copy", figures


def test_a_stretched_copy_is_fitted_whole():
    """An affine fit lays a copy whose aspect changed whole onto it: the pictures agree
    everywhere, not in a band."""
    picture = real_photo("astronaut", size=None).convert("RGB").resize((400, 300))
    found, figures = relation(picture, devset.stretched(picture, 1.45))
    assert found == "copy" and figures.agreement >= 0.9 and figures.difference == 0, figures


def test_a_mirror_is_not_fitted_by_the_affine_transform():
    """A reflection is a mirrored copy, tried as such: the fit itself keeps the sides."""
    picture = real_photo("astronaut", size=None).convert("RGB").resize((400, 300))
    mirrored = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    plain = settings.VerifySettings(workers=1, mirror=False)
    assert check_pair(described(picture), described(mirrored), plain, 1).inliers < S.min_inliers
    assert check_pair(described(picture), described(mirrored), S, 1).mirrored


def test_plausible_transforms_keep_the_sides_and_a_bounded_aspect():
    assert plausible(np.array([[1.45, 0, 3], [0, 1, 2]]))
    assert not plausible(np.array([[-1.0, 0, 3], [0, 1, 2]]))  # reflected
    assert not plausible(np.array([[4.0, 0, 0], [0, 1, 0]]))  # stretched past MAX_STRETCH
    assert not plausible(np.full((2, 3), np.nan))  # a degenerate sample's fit


RULE = CopyRule(15, 0.6, 0.7, 0.0, 25)


def test_a_pair_that_is_not_a_copy_needs_the_higher_floor_to_share_a_part():
    weak = PairResult(18, agreement=0.3, contained=1.0)
    strong = PairResult(40, agreement=0.3, contained=1.0)
    assert weak.relation(RULE) is None and strong.relation(RULE) == "shares_part"
    assert PairResult(18, agreement=0.9, contained=1.0).relation(RULE) == "copy"
    assert PairResult(10, agreement=0.9, contained=1.0).relation(RULE) is None


def test_a_cell_drawn_in_one_picture_only_makes_a_pair_differ():
    differing = PairResult(40, agreement=0.9, contained=1.0, difference=0.02)
    assert differing.relation(RULE) == "shares_part"
    assert differing.fields(RULE)["difference"] == 0.02 and not differing.fields(RULE)["verified"]


def test_a_pair_with_few_keypoints_needs_fewer_inliers_when_asked():
    """`verify.min_small_inliers`: a small icon or flag holds a few dozen keypoints; a copy
    then needs min_small_inliers and min_inlier_share of the fewer, never more than
    min_inliers (5 by default; 0 turns it off)."""
    rule = CopyRule(15, 0.6, 0.7, 0.0, 15, min_small_inliers=8, min_inlier_share=0.3)
    assert [rule.floor(k) for k in (0, 10, 20, 40, 100)] == [15, 8, 8, 12, 15]
    assert CopyRule(15).floor(20) == 15
    assert [CopyRule.of(S).floor(k) for k in (10, 20, 40, 100)] == [5, 6, 12, 15]
    few = PairResult(10, agreement=0.96, contained=1.0, keypoints=20)
    assert few.relation(rule) == "copy" and few.relation(RULE) is None
    assert PairResult(10, agreement=0.96, contained=1.0, keypoints=60).relation(rule) is None
    differing = PairResult(10, agreement=0.96, contained=1.0, difference=0.1, keypoints=20)
    assert differing.relation(rule) is None  # not a copy, and under the shared part's floor
    # let in by the small floor, a pair must agree in SMALL_AGREEMENT; at 15 inliers, 0.6 do
    assert PairResult(10, agreement=0.7, contained=1.0, keypoints=20).relation(rule) is None
    assert PairResult(15, agreement=0.7, contained=1.0, keypoints=20).relation(rule) == "copy"


def test_a_small_picture_is_a_copy_by_the_small_floor_unless_recoloured():
    """A 48-pixel picture and its 96-pixel print hold a few keypoints: the small floor makes
    them a copy with 7 inliers. Recoloured, the same few inliers do not: a pair let in by
    the small floor must keep its colours (as a large one need not, see HARD)."""
    small, large = real_photo("rocket", size=48), real_photo("rocket", size=96)
    kind, found = relation(small, large)
    assert kind == "copy" and found.inliers < S.min_inliers, found
    kind, found = relation(small, devset.recoloured(large))
    assert kind is None and found.difference > 0, found


def test_a_flag_recoloured_as_a_whole_is_another_flag():
    """A picture of flat colour fields is its colours: every field in another colour makes
    another flag (Serbia's stripes and Sierra Leone's), as one field does (see ONE_FRAME)."""
    found, figures = relation(woven_flag(FRANCE), devset.recoloured(woven_flag(FRANCE)))
    assert found == "shares_part" and figures.difference > 0, figures


def test_a_drawing_recoloured_as_a_whole_is_a_copy():
    """Recolouring a drawing is not a difference: its colour lies over its strokes (a
    coloured print in other inks, two colourists' copies)."""
    drawing = woven_flag(FRANCE)
    ink = ImageDraw.Draw(drawing)
    for x in range(0, drawing.width + drawing.height, 7):
        ink.line((x, 0, x - drawing.height, drawing.height), fill=(30, 24, 20), width=1)
    found, figures = relation(drawing, devset.recoloured(drawing))
    assert found == "copy", figures


@pytest.mark.parametrize("side", [40, 48])
def test_a_small_picture_is_a_copy_of_its_enlargement_when_described_enlarged(side):
    """A 40-pixel picture holds a few keypoints, under the copy floor (without the small
    floor, `verify.min_small_inliers: 0`); enlarged to 256 pixels before it is described
    (`verify.enlarge_to`), it holds enough, and the larger picture, smoothed to its scale,
    draws nothing it lacks."""
    small, large = real_photo("rocket", size=side), real_photo("rocket", size=128)
    one_floor = dataclasses.replace(S, min_small_inliers=0)
    found = check_pair(described(small), described(large), one_floor, 1)
    assert found.relation(CopyRule.of(one_floor)) is None, found
    enlarged = dataclasses.replace(S, enlarge_to=256)
    found = Sift(enlarged)
    pair = check_pair(found.describe(png(small)), found.describe(png(large)), enlarged, 1)
    assert pair.inliers >= S.min_inliers and pair.difference == 0, pair
    assert pair.relation(CopyRule.of(enlarged)) == "copy"


def test_a_64_pixel_picture_is_a_copy_of_its_enlargement_as_it_is():
    assert relation(real_photo("rocket", size=64), real_photo("rocket", size=128))[0] == "copy"


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_one_picture_reprinted_in_another_border_is_a_copy(name):
    """Whole in each other, their rings differ almost everywhere: two borders, not one frame
    with different pips in it, so the ring stays out of the comparison."""
    from tools.sample.hard_cases import framed

    picture = real_photo(name, size=None).convert("RGB")
    found, figures = relation(framed(picture, 7, "Fig. 4"), framed(picture, 12, "Fig. 4"))
    assert found == "copy", figures
