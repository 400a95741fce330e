"""Every Make target a user has, run through `make` in a copy of the project, as a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project

VENV = Path(sys.executable).resolve().parent.parent


def make(proj: Path, env: dict, target: str, *assignments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={VENV}", *assignments],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{proc.args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def sh(proj: Path, env: dict, *args: str) -> str:
    return ok(subprocess.run(list(args), cwd=proj, env=env, capture_output=True, text=True))


@pytest.mark.e2e
def test_every_user_target_runs_through_make(tmp_path):
    proj = copy_project(tmp_path / "project")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "DVC_NO_ANALYTICS": "1",
    }
    py = sys.executable
    dvc = str(VENV / "bin/dvc")
    sh(proj, env, py, "-m", "tools.sample", "--out", "collection", "--pictures", "6")
    sh(
        proj,
        env,
        py,
        "-m",
        "tools.set_params",
        "embed.model=efficientnet_b0",
        "reduce.n_components=16",
        "data.images=collection/images",
        "data.iiif_csv=collection/iiif.csv",
        "data.queries=collection/queries.txt",
        "data.groups=collection/groups.csv",
    )
    with open(proj / ".gitignore", "a") as fh:
        fh.write("/collection/images/\n")
    sh(proj, env, "git", "init", "-q", "-b", "main")

    assert "make compare" in ok(make(proj, env, "help"))

    ok(make(proj, env, "all", "WEIGHTS=random"))
    neighbours = json.loads((proj / "data/neighbours/neighbours.json").read_text())
    assert (proj / "data/preview/index.html").is_file()
    sh(proj, env, "git", "add", "-A")
    sh(proj, env, "git", "commit", "-qm", "results")

    out = ok(make(proj, env, "compare", "A=HEAD", "B=workspace", "K=5"))
    assert "mean_jaccard@5 1.0000" in out
    assert json.loads((proj / "reports/compare.json").read_text())["mean_jaccard@5"] == 1.0

    reference = neighbours[0]["reference"]["id"]
    image = next((proj / "collection/images").rglob(f"{reference}.jpg"))
    search = make(proj, env, "search", f"IMAGE={image}", "LIMIT=3", "JSON=1")
    ok(search)
    found = json.loads(search.stdout)
    assert found["neighbours"][0]["id"] == reference

    ok(make(proj, env, "bench", "QUICK=1"))
    assert (proj / "reports/bench-quick.json").is_file()

    sh(proj, env, dvc, "remote", "add", "-d", "shared", str(tmp_path / "storage"))
    ok(make(proj, env, "push"))
    vectors = (proj / "data/vectors/vectors.jsonl").read_bytes()
    (proj / "data/vectors/vectors.jsonl").unlink()
    ok(make(proj, env, "pull-vectors"))
    assert (proj / "data/vectors/vectors.jsonl").read_bytes() == vectors

    status = make(proj, env, "db-status")  # this machine may have no Docker engine
    if status.returncode:
        assert "error: db-status: no Docker engine is running" in status.stderr
        assert "Traceback" not in status.stderr

    ok(make(proj, env, "clean"))
    assert not (proj / "data/neighbours/neighbours.json").exists()
    assert not (proj / "data/preview").exists()
    assert (proj / "collection/images").is_dir() and (proj / "params.yaml").is_file()
