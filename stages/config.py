"""Loading and checking params.yaml, and the one way stages report a user error.

Every stage reads its settings through `load_params()` and runs its `main` through
`run()`, so a mistake a user can make (a bad parameter, a missing file) ends as one
line on stderr and exit status 2 instead of a traceback.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

PARAMS_FILE = os.environ.get("SIMILAR_PARAMS", "params.yaml")


class UserError(Exception):
    """An expected failure with a message that tells the user what to fix."""


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict:
    """Read params.yaml as a dict; a missing or malformed file is a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: parameters file not found (run from the project folder)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise UserError(f"{p}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of parameter groups")
    return data


def get(params: dict, dotted: str, default: Any = ...) -> Any:
    """Value at a dotted key such as 'embed.batch_size'; missing without default is a UserError."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise UserError(f"params.yaml: missing parameter '{dotted}'")
        node = node[part]
    return node


def get_int(params: dict, dotted: str, minimum: int | None = None, default: Any = ...) -> int:
    value = get(params, dotted, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"params.yaml: '{dotted}' must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise UserError(f"params.yaml: '{dotted}' must be at least {minimum}, got {value}")
    return value


def get_float(params: dict, dotted: str, lo: float | None = None, hi: float | None = None,
              default: Any = ...) -> float:
    value = get(params, dotted, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"params.yaml: '{dotted}' must be a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise UserError(f"params.yaml: '{dotted}' must be between {lo} and {hi}, got {value}")
    return float(value)


def get_bool(params: dict, dotted: str, default: Any = ...) -> bool:
    value = get(params, dotted, default)
    if not isinstance(value, bool):
        raise UserError(f"params.yaml: '{dotted}' must be true or false, got {value!r}")
    return value


def get_choice(params: dict, dotted: str, choices: Iterable[str], default: Any = ...) -> str:
    value = get(params, dotted, default)
    choices = list(choices)
    if value not in choices:
        raise UserError(
            f"params.yaml: '{dotted}' must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def get_str(params: dict, dotted: str, default: Any = ..., allow_empty: bool = False) -> str:
    value = get(params, dotted, default)
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str) or (not value and not allow_empty):
        raise UserError(f"params.yaml: '{dotted}' must be a non-empty string, got {value!r}")
    return value


def path(params: dict, key: str) -> Path:
    """A path from the `paths:` group, the single source of the file names stages share."""
    return Path(get_str(params, f"paths.{key}"))


def require_file(p: str | os.PathLike, what: str, fix: str) -> Path:
    p = Path(p)
    if not p.is_file():
        raise UserError(f"{p}: {what} not found; {fix}")
    return p


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(main: Callable[[], Any]) -> None:
    """Run a stage's main; a UserError becomes one line on stderr and exit status 2."""
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
