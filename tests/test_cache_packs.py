"""Packed caches: loose entries moved into one pack per shard, read back by key, merged past
MAX_PACKS, their checksums kept, and a damaged packed entry computed again."""

import hashlib
import json

import numpy as np
from conftest import run_stage

from similar import cache as cache_module
from similar.cache import MAX_PACKS, PACK_SUFFIX, EmbedCache


def keys(count, start=0):
    found = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + count)]
    return found + ["ab" * 31 + "00", "ab" * 30 + "0000"]  # digests ending in zero bytes


def filled(tmp_path, names):
    store = EmbedCache(tmp_path, {"a": 1}, dim=4)
    for i, key in enumerate(names):
        store.put(key, np.full(4, i, np.float32), (i, i + 1))
    return store


def assert_all_there(store, names):
    for i, key in enumerate(names):
        vector, size = store.get(key)
        assert vector.tolist() == [i] * 4 and size == (i, i + 1)


def test_packing_moves_every_entry_into_one_file_a_shard(tmp_path):
    names = keys(2000)
    store = filled(tmp_path, names)
    assert store.pack() == len(names)
    files = [p for p in store.folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".vec"]  # no loose entry left
    shards = {p.parent.name for p in files if p.suffix == PACK_SUFFIX}
    assert len(files) == len(shards) + 1 <= 257  # a pack per shard, and settings.json
    assert_all_there(EmbedCache(tmp_path, {"a": 1}, dim=4), names)  # a fresh process's view
    assert store.get("ff" * 32) is None


def test_new_entries_add_packs_merged_past_the_limit(tmp_path):
    names = []
    for round_ in range(MAX_PACKS + 3):
        more = [f"7a{round_:02x}" + "0" * 58 + f"{i:02x}" for i in range(5)]  # one shard
        filled(tmp_path, names + more).pack()
        names += more
        packs = list((tmp_path).rglob(f"7a/*{PACK_SUFFIX}"))
        assert len(packs) <= MAX_PACKS
    assert_all_there(EmbedCache(tmp_path, {"a": 1}, dim=4), names)


def test_a_damaged_packed_entry_is_computed_again_and_replaced(tmp_path, capsys):
    names = keys(50)
    store = filled(tmp_path, names)
    store.pack()
    victim = names[7]
    pack = next((store.folder / victim[:2]).glob(f"*{PACK_SUFFIX}"))
    offset, length = cache_module.Pack.open(pack).find(victim)
    raw = bytearray(pack.read_bytes())
    raw[offset + 9] ^= 0xFF  # inside the vector
    pack.write_bytes(bytes(raw))
    fresh = EmbedCache(tmp_path, {"a": 1}, dim=4)
    assert fresh.get(victim) is None
    assert f"cache entry {victim} in {pack} is damaged" in capsys.readouterr().err
    fresh.put(victim, np.full(4, 7, np.float32), (7, 8))  # computed again: a loose entry
    assert_all_there(fresh, names)
    fresh.pack()  # the newer pack holds the good copy, read first
    assert_all_there(EmbedCache(tmp_path, {"a": 1}, dim=4), names)
    assert capsys.readouterr().err == ""


def test_a_pack_whose_tail_is_damaged_is_ignored_whole(tmp_path):
    names = keys(20)
    store = filled(tmp_path, names)
    store.pack()
    for pack in store.folder.rglob(f"*{PACK_SUFFIX}"):
        pack.write_bytes(pack.read_bytes()[:-3])
    fresh = EmbedCache(tmp_path, {"a": 1}, dim=4)
    assert all(fresh.get(key) is None for key in names)  # computed again, no traceback


def test_the_embed_stage_leaves_packs_and_reruns_from_them(small_collection, monkeypatch):
    from similar.vectors import embedding

    monkeypatch.setattr(embedding, "PACK_EVERY", 5)  # packs also while it runs
    small_collection.set("paths.embed_cache", ".cache/embed")
    run_stage("embed")
    root = small_collection.root
    first = (root / "data/embeddings/vectors.npy").read_bytes()
    assert not list((root / ".cache/embed").rglob("*.vec"))
    assert list((root / ".cache/embed").rglob(f"*{PACK_SUFFIX}"))
    run_stage("embed")
    assert (root / "data/embeddings/vectors.npy").read_bytes() == first

    report = json.loads((root / "reports/embed.json").read_text())
    assert report["computed"] == 0 and report["reused"] == 12
