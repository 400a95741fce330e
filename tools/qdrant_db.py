"""Helpers for the Qdrant server targets of the Makefile.

    python -m tools.qdrant_db wait URL [--timeout 60]   # until URL/readyz answers 200
    python -m tools.qdrant_db local-server               # print qdrant.url if it is a server on this machine
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from stages import config as cfg

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def ready(url: str, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(url.rstrip("/") + "/readyz")
    key = os.environ.get("QDRANT_API_KEY")
    if key:
        request.add_header("api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(url):
            return True
        time.sleep(1)
    return False


def local_server_url(params: dict) -> str:
    """qdrant.url when it names an http(s) server on this machine (one `make db-up` starts)."""
    url = cfg.get_str(params, "qdrant.url", allow_empty=True).strip()
    if url.startswith(("http://", "https://")) and urlsplit(url).hostname in LOCAL_HOSTS:
        return url
    return ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=60)
    sub.add_parser("local-server")
    args = ap.parse_args(argv)
    if args.command == "wait":
        if not wait(args.url, args.timeout):
            print(f"error: Qdrant at {args.url} did not answer ready within {args.timeout:.0f}s; "
                  "see `make db-logs`", file=sys.stderr)
            sys.exit(1)
        print(f"Qdrant at {args.url} is ready")
    else:
        print(local_server_url(cfg.load_params()))


if __name__ == "__main__":
    cfg.run(main)
