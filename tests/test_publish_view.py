"""make view in a real browser: the sample served by the IIIF Image API reference server on
127.0.0.1, published, and opened in Mirador (installed from npm by tools.view) by a group's
content-state link: its canvases side by side, its linking annotations listed, no console
error. Skips, saying why, where Chromium or Mirador cannot be had."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from conftest import run_stage
from iiif_server import serve_sample_pages
from publish_checks import check_folder

from similar import parameters
from similar.errors import UserError
from similar.groups.grouping import read_groups_json
from similar.iiif import publish
from tools import view

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM:
    pytest.skip(
        "Chromium is not installed (apt-get install chromium): browser test skipped",
        allow_module_level=True,
    )
pytestmark = pytest.mark.e2e
# Mirador 4.0.0's own bundle logs this React 19 deprecation on every load (none of our code
# touches element.ref): the one console message the test tolerates, by its exact text
MIRADOR_OWN = {
    "Accessing element.ref was removed in React 19. ref is now a regular prop. It will be "
    "removed from the JSX Element type in a future release."
}


@pytest.fixture(scope="module")
def mirador() -> Path:
    try:
        return view.install(ROOT / view.FOLDER)
    except UserError as exc:
        pytest.skip(f"Mirador cannot be installed: {exc}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def published(project):
    """A 4-picture sample whose images the reference server cuts from pages, grouped and
    published under a loopback base_url."""
    server = serve_sample_pages(project.root, "links.csv")
    port = free_port()
    project.values["data"].update(
        images="sample/images", iiif_csv="links.csv", groups="sample/groups.csv"
    )
    project.values["embed"].update(model="efficientnet_lite0", weights="imagenet", image_size=224)
    project.values["groups"]["k"] = project.values["graph"]["k"]
    project.values["publish"] = {
        "base_url": f"http://127.0.0.1:{port}/iiif",
        "viewer_url": f"http://127.0.0.1:{port}/mirador.html",
        "label": "Reused illustrations",
    }
    project.write()
    for stage in ("embed", "reduce", "attach_iiif", "graph", "groups", "publish"):
        run_stage(stage)
    yield project, server
    server.stop()


def test_mirador_shows_a_group_side_by_side_with_its_linking_annotations(
    published, mirador, tmp_path
):
    project, images = published
    config = parameters.load()
    found = read_groups_json(config.paths.groups_json)
    assert found, "the sample has groups"
    check_folder(Path(config.paths.iiif), found)
    group = found[0]
    site = view.start(config, mirador)
    errors = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            link = publish.viewer_link(
                config.publish.viewer_url, config.publish.base_url, group["group"]
            )
            page.goto(link)
            windows = page.locator("section[aria-label^='Window']")
            windows.first.wait_for(timeout=60000)
            shown = min(len(group["members"]), 4)
            page.wait_for_function(
                f"document.querySelectorAll(\"section[aria-label^='Window']\").length == {shown}",
                timeout=60000,
            )
            page.get_by_text("inliers").first.wait_for(timeout=60000)
            listed = page.get_by_text(re.compile("inliers")).count()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "mirador.png"))
            browser.close()
    finally:
        site.shutdown()
    assert listed >= 1
    # every painted image came from the IIIF server, none from the local files
    assert images.requests >= shown
    assert [e for e in errors if e not in MIRADOR_OWN] == []
