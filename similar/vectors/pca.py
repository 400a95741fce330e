"""The PCA model: fit on unit-length vectors, saved as plain arrays, applied to any new vector.

Vectors are L2-normalised before PCA (cosine geometry; PCA then centres them), so the
saved model is enough to project an image that was never in the collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from ..errors import UserError
from ..evaluation import normalise

NOISE_VARIANCE = 1e-9


def most_components(images: int, dim: int) -> int:
    """How many components carry variance: centring N vectors leaves at most N - 1."""
    if images < 2:
        raise UserError(
            f"data.images: the collection has {images} image(s); finding similar images "
            "needs at least 2 (add images, or fix data.images)"
        )
    return min(images - 1, dim)


@dataclass(frozen=True)
class PcaModel:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D)
    explained_variance: np.ndarray  # (k,)
    explained_variance_ratio: np.ndarray
    whiten: bool

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Raw model vectors (N x D) to reduced float32 vectors (N x k)."""
        centred = normalise(vectors) - self.mean
        reduced = centred @ self.components.T
        if self.whiten:
            reduced = reduced / np.sqrt(self.explained_variance)
        return reduced.astype(np.float32)


def fit(vectors: np.ndarray, n_components: int, whiten: bool) -> PcaModel:
    """Fit PCA on normalised vectors. Exact (covariance eigen-decomposition) and deterministic."""
    solver = "covariance_eigh" if vectors.shape[0] >= vectors.shape[1] else "full"
    pca = PCA(n_components=n_components, whiten=whiten, svd_solver=solver)
    pca.fit(normalise(vectors))
    # unit vectors: a component this flat is rounding noise (identical images), and whitening
    # or a variance ratio would turn it into NaN or noise
    if not np.all(np.isfinite(pca.explained_variance_ratio_)) or (
        pca.explained_variance_[-1] < NOISE_VARIANCE
    ):
        raise UserError(
            f"the {vectors.shape[0]} embeddings do not vary along {n_components} directions "
            "(identical images?); lower reduce.n_components or add different images"
        )
    return PcaModel(
        pca.mean_, pca.components_, pca.explained_variance_, pca.explained_variance_ratio_, whiten
    )


def save(model: PcaModel, target: str | Path) -> None:
    """Write the model to `target` as it is (callers stage or rename it)."""
    with open(target, "wb") as fh:
        np.savez(
            fh,
            mean=model.mean,
            components=model.components,
            explained_variance=model.explained_variance,
            explained_variance_ratio=model.explained_variance_ratio,
            whiten=np.array(model.whiten),
        )


def load(source: str | Path) -> PcaModel:
    with np.load(source) as z:
        return PcaModel(
            z["mean"],
            z["components"],
            z["explained_variance"],
            z["explained_variance_ratio"],
            bool(z["whiten"]),
        )
