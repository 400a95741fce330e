"""make plots: dvc.yaml's plots drawn as SVG in a page that needs no network."""

import shutil
from pathlib import Path

from similar.charts import line_chart

ROOT = Path(__file__).resolve().parent.parent


def test_a_chart_is_plain_svg_with_a_line_per_series():
    svg = line_chart("t <1>", "k", "recall", [("a", [1, 2, 3], [0.1, 0.5, 0.9]), ("b", [1], [2])])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and "t &lt;1&gt;" in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_plot_of_dvc_yaml_is_drawn_offline(tmp_path, monkeypatch, capsys):
    from tools.plots import main

    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "recall.csv").write_text("k,recall\n1,0.4\n5,0.7\n10,0.8\n")
    (plots / "explained_variance.csv").write_text(
        "component,cumulative_explained_variance\n1,0.1\n2,0.2\n"
    )
    (plots / "scores.csv").write_text("score,count\n-1.00,0\n0.50,3\n1.00,7\n")
    (plots / "groups_threshold.csv").write_text(
        "min_score,precision,recall,f1,cnn_precision,cnn_recall,cnn_f1\n"
        "0.1,1.0,0.7,0.8,0.01,1.0,0.02\n0.5,1.0,0.6,0.75,0.02,0.9,0.04\n"
    )
    main([])
    assert "(4 plots; opens offline)" in capsys.readouterr().out
    page = (tmp_path / "reports/plots.html").read_text()
    assert page.count("<svg") == 4 and "<script" not in page
    assert page.count("<polyline") == 1 + 1 + 1 + 4  # groups: precision, recall, CNN's both
    for title in ("Recall@k of known copies", "Pairwise precision and recall of the groups"):
        assert title in page
