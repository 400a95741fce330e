"""The fetch stage against small real HTTP servers on 127.0.0.1: retries, timeouts, refusals,
bad answers, a server that is down, a level-0 server, manifests that are not manifests."""

from __future__ import annotations

import csv
import io
import json
import socket

import pytest
from conftest import real_photo, run_stage
from iiif_server import scripted_server
from PIL import Image

from similar import parameters
from similar.errors import UserError
from similar.iiif import manifests
from similar.iiif.download import Client, Failure
from similar.iiif.fetch import sized, target_size


def jpeg(size: int = 80) -> bytes:
    buf = io.BytesIO()
    real_photo("astronaut", size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


IMAGE = {"Content-Type": "image/jpeg"}


def failed_rows(project) -> dict[str, tuple[str, str]]:
    with open(project.root / "data/fetched/failed.csv", newline="") as fh:
        return {(r["id"] or r["url"]): (r["url"], r["reason"]) for r in csv.DictReader(fh)}


@pytest.fixture
def fetching(project):
    """The project set to fetch from an IIIF CSV it writes with `links(rows)`."""
    project.values["data"].update(fetch=True, images="data/fetched", manifests="manifests.txt")
    project.values["fetch"].update(timeout=2.0, retries=2, backoff=0.01)
    project.write()
    (project.root / "manifests.txt").write_text("")

    def links(rows: dict[str, str], manifest_urls=()) -> None:
        text = "id,iiif_url\n" + "".join(f"{i},{u}\n" for i, u in rows.items())
        (project.root / "iiif.csv").write_text(text)
        (project.root / "manifests.txt").write_text("".join(f"{u}\n" for u in manifest_urls))

    project.links = links
    return project


def test_sizes_and_image_api_urls():
    link = "https://x.org/iiif/2/b%2F1/286,150,135,90/full/0/default.jpg"
    assert (
        sized(link, "!1024,1024")
        == "https://x.org/iiif/2/b%2F1/286,150,135,90/!1024,1024/0/default.jpg"
    )
    assert sized("https://x.org/plate.jpg", "max") is None
    assert target_size("!100,100", 400, 200) == (100, 50)
    assert target_size("!1024,1024", 400, 200) is None  # never enlarged
    assert target_size("200,", 400, 200) == (200, 100)
    assert target_size(",50", 400, 200) == (100, 50)
    assert target_size("max", 400, 200) is None
    for bad in ("big", "0,0", "!0,10", "pct:50"):
        with pytest.raises(UserError, match="fetch.size"):
            parameters.from_mapping({"fetch": {"size": bad}})


def test_fetch_needs_data_images_to_be_the_fetched_folder():
    with pytest.raises(UserError, match="set data.images: data/fetched"):
        parameters.from_mapping({"data": {"fetch": True, "images": "data/sample/images"}})


def test_503_twice_then_200_is_retried_and_retry_after_is_honoured():
    body = jpeg()

    def answer(path, n):
        if n < 2:
            return 503, {"Retry-After": "3"}, b"busy"
        return 200, IMAGE, body

    server = scripted_server(answer)
    waits = []
    try:
        client = Client(4, 2.0, 3, 0.5, sleep=waits.append)
        with client.get(f"{server.url}/a.jpg", "image/*") as response:
            assert response.read() == body
    finally:
        server.stop()
    assert server.requests == 3 and client.requests == 3
    assert waits == [3.0, 3.0]  # Retry-After wins over the backoff (0.5, then 1.0)


def test_a_server_that_hangs_past_the_timeout_fails_after_the_retries():
    server = scripted_server(lambda path, n: None)
    try:
        client = Client(4, 0.3, 1, 0.01)
        with pytest.raises(Failure, match=r"timed out \(0.3s\) after 2 tries"):
            client.get(f"{server.url}/slow.jpg", "image/*")
    finally:
        server.stop()
    assert server.requests == 2


def test_bad_answers_are_listed_and_good_ones_kept(fetching):
    good = jpeg()

    def answer(path, n):
        if path.startswith("/html"):
            return 200, {"Content-Type": "text/html"}, b"<html>Service unavailable</html>"
        if path.startswith("/lies"):
            return 200, IMAGE, b"<html>not a picture</html>"
        if path.startswith("/short"):
            return 200, {**IMAGE, "Content-Length": str(len(good))}, good[: len(good) // 2]
        if path.startswith("/gone"):
            return 404, {}, b""
        if path.startswith("/to-file"):
            return 302, {"Location": "file:///etc/passwd"}, b""
        if path.startswith("/moved"):
            return 301, {"Location": "/good/2.jpg"}, b""
        return 200, IMAGE, good

    server = scripted_server(answer)
    secret = fetching.root / "secret.jpg"
    secret.write_bytes(good)
    try:
        fetching.links(
            {
                "ok": f"{server.url}/good/1.jpg",
                "moved": f"{server.url}/moved/1.jpg",
                "html": f"{server.url}/html/1.jpg",
                "lies": f"{server.url}/lies/1.jpg",
                "short": f"{server.url}/short/1.jpg",
                "gone": f"{server.url}/gone/1.jpg",
                "redirect": f"{server.url}/to-file/1.jpg",
                "local": f"file://{secret}",
                "script": "javascript:alert(1)",
                "empty": "",
            }
        )
        run_stage("fetch")
    finally:
        server.stop()
    fetched = sorted(p.name for p in (fetching.root / "data/fetched").glob("*.jpg"))
    assert fetched == ["moved.jpg", "ok.jpg"]
    reasons = {k: v[1] for k, v in failed_rows(fetching).items()}
    assert reasons == {
        "empty": "no URL in iiif.csv",
        "gone": "HTTP 404",
        "html": "not an image: content type text/html",
        "lies": "cannot decode: UnidentifiedImageError: cannot identify image file <_io.BytesIO>",
        "local": "refused: not an http(s) URL",
        "redirect": "refused: redirect to another scheme (file:)",
        "script": "refused: not an http(s) URL",
        "short": f"truncated body: {len(good) // 2} of {len(good)} bytes after 3 tries",
    }
    links = (fetching.root / "data/fetched/iiif.csv").read_text()
    assert "ok," in links and "script" not in links


def test_a_server_that_is_down_is_one_line_and_what_was_fetched_is_kept(fetching):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    server = scripted_server(lambda path, n: (200, IMAGE, jpeg()))
    try:
        rows = {f"up{i}": f"{server.url}/{i}.jpg" for i in range(3)}
        rows.update({f"down{i}": f"http://127.0.0.1:{dead}/{i}.jpg" for i in range(5)})
        fetching.links(rows)
        with pytest.raises(UserError) as caught:
            run_stage("fetch")
        message = str(caught.value)
        assert f"127.0.0.1:{dead}: the server does not answer" in message
        assert "\n" not in message and ".cache/fetch" in message
        assert not (fetching.root / "data/fetched").exists()  # nothing half-written
        before = server.requests
        assert before == 3
        fetching.links({k: v for k, v in rows.items() if k.startswith("up")})
        run_stage("fetch")  # resumes: the three come from the cache
        assert server.requests == before
    finally:
        server.stop()
    assert len(list((fetching.root / "data/fetched").glob("up*.jpg"))) == 3


def test_a_level0_server_gets_its_own_size_and_the_image_is_scaled_here(fetching):
    big = jpeg(300)

    def answer(path, n):
        if "/full/max/" not in path:
            return 501, {}, b"level 0: sizes are not implemented"
        return 200, IMAGE, big

    server = scripted_server(answer)
    fetching.set("fetch.size", "!100,100")
    fetching.set("fetch.concurrency", 1)  # one at a time: the count below is then exact
    try:
        fetching.links(
            {f"p{i}": f"{server.url}/iiif/p{i}/full/max/0/default.jpg" for i in range(3)}
        )
        run_stage("fetch")
    finally:
        server.stop()
    sizes = {Image.open(p).size for p in (fetching.root / "data/fetched").glob("*.jpg")}
    assert sizes == {(100, 100)}
    # the first image learns the server cannot scale; the others are asked for max at once
    assert server.requests == 4


def test_manifests_that_are_not_manifests_are_listed_and_the_rest_goes_on(fetching):
    pages = {
        "/not-json": (200, {"Content-Type": "application/json"}, b"<html>oops</html>"),
        "/other": (200, {"Content-Type": "application/json"}, json.dumps({"a": 1}).encode()),
    }
    server = scripted_server(lambda path, n: pages.get(path, (404, {}, b"")))
    try:
        fetching.links(
            {},
            [f"{server.url}/not-json", f"{server.url}/other", f"{server.url}/missing", "file:///x"],
        )
        run_stage("fetch")
    finally:
        server.stop()
    rows = failed_rows(fetching)
    assert rows[f"{server.url}/not-json"][1] == "manifest: not JSON"
    assert rows[f"{server.url}/other"][1] == (
        "manifest: neither a IIIF Presentation v2 nor v3 manifest or collection"
    )
    assert rows[f"{server.url}/missing"][1] == "HTTP 404"
    assert rows["file:///x"][1] == "refused: not an http(s) URL"


def v3_manifest(service: str, canvases: int, regions: dict[int, list[str]]) -> dict:
    items = []
    for c in range(canvases):
        canvas = f"https://example.org/book/canvas/{c}"
        annotations = [
            {
                "type": "AnnotationPage",
                "items": [
                    {"type": "Annotation", "motivation": "tagging", "target": f"{canvas}#xywh={r}"}
                    for r in regions.get(c, [])
                ],
            }
        ]
        items.append(
            {
                "id": canvas,
                "type": "Canvas",
                "width": 200,
                "height": 100,
                "items": [
                    {
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": canvas,
                                "body": {
                                    "id": f"{service}/p{c}/full/max/0/default.jpg",
                                    "type": "Image",
                                    "width": 400,
                                    "height": 200,
                                    "service": [{"id": f"{service}/p{c}", "type": "ImageService3"}],
                                },
                            }
                        ],
                    }
                ],
                "annotations": annotations,
            }
        )
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://example.org/book/manifest.json",
        "type": "Manifest",
        "items": items,
    }


def test_manifest_canvases_and_regions_become_images_with_stable_ids():
    doc = v3_manifest("https://img.org/iiif", 3, {1: ["10,20,30,40", "0,0,50,50"]})
    images = manifests.canvas_images("https://example.org/m.json", doc)
    links = [i.link for i in images]
    assert links == [
        "https://img.org/iiif/p0/full/max/0/default.jpg",
        "https://img.org/iiif/p1/20,40,60,80/max/0/default.jpg",  # canvas -> image: x2
        "https://img.org/iiif/p1/0,0,100,100/max/0/default.jpg",
        "https://img.org/iiif/p2/full/max/0/default.jpg",
    ]
    reordered = {**doc, "items": list(reversed(doc["items"]))}
    again = manifests.canvas_images("https://example.org/m.json", reordered)
    assert {i.id: i.link for i in again} == {i.id: i.link for i in images}
    assert len({i.id for i in images}) == 4


def test_make_all_runs_the_pipeline_when_fetch_brings_the_images():
    from tools.make_all import Facts, Repro, decide

    facts = Facts(
        uses_sample=False,
        sample_current=False,
        local_server="",
        store="none",
        images_present=False,
        fetches=True,
    )
    assert decide(facts) == [Repro()]


def test_embed_max_pixels_applies_to_new_and_cached_images(fetching):
    server = scripted_server(lambda path, n: (200, IMAGE, jpeg(80)))
    try:
        fetching.links({"small": f"{server.url}/s.jpg"})
        run_stage("fetch")
        assert (fetching.root / "data/fetched/small.jpg").is_file()
        fetching.set("embed.max_pixels", 1000)
        run_stage("fetch")  # from the cache, and refused as a new image would be
    finally:
        server.stop()
    assert server.requests == 1
    reason = "too large: 80x80 pixels exceeds embed.max_pixels=1000"
    assert failed_rows(fetching)["small"][1] == reason
    assert not (fetching.root / "data/fetched/small.jpg").exists()
