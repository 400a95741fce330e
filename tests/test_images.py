"""Discovery, ids, and decoding every kind of file a digitised collection holds."""

import os

import numpy as np
import pytest
from conftest import real_photo
from PIL import Image

from similar.errors import UserError
from similar.vectors.images import discover, image_id, index_collection, open_rgb, to_rgb

BIG = 10**9


def test_discovery_is_recursive_case_insensitive_sorted(tmp_path):
    img = real_photo(size=16)
    for rel in ["b/Z.JPG", "a/x y é.jpeg", "a/sub/w.Png", "a/notes.txt", "a/.hidden.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("txt"):
            (tmp_path / rel).write_text("x")
        else:
            img.save(tmp_path / rel, "PNG" if rel.lower().endswith("png") else "JPEG")
    found = [
        p.relative_to(tmp_path).as_posix() for p in discover(tmp_path, ["*.jpg", "*.jpeg", "*.png"])
    ]
    assert found == ["a/sub/w.Png", "a/x y é.jpeg", "b/Z.JPG"]


def test_discovery_survives_symlink_loop(tmp_path):
    (tmp_path / "a").mkdir()
    real_photo(size=16).save(tmp_path / "a" / "p.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found = discover(tmp_path, ["*.jpg"])
    assert [p.name for p in found] == ["p.jpg"]


def test_missing_folder_is_user_error(tmp_path):
    with pytest.raises(UserError, match="image folder not found"):
        discover(tmp_path / "nope")


def test_ids_and_duplicates(tmp_path):
    assert image_id("book/p1.jpg") == "p1"
    assert image_id("book/p1.jpg", "relpath") == "book/p1"
    img = real_photo(size=16)
    for rel in ["one/p1.jpg", "two/p1.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True)
        img.save(tmp_path / rel)
    with pytest.raises(UserError) as err:
        index_collection(tmp_path, ["*.jpg"])
    assert "one/p1.jpg" in str(err.value) and "two/p1.jpg" in str(err.value)
    assert "data.id_from: relpath" in str(err.value)
    assert "differ only in extension keep it" in str(err.value)
    entries = index_collection(tmp_path, ["*.jpg"], "relpath")
    assert [e.id for e in entries] == ["one/p1", "two/p1"]


@pytest.mark.parametrize(
    "id_from, expected",
    [
        ("stem", ["other", "plate.jpg", "plate.tif", "scan.jp2", "scan.png"]),
        ("relpath", ["book/other", "book/plate.jpg", "book/plate.tif", "m/scan", "w/scan"]),
    ],
)
def test_files_that_would_share_an_id_keep_their_extension(tmp_path, id_from, expected):
    """The same picture saved in several formats: a master beside its derivative."""
    img = real_photo(size=64)
    for rel, fmt in [
        ("book/plate.jpg", "JPEG"),
        ("book/plate.tif", "TIFF"),
        ("book/other.jpg", "JPEG"),
        ("m/scan.jp2", "JPEG2000"),
        ("w/scan.png", "PNG"),
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / rel, fmt)
    entries = index_collection(tmp_path, id_from=id_from)
    assert [e.id for e in entries] == expected
    assert sorted(e.relpath for e in entries)[0] == "book/other.jpg"


def test_an_id_that_still_collides_with_its_extension_is_refused(tmp_path):
    img = real_photo(size=16)
    for rel in ["a/p.jpg", "a/p.png", "b/p.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / rel)
    with pytest.raises(UserError, match="two images have the id 'p.jpg'"):
        index_collection(tmp_path)


@pytest.mark.parametrize(
    "name, fmt, mode",
    [
        ("master.jp2", "JPEG2000", "RGB"),
        ("stream.j2k", "JPEG2000", "RGB"),
        ("colour.ppm", "PPM", "RGB"),
        ("grey.pgm", "PPM", "L"),
        ("bilevel.pbm", "PPM", "1"),
        ("any.pnm", "PPM", "RGB"),
    ],
)
def test_archival_formats_are_found_and_read(tmp_path, name, fmt, mode):
    """JPEG 2000 (the usual archival master) and netpbm, as Pillow writes them."""
    img = real_photo(size=None).resize((120, 80)).convert(mode)
    img.save(tmp_path / name, fmt)
    assert [p.name for p in discover(tmp_path)] == [name]  # the default patterns
    decoded, size = open_rgb(tmp_path / name, BIG)
    assert size == (120, 80) and decoded.mode == "RGB"
    expected = np.asarray(img.convert("RGB"), np.float32)
    assert np.abs(np.asarray(decoded, np.float32) - expected).mean() < 2.0


def test_the_default_patterns_are_the_settings_default():
    from similar import parameters
    from similar.vectors.images import DEFAULT_PATTERNS

    assert parameters.defaults().data.patterns == DEFAULT_PATTERNS


def test_exif_orientation_applied(tmp_path):
    img = real_photo(size=None).resize((60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    rgb, size = open_rgb(tmp_path / "r.jpg", BIG)
    assert size == (40, 60) and rgb.size == (40, 60)


def test_modes_convert_to_rgb():
    base = real_photo(size=32)
    # 16-bit grey: full range maps to full range, not clipped to white
    arr16 = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    i16 = to_rgb(Image.fromarray(arr16))
    assert i16.mode == "RGB"
    assert np.asarray(i16)[0, 0, 0] == 0 and np.asarray(i16)[-1, -1, 0] == 255
    # transparent pixels become white, opaque keep their colour
    rgba = base.convert("RGBA")
    rgba.putalpha(0)
    assert np.asarray(to_rgb(rgba)).min() == 255
    assert to_rgb(base.convert("CMYK")).mode == "RGB"
    assert to_rgb(base.convert("P")).mode == "RGB"
    assert to_rgb(base.convert("LA")).mode == "RGB"
    assert to_rgb(base.convert("1")).mode == "RGB"


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "cannot decode"),
        (b"this is text, not a picture", "cannot decode"),
    ],
)
def test_broken_files_raise_value_error(tmp_path, content, reason):
    f = tmp_path / "bad.jpg"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        open_rgb(f, BIG)


def test_truncated_jpeg_fails(tmp_path):
    real_photo(size=256).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot decode"):
        open_rgb(tmp_path / "t.jpg", BIG)


def test_too_many_pixels_is_refused(tmp_path):
    real_photo(size=100).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="too large"):
        open_rgb(tmp_path / "big.png", max_pixels=5000)


def test_draft_decodes_large_jpeg_smaller_but_not_below_target(tmp_path):
    real_photo(size=None).resize((1600, 1200)).save(tmp_path / "scan.jpg")
    img, size = open_rgb(tmp_path / "scan.jpg", BIG, draft_size=224)
    assert size == (1600, 1200)
    assert min(img.size) >= 224 and img.size[0] < 1600
