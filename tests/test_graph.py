"""The exact kNN graph of the whole collection, and bulk_query's exact search by matrix product."""

import json

import numpy as np
import pytest
from conftest import run_stage

from similar.errors import UserError
from similar.search import knn
from similar.search.graph import read_graph


def brute_force(x, ids, k, distance):
    """Every score in float64, every row sorted by (-score, id): the definition."""
    xs = knn.unit_rows(x) if distance == "cosine" else np.asarray(x, np.float32)
    sims = xs.astype(np.float64) @ xs.astype(np.float64).T
    np.fill_diagonal(sims, -np.inf)
    by_id = np.argsort(np.argsort(np.asarray(ids), kind="stable"))
    nb = np.array([np.lexsort((by_id, -row))[:k] for row in sims])
    return nb, np.take_along_axis(sims, nb, 1)


def tied_vectors(n=500, seed=0):
    """Small integer vectors: every product is exact in float32, so scores tie exactly and
    often (and three rows are the same vector)."""
    x = np.random.default_rng(seed).integers(-2, 3, size=(n, 8)).astype(np.float32)
    x[100] = x[5]
    x[300] = x[5]
    ids = [f"img{(i * 7919) % 10007:05d}" for i in range(n)]  # id order is not row order
    return x, ids


@pytest.mark.parametrize(
    "engine,block", [("faiss", 64), ("faiss", 4096), ("faiss", 77), ("torch", 64), ("torch", 4096)]
)
def test_graph_equals_brute_force_ties_included(engine, block):
    x, ids = tied_vectors()
    nb, sc = knn.exact_knn(x, ids, 12, "dot", "cpu", engine, block)
    want_nb, want_sc = brute_force(x, ids, 12, "dot")
    np.testing.assert_array_equal(nb, want_nb)
    np.testing.assert_array_equal(sc, want_sc.astype(np.float32))
    assert nb.dtype == np.int32 and sc.dtype == np.float32
    assert not (nb == np.arange(len(x))[:, None]).any()  # never itself


@pytest.mark.parametrize("engine", ["faiss", "torch"])
def test_cosine_graph_on_real_valued_vectors(engine):
    x = np.random.default_rng(1).standard_normal((1500, 24)).astype(np.float32) * 3
    ids = [f"p{i}" for i in range(1500)]
    nb, sc = knn.exact_knn(x, ids, 20, "cosine", "cpu", engine, 256)
    want_nb, want_sc = brute_force(x, ids, 20, "cosine")
    np.testing.assert_array_equal(nb, want_nb)
    np.testing.assert_allclose(sc, want_sc, atol=1e-6)
    assert (np.diff(sc, axis=1) <= 0).all()


def test_approximate_graph_searching_every_list_is_the_exact_graph():
    x, ids = tied_vectors(2000)
    lists = knn.centroids_for(len(x))
    nb, sc = knn.exact_knn(x, ids, 12, "dot", "cpu", "ivf", 256, probes=lists)
    want_nb, want_sc = brute_force(x, ids, 12, "dot")
    np.testing.assert_array_equal(nb, want_nb)
    np.testing.assert_array_equal(sc, want_sc.astype(np.float32))


def test_approximate_graph_recall_scores_and_reruns():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((60, 32)).astype(np.float32)
    x = centres[rng.integers(0, 60, 6000)] + rng.standard_normal((6000, 32)).astype(np.float32)
    ids = [f"p{i:05d}" for i in range(6000)]
    exact_nb, _ = knn.exact_knn(x, ids, 20, "cosine", "cpu", "faiss")
    nb, sc = knn.exact_knn(x, ids, 20, "cosine", "cpu", "ivf", probes=16)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(nb.tolist(), exact_nb.tolist())])
    assert 0.9 <= recall < 1  # approximate, and close: 16 of 310 lists searched
    # a neighbour found carries its true score, rows best first, never the image itself
    xs = knn.unit_rows(x)
    np.testing.assert_allclose(sc, np.einsum("ij,ikj->ik", xs, xs[nb]), atol=1e-6)
    assert (np.diff(sc, axis=1) <= 0).all()
    assert not (nb == np.arange(len(x))[:, None]).any()
    again = knn.exact_knn(x, ids, 20, "cosine", "cpu", "ivf", probes=16)
    assert again[0].tobytes() == nb.tobytes() and again[1].tobytes() == sc.tobytes()


@pytest.mark.parametrize(
    "method,n,threshold,wanted",
    [
        ("auto", 999, 1000, False),
        ("auto", 1000, 1000, True),
        ("auto", 10**7, 0, False),
        ("exact", 10**7, 1000, False),
        ("approximate", 10, 1000, True),
    ],
)
def test_graph_method_and_its_threshold(method, n, threshold, wanted):
    assert knn.approximate(method, n, threshold) is wanted


def test_graph_stage_writes_ids_neighbours_scores_and_reruns_byte_identical(pipeline):
    run_stage("graph")
    target = pipeline.root / "data/graph/knn.npz"
    ids, nb, sc = read_graph(target)
    images = [
        line.split(",")[0]
        for line in (pipeline.root / "data/embeddings/images.csv").read_text().splitlines()[1:]
    ]
    assert ids.dtype.kind == "U" and list(ids) == images
    assert nb.shape == sc.shape == (12, 11) and nb.dtype == np.int32 and sc.dtype == np.float32
    first = target.read_bytes()
    run_stage("graph")
    assert target.read_bytes() == first
    metrics = json.loads((pipeline.root / "metrics/graph.json").read_text())
    assert metrics["images"] == 12 and metrics["k"] == 11 and 0 <= metrics["mutual_edges"] <= 1


@pytest.fixture
def pipeline(pipeline):
    pipeline.set("graph.k", 11)
    return pipeline


def test_bad_inputs_are_one_line_each(pipeline):
    pipeline.set("graph.k", 12)
    with pytest.raises(UserError, match=r"'graph.k' is 12, but 12 images have at most 11"):
        run_stage("graph")
    pipeline.set("graph.k", 3)
    index = pipeline.root / "data/embeddings/images.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(UserError, match=r"images.csv has 11 rows but .*vectors.npy has 12 vectors"):
        run_stage("graph")
    index.write_text(lines[0] + "\n")
    np.save(pipeline.root / "data/reduced/vectors.npy", np.zeros((0, 4), np.float32))
    with pytest.raises(UserError, match="the collection is empty"):
        run_stage("graph")


def test_graph_stage_past_the_threshold_is_approximate(pipeline):
    pipeline.set("graph.approximate_from", 12)
    run_stage("graph")
    report = json.loads((pipeline.root / "reports/graph.json").read_text())
    assert report["engine"] == "ivf" and report["probes"] == 64
    _, nb, _ = read_graph(pipeline.root / "data/graph/knn.npz")
    assert nb.shape == (12, 11)  # 12 images: one list, searched whole
    pipeline.set("graph.approximate_from", 13)
    run_stage("graph")
    assert json.loads((pipeline.root / "reports/graph.json").read_text())["engine"] == "faiss"


def test_graph_cuda_needs_cuda(pipeline):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    pipeline.set("graph.device", "cuda")
    with pytest.raises(UserError, match="'graph.device' is cuda but no CUDA device"):
        run_stage("graph")


def neighbours(root):
    return json.loads((root / "data/neighbours/neighbours.json").read_text())


def assert_same_lists(a, b):
    """The same references, neighbours and order; scores may differ in the 6th decimal only
    (float sums in another order), and two neighbours may swap only when that tie is that close."""
    assert [e["reference"] for e in a] == [e["reference"] for e in b]
    for x, y in zip(a, b):
        for n, m in zip(x["neighbours"], y["neighbours"]):
            assert abs(n["score"] - m["score"]) <= 1e-6 + 1e-9
            if n["id"] != m["id"]:
                assert abs(n["score"] - m["score"]) <= 1e-6 + 1e-9 and {n["id"], m["id"]} <= {
                    z["id"] for z in y["neighbours"]
                }
        assert len(x["neighbours"]) == len(y["neighbours"])


@pytest.mark.parametrize("references", ["file", "all"])
def test_product_search_gives_the_stores_exact_lists(pipeline, references):
    pipeline.set("bulk_query.references", references)
    pipeline.set("bulk_query.engine", "store")
    run_stage("bulk_query")
    store = neighbours(pipeline.root)
    store_metrics = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    pipeline.set("bulk_query.engine", "product")
    run_stage("bulk_query")
    product = neighbours(pipeline.root)
    assert_same_lists(product, store)
    assert [[n["id"] for n in e["neighbours"]] for e in product] == [
        [n["id"] for n in e["neighbours"]] for e in store
    ]
    metrics = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert metrics["ann_recall@10"] == store_metrics["ann_recall@10"] == 1.0
    first = (pipeline.root / "data/neighbours/neighbours.json").read_bytes()
    run_stage("bulk_query")
    assert (pipeline.root / "data/neighbours/neighbours.json").read_bytes() == first


def test_product_search_needs_no_store(pipeline):
    import shutil

    shutil.rmtree(pipeline.root / "data/qdrant")
    run_stage("bulk_query")  # the product reads the vectors the receipt names, not the store
    pipeline.set("bulk_query.engine", "store")
    with pytest.raises(UserError, match="dvc repro -f ingest"):
        run_stage("bulk_query")


def test_sampled_recall_sees_a_wrong_list():
    from similar.evaluation import sampled_recall

    x = knn.unit_rows(np.random.default_rng(2).standard_normal((50, 8)).astype(np.float32))
    ids = [f"i{n:02d}" for n in range(50)]
    wrong = [
        {
            "reference": {"id": "i00", "url": None},
            "neighbours": [{"id": f"i{n:02d}", "url": None, "score": 0} for n in range(1, 11)],
        }
    ]
    truth = brute_force(x, ids, 10, "dot")[0][0]
    expected = len(set(range(1, 11)) & set(truth.tolist())) / 10
    assert sampled_recall(wrong, x, ids) == pytest.approx(expected) and expected < 1


@pytest.mark.parametrize("block,product", [(7, 1 << 26), (4096, 1 << 26), (4096, 1600)])
def test_pictures_neighbours_are_the_brute_forces_never_their_own_page(block, product, monkeypatch):
    """Queries against the collection: (-score, id) order with ties, the page left out,
    whatever the queries taken at once (`product` 1,600: three of the 500 vectors)."""
    monkeypatch.setattr(knn, "QUERY_PRODUCT", product)
    x, ids = tied_vectors()
    rng = np.random.default_rng(1)
    queries = np.concatenate([x[[5, 40, 41]], rng.integers(-2, 3, size=(20, 8))]).astype(np.float32)
    own = np.array([5, 40, 41, *range(100, 120)])
    nb, sc = knn.queries_knn(queries, own, x, ids, 12, "dot", block)
    by_id = np.argsort(np.argsort(np.asarray(ids), kind="stable"))
    sims = queries.astype(np.float64) @ x.astype(np.float64).T
    sims[np.arange(len(own)), own] = -np.inf
    want = np.array([np.lexsort((by_id, -row))[:12] for row in sims])
    np.testing.assert_array_equal(nb, want)
    np.testing.assert_allclose(sc, np.take_along_axis(sims, want, 1), rtol=1e-6)
    assert not (nb == own[:, None]).any()
    assert nb[0, :2].tolist() == [100, 300]  # row 5's twins, its own row left out


def test_pictures_neighbours_ride_in_the_graph_and_an_older_graph_has_none(tmp_path):
    from similar.search import graph
    from similar.vectors.pictures import Pictures

    x = np.random.default_rng(2).normal(size=(40, 8)).astype(np.float32)
    ids = [f"img{i:02d}" for i in range(40)]
    found = Pictures.of([ids[3]], [(1, 2, 30, 40)], x[[7]], 8)
    edges = graph.picture_edges(x, ids, found, 5, "cosine", 4096)
    assert edges.pages.tolist() == [3] and edges.neighbours.shape == (1, 5)
    assert 7 in edges.neighbours[0] and 3 not in edges.neighbours[0]
    neighbours, scores = knn.exact_knn(x, ids, 5, "cosine", "cpu", "faiss", 64)
    graph.write_graph(tmp_path / "knn.npz", ids, neighbours, scores, edges)
    back = graph.read_picture_edges(tmp_path / "knn.npz")
    for got, wanted in zip(back, edges):
        np.testing.assert_array_equal(got, wanted)
    np.savez(tmp_path / "old.npz", ids=np.asarray(ids), neighbours=neighbours, scores=scores)
    assert graph.read_picture_edges(tmp_path / "old.npz").pages.shape == (0,)
    missing = Pictures.of(["not-an-image"], [(0, 0, 1, 1)], x[[0]], 8)
    with pytest.raises(UserError, match="not-an-image"):
        graph.picture_edges(x, ids, missing, 5, "cosine", 4096)
