"""params loading/validation, the UserError exit path, and atomic file output."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from similar import errors as cfg
from similar import parameters
from similar.files import NpyRowWriter, atomic_dir, atomic_open, read_vector_batches, write_json


def test_settings_validate_types_and_ranges():
    s = parameters.from_mapping(
        {
            "bulk_query": {"limit": 3},
            "preview": {"min_score": 0.5},
            "reduce": {"whiten": True},
            "embed": {"precision": "fp32"},
        }
    )
    assert s.bulk_query.limit == 3 and s.preview.min_score == 0.5 and s.reduce.whiten is True
    assert s.embed.precision == "fp32" and s.embed.image_size == 224  # the rest: defaults
    with pytest.raises(cfg.UserError, match="'reduce.n_components' must be at least 1"):
        parameters.from_mapping({"reduce": {"n_components": 0}})
    with pytest.raises(cfg.UserError, match="'bulk_query.limit' must be a whole number"):
        parameters.from_mapping({"bulk_query": {"limit": True}})
    with pytest.raises(
        cfg.UserError, match="unknown parameter 'bulk_query.limt'; did you mean 'bulk_query.limit'"
    ):
        parameters.from_mapping({"bulk_query": {"limt": 10}})
    with pytest.raises(cfg.UserError, match="one of auto, fp32, bf16"):
        parameters.from_mapping({"embed": {"precision": "fp16"}})
    with pytest.raises(cfg.UserError, match="'preview.min_score' must be between -1.0 and 1.0"):
        parameters.from_mapping({"preview": {"min_score": 2}})


@pytest.mark.slow
def test_user_error_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "params.yaml").write_text("data: [unclosed\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stages.reduce"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: params.yaml: not valid YAML")
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_atomic_open_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert (target.stat().st_mode & 0o777) != 0o600


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "site"
    with atomic_dir(target, "paths.site") as d:
        (d / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target, "paths.site") as d:
            (d / "b.txt").write_text("2")
            raise RuntimeError
    assert sorted(p.name for p in target.iterdir()) == [".similar-output", "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_npy_row_writer_streams_rows(tmp_path):
    target = tmp_path / "v.npy"
    blocks = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 3), np.float32)]
    with NpyRowWriter(target) as w:
        for b in blocks:
            w.write(b)
    np.testing.assert_array_equal(np.load(target), np.concatenate(blocks))
    with pytest.raises(ValueError):
        with NpyRowWriter(target) as w:
            w.write(np.zeros((1, 3)))
            w.write(np.zeros((1, 4)))
    np.testing.assert_array_equal(np.load(target), np.concatenate(blocks))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npy"]


def test_read_vector_batches_reports_bad_line(tmp_path):
    f = tmp_path / "v.jsonl"
    f.write_text('{"id": "a", "url": null, "vector": [1, 2]}\nnot json\n')
    with pytest.raises(cfg.UserError, match="v.jsonl:2: not a vector record"):
        list(read_vector_batches(f, 10))
