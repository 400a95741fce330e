"""Stage `reduce`: PCA of the embeddings to `reduce.n_components` dimensions.

Writes the reduced vectors, the PCA model (to project new images later), the share of
variance kept, and knn_preservation@10: how many of each image's 10 nearest neighbours
survive the reduction, on a seeded sample of up to 2,000 images.
"""

from __future__ import annotations

import numpy as np

from similar import parameters
from similar.errors import UserError, run
from similar.evaluation import KNN_K, knn_preservation
from similar.files import NpyRowWriter, csv_bytes, json_bytes, require_file, staged_outputs
from similar.vectors import pca
from similar.vectors.pictures import Pictures


def main() -> None:
    config = parameters.load()
    options, paths = config.reduce, config.paths
    source = require_file(paths.embeddings, "embeddings", "run `dvc repro embed`")
    vectors = np.load(source, mmap_mode="r")
    n, d = vectors.shape
    most = pca.most_components(n, d)
    if options.n_components > most:
        raise UserError(
            f"params.yaml: 'reduce.n_components' is {options.n_components}, but {n} images of {d} "
            f"dimensions allow at most {most}; lower it (e.g. dvc exp run -S "
            f"reduce.n_components={most})"
        )
    model = pca.fit(vectors, options.n_components, options.whiten)
    kept = float(np.sum(model.explained_variance_ratio))
    cumulative = np.cumsum(model.explained_variance_ratio)
    with staged_outputs() as out:
        with NpyRowWriter(paths.reduced, options.n_components) as writer:
            for start in range(0, n, 8192):
                writer.write(model.project(vectors[start : start + 8192]))
            reduced = np.load(writer.finish_into(out), mmap_mode="r")
        pca.save(model, out.path(paths.pca))
        found = Pictures.read(paths.pictures, "embed")
        found.projected(model.project, options.n_components).write(out.path(paths.reduced_pictures))
        metrics = {
            "n_components": options.n_components,
            "explained_variance": round(kept, 6),
            f"knn_preservation@{KNN_K}": knn_preservation(vectors, reduced, options.seed),
        }
        out.write_bytes(paths.reduce_metrics, json_bytes(metrics))
        out.write_bytes(
            paths.variance_plot,
            csv_bytes(
                ["component", "cumulative_explained_variance"],
                [(i + 1, f"{c:.6f}") for i, c in enumerate(cumulative)],
            ),
        )
    print(
        f"reduce: {n} x {d} -> {n} x {options.n_components}, variance kept {kept:.3f}, "
        f"knn_preservation@{KNN_K} {metrics[f'knn_preservation@{KNN_K}']:.3f}"
    )


if __name__ == "__main__":
    run(main)
