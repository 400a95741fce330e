"""Server mode: the compose file, the Make targets, and the pipeline through qdrant-client."""

import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from conftest import copy_project, run_stage, venv_stub
from iiif_server import LocalServer

from similar import errors as cfg
from similar import parameters
from similar.search.engine import search_mode
from similar.search.store import collection_name
from similar.search.store.client import ClientStore
from similar.settings import StoreTarget

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_pins_loopback_and_volume():
    compose = yaml.safe_load((ROOT / "database/docker-compose.yml").read_text())
    svc = compose["services"]["qdrant"]
    image, tag = svc["image"].split(":")
    assert image == "qdrant/qdrant" and tag.startswith("v") and tag != "latest"
    assert sorted(svc["ports"]) == [
        "127.0.0.1:${QDRANT_GRPC_PORT:-6334}:6334",
        "127.0.0.1:${QDRANT_PORT:-6333}:6333",
    ]
    volume, mount = svc["volumes"][0].split(":")
    assert volume in compose["volumes"] and mount == "/qdrant/storage"
    assert "healthcheck" in svc and svc["restart"] in ("unless-stopped", "always")
    assert "QDRANT__SERVICE__API_KEY" in svc["environment"]  # passed through, never a value


@pytest.mark.slow
def test_db_targets_say_one_clear_line_without_docker(tmp_path):
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker engine runs here")
    project = copy_project(tmp_path / "p")
    venv = venv_stub(tmp_path / "venv")
    for target in ("db-up", "db-status", "db-down", "db-logs"):
        proc = subprocess.run(
            ["make", "-s", target, f"VENV={venv}"], cwd=project, capture_output=True, text=True
        )
        assert proc.returncode != 0
        assert f"{target}: no Docker engine is running" in proc.stderr


def test_whole_pipeline_on_client_local_mode_matches_edge(pipeline, tmp_path):
    root = pipeline.root
    pipeline.set("bulk_query.engine", "store")  # both searches by the store itself
    run_stage("bulk_query")
    edge = json.loads((root / "data/neighbours/neighbours.json").read_text())
    pipeline.set("qdrant.url", f"local:{tmp_path / 'qdrant-local'}")
    run_stage("ingest")
    receipt = json.loads((root / "data/ingest/receipt.json").read_text())
    assert receipt["backend"] == "local"
    run_stage("bulk_query")
    client = json.loads((root / "data/neighbours/neighbours.json").read_text())
    assert len(client) == len(edge)
    for a, b in zip(edge, client):
        assert a["reference"] == b["reference"]
        assert [n["id"] for n in a["neighbours"]] == [n["id"] for n in b["neighbours"]]
        for x, y in zip(a["neighbours"], b["neighbours"]):
            assert abs(x["score"] - y["score"]) <= 1e-5


def test_switching_backend_without_ingest_is_caught(pipeline, tmp_path):
    pipeline.set("qdrant.url", f"local:{tmp_path / 'empty'}")
    pipeline.set("bulk_query.engine", "store")  # the product reads the vectors, not the store
    with pytest.raises(cfg.UserError, match="dvc repro -f ingest"):
        run_stage("bulk_query")


def test_unreachable_server_is_one_clear_error(pipeline, capfd):
    pipeline.set("qdrant.url", "http://127.0.0.1:9")
    with pytest.raises(cfg.UserError) as err:
        run_stage("ingest")
    assert "cannot reach Qdrant at http://127.0.0.1:9" in str(err.value)
    assert "make db-up" in str(err.value)


class _Refuse(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": {"error": "Must provide an API key"}}')

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, *args):
        pass


def test_refused_api_key_names_the_variable():
    server = LocalServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = ClientStore(StoreTarget.parse(f"http://127.0.0.1:{server.server_address[1]}"), "c")
        with pytest.raises(cfg.UserError, match="QDRANT_API_KEY"):
            store.count()
    finally:
        server.shutdown()


def test_experiments_get_their_own_server_collection(monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "tidy-fish")
    server = StoreTarget.parse("http://qdrant:6333")
    assert collection_name("onit", server) == "onit-tidy-fish"
    assert (
        collection_name("onit", StoreTarget.parse("")) == "onit"
    )  # the embedded store is per workspace
    monkeypatch.delenv("DVC_EXP_NAME")
    assert collection_name("onit", server) == "onit"


def test_bulk_query_uses_the_collection_the_receipt_names(pipeline, tmp_path, monkeypatch):
    pipeline.set("qdrant.url", f"local:{tmp_path / 'q'}")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-a")
    run_stage("ingest")
    assert (
        json.loads((pipeline.root / "data/ingest/receipt.json").read_text())["collection"]
        == "onit-exp-a"
    )
    monkeypatch.delenv("DVC_EXP_NAME")
    pipeline.set("bulk_query.engine", "store")
    run_stage("bulk_query")  # finds onit-exp-a through the receipt


def test_search_mode_auto():
    def mode(exact, receipt):
        q = parameters.from_mapping({"bulk_query": {"exact": exact, "hnsw_ef": 64}}).bulk_query
        return search_mode(q, receipt)

    assert mode("auto", {"hnsw_index": False}) == (True, None)
    assert mode("auto", {"hnsw_index": True}) == (False, 64)
    assert mode(False, {"hnsw_index": False}) == (False, 64)
    with pytest.raises(cfg.UserError):
        mode("yes", {})


def test_hnsw_index_only_from_threshold(pipeline):
    receipt = json.loads((pipeline.root / "data/ingest/receipt.json").read_text())
    assert receipt["hnsw_index"] is False  # 12 points < qdrant.hnsw_above
    pipeline.set("qdrant.hnsw_above", 10)
    run_stage("ingest")
    assert json.loads((pipeline.root / "data/ingest/receipt.json").read_text())["hnsw_index"]
    run_stage("bulk_query")
    m = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert m["references"] == 2


def test_hnsw_search_on_edge_keeps_recall(pipeline):
    pipeline.set("bulk_query.exact", False)
    run_stage("bulk_query")
    m = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert m["ann_recall@10"] >= 0.9
