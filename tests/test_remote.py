"""Sharing results through a DVC remote: a colleague pulls vectors instead of recomputing."""

import functools
import http.server
import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest
from conftest import copy_project
from iiif_server import LocalServer
from test_pipeline_dvc import sh

VENV = Path(sys.executable).resolve().parent.parent
REFS = ["iiif.csv", "queries.txt", "groups.csv"]


pytestmark = pytest.mark.e2e  # DVC runs of a whole project


def make(target, cwd, env, *extra):
    return sh(["make", "--no-print-directory", target, f"VENV={VENV}", *extra], cwd, env)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A researcher's repo: images outside git, results pushed to a local-folder remote."""
    base = tmp_path_factory.mktemp("remote")
    repo = copy_project(base / "origin")
    env = {
        **os.environ,
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    py = sys.executable
    sh([py, "-m", "tools.sample", "--out", "collection", "--pictures", "12"], repo, env)
    (repo / "refs").mkdir()
    for name in REFS:
        shutil.move(repo / "collection" / name, repo / "refs" / name)
    with open(repo / ".gitignore", "a") as fh:
        fh.write("/collection/\n")
    sh(
        [
            py,
            "-m",
            "tools.set_params",
            "embed.weights=random",
            "reduce.n_components=32",
            "data.images=collection/images",
            "data.iiif_csv=refs/iiif.csv",
            "data.queries=refs/queries.txt",
            "data.groups=refs/groups.csv",
        ],
        repo,
        env,
    )
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    make("all", repo, env)
    sh(["dvc", "remote", "add", "-d", "shared", str(base / "storage")], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "results"], repo, env)
    make("push", repo, env)
    return base, repo, env


def colleague(origin, name, remote_url=None):
    base, repo, env = origin
    clone = base / name
    sh(["git", "clone", "-q", str(repo), str(clone)], base, env)
    assert not (clone / "collection").exists()
    if remote_url:
        sh(["dvc", "remote", "add", "-d", "-f", "shared", remote_url], clone, env)
    return clone


def test_pull_vectors_then_all_runs_only_downstream(origin):
    base, repo, env = origin
    clone = colleague(origin, "colleague")
    make("pull-vectors", clone, env)
    assert (clone / "data/vectors/vectors.jsonl").is_file()
    assert not (clone / "data/embeddings/vectors.npy").exists()
    out = make("all", clone, env)
    assert "Running stage 'embed'" not in out and "Running stage 'reduce'" not in out
    assert "Running stage 'ingest'" in out  # into this machine's own store
    assert (clone / "data/neighbours/neighbours.json").read_bytes() == (
        repo / "data/neighbours/neighbours.json"
    ).read_bytes()
    assert_query_side_clean(clone, env)

    # a parameter downstream of embed reruns only what depends on it
    sh([sys.executable, "-m", "tools.set_params", "bulk_query.limit=20"], clone, env)
    out = make("all", clone, env)
    assert "Running stage 'bulk_query'" in out
    for stage in ("embed", "reduce", "attach_iiif", "ingest"):
        assert f"Running stage '{stage}'" not in out


def assert_query_side_clean(clone, env, pulled_everything=False):
    """Everything that can run here is up to date; only the stages that bring or need the
    image folder (which this clone does not have), or their outputs, report missing inputs."""
    stages = ["ingest", "bulk_query", "graph"] + (["preview"] if pulled_everything else [])
    assert "up to date" in sh(["dvc", "status", *stages], clone, env)
    stale = set(json.loads(sh(["dvc", "status", "--json"], clone, env)))
    need_images = {"fetch", "embed", "reduce", "attach_iiif", "verify", "groups", "preview"}
    assert stale <= need_images | {"publish"}  # publish draws its regions from the images too


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_pull_everything_over_http(origin):
    base, repo, env = origin
    handler = functools.partial(_Quiet, directory=str(base / "storage"))
    server = LocalServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clone = colleague(origin, "over-http", f"http://127.0.0.1:{server.server_address[1]}")
        make("pull", clone, env)
    finally:
        server.shutdown()
        server.server_close()
    assert (clone / "data/neighbours/neighbours.json").read_bytes() == (
        repo / "data/neighbours/neighbours.json"
    ).read_bytes()
    assert (clone / "data/vectors/vectors.jsonl").read_bytes() == (
        repo / "data/vectors/vectors.jsonl"
    ).read_bytes()
    out = make("all", clone, env)
    # everything was pulled: only this machine's own store is loaded
    assert [line for line in out.splitlines() if line.startswith("Running stage")] == [
        "Running stage 'ingest':"
    ]
    assert (clone / "data/preview/index.html").is_file()
    assert_query_side_clean(clone, env, pulled_everything=True)
