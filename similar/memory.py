"""Running out of memory as one line: what failed, the limit in force, and what is needed."""

from __future__ import annotations

import errno
import functools
import re
import resource
import sys
import warnings
from collections.abc import Callable
from typing import Any

from . import errors
from .errors import UserError

GIB = 1 << 30
TORCH_MAPS = 3.1 * GIB  # address space that importing torch maps (measured: torch 2, Linux)
ASKED = re.compile(r"tried to allocate (\d+) bytes")
SIGNS = (
    "can't allocate memory",
    "bad_alloc",
    "failed to map segment",
    "cannot allocate memory",
    "out of memory",
)
# oneDNN's words when it cannot map a convolution's scratch memory: memory only under a limit
LIMITED_SIGNS = ("could not create a primitive",)


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is the process, the allocator or the loader running out of memory."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    if not isinstance(exc, RuntimeError | ImportError | OSError):
        return False
    text = str(exc).lower()
    signs = SIGNS + (LIMITED_SIGNS if limited() else ())
    return any(sign in text for sign in signs)


def limited() -> bool:
    """Whether an address-space limit (ulimit -v) is in force."""
    return resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY


def mapped_peak() -> int:
    """The most address space this process has mapped, in bytes (0 where not known)."""
    try:
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("VmPeak:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration, ValueError):
        return 0


def size_text(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size / (1 << 20):.0f} MiB"


def message(stage: str, exc: BaseException, fix: str) -> str:
    """One line: the failure, the limit, and at least how much memory the stage needs."""
    asked = ASKED.search(str(exc))
    need = mapped_peak() + (int(asked[1]) if asked else 0)
    why = f"asked for {size_text(int(asked[1]))} more" if asked else exc.__class__.__name__
    torch_note = ""
    if "torch" not in sys.modules:  # it failed while importing torch
        need = max(need, int(TORCH_MAPS))
        torch_note = f" (importing torch alone maps about {TORCH_MAPS / GIB:.1f} GiB)"
        fix = "raise the limit"
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    within = (
        f"within the {limit / GIB:.1f} GiB of address space that ulimit -v allows"
        if limit != resource.RLIM_INFINITY
        else "in the memory free"
    )
    return (
        f"{stage}: out of memory ({why}) {within}; it needs more than {need / GIB:.1f} GiB"
        f"{torch_note}: {fix}"
    )


def _guarded(main: Callable[[], Any], stage: str, fix: str) -> None:
    try:
        main()
    except (MemoryError, RuntimeError, ImportError, OSError) as exc:
        if not out_of_memory(exc):
            raise
        raise UserError(message(stage, exc, fix)) from None


def run(main: Callable[[], Any], stage: str, fix: str) -> None:
    """`errors.run(main)`, running out of memory being one line too (`fix` says what to do)."""
    # short of memory, tqdm cannot start its monitor thread and says so in three lines
    warnings.filterwarnings("ignore", message="tqdm:disabling monitor support")
    errors.run(functools.partial(_guarded, main, stage, fix))
