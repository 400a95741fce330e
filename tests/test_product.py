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


def test_a_picture_found_on_a_page_is_searched_never_finding_its_page():
    from similar.search.product import picture_hits
    from similar.vectors.pictures import Pictures

    x = vectors()
    ids, urls = [f"i{n:02d}" for n in range(len(x))], [None] * len(x)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    # the picture on page i05 is (nearly) image i17; page i05 itself would score high too
    picture = x[17] + 0.01 * x[5]
    found = picture_hits(
        unit, ids, urls, Pictures.of(["i05"], [[0, 0, 4, 4]], [picture], 8), 4, "cosine"
    )
    assert list(found) == ["i05"]
    sims = unit.astype(np.float64) @ (picture / np.linalg.norm(picture)).astype(np.float64)
    sims[5] = -np.inf
    expected = sorted(range(len(ids)), key=lambda c: (-round(sims[c], 6), ids[c]))[:4]
    assert [h.id for h in found["i05"]] == [ids[c] for c in expected]
    assert found["i05"][0].id == "i17"
    empty = Pictures.of([], [], [], 8)
    assert picture_hits(unit, ids, urls, empty, 4, "cosine") == {}


def test_a_page_list_holds_its_own_and_its_picture_neighbours_once_each():
    from similar.search.engine import with_pictures
    from similar.search.neighbours import entry
    from similar.search.ranking import Hit

    page = entry("page", "u", [Hit("a", None, 0.9), Hit("b", None, 0.5), Hit("c", None, 0.4)])
    other = entry("other", None, [Hit("a", None, 0.3)])
    found = {"page": [Hit("c", None, 0.95), Hit("d", None, 0.6), Hit("e", None, 0.1)]}
    merged, untouched = with_pictures([page, other], found, 2)
    assert untouched == other
    assert merged["reference"] == {"id": "page", "url": "u"}
    # each image once with its better score, ranked, at most twice the limit
    assert [(n["id"], n["score"]) for n in merged["neighbours"]] == [
        ("c", 0.95),
        ("a", 0.9),
        ("d", 0.6),
        ("b", 0.5),
    ]
