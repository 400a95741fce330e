"""Stage `verify`: which neighbours are copies? The method `verify.method` names re-ranks them.

Reads bulk_query's neighbour lists and the images; writes data/verified/neighbours.json (the
same lists re-ranked, each neighbour with `inliers`, `verified` and `mirrored`), the matched
points of verified pairs for the preview, and metrics comparable with bulk_query's.
Features are computed once per image (the feature cache); pairs are matched in parallel.
"""

from __future__ import annotations

import time
from functools import partial

from similar import parameters
from similar.errors import run
from similar.files import json_bytes, read_csv, read_json, require_file, staged_outputs
from similar.groundtruth import read_groups, read_marks
from similar.search import product
from similar.search.neighbours import neighbours_bytes
from similar.vectors.images import require_images
from similar.verification import rerank
from similar.verification.points import records_bytes
from similar.verification.runner import image_refs, method_for


def main() -> None:
    config = parameters.load()
    verify, paths = config.verify, config.paths
    started = time.perf_counter()
    neighbours = require_file(paths.neighbours, "neighbours.json", "run `dvc repro bulk_query`")
    candidates = read_json(neighbours)
    verified, matches = [rerank.passed_through(e) for e in candidates], {}
    described = resumed = 0
    if method_for(verify).verifies:
        require_images(config.data.images, "verify needs them; `make pull` fetches its results")
        vectors = require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
        index = read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`"))
        more = partial(product.exact_lists, vectors, paths.reduced, config.qdrant.distance)
        candidates = rerank.extend_lists(candidates, verify.top, more)
        images = image_refs(index, config.data.images)
        verified, matches, described, resumed = rerank.verify_lists(
            candidates,
            verify,
            images,
            paths.feature_cache,
            max_pixels=config.embed.max_pixels,
            scheduler=config.compute.scheduler,
        )
    seconds = time.perf_counter() - started
    truth, marks = read_groups(config.data.groups), read_marks(config.data.groups)
    m = rerank.metrics(verified, candidates, truth, verify.top, marks)
    report = rerank.report(m, described, seconds, resumed)
    with staged_outputs() as out:
        out.write_bytes(paths.verified, neighbours_bytes(verified))
        out.write_bytes(paths.matches, records_bytes(matches))
        out.write_bytes(paths.verify_metrics, json_bytes(m))
        out.write_bytes(paths.reports / "verify.json", json_bytes(report))
    print(rerank.summary(m, described, seconds, paths.verified, resumed))


if __name__ == "__main__":
    run(main)
