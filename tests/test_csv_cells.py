"""CSV cells as a user writes them: a hand-written IIIF CSV is read as written (only the fetch
stage's own CSV has its leading `'` taken off), and a cell over the csv module's 128 KiB is
read, in the IIIF CSV, the ground truth and the image index alike, or refused in one line."""

import json

import pytest
from conftest import real_photo, run_stage, write_collection

from similar.errors import UserError
from similar.files import CSV_CELL_BYTES, csv_bytes, read_csv
from similar.groundtruth import read_groups
from similar.iiif.links import read_iiif_csv

ALERT = "'-alert(4)-'"


def test_a_hand_written_iiif_csv_keeps_its_leading_quote(tmp_path):
    (tmp_path / "links.csv").write_text(f"id,iiif_url\n{ALERT},https://x.org/a.jpg\n")
    assert read_iiif_csv(tmp_path / "links.csv", "id", "iiif_url") == {ALERT: "https://x.org/a.jpg"}
    # the same id written by this project's writer, read back as the fetch stage's CSV
    (tmp_path / "ours.csv").write_bytes(csv_bytes(["id", "iiif_url"], [(ALERT, "https://x")]))
    assert read_iiif_csv(tmp_path / "ours.csv", "id", "iiif_url", written_here=True) == {
        ALERT: "https://x"
    }


def test_an_image_named_with_a_leading_quote_keeps_its_link(project):
    names = [ALERT, "plain", "b", "c", "d", "e"]
    photos = ["astronaut", "chelsea", "coffee", "rocket", "camera", "moon"]
    images = {f"{n}.jpg": real_photo(p, 64) for n, p in zip(names, photos)}
    write_collection(project.root / "images", images)
    rows = "".join(
        f"{n},https://iiif.example.org/{i}/full/max/0/default.jpg\n" for i, n in enumerate(names)
    )
    (project.root / "iiif.csv").write_text("id,iiif_url\n" + rows)
    for stage in ("embed", "reduce", "attach_iiif"):
        run_stage(stage)
    records = [json.loads(line) for line in (project.root / "data/vectors/vectors.jsonl").open()]
    urls = {r["id"]: r["url"] for r in records}
    assert urls[ALERT] == "https://iiif.example.org/0/full/max/0/default.jpg"
    assert all(urls.values())


def test_a_cell_over_128_kib_is_read(tmp_path):
    big = "x" * 200_000
    (tmp_path / "iiif.csv").write_text(f"id,iiif_url\n{big},https://x.org/a.jpg\n")
    assert read_iiif_csv(tmp_path / "iiif.csv", "id", "iiif_url") == {big: "https://x.org/a.jpg"}
    (tmp_path / "groups.csv").write_text(f"id,group\n{big},g\nother,g\n")
    assert read_groups(tmp_path / "groups.csv") == {big: "g", "other": "g"}
    assert read_csv(tmp_path / "groups.csv")[0]["id"] == big


def test_a_cell_past_the_limit_is_one_line_naming_the_file_and_line(tmp_path):
    (tmp_path / "iiif.csv").write_text(
        "id,iiif_url\na,https://x.org/a.jpg\nb," + "y" * (CSV_CELL_BYTES + 1) + "\n"
    )
    with pytest.raises(UserError, match=r"iiif.csv:3: not a readable CSV row \(field larger"):
        read_iiif_csv(tmp_path / "iiif.csv", "id", "iiif_url")
