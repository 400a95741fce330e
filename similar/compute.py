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
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from .errors import UserError
from .machine import cores  # noqa: F401 (compute.cores: the pool's size)
from .settings import SCHEDULER_KEY as KEY
from .settings import scheduler_kind

CONNECT_TIMEOUT = 10  # seconds to reach an existing cluster before giving up


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


def worker_context(function):
    """The fork server's context; its first use preloads `function`'s module, so each worker
    starts with the imports done."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["numpy", getattr(function, "__module__", "numpy")])
    return context


class Pool:
    """A process pool of this machine. Workers start from a fork server, a clean process that
    has imported the task's module but run no threads: forking the stage itself would copy
    OpenCV's or OpenMP's thread pools mid-state, and a worker would hang on their locks.
    `shared` is pickled once per worker, tasks and results once each. A dead worker is
    survived once."""

    retries = 1

    def __init__(self, workers: int, setup: Callable[[], None] | None = None):
        self.workers = workers
        self.setup = setup

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
                mp_context=worker_context(function),
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
                # which worker died, and how: the pool keeps its processes until shutdown
                codes = [p.exitcode for p in list(executor._processes.values())]
                died = next((c for c in codes if c not in (None, 0)), None)
                executor.shutdown(wait=True, cancel_futures=True)
                if attempt == self.retries:
                    raise UserError(
                        f"a worker process died ({signal_name(died)}) twice while running "
                        f"{label(tasks[left[0]])} ({len(left)} of {len(tasks)} tasks left); "
                        "the machine may be out of memory: lower verify.workers, or set "
                        f"{KEY} to a Dask cluster"
                    ) from None
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
        return results  # pragma: no cover (the loop returns or raises)

    def close(self) -> None:
        pass


class Dask:
    """A dask.distributed client: of a LocalCluster started here, or of an existing cluster."""

    def __init__(self, client, cluster=None):
        self.client = client
        self.cluster = cluster
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def map(
        self,
        function,
        tasks: Sequence,
        shared: Any = None,
        progress: Progress | None = None,
        label: Callable[[Any], str] = str,
    ):
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        # a task (not scattered data): a worker lost with it can have it computed again
        handle = self.client.submit(_same, shared, pure=False)
        futures = self.client.map(
            function, [handle] * len(tasks), tasks, pure=False, key=_keys(function, len(tasks))
        )
        index = {future.key: i for i, future in enumerate(futures)}
        results: list = [None] * len(tasks)
        try:
            for future in as_completed(futures):
                i = index[future.key]
                results[i] = future.result()
                if progress:
                    progress(tasks[i])
        except KilledWorker as exc:
            raise UserError(
                f"Dask workers died repeatedly while running {label(tasks[index.get(exc.task, 0)])}"
                f" ({exc}); the workers may be out of memory: give them more, or fewer threads"
            ) from None
        finally:
            self.client.cancel(futures)
            del handle
        return results

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


def open_pool(workers: int, setup: Callable[[], None] | None = None):
    return Serial() if workers <= 1 else Pool(workers, setup)


def open_local(count: str, setup: Callable[[], None] | None = None):
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


def open_cluster(address: str, setup: Callable[[], None] | None = None):
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise UserError(
            f"params.yaml: '{KEY}' {address}: cannot reach the Dask scheduler "
            f'({exc.__class__.__name__}); start it (`dask scheduler`), or set {KEY}: ""'
        ) from None
    if setup is not None:
        client.run(setup)
    return Dask(client)


# registry: a scheduler's kind -> how to open it (`workers` only sizes the local pool)
SCHEDULERS: dict[str, Callable[..., Any]] = {
    "pool": lambda argument, workers, setup: open_pool(workers, setup),
    "local": lambda argument, workers, setup: open_local(argument, setup),
    "cluster": lambda argument, workers, setup: open_cluster(argument, setup),
}


@contextmanager
def scheduler(
    spec: str, workers: int = 1, setup: Callable[[], None] | None = None
) -> Iterator[Serial | Pool | Dask]:
    """The scheduler `spec` names (see the module), closed afterwards. `workers` sizes the
    default pool; `setup()` runs once in every worker before its first task."""
    kind, argument = kind_of(spec)
    opened = SCHEDULERS[kind](argument, workers, setup)
    try:
        yield opened
    finally:
        opened.close()
