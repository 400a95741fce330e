"""One process at a time on the embedded store: an advisory file lock with a timeout.

Qdrant Edge runs inside the process that opens it and cannot be opened twice. The lock
turns a second opener's failure into a wait (up to `qdrant.lock_timeout` seconds) and then
one clear line that names the store and the process holding it, never a traceback, and
never a reason to think the store is damaged.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from ...errors import StoreBusy

POLL_SECONDS = 0.2


class StoreLock:
    def __init__(self, store_path: Path, timeout: float):
        self.store_path = store_path
        self.path = store_path.with_name(f".{store_path.name}.lock")
        self.timeout = timeout
        self._fh = None

    def acquire(self) -> None:
        if self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    fh.close()
                    raise busy(self.store_path, holder, self.timeout) from None
                time.sleep(POLL_SECONDS)
        fh.seek(0)
        fh.truncate()
        fh.write(
            f"pid {os.getpid()}: {' '.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200]}\n"
        )
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def busy(store_path: Path, holder: str, timeout: float) -> StoreBusy:
    return StoreBusy(
        f"{store_path}: the embedded store is in use by {holder}; wait for it to "
        f"finish and run again, or raise qdrant.lock_timeout (now {timeout:g} s)"
    )
