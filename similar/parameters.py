"""params.yaml read and checked into `settings.Settings`: the one loader, and the doc helpers.

The file is read as plain YAML, refusing what no parameter needs and a user may get wrong:
aliases (a few KB of them expand into gigabytes) and a key given twice (YAML would keep the
last silently). Unknown keys are refused with the closest known key, so a typo never runs
silently with a default. Every error names the key or the line and is one line (a
`UserError`), repeating at most a short head of a long value.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError, not_utf8, shown
from .settings import AUTO, GROUPS, Settings

PARAMS_FILE = os.environ.get("SIMILAR_PARAMS", "params.yaml")


# ---------------------------------------------------------------- one value


def _is_choice(value: Any, choices: tuple) -> bool:
    return any(type(value) is type(c) and value == c for c in choices)


def _show(choice: Any) -> str:
    return str(choice).lower() if isinstance(choice, bool) else str(choice)


def coerce(key: str, value: Any, meta: dict) -> Any:
    """The value of `key` checked against its declaration; a UserError names the key."""
    kind, lo, hi = meta["kind"], meta["lo"], meta["hi"]
    if meta["auto"] and value == AUTO:
        return AUTO
    if meta["choices"] is not None:
        if not _is_choice(value, meta["choices"]):
            raise UserError(
                f"params.yaml: '{key}' must be one of "
                f"{', '.join(_show(c) for c in meta['choices'])}; got {shown(value)}"
            )
    elif kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"params.yaml: '{key}' must be true or false, got {shown(value)}")
    elif kind in (int, float):
        numeric = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            what = "a whole number" if kind is int else "a number"
            raise UserError(f"params.yaml: '{key}' must be {what}, got {shown(value)}")
        if lo is not None and hi is not None and not lo <= value <= hi and kind is float:
            raise UserError(
                f"params.yaml: '{key}' must be between {lo} and {hi}, got {shown(value)}"
            )
        if lo is not None and value < lo:
            raise UserError(f"params.yaml: '{key}' must be at least {lo}, got {shown(value)}")
        if hi is not None and value > hi:
            raise UserError(f"params.yaml: '{key}' must be at most {hi}, got {shown(value)}")
        value = kind(value)
    elif kind == "patterns":
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(p, str) and p for p in value)
        ):
            raise UserError(
                f"params.yaml: '{key}' must be a list of file name patterns "
                f'such as ["*.jpg"], got {shown(value)}'
            )
        value = tuple(value)
    elif kind in (str, "path"):
        if value is None and meta["empty"]:
            value = ""
        if not isinstance(value, str) or (not value.strip() and not meta["empty"]):
            raise UserError(f"params.yaml: '{key}' must be a non-empty string, got {shown(value)}")
        if kind == "path":
            value = Path(value) if value.strip() else None
    if meta["check"] is not None:
        value = meta["check"](key, value)
    return value


# ---------------------------------------------------------------- the whole mapping


def _unknown(key: str, known: list[str]) -> UserError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return UserError(f"params.yaml: unknown parameter {shown(key)}{hint}")


def known_keys() -> list[str]:
    return [f"{g}.{f.name}" for g, cls in GROUPS.items() for f in dataclasses.fields(cls)]


def _group_values(raw: dict, name: str) -> dict:
    """The values of group `name`: absent or left empty (`verify:`) is every default; anything
    but a mapping (`verify: []`, `embed: false`, `graph: 0`) is refused, never a default."""
    values = raw.get(name)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(
            f"params.yaml: '{name}' must be a group of parameters (key: value lines below it), "
            f"got {shown(values)}"
        )
    return values


def from_mapping(raw: Any, source: str = "params.yaml") -> Settings:
    """Settings from an already-read params mapping (missing keys take their defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of parameter groups")
    known = known_keys()
    for group in raw:
        if group not in GROUPS:
            raise _unknown(str(group), list(GROUPS) + known)
    groups = {}
    for name, cls in GROUPS.items():
        values = _group_values(raw, name)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in values:
            if key not in fields:
                raise _unknown(f"{name}.{key}", known)
        groups[name] = cls(
            **{k: coerce(f"{name}.{k}", v, fields[k].metadata) for k, v in values.items()}
        )
    data, paths = groups["data"], groups["paths"]
    if data.fetch and Path(data.images) != Path(paths.fetched):
        raise UserError(
            f"params.yaml: 'data.fetch' is true, so embed reads the fetched images: set "
            f"data.images: {paths.fetched} (it is {data.images})"
        )
    return Settings(**groups, source=source)


# ---------------------------------------------------------------- the file


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing aliases and a key given twice in one mapping."""

    source = "params.yaml"

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise UserError(
                f"{self.source}: line {mark.line + 1}: YAML aliases (*name) are not accepted; "
                "write the value out"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise UserError(
                    f"{self.source}: line {key_node.start_mark.line + 1}: {shown(key)} is "
                    "given twice in one group; keep one"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _strict_load(text: str, source: str) -> Any:
    loader = _StrictLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_params_file(path: str | os.PathLike = PARAMS_FILE) -> Any:
    """params.yaml as plain data; a missing file, bad encoding, bad YAML, an alias or a key
    given twice is one UserError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}: parameters file not found (run from the project folder)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(p, exc) from None
    try:
        return _strict_load(text, str(p))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise UserError(f"{p}: not valid YAML{where}: {problem}") from None


def load(path: str | os.PathLike = PARAMS_FILE) -> Settings:
    """The settings of params.yaml, checked; the one loader every entry point uses."""
    return from_mapping(read_params_file(path), str(path))


def defaults() -> Settings:
    return from_mapping({})


# ---------------------------------------------------------------- the reference's words


def declarations() -> Iterator[tuple[str, dataclasses.Field]]:
    """Every parameter as (dotted key, its field), in params.yaml order."""
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            yield f"{group}.{f.name}", f


def allowed(f: dataclasses.Field) -> str:
    """What a parameter accepts, in words, for the reference and the params.yaml comments."""
    m = f.metadata
    words = []
    if m["auto"]:
        words.append("auto")
    if m["choices"] is not None:
        words += [_show(c) for c in m["choices"]]
    elif m["kind"] is bool:
        words.append("true | false")
    elif m["kind"] in (int, float):
        lo = "" if m["lo"] is None else _show(m["lo"])
        hi = "" if m["hi"] is None else _show(m["hi"])
        words.append(f"{lo}..{hi}" if lo or hi else m["kind"].__name__)
    elif m["kind"] == "patterns":
        words.append("list of patterns")
    elif m["kind"] == "path":
        words.append("path" + (' or ""' if m["empty"] else ""))
    else:
        words.append("text" + (' or ""' if m["empty"] else ""))
    return " | ".join(words)


def yaml_value(value: Any) -> Any:
    """A setting's value as params.yaml writes it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if value is None:
        return ""
    return value


def as_plain(group) -> dict:
    """A settings group as params.yaml would write it."""
    return {f.name: yaml_value(getattr(group, f.name)) for f in dataclasses.fields(group)}
