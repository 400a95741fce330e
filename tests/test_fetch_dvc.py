"""End to end: with `data.fetch: true`, `dvc repro` fetches from the IIIF reference server on
127.0.0.1 and runs everything; a second run is clean and asks the server nothing."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project
from iiif_server import BOX, iiif_server
from test_fetch_iiif import read_rows

from tools.sample import build


def sh(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.mark.e2e
def test_dvc_repro_fetches_then_a_rerun_is_clean_and_asks_nothing(tmp_path):
    proj = copy_project(tmp_path / "project")
    build(tmp_path / "sample", pictures=4)
    pages = tmp_path / "pages"
    pages.mkdir()
    from PIL import Image

    rows = read_rows(tmp_path / "sample/iiif.csv")
    for row in rows:
        x, y, w, h = (int(v) for v in BOX.search(row["iiif_url"]).groups())
        (found,) = (tmp_path / "sample/images").rglob(f"{row['id']}.jpg")
        page = Image.new("RGB", (x + w + 31, y + h + 17), (250, 246, 235))
        page.paste(Image.open(found).convert("RGB"), (x, y))
        page.save(pages / f"{row['id']}.png")
    server = iiif_server(pages, "2.1")
    try:
        with open(proj / "links.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "iiif_url"])
            for row in rows:
                box = ",".join(BOX.search(row["iiif_url"]).groups())
                writer.writerow([row["id"], f"{server.url}/{row['id']}/{box}/full/0/default.jpg"])
        (proj / "queries.txt").write_text(f"{rows[0]['id']}\n")
        (proj / "groups.csv").write_text("id,group\n")
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "DVC_NO_ANALYTICS": "1",
        }
        py = sys.executable
        sh(
            [
                py,
                "-m",
                "tools.set_params",
                "data.fetch=true",
                "data.images=data/fetched",
                "data.iiif_csv=links.csv",
                "data.queries=queries.txt",
                "data.groups=groups.csv",
                "fetch.size=!256,256",
                "embed.weights=random",
                "embed.model=efficientnet_b0",
                "embed.image_size=64",
                "reduce.n_components=8",
                "verify.workers=1",
            ],
            proj,
            env,
        )
        sh(["git", "init", "-q", "-b", "main"], proj, env)
        sh(["git", "add", "-A"], proj, env)
        sh(["git", "commit", "-qm", "init"], proj, env)
        out = sh([py, "-m", "dvc", "repro"], proj, env)
        for stage in ("fetch", "embed", "attach_iiif", "verify", "groups", "preview"):
            assert f"Running stage '{stage}'" in out
        assert server.requests == len(rows)
        index = read_rows(proj / "data/embeddings/images.csv")
        assert sorted(r["id"] for r in index) == sorted(r["id"] for r in rows)
        vectors = (proj / "data/vectors/vectors.jsonl").read_text()
        assert server.url in vectors  # attach_iiif took the links from the fetched folder

        assert "up to date" in sh([py, "-m", "dvc", "status"], proj, env)
        sh([py, "-m", "dvc", "repro"], proj, env)
        sh([py, "-m", "dvc", "repro", "-f", "--single-item", "fetch"], proj, env)
        assert server.requests == len(rows)  # neither rerun asked anything
        assert "up to date" in sh([py, "-m", "dvc", "status"], proj, env)
    finally:
        server.stop()
