"""Stage `attach_iiif`: join reduced vectors with their IIIF URLs into vectors.jsonl.

One JSON object per line, `{"id", "url", "vector"}`, in the order of the image index.
Images without a row in the IIIF CSV keep `url: null` and are counted and warned about
(`attach_iiif.on_missing: error` makes that fatal); a CSV with no rows at all (a collection
without IIIF, `data/no-links.csv`) is said once.
"""

from __future__ import annotations

import numpy as np

from similar import parameters
from similar.errors import UserError, run, warn
from similar.files import json_bytes, read_csv, require_file, staged_outputs, write_vector_records
from similar.iiif.links import links_csv, read_iiif_csv


def main() -> None:
    config = parameters.load()
    options, paths = config.attach_iiif, config.paths
    index_path = require_file(paths.image_index, "image index", "run `dvc repro embed`")
    vectors = np.load(
        require_file(paths.reduced, "reduced vectors", "run `dvc repro reduce`"), mmap_mode="r"
    )
    index = read_csv(index_path)
    if len(index) != vectors.shape[0]:
        raise UserError(
            f"{index_path} has {len(index)} rows but the reduced vectors have "
            f"{vectors.shape[0]}; rerun with `dvc repro -f reduce`"
        )
    links = links_csv(config)
    urls = read_iiif_csv(
        links, options.id_column, options.url_column, written_here=config.data.fetch
    )
    missing = [row["id"] for row in index if urls.get(row["id"]) is None]
    if missing and options.on_missing == "error":
        raise UserError(
            f"{len(missing)} images have no URL in {links} "
            f"(first: {missing[0]}); add them or set attach_iiif.on_missing: warn"
        )
    with staged_outputs() as out:
        write_vector_records(out.path(paths.vectors), index, vectors, urls)
        out.write_bytes(
            paths.attach_metrics,
            json_bytes({"matched": len(index) - len(missing), "missing": len(missing)}),
        )
    print(
        f"attach_iiif: {len(index)} vectors -> {paths.vectors}, {len(index) - len(missing)} "
        f"with a URL, {len(missing)} without"
    )
    if not urls:
        print(f"attach_iiif: {links} holds no IIIF links: images are shown without one")
    elif missing:
        warn(
            f"{len(missing)} images have no row in the IIIF CSV (first: {missing[0]}); "
            "their url is null"
        )


if __name__ == "__main__":
    run(main)
