"""Shared fixtures: small real images, and a throw-away project folder with its own params.yaml."""

from __future__ import annotations

import copy
import errno
import os
import shutil
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def interruptible() -> None:
    """A child's `preexec_fn`: SIGINT at its default, as a terminal's foreground job has it.
    A job a script starts in the background inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt, so a test that sends Ctrl-C would wait on it for ever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest_configure(config):
    """Under pytest-xdist (`make test-fast`) the workers are the parallelism: each computes on
    one thread, as a cluster worker does, so that two workers do not fight over two cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import cv2
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"  # for the processes a test starts
        torch.set_num_threads(1)
        cv2.setNumThreads(1)


@contextmanager
def tmpfs(folder: Path, size: str = "1m"):
    """A real tmpfs of `size` mounted on `folder` (made if needed) for the block; the test
    skips where mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill_up(folder: Path) -> None:
    """Write into `folder` until its file system is full."""
    try:
        with open(folder / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "Makefile",
    "requirements.txt",
    "stages",
    "similar",
    "tools",
    "database",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "data/.gitignore",
    "data/manifests.txt",
]


def copy_project(dest: Path) -> Path:
    """The project's tracked pipeline files (no data, no dvc.lock) copied into `dest`."""
    for rel in PROJECT_FILES:
        src, dst = ROOT / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)
    return dest


def venv_stub(dest: Path) -> Path:
    """A folder make takes as its VENV: `bin/python` runs this interpreter and the install
    stamp is current, so make never creates a venv nor pip-installs into the running one."""
    import os
    import sys

    bin_dir = dest / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex_quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    stamp = dest / ".installed-requirements"
    stamp.touch()
    future = (ROOT / "requirements.txt").stat().st_mtime + 10**6
    os.utime(stamp, (future, future))
    return dest


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def real_photo(name: str = "astronaut", size: int | None = 96) -> Image.Image:
    """A real photograph shipped inside scikit-image."""
    import skimage.data

    img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    if size:
        img = img.resize((size, size))
    return img


def described(img: Image.Image, image_format: str = "PNG", **save):
    """The verifier's features (default settings) of a picture saved in `image_format`."""
    import io

    from similar import settings
    from similar.verification.features import extract

    buf = io.BytesIO()
    img.convert("RGB").save(buf, image_format, **save)
    verify = settings.VerifySettings()
    return extract(
        buf.getvalue(), verify.max_side, verify.features, settings.EmbedSettings().max_pixels
    )


@pytest.fixture
def photos():
    """Large enough for local features (a verifier sees little in 96 pixels)."""
    return {n: real_photo(n, size=256) for n in ("astronaut", "chelsea", "coffee", "rocket")}


def default_params() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def default_test_params() -> dict:
    """params.yaml of a test project: random weights, tiny sizes."""
    params = copy.deepcopy(default_params())
    params["embed"].update(
        weights="random", model="efficientnet_b0", num_workers=0, batch_size=4, image_size=64
    )
    params["reduce"]["n_components"] = 4
    params["bulk_query"]["limit"] = 3
    params["graph"]["k"] = 5
    params["verify"].update(top=6, workers=1)
    params["data"].update(
        images="images", iiif_csv="iiif.csv", queries="queries.txt", groups="groups.csv"
    )
    return params


class Project:
    """A test project's folder and its params.yaml values; `set` writes a value."""

    def __init__(self, root: Path, values: dict):
        self.root, self.values = root, values

    def write(self) -> None:
        (self.root / "params.yaml").write_text(yaml.safe_dump(self.values), encoding="utf-8")

    def set(self, dotted: str, value) -> None:
        node = self.values
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        self.write()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with params.yaml (random weights, tiny sizes); the cwd during the test."""
    proj = Project(tmp_path, default_test_params())
    proj.write()
    monkeypatch.chdir(tmp_path)
    return proj


def write_collection(root: Path, images: dict[str, Image.Image], fmt: str = "JPEG") -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target, fmt if not name.lower().endswith(".png") else "PNG")
    return sorted(images)


def fill_small_collection(project, photos) -> None:
    """12 images (4 photos, each with a mirrored and a cropped copy), IIIF CSV, refs, groups."""
    images, groups = {}, []
    for name, img in photos.items():
        images[f"book_a/{name}.jpg"] = img
        images[f"book_b/{name}_mirror.jpg"] = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        images[f"book_b/{name}_crop.jpg"] = img.crop((20, 20, 236, 236)).resize((256, 256))
        groups += [(name, name), (f"{name}_mirror", name), (f"{name}_crop", name)]
    write_collection(project.root / "images", images)
    ids = sorted(g[0] for g in groups)
    (project.root / "iiif.csv").write_text(
        "id,iiif_url\n"
        + "".join(f"{i},https://iiif.example.org/iiif/3/{i}/full/max/0/default.jpg\n" for i in ids)
    )
    (project.root / "queries.txt").write_text("astronaut\nrocket\n")
    (project.root / "groups.csv").write_text(
        "id,group\n" + "".join(f"{i},{g}\n" for i, g in sorted(groups))
    )


@pytest.fixture
def small_collection(project, photos):
    """12 images (4 photos, each with a mirrored and a cropped copy) with IIIF CSV, refs, groups."""
    fill_small_collection(project, photos)
    return project


def pytest_collection_modifyitems(items):
    """A test on the `pipeline` fixture runs every stage first: it is end to end."""
    for item in items:
        if "pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


def run_stage(name: str) -> None:
    """Run a stage's main in-process, as `python -m stages.<name>` would."""
    import importlib

    importlib.import_module(f"stages.{name}").main()


STAGES = ("embed", "reduce", "attach_iiif", "ingest", "bulk_query", "graph", "verify", "groups")


def build_once(tmp_path_factory, name: str, stages: tuple) -> Path:
    """The small collection in a folder of its own, run through `stages` in-process."""
    photos = {n: real_photo(n, size=256) for n in ("astronaut", "chelsea", "coffee", "rocket")}
    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        proj = Project(root, default_test_params())
        proj.write()
        mp.chdir(root)
        fill_small_collection(proj, photos)
        for stage in stages:
            run_stage(stage)
    return root


@pytest.fixture(scope="session")
def built_embedded(tmp_path_factory) -> Path:
    """The small collection embedded once per test run; tests get copies (`embedded`)."""
    return build_once(tmp_path_factory, "embedded", STAGES[:1])


@pytest.fixture(scope="session")
def built_pipeline(tmp_path_factory) -> Path:
    """The small collection run through every stage once per test run; tests get copies
    (`pipeline`), so each still starts from the same state."""
    return build_once(tmp_path_factory, "pipeline", (*STAGES, "preview"))


def sparse_copy(source, target) -> None:
    """A file copied with its blocks of zeros left as holes: the Qdrant Edge store of a
    dozen points preallocates 128 MiB of zeros (its WAL and segments), which every copied
    project would otherwise write again (a test run held 7 GB of them)."""
    block = 1 << 20
    with open(source, "rb") as read, open(target, "wb") as write:
        while chunk := read.read(block):
            if chunk.count(0) == len(chunk):
                write.seek(len(chunk), os.SEEK_CUR)
            else:
                write.write(chunk)
        write.truncate()
    shutil.copystat(source, target)


def copied(built: Path, tmp_path: Path, monkeypatch) -> Project:
    """A copy of a built project in the test's own folder, made the cwd."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True, symlinks=True, copy_function=sparse_copy)
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, default_test_params())


@pytest.fixture
def embedded(built_embedded, tmp_path, monkeypatch):
    """The small collection, embedded (a copy of the run's one embedding)."""
    return copied(built_embedded, tmp_path, monkeypatch)


@pytest.fixture
def pipeline(built_pipeline, tmp_path, monkeypatch):
    """The small collection, run through every stage in-process (a copy of the run's one)."""
    return copied(built_pipeline, tmp_path, monkeypatch)


def random_unit_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
