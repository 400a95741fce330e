"""Progress bars: a count and the time left in a terminal, nothing in a pipe or a log."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import time
from similar.progress import over
for batch in over([[1, 2], [3, 4], [5]], 5, "embed", "img", size=len):
    time.sleep(0.6)
print("embed: done")
"""


def run_in_terminal(code: str) -> str:
    """Run `code` with stdout and stderr on a pseudo-terminal; returns what it showed."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    proc.wait(timeout=60)
    os.close(main)
    return shown.decode("utf-8", "replace")


@pytest.mark.slow
def test_a_terminal_shows_the_count_and_the_time_left():
    shown = run_in_terminal(SCRIPT)
    assert "embed:" in shown and "/5 [" in shown and "img/s" in shown  # n/total [elapsed<left
    assert "2/5 [" in shown and "<" in shown.split("2/5 [", 1)[1].split("]", 1)[0]
    assert "embed: done" in shown


@pytest.mark.slow
def test_a_pipe_shows_nothing_but_the_summary():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout == "embed: done\n" and proc.stderr == ""


def test_over_yields_every_item_in_order():
    from similar.progress import over

    assert list(over(iter("abc"), 3, "x", "letter")) == ["a", "b", "c"]
