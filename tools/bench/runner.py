"""What every bench section shares: whole processes with their time and peak memory, scratch
projects with their params written once, synthetic data, and the table's rows."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from similar.evaluation import normalise

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Row:
    """One line of the table; ratio rows come first, whichever section they are from."""

    what: str
    value: str
    ratio: bool = False


def table(rows: list[Row]) -> str:
    ordered = [r for r in rows if r.ratio] + [r for r in rows if not r.ratio]
    width = max((len(r.what) for r in ordered), default=0)
    return "\n".join(f"{r.what:<{width}}  {r.value}" for r in ordered)


def median_time(fn, repeat: int) -> float:
    """Median wall seconds of `repeat` calls of fn()."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vm_hwm_kib(pid: int) -> int:
    """A running process's own peak resident set (VmHWM), in KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_process(args: list[str], cwd: Path) -> tuple[float, int]:
    """Run a command; (wall seconds, peak RSS in MiB of that process). The peak is the
    process's own VmHWM, read while it runs: getrusage's maxrss would also count the peak of
    the process that started it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, vm_hwm_kib(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"error: {' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
    return seconds, (peak or usage.ru_maxrss) // 1024


def python_module(module: str, *args: str) -> list[str]:
    """The command line running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]


def run_stage(stage: str, project: Path) -> tuple[float, int]:
    """A pipeline stage as its own process in a scratch project: (seconds, peak RSS MiB)."""
    return run_process(python_module(f"stages.{stage}"), project)


def write_params(project: Path, **groups: dict) -> dict:
    """A scratch project's params.yaml: the project's own, with these groups' keys changed
    (`write_params(p, data={"images": ...}, embed={...})`); returns what it wrote."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for group, values in groups.items():
        params[group].update(values)
    project.mkdir(parents=True, exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def empty_ground_truth(project: Path) -> str:
    """A ground-truth file holding only its header, for data.groups."""
    (project / "groups.csv").write_text("id,group\n")
    return "groups.csv"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (normalise(a) * normalise(b)).sum(axis=1)


# ---------------------------------------------------------------- synthetic data


def synthetic(n: int, d: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n ids and n x d standard normal float32 vectors."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return [f"p{i:07d}" for i in range(n)], x


def structured(n: int, d: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n ids and n x d float32 vectors with the structure of embeddings: topics, sub-topics
    of a topic, images of a sub-topic, and a fifth of them near-copies of another."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((1000, d)).astype(np.float32)
    subs = topics[rng.integers(0, 1000, 20000)]
    subs += 0.7 * rng.standard_normal(subs.shape).astype(np.float32)
    x = subs[rng.integers(0, 20000, n)]
    x += rng.uniform(0.3, 1.0, (n, 1)).astype(np.float32) * rng.standard_normal((n, d)).astype(
        np.float32
    )
    copies = rng.choice(n, n // 5, replace=False)
    x[copies] = x[rng.integers(0, n, n // 5)] + 0.1 * rng.standard_normal((n // 5, d)).astype(
        np.float32
    )
    return [f"p{i:07d}" for i in range(n)], x


def write_index(project: Path, ids: list[str]) -> None:
    """A scratch project's images.csv for synthetic ids."""
    (project / "data/embeddings").mkdir(parents=True, exist_ok=True)
    with open(project / "data/embeddings/images.csv", "w") as fh:
        fh.write("id,path,width,height,sha256\n")
        fh.writelines(f"{i},{i}.jpg,1600,1200,-\n" for i in ids)


def vector_project(project: Path, n: int, seed: int, like_embeddings: bool = False) -> list[str]:
    """A scratch project holding n synthetic reduced vectors (normal, or `structured`), no
    pictures found on pages, and their images.csv."""
    from similar.vectors.pictures import Pictures

    (project / "data/reduced").mkdir(parents=True)
    ids, x = (structured if like_embeddings else synthetic)(n, seed=seed)
    np.save(project / "data/reduced/vectors.npy", x)
    Pictures.of([], [], [], x.shape[1]).write(project / "data/reduced/pictures.npz")
    write_index(project, ids)
    return ids


def make_scans(folder: Path, count: int, size: tuple[int, int]) -> None:
    """Realistic scan-sized JPEGs (default about 1600x1200) from the sample's real photographs."""
    from PIL import Image

    from tools.sample import DEFAULT_PICTURES, distinct_pictures

    folder.mkdir(parents=True, exist_ok=True)
    pictures = distinct_pictures(DEFAULT_PICTURES)  # the sample's plain pictures
    rng = np.random.default_rng(600)
    for i in range(count):
        pic = pictures[i % len(pictures)]
        w, h = pic.size
        f = rng.uniform(0.7, 1.0)
        x, y = int(rng.integers(0, w - int(w * f) + 1)), int(rng.integers(0, h - int(h * f) + 1))
        crop = pic.crop((x, y, x + int(w * f), y + int(h * f)))
        crop.resize(size, Image.Resampling.BICUBIC).save(folder / f"scan_{i:04d}.jpg", quality=88)


def write_weights(path: Path, model: str) -> None:
    """Seeded random weights of `model` as a state-dict file (what the embed runs load)."""
    import torch

    from similar.vectors.model import ModelSpec, build_network

    net, _ = build_network(ModelSpec(model, "random", seed=0))
    torch.save(net.state_dict(), path)
