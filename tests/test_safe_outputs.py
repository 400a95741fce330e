"""Never delete, never leave a half-written file, never a traceback: folders only this project
wrote are replaced, a full disk names the file, odd file names and ids survive every CSV."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import copy_project, fill_up, real_photo, run_stage, tmpfs, write_collection

from similar.cache import EmbedCache
from similar.errors import UserError
from similar.files import OWN_MARKER, atomic_dir, cell, csv_bytes, neutralise, read_csv, write_bytes
from similar.groundtruth import read_groups
from similar.vectors.images import NOT_UTF8_NAME
from tools.make_all import QuerySide, decide
from tools.make_all import facts as clone_facts

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HOSTILE_IDS = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-x",
    "@SUM(A1)",
    "'quoted",
    "''twice",
    "'=already",
    "\ttab",
    "-1",
    "-0.5e3",
    "+7",
    "plain",
    "a=b",
    "'",
    "",
]


def run_module(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True, text=True
    )


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def tree(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# ---------------------------------------------------------------- folders not this project's


def test_atomic_dir_replaces_only_its_own_folder(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target, "paths.out") as tmp:
        (tmp / "a").write_text("1")
    assert (target / OWN_MARKER).is_file()
    with atomic_dir(target, "paths.out") as tmp:  # its own: replaced
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == [OWN_MARKER, "b"]
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty", "paths.out"):  # an empty folder holds nothing to lose
        pass
    theirs = tmp_path / "Desktop"
    theirs.mkdir()
    (theirs / "thesis.odt").write_text("three years")
    with pytest.raises(UserError, match=r"Desktop: 'paths.out' names a folder that this project"):
        with atomic_dir(theirs, "paths.out"):
            raise AssertionError("never reached: refused before any work")
    assert tree(theirs) == {"thesis.odt": b"three years"}
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="names a file, not an output folder"):
        with atomic_dir(tmp_path / "file", "paths.out"):
            pass


def test_preview_pointed_at_the_collection_deletes_nothing(pipeline):
    root = pipeline.root
    images = tree(root / "images")
    pipeline.set("paths.preview", "images")
    one_line_error(
        run_module("stages.preview", cwd=root), "images: 'paths.preview'", "new or empty"
    )
    assert tree(root / "images") == images
    pipeline.set("paths.preview", "data/preview")  # its own folder, written before: replaced
    proc = run_module("stages.preview", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert (root / "data/preview" / OWN_MARKER).is_file()


# ---------------------------------------------------------------- make all checks before DVC


@pytest.fixture
def copied(tmp_path):
    """A copy of the project, with a collection folder and old outputs, never run through DVC."""
    proj = copy_project(tmp_path / "p")
    write_collection(proj / "images", {"a.jpg": real_photo("astronaut", 32)})
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"]["images"] = "images"
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    (proj / "data/verified").mkdir(parents=True)
    (proj / "data/verified/neighbours.json").write_text("[]\n")
    return proj, params


def make_all(proj: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module("tools.pipeline", "all", *args, cwd=proj)


def set_param(proj: Path, params: dict, group: str, key: str, value) -> bytes:
    params[group][key] = value
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    return (proj / "params.yaml").read_bytes()


@pytest.mark.slow
def test_make_all_refuses_bad_values_before_anything_is_written(copied):
    proj, params = copied
    before = (proj / "params.yaml").read_bytes()
    proc = make_all(proj, "--weights=/nonexistent.pth")
    one_line_error(proc, "'embed.weights' '/nonexistent.pth' is neither imagenet")
    assert (proj / "params.yaml").read_bytes() == before  # the bad value did not land
    assert "+ dvc" not in proc.stdout

    set_param(proj, params, "verify", "ratio", 2)
    proc = make_all(proj)
    one_line_error(proc, "'verify.ratio' must be between 0.1 and 1.0, got 2")
    assert "+ dvc" not in proc.stdout
    assert (proj / "data/verified/neighbours.json").read_text() == "[]\n"

    set_param(proj, params, "verify", "ratio", 0.8)
    pictures = tree(proj / "images")
    set_param(proj, params, "paths", "preview", "images")  # DVC would delete its outs first
    proc = make_all(proj)
    one_line_error(proc, "images: 'paths.preview' names a folder that this project did not write")
    assert "+ dvc" not in proc.stdout and tree(proj / "images") == pictures


@pytest.mark.slow
def test_a_misspelt_image_folder_fails_make_all(copied):
    proj, params = copied
    set_param(proj, params, "data", "images", "imagse")
    proc = make_all(proj)
    one_line_error(proc, "imagse: image folder not found", "fix data.images")
    assert "+ dvc" not in proc.stdout
    with pytest.raises(UserError, match="image folder not found"):
        decide(clone_facts_without_images())


def clone_facts_without_images():
    from tools.make_all import Facts

    return Facts(
        uses_sample=False,
        sample_current=True,
        local_server="",
        store="none",
        images_present=False,
        images_recorded=False,
        images="imagse",
    )


def test_a_clone_whose_lock_records_the_images_runs_the_query_side(copied, monkeypatch):
    proj, params = copied
    set_param(proj, params, "data", "images", "collection/images")
    (proj / "dvc.lock").write_text(
        yaml.safe_dump({"stages": {"embed": {"deps": [{"path": "collection/images"}]}}})
    )
    monkeypatch.chdir(proj)
    from similar import parameters

    found = clone_facts(parameters.load(), server_state=lambda s: "none")
    assert found.images_recorded and not found.images_present
    assert decide(found)[-1] == QuerySide()


# ---------------------------------------------------------------- collections too small for PCA


@pytest.mark.slow
@pytest.mark.parametrize("case", ["one image", "identical images"])
def test_reduce_on_a_degenerate_collection_is_one_line(project, case):
    photo = real_photo("astronaut", 64)
    names = ["a.jpg"] if case == "one image" else ["a.jpg", "b.jpg", "c.jpg"]
    write_collection(project.root / "images", {name: photo for name in names})
    project.set("reduce.n_components", 1)
    run_stage("embed")
    proc = run_module("stages.reduce", cwd=project.root)
    if case == "one image":
        one_line_error(proc, "the collection has 1 image(s)", "at least 2")
    else:
        one_line_error(proc, "the 3 embeddings do not vary", "identical images")
    assert not (project.root / "data/reduced/vectors.npy").exists()


@pytest.mark.slow
def test_n_components_is_bounded_by_images_minus_one(project):
    photos = {f"{n}.jpg": real_photo(n, 64) for n in ("astronaut", "chelsea", "coffee")}
    write_collection(project.root / "images", photos)
    project.set("reduce.n_components", 3)
    run_stage("embed")
    one_line_error(run_module("stages.reduce", cwd=project.root), "allow at most 2")
    project.set("reduce.n_components", 2)
    run_stage("reduce")
    metrics = json.loads((project.root / "metrics/reduce.json").read_text())
    assert metrics["explained_variance"] == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------- file names that are not UTF-8


def test_a_file_name_that_is_not_utf8_is_skipped_and_listed(small_collection):
    root = small_collection.root
    source = root / "images/book_a/rocket.jpg"
    shutil.copy(source, os.fsencode(root / "images/book_a") + b"/caf\xe9.jpg")
    run_stage("embed")
    failed = read_csv(root / "data/embeddings/failed.csv")
    assert failed == [
        {"path": "book_a/caf\\xe9.jpg", "reason": NOT_UTF8_NAME},
    ]
    assert NOT_UTF8_NAME.startswith("file name is not UTF-8; rename it")
    ids = [row["id"] for row in read_csv(root / "data/embeddings/images.csv")]
    assert len(ids) == 12 and all("caf" not in i for i in ids)
    assert json.loads((root / "metrics/embed.json").read_text())["failed"] == 1
    run_stage("reduce")  # what comes after reads it as any other run


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def full_disk(tmp_path):
    """A real 1 MiB tmpfs, filled up."""
    with tmpfs(tmp_path / "full") as mnt:
        (mnt / "cache").mkdir()
        fill_up(mnt)
        yield mnt


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


@pytest.mark.slow
def test_full_disk_under_the_embed_cache_names_the_entry(small_collection, full_disk):
    small_collection.set("paths.embed_cache", str(full_disk / "cache"))
    proc = run_module("stages.embed", cwd=small_collection.root)
    err = one_line_error(proc, "no space left on the device")
    assert err.startswith(f"error: {full_disk / 'cache'}/"), err
    assert leftovers(full_disk) == []
    assert not (small_collection.root / "data/embeddings").exists()


def test_full_disk_under_verify_names_the_file(pipeline, full_disk):
    root = pipeline.root
    before = (root / "data/verified/neighbours.json").read_bytes()
    pipeline.set("paths.feature_cache", str(full_disk / "cache"))
    err = one_line_error(run_module("stages.verify", cwd=root), "no space left on the device")
    assert err.startswith(f"error: {full_disk / 'cache'}/"), err
    assert leftovers(full_disk) == []
    pipeline.set("paths.feature_cache", "")
    pipeline.set("paths.verified", str(full_disk / "verified.json"))
    pipeline.set("paths.matches", str(full_disk / "matches.json"))
    err = one_line_error(run_module("stages.verify", cwd=root), "no space left on the device")
    assert err.startswith(f"error: {full_disk}/"), err
    assert leftovers(full_disk) == [] and sorted(p.name for p in full_disk.iterdir()) == [
        "cache",
        "filler",
    ]
    assert (root / "data/verified/neighbours.json").read_bytes() == before


@pytest.mark.slow
def test_cache_entries_follow_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import numpy as np\nfrom similar.cache import EmbedCache\n"
                f"EmbedCache({str(tmp_path)!r}, {{'k': 1}}, 2).put('ab' * 32, np.ones(2), (3, 4))",
            ],
            env=ENV,
            capture_output=True,
            text=True,
        )
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    entries = list(tmp_path.rglob("*.vec"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o664
    assert EmbedCache(tmp_path, {"k": 1}, 2).get("ab" * 32)[1] == (3, 4)


# ---------------------------------------------------------------- ids in CSV files


def test_every_id_round_trips_through_the_csv_writer_and_reader(tmp_path):
    rows = [(i, i) for i in HOSTILE_IDS]
    write_bytes(tmp_path / "groups.csv", csv_bytes(["id", "group"], rows))
    assert [(r["id"], r["group"]) for r in read_csv(tmp_path / "groups.csv")] == rows
    assert read_groups(tmp_path / "groups.csv") == {i: i for i in HOSTILE_IDS if i}
    text = (tmp_path / "groups.csv").read_text()
    assert "\n'=cmd|' /C calc'!A0,'=cmd" in text and "\n'@SUM(A1),'@SUM(A1)\n" in text
    assert "\n-1,-1\n" in text and "\n-0.5e3,-0.5e3\n" in text  # numbers stay numbers
    for value in HOSTILE_IDS:
        assert cell(neutralise(value)) == value
    assert neutralise(-0.25) == -0.25  # numbers are never touched
    written = csv_bytes(["score"], [(-0.25,), ("-0.250000",)]).decode()
    assert written == "score\n-0.25\n-0.250000\n"


def test_the_preview_export_neutralises_as_the_csv_writer_does(tmp_path):
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    from similar.preview import render

    render(
        [{"reference": {"id": "a", "url": None}, "neighbours": []}],
        tmp_path,
        per_page=5,
        min_score=-1,
        thumbs={},
        title="t",
    )
    html = (tmp_path / "index.html").read_text()
    start = html.index("  var FORMULA_START")
    end = html.index("  function csvField")
    script = (
        html[start:end] + f"console.log(JSON.stringify({json.dumps(HOSTILE_IDS)}.map(neutral)));"
    )
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [neutralise(i) for i in HOSTILE_IDS]


def test_the_embedded_store_replaces_only_its_own_folder(tmp_path):
    from similar.search.store.edge import EdgeStore

    theirs = tmp_path / "store/onit"
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("mine")
    with EdgeStore(tmp_path / "store", "onit") as store:
        with pytest.raises(UserError, match="'paths.store' names a folder that this project"):
            store.recreate(4)
    assert tree(theirs) == {"notes.txt": b"mine"}
    with EdgeStore(tmp_path / "store", "fresh") as store:  # its own folder is replaced
        for _ in range(2):
            store.recreate(4)
            store.upsert(["a"], [[1.0, 0, 0, 0]], [None])
            store.commit({"n": 1})
    assert (tmp_path / "store/fresh/loaded.json").is_file()


def test_the_iiif_csv_reads_ids_as_the_csv_writer_wrote_them(tmp_path):
    from similar.iiif.links import read_iiif_csv

    rows = [(i, f"https://x.org/{n}") for n, i in enumerate(HOSTILE_IDS) if i]
    write_bytes(tmp_path / "iiif.csv", csv_bytes(["id", "iiif_url"], rows))
    assert read_iiif_csv(tmp_path / "iiif.csv", "id", "iiif_url", written_here=True) == dict(rows)
