"""The development collection's parts: its ground-truth rule and its hard-copy makers."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from similar.errors import UserError
from tools import devset


def drawing() -> Image.Image:
    img = Image.new("RGB", (120, 90), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, 60, 50), fill=(200, 30, 30))
    draw.ellipse((70, 20, 110, 80), fill=(20, 20, 120))
    return img


def test_cards_of_one_design_share_a_group_and_other_cards_never():
    assert devset.card_group("anglo", "heart_7") == devset.card_group("anglo_bitmap", "heart_7")
    assert devset.card_group("neoclassical_4_color", "club_2") == devset.card_group(
        "neoclassical", "club_2"
    )
    assert devset.card_group("anglo", "heart_7") != devset.card_group("anglo", "heart_8")
    assert devset.card_group("dondorf", "heart_7") != devset.card_group("anglo", "heart_7")


def test_an_icon_at_its_sizes_is_one_group_and_a_flag_is_its_country():
    assert devset.icon_group("oxygen", "edit-copy") != devset.icon_group("tango", "edit-copy")
    assert devset.flag_group("fr") == "flag-fr"


def test_an_icon_drawn_anew_for_its_size_is_told_from_one_rendered_from_the_largest():
    largest = drawing().resize((128, 96), Image.Resampling.LANCZOS)
    rendered = largest.resize((64, 48), Image.Resampling.LANCZOS)
    laid_out_again = Image.new("RGB", (64, 48), (255, 255, 255))
    laid_out_again.paste(drawing().resize((40, 30)), (20, 14))  # its parts moved and shrunk
    assert not devset.redrawn(rendered, largest)
    assert devset.redrawn(laid_out_again, largest)
    assert not devset.redrawn(largest, largest)


def test_a_transparent_render_is_cut_to_its_drawing_on_white():
    img = Image.new("RGBA", (50, 40), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((10, 5, 29, 24), fill=(0, 0, 0, 255))
    cut = devset.on_white(devset.drawn_box(img))
    assert cut.size == (20, 20) and cut.getpixel((0, 0)) == (0, 0, 0)
    assert devset.on_white(Image.new("RGBA", (4, 4))).getpixel((1, 1)) == (255, 255, 255)


def test_stretched_changes_the_aspect_only():
    out = devset.stretched(drawing(), 1.5)
    assert out.size == (180, 90)


def test_halftone_prints_dots_that_keep_the_tone():
    src = drawing()
    out = np.asarray(devset.halftone(src).convert("L"), np.float32)
    grey = np.asarray(src.convert("L"), np.float32)
    assert out.shape == grey.shape
    dark, light = grey < 128, grey > 200
    assert out[dark].mean() < out[light].mean() - 60
    assert len(np.unique(out)) > 2  # dots, averaged: not a plain threshold


def test_a_crop_is_a_part_enlarged_back_and_fixed_by_its_seed():
    src = drawing()
    first, again = devset.crop(src, 0.5, seed=3), devset.crop(src, 0.5, seed=3)
    assert first.size == (120, 90) and first.tobytes() == again.tobytes()


def test_pasted_puts_the_picture_on_a_larger_page_with_type():
    src = drawing()
    page = devset.pasted(src, seed=1)
    assert page.width > src.width and page.height > src.height
    grey = np.asarray(page.convert("L"))
    assert (grey < 100).sum() > 0  # type, and the picture's dark shapes


def test_recoloured_keeps_the_drawing_and_changes_its_colours():
    src = drawing()
    out = devset.recoloured(src)
    assert out.size == src.size and out.getpixel((30, 30)) != src.getpixel((30, 30))
    edges_src = np.abs(np.diff(np.asarray(src.convert("L"), np.float32), axis=1)) > 20
    edges_out = np.abs(np.diff(np.asarray(out.convert("L"), np.float32), axis=1)) > 5
    assert (edges_out & edges_src).sum() >= 0.9 * edges_src.sum()


def test_a_missing_command_is_one_line_naming_its_package(tmp_path, monkeypatch):
    """Without rsvg-convert (its package not installed), building says what to install."""
    for command in ("apt-get", "dpkg-deb"):
        (tmp_path / command).symlink_to("/bin/true")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="needs rsvg-convert.*apt-get install librsvg2-bin$"):
        devset.require_commands()
    (tmp_path / "rsvg-convert").symlink_to("/bin/true")
    devset.require_commands()
