"""The store interface, run over both backends: Qdrant Edge and qdrant-client's local mode."""

import numpy as np
import pytest
from conftest import random_unit_vectors

from similar.search.store import Hit, point_id, rank
from similar.search.store import open_store as open_target
from similar.search.store.client import ClientStore
from similar.search.store.edge import EdgeStore
from similar.settings import StoreTarget


def open_store(url, collection, edge_root):
    return open_target(StoreTarget.parse(url), collection, edge_root)


@pytest.fixture(params=["edge", "local"])
def store(request, tmp_path):
    if request.param == "edge":
        s = open_store("", "test", tmp_path / "qdrant")
        assert isinstance(s, EdgeStore)
    else:
        s = open_store(f"local:{tmp_path / 'client'}", "test", tmp_path / "unused")
        assert isinstance(s, ClientStore)
    yield s
    s.close()


def load(store, n=60, d=8, seed=0):
    x = random_unit_vectors(n, d, seed)
    ids = [f"img{i:03d}" for i in range(n)]
    store.recreate(d)
    for start in range(0, n, 25):
        store.upsert(
            ids[start : start + 25],
            x[start : start + 25],
            [f"https://x.org/{i}" for i in ids[start : start + 25]],
        )
    store.commit({})
    return ids, x


def exact_neighbours(x, i, k):
    sims = x @ x[i]
    sims[i] = -np.inf
    return list(np.argsort(-sims, kind="stable")[:k])


def test_point_id_is_stable_uuid5():
    assert point_id("a") == point_id("a") != point_id("b")
    assert point_id("a")[14] == "5"


def test_search_by_id_is_exact_and_excludes_reference(store):
    ids, x = load(store)
    assert store.count() == 60 and store.dim() == 8
    answers = store.search_ids(["img003", "img010", "nope"], limit=5, exact=True)
    assert set(answers) == {"img003", "img010"}
    url, hits = answers["img003"]
    assert url == "https://x.org/img003"
    assert [h.id for h in hits] == [ids[j] for j in exact_neighbours(x, 3, 5)]
    assert "img003" not in [h.id for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == pytest.approx(float(x[3] @ x[exact_neighbours(x, 3, 1)[0]]), abs=1e-5)


def test_reload_replaces_never_duplicates(store):
    load(store, n=60)
    ids, _ = load(store, n=40, seed=1)
    assert store.count() == 40
    assert store.image_ids() == ids


def test_search_vectors_and_fetch(store):
    ids, x = load(store)
    got = store.fetch(["img007", "absent"])
    assert list(got) == ["img007"]
    np.testing.assert_allclose(got["img007"][1], x[7], rtol=1e-6)
    hits = store.search_vectors(x[7:8], limit=3, exact=True, hnsw_ef=None)[0]
    assert hits[0].id == "img007" and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_empty_store(tmp_path):
    s = open_store("", "none", tmp_path)
    assert s.count() == 0 and s.dim() is None and s.search_ids(["a"], 3, True) == {}


def test_rank_breaks_ties_by_id_and_rounds():
    hits = [
        Hit("b", None, 0.5000001),
        Hit("a", None, 0.5),
        Hit("c", None, 0.9),
        Hit("self", None, 1),
    ]
    assert [(h.id, h.score) for h in rank(hits, 3, exclude="self")] == [
        ("c", 0.9),
        ("a", 0.5),
        ("b", 0.5),
    ]


def test_backends_agree(tmp_path):
    edge = open_store("", "same", tmp_path / "e")
    local = open_store(f"local:{tmp_path / 'l'}", "same", tmp_path)
    ids, _ = load(edge, n=80, d=16)
    load(local, n=80, d=16)
    a = edge.search_ids(ids[:20], limit=10, exact=True)
    b = local.search_ids(ids[:20], limit=10, exact=True)
    for ref in ids[:20]:
        assert [h.id for h in a[ref][1]] == [h.id for h in b[ref][1]]
        np.testing.assert_allclose(
            [h.score for h in a[ref][1]], [h.score for h in b[ref][1]], atol=1e-5
        )
    edge.close()
    local.close()


def test_dot_distance(store):
    from similar.search.store import CollectionSettings

    x = random_unit_vectors(20, 8) * 2.0
    ids = [f"d{i}" for i in range(20)]
    store.recreate(8, CollectionSettings(distance="dot"))
    store.upsert(ids, x, [None] * 20)
    store.commit({})
    hits = store.search_ids(["d0"], 3, exact=True)["d0"][1]
    assert hits[0].score == pytest.approx(float(max(x[1:] @ x[0])), abs=1e-4)


def test_a_picture_on_a_page_is_searched_in_the_store_as_by_the_product(store):
    """The store's neighbours of a page's picture are the product's: never the page."""
    from similar.search.engine import store_picture_hits
    from similar.search.product import picture_hits
    from similar.vectors.pictures import Pictures

    ids, x = load(store)
    pictures = Pictures.of(["img004", "img010"], [[0, 0, 9, 9]] * 2, [x[4], x[30]], x.shape[1])
    by_store = store_picture_hits(store, pictures, 5, 1, exact=True, hnsw_ef=None)
    by_product = picture_hits(x, ids, [None] * len(ids), pictures, 5, "cosine")
    assert list(by_store) == ["img004", "img010"]
    for page in by_store:
        assert [h.id for h in by_store[page]] == [h.id for h in by_product[page]]
        assert page not in [h.id for h in by_store[page]]
    assert by_store["img010"][0].id == "img030"
