"""Geometric verification: local features, RANSAC, mirrors, the feature cache, the verify stage."""

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import real_photo, remount_read_only, run_stage, tmpfs
from PIL import Image, ImageEnhance, ImageOps

from similar import settings
from similar.cache import ContentCache
from similar.errors import UserError
from similar.verification import prefilter
from similar.verification.base import CopyRule
from similar.verification.distances import closeness, numpy_products, two_nearest
from similar.verification.features import LEVEL, extract
from similar.verification.runner import (
    ImageRef,
    Job,
    LastUsed,
    Verifier,
    canonical_pairs,
    feature_cache,
    method_for,
    seed_of,
    verify_pairs,
)
from similar.verification.sift import check_pair

S = settings.VerifySettings(workers=1)
MAX_PIXELS = settings.EmbedSettings().max_pixels


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def features(img: Image.Image):
    return extract(jpeg(img), S.max_side, S.features, MAX_PIXELS)


@pytest.fixture(scope="module")
def original():
    return real_photo("astronaut", size=None).resize((400, 400))


def copies(original):
    w, h = original.size
    return {
        "crop": original.crop((60, 40, 330, 300)),
        "rotate": original.rotate(7, Image.Resampling.BICUBIC, expand=True, fillcolor="white"),
        "halfsize_grey": ImageOps.grayscale(original.resize((w // 2, h // 2))),
        "mirror": ImageOps.mirror(original),
        "mirror_crop": ImageOps.mirror(original).crop((30, 30, 370, 370)),
    }


@pytest.mark.parametrize("kind", ["crop", "rotate", "halfsize_grey", "mirror", "mirror_crop"])
def test_a_known_copy_is_verified(original, kind):
    r = check_pair(features(original), features(copies(original)[kind]), S, 1)
    assert r.inliers >= S.min_inliers
    assert r.mirrored == kind.startswith("mirror")
    assert r.matches and all(0 <= v <= 1 for p in r.matches for v in p)


def test_unrelated_images_stay_below_min_inliers(original):
    for other in ("coffee", "chelsea", "rocket", "camera"):
        r = check_pair(features(original), features(real_photo(other, size=None)), S, 1)
        assert r.inliers < S.min_inliers, other


def test_mirrors_need_the_mirror_setting(original):
    a, b = features(original), features(ImageOps.mirror(original))
    with_mirror = check_pair(a, b, S, 1)
    without = check_pair(a, b, settings.VerifySettings(mirror=False), 1)
    assert with_mirror.inliers >= S.min_inliers and with_mirror.mirrored
    assert without.inliers < S.min_inliers


def test_mirrored_features_are_those_of_the_mirrored_image(original):
    """Mirroring moves keypoints and permutes descriptors; the permuted descriptors of the
    image match the extracted ones of its mirror almost one to one."""
    a, b = features(original).mirrored(), features(ImageOps.mirror(original))
    best, nearest, _ = two_nearest(closeness(a.desc, b.desc, b.norms, numpy_products))
    distance = np.sqrt(a.norms - nearest) / LEVEL  # between unit descriptors
    close = np.linalg.norm(a.xy - b.xy[best], axis=1) < 1.5
    assert np.mean((distance < 0.32) & close) > 0.8  # a cosine over 0.95


@pytest.mark.parametrize("data", [b"", b"not an image", "tiny", "blank", "noise"])
def test_bad_files_give_no_features_never_a_crash(original, data):
    if data == "tiny":
        data = jpeg(original.resize((20, 20)))
    elif data == "blank":
        data = jpeg(Image.new("RGB", (300, 300), "white"))
    elif data == "noise":  # features without anything to agree on
        data = jpeg(
            Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8))
        )
    f = extract(data, S.max_side, S.features, MAX_PIXELS)
    r = check_pair(f, features(original), S, 1)
    assert r.inliers < S.min_inliers and not r.mirrored


def test_ransac_is_deterministic(original):
    a, b = features(original), features(copies(original)["rotate"])
    assert check_pair(a, b, S, seed_of("a", "b")) == check_pair(a, b, S, seed_of("a", "b"))


@pytest.fixture
def folder(tmp_path, original):
    pics = {
        "orig": original,
        **copies(original),
        "coffee": real_photo("coffee", size=None),
        "chelsea": real_photo("chelsea", size=None),
        "broken": None,
    }
    refs = {}
    for name, img in pics.items():
        path = tmp_path / f"{name}.jpg"
        data = b"\xff\xd8 broken" if img is None else jpeg(img)
        path.write_bytes(data)
        refs[name] = ImageRef(str(path), __import__("hashlib").sha256(data).hexdigest())
    return refs


@pytest.mark.slow
def test_parallel_and_serial_results_agree_and_the_cache_is_reused(folder, tmp_path):
    pairs = [("orig", other) for other in sorted(folder) if other != "orig"] * 12
    cache = tmp_path / "cache"
    serial, described, _ = verify_pairs(pairs, S, folder, cache, 1)
    assert described == len(folder)
    parallel, again, _ = verify_pairs(pairs, S, folder, cache, 2)
    assert parallel == serial and again == 0
    by_name = dict(zip([p[1] for p in pairs], serial))
    assert by_name["broken"].inliers == 0 and by_name["coffee"].inliers < S.min_inliers
    assert by_name["mirror"].mirrored
    from similar.cache import Pack

    kept = ContentCache(cache, method_for(S).cache_key()).folder
    packs = [Pack.open(p) for p in kept.rglob("*.pack")]  # the stage packs its new entries
    assert not list(kept.rglob("*.sift")) and sum(len(p.index) for p in packs) == len(folder)


def test_a_pair_is_checked_once_whichever_way_round_it_is_named(folder, tmp_path):
    """The check is not symmetric, so each pair is checked lower id first and its result
    turned round for the other order: one verdict, the matched points' ends swapped."""
    others = [name for name in sorted(folder) if name != "orig"]
    forward = [("orig", other) for other in others]
    backward = [(other, "orig") for other in others]
    found, _, _ = verify_pairs(forward + backward, S, folder, tmp_path / "cache", 1)
    ahead, behind = found[: len(others)], found[len(others) :]
    assert ahead == [r.turned() for r in behind] and behind == [r.turned() for r in ahead]
    rule = CopyRule.of(S)
    copies_found = [r for r in ahead if r.relation(rule) == "copy"]
    assert len(copies_found) >= 4 and any(r.part for r in copies_found)
    for one, other in zip(ahead, behind):
        assert one.relation(rule) == other.relation(rule)
        assert {one.part, other.part} in ({""}, {"a", "b"})
    # checked once each: named both ways, the pair costs what one way costs
    assert canonical_pairs(forward + backward) == sorted((min(a, b), max(a, b)) for a, b in forward)


def test_both_engines_of_the_products_give_the_same_results(folder, tmp_path):
    """torch's int8 products and numpy's float32 ones are the same whole numbers, so every
    pair's result is the same, prefilter included."""
    pairs = [(a, b) for a in sorted(folder) for b in sorted(folder) if a != b]
    cache = tmp_path / "cache"
    found = {
        name: verify_pairs(pairs, dataclasses.replace(S, products=name), folder, cache, 1)[0]
        for name in ("numpy", "torch")
    }
    assert found["numpy"] == found["torch"]
    assert sum(r.inliers >= S.min_inliers for r in found["numpy"]) >= 6


def test_a_worker_keeps_a_picture_decoded_for_a_closer_look_by_its_files_sha256(tmp_path):
    """Pairs sharing a file get one decoded picture; a file whose SHA-256 embed did not
    record is decoded for each pair."""
    images = {
        "page": ImageRef(str(tmp_path / "page.png"), "0" * 64),
        "card": ImageRef(str(tmp_path / "card.png"), "1" * 64),
        "loose": ImageRef(str(tmp_path / "loose.png"), ""),
    }
    v = Verifier(Job(S, images, None))
    made = []

    def make():
        made.append(1)
        return np.zeros((4, 4), np.uint8)

    first = v.reader("page", "card").kept(0, make)
    assert v.reader("page", "loose").kept(0, make) is first and len(made) == 1
    v.reader("card", "loose").kept(1, make)
    v.reader("page", "loose").kept(1, make)
    assert len(made) == 3  # the loose file each time


def test_the_last_used_are_kept_within_their_bytes():
    kept = LastUsed(limit=100)
    kept.put("a", "A", 60)
    kept.put("b", "B", 30)
    assert kept.get("a") == "A"  # now the most recently used
    kept.put("c", "C", 30)  # over the limit: b, the least recently used, goes
    assert "b" not in kept and "a" in kept and "c" in kept and kept.held == 90
    kept.put("c", "other", 30)  # one kept there already stays
    assert kept.get("c") == "C"
    kept.put("huge", "H", 500)  # the last one always kept
    assert list(kept.items) == ["huge"] and kept.get("huge") == "H"


def test_adding_images_describes_only_the_new_ones(folder, tmp_path, original):
    cache = tmp_path / "cache"
    verify_pairs([("orig", "crop")], S, folder, cache, 1)
    v = Verifier(Job(S, folder, str(cache)))
    assert v.describe("orig") is False and v.describe("rotate") is True


def test_the_prefilter_loses_no_copy_and_rejects_unrelated_pairs(folder, tmp_path):
    pairs = [("orig", other) for other in sorted(folder) if other != "orig"]
    cache = tmp_path / "cache"
    checked, _, _ = verify_pairs(pairs, dataclasses.replace(S, prefilter=0), folder, cache, 1)
    filtered, _, _ = verify_pairs(pairs, S, folder, cache, 1)
    rule = CopyRule.of(S)  # what the lists hold: a pair it rejects had no inliers to lose
    assert [r.fields(rule) for r in filtered] == [r.fields(rule) for r in checked]
    v = Verifier(Job(S, folder, str(cache)))
    others = [v.features(b) for _, b in pairs]
    counts = prefilter.ratio_counts(v.features("orig"), others, S.ratio, S.mirror).max(axis=1)
    count = dict(zip([b for _, b in pairs], counts))
    copies = [count[k] for k in ("crop", "rotate", "mirror", "mirror_crop", "halfsize_grey")]
    assert min(copies) >= S.prefilter and count["broken"] == 0
    assert max(count["coffee"], count["chelsea"]) < min(copies) / 2


def test_a_changed_image_is_one_line_naming_it(folder, tmp_path, original):
    Path(folder["crop"].path).write_bytes(jpeg(original.rotate(90)))
    with pytest.raises(UserError, match="image crop .* changed since embed: rerun `dvc repro"):
        verify_pairs([("orig", "crop")], S, folder, tmp_path / "cache", 1)


@pytest.mark.parametrize("damage", ["flip", "nan", "header", "short"])
def test_a_damaged_feature_entry_is_described_again_with_a_warning(
    folder, tmp_path, capsys, damage
):
    pairs = [("orig", "crop"), ("orig", "mirror")]
    cache = tmp_path / "cache"
    good, _, _ = verify_pairs(pairs, S, folder, cache, 1)
    store = feature_cache(method_for(S), cache)
    entry = store._file(folder["crop"].sha256)
    # the stage packed it: a loose copy of the entry, damaged, is read first
    raw = bytearray(store._packed(folder["crop"].sha256)[0])
    if damage == "flip":
        raw[500:900] = bytes(255 - x for x in raw[500:900])
    elif damage == "nan":
        raw[16:20] = np.float32("nan").tobytes()
    elif damage == "header":
        raw[0:8] = np.array([60000, 60000], "<u4").tobytes()
    else:
        raw = raw[:-40]
    entry.write_bytes(bytes(raw))
    again, described, _ = verify_pairs(pairs, S, folder, cache, 1)
    assert again == good and described == 1
    assert f"cache entry {entry} is damaged" in capsys.readouterr().err


def test_a_read_only_feature_cache_is_one_line_before_any_worker(folder, tmp_path):
    """On a read-only mount, as root (whom no file mode stops) and anyone else alike."""
    with tmpfs(tmp_path / "cache", "64m") as cache:
        verify_pairs([("orig", "crop")], S, folder, cache, 1)
        remount_read_only(cache)
        with pytest.raises(
            UserError, match="the cache folder is not writable.*paths.feature_cache"
        ):
            verify_pairs([("orig", "rotate")], S, folder, cache, 2)


# ---------------------------------------------------------------- the stage


def test_verify_stage_outputs(pipeline):
    root = pipeline.root
    verified = json.loads((root / "data/verified/neighbours.json").read_text())
    plain = json.loads((root / "data/neighbours/neighbours.json").read_text())
    assert [e["reference"] for e in verified] == [e["reference"] for e in plain]
    for e in verified:
        ns = e["neighbours"]
        assert len(ns) == 6 and all(
            set(n)
            == {"id", "url", "score", "inliers", "verified", "mirrored", "relation"}
            | {"agreement", "contained", "coverage", "inlier_ratio", "difference", "part"}
            for n in ns
        )
        flags = [n["verified"] for n in ns]
        assert flags == sorted(flags, reverse=True)  # verified first
        ok = [(n["mirrored"], -n["inliers"]) for n in ns if n["verified"]]
        assert ok == sorted(ok)  # unmirrored copies first, each by inliers
        rest = [n["score"] for n in ns if n["relation"] is None]
        assert rest == sorted(rest, reverse=True)
    # the small collection: each photo's mirror and crop are verified copies
    astro = {n["id"]: n for n in verified[0]["neighbours"]}
    assert astro["astronaut_mirror"]["verified"] and astro["astronaut_mirror"]["mirrored"]
    assert astro["astronaut_crop"]["verified"] and not astro["astronaut_crop"]["mirrored"]
    m = json.loads((root / "metrics/verify.json").read_text())
    assert m["pairs"] == 12 and m["verified_pairs"] == 4 and m["mirrored_matches"] == 2
    assert m["recall@5"] == 1.0 and m["mAP"] == 1.0 and m["candidate_recall"] == 1.0
    matches = json.loads((root / "data/verified/matches.json").read_text())
    assert set(matches["astronaut"]) == {"astronaut_mirror", "astronaut_crop"}


def test_verify_rerun_is_byte_identical_and_reuses_features(pipeline):
    root = pipeline.root
    pipeline.set("paths.feature_cache", ".cache/features")
    run_stage("verify")
    first = {
        p: (root / p).read_bytes()
        for p in (
            "data/verified/neighbours.json",
            "data/verified/matches.json",
            "metrics/verify.json",
        )
    }
    pipeline.set("verify.workers", 2)
    run_stage("verify")
    assert {p: (root / p).read_bytes() for p in first} == first
    assert json.loads((root / "reports/verify.json").read_text())["images_described"] == 0


def test_more_candidates_than_bulk_query_listed(pipeline):
    """verify.top past bulk_query.limit draws the next neighbours from the exact product."""
    pipeline.set("verify.top", 11)
    run_stage("verify")
    verified = json.loads((pipeline.root / "data/verified/neighbours.json").read_text())
    assert all(len(e["neighbours"]) == 11 for e in verified)
    assert json.loads((pipeline.root / "metrics/verify.json").read_text())["pairs"] == 22


def test_fewer_candidates_leave_the_rest_unchecked(pipeline):
    pipeline.set("verify.top", 2)
    run_stage("verify")
    verified = json.loads((pipeline.root / "data/verified/neighbours.json").read_text())
    for e in verified:
        assert [n["inliers"] is None for n in e["neighbours"]] == [False, False, True]


def test_method_none_passes_the_cnn_ranking_through(pipeline):
    pipeline.set("verify.method", "none")
    run_stage("verify")
    verified = json.loads((pipeline.root / "data/verified/neighbours.json").read_text())
    plain = json.loads((pipeline.root / "data/neighbours/neighbours.json").read_text())
    assert [[(n["id"], n["score"]) for n in e["neighbours"]] for e in verified] == [
        [(n["id"], n["score"]) for n in e["neighbours"]] for e in plain
    ]
    assert all(
        n["inliers"] is None and not n["verified"] for e in verified for n in e["neighbours"]
    )
    m = json.loads((pipeline.root / "metrics/verify.json").read_text())
    q = json.loads((pipeline.root / "metrics/bulk_query.json").read_text())
    assert m["pairs"] == 0 and m["mAP"] == q["mAP"]


def test_without_the_images_verify_says_so(pipeline):
    import shutil

    shutil.rmtree(pipeline.root / "images")
    with pytest.raises(settings.UserError, match="the images are not here.*make pull"):
        run_stage("verify")


def test_a_faint_picture_is_detected_at_a_lower_contrast_until_it_holds_enough(original):
    """A pale print holds few keypoints at SIFT's own threshold; described at lower ones, as
    many as its full-contrast original, and its copy is found."""
    from similar.verification.features import ENOUGH

    faint = ImageEnhance.Contrast(original).enhance(0.2)  # 59 keypoints at 0.04
    assert features(faint).count >= ENOUGH
    found = check_pair(features(faint), features(original), S, 1)
    assert found.relation(CopyRule.of(S)) == "copy", found


def test_a_small_picture_is_enlarged_only_when_asked_and_its_thumbnail_holds_its_own_pixels(
    original,
):
    from similar.verification.features import THUMB

    data = jpeg(original.resize((60, 40)))
    small = extract(data, S.max_side, S.features, MAX_PIXELS)
    assert small.size == (60, 40) and small.thumb.shape == (40, 60)
    enlarged = extract(data, S.max_side, S.features, MAX_PIXELS, enlarge_to=256)
    assert enlarged.size == (256, 171) and enlarged.thumb.shape == (40, 60)
    assert enlarged.count > small.count
    large = features(original)
    assert large.size == (400, 400) and large.thumb.shape == (THUMB, THUMB)


def test_the_strongest_keypoints_are_taken_in_turn_from_every_cell():
    """A page of type: strong letters all over, a picture with weaker keypoints in one cell.
    Kept by strength alone, the picture would hold none; spread, it holds its turn."""
    from similar.verification.features import SPREAD, spread

    rng = np.random.default_rng(1)
    letters = rng.uniform(0, 400, (1200, 2))
    letters = letters[(letters >= 400 / SPREAD).any(axis=1)][:900]  # none on the picture
    picture = rng.uniform(0, 400 / SPREAD, (100, 2))  # all in the first cell
    xy = np.vstack([letters, picture]).astype(np.float32)
    response = np.r_[rng.uniform(0.5, 1.0, 900), rng.uniform(0.1, 0.4, 100)]
    chosen = spread(xy, response, (400, 400), 256)
    assert len(chosen) == 256 and len(set(chosen.tolist())) == 256
    assert (chosen >= 900).sum() >= 256 // SPREAD**2 - 1
    assert np.argsort(-response, kind="stable")[:256].max() < 900  # by strength: none
    first = chosen[: SPREAD * SPREAD]  # the strongest of each cell come first
    cells = (xy[first] * SPREAD // 400).astype(int)
    assert len({tuple(cell) for cell in cells.tolist()}) == SPREAD * SPREAD
