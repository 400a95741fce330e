"""`python -m tools.bench_models --quick` keeps working: each model gets its figures."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_model_bench_reports_each_model():
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench_models", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((ROOT / "reports/bench-models-quick.json").read_text())
    for model in ("efficientnet_b0", "efficientnet_lite0"):
        for key in ("ips", "stage_ips", "startup_seconds", "peak_rss_mib"):
            assert report[model][key] > 0, (model, key)
        assert f"embed {model}" in proc.stdout
