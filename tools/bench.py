"""`make bench`: every stage measured side by side with the approach it replaces.

    python -m tools.bench [--quick] [--scale N] [--repeat 3] [--only embed,graph,...]

* embed: images/s of our stage (whole process, fp32 and bf16) against the original
  per-image loop (whole process), on the same realistic scans with the same weights file;
  the model-only ceiling; accuracy against the mean-pooled reference; and the rerun after
  adding 1% new images (the cache) against the baseline's full recomputation.
* ingest: points/s into our store against qdrant-client's local mode.
* bulk_query: references/s, batched by point id, against the two-step loop (retrieve the
  vector, then search with it, one reference at a time) on the same store; recall@50.
* embed_gpu: on a machine with CUDA, the stage (PIL and nvjpeg decoding) against the seed
  loop on the GPU, the model-only and the decode ceilings; elsewhere, it says it was skipped.
* graph: the graph stage against faiss.knn, whole processes, on 100k synthetic vectors.
* verify: pairs/s of the verifier on a sample collection, features fresh and cached.
* groups: the groups stage without verification on a synthetic 1M-image graph.
* scale: attach_iiif, ingest and bulk_query (product, and the store's exact search) as real
  stage processes on N synthetic vectors (default 200k): seconds and peak RSS each.
  `--scale N` runs only this part.

Medians of `--repeat` runs. Writes reports/bench.json and prints a table, ratios first.
Nothing here is asserted; `--quick` runs all of it on tiny sizes so a test keeps it working.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from similar import settings
from similar.errors import UserError, run
from similar.evaluation import normalise
from similar.files import write_json

# torch, the model and the stores are imported where used, so a section run alone loads only
# what it measures

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("embed", "embed_gpu", "store", "graph", "verify", "groups", "scale")
MODEL = "efficientnet_b3"
QUICK_MODEL = "efficientnet_b0"  # --quick: startup dominates; a small model keeps it under a minute


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vm_hwm_kib(pid: int) -> int:
    """A running process's own peak resident set (VmHWM), in KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_process(args: list[str], cwd: Path) -> tuple[float, int]:
    """Run a command; (wall seconds, peak RSS in MiB of that process). The peak is the
    process's own VmHWM, read while it runs: getrusage's maxrss would also count the peak of
    the process that started it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, vm_hwm_kib(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"error: {' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
    return seconds, (peak or usage.ru_maxrss) // 1024


# ---------------------------------------------------------------- data


def make_scans(folder: Path, count: int, size: tuple[int, int]) -> None:
    """Realistic scan-sized JPEGs (default about 1600x1200) from the sample's real photographs."""
    from PIL import Image

    from tools.sample import distinct_pictures

    folder.mkdir(parents=True, exist_ok=True)
    pictures = distinct_pictures(64)
    rng = np.random.default_rng(600)
    for i in range(count):
        pic = pictures[i % len(pictures)]
        w, h = pic.size
        f = rng.uniform(0.7, 1.0)
        x, y = int(rng.integers(0, w - int(w * f) + 1)), int(rng.integers(0, h - int(h * f) + 1))
        crop = pic.crop((x, y, x + int(w * f), y + int(h * f)))
        crop.resize(size, Image.Resampling.BICUBIC).save(folder / f"scan_{i:04d}.jpg", quality=88)


def write_weights(path: Path, model: str) -> None:
    import torch

    from similar.model import ModelSpec, build_network

    net, _ = build_network(ModelSpec(model, "random", seed=0))
    torch.save(net.state_dict(), path)


def project_params(root: Path, images: Path, weights: Path, cache: str, **embed) -> None:
    """params.yaml of a scratch project: the defaults, pointed at `images` and `weights`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["images"] = str(images)
    params["embed"].update(weights=str(weights), **embed)
    params["paths"]["embed_cache"] = cache
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (normalise(a) * normalise(b)).sum(axis=1)


# ---------------------------------------------------------------- embed


def bench_embed(
    work: Path, n_images: int, size: tuple[int, int], repeat: int, model: str = MODEL
) -> dict:
    import torch

    from similar.model import Embedder, ModelSpec

    images, weights = work / "scans", work / "weights.pth"
    make_scans(images, n_images, size)
    write_weights(weights, model)
    proj = work / "embed"
    proj.mkdir()
    py = sys.executable
    embed = [py, "-m", "stages.embed"]

    cache = work / "cache"

    stage = {}

    def ours(precision: str, runs: int, keep_cache: bool = False) -> tuple[float, np.ndarray]:
        """Median wall time of whole `embed` processes, each starting from an empty cache
        (as a first run does) unless `keep_cache`; the stage's own figures go to `stage`."""
        project_params(proj, images, weights, str(cache), precision=precision, model=model)
        times, reports = [], []
        for _ in range(runs):
            if not keep_cache:
                shutil.rmtree(cache, ignore_errors=True)
            times.append(run_process(embed, proj)[0])
            reports.append(json.loads((proj / "reports/embed.json").read_text()))
        if not keep_cache:  # a first run's figures, not a cached rerun's
            stage[precision] = {
                k: statistics.median(r[k] for r in reports)
                for k in ("images_per_second", "startup_seconds")
            }
        return statistics.median(times), np.load(proj / "data/embeddings/vectors.npy")

    baseline_out = work / "baseline.npz"
    baseline_s = statistics.median(
        run_process(
            [py, "-m", "tools.bench_baseline", str(images), str(weights), model, str(baseline_out)],
            work,
        )[0]
        for _ in range(repeat)
    )
    baseline = np.load(baseline_out)
    # once only: where the CPU has no bf16 instructions, autocast is many times slower
    bf16_s, bf16_vec = ours("bf16", 1)
    ours_s, ours_vec = ours("fp32", repeat)

    # the rerun after adding 1% new images: the last fp32 run left the cache warm
    extra = max(1, n_images // 100)
    make_scans(work / "extra", n_images + extra, size)
    for f in sorted((work / "extra").glob("*.jpg"))[n_images:]:
        shutil.copy(f, images / f.name)
    incremental_s = ours("fp32", 1, keep_cache=True)[0]
    baseline_full_s = baseline_s * (n_images + extra) / n_images

    spec = ModelSpec(model, str(weights), image_size=224)
    embedder = Embedder(spec)
    batch = torch.randn(4, 3, 224, 224)
    embedder(batch)  # warm-up
    ceiling_s = median_time(lambda: [embedder(batch) for _ in range(8)], max(1, repeat))
    ref = baseline["reference"]
    return {
        "model": model,
        "images": n_images,
        "image_size": f"{size[0]}x{size[1]}",
        "ours_ips": round(n_images / ours_s, 2),
        "ours_stage_ips": round(stage["fp32"]["images_per_second"], 2),
        "ours_startup_seconds": round(stage["fp32"]["startup_seconds"], 2),
        "ours_bf16_ips": round(n_images / bf16_s, 2),
        "baseline_ips": round(n_images / baseline_s, 2),
        "speedup": round(baseline_s / ours_s, 2),
        "speedup_bf16": round(baseline_s / bf16_s, 2),
        "ceiling_ips": round(32 / ceiling_s, 2),
        "incremental_speedup": round(baseline_full_s / incremental_s, 2),
        "incremental_seconds": round(incremental_s, 2),
        "min_cosine_to_reference": round(float(cosines(ours_vec, ref).min()), 5),
        "min_cosine_bf16_to_reference": round(float(cosines(bf16_vec, ref).min()), 5),
        "min_cosine_baseline_to_reference": round(
            float(cosines(baseline["returned"], ref).min()), 5
        ),
    }


# ---------------------------------------------------------------- store


def synthetic(n: int, d: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return [f"p{i:07d}" for i in range(n)], x


def load(store, ids, x, batch: int = 512, settings=None) -> None:
    from similar.store import CollectionSettings

    store.recreate(x.shape[1], settings or CollectionSettings())
    for s in range(0, len(ids), batch):
        store.upsert(ids[s : s + batch], x[s : s + batch], [None] * len(ids[s : s + batch]))
    store.commit({})


def bench_store(work: Path, n: int, refs: int, repeat: int) -> tuple[dict, dict]:
    from similar.settings import StoreTarget
    from similar.store import open_store
    from similar.store.edge import EdgeStore

    ids, x = synthetic(n)
    ours_s = median_time(lambda: load(EdgeStore(work / "edge", "bench"), ids, x), repeat)
    local = lambda: open_store(StoreTarget.parse(f"local:{work / 'local'}"), "bench", work)  # noqa: E731
    base_s = median_time(lambda: load(local(), ids, x), repeat)
    ingest = {
        "points": n,
        "ours_pps": round(n / ours_s, 1),
        "baseline_pps": round(n / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
    }

    from similar.query import search_mode
    from similar.store import CollectionSettings, collection_settings

    s = settings.defaults()
    config = collection_settings(s.qdrant, n)
    load(EdgeStore(work / "edge", "bench"), ids, x, settings=config)
    exact, ef = search_mode(s.bulk_query, {"hnsw_index": config.hnsw_index})
    store = EdgeStore(work / "edge", "bench")
    chosen = [ids[i] for i in np.random.default_rng(1).choice(n, size=min(refs, n), replace=False)]
    answers = {}

    def ours():
        for s in range(0, len(chosen), 64):
            answers.update(store.search_ids(chosen[s : s + 64], 50, exact, ef))

    def two_step():
        for ref in chosen:
            vector = store.fetch([ref])[ref][1]
            store.search_vectors(vector[None, :], 50, exact, ef, exclude=[ref])

    ours_s = median_time(ours, repeat)
    base_s = median_time(two_step, repeat)
    store.close()
    xn = normalise(x)
    row = {iid: i for i, iid in enumerate(ids)}

    def recall(found: dict) -> float:
        values = []
        for ref in chosen:
            sims = xn @ xn[row[ref]]
            sims[row[ref]] = -np.inf
            truth = set(np.argpartition(-sims, 50)[:50].tolist())
            values.append(len(truth & {row[h.id] for h in found[ref][1]}) / 50)
        return round(float(np.mean(values)), 4)

    # for reference: the same references through an HNSW index (what qdrant.hnsw_above turns on)
    ef_hnsw = s.bulk_query.hnsw_ef
    indexed = EdgeStore(work / "edge-hnsw", "bench")
    load(indexed, ids, x, settings=CollectionSettings(hnsw_index=True))
    hnsw_answers = {}
    hnsw_s = median_time(
        lambda: [
            hnsw_answers.update(indexed.search_ids(chosen[s : s + 64], 50, False, ef_hnsw))
            for s in range(0, len(chosen), 64)
        ],
        1,
    )
    indexed.close()
    query = {
        "references": len(chosen),
        "points": n,
        "search": "exact" if exact else f"hnsw ef={ef}",
        "ours_qps": round(len(chosen) / ours_s, 1),
        "baseline_qps": round(len(chosen) / base_s, 1),
        "speedup": round(base_s / ours_s, 2),
        "recall@50": recall(answers),
        "hnsw_qps": round(len(chosen) / hnsw_s, 1),
        "hnsw_recall@50": recall(hnsw_answers),
    }
    return ingest, query


# ---------------------------------------------------------------- scale


def write_index(proj: Path, ids: list[str]) -> None:
    """A scratch project's images.csv for synthetic ids."""
    (proj / "data/embeddings").mkdir(parents=True, exist_ok=True)
    with open(proj / "data/embeddings/images.csv", "w") as fh:
        fh.write("id,path,width,height,sha256\n")
        fh.writelines(f"{i},{i}.jpg,1600,1200,-\n" for i in ids)


def vector_project(proj: Path, n: int, seed: int) -> list[str]:
    """A scratch project holding n synthetic reduced vectors and their images.csv."""
    (proj / "data/reduced").mkdir(parents=True)
    ids, x = synthetic(n, seed=seed)
    np.save(proj / "data/reduced/vectors.npy", x)
    write_index(proj, ids)
    return ids


def bench_scale(work: Path, n: int, refs: int) -> dict:
    """attach_iiif, ingest and bulk_query as real processes on n synthetic vectors."""
    proj = work / f"scale-{n}"
    ids = vector_project(proj, n, seed=2)
    with open(proj / "iiif.csv", "w") as fh:
        fh.write("id,iiif_url\n")
        fh.writelines(
            f"{i},https://iiif.example.org/iiif/3/{i}/full/max/0/default.jpg\n" for i in ids
        )
    chosen = np.random.default_rng(3).choice(n, size=min(refs, n), replace=False)
    (proj / "queries.txt").write_text("".join(f"{ids[i]}\n" for i in sorted(chosen)))
    (proj / "groups.csv").write_text("id,group\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(iiif_csv="iiif.csv", queries="queries.txt", groups="groups.csv")
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    out = {"points": n, "references": len(chosen)}
    for name, stage, engine in (
        ("attach_iiif", "attach_iiif", None),
        ("ingest", "ingest", None),
        ("bulk_query", "bulk_query", "product"),
        ("bulk_query_store", "bulk_query", "store"),
    ):
        if engine:
            params["bulk_query"]["engine"] = engine
            (proj / "params.yaml").write_text(yaml.safe_dump(params))
        seconds, rss = run_process([sys.executable, "-m", f"stages.{stage}"], proj)
        out[name] = {"seconds": round(seconds, 2), "peak_rss_mib": rss}
    out["bulk_query_speedup"] = round(
        out["bulk_query_store"]["seconds"] / out["bulk_query"]["seconds"], 1
    )
    out["exact_options"] = exact_options(proj, [ids[i] for i in sorted(chosen)])
    shutil.rmtree(proj)
    return out


def exact_options(proj: Path, refs: list[str], limit: int = 50) -> dict:
    """bulk_query's two ways to search exactly, in-process on the loaded scale project: the
    references' matrix product, and Qdrant's exact search asked for limit + 1 without a
    filter (the reference itself dropped), beside today's filtered search; seconds each."""
    from similar import query
    from similar.ranking import rank
    from similar.store.edge import EdgeStore

    start = time.perf_counter()
    ids, urls = query.read_ids_urls(proj / "data/vectors/vectors.jsonl")
    x = query.product_matrix(proj / "data/reduced/vectors.npy", len(ids), "cosine")
    product, _ = query.search_product(x, ids, urls, refs, limit)
    product_s = time.perf_counter() - start
    store = EdgeStore(proj / "data/qdrant", "onit")
    store.count()  # opening the shard is not the search
    found = store.fetch(refs)
    vectors = np.stack([found[r][1] for r in refs])
    start = time.perf_counter()
    unfiltered = []
    for s in range(0, len(refs), 64):
        hits = store.search_vectors(vectors[s : s + 64], limit + 1, True, None)
        unfiltered += [rank(h, limit, exclude=r) for h, r in zip(hits, refs[s : s + 64])]
    unfiltered_s = time.perf_counter() - start
    start = time.perf_counter()
    store.search_vectors(vectors, limit, True, None, exclude=refs)
    filtered_s = time.perf_counter() - start
    store.close()
    same = np.mean(
        [
            [n["id"] for n in e["neighbours"]] == [h.id for h in u]
            for e, u in zip(product, unfiltered)
        ]
    )
    return {
        "product_seconds": round(product_s, 2),
        "store_unfiltered_seconds": round(unfiltered_s, 2),
        "store_filtered_seconds": round(filtered_s, 2),
        "store_unfiltered_over_product": round(unfiltered_s / product_s, 1),
        "same_lists": round(float(same), 4),
    }


# ---------------------------------------------------------------- groups and verification


def synthetic_graph(n: int, k: int, seed: int = 5) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A kNN graph of n images: random weak neighbours, and one image in ten in a planted
    group of 2 to 8 copies whose members are each other's best neighbours."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:07d}" for i in range(n)]
    neighbours = rng.integers(0, n - 1, size=(n, k), dtype=np.int64)
    neighbours += neighbours >= np.arange(n)[:, None]  # never itself
    scores = np.sort(rng.uniform(0.0, 0.6, size=(n, k)).astype(np.float32), axis=1)[:, ::-1]
    start = 0
    while start < n // 10:
        size = int(rng.integers(2, 9))
        members = np.arange(start, start + size) * 10
        members = members[members < n]
        for m in members:
            others = [o for o in members if o != m][:k]
            neighbours[m, : len(others)] = others
            scores[m, : len(others)] = np.linspace(0.95, 0.8, len(others))
        start += size
    return ids, neighbours.astype(np.int32), scores


def bench_groups(work: Path, n: int, k: int = 20, min_score: float = 0.7) -> dict:
    """The groups stage (whole process, no verification) on a synthetic graph of n images."""
    from similar.graph import write_graph

    proj = work / f"groups-{n}"
    for d in ("data/graph", "data/vectors"):
        (proj / d).mkdir(parents=True)
    ids, neighbours, scores = synthetic_graph(n, k)
    write_graph(proj / "data/graph/knn.npz", ids, neighbours, scores)
    write_index(proj, ids)
    with open(proj / "data/vectors/vectors.jsonl", "w") as fh:
        fh.writelines(f'{{"id":"{i}","url":null,"vector":[0.0]}}\n' for i in ids)
    (proj / "groups.csv").write_text("id,group\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["groups"] = "groups.csv"
    params["groups"].update(k=k, min_score=min_score, verify=False)
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    seconds, rss = run_process([sys.executable, "-m", "stages.groups"], proj)
    m = json.loads((proj / "metrics/groups.json").read_text())
    shutil.rmtree(proj)
    return {
        "images": n,
        "k": k,
        "min_score": min_score,
        "seconds": round(seconds, 2),
        "peak_rss_mb": rss,
        "groups": m["groups"],
        "grouped_images": m["grouped_images"],
    }


def bench_verify(work: Path, pictures: int, pairs_per_picture: int = 40) -> dict:
    """Pairs/s of the verifier on a sample collection: fresh (every image described) and
    with the features cached, on all cores; copies and unrelated pairs mixed."""
    from similar import settings
    from similar.files import read_csv, sha256_file
    from similar.verify import ImageRef, verify_pairs
    from tools.sample import build

    build(work / "vsample", pictures)
    rows = read_csv(work / "vsample/groups.csv")
    paths = {p.stem: p for p in (work / "vsample/images").rglob("*.jpg")}
    images = {r["id"]: ImageRef(str(paths[r["id"]]), sha256_file(paths[r["id"]])) for r in rows}
    ids = sorted(images)
    rng = np.random.default_rng(7)
    pairs = [
        (ids[i], ids[j])
        for i, j in rng.integers(0, len(ids), size=(pictures * pairs_per_picture, 2))
        if i != j
    ]
    s = settings.defaults().verify
    cache = work / "features"
    start = time.perf_counter()
    verify_pairs(
        pairs, s, images, cache, s.workers, max_pixels=settings.defaults().embed.max_pixels
    )
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    verify_pairs(
        pairs, s, images, cache, s.workers, max_pixels=settings.defaults().embed.max_pixels
    )
    cached = time.perf_counter() - start
    return {
        "images": len(ids),
        "pairs": len(pairs),
        "workers": os.cpu_count(),
        "fresh_pairs_per_second": round(len(pairs) / fresh, 1),
        "pairs_per_second": round(len(pairs) / cached, 1),
    }


# ---------------------------------------------------------------- graph


def bench_graph(work: Path, n: int, k: int = 20) -> dict:
    """The graph stage (whole process) against faiss.knn (whole process) on the same vectors."""
    proj = work / f"graph-{n}"
    vector_project(proj, n, seed=4)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["graph"]["k"] = k
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    seconds, rss = run_process([sys.executable, "-m", "stages.graph"], proj)
    faiss_s, faiss_rss = run_process(
        [
            sys.executable,
            "-m",
            "tools.bench_knn_baseline",
            "data/reduced/vectors.npy",
            str(k),
            "faiss.npy",
        ],
        proj,
    )
    from similar.graph import read_graph

    _, ours, _ = read_graph(proj / "data/graph/knn.npz")
    theirs = np.load(proj / "faiss.npy")
    agree = np.mean([len(set(a) & set(b)) / k for a, b in zip(ours.tolist(), theirs.tolist())])
    engine = json.loads((proj / "reports/graph.json").read_text())["engine"]
    shutil.rmtree(proj)
    return {
        "points": n,
        "k": k,
        "engine": engine,
        "seconds_100k": round(seconds, 2),
        "faiss_seconds_100k": round(faiss_s, 2),
        "ratio": round(seconds / faiss_s, 3),
        "peak_rss_mb": rss,
        "faiss_peak_rss_mb": faiss_rss,
        "neighbours_agreeing_with_faiss": round(float(agree), 6),
    }


# ---------------------------------------------------------------- embed on a GPU


def link_scans(folder: Path, source: Path, count: int) -> None:
    """`count` scan files in `folder`, hard links to the distinct ones in `source`."""
    folder.mkdir(parents=True, exist_ok=True)
    distinct = sorted(source.glob("*.jpg"))
    for i in range(count):
        os.link(distinct[i % len(distinct)], folder / f"scan_{i:06d}.jpg")


def decode_one(args) -> int:
    from similar.images import open_rgb
    from similar.model import to_pixels

    path, image_size = args
    img, _ = open_rgb(path, 1 << 40, image_size)
    return int(to_pixels(img, image_size)[0, 0, 0])


def decode_ceiling(files: list[Path], processes: int, image_size: int = 224) -> float:
    """Images/s of the workers' own decode and resize code, `processes` at a time, no model."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(processes) as pool:
        start = time.perf_counter()
        pool.map(decode_one, [(f, image_size) for f in files], chunksize=16)
        return len(files) / (time.perf_counter() - start)


def model_ceiling(
    model: str,
    weights: Path,
    device: str,
    precision: str,
    batch: int,
    image_size: int = 224,
    steps: int = 20,
) -> float:
    """Images/s of the model alone on uint8 batches already on the device."""
    import torch

    from similar.model import Embedder, ModelSpec

    embedder = Embedder(
        ModelSpec(model, str(weights), image_size=image_size), device, precision, batch
    )
    pixels = torch.randint(
        0, 255, (batch, 3, image_size, image_size), dtype=torch.uint8, device=device
    )
    for _ in range(2):
        embedder.embed_pixels(pixels)
    start = time.perf_counter()
    for _ in range(steps):
        embedder.embed_pixels(pixels)  # returns on the CPU: each step waits for the device
    return steps * batch / (time.perf_counter() - start)


def embed_vectors(folder: Path, model: str, weights: Path, **embed) -> np.ndarray:
    """In-process vectors of every image of `folder` with these embed params (no cache)."""
    from similar import embedding, settings
    from similar.cache import EmbedCache
    from similar.images import index_collection

    s = settings.from_mapping({"embed": {"model": model, "weights": str(weights), **embed}})
    p = embedding.plan(s.embed)
    embedder = embedding.make_embedder(p)
    entries = index_collection(folder, ["*.jpg"])
    items = [
        it
        for b in embedding.embedded_batches(
            entries, p, embedder, EmbedCache(None, {}, embedder.dim)
        )
        for it in b
    ]
    return np.stack([it.vector for it in items])


def bench_embed_device(
    work: Path,
    n_images: int,
    size: tuple[int, int],
    device: str,
    model: str = MODEL,
    seed_images: int = 500,
    processes: int = 0,
) -> dict:
    """The embed stage on `device` (a GPU; the CPU runs it in tests) against the seed loop on
    the same device, the model-only ceiling and the decode ceiling of `processes` workers."""
    from similar import embedding, settings

    processes = processes or embedding.default_workers("cuda")
    distinct, images, weights = work / "distinct", work / "gpu-scans", work / "weights-gpu.pth"
    make_scans(distinct, min(n_images, 256), size)
    link_scans(images, distinct, n_images)
    write_weights(weights, model)
    subset = work / "gpu-subset"
    link_scans(subset, distinct, min(seed_images, n_images))
    py = sys.executable
    seed_s, _ = run_process(
        [
            py,
            "-m",
            "tools.bench_baseline",
            str(subset),
            str(weights),
            model,
            str(work / "seed.npz"),
            "--device",
            device,
        ],
        work,
    )
    seed_ips = len(list(subset.glob("*.jpg"))) / seed_s
    p = embedding.plan(settings.from_mapping({"embed": {"device": device}}).embed)
    out = {
        "device": device,
        "images": n_images,
        "image_size": f"{size[0]}x{size[1]}",
        "batch_size": p.batch_size,
        "precision": p.precision,
        "workers": p.num_workers,
        "seed_loop_ips": round(seed_ips, 1),
    }
    proj = work / "gpu-embed"
    proj.mkdir(exist_ok=True)
    for decoder in ("pil", "nvjpeg") if device == "cuda" else ("pil",):
        project_params(proj, images, weights, "", model=model, device=device, decoder=decoder)
        wall, _ = run_process([py, "-m", "stages.embed"], proj)
        report = json.loads((proj / "reports/embed.json").read_text())
        out[decoder] = {
            "whole_process_seconds": round(wall, 2),
            "whole_process_ips": round(n_images / wall, 1),
            "stage_ips": round(report["images_per_second"], 1),
            "startup_seconds": report["startup_seconds"],
        }
    out["model_ceiling_ips"] = round(
        model_ceiling(model, weights, device, p.precision, p.batch_size), 1
    )
    out["decode_ceiling_ips"] = round(
        decode_ceiling(sorted(images.glob("*.jpg"))[:4000], processes), 1
    )
    out["decode_processes"] = processes
    cpu = embed_vectors(subset, model, weights, device="cpu", precision="fp32", batch_size=4)
    for decoder in out.keys() & {"pil", "nvjpeg"}:
        dev = embed_vectors(subset, model, weights, device=device, decoder=decoder)
        out[decoder]["min_cosine_to_cpu_fp32"] = round(float(cosines(dev, cpu).min()), 5)
        out[decoder]["speedup_over_seed_loop"] = round(out[decoder]["stage_ips"] / seed_ips, 1)
        out[decoder]["share_of_decode_ceiling"] = round(
            out[decoder]["stage_ips"] / out["decode_ceiling_ips"], 2
        )
        out[decoder]["share_of_model_ceiling"] = round(
            out[decoder]["stage_ips"] / out["model_ceiling_ips"], 2
        )
    return out


def bench_embed_gpu(work: Path, n_images: int) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    return bench_embed_device(work, n_images, (1600, 1200), "cuda")


# ---------------------------------------------------------------- report


def table(report: dict) -> str:
    rows = []
    e, i, q = report.get("embed"), report.get("ingest"), report.get("bulk_query")
    if e:
        rows += [
            ("embed speedup fp32 (ours / per-image loop)", f"{e['speedup']}x"),
            ("embed speedup bf16", f"{e['speedup_bf16']}x"),
            ("embed incremental speedup (+1% images)", f"{e['incremental_speedup']}x"),
        ]
    if i:
        rows.append(("ingest speedup (Edge / client local mode)", f"{i['speedup']}x"))
    if q:
        rows.append(("bulk_query speedup (batched / two-step loop)", f"{q['speedup']}x"))
    if e:
        rows += [
            (
                "embed ours fp32",
                f"{e['ours_ips']} img/s (stage {e['ours_stage_ips']}, "
                f"start-up {e['ours_startup_seconds']} s)",
            ),
            ("embed ours bf16", f"{e['ours_bf16_ips']} img/s"),
            ("embed baseline", f"{e['baseline_ips']} img/s"),
            ("embed model-only ceiling", f"{e['ceiling_ips']} img/s"),
            ("embed min cosine to mean-pooled reference", str(e["min_cosine_to_reference"])),
            ("  bf16", str(e["min_cosine_bf16_to_reference"])),
            ("  baseline (top-left cell)", str(e["min_cosine_baseline_to_reference"])),
        ]
    if i:
        rows += [
            ("ingest ours", f"{i['ours_pps']} points/s"),
            ("ingest baseline", f"{i['baseline_pps']} points/s"),
        ]
    if q:
        rows += [
            ("bulk_query ours", f"{q['ours_qps']} refs/s ({q['search']})"),
            ("bulk_query baseline", f"{q['baseline_qps']} refs/s"),
            ("bulk_query recall@50", str(q["recall@50"])),
            (
                "bulk_query with HNSW index",
                f"{q['hnsw_qps']} refs/s, recall@50 {q['hnsw_recall@50']}",
            ),
        ]
    g = report.get("embed_gpu")
    if g and "skipped" in g:
        rows.append(("embed on a GPU", f"skipped: {g['skipped']}"))
    elif g:
        for decoder in ("pil", "nvjpeg"):
            if decoder in g:
                d = g[decoder]
                rows.append(
                    (
                        f"embed on {g['device']}, {decoder} decode",
                        f"stage {d['stage_ips']} img/s, "
                        f"whole process {d['whole_process_seconds']} s, "
                        f"start-up {d['startup_seconds']} s, "
                        f"{d['speedup_over_seed_loop']}x seed loop, "
                        f"{d['share_of_decode_ceiling']} of decode ceiling, min cosine "
                        f"{d['min_cosine_to_cpu_fp32']}",
                    )
                )
        rows += [
            (f"embed on {g['device']}: seed loop", f"{g['seed_loop_ips']} img/s"),
            (f"embed on {g['device']}: model ceiling", f"{g['model_ceiling_ips']} img/s"),
            (
                f"embed on {g['device']}: decode ceiling ({g['decode_processes']} processes)",
                f"{g['decode_ceiling_ips']} img/s",
            ),
        ]
    gr = report.get("graph")
    if gr:
        rows.append(
            (
                f"graph {gr['points']} x {gr['k']} ({gr['engine']}) / faiss.knn, whole processes",
                f"{gr['seconds_100k']} s / {gr['faiss_seconds_100k']} s = {gr['ratio']}, "
                f"peak RSS {gr['peak_rss_mb']} MiB",
            )
        )
    vf = report.get("verify")
    if vf:
        rows.append(
            (
                f"verify, {vf['pairs']} pairs on {vf['workers']} cores",
                f"{vf['pairs_per_second']} pairs/s cached, {vf['fresh_pairs_per_second']} fresh",
            )
        )
    gp = report.get("groups")
    if gp:
        rows.append(
            (
                f"groups {gp['images']} x {gp['k']}, unverified, whole process",
                f"{gp['seconds']} s, peak RSS {gp['peak_rss_mb']} MiB, {gp['groups']} groups",
            )
        )
    for s in report.get("scale", []):
        for stage in ("attach_iiif", "ingest", "bulk_query", "bulk_query_store"):
            rows.append(
                (
                    f"scale {s['points']}: {stage}",
                    f"{s[stage]['seconds']} s, peak RSS {s[stage]['peak_rss_mib']} MiB",
                )
            )
        rows.append(
            (f"scale {s['points']}: bulk_query product / store", f"{s['bulk_query_speedup']}x")
        )
        o = s["exact_options"]
        rows.append(
            (
                f"scale {s['points']}: exact search in-process",
                f"product {o['product_seconds']} s, "
                f"Qdrant unfiltered {o['store_unfiltered_seconds']} s "
                f"({o['store_unfiltered_over_product']}x), "
                f"filtered {o['store_filtered_seconds']} s, "
                f"same lists {o['same_lists']}",
            )
        )
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (< 1 min)")
    ap.add_argument("--scale", type=int, default=0, help="only the scale run, on N vectors")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--points", type=int, default=20000, help="store comparison (in-process)")
    ap.add_argument("--scale-points", type=int, default=200000, help="stage processes at scale")
    ap.add_argument("--graph-points", type=int, default=100000)
    ap.add_argument("--groups-points", type=int, default=1000000)
    ap.add_argument("--references", type=int, default=1000)
    ap.add_argument("--gpu-images", type=int, default=16000, help="scans for the GPU embed run")
    ap.add_argument("--only", default="", help=f"comma-separated sections of {','.join(SECTIONS)}")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.images, args.points, args.references = 1, 6, 2000, 100
        args.scale_points, args.graph_points, args.gpu_images = 2000, 2000, 256
        args.groups_points = 5000
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        raise UserError(
            f"--only: unknown section {sorted(unknown)[0]!r}; choose from {', '.join(SECTIONS)}"
        )
    sections = only or list(SECTIONS)
    size = (400, 300) if args.quick else (1600, 1200)
    s = settings.load()
    report: dict = {"quick": args.quick, "repeat": args.repeat, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if args.scale:
            report["scale"] = [bench_scale(work, args.scale, args.references)]
            sections = []
        if "embed" in sections:
            report["embed"] = bench_embed(
                work, args.images, size, args.repeat, QUICK_MODEL if args.quick else MODEL
            )
        if "embed_gpu" in sections:
            report["embed_gpu"] = bench_embed_gpu(work, args.gpu_images)
        if "store" in sections:
            report["ingest"], report["bulk_query"] = bench_store(
                work, args.points, args.references, args.repeat
            )
        if "graph" in sections:
            report["graph"] = bench_graph(work, args.graph_points)
        if "verify" in sections:
            report["verify"] = bench_verify(work, 8 if args.quick else 64)
        if "groups" in sections:
            report["groups"] = bench_groups(work, args.groups_points)
        if "scale" in sections:
            report["scale"] = [bench_scale(work, args.scale_points, args.references)]
    # a quick or partial run never overwrites the figures of a full one
    name = (
        f"bench-scale-{args.scale}.json"
        if args.scale
        else "bench-quick.json"
        if args.quick
        else f"bench-{'-'.join(only)}.json"
        if only
        else "bench.json"
    )
    write_json(s.paths.reports / name, report)
    print(table(report))
    print(f"written: {s.paths.reports / name}")


if __name__ == "__main__":
    run(main)
