"""settings a leaf that owns the choice names; params.yaml's hostile cases refused in one line."""

import time

import pytest
import yaml

from similar import compute, parameters, settings
from similar.errors import SHOWN_CHARS, UserError
from similar.vectors import networks
from similar.verification.registry import METHODS
from tools.code_deps import ROOT, imports, module_file, read_params


def test_settings_imports_nothing_of_the_library_but_errors():
    assert imports(module_file("similar.settings")) <= {"similar", "similar.errors"}
    assert imports(module_file("similar.errors")) <= {"similar"}


def test_the_registries_hold_exactly_the_names_settings_declares():
    assert tuple(METHODS) == settings.VERIFY_METHODS
    assert set(networks.MODEL_NAMES) == set(settings.MODEL_NAMES)
    assert len(networks.MODEL_NAMES) == len(settings.MODEL_NAMES)
    assert tuple(compute.SCHEDULERS) == settings.SCHEDULER_KINDS
    fields = {f.name: f for f in settings.dataclasses.fields(settings.VerifySettings)}
    assert fields["method"].metadata["choices"] == settings.VERIFY_METHODS


def test_auto_fields_are_typed_as_what_they_accept():
    auto = [(k, f) for k, f in parameters.declarations() if f.metadata["auto"]]
    assert auto
    for key, f in auto:
        assert f.type == "int | Auto", key
        assert parameters.coerce(key, "auto", f.metadata) == "auto"
        assert parameters.coerce(key, 2, f.metadata) == 2
    exact = {k: f for k, f in parameters.declarations()}["bulk_query.exact"]
    assert exact.type == "bool | Auto"


@pytest.mark.parametrize("raw", [{"verify": []}, {"embed": False}, {"graph": 0}, {"data": "x"}])
def test_a_group_that_is_not_a_mapping_is_refused(raw):
    (name,) = raw
    with pytest.raises(UserError, match=f"'{name}' must be a group of parameters"):
        parameters.from_mapping(raw)


def test_a_group_left_empty_takes_its_defaults():
    assert parameters.from_mapping({"verify": None}).verify == parameters.defaults().verify


def test_where_work_runs_is_no_param_of_the_stages_whose_bytes_it_does_not_change():
    for stage in ("verify", "groups"):
        read = read_params(stage)
        assert "verify.min_inliers" in read and "verify.method" in read
        assert not [p for p in read if p.startswith("compute")], read
        assert "verify.workers" not in read


def write(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    lines = ["data:", "  patterns: &a0 ['*.jpg', '*.png']"]
    lines += [f"x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    started = time.monotonic()
    with pytest.raises(UserError) as err:
        parameters.load(path)
    assert time.monotonic() - started < 5  # refused, not expanded (4**29 lists)
    assert str(err.value) == (
        f"{path}: line 3: YAML aliases (*name) are not accepted; write the value out"
    )


def test_a_key_given_twice_is_refused_in_one_line(tmp_path):
    path = write(tmp_path, "verify:\n  min_inliers: 15\n  ratio: 0.8\n  min_inliers: 30\n")
    with pytest.raises(UserError) as err:
        parameters.load(path)
    message = str(err.value)
    assert message == f"{path}: line 4: 'min_inliers' is given twice in one group; keep one"
    path = write(tmp_path, "verify:\n  top: 5\nverify:\n  top: 6\n")
    with pytest.raises(UserError, match="line 3: 'verify' is given twice"):
        parameters.load(path)


def test_a_long_value_is_cut_in_the_message(tmp_path):
    huge = "x " * 100_000
    path = write(tmp_path, yaml.safe_dump({"qdrant": {"collection": huge}}))
    with pytest.raises(UserError) as err:
        parameters.load(path)
    message = str(err.value)
    assert "'qdrant.collection'" in message and "(200002 characters)" in message
    assert len(message) < SHOWN_CHARS + 200
    with pytest.raises(UserError) as err:
        parameters.from_mapping({"reduce": {"n_components": [1] * 100_000}})
    assert len(str(err.value)) < SHOWN_CHARS + 200


def test_dvc_exp_run_leaves_params_yaml_current(tmp_path):
    from dvc.utils.hydra import apply_overrides

    from tools import params_doc

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    apply_overrides(path, ["verify.min_inliers=10", "data.patterns=['*.jpg','*.png']"])
    changed = parameters.load(path)
    assert changed.verify.min_inliers == 10 and changed.data.patterns == ("*.jpg", "*.png")
    assert path.read_text(encoding="utf-8") == params_doc.params_text(changed)


def test_make_all_refuses_a_key_given_twice_before_it_writes(tmp_path):
    from tools.set_params import set_values

    text = "embed:\n  seed: 1\n  seed: 2\n"
    path = write(tmp_path, text)
    with pytest.raises(UserError, match="line 3: 'seed' is given twice in one group; keep one"):
        set_values(path, {"embed.model": "efficientnet_lite0"})
    assert path.read_text(encoding="utf-8") == text
