"""The embed cache: incremental, resumable, and invisible in the outputs' bytes."""

import json

import numpy as np
import pytest
from conftest import real_photo, run_stage

import similar.vectors.embedding as embed_stage
from similar.cache import EmbedCache


def report(root):
    return json.loads((root / "reports/embed.json").read_text())


@pytest.fixture
def cached(small_collection):
    small_collection.set("paths.embed_cache", ".cache/embed")
    return small_collection


def test_rerun_reuses_everything_and_bytes_match_uncached(cached):
    root = cached.root
    run_stage("embed")
    assert report(root)["computed"] + report(root)["reused"] == 12
    first = (root / "data/embeddings/vectors.npy").read_bytes()
    run_stage("embed")
    assert (report(root)["computed"], report(root)["reused"]) == (0, 12)
    assert (root / "data/embeddings/vectors.npy").read_bytes() == first
    cached.set("paths.embed_cache", "")
    run_stage("embed")
    assert (report(root)["computed"], report(root)["reused"]) == (12, 0)
    assert (root / "data/embeddings/vectors.npy").read_bytes() == first


def test_adding_images_computes_only_the_new_ones(cached):
    run_stage("embed")
    for i, name in enumerate(["coins", "moon"]):
        real_photo(name, size=80).save(cached.root / "images" / f"new_{i}.jpg")
    run_stage("embed")
    assert (report(cached.root)["computed"], report(cached.root)["reused"]) == (2, 12)


def test_killed_run_resumes_where_it_stopped(cached, monkeypatch):
    calls = {"n": 0}
    real = embed_stage.embed_batch

    def dies_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(embed_stage, "embed_batch", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run_stage("embed")
    assert not (cached.root / "data/embeddings/vectors.npy").exists()  # nothing half-written
    monkeypatch.setattr(embed_stage, "embed_batch", real)
    run_stage("embed")
    assert (report(cached.root)["computed"], report(cached.root)["reused"]) == (4, 8)


def test_settings_change_the_cache_folder(cached):
    run_stage("embed")
    cached.set("embed.seed", 1)
    run_stage("embed")
    assert report(cached.root)["reused"] == 0
    folders = [
        json.loads((f / "settings.json").read_text())
        for f in (cached.root / ".cache/embed").iterdir()
    ]
    assert sum("pictures" not in settings for settings in folders) == 2  # and the pictures' two
    assert len(folders) == 4


def test_cache_ignores_torn_entries(tmp_path):
    cache = EmbedCache(tmp_path, {"a": 1}, dim=4)
    cache.put("ab" * 32, np.arange(4, dtype=np.float32), (10, 20))
    vec, size = cache.get("ab" * 32)
    assert size == (10, 20) and vec.tolist() == [0, 1, 2, 3]
    cache._file("ab" * 32).write_bytes(b"short")
    assert cache.get("ab" * 32) is None


def test_a_damaged_vector_entry_is_computed_again_with_a_warning(tmp_path, capsys):
    """A NaN written into an entry, or its bytes reversed: the checksum catches both."""
    cache = EmbedCache(tmp_path, {"a": 1}, dim=4)
    for damage in ("nan", "reversed"):
        cache.put("cd" * 32, np.arange(4, dtype=np.float32), (10, 20))
        entry = cache._file("cd" * 32)
        raw = bytearray(entry.read_bytes())
        if damage == "nan":
            raw[8:12] = np.float32("nan").tobytes()
        else:
            raw[8:24] = raw[8:24][::-1]
        entry.write_bytes(bytes(raw))
        assert cache.get("cd" * 32) is None
        assert f"cache entry {entry} is damaged" in capsys.readouterr().err


@pytest.mark.slow
def test_many_processes_fill_one_cache_at_once(tmp_path):
    """Content-addressed entries written atomically: writers racing on the same keys never
    leave a reader a torn or wrong entry."""
    from concurrent.futures import ProcessPoolExecutor

    keys = [f"{i:02x}" * 32 for i in range(40)]
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(fill_cache, [(str(tmp_path), keys)] * 8))
    cache = EmbedCache(tmp_path, {"a": 1}, dim=4)
    for i, key in enumerate(keys):
        vec, size = cache.get(key)
        assert vec.tolist() == [i, i, i, i] and size == (i, i)
    assert not list(tmp_path.rglob("*.tmp"))


def fill_cache(job):
    root, keys = job
    cache = EmbedCache(root, {"a": 1}, dim=4)
    for _ in range(5):
        for i, key in enumerate(keys):
            cache.put(key, np.full(4, i, np.float32), (i, i))
            found = cache.get(key)
            assert found is not None and found[0].tolist() == [i, i, i, i]


def test_bf16_stays_close_to_fp32(small_collection):
    run_stage("embed")
    fp32 = np.load(small_collection.root / "data/embeddings/vectors.npy")
    small_collection.set("embed.precision", "bf16")
    run_stage("embed")
    bf16 = np.load(small_collection.root / "data/embeddings/vectors.npy")
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() > 0.999


def test_a_picture_entry_keeps_its_box_and_vector_or_that_there_is_none(tmp_path, capsys):
    from similar.cache import PictureCache

    cache = PictureCache(tmp_path, {"a": 1}, dim=4)
    assert cache.get("ab" * 32) is None  # never looked at
    cache.put("ab" * 32, (1, 2, 30, 40), np.arange(4, dtype=np.float32))
    box, vector = cache.get("ab" * 32)
    assert box == (1, 2, 30, 40) and vector.tolist() == [0, 1, 2, 3]
    cache.put("cd" * 32, None, None)
    assert cache.get("cd" * 32) == (None, None)  # looked at: no picture
    entry = cache._file("ab" * 32)
    raw = bytearray(entry.read_bytes())
    raw[20:24] = np.float32("nan").tobytes()
    entry.write_bytes(bytes(raw))
    assert cache.get("ab" * 32) is None
    assert "damaged" in capsys.readouterr().err
