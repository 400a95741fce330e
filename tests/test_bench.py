"""`make bench QUICK=1` keeps working: every figure is produced (none is asserted as a timing)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import copy_project

from tools.bench import drawings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_quick_bench_reports_every_key(tmp_path):
    project = copy_project(tmp_path / "p")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((project / "reports/bench-quick.json").read_text())
    for key in (
        "ours_ips",
        "ours_bf16_ips",
        "baseline_ips",
        "speedup",
        "speedup_bf16",
        "ceiling_ips",
        "incremental_speedup",
        "ours_stage_ips",
        "ours_startup_seconds",
    ):
        assert report["embed"][key] > 0, key
    assert report["embed"]["min_cosine_to_reference"] > 0.99
    for model in ("efficientnet_b0", "efficientnet_lite0"):
        assert report["models"][model]["ips"] > 0 and report["models"][model]["stage_ips"] > 0
    assert report["models"]["lite0_over_efficientnet_b0"] > 0
    assert report["embed"]["min_cosine_baseline_to_reference"] < 0.99  # the top-left cell bug
    for key in ("ours_pps", "baseline_pps", "speedup"):
        assert report["store"]["ingest"][key] > 0
    for key in ("ours_qps", "baseline_qps", "speedup"):
        assert report["store"]["bulk_query"][key] > 0
    assert 0.9 <= report["store"]["bulk_query"]["recall@50"] <= 1
    for stage in ("attach_iiif", "ingest", "bulk_query"):
        assert report["scale"][stage]["peak_rss_mib"] > 0
    assert "embed speedup fp32" in proc.stdout.splitlines()[0]  # ratios first
    assert report["embed_gpu"].get("skipped") or report["embed_gpu"]["pil"]["stage_ips"] > 0
    graph = report["graph"]
    assert graph["seconds"] > 0 and graph["faiss_seconds"] > 0 and graph["seconds_over_faiss"] > 0
    assert graph["peak_rss_mib"] > 0 and graph["neighbours_agreeing_with_faiss"] > 0.99
    assert graph["approximate_seconds"] > 0 and 0.9 <= graph["approximate_recall@20"] <= 1
    assert (
        report["verify"]["pairs_per_second"] > 0 and report["verify"]["fresh_pairs_per_second"] > 0
    )
    assert 0 < report["verify"]["pool_pairs_checked"] < report["verify"]["pool_pairs"]
    assert report["groups"]["seconds"] > 0 and report["groups"]["groups"] > 0
    assert report["scale"]["bulk_query_store"]["seconds"] > 0
    assert report["drawings"] == {"collection": None, "build": drawings.BUILD}  # not on --quick
    quality = report["quality"]
    assert quality["collection"].startswith("sample") and quality["images"] > 0
    assert 0 <= quality["pairwise_precision"] <= 1 and quality["largest_group"] >= 0
    assert quality["groups_mixing_pictures"] >= 0
    hard = report["hard_copies"]
    assert hard["pictures"] > 0 and len(hard["found"]) == 14
    assert all(0 <= found <= hard["pictures"] for found in hard["found"].values())
    assert all(
        hard["found"][kind] + hard["stopped"][kind] <= hard["pictures"] for kind in hard["found"]
    )
    assert all(
        0 <= kind["candidate_ceiling_recall"] <= 1 and 0 <= kind["pairwise_recall"] <= 1
        for kind in quality["by_kind"].values()
    )


@pytest.mark.e2e  # embed stage processes and a model: minutes on 2 cores
def test_gpu_embed_section_runs_its_code_on_the_cpu(tmp_path):
    """On a CPU-only machine `make bench` says the GPU section was skipped; its code is the
    same for any device, so it is exercised here on the CPU with tiny sizes."""
    import torch

    from tools.bench.embed_gpu import measure, measure_device

    if not torch.cuda.is_available():
        assert "skipped" in measure(tmp_path, SimpleNamespace(gpu_images=4))
    out = measure_device(
        tmp_path, 6, (320, 240), "cpu", model="efficientnet_b0", seed_images=3, processes=2
    )
    assert out["pil"]["stage_ips"] > 0 and out["pil"]["startup_seconds"] > 0
    assert (
        out["seed_loop_ips"] > 0 and out["model_ceiling_ips"] > 0 and out["decode_ceiling_ips"] > 0
    )
    assert out["pil"]["min_cosine_to_cpu_fp32"] > 0.999  # the CPU path against itself


@pytest.mark.e2e  # two models built and timed on scans: about 18 s on 2 cores
def test_models_section_times_lite0_beside_another_model(tmp_path):
    from tools.bench.models import measure, rows

    options = SimpleNamespace(quick=True, images=3, repeat=1, scan_size=(200, 150))
    figures = measure(tmp_path, options)
    for model in ("efficientnet_b0", "efficientnet_lite0"):
        assert figures[model]["ips"] > 0 and figures[model]["peak_rss_mib"] > 0
    lines = rows(figures)
    assert lines[0].ratio and "efficientnet_lite0 / efficientnet_b0" in lines[0].what


@pytest.mark.parametrize("argv", [[], ["--quick"]], ids=["make bench", "make bench QUICK=1"])
def test_every_section_accepts_the_sizes_make_bench_uses(argv):
    """The quick run the e2e test makes cannot see a size only the full run asks for (the
    verify section once asked the sample maker for more pictures than it can make)."""
    import importlib

    from tools.bench.__main__ import options
    from tools.bench.registry import SECTIONS

    args = options(argv)
    checked = []
    for name in SECTIONS:
        section = importlib.import_module(f"tools.bench.{name}")
        if hasattr(section, "check"):
            section.check(args)
            checked.append(name)
    assert "verify" in checked


def test_a_size_no_section_can_run_fails_before_the_first_section(monkeypatch, tmp_path):
    """64 pictures, as the verify section once asked: refused before embed's minutes."""
    from similar.errors import UserError
    from tools.bench import verify
    from tools.bench.__main__ import main

    monkeypatch.setattr(verify, "PICTURES", 64)
    monkeypatch.chdir(tmp_path)  # nothing may be written; settings fall back to defaults
    with pytest.raises(UserError, match="at most .* distinct pictures"):
        main(["--only", "embed,verify"])
    assert not (tmp_path / "reports").exists()


def test_planted_recall_is_over_the_planted_kinds_pairs_alone():
    by_kind = {
        "drawing": {"pairwise_recall": 0.9, "pairs_expected": 1000},
        "crop": {"pairwise_recall": 0.5, "pairs_expected": 40},
        "halftone": {"pairwise_recall": 1.0, "pairs_expected": 10},
    }
    assert drawings.planted_recall(by_kind) == 0.6
    assert drawings.planted_recall({"drawing": by_kind["drawing"]}) == 1.0


def test_the_drawings_section_says_how_to_build_its_collection(tmp_path):
    options = SimpleNamespace(drawings=str(tmp_path / "none"), quick=False)
    figures = drawings.measure(tmp_path, options)
    assert figures == {"collection": None, "build": drawings.BUILD}
    (row,) = drawings.rows(figures)
    assert "python -m tools.drawings" in str(row)


def test_components_set_the_quality_projects_reduce_for_a_small_collection():
    """The copy set's 188 images need fewer than params.yaml's 256 components."""
    from tools.bench import quality
    from tools.bench.__main__ import options

    assert options(["--only", "quality", "--components", "128"]).components == 128
    assert options(["--only", "quality"]).components == 0
    assert quality.reduce_settings(False, 128) == {"n_components": 128}
    assert quality.reduce_settings(False) == {}
    assert quality.reduce_settings(True, 128) == {"n_components": quality.QUICK_COMPONENTS}
