"""Matched points: read either way round, verify's and the groups stage's read as one, and the
groups stage keeping those of the pairs groups.json lists."""

import json

import numpy as np
from conftest import run_stage

from similar.groups import grouping as groups
from similar.groups.candidates import listed_pairs
from similar.verification.base import PairResult
from similar.verification.points import (
    Points,
    group_pairs,
    points_of,
    read_points,
    records_bytes,
    write_points,
)


def record(x: float) -> dict:
    return {"mirrored": False, "points": [[x, x, x, x]]}


def test_the_groups_points_fill_only_the_pairs_verify_did_not_keep():
    matches = {"a": {"b": record(0.1)}}
    group = {"b": {"a": record(0.9)}, "c": {"d": record(0.5)}}
    out = Points.of(matches, group)
    assert points_of(out, "a", "b") == record(0.1)  # verify's, whichever way round
    assert out.record("b", "a") is None and points_of(out, "d", "c") == {
        "mirrored": False,
        "points": [[0.5, 0.5, 0.5, 0.5]],
    }
    assert len(out) == 2 and matches == {"a": {"b": record(0.1)}}  # not changed in place


def test_verify_s_points_of_a_pair_checked_both_ways_round_are_each_kept():
    matches = {"a": {"b": record(0.1)}, "b": {"a": record(0.2)}}
    out = Points.of(matches, {"a": {"b": record(0.9)}})
    assert points_of(out, "a", "b") == record(0.1) and points_of(out, "b", "a") == record(0.2)


def test_points_come_back_as_they_were_written_to_four_decimals():
    written = {
        "mirrored": True,
        "points": [[0.1234, 0.9999, 0.0001, 0.5], [1.0, 0.0, 0.3333, 0.7071]],
    }
    assert points_of(Points.of({"a": {"b": written}}), "a", "b") == written
    assert points_of(Points.of({"a": {"b": written}}), "b", "a")["points"][0] == [
        0.0001,
        0.5,
        0.1234,
        0.9999,
    ]


def test_read_points_takes_whichever_files_are_there(tmp_path):
    class Paths:
        matches = tmp_path / "matches.json"
        group_points = tmp_path / "points.json"

    def read() -> dict:
        found = read_points(Paths)
        return {a: {b: found.record(a, b)} for a, b in found.where}

    assert read() == {}
    write_points(Paths.group_points, [("c", "d", PairResult(20, matches=((0.5, 0.5, 0.5, 0.5),)))])
    assert read() == {"c": {"d": record(0.5)}}
    Paths.matches.write_text(json.dumps({"a": {"b": record(0.1)}}))
    assert read() == {"a": {"b": record(0.1)}, "c": {"d": record(0.5)}}
    Paths.group_points.write_text(json.dumps({"c": {"d": record(0.5)}}))  # one line: whole
    assert read() == {"a": {"b": record(0.1)}, "c": {"d": record(0.5)}}


def test_matches_json_is_laid_out_as_points_json_and_read_a_line_at_a_time(tmp_path):
    matches = {"a": {"b": record(0.1), "c": record(0.2)}, "é": {"f": record(0.3)}}
    written = records_bytes(matches)
    assert written.splitlines()[0] == b"{" and len(written.splitlines()) == 4
    assert json.loads(written) == matches and records_bytes({}) == b"{\n}\n"

    class Paths:
        matches = tmp_path / "matches.json"
        group_points = tmp_path / "absent.json"

    Paths.matches.write_bytes(written)
    assert points_of(read_points(Paths), "f", "é") == record(0.3)


def test_points_json_is_one_reference_to_a_line_and_one_json_object(tmp_path):
    pairs = [("p", "q", PairResult(30, matches=((0.1, 0.2, 0.3, 0.4),)))]
    pairs += [("p", "r", PairResult(20)), ("q", "r", PairResult(20, mirrored=True))]
    write_points(tmp_path / "points.json", pairs)
    lines = (tmp_path / "points.json").read_text().splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and len(lines) == 4
    assert json.loads((tmp_path / "points.json").read_text())["q"] == {
        "r": {"mirrored": True, "points": []}
    }


def test_the_points_kept_are_those_of_checked_pairs_with_an_end_in_a_group(tmp_path):
    ids = np.array(["p", "q", "r", "s", "t", "u"])
    # p-q a copy (a group); q-r shares a part; s-t shares a part (neither in a group);
    # t-u checked and nothing found
    a, b = np.array([0, 1, 3, 4]), np.array([1, 2, 4, 5])
    edges = groups.Edges(a, b, np.ones(4, np.float32))
    edges.kept = np.array([True, False, False, False])
    edges.shared = np.array([False, True, True, False])
    labels = groups.components(len(ids), a[edges.kept], b[edges.kept])
    results = [
        PairResult(30, matches=((0.1, 0.2, 0.3, 0.4),)),
        PairResult(20, mirrored=True, matches=((0.5, 0.5, 0.6, 0.6),)),
        PairResult(20),
        PairResult(0),
    ]
    found = groups.named_groups(labels, ids)
    listed = listed_pairs(ids, edges, found, results)
    assert [(a, b) for a, b, _ in listed] == [("p", "q"), ("q", "r")]
    assert listed_pairs(ids, edges, found, []) == []
    write_points(tmp_path / "points.json", listed)
    assert json.loads((tmp_path / "points.json").read_text()) == {
        "p": {"q": {"mirrored": False, "points": [[0.1, 0.2, 0.3, 0.4]]}},
        "q": {"r": {"mirrored": True, "points": [[0.5, 0.5, 0.6, 0.6]]}},
    }
    write_points(tmp_path / "none.json", [])
    assert json.loads((tmp_path / "none.json").read_text()) == {}


def test_the_groups_stage_writes_the_points_of_every_pair_it_lists(pipeline):
    run_stage("groups")
    found = json.loads((pipeline.root / "data/groups/groups.json").read_text())
    written = json.loads((pipeline.root / "data/groups/points.json").read_text())
    pairs = group_pairs(found)
    assert pairs and all(points_of(Points.of(written), *p)["points"] for p in pairs)
    listed = {frozenset(p) for p in pairs}
    assert all(frozenset((a, b)) in listed for a in written for b in written[a])
