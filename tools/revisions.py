"""A pipeline output as it is in the workspace, at a git revision, or in a DVC experiment."""

from __future__ import annotations

import argparse
import subprocess

from similar.errors import UserError
from similar.files import read_text


def named_sides(argv: list[str] | None, command: str, about: str) -> list[str]:
    """The one or two revisions `make <command> [A=] [B=]` names (the workspace when none)."""
    ap = argparse.ArgumentParser(description=about)
    ap.add_argument("revisions", nargs="*", help="git revisions, experiment names or workspace")
    names = [r for r in ap.parse_args(argv).revisions if r] or ["workspace"]
    if len(names) > 2:
        raise UserError(f"usage: make {command} [A=<rev or experiment>] [B=<rev or experiment>]")
    return names


def resolve(rev: str) -> str | None:
    """A git revision for `rev`; None for the workspace.

    Experiment names resolve to their commit.
    """
    if rev in ("workspace", ""):
        return None
    if rev.startswith("-"):
        raise UserError(f"'{rev}' is not a revision or experiment name")
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True
        ).returncode
        == 0
    ):
        return rev
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    matches = [line.split()[1] for line in refs if line.split()[0].rsplit("/", 1)[-1] == rev]
    if len(matches) == 1:
        return matches[0]
    raise UserError(
        f"'{rev}' is neither a git revision nor a DVC experiment name (see `dvc exp show`)"
    )


def read_output(path: str, rev: str | None) -> str:
    """The text of a pipeline output in the workspace (rev None) or at a revision."""
    if rev is None:
        return read_text(path)
    import dvc.api

    try:
        return dvc.api.read(path, rev=rev, encoding="utf-8")
    except Exception as exc:  # dvc raises many kinds for a missing file or cache entry
        raise UserError(
            f"cannot read {path} at {rev} ({exc.__class__.__name__}); was the pipeline run "
            "and its dvc.lock committed there? (a baseline: `git add dvc.lock params.yaml && "
            "git commit`; `dvc pull` may fetch the outputs)"
        ) from None
