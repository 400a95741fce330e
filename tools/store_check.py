"""Does the vector store hold what the ingest receipt says? `make all` asks before `dvc repro`.

The store (a Qdrant Edge folder or a server collection) is not a DVC output, so DVC cannot
see that it is missing: on a fresh clone that pulled the vectors, after `make clean`, or on
a server that lost its volume. Exit status 0: in order (or nothing ingested yet);
1: the receipt's collection is missing or different and vectors.jsonl is here to reload it.
"""
from __future__ import annotations

import sys

from stages import config as cfg
from stages.bulk_query import check_receipt, read_receipt
from stages.store import open_store, store_settings


def needs_reload(params: dict) -> bool:
    if not cfg.path(params, "receipt").is_file() or not cfg.path(params, "vectors").is_file():
        return False
    receipt = read_receipt(params)
    try:
        with open_store(**store_settings(params, receipt["collection"])) as store:
            check_receipt(receipt, store)
    except cfg.UserError:
        return True
    return False


def main() -> None:
    if needs_reload(cfg.load_params()):
        print("the vector store does not hold what the ingest receipt records: reloading it")
        sys.exit(1)


if __name__ == "__main__":
    cfg.run(main)
