"""Embedding through compute.scheduler: a Dask cluster's workers decode and run the model,
with the vectors of the in-process run to the bit, and a worker killed mid-run costing only
its task (a real `dask scheduler` and two `dask worker`s on 127.0.0.1)."""

import hashlib
import signal
import threading
import time

import numpy as np
import pytest
from conftest import real_photo
from test_compute import Cluster

from similar import parameters
from similar.files import staged_outputs
from similar.vectors import embedding
from similar.vectors.images import ImageEntry
from tools import devset

pytestmark = pytest.mark.e2e


def collection(folder, count=24):
    """`count` JPEGs: crops of the packaged photographs, and one file that is not an image."""
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field"]
    folder.mkdir()
    entries = []
    for i in range(count):
        img = real_photo(names[i % len(names)], size=None).convert("RGB")
        w, h = img.size
        img.crop((i * 3, i * 2, w - i * 4, h - i)).resize((96, 80)).save(folder / f"{i:03d}.jpg")
        entries.append(ImageEntry(f"{i:03d}", f"{i:03d}.jpg", folder / f"{i:03d}.jpg"))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    entries.insert(5, ImageEntry("broken", "broken.jpg", folder / "broken.jpg"))
    devset.pasted(real_photo("coffee", size=160).convert("RGB")).save(folder / "page.png")
    entries.insert(9, ImageEntry("page", "page.png", folder / "page.png"))
    return entries


def plan():
    embed = {
        "model": "efficientnet_b0",
        "weights": "random",
        "image_size": 64,
        "batch_size": 4,
        "num_workers": 0,
    }
    return embedding.plan(parameters.from_mapping({"embed": embed}).embed)


def embed(tmp_path, entries, name, scheduler=""):
    target = tmp_path / name / "vectors.npy"
    target.parent.mkdir()
    with staged_outputs() as out:
        done = embedding.embed_collection(
            entries, plan(), tmp_path / name / "cache", target, out, scheduler
        )
    return np.load(target).tobytes(), done


def test_a_cluster_embeds_the_same_bits_and_survives_a_killed_worker(tmp_path, monkeypatch):
    entries = collection(tmp_path / "images")
    here, done_here = embed(tmp_path, entries, "here")
    monkeypatch.setattr(embedding, "IMAGES_PER_TASK", 4)  # 7 tasks, one batch each
    cluster = Cluster(tmp_path)
    try:
        cache = tmp_path / "dask" / "cache"

        def kill_after_the_first_task():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if cache.exists() and len(list(cache.rglob("*.vec"))) >= 4:
                    cluster.workers[0].send_signal(signal.SIGKILL)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_after_the_first_task, daemon=True)
        killer.start()
        there, done_there = embed(tmp_path, entries, "dask", cluster.address)
        killer.join()
        assert cluster.workers[0].poll() is not None  # the worker was killed mid-run
    finally:
        cluster.close()
    assert hashlib.sha256(there).hexdigest() == hashlib.sha256(here).hexdigest()
    assert done_there["index"] == done_here["index"] and done_there["failed"] == done_here["failed"]
    assert done_there["failed"][0][0] == "broken.jpg" and len(done_there["index"]) == 25
    # what the killed worker had cached before it died is reused, nothing is lost or doubled
    assert done_there["computed"] + done_there["reused"] == 25
    # the picture on the page, found and embedded by a worker: the same box and bits
    here_pictures, there_pictures = done_here["pictures"], done_there["pictures"]
    assert there_pictures.ids.tolist() == ["page"] == here_pictures.ids.tolist()
    np.testing.assert_array_equal(there_pictures.boxes, here_pictures.boxes)
    assert there_pictures.vectors.tobytes() == here_pictures.vectors.tobytes()


PIPELINE = ("embed", "reduce", "attach_iiif", "ingest", "bulk_query", "graph", "verify", "groups")
OUTPUTS = (
    "data/embeddings/vectors.npy",
    "data/embeddings/images.csv",
    "data/verified/neighbours.json",
    "data/groups/groups.csv",
    "data/groups/groups.json",
)


def test_embed_verify_and_groups_through_a_cluster_match_the_pool(small_collection, monkeypatch):
    """The stages as a user runs them, first on the default pool, then through a real
    scheduler and two workers started outside the project folder, with fresh caches and one
    worker killed during groups: the same bytes."""
    from conftest import run_stage

    from similar import compute
    from similar.verification import runner

    root = small_collection.root
    for stage in PIPELINE:
        run_stage(stage)
    pooled = {name: (root / name).read_bytes() for name in OUTPUTS}

    monkeypatch.setattr(runner, "PAIRS_PER_TASK", 4)  # many small tasks: a kill lands mid-run
    monkeypatch.setattr(runner, "IMAGES_PER_TASK", 2)
    monkeypatch.setattr(embedding, "IMAGES_PER_TASK", 4)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    cluster = Cluster(elsewhere, cwd=elsewhere)
    armed = {"now": False}
    real_map = compute.Dask.map

    def map_killing_a_worker(self, function, tasks, shared=None, progress=None, label=str):
        def after(task):
            if armed["now"]:
                armed["now"] = False
                cluster.workers[0].send_signal(signal.SIGKILL)
            if progress:
                progress(task)

        return real_map(self, function, tasks, shared, after, label)

    monkeypatch.setattr(compute.Dask, "map", map_killing_a_worker)
    try:
        small_collection.set("compute.scheduler", cluster.address)
        small_collection.set("paths.embed_cache", ".cache/embed-dask")
        small_collection.set("paths.feature_cache", ".cache/features-dask")
        for stage in PIPELINE:
            armed["now"] = stage == "groups"
            run_stage(stage)
        assert cluster.workers[0].poll() is not None  # killed during groups
    finally:
        cluster.close()
    assert list((root / ".cache/features-dask").rglob("*.pack"))  # the cluster described them
    for name in OUTPUTS:
        assert (root / name).read_bytes() == pooled[name], name
