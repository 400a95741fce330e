"""The project's shape: thin stages over one library, tools that use only the library, no import
cycles, dvc.yaml's code deps equal to what each stage imports, generated docs that are current."""
import ast
import subprocess
import sys
from pathlib import Path

import yaml

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
    for node in ast.walk(ast.parse(path.read_text())):
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
                out |= {".".join(parts[:i]) for i in range(1, len(parts))
                        if module_file(".".join(parts[:i]))}
    return out - {name}


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "__pycache__" not in p.parts}


def closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imports(module_file(m)))
    return seen


def test_tools_and_stages_use_only_the_library():
    for name, path in all_modules().items():
        deps = imports(path)
        if name.startswith("tools."):
            assert not {d for d in deps if d.startswith("stages")}, f"{name} imports a stage"
        if name.startswith("stages."):
            assert all(d.startswith("similar") for d in deps), f"{name} imports {deps}"
        if name.startswith("similar"):
            assert all(d.startswith("similar") for d in deps), f"{name} imports {deps}"


def test_no_import_cycles():
    graph = {name: imports(path, parents=False) for name, path in all_modules().items()}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for d in graph.get(m, ()):
            assert state.get(d) != 1, f"import cycle: {' -> '.join(trail + [m, d])}"
            if d not in state:
                visit(d, trail + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_dvc_code_deps_are_exactly_the_imported_modules():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, spec in stages.items():
        code = {d for d in spec["deps"] if d.endswith(".py")}
        wanted = {str(module_file(m).relative_to(ROOT)) for m in closure(f"stages.{stage}")}
        assert code == wanted, f"{stage}: declared {sorted(code ^ wanted)} differ"
        for d in spec["deps"]:
            if not d.endswith(".py") and not d.startswith("${"):
                assert (ROOT / d).exists(), f"{stage}: {d} does not exist"


def test_stage_modules_are_thin_entry_points():
    for path in (ROOT / "stages").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert functions == ["main"], f"{path.name} defines {functions}: move them to similar/"
        assert len(path.read_text().splitlines()) < 120, f"{path.name} is not thin"


def test_parameter_reference_and_params_comments_are_current():
    proc = subprocess.run([sys.executable, "-m", "tools.params_doc", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_params_yaml_has_exactly_the_declared_keys():
    from similar import settings
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    keys = [f"{g}.{k}" for g, values in raw.items() for k in values]
    assert keys == settings.known_keys()
