"""Open the published groups in Mirador: install Mirador from npm once (pinned, into .mirador/,
never committed), then serve data/iiif, the images and a small Mirador page on 127.0.0.1,
where `publish.base_url` says. The page opens a group's canvases side by side, its linking
annotations listed; `?iiif-content=` (a IIIF Content State) or `?group=` chooses the group.

    python -m tools.view [install|serve] [--mirador .mirador] [--group NAME]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import shutil
import subprocess
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from similar import parameters
from similar.errors import UserError, run
from similar.iiif import publish

MIRADOR_VERSION = "4.0.0"
FOLDER = Path(".mirador")
BUNDLE = "node_modules/mirador/dist/mirador.min.js"
LOOPBACK = {"127.0.0.1", "localhost"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reused illustrations in Mirador</title>
<link rel="icon" href="data:,">
<style>html, body, #viewer { margin: 0; height: 100%; }</style>
</head>
<body>
<div id="viewer"></div>
<script src="/mirador/mirador.min.js"></script>
<script>
const COLLECTION = __COLLECTION__;
const SIDE_BY_SIDE = 4;  // canvases opened in windows next to each other, at most

function contentState(encoded) {
  let text = encoded.replace(/-/g, "+").replace(/_/g, "/");
  while (text.length % 4) text += "=";
  return JSON.parse(decodeURIComponent(atob(text)));
}

function manifestOf(state) {
  const target = Array.isArray(state.target) ? state.target[0] : (state.target || state);
  if (target.type === "Manifest") return target.id;
  return target.partOf && target.partOf.length ? target.partOf[0].id : null;
}

async function json(url) {
  const answer = await fetch(url);
  if (!answer.ok) throw new Error(url + ": " + answer.status);
  return answer.json();
}

async function open() {
  const params = new URLSearchParams(location.search);
  const collection = await json(COLLECTION);
  let manifestId = null;
  if (params.get("iiif-content")) manifestId = manifestOf(contentState(params.get("iiif-content")));
  if (!manifestId && params.get("group")) {
    const wanted = params.get("group");
    const item = collection.items.find(i => i.id.endsWith("/" + wanted + ".json"));
    manifestId = item ? item.id : null;
  }
  if (!manifestId && collection.items.length) manifestId = collection.items[0].id;
  const windows = [];
  if (manifestId) {
    const manifest = await json(manifestId);
    for (const canvas of manifest.items.slice(0, SIDE_BY_SIDE)) {
      windows.push({
        manifestId, canvasId: canvas.id, sideBarOpen: true,
        defaultSideBarPanel: "annotations", thumbnailNavigationPosition: "off",
      });
    }
  }
  Mirador.viewer({
    id: "viewer",
    windows,
    catalog: [{manifestId: COLLECTION}, ...collection.items.map(i => ({manifestId: i.id}))],
    workspace: {type: "mosaic"},
    annotations: {
      filteredMotivations: ["oa:commenting", "oa:tagging", "sc:painting", "commenting",
                            "tagging", "linking"],
    },
    window: {allowClose: true, defaultSideBarPanel: "annotations", sideBarOpenByDefault: true},
  });
}
open();
</script>
</body>
</html>
"""


def bundle(folder: Path) -> Path:
    return folder / BUNDLE


def installed_version(folder: Path) -> str | None:
    manifest = folder / "node_modules/mirador/package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install(folder: Path = FOLDER) -> Path:
    """Mirador's bundle, installed from the npm registry at the pinned version when missing."""
    if installed_version(folder) == MIRADOR_VERSION and bundle(folder).is_file():
        return bundle(folder)
    npm = shutil.which("npm")
    if not npm:
        raise UserError(
            "make view needs Node.js and npm to install Mirador (apt-get install nodejs npm, "
            "or https://nodejs.org); nothing was installed"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"private": true, "description": "make view"}\n')
    command = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix"]
    done = subprocess.run(
        [*command, str(folder), f"mirador@{MIRADOR_VERSION}"], capture_output=True, text=True
    )
    if done.returncode or not bundle(folder).is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(
            f"npm could not install mirador@{MIRADOR_VERSION} into {folder}: {last[0]} "
            "(is the npm registry reachable?)"
        )
    return bundle(folder)


class Site:
    """What the server answers: the IIIF files and images under base_url's path, the page."""

    def __init__(self, config, mirador: Path):
        parts = urlsplit(config.publish.base_url)
        if parts.hostname not in LOOPBACK:
            raise UserError(
                f"params.yaml: 'publish.base_url' is {config.publish.base_url}; make view "
                "serves only 127.0.0.1: set it to http://127.0.0.1:<port>/iiif and rerun publish"
            )
        self.host, self.port = "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.iiif, self.images = Path(config.paths.iiif), Path(config.data.images)
        self.mirador = mirador.parent
        collection = f"{config.publish.base_url}/collection.json"
        if not (self.iiif / "collection.json").is_file():
            raise UserError(f"{self.iiif}: nothing published yet; run `dvc repro publish`")
        self.page = PAGE.replace("__COLLECTION__", json.dumps(collection)).encode()

    def file(self, path: str) -> Path | None:
        """The file a URL path names, never outside the folders served."""
        path = unquote(path)
        for mount, folder in (
            ("/mirador/", self.mirador),
            (f"{self.prefix}/images/", self.images),
            (f"{self.prefix}/", self.iiif),
        ):
            if path.startswith(mount):
                root = folder.resolve()
                target = (root / path[len(mount) :]).resolve()
                if target.is_relative_to(root) and target.is_file():
                    return target
                return None
        return None


def handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            path = urlsplit(self.path).path
            if path in ("/", "/mirador.html"):
                return self.answer(200, "text/html; charset=utf-8", site.page)
            target = site.file(path)
            if target is None:
                return self.answer(404, "text/plain", b"not found\n")
            kind = "application/json" if target.suffix == ".json" else None
            kind = kind or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            return self.answer(200, kind, target.read_bytes())

        def answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


class ViewServer(ThreadingHTTPServer):
    """A threaded server whose listen queue holds a browser's burst of requests for Mirador.

    The stdlib's queue of 5 drops further connections while the accepting thread waits,
    and each dropped one costs its browser a second's retry."""

    request_queue_size = 128
    daemon_threads = True


def start(config, mirador: Path, port: int | None = None) -> ViewServer:
    """The server, running in a thread (port 0: any free one, for tests)."""
    site = Site(config, mirador)
    server = ViewServer((site.host, site.port if port is None else port), handler(site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", default="serve", choices=("install", "serve"))
    parser.add_argument("--mirador", type=Path, default=FOLDER, help="where Mirador is installed")
    parser.add_argument("--group", default="", help="the group to open (default: the largest)")
    parser.add_argument(
        "--no-open", dest="open", action="store_false", help="print the link, open no browser"
    )
    args = parser.parse_args(argv)
    mirador = install(args.mirador)
    if args.action == "install":
        print(f"view: Mirador {MIRADOR_VERSION} in {args.mirador}")
        return
    config = parameters.load()
    try:
        server = start(config, mirador)
    except OSError as exc:
        raise UserError(
            f"cannot serve on {config.publish.base_url}: {exc.strerror}; another make view "
            "may hold the port (set publish.base_url and publish.viewer_url to another one)"
        ) from None
    opened = config.publish.viewer_url
    if args.group:
        opened = publish.viewer_link(opened, config.publish.base_url, args.group)
    print(f"view: Mirador on {opened} (Ctrl-C stops it)", flush=True)
    if args.open and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        webbrowser.open(opened)  # never a console browser on a machine without a display
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    run(main)
