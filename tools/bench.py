"""`make bench`: every stage measured side by side with the approach it replaces.

    python -m tools.bench [--quick] [--scale N] [--repeat 3]

* embed: images/s of our stage (whole process, fp32 and bf16) against the original
  per-image loop (whole process), on the same realistic scans with the same weights file;
  the model-only ceiling; accuracy against the mean-pooled reference; and the rerun after
  adding 1% new images (the cache) against the baseline's full recomputation.
* ingest: points/s into our store against qdrant-client's local mode.
* bulk_query: references/s, batched by point id, against the two-step loop (retrieve the
  vector, then search with it, one reference at a time) on the same store; recall@50.
* scale: attach_iiif, ingest and bulk_query as real stage processes on N synthetic vectors:
  seconds and peak RSS each. `--scale N` runs only this part.

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
from similar.errors import run
from similar.evaluation import normalise
from similar.files import write_json

# torch, the model and the stores are imported where used: the scale run must stay a small
# process, because Linux carries a parent's peak RSS into every child it starts

ROOT = Path(__file__).resolve().parent.parent
MODEL = "efficientnet_b3"
QUICK_MODEL = "efficientnet_b0"  # --quick: startup dominates; a small model keeps it under a minute


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(args: list[str], cwd: Path) -> tuple[float, int]:
    """Run a command; (wall seconds, peak RSS in MiB of that process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"error: {' '.join(args)} failed:\n{err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss // 1024


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

def bench_embed(work: Path, n_images: int, size: tuple[int, int], repeat: int,
                model: str = MODEL) -> dict:
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

    def ours(precision: str, runs: int, keep_cache: bool = False) -> tuple[float, np.ndarray]:
        """Median wall time of whole `embed` processes, each starting from an empty cache
        (as a first run does) unless `keep_cache`."""
        project_params(proj, images, weights, str(cache), precision=precision, model=model)
        times = []
        for _ in range(runs):
            if not keep_cache:
                shutil.rmtree(cache, ignore_errors=True)
            times.append(run_process(embed, proj)[0])
        return statistics.median(times), np.load(proj / "data/embeddings/vectors.npy")

    baseline_out = work / "baseline.npz"
    baseline_s = statistics.median(
        run_process([py, "-m", "tools.bench_baseline", str(images), str(weights), model,
                     str(baseline_out)], work)[0] for _ in range(repeat))
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
        "model": model, "images": n_images, "image_size": f"{size[0]}x{size[1]}",
        "ours_ips": round(n_images / ours_s, 2),
        "ours_bf16_ips": round(n_images / bf16_s, 2),
        "baseline_ips": round(n_images / baseline_s, 2),
        "speedup": round(baseline_s / ours_s, 2),
        "speedup_bf16": round(baseline_s / bf16_s, 2),
        "ceiling_ips": round(32 / ceiling_s, 2),
        "incremental_speedup": round(baseline_full_s / incremental_s, 2),
        "incremental_seconds": round(incremental_s, 2),
        "min_cosine_to_reference": round(float(cosines(ours_vec, ref).min()), 5),
        "min_cosine_bf16_to_reference": round(float(cosines(bf16_vec, ref).min()), 5),
        "min_cosine_baseline_to_reference": round(float(cosines(baseline["returned"], ref).min()), 5),
    }


# ---------------------------------------------------------------- store

def synthetic(n: int, d: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return [f"p{i:07d}" for i in range(n)], x


def load(store, ids, x, batch: int = 512, settings=None) -> None:
    from similar.store import CollectionSettings
    store.recreate(x.shape[1], settings or CollectionSettings())
    for s in range(0, len(ids), batch):
        store.upsert(ids[s:s + batch], x[s:s + batch], [None] * len(ids[s:s + batch]))
    store.commit({})


def bench_store(work: Path, n: int, refs: int, repeat: int) -> tuple[dict, dict]:
    from similar.settings import StoreTarget
    from similar.store.edge import EdgeStore
    from similar.store import open_store
    ids, x = synthetic(n)
    ours_s = median_time(lambda: load(EdgeStore(work / "edge", "bench"), ids, x), repeat)
    local = lambda: open_store(StoreTarget.parse(f"local:{work / 'local'}"), "bench", work)  # noqa: E731
    base_s = median_time(lambda: load(local(), ids, x), repeat)
    ingest = {"points": n, "ours_pps": round(n / ours_s, 1), "baseline_pps": round(n / base_s, 1),
              "speedup": round(base_s / ours_s, 2)}

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
            answers.update(store.search_ids(chosen[s:s + 64], 50, exact, ef))

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
    hnsw_s = median_time(lambda: [hnsw_answers.update(indexed.search_ids(chosen[s:s + 64], 50, False, ef_hnsw))
                                  for s in range(0, len(chosen), 64)], 1)
    indexed.close()
    query = {"references": len(chosen), "points": n, "search": "exact" if exact else f"hnsw ef={ef}",
             "ours_qps": round(len(chosen) / ours_s, 1), "baseline_qps": round(len(chosen) / base_s, 1),
             "speedup": round(base_s / ours_s, 2), "recall@50": recall(answers),
             "hnsw_qps": round(len(chosen) / hnsw_s, 1), "hnsw_recall@50": recall(hnsw_answers)}
    return ingest, query


# ---------------------------------------------------------------- scale

def bench_scale_in_child(work: Path, n: int, refs: int) -> dict:
    """bench_scale in a fresh small process, so the stages' peak RSS is their own."""
    out = work / f"scale-{n}.json"
    run_process([sys.executable, "-m", "tools.bench", "--scale", str(n), "--references",
                 str(refs), "--scale-out", str(out)], ROOT)
    return json.loads(out.read_text())


def bench_scale(work: Path, n: int, refs: int) -> dict:
    """attach_iiif, ingest and bulk_query as real processes on n synthetic vectors."""
    proj = work / f"scale-{n}"
    (proj / "data/reduced").mkdir(parents=True)
    (proj / "data/embeddings").mkdir(parents=True)
    ids, x = synthetic(n, seed=2)
    np.save(proj / "data/reduced/vectors.npy", x)
    with open(proj / "data/embeddings/images.csv", "w") as fh:
        fh.write("id,path,width,height\n")
        fh.writelines(f"{i},{i}.jpg,1600,1200\n" for i in ids)
    with open(proj / "iiif.csv", "w") as fh:
        fh.write("id,iiif_url\n")
        fh.writelines(f"{i},https://iiif.example.org/iiif/3/{i}/full/max/0/default.jpg\n" for i in ids)
    chosen = np.random.default_rng(3).choice(n, size=min(refs, n), replace=False)
    (proj / "queries.txt").write_text("".join(f"{ids[i]}\n" for i in sorted(chosen)))
    (proj / "groups.csv").write_text("id,group\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(iiif_csv="iiif.csv", queries="queries.txt", groups="groups.csv")
    (proj / "params.yaml").write_text(yaml.safe_dump(params))
    out = {"points": n, "references": len(chosen)}
    for stage in ("attach_iiif", "ingest", "bulk_query"):
        seconds, rss = run_process([sys.executable, "-m", f"stages.{stage}"], proj)
        out[stage] = {"seconds": round(seconds, 2), "peak_rss_mib": rss}
    shutil.rmtree(proj)
    return out


# ---------------------------------------------------------------- report

def table(report: dict) -> str:
    rows = []
    e, i, q = report.get("embed"), report.get("ingest"), report.get("bulk_query")
    if e:
        rows += [("embed speedup fp32 (ours / per-image loop)", f"{e['speedup']}x"),
                 ("embed speedup bf16", f"{e['speedup_bf16']}x"),
                 ("embed incremental speedup (+1% images)", f"{e['incremental_speedup']}x")]
    if i:
        rows.append(("ingest speedup (Edge / client local mode)", f"{i['speedup']}x"))
    if q:
        rows.append(("bulk_query speedup (batched / two-step loop)", f"{q['speedup']}x"))
    if e:
        rows += [("embed ours fp32", f"{e['ours_ips']} img/s"), ("embed ours bf16", f"{e['ours_bf16_ips']} img/s"),
                 ("embed baseline", f"{e['baseline_ips']} img/s"), ("embed model-only ceiling", f"{e['ceiling_ips']} img/s"),
                 ("embed min cosine to mean-pooled reference", str(e["min_cosine_to_reference"])),
                 ("  bf16", str(e["min_cosine_bf16_to_reference"])),
                 ("  baseline (top-left cell)", str(e["min_cosine_baseline_to_reference"]))]
    if i:
        rows += [("ingest ours", f"{i['ours_pps']} points/s"), ("ingest baseline", f"{i['baseline_pps']} points/s")]
    if q:
        rows += [("bulk_query ours", f"{q['ours_qps']} refs/s ({q['search']})"),
                 ("bulk_query baseline", f"{q['baseline_qps']} refs/s"), ("bulk_query recall@50", str(q["recall@50"])),
                 ("bulk_query with HNSW index", f"{q['hnsw_qps']} refs/s, recall@50 {q['hnsw_recall@50']}")]
    for s in report.get("scale", []):
        for stage in ("attach_iiif", "ingest", "bulk_query"):
            rows.append((f"scale {s['points']}: {stage}",
                         f"{s[stage]['seconds']} s, peak RSS {s[stage]['peak_rss_mib']} MiB"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (< 1 min)")
    ap.add_argument("--scale", type=int, default=0, help="only the scale run, on N vectors")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--references", type=int, default=1000)
    ap.add_argument("--scale-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.scale_out:  # the child of bench_scale_in_child
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            args.scale_out.write_text(json.dumps(bench_scale(Path(tmp), args.scale, args.references)))
        return
    if args.quick:
        args.repeat, args.images, args.points, args.references = 1, 6, 2000, 100
    size = (400, 300) if args.quick else (1600, 1200)
    s = settings.load()
    report: dict = {"quick": args.quick, "repeat": args.repeat, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if args.scale:
            report["scale"] = [bench_scale_in_child(work, args.scale, args.references)]
        else:
            report["embed"] = bench_embed(work, args.images, size, args.repeat,
                                          QUICK_MODEL if args.quick else MODEL)
            report["ingest"], report["bulk_query"] = bench_store(work, args.points, args.references,
                                                                 args.repeat)
            report["scale"] = [bench_scale_in_child(work, args.points, args.references)]
    # a quick run never overwrites the figures of a full one
    name = (f"bench-scale-{args.scale}.json" if args.scale
            else "bench-quick.json" if args.quick else "bench.json")
    write_json(s.paths.reports / name, report)
    print(table(report))
    print(f"written: {s.paths.reports / name}")


if __name__ == "__main__":
    run(main)
