"""Search the collection with images from outside it: where does this picture, or a copy, appear?

    python -m tools.search IMAGE_OR_FOLDER [--limit 10] [--json] [--region x,y,w,h]

Each image is embedded exactly as the collection was (the embed stage records how, in
`paths.embed_identity`; a changed parameter is refused), projected with the saved PCA, and
searched in the collection the last `ingest` loaded, after checking the store still holds
it. A folder is embedded and searched in batches. The candidates are then checked as
`verify` checks them (the method `verify.method` names, its feature cache) and re-ranked:
copies first, then pictures that share a part, then the rest by CNN score; "no verified
copy" says when none is a copy. `--region` searches for a detail: that rectangle of the
image, in its pixels. A page with a picture printed between lines of type (vectors/pages.py)
is searched with that picture too: its list holds both's neighbours, at most twice --limit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from similar import parameters
from similar.errors import UserError, run, warn
from similar.files import read_csv, read_json, require_file
from similar.search.engine import search_mode
from similar.search.neighbours import entry
from similar.search.ranking import with_picture
from similar.search.receipt import open_checked_store
from similar.settings import Settings
from similar.vectors import embedding, pca
from similar.vectors.images import ImageEntry, discover, open_rgb
from similar.verification import rerank
from similar.verification.base import CopyRule
from similar.verification.runner import ImageRef, image_refs, method_for, verify_pairs

BATCH = 64


def query_entries(target: Path, patterns) -> list[ImageEntry]:
    if target.is_file():
        return [ImageEntry(str(target), target.name, target)]
    if target.is_dir():
        files = discover(target, patterns)
        if not files:
            raise UserError(f"{target}: no images matching data.patterns")
        return [ImageEntry(str(f), f.relative_to(target).as_posix(), f) for f in files]
    raise UserError(f"{target}: no such image file or folder")


def embed_queries(
    entries: list[ImageEntry], p: embedding.EmbedPlan, cache_root
) -> tuple[list, np.ndarray, dict[int, np.ndarray]]:
    """(entries embedded, raw vectors, the raw vector of the picture found on each page among
    them by its position); unreadable files are reported and skipped."""
    embedder = embedding.make_embedder(p)
    caches = embedding.Caches.of(cache_root, p, embedder.dim)
    done, vectors, pictures = [], [], {}
    for batch in embedding.embedded_batches(
        entries, p, embedder, caches, num_workers=0, keep_new=False
    ):
        for it in batch:
            if it.reason is not None:
                if len(entries) == 1:
                    raise UserError(f"{entries[it.index].path}: {it.reason}")
                warn(f"{entries[it.index].path}: skipped, {it.reason}")
            else:
                if it.box is not None:
                    pictures[len(done)] = it
                done.append(entries[it.index])
                vectors.append(it.vector)
    if not vectors:
        raise UserError("none of the query images could be read")
    # the pictures' vectors are all there once every batch was handed over
    return done, np.stack(vectors), {at: it.picture for at, it in pictures.items()}


def parse_region(text: str) -> tuple[int, int, int, int]:
    """x,y,w,h in pixels, as VISE and the IIIF Image API write a region."""
    if not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", text):
        raise UserError(f"REGION must be x,y,w,h in whole pixels, e.g. 10,20,300,200; got {text!r}")
    x, y, w, h = (int(v) for v in text.split(","))
    if not w or not h:
        raise UserError(f"REGION {text!r}: width and height must be at least 1 pixel")
    return x, y, w, h


def detail(image: Path, region: tuple[int, int, int, int], folder: Path) -> Path:
    """The region of `image` as a PNG file in `folder` (lossless: nothing added to the detail)."""
    try:
        img, _ = open_rgb(image, max_pixels=1 << 31)
    except ValueError as exc:
        raise UserError(f"{image}: {exc}") from None
    x, y, w, h = region
    if x + w > img.width or y + h > img.height:
        raise UserError(
            f"REGION {x},{y},{w},{h} reaches past {image} ({img.width} x {img.height} pixels)"
        )
    target = folder / f"{image.stem}_{x}_{y}_{w}_{h}.png"
    img.crop((x, y, x + w, y + h)).save(target, "PNG")
    return target


def verified_entries(entries: list[dict], queries: list[ImageEntry], config: Settings) -> list:
    """Each query's candidates checked as `verify` checks them, and re-ranked the same way;
    as they are, with a warning, where the verifier needs the collection's images and they are
    not here."""
    checks = config.verify
    if not method_for(checks).verifies:
        return [rerank.passed_through(e) for e in entries]
    if not Path(config.data.images).is_dir():
        warn(f"{config.data.images}: the images are not here; candidates are not verified")
        return [rerank.passed_through(e) for e in entries]
    index = read_csv(require_file(config.paths.image_index, "image index", "run `make all`"))
    images = image_refs(index, config.data.images)
    names = {}
    for number, q in enumerate(queries):
        name = f"\0query {number}"  # never a collection id
        digest = hashlib.sha256(Path(q.path).read_bytes()).hexdigest()
        images[name] = ImageRef(str(q.path), digest)
        names[q.id] = name
    pairs = [(names[e["reference"]["id"]], n["id"]) for e in entries for n in e["neighbours"]]
    results, _, _ = verify_pairs(
        pairs,
        checks,
        images,
        config.paths.feature_cache,
        checks.workers,
        max_pixels=config.embed.max_pixels,
        scheduler=config.compute.scheduler,
    )
    out, start = [], 0
    for e in entries:
        mine = results[start : start + len(e["neighbours"])]
        start += len(mine)
        out.append(rerank.rerank(e, mine, CopyRule.of(checks)))
    return out


def search(target: Path, limit: int, config: Settings, region=None) -> list[dict]:
    built = read_json(
        require_file(
            config.paths.embed_identity,
            "record of the embedding",
            "no pipeline run found; run `make all` first",
        )
    )
    p = embedding.plan(config.embed)
    embedding.check_same_identity(embedding.identity(p), built, warn)
    pca_path = require_file(config.paths.pca, "PCA model", "run `make all` first")
    with tempfile.TemporaryDirectory(prefix="similar-search-") as scratch:
        queries = query_entries(target, config.data.patterns)
        if region is not None:
            if len(queries) != 1:
                raise UserError("REGION needs one image, not a folder")
            crop = detail(queries[0].path, region, Path(scratch))
            queries = [ImageEntry(queries[0].id, crop.name, crop)]
        return ranked(queries, limit, config, p, pca_path)


def ranked(queries: list[ImageEntry], limit: int, config: Settings, p, pca_path) -> list[dict]:
    """The queries' neighbours from the store, verified."""
    entries, raw, pictures = embed_queries(queries, p, config.paths.embed_cache)
    model = pca.load(pca_path)
    if raw.shape[1] != model.mean.shape[0]:
        raise UserError(
            f"the model gives {raw.shape[1]}-d vectors but the saved PCA expects "
            f"{model.mean.shape[0]}; rebuild with `make all`"
        )
    reduced = model.project(raw)
    with open_checked_store(config) as (store, receipt):
        exact, hnsw_ef = search_mode(config.bulk_query, receipt)
        results = []
        for start in range(0, len(reduced), BATCH):
            results.extend(
                store.search_vectors(reduced[start : start + BATCH], limit, exact, hnsw_ef)
            )
        if pictures:
            found_on_pages = model.project(np.stack(list(pictures.values())))
            for at, hits in zip(
                pictures, store.search_vectors(found_on_pages, limit, exact, hnsw_ef)
            ):
                results[at] = with_picture(results[at], hits, limit)
    found = [entry(e.id, None, hits) for e, hits in zip(entries, results)]
    return verified_entries(found, entries, config)


RELATION = {"copy": "copy", "shares_part": "shares a part", None: "-"}


def print_table(entries: list[dict], unsure: int) -> None:
    """Each query's candidates; a checked pair with at most `unsure` inliers ends in "?"."""
    for e in entries:
        print(f"{e['reference']['id']}")
        width = max([len(n["id"]) for n in e["neighbours"]] + [2])
        print(f"  {'score':>8}  {'inliers':>7}  {'relation':<13}  {'id':<{width}}  url")
        for n in e["neighbours"]:
            inliers = "-" if n.get("inliers") is None else str(n["inliers"])
            relation = RELATION[n.get("relation")]
            if n.get("relation") and n["inliers"] <= unsure:
                relation += "?"
            print(
                f"  {n['score']:>8.4f}  {inliers:>7}  {relation:<13}  {n['id']:<{width}}  "
                f"{n['url'] or '-'}"
            )
        if not any(n.get("verified") for n in e["neighbours"]):
            checked = any(n.get("inliers") is not None for n in e["neighbours"])
            print("  no verified copy" + ("" if checked else " (not verified)"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", help="an image file or a folder of images")
    ap.add_argument("--limit", default="10")
    ap.add_argument("--json", action="store_true", help="print JSON (verified lists' entries)")
    ap.add_argument("--region", default="", help="x,y,w,h: search for this detail of the image")
    args = ap.parse_args(argv)
    if not args.image:
        raise UserError(
            "usage: make search IMAGE=<file or folder> [LIMIT=10] [JSON=1] [REGION=x,y,w,h]"
        )
    if not args.limit.isdigit() or int(args.limit) < 1:
        raise UserError(f"LIMIT must be a whole number of at least 1, got {args.limit!r}")
    target = Path(args.image)
    region = parse_region(args.region) if args.region else None
    config = parameters.load()
    entries = search(target, int(args.limit), config, region)
    if args.json:
        data = entries[0] if target.is_file() else entries
        json.dump(data, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print_table(entries, config.preview.unsure_inliers)


if __name__ == "__main__":
    run(main)
