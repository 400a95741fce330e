"""Stage `preview`: an offline HTML page of every reference and its neighbours, to review by eye."""

from __future__ import annotations

from similar import parameters
from similar.errors import run
from similar.preview import build_preview


def main() -> None:
    build_preview(parameters.load())


if __name__ == "__main__":
    run(main)
