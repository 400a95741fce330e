"""End to end: the real pipeline through DVC on a small copy of the sample collection."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project

pytestmark = pytest.mark.e2e  # DVC runs of a whole project


def sh(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git+DVC copy of this project on a 12-picture sample, after one `dvc repro`."""
    proj = copy_project(tmp_path_factory.mktemp("e2e") / "project")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "DVC_NO_ANALYTICS": "1",
    }
    py = sys.executable
    sh([py, "-m", "tools.sample", "--out", "data/sample", "--pictures", "12"], proj, env)
    # real features that need no network: the quality floors below mean something (weights
    # named, since the copied params.yaml is the checkout's, which `make all WEIGHTS=random` sets)
    sh(
        [
            py,
            "-m",
            "tools.set_params",
            "embed.model=efficientnet_lite0",
            "embed.weights=imagenet",
            "reduce.n_components=32",
        ],
        proj,
        env,
    )
    sh(["git", "init", "-q", "-b", "main"], proj, env)
    sh(["git", "add", "-A"], proj, env)
    sh(["git", "commit", "-qm", "init"], proj, env)
    out = sh([py, "-m", "dvc", "repro"], proj, env)
    return proj, env, out


def test_first_repro_runs_every_stage(repo):
    proj, _, out = repo
    for stage in (
        "embed",
        "reduce",
        "attach_iiif",
        "ingest",
        "bulk_query",
        "graph",
        "verify",
        "groups",
        "preview",
        "publish",
    ):
        assert f"Running stage '{stage}'" in out


def test_outputs_follow_the_design(repo):
    proj, _, _ = repo
    n_images = sum(1 for _ in (proj / "data/sample/images").rglob("*.jpg"))
    lines = (proj / "data/vectors/vectors.jsonl").read_text().splitlines()
    assert len(lines) == n_images > 50
    assert all(len(json.loads(line)["vector"]) == 32 for line in lines)
    refs = (proj / "data/sample/queries.txt").read_text().split()
    entries = json.loads((proj / "data/neighbours/neighbours.json").read_text())
    assert [e["reference"]["id"] for e in entries] == refs
    for e in entries:
        ns = e["neighbours"]
        assert len(ns) == 50 and e["reference"]["id"] not in {n["id"] for n in ns}
        assert [n["score"] for n in ns] == sorted((n["score"] for n in ns), reverse=True)
    assert (proj / "data/preview/index.html").is_file()
    metrics = json.loads((proj / "metrics/bulk_query.json").read_text())
    assert metrics["references"] == len(refs) and 0 <= metrics["mAP"] <= 1


def test_status_clean_and_second_repro_runs_nothing(repo):
    proj, env, _ = repo
    py = sys.executable
    assert "Data and pipelines are up to date" in sh([py, "-m", "dvc", "status"], proj, env)
    out = sh([py, "-m", "dvc", "repro"], proj, env)
    assert "Running stage" not in out


def test_forced_repro_is_byte_identical(repo):
    proj, env, _ = repo
    files = [
        "data/vectors/vectors.jsonl",
        "data/neighbours/neighbours.json",
        "data/ingest/receipt.json",
        "data/graph/knn.npz",
        "data/reduced/pca.npz",
        "data/embeddings/failed.csv",
        "data/embeddings/images.csv",
        "data/verified/neighbours.json",
        "data/verified/matches.json",
        "data/groups/groups.csv",
        "data/groups/groups.json",
    ] + [
        f"metrics/{m}.json"
        for m in (
            "embed",
            "reduce",
            "attach_iiif",
            "ingest",
            "bulk_query",
            "graph",
            "verify",
            "groups",
        )
    ]
    files += sorted(str(p.relative_to(proj)) for p in (proj / "data/iiif").rglob("*.*"))
    before = {f: (proj / f).read_bytes() for f in files}
    sh([sys.executable, "-m", "dvc", "repro", "-f"], proj, env)
    assert {f: (proj / f).read_bytes() for f in files} == before


def test_experiment_on_components_skips_embed(repo):
    proj, env, _ = repo
    sh(["git", "add", "-A"], proj, env)
    sh(["git", "commit", "-qm", "results"], proj, env)
    out = sh([sys.executable, "-m", "dvc", "exp", "run", "-S", "reduce.n_components=16"], proj, env)
    assert "Running stage 'reduce'" in out and "Running stage 'bulk_query'" in out
    assert "Running stage 'embed'" not in out
    assert json.loads((proj / "metrics/reduce.json").read_text())["n_components"] == 16
    names = sh(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], proj, env).split()
    exp = [n.rsplit("/", 1)[-1] for n in names if "stash" not in n][0]
    out = sh([sys.executable, "-m", "tools.compare", "HEAD", exp, "--top", "3"], proj, env)
    report = json.loads((proj / "reports/compare.json").read_text())
    assert 0 <= report["mean_jaccard@10"] <= 1 and report["b"] == exp
    assert f"mean_jaccard@10 {report['mean_jaccard@10']:.4f}" in out


def test_every_metric_present_and_in_range(repo):
    proj, _, _ = repo
    m = {
        name: json.loads((proj / f"metrics/{name}.json").read_text())
        for name in ("embed", "reduce", "attach_iiif", "ingest", "bulk_query")
    }
    assert m["embed"]["images"] > 50 and m["embed"]["failed"] == 0 and m["embed"]["dim"] == 1280
    assert m["embed"]["random_weights"] is False
    assert (
        0 < m["reduce"]["explained_variance"] <= 1 and 0 <= m["reduce"]["knn_preservation@10"] <= 1
    )
    assert m["attach_iiif"] == {"matched": m["embed"]["images"], "missing": 0}
    assert m["ingest"]["points"] == m["embed"]["images"]
    q = m["bulk_query"]
    for key in ("ann_recall@10", "recall@1", "recall@5", "recall@10", "mAP"):
        assert 0 <= q[key] <= 1, key
    v = json.loads((proj / "metrics/verify.json").read_text())
    assert v["mAP"] >= q["mAP"] and v["verified_pairs"] > 0 and v["mAP"] <= 1
    g = json.loads((proj / "metrics/groups.json").read_text())
    assert g["groups"] > 0 and g["pairwise_precision"] >= 0.9
    assert q["recall@1"] <= q["recall@5"] <= q["recall@10"]
    # floors on real features (Lite0), below what the sample gives, to catch a regression; the
    # hard cases of sample v3 (tiles of one texture, one typeface, one frame) are hard for a CNN
    # too: mAP 0.748 here, where random B3 weights give about 0.5
    assert q["mAP"] >= 0.65 and q["recall@10"] >= 0.65, q
    assert v["mAP"] >= 0.9 and v["candidate_recall"] >= 0.9, v
    assert -1 <= q["mean_score@10"] <= q["mean_top1_score"] <= 1


def test_dvc_lock_records_every_sample_image(repo):
    proj, _, _ = repo
    import yaml

    n_images = sum(1 for _ in (proj / "data/sample/images").rglob("*.jpg"))
    lock = yaml.safe_load((proj / "dvc.lock").read_text())
    dep = next(d for d in lock["stages"]["embed"]["deps"] if d["path"] == "data/sample/images")
    assert dep["nfiles"] == n_images > 50


def test_adding_an_image_reruns_embed_for_that_image_only(repo):
    """Last in this module: it changes the collection."""
    proj, env, _ = repo
    py = sys.executable
    before = sum(1 for _ in (proj / "data/sample/images").rglob("*.jpg"))
    from conftest import real_photo

    real_photo("coins", size=120).save(
        proj / "data/sample/images/voyage_orient_1843/added_p9999.jpg"
    )
    status = sh([py, "-m", "dvc", "status"], proj, env)
    assert "embed:" in status and "modified:" in status and "data/sample/images" in status
    out = sh([py, "-m", "dvc", "repro"], proj, env)
    assert "Running stage 'embed'" in out
    report = json.loads((proj / "reports/embed.json").read_text())
    assert (report["computed"], report["reused"]) == (1, before)
    assert json.loads((proj / "metrics/embed.json").read_text())["images"] == before + 1
