"""What `make all` decides (tools/pipeline.py), for every kind of clone, without running DVC."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from similar import parameters
from similar.errors import StoreBusy
from tools import pipeline
from tools.pipeline import Facts, decide

ROOT = Path(__file__).resolve().parent.parent


def facts(**kw):
    base = dict(
        uses_sample=False, sample_current=True, local_server="", store="ok", images_present=True
    )
    return Facts(**{**base, **kw})


def test_a_fresh_sample_clone_builds_the_sample_then_runs_everything():
    assert decide(facts(uses_sample=True, sample_current=False, store="none")) == [
        ("sample",),
        ("dvc", "repro"),
    ]


def test_a_store_that_lost_its_data_is_reloaded_before_repro():
    assert decide(facts(store="reload")) == [("reload_store",), ("dvc", "repro")]


def test_a_clone_without_images_runs_only_the_query_side():
    steps = decide(facts(images_present=False, store="none"))
    assert steps[-1] == ("query_side",)
    assert not [s for s in steps if s[0] == "dvc"]


def test_a_local_server_is_started_and_then_checked():
    steps = decide(facts(local_server="http://127.0.0.1:6400", store="unknown"))
    assert steps == [("db_up", "http://127.0.0.1:6400"), ("check_store",), ("dvc", "repro")]


def test_local_server_url_only_for_this_machine():
    def url(value):
        return pipeline.local_server_url(parameters.from_mapping({"qdrant": {"url": value}}))

    assert url("http://127.0.0.1:6400") == "http://127.0.0.1:6400"
    assert url("http://localhost:6333/") == "http://localhost:6333"
    assert url("https://qdrant.example.org:6333") == ""
    assert url("") == "" and url("local:/tmp/q") == ""


def test_compose_gets_the_port_of_qdrant_url_and_the_key_only_when_set(monkeypatch):
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    env = pipeline.compose_env("http://127.0.0.1:6400")
    assert env["QDRANT_PORT"] == "6400" and "QDRANT__SERVICE__API_KEY" not in env
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    assert pipeline.compose_env("http://localhost")["QDRANT__SERVICE__API_KEY"] == "s3cret"
    assert pipeline.compose_env("http://localhost")["QDRANT_PORT"] == "6333"


def test_store_state_tells_missing_from_matching_from_stale(pipeline):
    s = parameters.load()
    assert pipeline_state(s) == "ok"
    import shutil

    shutil.rmtree(pipeline.root / "data/qdrant")
    assert pipeline_state(s) == "reload"
    (pipeline.root / "data/ingest/receipt.json").unlink()
    assert pipeline_state(s) == "none"


def pipeline_state(s):
    return pipeline.store_state(s)


def test_a_busy_store_is_an_error_never_a_reload(pipeline):
    """Another process holds the embedded store: make all stops with one line."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom similar import parameters\nfrom similar.store import "
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
