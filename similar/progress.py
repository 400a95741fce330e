"""Progress bars of long stages: a count and the time left in a terminal, nothing off one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def bar(total: int | None, desc: str, unit: str, shown: bool = True) -> tqdm:
    """A bar of `total` units, drawn on stderr only when it is a terminal (never in a log or
    a pipe); it goes away when done, leaving the stage's one-line summary."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=None if shown else True,
        dynamic_ncols=True,
        leave=False,
        mininterval=0.5,
    )


def over(
    items: Iterable[T],
    total: int | None,
    desc: str,
    unit: str,
    size: Callable[[T], int] | None = None,
) -> Iterator[T]:
    """`items`, counting `size(item)` units (1 by default) on a bar as each one is done."""
    with bar(total, desc, unit) as shown:
        for item in items:
            yield item
            shown.update(size(item) if size else 1)
