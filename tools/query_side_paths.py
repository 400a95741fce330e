"""Print the outputs the query side needs (`make pull-vectors`): the vectors the store is
loaded from, the PCA model that projects new images, and the image index. The receipts
(ingest's, the metrics) are small files kept in git."""
from __future__ import annotations

from stages import config as cfg

QUERY_SIDE = ("vectors", "pca", "image_index")

if __name__ == "__main__":
    params = cfg.load_params()
    print(" ".join(str(cfg.path(params, key)) for key in QUERY_SIDE))
