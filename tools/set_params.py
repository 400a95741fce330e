"""Set values in params.yaml, keeping its comments and order: `python -m tools.set_params k=v ...`.

Values are read as YAML (`256`, `true`, `random`, `""`). Used by `make all WEIGHTS=...`,
so that what DVC records in dvc.lock is what actually ran.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml
from ruamel.yaml import YAML


def set_params(path: Path, assignments: list[str]) -> list[str]:
    rt = YAML()
    rt.preserve_quotes = True
    data = rt.load(path.read_text(encoding="utf-8"))
    changed = []
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: expected key=value, got {item!r}")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node:
                raise SystemExit(f"error: params.yaml has no group '{part}' (in {key})")
            node = node[part]
        if parts[-1] not in node:
            raise SystemExit(f"error: params.yaml has no parameter '{key}'")
        value = yaml.safe_load(raw) if raw != "" else ""
        if node[parts[-1]] != value:
            node[parts[-1]] = value
            changed.append(f"{key}={value!r}")
    with open(path, "w", encoding="utf-8") as fh:
        rt.dump(data, fh)
    return changed


def main(argv: list[str]) -> None:
    changed = set_params(Path("params.yaml"), argv)
    if changed:
        print(f"params.yaml: set {', '.join(changed)}")


if __name__ == "__main__":
    main(sys.argv[1:])
