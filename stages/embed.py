"""Stage `embed`: every image of the collection to one mean-pooled feature vector.

Writes the vectors, the image index (id, path, size, sha256), the images that could not be
read and why, the identity of the embedding (what `make search` must match), and metrics.
All outputs are published together, only once every image was seen.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: start-up counts them

from similar import memory, parameters  # noqa: E402
from similar.errors import UserError, warn  # noqa: E402
from similar.files import csv_bytes, json_bytes, staged_outputs  # noqa: E402
from similar.vectors.images import index_collection  # noqa: E402


def main() -> None:
    from similar.vectors import (
        embedding,  # torch: inside main, so that running out of memory is one line
    )

    config = parameters.load()
    started = time.perf_counter()
    skipped: list[tuple[str, str]] = []  # files that cannot have an id, and why
    entries = index_collection(
        config.data.images, config.data.patterns, config.data.id_from, skipped
    )
    if not entries:
        raise UserError(
            f"{config.data.images}: no images matching data.patterns "
            f"({', '.join(config.data.patterns)})"
        )
    plan = embedding.plan(config.embed)
    paths = config.paths
    with staged_outputs() as out:
        done = embedding.embed_collection(
            entries, plan, paths.embed_cache, paths.embeddings, out, config.compute.scheduler
        )
        seconds = time.perf_counter() - started
        done["failed"] = sorted([*skipped, *done["failed"]])
        images, failed = len(done["index"]), len(done["failed"])
        out.write_bytes(
            paths.image_index, csv_bytes(["id", "path", "width", "height", "sha256"], done["index"])
        )
        out.write_bytes(paths.failed, csv_bytes(["path", "reason"], done["failed"]))
        done["pictures"].write(out.path(paths.pictures))
        out.write_bytes(paths.embed_identity, json_bytes(embedding.identity(plan)))
        out.write_bytes(paths.embed_metrics, json_bytes(embedding.run_metrics(done, plan)))
        report = embedding.run_report(done, plan, config.embed, seconds, STARTED)
        out.write_bytes(paths.reports / "embed.json", json_bytes(report))
    random_weights = plan.spec.weights == "random"
    note = " (random weights: the vectors carry no meaning)" if random_weights else ""
    print(
        f"embed: {images} images -> {done['dim']}-d vectors ({done['computed']} computed, "
        f"{done['reused']} from cache) on {plan.device}, pictures found on "
        f"pages: {len(done['pictures'])}, {failed} failed, {seconds:.1f}s{note}"
    )
    if failed:
        warn(f"{failed} images could not be read; see {paths.failed}")


if __name__ == "__main__":
    memory.run(main, "embed", "raise the limit, or lower embed.batch_size and embed.num_workers")
