"""Exact distances between descriptors (similar.verification.distances): both engines, the
same bits whatever the order of the sums."""

import numpy as np
import pytest

from similar.verification.distances import (
    FAR,
    closeness,
    engine,
    numpy_products,
    passes_ratio,
    squared_norms,
    torch_products,
    two_nearest,
)
from similar.verification.features import TOP_LEVEL, levels

ENGINES = [numpy_products, torch_products]


def descriptors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.random((count, 128)) ** 3  # RootSIFT-like: a few strong components
    return levels(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def exact(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return first.astype(np.int64) @ second.astype(np.int64).T


def test_levels_are_int8_and_never_past_the_top():
    found = levels(np.array([[0.0, 0.1, 0.49, 0.6, 1.0]]))
    assert found.dtype == np.int8
    assert found.tolist() == [[0, 26, 125, TOP_LEVEL, TOP_LEVEL]]


@pytest.mark.parametrize("products", ENGINES, ids=["numpy", "torch"])
def test_each_engines_products_are_the_exact_whole_numbers(products):
    first, second = descriptors(300, 1), descriptors(257, 2)
    worst = np.full((3, 128), TOP_LEVEL, np.int8)  # the largest a product can be
    first, second = np.vstack([first, worst]), np.vstack([second, worst])
    found = products(first, second)
    np.testing.assert_array_equal(found.astype(np.int64), exact(first, second))


def test_products_do_not_depend_on_the_order_of_the_sums():
    """A float product of unit descriptors changes in its last bits with the order a BLAS
    sums in (its threads, its kernel); a product of levels does not."""
    first, second = descriptors(200, 3), descriptors(150, 4)
    order = np.random.default_rng(5).permutation(128)
    for products in ENGINES:
        one = products(first, second)
        other = products(first[:, order], second[:, order])
        np.testing.assert_array_equal(one, other)


def test_both_engines_find_the_same_nearest_two():
    first, second = descriptors(400, 6), descriptors(380, 7)
    norms = squared_norms(second)
    numpy_found = two_nearest(closeness(first, second, norms, numpy_products))
    torch_found = two_nearest(closeness(first, second, norms, torch_products))
    for one, other in zip(numpy_found, torch_found):
        np.testing.assert_array_equal(one, other)
    distance = squared_norms(first)[:, None] + norms[None, :] - 2 * exact(first, second)
    np.testing.assert_array_equal(numpy_found[0], distance.argmin(axis=1))
    np.testing.assert_array_equal(squared_norms(first) - numpy_found[1], distance.min(axis=1))


def test_two_nearest_ties_and_padding():
    """A value there twice is the nearest and the second; the first index wins a tie;
    padding (-FAR) is never nearer than a real descriptor."""
    close = np.array([[5, 9, 9, -FAR], [3, -FAR, -FAR, -FAR], [7, 1, 7, 2]], np.int32)
    best, nearest, second = two_nearest(close.copy())
    assert best.tolist() == [1, 0, 0]
    assert nearest.tolist() == [9, 3, 7]
    assert second.tolist() == [9, -FAR, 7]
    rng = np.random.default_rng(8)
    many = rng.integers(-6, 6, size=(40, 7, 30)).astype(np.float32)  # many ties
    want = np.sort(many, axis=-1)
    _, top, next_ = two_nearest(many.copy())
    np.testing.assert_array_equal(top, want[..., -1])
    np.testing.assert_array_equal(next_, want[..., -2])


def test_the_ratio_test_on_squared_distances():
    nearest = np.array([63, 65, 0, 5])
    second = np.array([100, 100, 0, np.iinfo(np.int64).max])
    assert passes_ratio(nearest, second, 0.8).tolist() == [True, False, False, True]


def test_auto_takes_torch_where_it_is_installed():
    assert engine("auto") is torch_products  # torch is a dependency of the project
    assert engine("numpy") is numpy_products
