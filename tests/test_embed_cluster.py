"""Embedding through compute.scheduler: a Dask cluster's workers decode and run the model,
with the vectors of the in-process run to the bit, and a worker killed mid-run costing only
its task (a real `dask scheduler` and two `dask worker`s on 127.0.0.1)."""

import signal
import threading
import time

import numpy as np
import pytest
from conftest import real_photo
from test_compute import Cluster

from similar import embedding, settings
from similar.files import staged_outputs
from similar.images import ImageEntry

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
    return entries


def plan():
    embed = {
        "model": "efficientnet_b0",
        "weights": "random",
        "image_size": 64,
        "batch_size": 4,
        "num_workers": 0,
    }
    return embedding.plan(settings.from_mapping({"embed": embed}).embed)


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
    assert there == here
    assert done_there["index"] == done_here["index"] and done_there["failed"] == done_here["failed"]
    assert done_there["failed"][0][0] == "broken.jpg" and len(done_there["index"]) == 24
    assert done_there["computed"] == 24 and done_there["reused"] == 0
