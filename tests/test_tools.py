"""The sample builder, the params setter and the Makefile's help."""

import hashlib
import subprocess
from pathlib import Path

import pytest

from similar.files import read_csv
from tools.sample import build
from tools.set_params import set_params

ROOT = Path(__file__).resolve().parent.parent


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_sample_is_deterministic_and_consistent(tmp_path):
    stats = build(tmp_path / "a", pictures=4, hard=False)
    build(tmp_path / "b", pictures=4, hard=False)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    images = sorted((tmp_path / "a/images").rglob("*.jpg"))
    assert len(images) == stats["images"] and 4 * 4 <= len(images) <= 4 * 6
    ids = {p.stem for p in images}
    groups = read_csv(tmp_path / "a/groups.csv")
    assert {g["id"] for g in groups} == ids and len({g["group"] for g in groups}) == 4
    iiif = read_csv(tmp_path / "a/iiif.csv")
    assert {r["id"] for r in iiif} == ids
    assert all(r["iiif_url"].startswith("https://iiif.example.org/iiif/") for r in iiif)
    refs = (tmp_path / "a/queries.txt").read_text().split()
    assert len(refs) == 4 and set(refs) <= ids


def test_full_sample_has_enough_pictures():
    from tools.sample import DEFAULT_PICTURES, distinct_pictures

    assert len(distinct_pictures(DEFAULT_PICTURES)) == DEFAULT_PICTURES


def test_sample_hard_cases_have_their_kind_and_copies_show_the_same_picture(tmp_path):
    from collections import Counter

    from tools.sample.hard_cases import KINDS

    build(tmp_path, pictures=2)
    rows = read_csv(tmp_path / "groups.csv")
    kinds = {r["id"]: r["kind"] for r in rows}
    groups = {r["id"]: r["group"] for r in rows}
    assert kinds.keys() == groups.keys() and set(kinds.values()) == {"plain", *KINDS}
    sizes = Counter(groups.values())
    for kind in KINDS:
        members = {groups[i] for i, k in kinds.items() if k == kind}
        # each distinct picture has one copy; a framed copy is plain, in two frames and a copy
        assert {sizes[g] for g in members} == ({4} if kind == "framed_copy" else {2})
    refs = (tmp_path / "queries.txt").read_text().split()
    assert Counter(kinds[r] for r in refs) == {"plain": 2, **{kind: 2 for kind in KINDS}}


def test_set_params_keeps_comments(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("embed:\n  weights: imagenet   # keep me\n  seed: 0\n")
    assert set_params(f, ["embed.weights=random", "embed.seed=0"]) == ["embed.weights='random'"]
    assert f.read_text() == "embed:\n  weights: random     # keep me\n  seed: 0\n"


@pytest.mark.slow
def test_make_help_is_default_goal():
    out = subprocess.run(["make", "-s"], cwd=ROOT, capture_output=True, text=True).stdout
    for target in ("install", "all", "test", "sample", "clean"):
        assert f"make {target}" in out


def test_compare_hand_computed():
    from similar.changes import compare_lists as compare

    def entry(ref, ids):
        return {
            "reference": {"id": ref, "url": None},
            "neighbours": [{"id": i, "url": None, "score": 0.0} for i in ids],
        }

    a = [entry("r1", ["x", "y"]), entry("r2", ["p", "q"]), entry("r3", ["z"])]
    b = [entry("r1", ["x", "w"]), entry("r2", ["q", "p"]), entry("r4", ["z"])]
    out = compare(a, b, k=2)
    # r1: {x,y} vs {x,w} -> 1/3; r2: same set -> 1
    assert out["per_reference"] == {"r1": 0.333333, "r2": 1.0}
    assert out["mean_jaccard@2"] == round((1 / 3 + 1) / 2, 6)
    assert out["only_in_a"] == ["r3"] and out["only_in_b"] == ["r4"]
