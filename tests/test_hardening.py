"""A hostile or unlucky user: injected shell, another revision's store, two processes on one store,
I/O and encoding failures, odd params. Each ends in one clear line, never a wrong answer."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import copy_project, fill_up, real_photo, run_stage, tmpfs, venv_stub

from similar import parameters
from similar.errors import UserError, os_error_message

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "x`touch PWNED1`$(touch PWNED2)$(shell touch PWNED3)\"'; touch PWNED4 #"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run_module(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=ENV, capture_output=True, text=True
    )


def run_in_process(module: str, capsys) -> subprocess.CompletedProcess:
    """An entry point's main run here, through the one error convention, as its process would
    run it (in the current folder): exit status and output, without a process's start-up."""
    import importlib

    from similar.errors import run

    main = importlib.import_module(module).main
    capsys.readouterr()
    code = 0
    try:
        run(main)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess([module], code, out.out, out.err)


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


# ---------------------------------------------------------------- 0. make and the shell


@pytest.mark.slow
@pytest.mark.parametrize(
    "target,assignments",
    [
        ("search", [f"IMAGE={HOSTILE}"]),
        ("search", ["IMAGE=plate.jpg", f"LIMIT={HOSTILE}"]),
        ("search", ["IMAGE=plate.jpg", f"JSON={HOSTILE}"]),
        ("search", ["IMAGE=plate.jpg", f"REGION={HOSTILE}"]),
        ("compare", [f"A={HOSTILE}", "B=workspace"]),
        ("compare", ["A=HEAD", f"B={HOSTILE}"]),
        ("compare", ["A=HEAD", "B=workspace", f"K={HOSTILE}"]),
        ("metrics", [f"A={HOSTILE}"]),
        ("metrics", ["A=workspace", f"B={HOSTILE}"]),
        ("plots", [f"A={HOSTILE}"]),
        ("all", [f"WEIGHTS={HOSTILE}"]),
        ("all", [f"MODEL={HOSTILE}"]),
        ("db-up", [f"DB_URL={HOSTILE}"]),
        ("bench", [f"SCALE={HOSTILE}"]),
    ],
)
def test_make_targets_never_run_what_a_value_holds(tmp_path, target, assignments):
    proj = copy_project(tmp_path / "p")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"]["images"] = "nowhere"
    params["qdrant"]["url"] = "http://127.0.0.1:9"  # make all stops at db-up: no Docker here
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    venv = venv_stub(tmp_path / "venv")
    proc = subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}", *assignments],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not list(proj.glob("PWNED*")), proc.stdout + proc.stderr
    assert not list(Path.cwd().glob("PWNED*"))
    assert proc.returncode != 0  # every one of these values is refused
    if target == "all" and assignments[0].startswith("WEIGHTS="):
        # the value arrived whole, as text, and was refused before it landed
        assert f"'embed.weights' {HOSTILE!r} is neither" in proc.stderr
        assert yaml.safe_load((proj / "params.yaml").read_text())["embed"]["weights"] != HOSTILE
    if target == "all" and assignments[0].startswith("MODEL="):
        assert yaml.safe_load((proj / "params.yaml").read_text())["embed"]["model"] != HOSTILE


# ---------------------------------------------------------------- 1. another revision's store


def test_store_holding_another_revisions_vectors_is_refused_then_reloaded(pipeline):
    root = pipeline.root
    old = {
        p: (root / p).read_bytes()
        for p in ("data/ingest/receipt.json", "data/vectors/vectors.jsonl")
    }
    pipeline.set("bulk_query.engine", "store")  # a reader of the store (product mode reads files)
    run_stage("bulk_query")
    before = (root / "data/neighbours/neighbours.json").read_bytes()
    pipeline.set("reduce.whiten", True)
    for stage in ("reduce", "attach_iiif", "ingest"):
        run_stage(stage)
    # back to the committed revision's receipt and vectors (git checkout + dvc checkout)
    pipeline.set("reduce.whiten", False)
    for p, data in old.items():
        (root / p).write_bytes(data)
    with pytest.raises(UserError, match=r"collection 'onit' holds another revision's vectors"):
        run_stage("bulk_query")
    from tools.make_all import store_state

    assert store_state(parameters.load()) == "reload"
    run_stage("ingest")  # what make all does for "reload"
    run_stage("bulk_query")
    assert (root / "data/neighbours/neighbours.json").read_bytes() == before


def test_search_refuses_another_revisions_store(pipeline, tmp_path):
    from tools.search import search

    receipt = pipeline.root / "data/ingest/receipt.json"
    data = json.loads(receipt.read_text())
    data["fingerprint"] = "sha256:" + "0" * 64
    receipt.write_text(json.dumps(data))
    shutil.copy(pipeline.root / "images/book_a/rocket.jpg", tmp_path / "r.jpg")
    with pytest.raises(UserError, match="another revision's vectors"):
        search(tmp_path / "r.jpg", 3, parameters.load())


def test_server_collection_keeps_its_stamp_in_its_metadata(pipeline, tmp_path):
    pipeline.set("qdrant.url", f"local:{tmp_path / 'q'}")
    run_stage("ingest")
    from similar.search.store import store_for

    receipt = json.loads((pipeline.root / "data/ingest/receipt.json").read_text())
    with store_for(parameters.load()) as store:
        assert store.stamp() == {"fingerprint": receipt["fingerprint"], "count": 12, "dim": 4}
    receipt["fingerprint"] = "sha256:" + "1" * 64
    (pipeline.root / "data/ingest/receipt.json").write_text(json.dumps(receipt))
    pipeline.set("bulk_query.engine", "store")
    with pytest.raises(UserError, match="another revision's vectors"):
        run_stage("bulk_query")


# ---------------------------------------------------------------- 2. one process at a time

HOLD = (
    "import sys, time\nfrom similar import parameters\nfrom similar.search.store import store_for\n"
    "s = store_for(parameters.load())\ns.count()\nprint('held', flush=True)\ntime.sleep(60)"
)


@pytest.fixture
def held_store(pipeline):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], cwd=pipeline.root, env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    pipeline.set("qdrant.lock_timeout", 0.3)
    yield pipeline
    holder.kill()
    holder.wait()


def test_search_while_another_process_holds_the_store_is_one_line(held_store, tmp_path):
    shutil.copy(held_store.root / "images/book_a/rocket.jpg", tmp_path / "r.jpg")
    proc = run_module("tools.search", str(tmp_path / "r.jpg"), cwd=held_store.root)
    one_line_error(proc, "data/qdrant/onit", "in use by pid", "qdrant.lock_timeout")
    held_store.set("bulk_query.engine", "store")
    proc = run_module("stages.bulk_query", cwd=held_store.root)
    one_line_error(proc, "in use by pid")


def test_two_ingests_at_once_take_turns(pipeline):
    stale = pipeline.root / "data/qdrant/.onit.99999999.leftover.tmp"
    stale.mkdir(parents=True)
    pipeline.set("qdrant.lock_timeout", 120)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stages.ingest"],
            cwd=pipeline.root,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert not stale.exists()
    assert [
        p.name for p in (pipeline.root / "data/qdrant").iterdir() if p.name != ".onit.lock"
    ] == ["onit"]
    run_stage("bulk_query")


# ---------------------------------------------------------------- 3. I/O and encoding


def test_os_errors_become_one_line_with_the_fix():
    for code, words in [
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only"),
        (errno.ENAMETOOLONG, "too long"),
    ]:
        msg = os_error_message(OSError(code, os.strerror(code), "data/neighbours/x.json"))
        assert msg.startswith("data/neighbours/x.json: ") and words in msg
    assert os_error_message(OSError(errno.ECONNRESET, "reset")) is None  # not the user's to fix


def test_immutable_output_folder(pipeline):
    folder = pipeline.root / "data/neighbours"
    before = (folder / "neighbours.json").read_bytes()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not permitted here")
    try:
        proc = run_module("stages.bulk_query", cwd=pipeline.root)
    finally:
        subprocess.run(["chattr", "-i", str(folder)])
    one_line_error(proc, "data/neighbours", "not permitted", "chattr -i")
    assert (folder / "neighbours.json").read_bytes() == before


def test_full_disk(pipeline, tmp_path):
    with tmpfs(tmp_path / "full") as mnt:
        fill_up(mnt)
        pipeline.set("paths.neighbours", str(mnt / "neighbours.json"))
        proc = run_module("stages.bulk_query", cwd=pipeline.root)
        one_line_error(proc, "no space left")
        assert [p.name for p in mnt.iterdir()] == ["filler"]  # nothing half-written left


@pytest.mark.parametrize("bad", ["file_in_the_way", "too_long"])
def test_output_path_the_system_refuses(pipeline, bad):
    (pipeline.root / "blocker").write_text("a file, not a folder")
    target = (
        "blocker/neighbours.json" if bad == "file_in_the_way" else "data/" + "n" * 300 + ".json"
    )
    pipeline.set("paths.neighbours", target)
    proc = run_module("stages.bulk_query", cwd=pipeline.root)
    one_line_error(proc, "fix the path" if bad == "file_in_the_way" else "too long")


@pytest.mark.parametrize("which", ["iiif_csv", "queries", "params"])
def test_latin1_text_files_name_the_byte(pipeline, which):
    root = pipeline.root
    latin1 = "id,iiif_url\nastronaut,https://x.org/caf\xe9\n".encode("latin-1")
    stage = "attach_iiif"
    if which == "iiif_csv":
        (root / "iiif.csv").write_bytes(latin1)
        needle = "iiif.csv: not UTF-8 (byte 39: 0xe9)"
    elif which == "queries":
        (root / "queries.txt").write_bytes("astronaut\nros\xe9\n".encode("latin-1"))
        stage, needle = "bulk_query", "queries.txt: not UTF-8 (byte 13: 0xe9)"
    else:
        text = (root / "params.yaml").read_text() + "# caf\xe9\n"
        (root / "params.yaml").write_bytes(text.encode("latin-1"))
        needle = "params.yaml: not UTF-8"
    one_line_error(run_module(f"stages.{stage}", cwd=root), needle, "UTF-8")


# ---------------------------------------------------------------- 4. the one settings loader


@pytest.mark.slow
def test_yaml_error_in_params_is_one_line_from_make_all(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  images: [unclosed\n")
    one_line_error(run_module("tools.pipeline", "all", cwd=tmp_path), "params.yaml: not valid YAML")
    one_line_error(
        run_module("tools.set_params", "embed.seed=1", cwd=tmp_path), "params.yaml: not valid YAML"
    )


# ---------------------------------------------------------------- 5-8. embed


def zoo(root: Path) -> None:
    import io

    jpeg = io.BytesIO()
    real_photo("rocket", size=96).save(jpeg, "JPEG")
    (root / "images" / "broken.jpg").write_bytes(b"")
    (root / "images" / "text.jpg").write_text("not an image")
    (root / "images" / "half.jpg").write_bytes(jpeg.getvalue()[:300])
    (root / "images" / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)


def test_failed_csv_is_the_same_every_run(small_collection):
    zoo(small_collection.root)
    run_stage("embed")
    failed = small_collection.root / "data/embeddings/failed.csv"
    first = failed.read_bytes()
    assert b" at 0x" not in first and first.count(b"\n") == 5
    run_stage("embed")
    assert failed.read_bytes() == first


def test_stale_temporary_files_are_removed_and_ignored_by_git(small_collection):
    folder = small_collection.root / "data/embeddings"
    folder.mkdir(parents=True)
    stale = folder / ".vectors.npy.99999999.abcd.raw.tmp"
    stale.write_bytes(b"left by kill -9")
    mine = folder / f".vectors.npy.{os.getpid()}.live.raw.tmp"  # a live process's: kept
    mine.write_bytes(b"")
    run_stage("embed")
    assert not stale.exists() and mine.exists()
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "data/embeddings/.vectors.npy.123.x.raw.tmp"],
        cwd=ROOT,
    )
    assert ignored.returncode == 0


def test_max_pixels_applies_to_cached_images_too(small_collection):
    for name in ("coins", "moon"):
        real_photo(name, size=40).save(small_collection.root / "images" / f"small_{name}.jpg")
    small_collection.set("paths.embed_cache", ".cache/embed")
    run_stage("embed")  # everything cached
    small_collection.set("embed.max_pixels", 5000)  # the 256x256 photos are 65536 pixels
    run_stage("embed")
    cached = (small_collection.root / "data/embeddings/failed.csv").read_bytes()
    assert cached.count(b"too large: 256x256 pixels exceeds embed.max_pixels=5000") == 12
    small_collection.set("paths.embed_cache", "")
    run_stage("embed")
    assert (small_collection.root / "data/embeddings/failed.csv").read_bytes() == cached


@pytest.mark.slow
def test_no_decodable_image_changes_no_output(small_collection):
    root = small_collection.root
    run_stage("embed")
    outputs = {p: p.read_bytes() for p in (root / "data/embeddings").iterdir()}
    shutil.rmtree(root / "images")
    (root / "images").mkdir()
    zoo(root)
    proc = run_module("stages.embed", cwd=root)
    one_line_error(proc, "none of the 4 images could be decoded", "nothing was written")
    assert {p: p.read_bytes() for p in (root / "data/embeddings").iterdir()} == outputs


# ---------------------------------------------------------------- 9-10. params and smaller ones


def test_patterns_as_one_string_is_one_pattern():
    s = parameters.from_mapping({"data": {"patterns": "*.jpg"}})
    assert s.data.patterns == ("*.jpg",)
    with pytest.raises(UserError, match="'data.patterns' must be a list"):
        parameters.from_mapping({"data": {"patterns": [1, 2]}})


def test_sizes_have_sensible_bounds(project, capsys):
    project.set("embed.image_size", 100000)
    one_line_error(
        run_in_process("stages.embed", capsys),
        "'embed.image_size' must be at most 2048, got 100000",
    )


def test_unknown_group_or_key_names_the_closest(project, capsys):
    project.values["bulk_qeury"] = {"limit": 5}
    project.write()
    one_line_error(
        run_in_process("stages.reduce", capsys),
        "unknown parameter 'bulk_qeury'; did you mean 'bulk_query'",
    )


def test_no_reference_in_the_collection_is_an_error(pipeline):
    (pipeline.root / "queries.txt").write_text("ghost\nphantom\n")
    one_line_error(
        run_module("stages.bulk_query", cwd=pipeline.root),
        "queries.txt: none of its 2 reference ids is in the collection",
    )


def test_review_csv_cells_are_neutralised_and_read_back():
    from similar.files import cell, neutralise

    for text in ["=1+2", "+x", "-1", "@SUM(A1)", "'quoted", "plain", "'", "a=b"]:
        assert cell(neutralise(text)) == text
    assert neutralise("=1+2") == "'=1+2" and neutralise("plain") == "plain"


def test_review_export_reads_back_as_ground_truth(tmp_path):
    from similar.groundtruth import read_groups

    f = tmp_path / "marks.csv"
    f.write_text("reference,neighbour,match\n'=1+2,b,1\nb,'@c,1\nx,y,0\n")
    assert read_groups(f) == {"=1+2": "=1+2", "b": "=1+2", "@c": "=1+2"}


def test_preview_says_when_it_dropped_an_unsafe_url(tmp_path):
    from similar.preview import render

    render(
        [
            {"reference": {"id": "a", "url": "javascript:alert(1)"}, "neighbours": []},
            {"reference": {"id": "b", "url": None}, "neighbours": []},
        ],
        tmp_path,
        per_page=10,
        min_score=-1,
        thumbs={},
        title="t",
    )
    html = (tmp_path / "index.html").read_text()
    assert "IIIF URL not linked: not http(s)" in html and "no IIIF URL" in html
    assert "javascript:" not in html


def test_compose_runs_unprivileged_with_limits():
    svc = yaml.safe_load((ROOT / "database/docker-compose.yml").read_text())["services"]["qdrant"]
    assert svc["image"].endswith("-unprivileged")
    assert svc["deploy"]["resources"]["limits"]["memory"] and svc["pids_limit"] > 0
    assert "ALL" in svc["cap_drop"]
