"""compute.scheduler: the process pool (a real kill -9 of a worker), the scheduler spellings,
an unreachable cluster, and a real Dask cluster on loopback (e2e)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from similar import compute
from similar.errors import UserError

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).parents[1]
# workers import the project's modules (and these tests'), as a cluster's workers started in
# the project folder with PYTHONPATH=. do
WORKER_ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}


def doubled(shared, task):
    marker = shared.get("kill_once")
    if task == 3 and marker and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if task == 3 and shared.get("kill_always"):
        os.kill(os.getpid(), signal.SIGKILL)
    return task * 2


def test_results_keep_the_tasks_order_on_every_local_scheduler():
    done = []
    for workers in (1, 2):
        with compute.scheduler("", workers) as run:
            assert run.map(doubled, list(range(20)), {}, progress=done.append) == [
                2 * t for t in range(20)
            ]
    assert sorted(done) == sorted(list(range(20)) * 2)


def test_a_worker_killed_once_costs_only_its_tasks(tmp_path):
    with compute.scheduler("", 2) as run:
        found = run.map(doubled, list(range(10)), {"kill_once": str(tmp_path / "killed")})
    assert found == [2 * t for t in range(10)] and (tmp_path / "killed").exists()


def test_a_worker_that_keeps_dying_ends_in_one_line_naming_the_signal():
    with compute.scheduler("", 2) as run:
        with pytest.raises(UserError, match=r"died \(signal 9 \(SIGKILL\)\) twice while running"):
            run.map(doubled, list(range(10)), {"kill_always": True}, label=lambda t: f"task {t}")


@pytest.mark.parametrize("spec", ["local:", "local:x", "local:0", "http://x:1", "dask"])
def test_a_bad_scheduler_is_one_line_naming_the_parameter(spec):
    with pytest.raises(UserError, match="compute.scheduler"):
        compute.kind_of(spec)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_naming_the_parameter(monkeypatch):
    monkeypatch.setattr(compute, "CONNECT_TIMEOUT", 2)
    with pytest.raises(UserError, match="'compute.scheduler' tcp://127.0.0.1:.*cannot reach"):
        with compute.scheduler(f"tcp://127.0.0.1:{free_port()}"):
            pass


def test_the_default_run_imports_no_dask():
    """A default run never starts a cluster or opens a port: it does not even load Dask."""
    code = (
        "import sys; from similar import compute\n"
        "with compute.scheduler('', 2) as run: assert run.map(pow, [1, 2], 2) == [2, 4]\n"
        "assert not any(m.startswith(('distributed', 'dask')) for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# ---------------------------------------------------------------- a real cluster on loopback


class Cluster:
    """`dask scheduler` and two `dask worker` processes of this venv on 127.0.0.1."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        log = open(root / "dask.log", "wb")
        dask = str(VENV_BIN / "dask")
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--dashboard-address", ":0", "--no-show"],
            stdout=log,
            stderr=log,
            env=WORKER_ENV,
        )
        self.workers = [self.start_worker(log, dask) for _ in range(2)]
        self.wait_for(2)

    def start_worker(self, log, dask):
        return subprocess.Popen(
            [dask, "worker", self.address, "--nthreads", "1", "--no-nanny"]
            + ["--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"],
            stdout=log,
            stderr=log,
            env=WORKER_ENV,
            cwd=ROOT,
        )

    def wait_for(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(count, timeout=120)

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            p.terminate()
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def slow_square(shared, task):
    time.sleep(shared["pause"])
    return task * task


@pytest.mark.e2e
def test_a_real_cluster_gives_the_same_results_and_survives_a_killed_worker(cluster):
    tasks = list(range(40))
    with compute.scheduler(cluster.address) as run:
        assert run.workers == 2
        assert run.map(slow_square, tasks, {"pause": 0.0}) == [t * t for t in tasks]
        done = []

        def kill_one(task):
            done.append(task)
            if len(done) == 5:
                cluster.workers[0].send_signal(signal.SIGKILL)

        found = run.map(slow_square, tasks, {"pause": 0.1}, progress=kill_one)
    assert found == [t * t for t in tasks] and sorted(done) == tasks


@pytest.mark.e2e
def test_a_local_cluster_gives_the_pools_results():
    with compute.scheduler("local:2") as run:
        assert run.map(slow_square, list(range(10)), {"pause": 0.0}) == [t * t for t in range(10)]


@pytest.mark.e2e
def test_the_verifier_through_a_real_cluster_matches_the_pool_byte_for_byte(cluster, tmp_path):
    import hashlib
    import io
    import pickle

    from conftest import real_photo
    from PIL import ImageOps

    from similar import settings
    from similar.verification.runner import ImageRef, verify_pairs

    photo = real_photo("astronaut", size=None).resize((400, 400))
    pictures = {
        "orig": photo,
        "crop": photo.crop((60, 40, 330, 300)),
        "mirror": ImageOps.mirror(photo),
        "coffee": real_photo("coffee", size=None),
    }
    images = {}
    for name, img in pictures.items():
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=90)
        (tmp_path / f"{name}.jpg").write_bytes(buf.getvalue())
        images[name] = ImageRef(
            str(tmp_path / f"{name}.jpg"), hashlib.sha256(buf.getvalue()).hexdigest()
        )
    pairs = [(a, b) for a in images for b in images if a != b] * 30
    verify = settings.VerifySettings()
    local, _ = verify_pairs(pairs, verify, images, tmp_path / "pool", 2)
    remote, described = verify_pairs(
        pairs, verify, images, tmp_path / "dask", 2, scheduler=cluster.address
    )
    assert described == len(images) and pickle.dumps(remote) == pickle.dumps(local)
    assert any(r.inliers >= verify.min_inliers and r.mirrored for r in local)
