"""The reference images whose neighbours bulk_query lists: data.queries, or every image."""

from __future__ import annotations

from ..errors import UserError, warn
from ..files import require_file, text_lines
from ..settings import Settings


def read_references(config: Settings, all_ids: list[str]) -> list[str]:
    """The reference ids in list order, without repeats; `all_ids`: the collection's."""
    if config.bulk_query.references == "all":
        return sorted(all_ids)
    source = require_file(
        config.data.queries,
        "reference list",
        "set data.queries in params.yaml (one image id per line)",
    )
    ids = text_lines(source)
    unique = list(dict.fromkeys(ids))
    if len(unique) < len(ids):
        warn(f"{source}: {len(ids) - len(unique)} repeated ids ignored")
    if not unique:
        raise UserError(f"{source}: no reference ids (one image id per line)")
    return unique
