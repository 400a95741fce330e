"""The code each DVC stage runs: the modules its entry point imports, transitively.

    python -m tools.code_deps           # exit 1 and name the stages whose deps or params differ
    python -m tools.code_deps --write   # rewrite the .py deps and the params of every stage

A stage must rerun when any module it imports changes, and only then: dvc.yaml's code deps
are exactly this list (tests/test_layout.py checks it). Lazy imports inside functions count,
and a module that loads modules by name (`importlib.import_module`, as a registry does)
depends on the modules of its package that it or a sibling it imports names in a string
(the registry's values), or on every module of its package when none is named.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("similar", "stages", "tools")


def module_file(name: str) -> Path | None:
    p = ROOT.joinpath(*name.split("."))
    if p.with_suffix(".py").is_file():
        return p.with_suffix(".py")
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, parents: bool = True) -> set[str]:
    """Project modules `path` imports (anywhere in the file, lazy imports included); with
    `parents`, also the packages Python initialises on the way (their code runs too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and "import_module" in ast.unparse(node.func):
            found |= loaded_by_name(path, tree)
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    out = set()
    for m in found:
        if m.split(".")[0] in PACKAGES and module_file(m):
            out.add(m)
            parts = m.split(".")
            if parents:
                out |= {
                    ".".join(parts[:i])
                    for i in range(1, len(parts))
                    if module_file(".".join(parts[:i]))
                }
    return out - {name}


def loaded_by_name(path: Path, tree: ast.Module) -> set[str]:
    """The modules of its package that a module loading modules by name may load: those named
    by a string in it or in a module of the package it imports (a registry's values), or, when
    none is named, every module of the package."""
    package = path.parent
    siblings = {p.stem: module_name(p) for p in package.glob("*.py") if p.stem != "__init__"}
    texts = [tree]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            texts += [ast.parse((package / f"{n}.py").read_text()) for n in names if n in siblings]
    named = {
        n.value
        for t in texts
        for n in ast.walk(t)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in siblings
    }
    return {siblings[n] for n in named} or set(siblings.values())


def all_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imports(module_file(m)))
    return seen


def code_deps(stage: str) -> list[str]:
    """dvc.yaml's code deps of `stage`: its entry module first, then the library, sorted."""
    files = sorted(str(module_file(m).relative_to(ROOT)) for m in closure(f"stages.{stage}"))
    entry = f"stages/{stage}.py"
    return [entry] + [f for f in files if f != entry]


def properties(cls: type, name: str) -> set[str]:
    """The fields a settings property (`qdrant.target`) reads: `self.<field>` in its body."""
    prop = cls.__dict__.get(name)
    if not isinstance(prop, property):
        return set()
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(prop.fget)))
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    }


def read_params(stage: str) -> list[str]:
    """dvc.yaml's params of `stage`: the keys its code reads, found in the modules it imports.
    `x.<group>.<key>` reads that key; a group taken whole (`config.verify`, handed to library
    functions) reads each of its keys whose name is read as an attribute anywhere in those
    modules. Paths are deps and outs, not params, and so is a key declared `results=False`
    (where or how fast work runs: `compute.scheduler`). A group read whole is written as its
    name."""
    from similar import settings

    groups = {g: [f for f in dataclasses.fields(cls)] for g, cls in settings.GROUPS.items()}
    read, names, whole = set(), set(), set()
    for module in closure(f"stages.{stage}"):
        tree = ast.parse(module_file(module).read_text())
        parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            names.add(node.attr)
            # a group is an attribute of a name (`config.verify`), never of a group (`data.groups`)
            named = isinstance(node.value, ast.Name) and node.value.id not in groups
            if node.attr not in groups or not named:
                continue
            parent = parents.get(id(node))
            if isinstance(parent, ast.Call) and parent.func is node:
                continue  # a method of the same name (`store.fetch(...)`)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                read.add((node.attr, parent.attr))
                read |= {
                    (node.attr, k) for k in properties(settings.GROUPS[node.attr], parent.attr)
                }
            else:
                whole.add(node.attr)
    out = []
    for group, fields in groups.items():
        keys = [
            f.name
            for f in fields
            if f.metadata["kind"] != "path"
            and f.metadata["results"]
            and ((group, f.name) in read or (group in whole and f.name in names))
        ]
        if keys and len(keys) == len(fields):
            out.append(group)
        else:
            out += [f"{group}.{k}" for k in keys]
    return out


def main(argv: list[str] | None = None) -> None:
    from ruamel.yaml import YAML

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    dvc_file = ROOT / "dvc.yaml"
    data = rt.load(dvc_file.read_text())
    stale = []
    for stage, spec in data["stages"].items():
        deps = spec["deps"]
        code = [d for d in deps if str(d).endswith(".py")]
        wanted = code_deps(stage)
        if code != wanted:
            stale.append(stage)
            others = [d for d in deps if not str(d).endswith(".py")]
            # a comment above an entry belongs to it, wherever the entry moves
            notes = {str(deps[i]): c for i, c in deps.ca.items.items() if i < len(deps)}
            deps.clear()
            deps.extend(wanted + others)
            deps.ca.items.clear()
            for i, entry in enumerate(deps):
                if str(entry) in notes and not str(entry).endswith(".py"):
                    deps.ca.items[i] = notes[str(entry)]
        params = read_params(stage)
        if [str(p) for p in spec.get("params", [])] != params:
            stale.append(stage)
            spec["params"] = params
    if args.write and stale:
        with open(dvc_file, "w") as fh:
            rt.dump(data, fh)
        print(f"dvc.yaml: code deps and params rewritten for {', '.join(sorted(set(stale)))}")
    elif stale:
        print(
            f"dvc.yaml: code deps or params differ for {', '.join(sorted(set(stale)))}; "
            "run `python -m tools.code_deps --write`",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
