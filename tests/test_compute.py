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
from conftest import interruptible

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


@pytest.mark.slow
def test_results_keep_the_tasks_order_on_every_local_scheduler():
    done = []
    for workers in (1, 2):
        with compute.scheduler("", workers) as run:
            assert run.map(doubled, list(range(20)), {}, progress=done.append) == [
                2 * t for t in range(20)
            ]
    assert sorted(done) == sorted(list(range(20)) * 2)


@pytest.mark.slow
def test_a_worker_killed_once_costs_only_its_tasks(tmp_path):
    with compute.scheduler("", 2) as run:
        found = run.map(doubled, list(range(10)), {"kill_once": str(tmp_path / "killed")})
    assert found == [2 * t for t in range(10)] and (tmp_path / "killed").exists()


@pytest.mark.slow
def test_a_worker_that_keeps_dying_ends_in_one_line_naming_the_signal():
    with compute.scheduler("", 2) as run:
        with pytest.raises(UserError, match=r"died \(signal 9 \(SIGKILL\)\) twice while running"):
            run.map(doubled, list(range(10)), {"kill_always": True}, label=lambda t: f"task {t}")


@pytest.mark.parametrize(
    "spec",
    ["local:", "local:x", "local:0", "http://x:1", "dask", "tcp://x y", "tcp://head", "tcp://:80"],
)
def test_a_bad_scheduler_is_one_line_naming_the_parameter(spec):
    with pytest.raises(UserError, match="compute.scheduler"):
        compute.kind_of(spec)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_naming_the_parameter(monkeypatch):
    monkeypatch.setattr(compute, "CONNECT_TIMEOUT", 1)
    with pytest.raises(UserError, match="'compute.scheduler' tcp://127.0.0.1:.*cannot reach"):
        with compute.scheduler(f"tcp://127.0.0.1:{free_port()}"):
            pass


def test_a_port_that_is_not_a_dask_scheduler_is_one_line_within_the_deadline(monkeypatch):
    """Something listening that never answers Dask's handshake: Dask alone waits for ever."""
    import threading

    monkeypatch.setattr(compute, "CONNECT_TIMEOUT", 1)
    monkeypatch.setattr(compute, "CONNECT_GRACE", 0.5)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        held = []
        threading.Thread(
            target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True
        ).start()
        started = time.monotonic()
        with pytest.raises(UserError, match=r"cannot reach a Dask scheduler there in 1 s"):
            with compute.scheduler(f"tcp://127.0.0.1:{server.getsockname()[1]}"):
                pass
        assert time.monotonic() - started < 10


def test_tls_without_certificates_is_one_line():
    with pytest.raises(UserError, match=r"tls:// needs the cluster's certificates"):
        with compute.scheduler(f"tls://127.0.0.1:{free_port()}"):
            pass


def sleeper(shared, task):
    Path(shared, f"{os.getpid()}.pid").touch()
    time.sleep(60)
    return task


@pytest.mark.slow
def test_ctrl_c_ends_the_pools_workers_at_once(tmp_path):
    """Ctrl-C during a pool's tasks: the workers are ended, not left to finish them."""
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from similar import compute, errors\n"
        "from test_compute import sleeper\n"
        "def main():\n"
        "    with compute.scheduler('', 2) as run: run.map(sleeper, [1, 2, 3, 4], sys.argv[1])\n"
        "if __name__ == '__main__': errors.run(main)\n"
    )
    stage = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
    assert len(workers) == 2
    stage.send_signal(signal.SIGINT)
    assert stage.wait(10) == 130
    time.sleep(0.5)
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


@pytest.mark.slow
def test_the_default_run_imports_no_dask():
    """A default run never starts a cluster or opens a port: it does not even load Dask."""
    code = (
        "import sys; from similar import compute\n"
        "with compute.scheduler('', 2) as run: assert run.map(pow, [1, 2], 2) == [2, 4]\n"
        "assert not any(m.startswith(('distributed', 'dask')) for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def imported(shared, task):
    """Whether module `task` was imported in this worker before its first task ran."""
    return task in sys.modules


@pytest.mark.slow
def test_a_pools_workers_start_with_the_preloaded_modules_imported():
    """The fork server imports what `preload` names once; each worker starts with it (and
    shares its pages), a module not named is not there."""
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from similar import compute\n"
        "from test_compute import imported\n"
        "if __name__ == '__main__':\n"
        "    with compute.scheduler('', 2, preload=['xml.dom.minidom']) as run:\n"
        "        found = run.map(imported, ['xml.dom.minidom', 'tkinter'])\n"
        "    assert found == [True, False], found\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- a real cluster on loopback


class Cluster:
    """`dask scheduler` and two `dask worker` processes of this venv on 127.0.0.1; `env` and
    `cwd` as a user would start them (by default in the project with PYTHONPATH=.)."""

    def __init__(self, root: Path, env=None, cwd=ROOT):
        self.env = WORKER_ENV if env is None else env
        self.cwd = cwd
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        log = open(root / "dask.log", "wb")
        dask = str(VENV_BIN / "dask")
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--dashboard-address", ":0", "--no-show"],
            stdout=log,
            stderr=log,
            env=self.env,
            cwd=self.cwd,
        )
        self.workers = [self.start_worker(log, dask) for _ in range(2)]
        self.wait_for(2)

    def start_worker(self, log, dask):
        return subprocess.Popen(
            [dask, "worker", self.address, "--nthreads", "1", "--no-nanny"]
            + ["--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"],
            stdout=log,
            stderr=log,
            env=self.env,
            cwd=self.cwd,
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

    from similar import settings
    from similar.verification.runner import verify_pairs

    images = four_pictures(tmp_path)
    pairs = [(a, b) for a in images for b in images if a != b] * 30
    verify = settings.VerifySettings()
    local, _, _ = verify_pairs(pairs, verify, images, tmp_path / "pool", 2)
    remote, described, _ = verify_pairs(
        pairs, verify, images, tmp_path / "dask", 2, scheduler=cluster.address
    )
    # each result's bytes: a pair the prefilter stops is one shared object in a worker's batch
    assert described == len(images) and each_pickled(remote) == each_pickled(local)
    assert any(r.inliers >= verify.min_inliers and r.mirrored for r in local)


@pytest.mark.e2e
def test_a_run_stopped_in_process_resumes_on_a_cluster(cluster, tmp_path, monkeypatch, capsys):
    """The journal a stopped run left under the feature cache is read by the cluster's
    workers: the tasks it holds are not checked again, and the results are the pool's."""
    from similar import settings
    from similar.verification import runner
    from similar.verification.journal import journal_settings

    monkeypatch.setattr(runner, "PAIRS_PER_TASK", 2)
    images = four_pictures(tmp_path)
    pairs = [(a, b) for a in images for b in images if a != b]
    verify = settings.VerifySettings()
    local, _, _ = runner.verify_pairs(pairs, verify, images, tmp_path / "pool", 1)
    cache = tmp_path / "dask"
    tasks, _ = runner.pair_tasks(runner.canonical_pairs(pairs))
    stopped = runner.Job(verify, images, str(cache), None, journal_settings(verify, None))
    runner.check_task(stopped, tasks[0])  # the one task the stopped run ended
    capsys.readouterr()
    remote, _, _ = runner.verify_pairs(pairs, verify, images, cache, 2, scheduler=cluster.address)
    assert each_pickled(remote) == each_pickled(local)
    held = sum(len(others) for _, others in tasks[0])
    assert f"resuming: {held} of {len(runner.canonical_pairs(pairs))} pairs" in (
        capsys.readouterr().err
    )
    assert not list(cache.rglob("*.pairs"))


def each_pickled(results: list) -> list[bytes]:
    import pickle

    return [pickle.dumps(result) for result in results]


def four_pictures(folder):
    """Four JPEGs (a photograph, its crop, its mirror image, another photograph) and refs."""
    import hashlib
    import io

    from conftest import real_photo
    from PIL import ImageOps

    from similar.verification.runner import ImageRef

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
        (folder / f"{name}.jpg").write_bytes(buf.getvalue())
        images[name] = ImageRef(
            str(folder / f"{name}.jpg"), hashlib.sha256(buf.getvalue()).hexdigest()
        )
    return images


@pytest.mark.e2e
def test_a_cluster_started_without_the_project_on_its_path_runs_the_verifier(tmp_path):
    """docs/cluster.md's commands without PYTHONPATH=., outside the project folder: the
    library reaches the scheduler and the workers by itself, and the results are the pool's."""

    from similar import settings
    from similar.verification.runner import verify_pairs

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bare = Cluster(tmp_path, env=env, cwd=elsewhere)
    try:
        images = four_pictures(tmp_path)
        pairs = [(a, b) for a in images for b in images if a != b]
        verify = settings.VerifySettings()
        local, _, _ = verify_pairs(pairs, verify, images, tmp_path / "pool", 2)
        remote, _, _ = verify_pairs(
            pairs, verify, images, tmp_path / "dask", 2, scheduler=bare.address
        )
        assert each_pickled(remote) == each_pickled(local)
    finally:
        bare.close()


@pytest.mark.e2e
def test_a_scheduler_killed_mid_run_is_one_line(cluster):
    def kill_scheduler(task):
        if task == 2:
            cluster.scheduler.send_signal(signal.SIGKILL)

    started = time.monotonic()
    with pytest.raises(UserError, match=r"lost the Dask scheduler of tcp://127.0.0.1:\d+ while"):
        with compute.scheduler(cluster.address) as run:
            run.map(slow_square, list(range(40)), {"pause": 0.2}, progress=kill_scheduler)
    assert time.monotonic() - started < 60


@pytest.mark.e2e
def test_every_worker_killed_ends_in_one_line_after_the_deadline(cluster, monkeypatch, capsys):
    monkeypatch.setattr(compute, "NO_WORKERS_TIMEOUT", 3)

    def kill_workers(task):
        if task == 2:
            for worker in cluster.workers:
                worker.send_signal(signal.SIGKILL)

    with pytest.raises(UserError, match=r"has had no workers for 3 s while .*start workers"):
        with compute.scheduler(cluster.address) as run:
            run.map(slow_square, list(range(40)), {"pause": 0.2}, progress=kill_workers)
    assert "has no workers; waiting 3 s" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_result_lost_with_its_worker_is_waited_for_as_a_task_is(cluster, monkeypatch):
    """A finished task's data lives on its worker: killed, the worker takes it along. The
    result is then waited for as a task is, ending in one line, never for ever."""
    monkeypatch.setattr(compute, "NO_WORKERS_TIMEOUT", 2)
    with compute.scheduler(cluster.address) as run:
        future = run.client.submit(slow_square, {"pause": 0.0}, 3, pure=False)
        assert future.result(timeout=60) == 9
        for worker in cluster.workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait(20)
        with pytest.raises(UserError, match=r"has had no workers for 2 s while checking"):
            run._result(future, "checking")


@pytest.mark.e2e
def test_a_crowded_local_cluster_prints_nothing_of_its_own():
    """More workers than cores, each busy: Dask's heartbeat and event-loop warnings stay out
    of a successful run's output."""
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from similar import compute\n"
        "from test_compute import busy\n"
        "if __name__ == '__main__':\n"
        "    with compute.scheduler('local:8') as run:\n"
        "        assert run.map(busy, list(range(32)), 1.5) == list(range(32))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip() == "" and done.stdout.strip() == ""


def busy(seconds, task):
    """The CPU held for `seconds` without releasing the GIL often: a late heartbeat."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(10000))
    return task
