"""`dvc repro` run directly never deletes a folder this project did not write: the stages whose
output is a folder declare it `persist`, so DVC leaves it in place and the stage refuses it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_FILES, copy_project

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "DVC_NO_ANALYTICS": "1",
}
FOLDER_OUTS = {"fetch": "paths.fetched", "preview": "paths.preview", "publish": "paths.iiif"}


def sh(args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)


def tree(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_every_folder_output_is_kept_for_its_stage_to_judge():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, param in FOLDER_OUTS.items():
        (out,) = [o for o in stages[stage]["outs"] if param in str(o)]
        assert isinstance(out, dict), (stage, out)
        assert out[f"${{{param}}}"].get("persist") is True, (stage, out)
    # every stage that publishes a folder through atomic_dir is listed above
    users = {p.stem for p in (ROOT / "stages").glob("*.py") if "atomic_dir" in p.read_text()}
    assert users | {"preview"} == set(FOLDER_OUTS)


@pytest.fixture
def dvc_project(tmp_path):
    proj = copy_project(tmp_path / "p")
    (proj / "links.csv").write_text("id,iiif_url\n")
    py = sys.executable
    assert sh([py, "-m", "tools.set_params", "data.iiif_csv=links.csv"], proj).returncode == 0
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        assert sh(["git", *args], proj).returncode == 0
    docs = proj / "mydocs"  # not in git: DVC refuses what git tracks, not this
    (docs / "sub").mkdir(parents=True)
    (docs / "notes.txt").write_text("three years of notes\n")
    (docs / "sub/chapter1.tex").write_text("\\chapter{One}\n")
    return proj


@pytest.mark.slow
def test_dvc_repro_refuses_a_users_folder_and_deletes_nothing(dvc_project):
    project = dvc_project
    docs = tree(project / "mydocs")
    py = sys.executable
    assert sh([py, "-m", "tools.set_params", "paths.fetched=mydocs"], project).returncode == 0
    proc = sh([py, "-m", "dvc", "repro", "--single-item", "fetch"], project)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "mydocs: 'paths.fetched' names a folder that this project did not write" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(project / "mydocs") == docs

    # its own folder: written, then replaced by a rerun, and reported clean
    assert sh([py, "-m", "tools.set_params", "paths.fetched=data/fetched"], project).returncode == 0
    for _ in range(2):
        proc = sh([py, "-m", "dvc", "repro", "-f", "--single-item", "fetch"], project)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    written = tree(project / "data/fetched")
    assert set(written) == {".similar-output", "iiif.csv", "failed.csv"}
    assert "up to date" in sh([py, "-m", "dvc", "status", "fetch"], project).stdout
    assert tree(project / "mydocs") == docs


def test_dvc_repro_of_the_preview_refuses_a_users_folder(pipeline):
    """The stages run, then `dvc repro` of the preview alone with paths.preview on mydocs."""
    root = pipeline.root
    for rel in PROJECT_FILES:
        src, dst = ROOT / rel, root / rel
        if rel == "params.yaml" or not src.exists():
            continue  # the run's own params stay
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        assert sh(["git", *args], root).returncode == 0
    docs = root / "mydocs"
    (docs / "sub").mkdir(parents=True)
    (docs / "notes.txt").write_text("three years of notes\n")
    (docs / "sub/chapter1.tex").write_text("\\chapter{One}\n")
    before = tree(docs)
    pipeline.set("paths.preview", "mydocs")
    proc = sh([sys.executable, "-m", "dvc", "repro", "--single-item", "preview"], root)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "mydocs: 'paths.preview' names a folder that this project did not write" in proc.stderr
    assert tree(docs) == before
