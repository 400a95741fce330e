"""Groups that do not chain: agglomeration over verified pairs."""

import numpy as np

from similar.groups.clustering import agglomerate


def edges(pairs):
    a = np.array([x for x, _ in pairs])
    b = np.array([y for _, y in pairs])
    return a, b


def test_one_wrong_edge_does_not_chain_a_b_c():
    a, b = edges([(0, 1), (1, 2)])  # A-B a copy, B-C the wrong edge
    labels = agglomerate(3, a, b, np.array([90.0, 20.0]))
    assert labels[0] == labels[1] != labels[2]
    assert agglomerate(3, a, b, np.array([90.0, 20.0]), rule="one").tolist() == [0, 0, 0]


def test_two_groups_and_a_bridge_stay_two_groups():
    # triangles 0-1-2 and 3-4-5, one wrong edge 2-3, stronger than some true ones
    a, b = edges([(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)])
    strength = np.array([40, 30, 20, 40, 30, 20, 35], dtype=float)
    labels = agglomerate(6, a, b, strength)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_an_image_confirmed_by_two_members_joins_in_any_order():
    # 3 matches 0 and 1 of the group 0-1-2, and its edges come first
    a, b = edges([(0, 3), (1, 3), (0, 1), (1, 2), (0, 2), (2, 4)])
    strength = np.array([90, 80, 50, 40, 30, 99], dtype=float)
    labels = agglomerate(5, a, b, strength)
    assert labels.tolist()[:4] == [0, 0, 0, 0] and labels[4] != 0
    assert np.array_equal(labels, agglomerate(5, a[::-1], b[::-1], strength[::-1]))


def test_a_part_two_pictures_share_does_not_join_them_when_kept_apart():
    """Two queens of one deck (0-1-2 and 3-4-5, each with its copies) and a crop of the
    figure both draw (6): a copy of both, it bridges them with two pairs each way. Their
    own pair (2-3) was checked and only shares a part: kept apart, the queens stay two
    groups, and the crop joins one of them."""
    pairs = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (1, 6), (2, 6), (3, 6), (4, 6)]
    a, b = edges(pairs)
    strength = np.array([40, 30, 20, 40, 30, 20, 90, 90, 90, 90], dtype=float)
    assert len(set(agglomerate(7, a, b, strength).tolist())) == 1
    labels = agglomerate(7, a, b, strength, apart=edges([(2, 3)]))
    assert labels[0] == labels[1] == labels[2] and labels[3] == labels[4] == labels[5]
    assert labels[0] != labels[3] and labels[6] in (labels[0], labels[3])
    assert agglomerate(7, a, b, strength, rule="one", apart=edges([(2, 3)]))[0] != labels[3]


def test_pairs_kept_apart_follow_their_groups_as_they_grow():
    a, b = edges([(0, 1), (1, 2), (0, 2), (2, 3)])
    strength = np.array([50, 40, 30, 20], dtype=float)
    labels = agglomerate(4, a, b, strength, rule="one", apart=edges([(0, 3)]))
    assert labels[0] == labels[1] == labels[2] != labels[3]
