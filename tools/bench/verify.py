"""Section verify: pairs/s of the verifier (`verify.method`'s default) on a sample collection,
features fresh (every image described) and cached, on all cores; copies and unrelated pairs
mixed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .runner import Row

PAIRS_PER_PICTURE = 40


def measure(work: Path, options) -> dict:
    from similar import settings
    from similar.files import read_csv, sha256_file
    from similar.verification.runner import ImageRef, default_workers, verify_pairs
    from tools.sample import build

    pictures = 8 if options.quick else 64
    build(work / "vsample", pictures)
    rows_ = read_csv(work / "vsample/groups.csv")
    paths = {p.stem: p for p in (work / "vsample/images").rglob("*.jpg")}
    images = {r["id"]: ImageRef(str(paths[r["id"]]), sha256_file(paths[r["id"]])) for r in rows_}
    ids = sorted(images)
    rng = np.random.default_rng(7)
    drawn = rng.integers(0, len(ids), size=(pictures * PAIRS_PER_PICTURE, 2))
    pairs = [(ids[i], ids[j]) for i, j in drawn if i != j]
    verify = settings.defaults().verify
    cache = work / "features"
    start = time.perf_counter()
    verify_pairs(pairs, verify, images, cache, verify.workers)
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    verify_pairs(pairs, verify, images, cache, verify.workers)
    cached = time.perf_counter() - start
    return {
        "method": verify.method,
        "images": len(ids),
        "pairs": len(pairs),
        "workers": default_workers(),
        "fresh_pairs_per_second": round(len(pairs) / fresh, 1),
        "pairs_per_second": round(len(pairs) / cached, 1),
    }


def rows(v: dict) -> list[Row]:
    return [
        Row(
            f"verify ({v['method']}), {v['pairs']} pairs on {v['workers']} processes",
            f"{v['pairs_per_second']} pairs/s cached, {v['fresh_pairs_per_second']} fresh",
        )
    ]
