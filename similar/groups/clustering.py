"""Groups that do not chain: joining two groups takes more than one verified pair.

Connected components put two groups together as soon as one pair between them verifies, so
one wrong edge (a shared border, a typeface) chains two groups, and a few of them a whole
collection. Here groups grow by agglomeration over the verified copy edges, the best
supported first (in the most triangles of verified pairs: a wrong edge between two groups is
in none), then the strongest, ties by the pair's rows. Two groups join when the verified
pairs between them are at
least `links(size_a, size_b)`. With `rule="two"` that is one pair for two lone images and
two pairs otherwise: an image joins a group only when two members confirm it, and two
groups join only when two of their pairs do. With `rule="one"` it is one pair
(connected components). An image confirmed by only one member then joins that group when
it is a copy of nothing outside it and none of its pairs with a member is held apart
(`adopt_lone`): its one link can bring in no other image. Images confirmed by one member
and a copy of something else stay out, and are listed as the group's *possible* members.
A group of pieces (crops) whose copy pairs outside it all reach one group, where one of
them lies in a member as a part, joins that group on that pair (`adopt_pieces`).
"""

from __future__ import annotations

import numpy as np


def links_needed(rule: str, size_a: int, size_b: int) -> int:
    if rule == "one" or size_a == size_b == 1:
        return 1
    return 2


def agglomerate(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    strength: np.ndarray,
    rule: str = "two",
    apart: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A label per node (0..c-1, by first member): groups joined by the rule over edges a-b;
    never two groups between which a pair of `apart` lies."""
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    kept_apart: dict[int, set[int]] = {}  # root -> the roots it must not join
    pairs = zip(apart[0].tolist(), apart[1].tolist()) if apart is not None else ()
    for x, y in pairs:
        kept_apart.setdefault(x, set()).add(y)
        kept_apart.setdefault(y, set()).add(x)
    # cross[root] = {other root: verified pairs between the two groups}
    cross: dict[int, dict[int, int]] = {}
    for x, y in zip(a.tolist(), b.tolist()):
        if x != y:
            cross.setdefault(x, {})[y] = cross.get(x, {}).get(y, 0) + 1
            cross.setdefault(y, {})[x] = cross.get(y, {}).get(x, 0) + 1

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    order = np.lexsort((b, a, -np.asarray(strength, dtype=np.float64), -triangles(a, b)))
    changed = True
    while changed:  # a pair refused now may pass once its groups have grown
        changed = False
        for e in order:
            x, y = root(int(a[e])), root(int(b[e]))
            if x == y or cross[x].get(y, 0) < links_needed(rule, size[x], size[y]):
                continue
            if y in kept_apart.get(x, ()):
                continue
            if size[x] < size[y]:
                x, y = y, x
            parent[y] = x
            size[x] += size[y]
            for other in kept_apart.pop(y, set()):
                kept_apart[other].discard(y)
                kept_apart[other].add(x)
                kept_apart.setdefault(x, set()).add(other)
            for other, count in cross.pop(y).items():
                del cross[other][y]
                if other != x:
                    cross[x][other] = cross[x].get(other, 0) + count
                    cross[other][x] = cross[other].get(x, 0) + count
            cross[x].pop(y, None)
            changed = True
    roots = np.array([root(x) for x in range(n)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def adopt_lone(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    apart: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The labels with each image that is alone but a copy (edges a-b) of members of one
    group only, of two or more, put into that group; not where a pair of `apart` lies
    between it and a member. Decided on the labels as given, so the order of the edges does
    not matter and an image taken in brings no other with it."""
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    reached: dict[int, set[int]] = {}  # a lone image -> the groups its copies are in
    for x, y in zip(a.tolist(), b.tolist()):
        for me, other in ((x, y), (y, x)):
            if sizes[labels[me]] == 1:
                reached.setdefault(me, set()).add(int(labels[other]))
    refused = groups_between(labels, apart)
    out = labels.copy()
    for me, found in reached.items():
        if len(found) == 1:
            (group,) = found
            if sizes[group] >= 2 and (int(labels[me]), group) not in refused:
                out[me] = group
    _, compact = np.unique(out, return_inverse=True)  # labels 0..c-1 again
    return compact


def adopt_pieces(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    part: np.ndarray,
    apart: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The labels with each group whose copy pairs outside it all reach one other group,
    at least one of them a member of it lying in that group's member as a part (`part`:
    1 where a is a part of b, 2 where b is of a), put into that group; not where a pair of
    `apart` lies between the two. Crops of one picture are found in the whole, and a small
    crop in a larger one, but two crops of different places only share a part: the larger
    crop's one link to the whole is all that ties them, and a crop lies in nothing else. A
    piece that lies in several groups' pictures (a frame, a pictogram) joins none. Decided
    on the labels as given, so the order of the edges does not matter."""
    reached: dict[int, set[int]] = {}  # group -> the groups its copy pairs reach
    lies_in: dict[int, set[int]] = {}  # group -> the groups holding one of its members
    for x, y, piece in zip(a.tolist(), b.tolist(), np.asarray(part).tolist()):
        one, other = int(labels[x]), int(labels[y])
        if one == other:
            continue
        reached.setdefault(one, set()).add(other)
        reached.setdefault(other, set()).add(one)
        if piece:
            inner, outer = (one, other) if piece == 1 else (other, one)
            lies_in.setdefault(inner, set()).add(outer)
    refused = groups_between(labels, apart)
    moves: dict[int, int] = {}  # a group of pieces -> the group it joins
    for group, found in reached.items():
        if len(found) != 1:
            continue
        (whole,) = found
        if whole in lies_in.get(group, ()) and (group, whole) not in refused:
            moves[group] = whole
    target = np.arange(int(labels.max()) + 1 if len(labels) else 0)
    for group, whole in moves.items():
        # a whole group reaches others too and stays; two that reach only each other join
        if moves.get(whole) == group:
            target[max(group, whole)] = min(group, whole)
        else:
            target[group] = whole
    _, compact = np.unique(target[labels], return_inverse=True)
    return compact


def groups_between(
    labels: np.ndarray, pairs: tuple[np.ndarray, np.ndarray] | None
) -> set[tuple[int, int]]:
    """The pairs of group labels, both ways round, that the image pairs `pairs` lie
    between (none for None)."""
    found: set[tuple[int, int]] = set()
    if pairs is not None:
        for x, y in zip(pairs[0].tolist(), pairs[1].tolist()):
            one, other = int(labels[x]), int(labels[y])
            found |= {(one, other), (other, one)}
    return found


def triangles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each edge, the nodes verified with both its ends."""
    near: dict[int, set[int]] = {}
    for x, y in zip(a.tolist(), b.tolist()):
        near.setdefault(x, set()).add(y)
        near.setdefault(y, set()).add(x)
    return np.array(
        [len(near[x] & near[y]) for x, y in zip(a.tolist(), b.tolist())], dtype=np.int64
    )
