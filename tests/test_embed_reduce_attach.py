"""Stages embed, reduce and attach_iiif on a small generated collection, in-process."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import real_photo, run_stage

from similar import errors as cfg
from similar.files import read_csv
from similar.vectors import pca

ROOT = Path(__file__).resolve().parent.parent


def test_embed_writes_aligned_outputs_and_lists_failures(small_collection):
    root = small_collection.root
    (root / "images" / "broken.jpg").write_bytes(b"")
    (root / "images" / "text.jpg").write_text("not an image")
    real_photo(size=None).convert("I;16").save(root / "images" / "deep.png")
    real_photo(size=None).resize((1, 1)).save(root / "images" / "dot.png")
    real_photo(size=None).resize((1200, 60)).save(root / "images" / "banner.jpg")
    run_stage("embed")
    vectors = np.load(root / "data/embeddings/vectors.npy")
    index = read_csv(root / "data/embeddings/images.csv")
    failed = read_csv(root / "data/embeddings/failed.csv")
    assert vectors.shape == (len(index), 1280) and vectors.dtype == np.float32
    ids = [r["id"] for r in index]
    assert {"deep", "dot", "banner", "astronaut_mirror"} <= set(ids)
    assert sorted(f["path"] for f in failed) == ["broken.jpg", "text.jpg"]
    assert all(f["reason"].startswith("cannot decode") for f in failed)
    metrics = json.loads((root / "metrics/embed.json").read_text())
    assert metrics == {
        "images": len(index),
        "failed": 2,
        "pictures": 0,
        "dim": 1280,
        "random_weights": True,
    }
    banner = next(r for r in index if r["id"] == "banner")
    assert (banner["width"], banner["height"]) == ("1200", "60")


@pytest.mark.slow
def test_embed_is_deterministic_across_batch_sizes_and_workers(small_collection):
    run_stage("embed")
    first = np.load(small_collection.root / "data/embeddings/vectors.npy")
    small_collection.set("embed.batch_size", 3)
    small_collection.set("embed.num_workers", 1)
    run_stage("embed")
    second = np.load(small_collection.root / "data/embeddings/vectors.npy")
    a = first / np.linalg.norm(first, axis=1, keepdims=True)
    b = second / np.linalg.norm(second, axis=1, keepdims=True)
    assert (a * b).sum(1).min() > 0.99999


def test_embed_empty_folder_is_user_error(project):
    (project.root / "images").mkdir()
    with pytest.raises(cfg.UserError, match="no images matching"):
        run_stage("embed")


def test_reduce_saves_a_model_that_projects_new_vectors(embedded):
    run_stage("reduce")
    root = embedded.root
    raw = np.load(root / "data/embeddings/vectors.npy")
    reduced = np.load(root / "data/reduced/vectors.npy")
    model = pca.load(root / "data/reduced/pca.npz")
    assert reduced.shape == (raw.shape[0], 4)
    np.testing.assert_allclose(model.project(raw[:3]), reduced[:3], rtol=1e-5, atol=1e-6)
    m = json.loads((root / "metrics/reduce.json").read_text())
    assert m["n_components"] == 4 and 0 < m["explained_variance"] <= 1
    assert 0 <= m["knn_preservation@10"] <= 1
    rows = read_csv(root / "plots/explained_variance.csv")
    assert len(rows) == 4 and float(rows[-1]["cumulative_explained_variance"]) == pytest.approx(
        m["explained_variance"], abs=1e-5
    )


def test_reduce_whiten_gives_unit_variance(embedded):
    embedded.set("reduce.whiten", True)
    run_stage("reduce")
    reduced = np.load(embedded.root / "data/reduced/vectors.npy")
    np.testing.assert_allclose(reduced.var(axis=0, ddof=1), 1.0, rtol=1e-3)


def test_reduce_too_many_components_is_clear(embedded):
    embedded.set("reduce.n_components", 500)
    with pytest.raises(cfg.UserError, match="at most 11"):
        run_stage("reduce")


def test_attach_iiif_keeps_images_without_url(embedded, capsys):
    root = embedded.root
    lines = (root / "iiif.csv").read_text().splitlines()
    (root / "iiif.csv").write_text(
        "\n".join(line for line in lines if not line.startswith("rocket,")) + "\n"
    )
    for stage in ("reduce", "attach_iiif"):
        run_stage(stage)
    records = [
        json.loads(line) for line in (root / "data/vectors/vectors.jsonl").read_text().splitlines()
    ]
    assert len(records) == 12 and all(len(r["vector"]) == 4 for r in records)
    assert list(records[0]) == ["id", "url", "vector"]
    assert next(r for r in records if r["id"] == "rocket")["url"] is None
    assert json.loads((root / "metrics/attach_iiif.json").read_text()) == {
        "matched": 11,
        "missing": 1,
    }
    assert "1 images have no row" in capsys.readouterr().err
    # the JSONL vectors are exactly the reduced float32 vectors
    reduced = np.load(root / "data/reduced/vectors.npy")
    np.testing.assert_array_equal(np.asarray([r["vector"] for r in records], np.float32), reduced)
    embedded.set("attach_iiif.on_missing", "error")
    with pytest.raises(cfg.UserError, match="1 images have no URL"):
        run_stage("attach_iiif")


def test_a_collection_without_iiif_says_so_once(embedded, capsys):
    """data.iiif_csv: data/no-links.csv, the header the project ships."""
    root = embedded.root
    (root / "iiif.csv").write_bytes((ROOT / "data/no-links.csv").read_bytes())
    for stage in ("reduce", "attach_iiif"):
        run_stage(stage)
    captured = capsys.readouterr()
    assert captured.out.count("holds no IIIF links: images are shown without one") == 1
    assert "have no row" not in captured.err
    assert json.loads((root / "metrics/attach_iiif.json").read_text()) == {
        "matched": 0,
        "missing": 12,
    }


def test_attach_iiif_bad_columns(embedded):
    run_stage("reduce")
    embedded.set("attach_iiif.url_column", "manifest")
    with pytest.raises(cfg.UserError, match="no column 'manifest'.*id, iiif_url"):
        run_stage("attach_iiif")
