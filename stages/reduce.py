"""Stage `reduce`: PCA of the embeddings to `reduce.n_components` dimensions.

Writes the reduced vectors, the PCA model (to project new images later), the share of
variance kept, and knn_preservation@10: how many of each image's 10 nearest neighbours
survive the reduction, on a seeded sample of up to 2,000 images.
"""
from __future__ import annotations

import numpy as np

from . import config as cfg
from . import pca
from .evaluation import cosine_knn, mean_overlap
from .files import NpyRowWriter, write_csv, write_json

KNN_SAMPLE = 2000
KNN_K = 10


def knn_preservation(before: np.ndarray, after: np.ndarray, seed: int, k: int = KNN_K) -> float:
    n = before.shape[0]
    if n <= k:
        return 1.0
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, KNN_SAMPLE), replace=False))
    return round(mean_overlap(cosine_knn(before[rows], k), cosine_knn(after[rows], k)), 6)


def main() -> None:
    params = cfg.load_params()
    n_components = cfg.get_int(params, "reduce.n_components", 1)
    whiten = cfg.get_bool(params, "reduce.whiten")
    seed = cfg.get_int(params, "reduce.seed", 0)
    source = cfg.require_file(cfg.path(params, "embeddings"), "embeddings", "run `dvc repro embed`")
    vectors = np.load(source, mmap_mode="r")
    n, d = vectors.shape
    if n_components > min(n, d):
        raise cfg.UserError(
            f"params.yaml: 'reduce.n_components' is {n_components}, but {n} images of {d} "
            f"dimensions allow at most {min(n, d)}; lower it (e.g. dvc exp run -S "
            f"reduce.n_components={min(n, d)})")
    model = pca.fit(vectors, n_components, whiten)
    with NpyRowWriter(cfg.path(params, "reduced"), n_components) as writer:
        for start in range(0, n, 8192):
            writer.write(model.project(vectors[start:start + 8192]))
    pca.save(model, cfg.path(params, "pca"))
    reduced = np.load(cfg.path(params, "reduced"), mmap_mode="r")
    kept = float(np.sum(model.explained_variance_ratio))
    metrics = {
        "n_components": n_components,
        "explained_variance": round(kept, 6),
        f"knn_preservation@{KNN_K}": knn_preservation(vectors, reduced, seed),
    }
    write_json(cfg.path(params, "reduce_metrics"), metrics)
    cumulative = np.cumsum(model.explained_variance_ratio)
    write_csv(cfg.path(params, "variance_plot"), ["component", "cumulative_explained_variance"],
              [(i + 1, f"{c:.6f}") for i, c in enumerate(cumulative)])
    print(f"reduce: {n} x {d} -> {n} x {n_components}, variance kept {kept:.3f}, "
          f"knn_preservation@{KNN_K} {metrics[f'knn_preservation@{KNN_K}']:.3f}")


if __name__ == "__main__":
    cfg.run(main)
