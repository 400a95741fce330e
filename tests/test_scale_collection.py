"""The scale collection (tools.sample.scale) and the bench's whole-pipeline section on it."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tools.sample import scale

ROOT = Path(__file__).resolve().parent.parent


def digest(folder):
    return hashlib.sha256(
        b"".join(f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file())
    ).hexdigest()


@pytest.mark.slow
def test_scan_sized_copies_and_distractors_same_bytes_each_time(tmp_path):
    made = scale.build(tmp_path / "a", 16, processes=2)
    scale.build(tmp_path / "b", 16, processes=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    with open(tmp_path / "a/groups.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == made["images"] and 10 <= made["images"] <= 24
    sizes = {g: sum(r["group"] == g for r in rows) for g in {r["group"] for r in rows}}
    assert len(sizes) == made["pictures"]
    assert 1 in sizes.values() and max(sizes.values()) > 1  # distractors beside copies
    files = sorted((tmp_path / "a/images").rglob("*.jpg"))
    assert sorted(f.stem for f in files) == sorted(r["id"] for r in rows)
    for f in files:
        with Image.open(f) as img:
            assert scale.SIDES[0] <= max(img.size) <= scale.SIDES[1]
    queries = (tmp_path / "a/queries.txt").read_text().split()
    assert queries and all(q.endswith("_0") for q in queries)
    with open(tmp_path / "a/iiif.csv", newline="") as fh:
        links = [r["iiif_url"] for r in csv.DictReader(fh)]
    assert len(set(links)) == len(rows)


def test_the_command_refuses_a_folder_that_exists(tmp_path):
    from similar.errors import UserError

    with pytest.raises(UserError, match="--out: .* exists"):
        scale.main(["--images", "10", "--out", str(tmp_path)])


@pytest.mark.e2e
def test_pipeline_section_runs_every_stage_and_measures_its_disk(tmp_path, monkeypatch):
    from tools.bench.__main__ import main
    from tools.bench.pipeline import STAGES

    shutil.copy(ROOT / "params.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)  # the report goes to reports/ here
    main(["--pipeline", "24", "--pipeline-dir", str(tmp_path / "keep")])
    report = json.loads((tmp_path / "reports/bench-pipeline-24.json").read_text())["pipeline"]
    assert list(report["stages"]) == list(STAGES)
    assert all(s["seconds"] > 0 and s["peak_rss_mib"] > 0 for s in report["stages"].values())
    assert report["edges_checked"] > 0 and report["groups"] >= 1
    assert report["disk"][".cache"]["files"] > 0 and report["disk"]["data"]["mib"] > 0
    assert (tmp_path / "keep/project/data/preview/index.html").is_file()
