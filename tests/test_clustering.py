"""Groups that do not chain: agglomeration over verified pairs."""

import numpy as np

from similar.groups.clustering import adopt_lone, adopt_pieces, agglomerate


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


def test_an_image_that_is_a_copy_of_one_group_alone_joins_it():
    """4 is a copy of 0 only (a strong crop that the group's other copies do not match); 5
    of 1 and of 6, whose group is 6-7: 4 joins, 5 stays a possible member of both."""
    a, b = edges([(0, 1), (0, 2), (1, 2), (0, 4), (1, 5), (5, 6), (6, 7)])
    labels = agglomerate(8, a, b, np.array([90, 80, 70, 60, 50, 40, 95], dtype=float))
    assert labels[4] != labels[0]  # two members must confirm it
    adopted = adopt_lone(labels, a, b)
    assert adopted[4] == adopted[0] == adopted[1] == adopted[2]
    assert len({adopted[0], adopted[5], adopted[6]}) == 3 and adopted[6] == adopted[7]
    assert sorted(set(adopted.tolist())) == list(range(len(set(adopted.tolist()))))


def test_an_image_that_is_a_copy_of_two_groups_joins_neither():
    a, b = edges([(0, 1), (2, 3), (0, 4), (2, 4)])
    labels = agglomerate(5, a, b, np.array([90, 80, 70, 60], dtype=float))
    adopted = adopt_lone(labels, a, b)
    assert len({adopted[0], adopted[2], adopted[4]}) == 3


def test_an_image_is_not_taken_in_where_its_pair_with_a_member_only_shares_a_part():
    """2 is a copy of 0, and its pair with 1 was checked and only shares a part."""
    a, b = edges([(0, 1), (0, 2)])
    labels = agglomerate(3, a[:1], b[:1], np.array([90.0]))
    assert adopt_lone(labels, a, b)[2] == adopt_lone(labels, a, b)[0]
    assert adopt_lone(labels, a, b, edges([(1, 2)]))[2] != labels[0]


def test_two_lone_images_are_not_taken_in_through_each_other():
    """3-4 are copies of each other, 3 of the group's 0: they stay a group of their own
    (agglomerate joins two lone images by one pair) and no lone image is left to take in."""
    a, b = edges([(0, 1), (1, 2), (0, 2), (0, 3), (3, 4)])
    labels = agglomerate(5, a, b, np.array([90, 80, 70, 60, 95], dtype=float))
    assert np.array_equal(adopt_lone(labels, a, b), labels)


PART_A, PART_B = 1, 2  # Edges.part: a lies in b as a part of it, or b in a


def test_crops_of_one_picture_join_it_through_the_larger_crop():
    """0 is a picture, 1 and 2 crops of two places in it, 3 a small crop inside crop 2:
    0-1 and 2-3 pair first, 2 lies in 0, and the two crops only share a part (no copy
    pair). One link joins them: the pieces lie in that group's picture and in nothing
    else."""
    a, b = edges([(0, 1), (2, 3), (2, 0)])
    part = np.array([PART_B, PART_B, PART_A])
    labels = agglomerate(4, a, b, np.array([90, 80, 40], dtype=float))
    assert labels.tolist() == [0, 0, 1, 1]  # one pair between two groups: no join
    assert adopt_pieces(labels, a, b, part).tolist() == [0, 0, 0, 0]
    # whole pictures linked once stay apart: no part lies in the other group
    assert adopt_pieces(labels, a, b, np.zeros(3, np.int8)).tolist() == [0, 0, 1, 1]
    # nor where a pair between the two was checked and is kept apart
    assert adopt_pieces(labels, a, b, part, edges([(1, 2)])).tolist() == [0, 0, 1, 1]


def test_a_piece_that_lies_in_two_groups_pictures_joins_neither():
    """4-5: a frame at two sizes, lying in 0 (group 0-1) and in 2 (group 2-3)."""
    a, b = edges([(0, 1), (2, 3), (4, 5), (4, 0), (5, 2)])
    part = np.array([0, 0, 0, PART_A, PART_A])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert adopt_pieces(labels, a, b, part).tolist() == [0, 0, 1, 1, 2, 2]


def test_the_pieces_join_the_group_that_holds_them_and_two_that_hold_each_others_join():
    a, b = edges([(0, 1), (2, 3), (2, 0)])
    # 0 lies in 2: the group 0-1 is the pieces, and it joins 2-3 (labels kept compact)
    assert adopt_pieces(np.array([0, 0, 1, 1]), a, b, np.array([0, 0, PART_B])).tolist() == [
        0,
        0,
        0,
        0,
    ]
    # 0 lies in 2 and 3 lies in 1: each group holds a piece of the other, one group
    a, b = edges([(0, 1), (2, 3), (0, 2), (3, 1)])
    part = np.array([0, 0, PART_A, PART_A])
    assert adopt_pieces(np.array([0, 0, 1, 1]), a, b, part).tolist() == [0, 0, 0, 0]
