"""The groups stage's candidate edges, and their check by the verifier `verify.method` names.

Kept apart from similar/groups/grouping.py (the graph work, which the preview reads too), so that
only the groups stage depends on the verifier and its settings.
"""

from __future__ import annotations

import numpy as np

from ..errors import warn
from ..search.graph import read_picture_edges
from ..vectors.images import require_images
from ..verification.base import CopyRule
from ..verification.runner import image_refs, method_for, verify_pairs
from . import grouping as groups


def candidate_edges(neighbours: np.ndarray, scores: np.ndarray, grouping, graph_path):
    """The candidate edges of `groups.*`, the pictures' found on pages among them; a
    `groups.k` past the graph's width is a warning."""
    width = neighbours.shape[1]
    if grouping.k > width:
        warn(
            f"groups.k ({grouping.k}) is more than graph.k ({width}, the neighbours "
            f"{graph_path} holds): candidate edges are the graph's first {width}"
        )
    return groups.candidates(neighbours, scores, grouping, read_picture_edges(graph_path))


def verify_edges(config, ids, index, edges: groups.Edges) -> tuple[groups.Edges, int, int, list]:
    """The edges with the verifier's results (kept when a copy), how many images were
    described now, how many pairs were read back from a stopped run's journal, and each
    edge's result; the edges unchanged (and no results) when `groups.verify` is off or the
    method checks nothing."""
    verify = config.verify
    if not (config.groups.verify and method_for(verify).verifies):
        return edges, 0, 0, []
    require_images(config.data.images, groups.NEEDS_IMAGES)
    images = image_refs(index, config.data.images)
    results, described, resumed = verify_pairs(
        groups.edge_pairs(ids, edges),
        verify,
        images,
        config.paths.feature_cache,
        verify.workers,
        "groups",
        max_pixels=config.embed.max_pixels,
        scheduler=config.compute.scheduler,
    )
    return groups.verified(edges, results, CopyRule.of(verify)), described, resumed, results


def listed_pairs(ids, edges: groups.Edges, found, results) -> list[tuple[str, str, object]]:
    """(a, b, result) of the checked pairs groups.json lists, copies and shared parts with at
    least one end in one of `found`'s groups, sorted: the pairs whose matched points the
    preview and publish draw."""
    if not len(results):
        return []
    in_group = groups.group_of(len(ids), found) >= 0
    listed = (edges.kept | edges.shared) & (in_group[edges.a] | in_group[edges.b])
    return sorted(
        (str(ids[edges.a[e]]), str(ids[edges.b[e]]), results[e]) for e in np.flatnonzero(listed)
    )
