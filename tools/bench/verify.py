"""Section verify: pairs/s of the verifier (`verify.method`'s default) on a sample collection,
features fresh (every image described) and cached, on the default pool; the same without the
prefilter (every pair checked); each engine of the descriptor products (`verify.products`:
torch's int8 product, numpy's float32 one) on a pool of a process per core, each image
against 100 others as a reference against its candidates, and whether they agree; and
through a Dask LocalCluster of as many workers as the pool had, against the pool; copies
and unrelated pairs mixed. Dask is timed twice: on a cluster already running (its pairs/s
against the pool's), and as `local:N`, which starts its cluster inside the run (the start
is most of the difference at these sizes)."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from .runner import Row

PICTURES = 46  # the sample's default: v3 keeps the other photographs for its hard cases
QUICK_PICTURES = 8
PAIRS = 2560  # drawn at random, self-pairs dropped
QUICK_PAIRS = 320
CANDIDATES = 100  # the verify stage's verify.top


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def sizes(options) -> tuple[int, int]:
    """(pictures, pairs) of this run."""
    return (QUICK_PICTURES, QUICK_PAIRS) if options.quick else (PICTURES, PAIRS)


def check(options) -> None:
    """Refuse, before any section runs, a sample the sample maker cannot build."""
    from tools.sample import distinct_pictures

    distinct_pictures(sizes(options)[0])


def measure(work: Path, options) -> dict:
    from similar import parameters
    from similar.files import read_csv, sha256_file
    from similar.verification.runner import ImageRef, verify_pairs, workers_for
    from tools.sample import build

    pictures, pair_count = sizes(options)
    build(work / "vsample", pictures)
    rows_ = read_csv(work / "vsample/groups.csv")
    paths = {p.stem: p for p in (work / "vsample/images").rglob("*.jpg")}
    images = {r["id"]: ImageRef(str(paths[r["id"]]), sha256_file(paths[r["id"]])) for r in rows_}
    ids = sorted(images)
    rng = np.random.default_rng(7)
    drawn = rng.integers(0, len(ids), size=(pair_count, 2))
    pairs = [(ids[i], ids[j]) for i, j in drawn if i != j]
    verify = parameters.defaults().verify
    unfiltered = dataclasses.replace(verify, prefilter=0)
    cache = work / "features"
    workers = workers_for(verify.workers, len(pairs), len(ids))

    def run(how=verify, scheduler=""):
        return verify_pairs(pairs, how, images, cache, verify.workers, scheduler=scheduler)[0]

    def check(some, how, processes):
        return verify_pairs(some, how, images, cache, processes)[0]

    fresh = timed(run)
    cached = timed(run)
    unfiltered_cached = timed(lambda: run(unfiltered))
    shutil.rmtree(cache)
    unfiltered_fresh = timed(lambda: run(unfiltered))
    found = run()
    engines = engine_figures(check, ids, verify)
    dask = {}
    if not options.quick:
        dask = dask_figures(lambda scheduler: run(scheduler=scheduler), workers, found)
        dask["dask_pairs_per_second"] = round(len(pairs) / dask.pop("seconds"), 1)
        dask["dask_with_start_pairs_per_second"] = round(len(pairs) / dask.pop("with_start"), 1)
    return {
        "method": verify.method,
        "images": len(ids),
        "pairs": len(pairs),
        "workers": workers,
        "fresh_pairs_per_second": round(len(pairs) / fresh, 1),
        "pairs_per_second": round(len(pairs) / cached, 1),
        "unfiltered_fresh_pairs_per_second": round(len(pairs) / unfiltered_fresh, 1),
        "unfiltered_pairs_per_second": round(len(pairs) / unfiltered_cached, 1),
        **engines,
        **dask,
    }


def engine_figures(check, ids: list, verify) -> dict:
    """Seconds of `check(pairs, settings, processes)` with features cached, on a pool of a
    process per core, for each engine of the descriptor products (`verify.products`), over
    pairs shaped as the verify stage's (each image against CANDIDATES others drawn at
    random, as a reference against its `verify.top` candidates), and whether both engines
    gave the same results."""
    from similar.compute import cores
    from similar.verification.runner import canonical_pairs

    rng = np.random.default_rng(11)
    others = min(CANDIDATES, len(ids) - 1)
    pairs = [
        (a, b) for a in ids for b in rng.choice([i for i in ids if i != a], others, replace=False)
    ]
    seconds, found = {}, {}
    for name in ("numpy", "torch"):
        how = dataclasses.replace(verify, products=name)
        start = time.perf_counter()
        found[name] = check(pairs, how, cores())
        seconds[name] = time.perf_counter() - start
    return {
        "pool_processes": cores(),
        "pool_pairs": len(pairs),
        "pool_pairs_checked": len(canonical_pairs(pairs)),
        "pool_candidates": others,
        **{
            f"{name}_pool_pairs_per_second": round(len(pairs) / s, 1) for name, s in seconds.items()
        },
        "engines_same_results": found["numpy"] == found["torch"],
    }


def dask_figures(run, workers: int, found) -> dict:
    """Seconds of `run` on a running LocalCluster of `workers` and on `local:N` (its start
    included), and whether both gave `found`."""
    from distributed import LocalCluster

    from similar.compute import quiet_dask

    quiet_dask()
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        same = run(cluster.scheduler_address) == found
        seconds = timed(lambda: run(cluster.scheduler_address))
    started = timed(lambda: run(f"local:{workers}"))
    return {"seconds": seconds, "with_start": started, "dask_same_results": same}


def rows(v: dict) -> list[Row]:
    out = [
        Row(
            f"verify ({v['method']}), {v['pairs']} pairs on {v['workers']} processes",
            f"{v['pairs_per_second']} pairs/s cached, {v['fresh_pairs_per_second']} fresh; "
            f"without the prefilter {v['unfiltered_pairs_per_second']} cached, "
            f"{v['unfiltered_fresh_pairs_per_second']} fresh",
        )
    ]
    if "torch_pool_pairs_per_second" in v:
        out.append(
            Row(
                f"verify, {v['pool_pairs']} pairs (each image against {v['pool_candidates']}; "
                f"{v.get('pool_pairs_checked', v['pool_pairs'])} checked, a pair named both ways "
                f"once) on a pool of {v['pool_processes']} processes, features cached",
                f"{v['torch_pool_pairs_per_second']} pairs/s with torch's int8 products, "
                f"{v['numpy_pool_pairs_per_second']} with numpy's float32 ones; "
                f"same results: {v['engines_same_results']}",
            )
        )
    if "dask_pairs_per_second" in v:
        out.append(
            Row(
                f"verify through Dask, {v['workers']} workers",
                f"{v['dask_pairs_per_second']} pairs/s cached on a running cluster against "
                f"the pool's {v['pairs_per_second']}; {v['dask_with_start_pairs_per_second']} "
                f"as local:{v['workers']}, its start included; "
                f"same results: {v['dask_same_results']}",
            )
        )
    return out
