"""Neighbour lists re-ranked by geometric verification (stage verify).

Each reference's first `verify.top` CNN neighbours are checked pair by pair. A list that is
shorter than `verify.top` (bulk_query.limit is smaller) is first extended with the next CNN
neighbours from the exact product over the vectors, so verification can find copies that
bulk_query did not list. The re-ranked list puts copies first (those in the reference's own
orientation before mirrored ones), then pairs that share a part, each by inliers, then the
rest by CNN score; ties by id. Unchecked neighbours (beyond
`verify.top`) keep their place after them, with `inliers: null`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..evaluation import MARKED, RECALL_KS, ranking
from .base import CopyRule, PairResult
from .points import point_record
from .runner import canonical_pairs, verify_pairs


def extend_lists(
    entries: list[dict], top: int, more: Callable[[list[str], int], dict]
) -> list[dict]:
    """Lists of at least `top` neighbours: bulk_query's own first, then `more(refs, top)`'s
    (id -> neighbour entries of the exact product search) that are not listed yet."""
    short = [e["reference"]["id"] for e in entries if len(e["neighbours"]) < top]
    extra = more(short, top) if short else {}
    out = []
    for e in entries:
        ns = list(e["neighbours"])
        if len(ns) < top:
            seen = {n["id"] for n in ns} | {e["reference"]["id"]}
            ns += [n for n in extra.get(e["reference"]["id"], []) if n["id"] not in seen][
                : top - len(ns)
            ]
        out.append({"reference": e["reference"], "neighbours": ns})
    return out


def pair_layout(candidates: list[dict], top: int) -> list[tuple[str, str]]:
    """The pairs to check, in order: each reference with its first `top` candidates."""
    return [(e["reference"]["id"], n["id"]) for e in candidates for n in e["neighbours"][:top]]


def rerank_lists(
    candidates: list[dict],
    results: Sequence[PairResult],
    top: int,
    rule: CopyRule,
) -> tuple[list[dict], dict]:
    """The re-ranked lists, and the matched points of verified pairs (reference -> neighbour ->
    mirrored, points), from the results of `pair_layout(candidates, top)`'s pairs."""
    verified, matches, start = [], {}, 0
    for e in candidates:
        mine = results[start : start + min(top, len(e["neighbours"]))]
        start += len(mine)
        verified.append(rerank(e, mine, rule))
        for n, r in zip(e["neighbours"], mine):
            if r.inliers >= rule.floor(r.keypoints):
                matches.setdefault(e["reference"]["id"], {})[n["id"]] = point_record(r)
    return verified, matches


def verify_lists(candidates: list[dict], settings, images: dict, cache_root, **where) -> tuple:
    """(re-ranked lists, matched points, images described now, pairs read back from a
    stopped run's journal): each reference's first `verify.top` candidates checked by the
    method `verify.method` names (`where`: verify_pairs' max_pixels and scheduler)."""
    pairs = pair_layout(candidates, settings.top)
    results, described, resumed = verify_pairs(
        pairs, settings, images, cache_root, settings.workers, "verify", **where
    )
    verified, matches = rerank_lists(candidates, results, settings.top, CopyRule.of(settings))
    return verified, matches, described, resumed


RANK = {"copy": 0, "shares_part": 1, None: 2}


UNCHECKED = {
    "inliers": None,
    "verified": False,
    "mirrored": False,
    "relation": None,
    "coverage": None,
    "inlier_ratio": None,
    "agreement": None,
    "contained": None,
    "difference": None,
    "part": None,
}


def rerank(entry: dict, results: Sequence[PairResult], rule: CopyRule) -> dict:
    """The entry's first len(results) neighbours checked: copies first, the unmirrored ones
    before the mirrored (a mirrored copy matches as many keypoints as the original once
    every keypoint is matched, so its inliers cannot rank the two), those of whole
    pictures before those found through a part described at a strong crop's scale (whose
    inliers are counted over a denser description: `PairResult.zoomed`), then shared
    parts, each by inliers."""
    checked = [({**n, **r.fields(rule)}, r.zoomed) for n, r in zip(entry["neighbours"], results)]
    checked.sort(
        key=lambda pair: (
            RANK[pair[0]["relation"]],
            pair[0]["mirrored"],
            pair[1],
            -pair[0]["inliers"] if pair[0]["relation"] else 0,
            -pair[0]["score"],
            pair[0]["id"],
        )
    )
    checked = [n for n, _ in checked]
    rest = [{**n, **UNCHECKED} for n in entry["neighbours"][len(results) :]]
    return {"reference": entry["reference"], "neighbours": checked + rest}


def passed_through(entry: dict) -> dict:
    """`verify.method: none`: the CNN ranking as it is, in the verified lists' shape."""
    return {
        "reference": entry["reference"],
        "neighbours": [{**n, **UNCHECKED} for n in entry["neighbours"]],
    }


def metrics(
    verified: list[dict], candidates: list[dict], groups: dict, top: int, marks=None
) -> dict:
    """What verification adds, with bulk_query's definitions, and its ceiling: the share of
    each reference's copies that are among its candidates at all. Against review marks
    (`marks`), over the pairs they cover only, and how many that is."""
    lists = {e["reference"]["id"]: [n["id"] for n in e["neighbours"]] for e in verified}
    checked = [
        (e["reference"]["id"], n["id"])
        for e in verified
        for n in e["neighbours"]
        if n["inliers"] is not None
    ]
    out = {
        "references": len(verified),
        "top": top,
        "pairs": len(checked),
        "distinct_pairs": len(canonical_pairs(checked)),
        "verified_pairs": sum(n["verified"] for e in verified for n in e["neighbours"]),
        "shared_part_pairs": sum(
            n["relation"] == "shares_part" for e in verified for n in e["neighbours"]
        ),
        "mirrored_matches": sum(n["mirrored"] for e in verified for n in e["neighbours"]),
    }
    if groups:
        ranked = ranking(lists, groups, marks, RECALL_KS)
        ceiling = ranking(
            {e["reference"]["id"]: [n["id"] for n in e["neighbours"][:top]] for e in candidates},
            groups,
            marks,
            [top],
        )
        out.update({f"recall@{k}": ranked[f"recall@{k}"] for k in RECALL_KS})
        out["mAP"] = ranked["mAP"]
        out["evaluated_references"] = ranked["evaluated_references"]
        out["candidate_recall"] = ceiling[f"recall@{top}"]
        out.update({key: ranked[key] for key in MARKED if key in ranked})
    return out


def report(m: dict, described: int, seconds: float, resumed: int = 0) -> dict:
    """reports/verify.json: the run's timings beside the deterministic figures (no rate for
    a run that read pairs back from a stopped run's journal: it is not the stage's)."""
    return {
        "pairs": m["pairs"],
        "distinct_pairs": m["distinct_pairs"],
        "images_described": described,
        "pairs_read_back": resumed,
        "seconds": round(seconds, 3),
        "pairs_per_second": round(m["pairs"] / seconds, 1) if m["pairs"] and not resumed else None,
    }


def summary(m: dict, described: int, seconds: float, target, resumed: int = 0) -> str:
    """The verify stage's one line."""
    quality = f", mAP {m['mAP']:.3f} (ceiling {m['candidate_recall']:.3f})" if "mAP" in m else ""
    if "marked_pairs" in m:
        quality += f" over the {m['marked_pairs']} pairs the review marks cover"
    back = f" ({resumed} pairs read back from a stopped run)" if resumed else ""
    return (
        f"verify: {m['pairs']} pairs listed ({m['distinct_pairs']} checked: a pair two lists "
        f"name is checked once), {m['verified_pairs']} copies "
        f"({m['mirrored_matches']} mirrored), {m['shared_part_pairs']} share a part, "
        f"{described} images described, {seconds:.1f}s{back}"
        f"{quality} -> {target}"
    )
