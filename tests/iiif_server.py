"""Real HTTP servers on 127.0.0.1 for the fetch tests: the IIIF Image API reference
implementation (the `iiif` package's Flask handler) over a folder of pictures, and a small
stdlib server whose answers a test scripts. Both count the requests they receive."""

from __future__ import annotations

import argparse
import csv
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from werkzeug.serving import make_server


class LocalServer(ThreadingHTTPServer):
    """A threaded stdlib server whose listen queue holds every connection a test opens at once.

    The stdlib's queue of 5 drops the sixth waiting connection while the accepting thread waits
    for the interpreter; its client then retries after 1 s and a 1 s timeout fails it."""

    request_queue_size = 128
    daemon_threads = True


class Counted:
    """A WSGI app that counts the requests reaching it, by path."""

    def __init__(self, app):
        self.app = app
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            self.paths.append(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)


class Running:
    """A server running in a thread; `url` is its base, `stop()` ends it."""

    def __init__(self, server, url: str, counter):
        self.server, self.url, self.counter = server, url, counter
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> int:
        return len(self.counter.paths)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def iiif_server(
    image_dir: Path, api_version: str = "2.1", prefix: str = "iiif", documents=None
) -> Running:
    """The reference Image API server over `image_dir` (`<identifier>.png|.jpg|.tif`); it also
    serves each JSON document of `documents` (name -> object) at `/manifests/<name>`."""
    from flask import Flask, jsonify
    from iiif.flask_utils import add_handler

    config = argparse.Namespace(
        prefix=prefix,
        client_prefix=prefix,
        klass_name="pil",
        api_version=api_version,
        auth_type="none",
        include_osd=False,
        image_dir=str(image_dir),
        generator_dir="",
        tile_width=512,
        tile_height=512,
        scale_factors=["auto"],
        scheme="http",
        host="127.0.0.1",
        port=0,
        gauth_client_secret_file="",
        access_cookie_lifetime=3600,
        access_token_lifetime=10,
    )
    app = Flask("iiif-test")
    add_handler(app, config)
    documents = documents if documents is not None else {}

    @app.get("/manifests/<name>")
    def manifest(name):
        return jsonify(documents[name]) if name in documents else ("not found", 404)

    counter = Counted(app.wsgi_app)
    server = make_server("127.0.0.1", 0, counter, threaded=True)
    config.port = server.port
    return Running(server, f"http://127.0.0.1:{server.port}/{prefix}", counter)


Answer = tuple[int, dict[str, str], bytes]


def scripted_server(answer: Callable[[str, int], Answer | None]) -> Running:
    """A server that answers GET `path` with `answer(path, n)` (n: how many times this path
    was asked before); None hangs until the server stops."""

    class Counter:
        paths: list[str] = []

    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            n = Counter.paths.count(self.path)
            Counter.paths.append(self.path)
            reply = answer(self.path, n)
            if reply is None:
                stopping.wait(10)
                return
            status, headers, body = reply
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = LocalServer(("127.0.0.1", 0), Handler)
    running = Running(server, f"http://127.0.0.1:{server.server_port}", Counter)
    original_stop = running.stop

    def stop():
        stopping.set()
        original_stop()

    running.stop = stop
    return running


BOX = re.compile(r"/(\d+),(\d+),(\d+),(\d+)/")


def serve_sample_pages(root: Path, links: str) -> Running:
    """A 4-picture sample under root/sample, each image pasted on a PNG page where its IIIF
    region says, the pages served by the reference server; root/<links> links every image's
    region there. The running server (stop it)."""
    from PIL import Image

    from tools.sample import build

    build(root / "sample", pictures=4)
    pages = root / "pages"
    pages.mkdir()
    with open(root / "sample/iiif.csv", newline="") as fh:
        boxes = {r["id"]: BOX.search(r["iiif_url"]).groups() for r in csv.DictReader(fh)}
    for path in sorted((root / "sample/images").rglob("*.jpg")):
        x, y, w, h = (int(v) for v in boxes[path.stem])
        page = Image.new("RGB", (x + w + 31, y + h + 17), (250, 246, 235))
        with Image.open(path) as img:
            page.paste(img.convert("RGB"), (x, y))
        page.save(pages / f"{path.stem}.png")
    server = iiif_server(pages, "2.1")
    with open(root / links, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "iiif_url"])
        for i, box in sorted(boxes.items()):
            writer.writerow([i, f"{server.url}/{i}/{','.join(box)}/full/0/default.png"])
    return server
