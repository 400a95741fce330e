"""The fetch stage against the IIIF Image API reference implementation on 127.0.0.1, serving
the sample's pictures on pages: the same collection as the local folder, no request on a
rerun, a changed size refetching only what it changes, manifests and collections."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from conftest import run_stage
from iiif_server import iiif_server, serve_sample_pages
from PIL import Image

from similar import parameters
from similar.iiif.links import links_csv


def read_rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def served_sample(project):
    """A 4-picture sample; each image pasted on a PNG page where its IIIF region says, the
    pages served by the reference server; `fetch.csv` links every image's region there."""
    server = serve_sample_pages(project.root, "fetch.csv")
    (project.root / "manifests.txt").write_text("# none\n")
    project.values["embed"]["draft"] = False  # PNG is never drafted: decode JPEGs whole too
    project.values["data"].update(
        images="sample/images", iiif_csv="sample/iiif.csv", manifests="manifests.txt"
    )
    project.write()
    project.server = server
    yield project
    server.stop()


def fetch_on(project, **fetch) -> None:
    project.values["data"].update(fetch=True, images="data/fetched", iiif_csv="fetch.csv")
    project.values["fetch"].update(fetch)
    project.write()


@pytest.mark.e2e  # the whole sample built, served and fetched: about 35 s on 2 cores
def test_the_sample_from_iiif_is_the_local_collection_and_a_rerun_asks_nothing(served_sample):
    project, server = served_sample, served_sample.server
    for stage in ("embed", "reduce", "graph"):
        run_stage(stage)
    local_index = read_rows("data/embeddings/images.csv")
    local_graph = dict(np.load("data/graph/knn.npz"))
    shutil.rmtree("data/embeddings")

    fetch_on(project, size="max")
    run_stage("fetch")
    assert server.requests == len(local_index)
    assert read_rows("data/fetched/failed.csv") == []
    for stage in ("embed", "reduce", "graph"):
        run_stage(stage)
    fetched_index = read_rows("data/embeddings/images.csv")
    fetched_graph = dict(np.load("data/graph/knn.npz"))
    # the same ids and sizes; the files differ (PNG from the server, the sample's JPEGs),
    # their pixels do not: the region is cut from a lossless page
    key = ("id", "width", "height")
    assert [[r[k] for k in key] for r in fetched_index] == [
        [r[k] for k in key] for r in local_index
    ]
    assert [r["sha256"] for r in fetched_index] != [r["sha256"] for r in local_index]
    np.testing.assert_array_equal(fetched_graph["ids"], local_graph["ids"])
    np.testing.assert_array_equal(fetched_graph["neighbours"], local_graph["neighbours"])
    np.testing.assert_array_equal(fetched_graph["scores"], local_graph["scores"])

    before = server.requests
    folder = {p.name: p.read_bytes() for p in sorted((project.root / "data/fetched").iterdir())}
    run_stage("fetch")  # as `dvc repro -f fetch` would
    assert server.requests == before  # zero requests
    again = {p.name: p.read_bytes() for p in sorted((project.root / "data/fetched").iterdir())}
    assert again == folder  # byte-identical

    project.set("fetch.size", "!64,64")
    run_stage("fetch")
    assert server.requests == before + len(local_index)  # every image changes size: once each
    sizes = [Image.open(p).size for p in (project.root / "data/fetched").glob("*.png")]
    assert max(max(s) for s in sizes) == 64
    project.set("fetch.size", "max")
    run_stage("fetch")
    assert server.requests == before + len(local_index)  # both sizes are in the cache
    assert {p.name: p.read_bytes() for p in (project.root / "data/fetched").iterdir()} == folder


def page_manifest_v3(base: str, url: str) -> dict:
    """Two canvases at half the pages' scale; the second marks two illustrations."""
    canvases = []
    for n, regions in ((0, []), (1, ["10,10,40,30", "60,20,30,25"])):
        canvas = f"{url}/canvas/{n}"
        canvases.append(
            {
                "id": canvas,
                "type": "Canvas",
                "width": 100,
                "height": 75,
                "items": [
                    {
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": canvas,
                                "body": {
                                    "id": f"{base}/page{n}/full/max/0/default.jpg",
                                    "type": "Image",
                                    "width": 200,
                                    "height": 150,
                                    "service": [{"id": f"{base}/page{n}", "type": "ImageService2"}],
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
                                "target": {
                                    "type": "SpecificResource",
                                    "source": canvas,
                                    "selector": {"type": "FragmentSelector", "value": f"xywh={r}"},
                                },
                            }
                            for r in regions
                        ],
                    }
                ],
            }
        )
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": url,
        "type": "Manifest",
        "items": canvases,
    }


def page_manifest_v2(base: str, url: str) -> dict:
    canvas = f"{url}/canvas/0"
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": url,
        "@type": "sc:Manifest",
        "sequences": [
            {
                "canvases": [
                    {
                        "@id": canvas,
                        "width": 200,
                        "height": 150,
                        "images": [
                            {
                                "motivation": "sc:painting",
                                "on": canvas,
                                "resource": {
                                    "@id": f"{base}/page0/full/full/0/default.jpg",
                                    "service": {
                                        "@id": f"{base}/page0",
                                        "profile": "http://iiif.io/api/image/2/level2.json",
                                    },
                                },
                            }
                        ],
                        "otherContent": [
                            {
                                "@type": "sc:AnnotationList",
                                "resources": [{"on": f"{canvas}#xywh=100,50,80,60"}],
                            }
                        ],
                    }
                ]
            }
        ],
    }


def test_manifests_and_collections_through_the_reference_server(project, photos):
    pages = project.root / "pages"
    pages.mkdir()
    for n, name in enumerate(("astronaut", "coffee")):
        photos[name].resize((200, 150)).save(pages / f"page{n}.png")
    documents = {}
    server = iiif_server(pages, "2.1", documents=documents)
    base, root = server.url, server.url.rsplit("/", 1)[0] + "/manifests"
    documents["book3"] = page_manifest_v3(base, f"{root}/book3")
    documents["book2"] = page_manifest_v2(base, f"{root}/book2")
    documents["all"] = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{root}/all",
        "type": "Collection",
        "items": [{"id": f"{root}/book3", "type": "Manifest"}, {"id": f"{root}/book2"}],
    }
    (project.root / "iiif.csv").write_text("id,iiif_url\n")
    (project.root / "manifests.txt").write_text(f"{root}/all\n")
    project.values["data"].update(fetch=True, images="data/fetched", manifests="manifests.txt")
    project.values["fetch"]["size"] = "max"
    project.write()
    try:
        run_stage("fetch")
        first = server.requests
        shutil.rmtree(project.root / "data/fetched")
        run_stage("fetch")  # manifests and images from the cache
        assert server.requests == first == 3 + 4  # three documents, four images
    finally:
        server.stop()
    rows = {r["id"]: r["iiif_url"] for r in read_rows("data/fetched/iiif.csv")}
    regions = sorted(url.split("/")[-4] for url in rows.values())
    # canvas 1 of book3 is at half scale: its marks double on the page
    assert regions == ["100,50,80,60", "120,40,60,50", "20,20,80,60", "full"]
    sizes = sorted(Image.open(p).size for p in (project.root / "data/fetched").glob("*.jpg"))
    assert sizes == [(60, 50), (80, 60), (80, 60), (200, 150)]
    assert set(rows) == {p.stem for p in (project.root / "data/fetched").glob("*.jpg")}
    assert links_csv(parameters.load()) == project.root.joinpath(
        "data/fetched/iiif.csv"
    ).relative_to(project.root)
