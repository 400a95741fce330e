"""Set values in params.yaml, keeping its comments and order: `python -m tools.set_params k=v ...`.

Values are read as YAML (`256`, `true`, `random`, `""`). The result is checked like any
params.yaml before it is written, so a bad value never lands. Used by `make all WEIGHTS=...`,
so that what DVC records in dvc.lock is what actually ran.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import yaml
from ruamel.yaml import YAML

from similar import parameters
from similar.errors import UserError, run
from similar.files import read_text, write_bytes


def parse_assignments(assignments: list[str]) -> dict:
    """`key=value` strings to {key: value}, each value read as YAML (plain text if it is not)."""
    values = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"expected key=value, got {item!r}")
        try:
            values[key] = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:  # not YAML: the text itself (a file name with quotes, say)
            values[key] = raw
    return values


def set_values(path: Path, values: dict, check=None) -> list[str]:
    """Set {dotted key: value} in params.yaml, keeping comments; returns what changed.
    `check(settings)` may refuse the result further, before anything is written."""
    parameters.read_params_file(path)  # unreadable or not YAML: one line, before ruamel sees it
    rt = YAML()
    rt.preserve_quotes = True
    data = rt.load(read_text(path))
    changed = []
    for key, value in values.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node:
                raise UserError(f"params.yaml has no group '{part}' (in {key})")
            node = node[part]
        if parts[-1] not in node:
            raise UserError(f"params.yaml has no parameter '{key}'")
        if node[parts[-1]] != value:
            node[parts[-1]] = value
            changed.append(f"{key}={value!r}")
    out = io.StringIO()
    rt.dump(data, out)
    result = parameters.from_mapping(
        yaml.safe_load(out.getvalue()), str(path)
    )  # refuse a bad value
    if check is not None:
        check(result)
    write_bytes(path, out.getvalue().encode("utf-8"))
    return changed


def set_params(path: Path, assignments: list[str]) -> list[str]:
    return set_values(path, parse_assignments(assignments))


def main(argv: list[str] | None = None) -> None:
    changed = set_params(Path(parameters.PARAMS_FILE), sys.argv[1:] if argv is None else argv)
    if changed:
        print(f"params.yaml: set {', '.join(changed)}")


if __name__ == "__main__":
    run(main)
