"""What every published folder must satisfy: each JSON file valid against the official IIIF
Presentation 3 schema (tests/schema/), one Manifest per group with one Canvas per member,
one linking annotation per copy pair between two different canvases."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMA = Path(__file__).parent / "schema" / "iiif_3_0.json"


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def invalid(folder: Path) -> dict[str, list[str]]:
    """Each JSON file of the folder that the schema refuses, with the schema's reasons."""
    check, out = validator(), {}
    for path in sorted(folder.rglob("*.json")):
        errors = [e.message for e in check.iter_errors(json.loads(path.read_text()))]
        if errors:
            out[str(path.relative_to(folder))] = errors[:3]
    return out


def check_folder(folder: Path, groups: list[dict]) -> dict:
    """Asserts the folder's shape against groups.json; returns the collection."""
    assert invalid(folder) == {}
    collection = json.loads((folder / "collection.json").read_text())
    assert collection["type"] == "Collection"
    assert len(collection["items"]) == len(groups)
    canvases_of = {}
    for item, group in zip(collection["items"], groups):
        name = item["id"].rsplit("/", 1)[1]
        manifest = json.loads((folder / "manifests" / name).read_text())
        assert manifest["id"] == item["id"] and manifest["type"] == "Manifest"
        assert [c["label"]["en"][0] for c in manifest["items"]] == [
            m["id"] for m in group["members"]
        ]
        canvases_of.update({c["id"]: group["group"] for c in manifest["items"]})
        page = json.loads((folder / "annotations" / name).read_text())
        linking = [a for a in page["items"] if a["motivation"] == "linking"]
        assert len(linking) == len(group["edges"]) + len(group["shared_parts"])
        for annotation in linking[: len(group["edges"])]:
            ends = [t.split("#xywh=")[0] for t in annotation["target"]]
            assert len(set(ends)) == 2 and set(ends) <= set(canvases_of)
    return collection
