"""`make clean` removes the outputs where paths.* puts them, and only what is the project's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project, venv_stub

pytestmark = pytest.mark.slow


def make_clean(proj: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "clean", f"VENV={venv_stub(proj.parent / 'venv')}"],
        cwd=proj,
        env={**os.environ, "PYTHONPATH": str(proj)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_clean_follows_paths_and_keeps_caches_and_what_is_not_ours(tmp_path):
    proj = copy_project(tmp_path / "project")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.set_params",
            "paths.neighbours=elsewhere/lists.json",
            "paths.preview=mydocs",
        ],
        cwd=proj,
        check=True,
    )
    outputs = [
        write(proj / "data/embeddings/vectors.npy"),
        write(proj / "data/groups/groups.csv"),
        write(proj / "elsewhere/lists.json"),  # moved by paths.neighbours
        write(proj / "metrics/verify.json"),
        write(proj / "plots/recall.csv"),
        write(proj / "data/fetched/book/page.jpg"),
        write(proj / ".cache/fetch/ab/cd"),
        write(proj / "reports/bench.json"),
        write(proj / "data/qdrant/onit/x"),
    ]
    stale = write(proj / "data/groups/.groups.csv.99999999.x.tmp")
    kept = [
        write(proj / ".cache/embed/v.npy"),
        write(proj / ".cache/features/f.npz"),
        write(proj / "data/sample/VERSION"),
        write(proj / "data/neighbours/neighbours.json"),  # no longer an output: not touched
        write(proj / "mydocs/notes.txt"),  # paths.preview on a folder this project did not write
        write(proj / "mydocs/sub/chapter1.tex"),
    ]
    proc = make_clean(proj)
    assert proc.returncode == 0, proc.stderr
    assert [p for p in outputs + [stale] if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert "kept mydocs ('paths.preview'): this project did not write it" in proc.stdout
    assert (proj / "data/groups").is_dir()  # the folders of file outputs stay


def test_clean_removes_the_preview_it_wrote_wherever_paths_puts_it(tmp_path):
    proj = copy_project(tmp_path / "project")
    subprocess.run(
        [sys.executable, "-m", "tools.set_params", "paths.preview=pages"], cwd=proj, check=True
    )
    write(proj / "pages/.similar-output")
    write(proj / "pages/index.html")
    proc = make_clean(proj)
    assert proc.returncode == 0, proc.stderr
    assert not (proj / "pages").exists()
