"""The exact product search (similar.search.product) on small generated vectors, against brute
force."""

import numpy as np

from similar.search.product import exact_lists, product_matrix, search_product


def vectors(n=40, d=8, seed=3):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_product_search_equals_brute_force_cosine_ranking(tmp_path):
    x = vectors()
    np.save(tmp_path / "reduced.npy", x)
    ids = [f"i{n:02d}" for n in range(len(x))]
    urls = [None] * len(x)
    unit = product_matrix(tmp_path / "reduced.npy", len(ids), "cosine")
    entries, missing = search_product(unit, ids, urls, ["i03", "nope", "i00"], 5)
    assert missing == ["nope"]
    assert [e["reference"]["id"] for e in entries] == ["i03", "i00"]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for e in entries:
        r = ids.index(e["reference"]["id"])
        sims = xn.astype(np.float64) @ xn[r].astype(np.float64)
        sims[r] = -np.inf
        expected = sorted(range(len(ids)), key=lambda c: (-round(sims[c], 6), ids[c]))[:5]
        assert [n["id"] for n in e["neighbours"]] == [ids[c] for c in expected]
        assert all(n["score"] == round(sims[ids.index(n["id"])], 6) for n in e["neighbours"])


def test_ties_are_broken_by_id():
    x = np.array([[1, 0], [0, 1], [0, 1], [0, 1]], np.float32)
    ids, urls = ["r", "c", "a", "b"], [None] * 4
    entries, _ = search_product(x, ids, urls, ["r"], 3)
    assert [n["id"] for n in entries[0]["neighbours"]] == ["a", "b", "c"]


def test_exact_lists_reads_the_vectors_file(tmp_path):
    x = vectors(10)
    np.save(tmp_path / "reduced.npy", x)
    lines = [f'{{"id": "i{n}", "url": "u{n}", "vector": [0]}}\n' for n in range(10)]
    (tmp_path / "vectors.jsonl").write_text("".join(lines))
    found = exact_lists(tmp_path / "vectors.jsonl", tmp_path / "reduced.npy", "dot", ["i1"], 3)
    assert list(found) == ["i1"] and len(found["i1"]) == 3
    assert all(n["url"] == "u" + n["id"][1:] for n in found["i1"])
