"""Which failures are running out of memory (similar.memory.out_of_memory)."""

import subprocess
import sys
from pathlib import Path

from similar.memory import limited, out_of_memory

ROOT = Path(__file__).resolve().parent.parent


def test_the_allocators_words_are_running_out_of_memory():
    assert out_of_memory(MemoryError())
    assert out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
    assert not out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not out_of_memory(ValueError("out of memory"))


def test_a_primitive_that_cannot_be_created_is_memory_only_under_a_limit():
    failure = RuntimeError("could not create a primitive")
    if not limited():
        assert not out_of_memory(failure)
    code = (
        "import resource; from similar.memory import out_of_memory; "
        "resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30)); "
        "print(out_of_memory(RuntimeError('could not create a primitive')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "True"
