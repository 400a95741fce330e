"""The worker processes' allocator (similar.allocator): arrays of a few MiB from the heap,
even where Dask's nanny has fixed glibc's thresholds."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COUNT_MAPPED = """
import ctypes, sys
import numpy as np
from similar import allocator

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info

def mapped_blocks_while_an_array_lives():
    array = np.ones(4 * 2**20, np.uint8)  # 4 MiB: a check's closeness matrix
    return libc.mallinfo2().hblks

before = mapped_blocks_while_an_array_lives() - libc.mallinfo2().hblks
assert allocator.for_arrays()
after = mapped_blocks_while_an_array_lives() - libc.mallinfo2().hblks
print(before, after)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_arrays_of_a_few_mib_come_from_the_heap_once_set_even_under_the_nannys_variable():
    """With MALLOC_TRIM_THRESHOLD_ set (as Dask's nanny sets it) glibc maps every block over
    128 KiB from the system, a 4 MiB array among them; set for arrays, it does not."""
    env = {"MALLOC_TRIM_THRESHOLD_": "65536", "PATH": "/usr/bin:/bin"}
    found = subprocess.run(
        [sys.executable, "-c", COUNT_MAPPED], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["1", "0"]
