"""The fetch stage's manifests case, published: images cut from a v3 manifest's canvases by
the reference IIIF server on 127.0.0.1 are grouped, and publish annotates the source canvases,
`partOf` the source manifest, at the box the manifest marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_stage
from iiif_server import iiif_server
from PIL import Image
from publish_checks import check_folder

from similar.files import read_csv
from similar.groups.grouping import read_groups_json
from similar.iiif.publish import source_name

pytestmark = pytest.mark.e2e
# page: (picture, where, side) of each illustration on it; the astronaut is on both pages
PAGES = {
    "page0": [("astronaut", (40, 60), 256)],
    "page1": [("coffee", (20, 20), 256), ("astronaut", (330, 100), 220)],
}


def manifest(base: str, url: str) -> dict:
    canvases = []
    for n, (name, marks) in enumerate(sorted(PAGES.items())):
        canvas = f"{url}/canvas/{n}"
        boxes = [f"{x},{y},{side},{side}" for _, (x, y), side in marks]
        canvases.append(
            {
                "id": canvas,
                "type": "Canvas",
                "width": 600,
                "height": 400,
                "items": [
                    {
                        "id": f"{canvas}/page",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": f"{canvas}/page/image",
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": canvas,
                                "body": {
                                    "id": f"{base}/{name}/full/max/0/default.jpg",
                                    "type": "Image",
                                    "width": 600,
                                    "height": 400,
                                    "service": [{"id": f"{base}/{name}", "type": "ImageService2"}],
                                },
                            }
                        ],
                    }
                ],
                "annotations": [
                    {
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "type": "Annotation",
                                "motivation": "tagging",
                                "target": f"{canvas}#xywh={b}",
                            }
                            for b in boxes
                        ],
                    }
                ],
            }
        )
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": url,
        "type": "Manifest",
        "label": {"en": ["A book"]},
        "items": canvases,
    }


def test_published_annotations_target_the_source_canvases(project, photos):
    pages = project.root / "pages"
    pages.mkdir()
    for name, marks in PAGES.items():
        page = Image.new("RGB", (600, 400), (250, 246, 235))
        for picture, where, side in marks:
            page.paste(photos[picture].resize((side, side)), where)
        page.save(pages / f"{name}.png")
    documents = {}
    server = iiif_server(pages, "2.1", documents=documents)
    url = server.url.rsplit("/", 1)[0] + "/manifests/book"
    documents["book"] = manifest(server.url, url)
    (project.root / "iiif.csv").write_text("id,iiif_url\n")
    (project.root / "manifests.txt").write_text(f"{url}\n")
    (project.root / "groups.csv").write_text("id,group\n")
    project.values["data"].update(fetch=True, images="data/fetched", manifests="manifests.txt")
    project.values["fetch"]["size"] = "max"
    project.values["reduce"]["n_components"] = 2
    project.values["graph"]["k"] = 2
    project.values["groups"]["k"] = 2
    project.write()
    try:
        for stage in ("fetch", "embed", "reduce", "attach_iiif", "graph", "groups", "publish"):
            run_stage(stage)
    finally:
        server.stop()

    links = {r["id"]: r for r in read_csv(project.root / "data/fetched/iiif.csv")}
    assert sorted((r["canvas"].rsplit("/", 1)[1], r["xywh"]) for r in links.values()) == [
        ("0", "40,60,256,256"),
        ("1", "20,20,256,256"),
        ("1", "330,100,220,220"),
    ]
    assert {r["manifest"] for r in links.values()} == {url}
    found = read_groups_json(project.root / "data/groups/groups.json")
    assert [g["size"] for g in found] == [2]  # the astronaut, on both pages
    folder = project.root / "data/iiif"
    check_folder(folder, found)

    page = json.loads((folder / "sources" / f"{source_name(url)}.json").read_text())
    targets = sorted(
        (a["target"]["source"]["id"].rsplit("/", 1)[1], a["target"]["selector"]["value"])
        for a in page["items"]
    )
    assert targets == [("0", "xywh=40,60,256,256"), ("1", "xywh=330,100,220,220")]
    for annotation in page["items"]:
        assert annotation["target"]["source"]["partOf"] == [{"id": url, "type": "Manifest"}]
        assert "reused in 1 other images" in annotation["body"][0]["value"]
    manifest_of_group = json.loads(next((folder / "manifests").iterdir()).read_text())
    for canvas in manifest_of_group["items"]:
        assert canvas["partOf"] == [{"id": url, "type": "Manifest"}]
        # painted from the server's region, not from the fetched file
        assert canvas["items"][0]["items"][0]["body"]["id"].startswith(server.url)
    assert not Path(project.root / "data/iiif/images").exists()
