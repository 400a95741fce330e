"""`make bench QUICK=1` keeps working: every figure is produced (none is asserted as a timing)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_reports_every_key(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.bench", "--quick"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((ROOT / "reports/bench-quick.json").read_text())
    for key in ("ours_ips", "ours_bf16_ips", "baseline_ips", "speedup", "speedup_bf16",
                "ceiling_ips", "incremental_speedup"):
        assert report["embed"][key] > 0, key
    assert report["embed"]["min_cosine_to_reference"] > 0.99
    assert report["embed"]["min_cosine_baseline_to_reference"] < 0.99  # the top-left cell bug
    for key in ("ours_pps", "baseline_pps", "speedup"):
        assert report["ingest"][key] > 0
    for key in ("ours_qps", "baseline_qps", "speedup"):
        assert report["bulk_query"][key] > 0
    assert 0.9 <= report["bulk_query"]["recall@50"] <= 1
    for stage in ("attach_iiif", "ingest", "bulk_query"):
        assert report["scale"][0][stage]["peak_rss_mib"] > 0
    assert "embed speedup fp32" in proc.stdout.splitlines()[0]  # ratios first
