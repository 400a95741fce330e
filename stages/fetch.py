"""Stage `fetch`: with `data.fetch: true`, the collection's images from their IIIF links.

Downloads every image of `data.iiif_csv` and of the manifests in `data.manifests` into
`paths.fetched` (where embed then reads, `data.images` being that folder), with `iiif.csv`
(the links attach_iiif reads, the manifests' included) and `failed.csv`. The folder is
published whole, only once every image was tried. With `data.fetch: false` it is left empty.
"""

from __future__ import annotations

import time

from similar import parameters
from similar.errors import run, warn
from similar.files import atomic_dir, json_bytes, staged_outputs
from similar.iiif.fetch import empty_folder, fetch_collection


def main() -> None:
    config = parameters.load()
    started = time.perf_counter()
    if not config.data.fetch:
        with atomic_dir(config.paths.fetched, "paths.fetched") as folder:
            empty_folder(config, folder)
        print(f"fetch: data.fetch is false, nothing fetched (embed reads {config.data.images})")
        return
    with staged_outputs() as out, atomic_dir(config.paths.fetched, "paths.fetched") as folder:
        done = fetch_collection(config, folder)
        seconds = time.perf_counter() - started
        out.write_bytes(
            config.paths.reports / "fetch.json",
            json_bytes(
                {**done, "seconds": round(seconds, 3), "params": parameters.as_plain(config.fetch)}
            ),
        )
    print(
        f"fetch: {done['images']} images -> {config.paths.fetched} "
        f"({done['downloaded']} downloaded, "
        f"{done['from_cache']} from cache), {done['failed']} failed, {done['requests']} requests, "
        f"{done['bytes'] / 1e6:.1f} MB, {seconds:.1f}s"
    )
    if done["failed"]:
        warn(f"{done['failed']} images could not be fetched; see {config.paths.fetched}/failed.csv")


if __name__ == "__main__":
    run(main)
