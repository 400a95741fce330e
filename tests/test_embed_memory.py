"""Embed under a memory limit (`ulimit -v`, RLIMIT_AS) ends in one line saying how much it
needs, at whichever point it runs out: importing torch, or embedding."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import real_photo, write_collection

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30


@pytest.mark.slow
@pytest.mark.parametrize("gib", [2.0, 3.0, 3.4])
def test_embed_under_ulimit_v_is_one_line_with_what_it_needs(project, gib):
    photos = ["astronaut", "chelsea", "coffee", "rocket"]
    write_collection(project.root / "images", {f"{p}.jpg": real_photo(p, 300) for p in photos})
    limit = int(gib * GIB)

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "stages.embed"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=300,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: embed: out of memory (")
    assert f"within the {gib:.1f} GiB of address space that ulimit -v allows" in err
    need = float(err.split("it needs more than ")[1].split(" GiB")[0])
    assert need >= gib - 0.1, err
    assert "raise the limit" in err
