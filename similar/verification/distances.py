"""Distances between descriptors, exact: the same matches on every machine and scheduler.

A descriptor is 128 whole levels (`features.LEVEL` to a unit, 0 to 127, int8). Its products with
another set of descriptors are whole numbers under 2**24, so a float32 product sums them
exactly in any order, as an int32 one does: which keypoint is nearest does not depend on the
BLAS, its threads, the processor or the scheduler. (A float32 product of unit vectors does: one
process with two BLAS threads and the pool once disagreed on 5 of 21,753 pairs.)

Nearness is the squared distance |a|^2 + |b|^2 - 2 a.b, compared as `closeness` = 2 a.b - |b|^2
along a row (the larger, the nearer; |a|^2 is the row's constant).

Two engines (`verify.products`) compute the products, with the same results: numpy (a float32
product, BLAS) and torch (its int8 product, several times faster on a processor with 8-bit
dot products, such as AVX-512 VNNI; each process that uses it imports torch). `auto` takes
torch where it is installed (it is a dependency of the project).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache

import numpy as np

# the squared length given to padding (no descriptor): farther than any real one, and its
# closeness (-FAR) still exact in float32
FAR = 2**23
_SINGLE_THREAD = [False]


def squared_norms(levels: np.ndarray) -> np.ndarray:
    """|d|^2 of each descriptor (int64): exact."""
    wide = levels.astype(np.int64)
    return np.einsum("ij,ij->i", wide, wide)


def single_threaded() -> None:
    """In a worker process of a pool or cluster: products on one thread (the processes are
    the parallelism)."""
    _SINGLE_THREAD[0] = True


def numpy_products(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """first @ second.T as float32 (exact whole numbers)."""
    return first.astype(np.float32) @ second.astype(np.float32).T


def torch_products(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """first @ second.T as int32, by torch's int8 product."""
    torch = _torch()
    left = torch.from_numpy(np.ascontiguousarray(first))
    right = torch.from_numpy(np.ascontiguousarray(second)).t()
    return torch._int_mm(left, right).numpy()


@cache
def _torch():
    import torch

    if _SINGLE_THREAD[0]:
        torch.set_num_threads(1)
    return torch


@cache
def engine(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The products function `verify.products` names; auto: torch where it is installed
    (found without importing it: the stage's own process need not)."""
    if name == "auto":
        name = "torch" if importlib.util.find_spec("torch") is not None else "numpy"
    return torch_products if name == "torch" else numpy_products


def closeness(
    first: np.ndarray, second: np.ndarray, second_norms: np.ndarray, products: Callable
) -> np.ndarray:
    """(len(first), len(second)) 2 a.b - |b|^2, exact whole numbers (float32 or int32)."""
    found = products(first, second)
    found *= 2
    found -= second_norms.astype(found.dtype)[None, :]
    return found


def two_nearest(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along the last axis of a closeness array: the nearest's index, its closeness and the
    second nearest's (equal when the nearest is there twice; the first index wins a tie), as
    int64; `close` is spoilt."""
    where = close.argmax(axis=-1)[..., None]
    best = np.take_along_axis(close, where, -1)[..., 0].astype(np.int64)
    lowest = -np.inf if close.dtype.kind == "f" else np.iinfo(close.dtype).min
    np.put_along_axis(close, where, lowest, -1)
    return where[..., 0].astype(np.int64), best, close.max(axis=-1).astype(np.int64)


def passes_ratio(nearest: np.ndarray, second: np.ndarray, ratio: float) -> np.ndarray:
    """Lowe's ratio test on squared distances: the nearest closer than `ratio` times the
    second."""
    return nearest < ratio * ratio * second
