"""`make pull-vectors`: pull from the DVC remote only what the query side needs."""

from __future__ import annotations

from similar import parameters
from tools.shell import sh

# the vectors the store is loaded from, what bulk_query multiplies, the PCA model and
# embedding identity that `make search` needs, the image index, the pictures found on pages
# (the graph gives them neighbours)
QUERY_SIDE_OUTPUTS = (
    "vectors",
    "reduced",
    "reduced_pictures",
    "pca",
    "image_index",
    "embed_identity",
)


def pull_vectors() -> None:
    config = parameters.load()
    sh(["dvc", "pull", *(str(getattr(config.paths, key)) for key in QUERY_SIDE_OUTPUTS)])
