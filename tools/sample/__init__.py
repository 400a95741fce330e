"""The sample collection: real photographs and the copies printers made of them, plus hard cases.

    python -m tools.sample [--out data/sample] [--pictures 46] [--force]

`collection` builds it (plain pictures and their copies, the ground truth, the IIIF links);
`hard_cases` draws the pictures that share only a part, and the copies in other frames.
"""

from .collection import (
    DEFAULT_OUT,
    DEFAULT_PICTURES,
    build,
    distinct_pictures,
    is_current,
    uses_sample,
)

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_PICTURES",
    "build",
    "distinct_pictures",
    "is_current",
    "uses_sample",
]
