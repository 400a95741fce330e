"""Where per-image and per-pair work runs (`compute.scheduler`), with the same results anywhere.

A scheduler runs `function(shared, task)` for every task and returns the results in the
tasks' order, whichever process ran them and in whatever order they finished. `shared` (the
settings, the image list) reaches each worker once, not once per task. The kinds, by the
scheduler's spelling:

* `""`: a process pool on this machine (`concurrent.futures`), or no pool at all for one
  worker. A worker that dies (the out-of-memory killer, `kill -9`) breaks the pool: its
  unfinished tasks run again once in a fresh pool, and a second death ends the stage with
  one line naming the work and the signal. Opens no port.
* `local:N`: a Dask LocalCluster of N single-threaded worker processes on this machine.
* `tcp://host:port` (or `tls://`): an existing Dask cluster; its workers must see the same
  files under the same paths (a shared filesystem). Dask reruns the tasks of a lost worker.
  The library itself is sent to the scheduler and the workers (a zip of `similar/`), so they
  need the project's venv but not its folder on their PYTHONPATH.

Nothing waits silently: reaching a cluster has a deadline, a cluster left without workers
for NO_WORKERS_TIMEOUT seconds ends the stage, and a scheduler lost mid-run is one line.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import UserError
from .machine import cores  # noqa: F401 (compute.cores: the pool's size)
from .settings import SCHEDULER_KEY as KEY
from .settings import check_address, scheduler_kind  # noqa: F401 (compute.check_address)

CONNECT_TIMEOUT = 10  # seconds to reach an existing cluster before giving up
CONNECT_GRACE = 2  # seconds more for Dask to give its own reason before we give ours
NO_WORKERS_TIMEOUT = 120  # seconds a cluster may have no worker while tasks wait
ASK_WORKERS_EVERY = 1.0  # seconds between asking the scheduler for its workers while waiting
# seconds a client is given to notice that its scheduler is gone, once a connection to it
# failed mid-run: the failure reaches the caller first, the client's status follows
SCHEDULER_GRACE = 5.0


def kind_of(spec: str, key: str = KEY) -> tuple[str, str]:
    """(registry name, its argument) of a scheduler's spelling; settings owns the spellings."""
    return scheduler_kind(spec, key)


Progress = Callable[[Any], None]


class Serial:
    """Every task in this process, in order: no pool, no pickling."""

    workers = 1

    def map(
        self,
        function,
        tasks: Sequence,
        shared: Any = None,
        progress: Progress | None = None,
        label: Callable[[Any], str] = str,
    ):
        results = []
        for task in tasks:
            results.append(function(shared, task))
            if progress:
                progress(task)
        return results

    def close(self) -> None:
        pass


_SHARED: Any = None


def _keep_shared(shared: Any, setup: Callable[[], None] | None) -> None:
    global _SHARED
    _SHARED = shared
    if setup is not None:
        setup()


def _run_shared(function, task):
    return function(_SHARED, task)


def signal_name(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit status {exitcode}"
    try:
        return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
    except ValueError:
        return f"signal {-exitcode}"


def worker_context(function, preload: Sequence[str] = ()):
    """The fork server's context; its first use preloads `function`'s module and the modules
    `preload` names, so each worker starts with the imports done (and shares their pages
    with the fork server until it writes them)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    modules = ["numpy", getattr(function, "__module__", "numpy"), *preload]
    context.set_forkserver_preload(modules)
    return context


class Pool:
    """A process pool of this machine. Workers start from a fork server, a clean process that
    has imported the task's module but run no threads: forking the stage itself would copy
    OpenCV's or OpenMP's thread pools mid-state, and a worker would hang on their locks.
    `shared` is pickled once per worker, tasks and results once each. A dead worker is
    survived once."""

    retries = 1

    def __init__(
        self,
        workers: int,
        setup: Callable[[], None] | None = None,
        preload: Sequence[str] = (),
    ):
        self.workers = workers
        self.setup = setup
        self.preload = tuple(preload)

    def map(
        self,
        function,
        tasks: Sequence,
        shared: Any = None,
        progress: Progress | None = None,
        label: Callable[[Any], str] = str,
    ):
        results: list = [None] * len(tasks)
        left = list(range(len(tasks)))
        for attempt in range(self.retries + 1):
            executor = ProcessPoolExecutor(
                self.workers,
                mp_context=worker_context(function, self.preload),
                initializer=_keep_shared,
                initargs=(shared, self.setup),
            )
            try:
                futures = {executor.submit(_run_shared, function, tasks[i]): i for i in left}
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        i = futures[future]
                        results[i] = future.result()
                        left.remove(i)
                        if progress:
                            progress(tasks[i])
                executor.shutdown()
                return results
            except BrokenProcessPool:
                died = dead_worker_code(executor)
                if attempt == self.retries:
                    raise UserError(
                        f"a worker process died ({signal_name(died)}) twice while running "
                        f"{label(tasks[left[0]])} ({len(left)} of {len(tasks)} tasks left); "
                        "the machine may be out of memory: lower verify.workers, or set "
                        f"{KEY} to a Dask cluster"
                    ) from None
            except BaseException:
                stop_workers(executor)
                raise
        return results  # pragma: no cover (the loop returns or raises)

    def close(self) -> None:
        pass


def dead_worker_code(executor: ProcessPoolExecutor) -> int | None:
    """Shut a broken pool down and say how its dead worker ended. The pool sends SIGTERM to
    the others once one has died, and its own thread joins them: their exit codes are read
    only after that thread is done, since two threads reading a fork server's exit-code
    pipe at once leave one of them with none (255, or not yet known)."""
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=True, cancel_futures=True)
    codes = [p.exitcode for p in processes]
    codes = [c for c in codes if c not in (None, 0)]
    return next((c for c in codes if c != -signal.SIGTERM), codes[0] if codes else None)


def stop_workers(executor: ProcessPoolExecutor) -> None:
    """End a pool now (Ctrl-C, an error): its workers are terminated, not left to finish
    their tasks, and the pool's queues and semaphores are released."""
    for process in list((executor._processes or {}).values()):
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


class Dask:
    """A dask.distributed client: of a LocalCluster started here, or of an existing cluster."""

    def __init__(self, client, cluster=None, where: str = ""):
        self.client = client
        self.cluster = cluster
        self.where = where or "the local Dask cluster"
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        self._alone_since: float | None = None
        self._asked_at = float("-inf")

    def map(
        self,
        function,
        tasks: Sequence,
        shared: Any = None,
        progress: Progress | None = None,
        label: Callable[[Any], str] = str,
    ):
        from concurrent.futures import CancelledError

        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        # a task (not scattered data): a worker lost with it can have it computed again
        handle = self.client.submit(_same, shared, pure=False)
        futures = self.client.map(
            function, [handle] * len(tasks), tasks, pure=False, key=_keys(function, len(tasks))
        )
        index = {future.key: i for i, future in enumerate(futures)}
        results: list = [None] * len(tasks)
        left = set(range(len(tasks)))
        finished = as_completed(futures)
        try:
            while not finished.is_empty():
                batch = finished.next_batch(block=False)
                if not batch:
                    self._check_alive(label(tasks[min(left)]))
                    time.sleep(0.05)
                    continue
                for future in batch:
                    i = index[future.key]
                    results[i] = self._result(future, label(tasks[i]))
                    left.discard(i)
                    if progress:
                        progress(tasks[i])
        except KilledWorker as exc:
            raise UserError(
                f"Dask workers died repeatedly while running {label(tasks[index.get(exc.task, 0)])}"
                f" ({exc}); the workers may be out of memory: give them more, or fewer threads"
            ) from None
        except (CancelledError, OSError):
            if not self._scheduler_gone():
                raise
            raise self._lost(label(tasks[min(left)] if left else tasks[0])) from None
        finally:
            if self.client.status == "running":
                self.client.cancel(futures)
            del handle
        return results

    def _result(self, future, doing: str):
        """A finished task's result. Its data lives on a worker: a worker killed meanwhile
        takes it along, and the task is computed again, so the result is waited for as
        any task is (no worker for long: one line), never for ever."""
        while True:
            try:
                return future.result(timeout=ASK_WORKERS_EVERY)
            except TimeoutError:
                self._check_alive(doing)

    def _scheduler_gone(self) -> bool:
        """Whether the scheduler is gone, after a connection failed: the client notices a
        scheduler killed a moment after the failure reaches the caller (a loaded machine
        makes that moment longer), so it is given SCHEDULER_GRACE seconds to."""
        deadline = time.monotonic() + SCHEDULER_GRACE
        while self.client.status == "running":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _lost(self, doing: str) -> UserError:
        return UserError(
            f"lost the Dask scheduler of {self.where} while {doing}; restart the cluster and "
            f'rerun (finished work is cached), or set {KEY}: "" to run here'
        )

    def _workers_now(self) -> int:
        """The scheduler's count of workers, asked now (the client's copy is refreshed only
        every few seconds)."""
        try:
            return len(self.client.nthreads())
        except (OSError, TimeoutError):
            return 0

    def _check_alive(self, doing: str) -> None:
        """One line instead of a silent wait: the scheduler gone, or no worker for long."""
        if self.client.status != "running":
            raise self._lost(doing)
        now = time.monotonic()
        if now - self._asked_at < ASK_WORKERS_EVERY:
            return
        # asked of the scheduler, not the client's copy: that one may list killed workers on
        self._asked_at = now
        if self._workers_now():
            self._alone_since = None
            return
        if self._alone_since is None:
            self._alone_since = now
            from .errors import warn

            warn(f"{self.where} has no workers; waiting {NO_WORKERS_TIMEOUT} s for one")
        elif now - self._alone_since > NO_WORKERS_TIMEOUT:
            raise UserError(
                f"{self.where} has had no workers for {NO_WORKERS_TIMEOUT} s while "
                f'{doing}; start workers (`dask worker {self.where}`), or set {KEY}: ""'
            )

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _same(value):
    return value


def _keys(function, count: int) -> list[str]:
    import uuid

    run = uuid.uuid4().hex[:12]
    name = getattr(function, "__name__", "task")
    return [f"{name}-{run}-{i}" for i in range(count)]


def open_pool(workers: int, setup: Callable[[], None] | None = None, preload=()):
    return Serial() if workers <= 1 else Pool(workers, setup, preload)


def quiet_dask() -> None:
    """Dask's own log lines off a successful run: heartbeats late on a busy machine, an event
    loop slowed by the work, connections closed at shutdown. Failures reach the stage as
    errors of its tasks. Set before Dask is imported, so the worker processes inherit it."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
    os.environ.setdefault("DASK_DISTRIBUTED__ADMIN__TICK__LIMIT", "1h")
    # a rerun on the same cluster sends the same library under the same name again
    import warnings

    warnings.filterwarnings("ignore", message=r".* already contains a plugin with name similar-")


def open_local(count: str, setup: Callable[[], None] | None = None):
    quiet_dask()
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=int(count),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    client = Client(cluster)
    if setup is not None:
        client.run(setup)
    return Dask(client, cluster)


def connect(address: str):
    """A client of the scheduler at `address`, within CONNECT_TIMEOUT seconds: Dask's own
    timeout covers the connection but not the handshake, which something listening on that
    port that is not a Dask scheduler never answers."""
    quiet_dask()
    from distributed import Client

    outcome: dict = {}

    def attempt() -> None:
        try:
            outcome["client"] = Client(address, timeout=CONNECT_TIMEOUT)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, daemon=True, name="dask-connect")
    thread.start()
    thread.join(CONNECT_TIMEOUT + CONNECT_GRACE)
    error = outcome.get("error")
    if "client" in outcome:
        return outcome["client"]
    if address.startswith("tls://") and isinstance(error, (TypeError, ValueError)):
        raise UserError(
            f"params.yaml: '{KEY}' {address}: tls:// needs the cluster's certificates in "
            "Dask's configuration (distributed.comm.tls.ca-file, .client.cert, .client.key; "
            "docs/cluster.md)"
        )
    why = error.__class__.__name__ if error is not None else "no answer"
    raise UserError(
        f"params.yaml: '{KEY}' {address}: cannot reach a Dask scheduler there in "
        f"{CONNECT_TIMEOUT} s ({why}); start it (`dask scheduler`), check the host and port, "
        f'or set {KEY}: ""'
    )


def library_zip() -> tuple[str, bytes]:
    """(name, bytes) of a zip of this library, named by its content, built the same way
    every time."""
    package = Path(__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(str(path.relative_to(package.parent)), (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return f"similar-{hashlib.sha256(data).hexdigest()[:16]}.zip", data


def send_library(client) -> None:
    """Put this library on the scheduler's and every worker's path, also for workers that
    join later: they need the venv, not the project folder."""
    import tempfile

    from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

    name, data = library_zip()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        # one plugin name per content: a rerun replaces it rather than adding another
        client.register_plugin(SchedulerUploadFile(path, load=True), name=name)
        client.register_plugin(UploadFile(path, load=True), name=name)


def open_cluster(address: str, setup: Callable[[], None] | None = None):
    client = connect(address)
    send_library(client)
    if setup is not None:
        client.run(setup)
    return Dask(client, where=address)


# registry: a scheduler's kind -> how to open it (`workers` only sizes the local pool)
SCHEDULERS: dict[str, Callable[..., Any]] = {
    "pool": lambda argument, workers, setup, preload: open_pool(workers, setup, preload),
    "local": lambda argument, workers, setup, preload: open_local(argument, setup),
    "cluster": lambda argument, workers, setup, preload: open_cluster(argument, setup),
}


@contextmanager
def scheduler(
    spec: str,
    workers: int = 1,
    setup: Callable[[], None] | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Serial | Pool | Dask]:
    """The scheduler `spec` names (see the module), closed afterwards. `workers` sizes the
    default pool; `setup()` runs once in every worker before its first task; the default
    pool's workers start with the modules `preload` names imported."""
    kind, argument = kind_of(spec)
    opened = SCHEDULERS[kind](argument, workers, setup, preload)
    try:
        yield opened
    finally:
        opened.close()
