"""What `make all` decides (tools/make_all.py), for every kind of clone, without running DVC."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import copy_project, interruptible, venv_stub

from similar import parameters
from similar.errors import StoreBusy
from tools import make_all, qdrant_server
from tools.make_all import (
    BuildSample,
    CheckStore,
    Facts,
    QuerySide,
    ReloadStore,
    Repro,
    StartServer,
    decide,
)

ROOT = Path(__file__).resolve().parent.parent


def facts(**kw):
    base = dict(
        uses_sample=False, sample_current=True, local_server="", store="ok", images_present=True
    )
    return Facts(**{**base, **kw})


def test_a_fresh_sample_clone_builds_the_sample_then_runs_everything():
    assert decide(facts(uses_sample=True, sample_current=False, store="none")) == [
        BuildSample(),
        Repro(),
    ]


def test_a_store_that_lost_its_data_is_reloaded_before_repro():
    assert decide(facts(store="reload")) == [ReloadStore(), Repro()]


def test_a_clone_without_images_runs_only_the_query_side():
    steps = decide(facts(images_present=False, store="none"))
    assert steps[-1] == QuerySide()
    assert Repro() not in steps


def test_a_local_server_is_started_and_then_checked():
    steps = decide(facts(local_server="http://127.0.0.1:6400", store="unknown"))
    assert steps == [StartServer("http://127.0.0.1:6400"), CheckStore(), Repro()]


def test_local_server_url_only_for_this_machine():
    def url(value):
        return qdrant_server.local_server_url(parameters.from_mapping({"qdrant": {"url": value}}))

    assert url("http://127.0.0.1:6400") == "http://127.0.0.1:6400"
    assert url("http://localhost:6333/") == "http://localhost:6333"
    assert url("https://qdrant.example.org:6333") == ""
    assert url("") == "" and url("local:/tmp/q") == ""


def test_compose_gets_the_port_of_qdrant_url_and_the_key_only_when_set(monkeypatch):
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    env = qdrant_server.compose_env("http://127.0.0.1:6400")
    assert env["QDRANT_PORT"] == "6400" and "QDRANT__SERVICE__API_KEY" not in env
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    assert qdrant_server.compose_env("http://localhost")["QDRANT__SERVICE__API_KEY"] == "s3cret"
    assert qdrant_server.compose_env("http://localhost")["QDRANT_PORT"] == "6333"


def test_store_state_tells_missing_from_matching_from_stale(pipeline):
    s = parameters.load()
    assert pipeline_state(s) == "ok"
    import shutil

    shutil.rmtree(pipeline.root / "data/qdrant")
    assert pipeline_state(s) == "reload"
    (pipeline.root / "data/ingest/receipt.json").unlink()
    assert pipeline_state(s) == "none"


def pipeline_state(s):
    return make_all.store_state(s)


def test_a_busy_store_is_an_error_never_a_reload(pipeline):
    """Another process holds the embedded store: make all stops with one line."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom similar import parameters\nfrom similar.search.store import "
            "store_for\ns = store_for(parameters.load())\ns.count()\nprint('held', flush=True)\n"
            "time.sleep(30)",
        ],
        cwd=pipeline.root,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        pipeline.set("qdrant.lock_timeout", 0.5)
        with pytest.raises(
            StoreBusy, match=r"data/qdrant/onit: the embedded store is in use by pid"
        ):
            pipeline_state(parameters.load())
        proc = subprocess.run(
            [sys.executable, "-m", "tools.pipeline", "all"],
            cwd=pipeline.root,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and "in use by pid" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert pipeline_state(parameters.load()) == "ok"  # nothing was reloaded under the holder


@pytest.fixture
def params_here(tmp_path, monkeypatch):
    """A copy of params.yaml in a folder of its own, as the working directory."""
    (tmp_path / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path / "params.yaml"


def test_a_model_that_ships_its_weights_replaces_random_ones(params_here):
    """`make all WEIGHTS=random`, then `make all MODEL=efficientnet_lite0`: real weights."""
    make_all.write_choices("random", "")
    lines = make_all.write_choices("", "efficientnet_lite0")
    embed = parameters.load().embed
    assert (embed.model, embed.weights) == ("efficientnet_lite0", "imagenet")
    assert lines[0] == "params.yaml: set embed.model='efficientnet_lite0', embed.weights='imagenet'"
    assert "ships its ImageNet weights" in lines[1]


def test_weights_given_with_the_model_win(params_here):
    make_all.write_choices("random", "efficientnet_lite0")
    embed = parameters.load().embed
    assert (embed.model, embed.weights) == ("efficientnet_lite0", "random")


def test_what_stays_is_said(params_here):
    make_all.write_choices("random", "")
    lines = make_all.write_choices("", "efficientnet_b0")  # its weights are downloaded, not shipped
    assert parameters.load().embed.weights == "random"
    assert lines[-1].startswith("params.yaml: keeps embed.weights='random' (what MODEL= or")
    lines = make_all.write_choices("imagenet", "")
    assert "keeps embed.model='efficientnet_b0'" in lines[-1]
    assert make_all.write_choices("", "") == []


@pytest.mark.slow
def test_an_absent_input_file_is_named_with_its_fix_not_blamed_on_fetch(tmp_path):
    """A collection without IIIF: `make all` names data.iiif_csv and the way out."""
    proj = copy_project(tmp_path / "p")
    subprocess.run(
        [sys.executable, "-m", "tools.set_params", "data.iiif_csv=mine/iiif.csv"],
        cwd=proj,
        check=True,
    )
    proc = subprocess.run(
        ["make", "--no-print-directory", "all", f"VENV={venv_stub(tmp_path / 'venv')}"],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert (
        "error: mine/iiif.csv: 'data.iiif_csv' names no file; write the CSV of IIIF links "
        "(id,iiif_url), or, for a collection without IIIF, set data.iiif_csv: "
        "data/no-links.csv" in proc.stderr
    )
    assert "fetch" not in proc.stderr
    assert not (proj / "data/sample").exists()  # the sample is built only for a sample run


def test_the_sample_inputs_are_not_missing_before_the_sample_is_built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parameters.from_mapping({}, "params.yaml")
    assert make_all.missing_inputs(config, Path("data/sample")) == (
        ("data.manifests", "data/manifests.txt"),
    )
    assert make_all.missing_inputs(config, None)[0] == ("data.iiif_csv", "data/sample/iiif.csv")


@pytest.mark.slow
def test_make_all_builds_the_sample_it_needs(tmp_path, monkeypatch, capsys):
    """The step of `make all` that builds the sample collection, run as make runs it."""
    monkeypatch.chdir(tmp_path)
    make_all.BuildSample().run()
    assert (tmp_path / "data/sample/VERSION").is_file()
    make_all.BuildSample().run()
    assert "is up to date" in capsys.readouterr().out


def group_processes(pgid: int) -> dict[int, str]:
    """The live processes of a process group, by pid, with their command lines."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid and " Z " not in (entry / "stat").read_text():
                out[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return out


def semaphores(pids) -> set[str]:
    """The named semaphores (/dev/shm/sem.*) these processes have mapped."""
    out = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        out.update(line.split()[-1] for line in maps.splitlines() if "/dev/shm/sem." in line)
    return out


@pytest.mark.slow
def test_ctrl_c_during_make_all_ends_verify_and_its_workers_with_make(tmp_path):
    """Ctrl-C in a terminal: SIGINT to make's whole process group while the workers of
    verify's pool work. make, DVC, the stage, its workers, fork server and resource tracker
    end within seconds, with one line and no traceback, and the pool's named semaphores are
    unlinked."""
    proj = copy_project(tmp_path / "p")
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    bin_dir = str(Path(sys.executable).parent)  # dvc, as `make all` finds it in .venv
    make = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "all",
            "WEIGHTS=random",
            f"VENV={venv_stub(tmp_path / 'v')}",
        ],
        cwd=proj,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=interruptible,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and make.poll() is None:
            running = group_processes(make.pid).values()
            # the stage and its pool: the fork server and the workers forked from it
            if any("stages.verify" in c for c in running) and (
                sum("forkserver" in c for c in running) >= 2
            ):
                break
            time.sleep(0.2)
        assert make.poll() is None, make.stderr.read()
        time.sleep(1)
        mapped = semaphores(group_processes(make.pid))
        assert mapped  # the pool's queues lock with them
        os.killpg(make.pid, signal.SIGINT)
        stopped = time.monotonic()
        assert make.wait(10) != 0
        while group_processes(make.pid) and time.monotonic() - stopped < 10:
            time.sleep(0.1)
        assert group_processes(make.pid) == {}
        said = make.stderr.read()
        assert "error: interrupted" in said and "Traceback" not in said
        assert not any(Path(name.removesuffix(" (deleted)")).exists() for name in mapped)
    finally:
        if make.poll() is None or group_processes(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
