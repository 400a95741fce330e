"""The project's shape: thin stages over one library, tools that use only the library, no import
cycles, dvc.yaml's code deps equal to what each stage imports, generated docs that are current."""

import ast
import copy
import json
import subprocess
import sys

import pytest
import yaml
from conftest import copy_project

from tools.code_deps import ROOT, all_modules, code_deps, imports, read_params


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
    assert set(stages) == {p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__"}
    for stage, spec in stages.items():
        code = [d for d in spec["deps"] if d.endswith(".py")]
        assert code == code_deps(stage), f"{stage}: run `python -m tools.code_deps --write`"
        for d in spec["deps"]:
            if not d.endswith(".py") and not d.startswith("${"):
                assert (ROOT / d).exists(), f"{stage}: {d} does not exist"


def test_dvc_params_are_exactly_the_keys_each_stage_reads():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, spec in stages.items():
        assert spec.get("params", []) == read_params(stage), f"{stage}: run tools.code_deps --write"
    # the groups stage does not rerun for a bulk_query setting it never reads, and neither
    # verify nor groups for where their work runs (compute.scheduler changes no byte)
    assert not [p for p in stages["groups"]["params"] if p.startswith("bulk_query")]
    for stage in ("verify", "groups"):
        assert "compute" not in stages[stage]["params"]
        assert "compute.scheduler" not in stages[stage]["params"]
        assert "verify.workers" not in stages[stage]["params"]
    # how many CNN candidates verify checks changes neither the groups nor what is shown of them
    for stage in ("groups", "preview", "publish"):
        assert "verify.top" not in stages[stage]["params"], stage


def test_stage_modules_are_thin_entry_points():
    for path in (ROOT / "stages").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert functions == ["main"], f"{path.name} defines {functions}: move them to similar/"
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        nested = [
            n
            for n in ast.walk(main)
            if n is not main and isinstance(n, ast.FunctionDef | ast.Lambda)
        ]
        assert not nested, f"{path.name}: main holds a nested function; move it to similar/"
        # load, call the library, write, print: about 50 lines, docstring and imports included
        assert len(path.read_text().splitlines()) <= 70, f"{path.name} is not thin"


@pytest.mark.slow
def test_parameter_reference_and_params_comments_are_current():
    proc = subprocess.run(
        [sys.executable, "-m", "tools.params_doc", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_params_yaml_has_exactly_the_declared_keys():
    from similar import parameters

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    keys = [f"{g}.{k}" for g, values in raw.items() for k in values]
    assert keys == parameters.known_keys()


STAGES = ["embed", "reduce", "attach_iiif", "ingest", "bulk_query", "graph", "verify", "groups"]


@pytest.mark.slow
def test_dvc_itself_calls_stale_only_the_stages_that_read_a_changed_param(pipeline):
    """Independent of the heuristic that writes dvc.yaml's params: DVC's own status after one
    param changes, on a run whose lock DVC recorded."""
    root = pipeline.root
    copy_project(root)
    pipeline.write()  # the test project's params, not the project's
    (root / "data/fetched").mkdir(parents=True, exist_ok=True)
    stages = [*STAGES, "preview"]

    def dvc(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc("commit", "-f", "-q", *stages)
    assert json.loads(dvc("status", "--json", *stages)) == {}
    for key, value, stale in [
        ("verify.min_inliers", 10, ["groups", "verify"]),  # preview only reads their points
        ("compute.scheduler", "local:1", []),
        ("verify.workers", 2, []),
        ("preview.per_page", 5, ["preview"]),
    ]:
        before = copy.deepcopy(pipeline.values)
        pipeline.set(key, value)
        assert sorted(json.loads(dvc("status", "--json", *stages))) == stale, key
        pipeline.values = before
        pipeline.write()


def test_the_library_is_in_packages_by_concern():
    """similar/ holds the flat modules everyone shares and one package per concern."""
    flat = {p.stem for p in (ROOT / "similar").glob("*.py")}
    packages = {p.name for p in (ROOT / "similar").iterdir() if (p / "__init__.py").is_file()}
    assert {"iiif", "vectors", "search", "verification", "groups"} <= packages
    moved = {
        "clustering",
        "download",
        "edge_checks",
        "embedding",
        "features",
        "fetch",
        "graph",
        "images",
        "jpeg",
        "knn",
        "manifests",
        "model",
        "neighbours",
        "networks",
        "overlap",
        "pca",
        "product",
        "publish",
        "ranking",
        "receipt",
        "references",
        "rerank",
        "store",
    }
    assert not flat & moved, f"move {sorted(flat & moved)} into their package"
