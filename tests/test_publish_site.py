"""tools/view's server on 127.0.0.1: the published files, the images and Mirador's bundle
under their paths, nothing outside them, and one clear line for what a user can get wrong."""

from __future__ import annotations

import http.client
import json

import pytest
from PIL import Image

from similar import parameters
from similar.errors import UserError
from similar.iiif import publish
from similar.verification.points import Points
from tools import view


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)  # sent as written: no client-side normalising of ..
    answer = connection.getresponse()
    return answer.status, answer.read()


@pytest.fixture
def site(project, tmp_path):
    (project.root / "images/book").mkdir(parents=True)
    Image.new("RGB", (8, 6), (200, 10, 10)).save(project.root / "images/book/a b.png")
    member = publish.Member("a b", "book/a b.png", 8, 6)
    found = [
        {
            "group": "a b",
            "size": 1,
            "members": [{"id": "a b"}],
            "edges": [],
            "shared_parts": [],
        }
    ]
    project.set("publish", {"base_url": "http://127.0.0.1:1/iiif"})
    files = publish.publish(found, {"a b": member}, Points(), "http://127.0.0.1:1/iiif", "Reuse")
    publish.write_files(project.root / "data/iiif", files)
    bundle = tmp_path / "mirador" / view.BUNDLE
    bundle.parent.mkdir(parents=True)
    bundle.write_text("window.Mirador = {};\n")
    server = view.start(parameters.load(), bundle, port=0)
    yield server.server_address[1], files
    server.shutdown()


def test_it_serves_the_files_the_images_the_bundle_and_the_page(site):
    port, files = site
    assert get(port, "/iiif/collection.json") == (200, files["collection.json"])
    name = publish.name_of("a b")
    status, body = get(port, f"/iiif/manifests/{name}.json")
    painted = json.loads(body)["items"][0]["items"][0]["items"][0]["body"]["id"]
    assert status == 200 and painted == "http://127.0.0.1:1/iiif/images/book/a%20b.png"
    status, body = get(port, "/iiif/images/book/a%20b.png")
    assert status == 200 and body.startswith(b"\x89PNG")
    assert get(port, "/mirador/mirador.min.js") == (200, b"window.Mirador = {};\n")
    status, page = get(port, "/mirador.html")
    assert status == 200 and b'"http://127.0.0.1:1/iiif/collection.json"' in page
    assert b"/mirador/mirador.min.js" in page and b"https://" not in page  # no CDN


@pytest.mark.parametrize(
    "path",
    ["/iiif/../params.yaml", "/iiif/images/../../params.yaml", "/iiif/%2e%2e/params.yaml"],
)
def test_nothing_outside_the_served_folders(site, path):
    port, _ = site
    assert get(port, path)[0] == 404


def test_a_base_url_that_is_not_loopback_is_one_line(project, tmp_path):
    project.set("publish", {"base_url": "https://example.org/iiif"})
    with pytest.raises(UserError, match="publish.base_url.*serves only 127.0.0.1"):
        view.Site(parameters.load(), tmp_path / "mirador.min.js")


def test_nothing_published_is_one_line(project, tmp_path):
    with pytest.raises(UserError, match="nothing published yet; run `dvc repro publish`"):
        view.Site(parameters.load(), tmp_path / "mirador.min.js")


def test_without_npm_the_install_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no npm on it
    with pytest.raises(UserError, match="needs Node.js and npm"):
        view.install(tmp_path / "mirador")
