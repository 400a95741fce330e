"""Stage `verify`: which neighbours are copies? Local features and RANSAC, the way VISE checks.

Reads bulk_query's neighbour lists and the images; writes data/verified/neighbours.json (the
same lists re-ranked, each neighbour with `inliers`, `verified`, `mirrored`, `relation` (copy
or shares_part) and the overlap figures), the matched
points of verified pairs for the preview, and metrics comparable with bulk_query's.
Features are computed once per image (the feature cache); pairs are matched in parallel.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from similar import query, rerank, settings
from similar.errors import UserError, run
from similar.files import json_bytes, read_csv, read_json, require_file, staged_outputs
from similar.groundtruth import read_groups
from similar.verify import image_refs, verify_pairs


def main() -> None:
    s = settings.load()
    v, paths = s.verify, s.paths
    started = time.perf_counter()
    entries = read_json(
        require_file(paths.neighbours, "neighbours.json", "run `dvc repro bulk_query`")
    )
    described, matches = 0, {}
    if v.method == "none":
        candidates = entries
        verified = [rerank.passed_through(e) for e in entries]
    else:
        if not s.data.images.is_dir():
            raise UserError(
                f"{s.data.images}: the images are not here, and verify needs them; "
                "`make pull` fetches its results instead"
            )
        ids, urls = query.read_ids_urls(
            require_file(paths.vectors, "vectors.jsonl", "run `dvc repro attach_iiif`")
        )

        def more(refs: list[str], top: int) -> dict:
            x = query.product_matrix(paths.reduced, len(ids), s.qdrant.distance)
            found, _ = query.search_product(x, ids, urls, refs, top)
            return {e["reference"]["id"]: e["neighbours"] for e in found}

        candidates = rerank.extend_lists(entries, v.top, more)
        pairs = [
            (e["reference"]["id"], n["id"]) for e in candidates for n in e["neighbours"][: v.top]
        ]
        images = image_refs(
            read_csv(require_file(paths.image_index, "image index", "run `dvc repro embed`")),
            s.data.images,
        )
        with tqdm(total=len(pairs), desc="verify", unit="pair", disable=None) as bar:
            results, described = verify_pairs(
                pairs, v, images, paths.feature_cache, v.workers, bar.update
            )
        verified, start = [], 0
        for e in candidates:
            n = min(v.top, len(e["neighbours"]))
            verified.append(
                rerank.rerank(e, results[start : start + n], v.min_inliers, v.min_agreement)
            )
            for nb, r in zip(e["neighbours"], results[start : start + n]):
                if r.inliers >= v.min_inliers:
                    matches.setdefault(e["reference"]["id"], {})[nb["id"]] = {
                        "mirrored": r.mirrored,
                        "points": [list(p) for p in r.matches],
                    }
            start += n
    seconds = time.perf_counter() - started
    m = rerank.metrics(verified, candidates, read_groups(s.data.groups), v.top)
    with staged_outputs() as out:
        out.write_bytes(paths.verified, query.neighbours_bytes(verified))
        out.write_bytes(paths.matches, json_bytes(matches, indent=None))
        out.write_bytes(paths.verify_metrics, json_bytes(m))
        out.write_bytes(
            paths.reports / "verify.json",
            json_bytes(
                {
                    "pairs": m["pairs"],
                    "images_described": described,
                    "seconds": round(seconds, 3),
                    "pairs_per_second": round(m["pairs"] / seconds, 1) if m["pairs"] else None,
                }
            ),
        )
    summary = f", mAP {m['mAP']:.3f} (ceiling {m['candidate_recall']:.3f})" if "mAP" in m else ""
    print(
        f"verify: {m['pairs']} pairs checked, {m['verified_pairs']} copies "
        f"({m['mirrored_matches']} mirrored), {m['shared_part_pairs']} share a part, "
        f"{described} images described, {seconds:.1f}s"
        f"{summary} -> {paths.verified}"
    )


if __name__ == "__main__":
    run(main)
