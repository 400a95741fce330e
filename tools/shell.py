"""Run a command of `make`'s tools, echoing it: a failure exits with the command's status."""

from __future__ import annotations

import subprocess


def sh(args: list[str], env: dict | None = None) -> None:
    print("+ " + " ".join(args), flush=True)
    proc = subprocess.run(args, env=env)
    if proc.returncode:
        raise SystemExit(proc.returncode)
