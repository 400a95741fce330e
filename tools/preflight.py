"""What `make all` refuses before it writes params.yaml or hands anything to DVC."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from similar.errors import UserError
from similar.files import check_replaceable, read_text
from similar.settings import Settings

DVC_FILE = Path("dvc.yaml")
LOCK_FILE = Path("dvc.lock")
BUILT_IN_WEIGHTS = ("imagenet", "random")


def yaml_file(path: Path) -> dict:
    try:
        return yaml.safe_load(read_text(path)) or {} if path.is_file() else {}
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML; restore it (git checkout {path})") from None


def dvc_outputs(config: Settings) -> list[tuple[str, str]]:
    """(parameter, path) of every stage's outs in dvc.yaml, `${group.key}` taken from `config`."""
    outs = []
    for stage in (yaml_file(DVC_FILE).get("stages") or {}).values():
        for out in stage.get("outs") or []:
            name = next(iter(out)) if isinstance(out, dict) else str(out)
            if name.startswith("${") and name.endswith("}"):
                group, _, key = name[2:-1].partition(".")
                value = getattr(getattr(config, group, None), key, None)
                if value is not None:
                    outs.append((name[2:-1], str(value)))
            else:
                outs.append((name, name))
    return outs


def recorded(kind: str, path: str) -> bool:
    """Whether dvc.lock records `path` among some stage's `kind` ("outs" or "deps")."""
    wanted = os.path.normpath(path)
    for stage in (yaml_file(LOCK_FILE).get("stages") or {}).values():
        for entry in stage.get(kind) or []:
            if os.path.normpath(str(entry.get("path", ""))) == wanted:
                return True
    return False


def preflight(config: Settings) -> Settings:
    """Refuse, in one line, what a stage would refuse only after DVC removed its old outputs."""
    weights = config.embed.weights
    if weights not in BUILT_IN_WEIGHTS and not Path(weights).expanduser().is_file():
        raise UserError(
            f"params.yaml: 'embed.weights' {weights!r} is neither imagenet, random, "
            "nor an existing state-dict file"
        )
    for param, out in dvc_outputs(config):
        if Path(out).is_dir() and not recorded("outs", out):  # DVC would delete it first
            check_replaceable(out, param)
    return config
