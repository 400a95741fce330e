"""The command line of `make all`, `make pull-vectors` and `make db-*`.

python -m tools.pipeline all [--weights W] [--model M]   # tools/make_all.py
python -m tools.pipeline pull-vectors                    # tools/pull_vectors.py
python -m tools.pipeline db up|down|status|logs [--url URL]   # tools/qdrant_server.py
"""

from __future__ import annotations

import argparse

from similar.errors import run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("all")
    a.add_argument("--weights", default="")
    a.add_argument("--model", default="")
    sub.add_parser("pull-vectors")
    d = sub.add_parser("db")
    d.add_argument("action", choices=["up", "down", "status", "logs"])
    d.add_argument("--url", default="")
    args = ap.parse_args(argv)
    if args.command == "all":
        from tools.make_all import make_all

        make_all(args.weights.strip(), args.model.strip())
    elif args.command == "pull-vectors":
        from tools.pull_vectors import pull_vectors

        pull_vectors()
    else:
        from tools.qdrant_server import db

        db(args.action, args.url.strip())


if __name__ == "__main__":
    run(main)
