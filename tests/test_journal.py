"""The journal of checked pairs: a stopped run resumes where it stopped, to the same bytes."""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
import pytest
from conftest import real_photo, run_stage
from PIL import Image, ImageOps

from similar import settings
from similar.verification import runner
from similar.verification.journal import (
    Journal,
    decoded,
    encoded,
    journal_settings,
    task_key,
)
from similar.verification.runner import (
    ImageRef,
    Job,
    Verifier,
    canonical_pairs,
    check_task,
    pair_tasks,
    verify_pairs,
)

S = settings.VerifySettings(workers=1)


@pytest.fixture
def images(tmp_path):
    """Real photographs, a few copies of one of them, and a file that is no picture."""
    original = real_photo("astronaut", size=None).resize((320, 320))
    pictures = {
        "astronaut": original,
        "crop": original.crop((40, 30, 290, 280)),
        "mirror": ImageOps.mirror(original),
        "turned": original.rotate(7, Image.Resampling.BICUBIC, expand=True, fillcolor="white"),
        "coffee": real_photo("coffee", size=320),
        "chelsea": real_photo("chelsea", size=320),
        "rocket": real_photo("rocket", size=320),
        "broken": None,
    }
    refs = {}
    for name, picture in pictures.items():
        path = tmp_path / "images" / f"{name}.jpg"
        path.parent.mkdir(exist_ok=True)
        if picture is None:
            path.write_bytes(b"\xff\xd8 broken")
        else:
            picture.convert("RGB").save(path, "JPEG", quality=90)
        refs[name] = ImageRef(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return refs


@pytest.fixture
def small_tasks(monkeypatch):
    """Tasks of a few pairs, so that a handful of images make several tasks."""
    monkeypatch.setattr(runner, "PAIRS_PER_TASK", 4)


def every_pair(images) -> list[tuple[str, str]]:
    return [(a, b) for a in sorted(images) for b in sorted(images) if a < b]


def entries(cache) -> list:
    return sorted(cache.rglob("*.pairs"))


def counted_checks(monkeypatch) -> list:
    """The first images the verifier checks, one per group of a task it checks."""
    checked = []
    check_many = Verifier.check_many

    def counting(self, a, others):
        checked.append(a)
        return check_many(self, a, others)

    monkeypatch.setattr(Verifier, "check_many", counting)
    return checked


def test_results_read_back_equal_to_the_last_bit(images, tmp_path):
    found, _, _ = verify_pairs(every_pair(images), S, images, tmp_path / "cache", 1)
    assert any(r.matches and r.part for r in found)  # copies, with points and a part
    assert decoded(encoded([found])) == [found]
    copy = next(r for r in found if r.matches)
    numpy_fields = dataclasses.replace(copy, mirrored=np.bool_(True), keypoints=np.int64(9))
    assert decoded(encoded([[numpy_fields]])) == [[numpy_fields]]
    assert decoded(b"not json") is None and decoded(b'[[{"no_such_field": 1}]]') is None


def test_a_stopped_run_resumes_checking_only_what_it_had_not(
    images, tmp_path, small_tasks, monkeypatch, capsys
):
    pairs = every_pair(images)
    uninterrupted, _, _ = verify_pairs(pairs, S, images, tmp_path / "fresh", 1)
    cache = tmp_path / "cache"
    tasks, _ = pair_tasks(canonical_pairs(pairs))
    assert len(tasks) >= 4
    # the run that was stopped: its workers ended two tasks, then it was killed
    job = Job(S, images, str(cache), None, journal_settings(S, None))
    for task in tasks[:2]:
        check_task(job, task)
    assert len(entries(cache)) == 2
    checked = counted_checks(monkeypatch)
    done = sum(len(others) for task in tasks[:2] for _, others in task)
    other_limit = Journal(
        cache, journal_settings(S, 10_000)
    )  # another pixel limit: another journal
    assert not any(other_limit.holds(task_key(task, images)) for task in tasks)
    resumed, _, read_back = verify_pairs(pairs, S, images, cache, 1)
    assert resumed == uninterrupted and read_back == done
    said = capsys.readouterr().err
    assert f"resuming: {done} of {len(pairs)} pairs were checked by a run that was stopped" in said
    assert checked == [a for task in tasks[2:] for a, _ in task]  # the first two were read
    assert entries(cache) == []  # a run that ends leaves no journal behind
    folders = sorted(p.name for p in cache.iterdir())
    assert folders == sorted(p.name for p in (tmp_path / "fresh").iterdir())


def test_a_run_that_ends_leaves_nothing_and_no_cache_keeps_nothing(images, tmp_path):
    verify_pairs(every_pair(images), S, images, None, 1)  # no feature cache: no journal
    cache = tmp_path / "cache"
    verify_pairs(every_pair(images), S, images, cache, 1)
    assert entries(cache) == [] and len(list(cache.iterdir())) == 1  # the features alone


def test_a_changed_setting_image_or_code_reads_nothing_a_stopped_run_left(images, monkeypatch):
    base = journal_settings(S, None)
    assert journal_settings(dataclasses.replace(S, workers=2), None) == base
    assert journal_settings(dataclasses.replace(S, min_inliers=20), None) != base
    assert journal_settings(S, 10_000) != base
    task = [("astronaut", ["crop", "mirror"])]
    changed = {**images, "crop": ImageRef(images["crop"].path, "0" * 64)}
    assert task_key(task, changed) != task_key(task, images)
    assert task_key([("astronaut", ["mirror", "crop"])], images) != task_key(task, images)
    from similar.verification import journal

    journal.code_digest.cache_clear()
    monkeypatch.setattr(journal, "LIBRARIES", ("numpy",))
    assert journal_settings(S, None) != base


def test_a_damaged_entry_is_checked_again_with_a_warning(
    images, tmp_path, small_tasks, monkeypatch, capsys
):
    pairs = every_pair(images)
    cache = tmp_path / "cache"
    uninterrupted, _, _ = verify_pairs(pairs, S, images, cache, 1)
    tasks, _ = pair_tasks(canonical_pairs(pairs))
    job = Job(S, images, str(cache), None, journal_settings(S, None))
    check_task(job, tasks[0])
    (entry,) = entries(cache)
    entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    checked = counted_checks(monkeypatch)
    assert verify_pairs(pairs, S, images, cache, 1)[0] == uninterrupted
    assert checked[: len(tasks[0])] == [a for a, _ in tasks[0]]  # checked again
    assert "is damaged (its checksum does not match); computing it again" in capsys.readouterr().err


def test_a_run_that_ends_removes_what_a_stopped_run_left_before_it_began(images, tmp_path):
    cache = tmp_path / "cache"
    journal = Journal(cache, journal_settings(S, None))
    left, beside = "1" * 64, "2" * 64
    journal.put(left, [[runner.NO_MATCH]])  # a stopped run's task that no run resumes
    os.utime(journal.folder / left[:2] / f"{left}.pairs", (1, 1))
    half_written = journal.folder / left[:2] / f".{left}.pairs.99999.abc.tmp"  # a killed worker's
    half_written.write_bytes(b"half")
    os.utime(half_written, (1, 1))
    started = os.stat(journal.folder / left[:2] / f"{left}.pairs").st_mtime + 10
    journal.forget([], started)
    assert not journal.folder.exists()
    assert entries(cache) == []
    journal.put(beside, [[runner.NO_MATCH]])  # a run beside this one, written meanwhile
    later = time.time() + 3600
    os.utime(journal.folder / beside[:2] / f"{beside}.pairs", (later, later))
    verify_pairs(every_pair(images), S, images, cache, 1)
    assert [p.name for p in entries(cache)] == [f"{beside}.pairs"]
    assert journal.get(beside) == [[runner.NO_MATCH]]


def test_a_groups_run_stopped_by_ctrl_c_resumes_to_the_same_bytes(
    pipeline, small_tasks, monkeypatch, capsys
):
    """Ctrl-C while groups checks its pairs (in process, as `verify.workers: 1` runs them):
    the tasks that ended stay in the journal, the stage started again says so, checks the
    rest, writes what the uninterrupted run wrote, and leaves no journal."""
    outputs = [pipeline.root / "data/groups" / name for name in ("groups.csv", "groups.json")]
    uninterrupted = [path.read_bytes() for path in outputs]
    checked, check_many = [], Verifier.check_many

    def stopped_at_the_sixth(self, a, others):
        if len(checked) == 5:
            raise KeyboardInterrupt
        checked.append(a)
        return check_many(self, a, others)

    monkeypatch.setattr(Verifier, "check_many", stopped_at_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        run_stage("groups")
    assert entries(pipeline.root / ".cache/features")  # a task of at most 4 groups ended
    monkeypatch.setattr(Verifier, "check_many", check_many)
    capsys.readouterr()
    run_stage("groups")
    said = capsys.readouterr()
    assert "pairs were checked by a run that was stopped" in said.err
    assert [path.read_bytes() for path in outputs] == uninterrupted
    assert entries(pipeline.root / ".cache/features") == []
    report = json.loads((pipeline.root / "reports/groups.json").read_text())
    assert report["pairs_read_back"] > 0 and report["pairs_per_second"] is None
    assert f"({report['pairs_read_back']} pairs read back from a stopped run)" in said.out
    run_stage("groups")  # nothing left to read back: the stage's own rate again
    report = json.loads((pipeline.root / "reports/groups.json").read_text())
    assert report["pairs_read_back"] == 0 and report["pairs_per_second"] > 0


def test_a_run_that_read_pairs_back_gives_no_rate_of_its_own():
    from similar.verification import rerank

    figures = {"pairs": 10, "distinct_pairs": 8, "verified_pairs": 2, "mirrored_matches": 0}
    figures["shared_part_pairs"] = 1
    whole, resumed = rerank.report(figures, 3, 2.0), rerank.report(figures, 0, 1.0, 6)
    assert whole["pairs_per_second"] == 5.0 and whole["pairs_read_back"] == 0
    assert resumed["pairs_per_second"] is None and resumed["pairs_read_back"] == 6
    assert "(6 pairs read back from a stopped run)" in rerank.summary(figures, 0, 1.0, "out", 6)
    assert "read back" not in rerank.summary(figures, 3, 2.0, "out")
