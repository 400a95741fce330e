"""What changed between two runs, by hand-computed cases: verified lists and groups."""

from similar.changes import compare_groups, compare_verified


def rows(groups: dict[str, list[str]]) -> list[dict]:
    return [{"id": i, "group": g} for g, members in groups.items() for i in members]


def test_groups_split_merge_appear_vanish_and_images_move():
    a = rows(
        {
            "g1": ["a1", "a2", "a3", "a4"],  # splits: a3, a4 go apart
            "g2": ["b1", "b2"],  # merges with g3
            "g3": ["c1", "c2", "c3"],
            "g4": ["d1", "d2"],  # vanishes
            "g5": ["e1", "e2"],  # unchanged
            "g6": ["f1", "f2"],  # gains x1
        }
    )
    b = rows(
        {
            "h1": ["a1", "a2"],
            "h2": ["a3", "a4"],
            "h3": ["b1", "b2", "c1", "c2", "c3"],
            "h4": ["n1", "n2"],  # appears
            "h5": ["e1", "e2"],
            "h6": ["f1", "f2", "x1"],
        }
    )
    out = compare_groups(a, b)
    assert out["groups"] == {"a": 6, "b": 6, "unchanged": 1}
    assert out["split"] == [{"group": "a1 (4)", "into": ["a1 (2)", "a3 (2)"]}]
    assert out["merged"] == [{"group": "b1 (5)", "from": ["b1 (2)", "c1 (3)"]}]
    assert out["appeared"] == ["n1 (2)"]
    assert out["vanished"] == ["d1 (2)"]
    assert out["grew"] == [{"group": "f1 (2)", "now": "f1 (3)"}]  # the merge is not growth
    assert out["shrank"] == []
    moved = {m["id"]: (m["a"], m["b"]) for m in out["moved"]}
    assert moved == {
        "a3": ("a1 (4)", "a3 (2)"),
        "a4": ("a1 (4)", "a3 (2)"),
        "d1": ("d1 (2)", None),
        "d2": ("d1 (2)", None),
        "n1": (None, "n1 (2)"),
        "n2": (None, "n1 (2)"),
        "x1": (None, "f1 (3)"),
    }


def test_a_group_that_lost_members_shrank_and_they_moved():
    out = compare_groups(rows({"g1": ["p", "q", "r", "s"]}), rows({"h1": ["q", "r", "s"]}))
    assert out["shrank"] == [{"group": "p (4)", "now": "q (3)"}]
    assert out["grew"] == out["split"] == out["vanished"] == []
    assert out["moved"] == [{"id": "p", "a": "p (4)", "b": None}]


def test_the_same_groups_under_other_labels_are_unchanged():
    a = rows({"g000": ["p", "q"], "g001": ["r", "s", "t"]})
    b = rows({"g007": ["r", "s", "t"], "g003": ["p", "q"]})
    out = compare_groups(a, b)
    assert out["groups"]["unchanged"] == 2
    assert out["split"] == out["merged"] == out["moved"] == []
    assert out["appeared"] == out["vanished"] == []


def test_verified_pairs_gained_and_lost_by_relation():
    def entry(ref, relations):
        return {
            "reference": {"id": ref},
            "neighbours": [{"id": n, "relation": r} for n, r in relations.items()],
        }

    a = [entry("r", {"x": "copy", "y": "copy", "z": "shares_part", "w": None})]
    b = [entry("r", {"x": "copy", "y": "shares_part", "z": None, "w": "copy"})]
    out = compare_verified(a, b)
    assert out["copy"] == {"a": 2, "b": 2, "gained": [["r", "w"]], "lost": [["r", "y"]]}
    assert out["shares_part"] == {"a": 1, "b": 1, "gained": [["r", "y"]], "lost": [["r", "z"]]}


def test_metrics_table_fits_a_terminal_and_names_what_is_missing(tmp_path, monkeypatch, capsys):
    import json
    import shutil
    from pathlib import Path

    from tools.metrics import main

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/embed.json").write_text(
        json.dumps({"images": 310, "random_weights": False})
    )
    groups = {"groups": 41, "largest_group": 6, "pairwise_precision": 1.0}
    (tmp_path / "metrics/groups.json").write_text(json.dumps(groups))
    main([])
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = {line[:31].strip(): line[31:].strip() for line in lines[1:]}
    assert rows["random weights"] == "false" and rows["images embedded"] == "310"
    assert rows["groups pairwise precision"] == "1.0000" and rows["largest group"] == "6"
    assert rows["CNN mAP"] == "-"  # bulk_query has not run here


def test_compare_reports_every_section_and_says_what_a_side_lacks(tmp_path, monkeypatch, capsys):
    import json
    import shutil
    from pathlib import Path

    from tools.compare import main

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    lists = [{"reference": {"id": "r"}, "neighbours": [{"id": "x", "relation": "copy"}]}]
    for name in ("data/neighbours/neighbours.json", "data/verified/neighbours.json"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text(json.dumps(lists))
    main(["workspace", "workspace"])
    out = capsys.readouterr().out
    assert "mean_jaccard@10 1.0000" in out and "verified copies: 1 -> 1 pairs" in out
    assert "groups: not in both" in out  # groups have not run here
    (tmp_path / "data/groups").mkdir()
    (tmp_path / "data/groups/groups.csv").write_text("id,group\nr,g0\nx,g0\n")
    main(["workspace", "workspace"])
    out = capsys.readouterr().out
    assert "groups: 1 -> 1 (1 unchanged); 0 split, 0 merged" in out
    assert json.loads((tmp_path / "reports/compare.json").read_text())["groups"]["moved"] == []
