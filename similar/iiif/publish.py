"""The reuse map as IIIF: a Presentation 3 Collection of one Manifest per group, W3C linking
annotations between the copies' canvases, annotations on the libraries' own canvases, and
pairs.csv.

Every id lies under `publish.base_url` and is made from the group's and the images' names, so
the same groups give the same ids and the same bytes. A member that came from a IIIF Image API
link is painted from that link (the region the CSV or the manifest named); any other from its
file, under `<base_url>/images/`. A pair's region is the box of its inlier matches: verify's
(matches.json), and for the pairs only the groups stage checked, the points it wrote
(points.json); the whole picture where neither holds the pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from ..errors import UserError
from ..files import csv_bytes, json_bytes
from ..verification.points import Points, points_of
from .links import IMAGE_API, safe_link

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
MEDIA_FRAGMENTS = "http://www.w3.org/TR/media-frags/"
LANGUAGE = "en"
FORMATS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
FORMATS |= {".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp"}
FORMATS |= {".bmp": "image/bmp"}
PAIRS_HEADER = [
    "group",
    "pair",
    "id",
    "other",
    "book",
    "source",
    "region",
    "year",
    "relation",
    "score",
    "inliers",
    "mirrored",
    "agreement",
    "contained",
    "coverage",
    "difference",
]
FIGURES = ("inliers", "mirrored", "agreement", "contained", "coverage", "difference")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


@dataclass(frozen=True)
class Member:
    """What the manifests need of an image: its size and file, and where it came from."""

    id: str
    path: str  # relative to data.images
    width: int
    height: int
    link: str | None = None  # its IIIF Image API link (or any http(s) link)
    manifest: str = ""  # the source manifest, when fetched from one
    canvas: str = ""  # the source canvas
    xywh: str = ""  # the illustration on the source canvas
    year: str = ""

    @property
    def book(self) -> str:
        if self.manifest:
            return self.manifest
        return str(PurePosixPath(self.path).parent) if "/" in self.path else ""

    @property
    def source(self) -> str:
        return self.canvas or self.link or self.path

    @property
    def region(self) -> str:
        if self.canvas:
            return self.xywh
        m = IMAGE_API.match(self.link or "")
        return m["region"] if m and m["region"] != "full" else ""


def name_of(text: str) -> str:
    """A file and URL safe name for a group or image id: the id itself when it is one, else
    its safe letters and a hash of the whole, so that two ids never share a name."""
    if NAME.fullmatch(text):
        return text
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:60]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{safe}-{digest}" if safe else digest


class Ids:
    """Every id of the published files, from `publish.base_url`; `paint` says whether images
    are painted from their IIIF links (`iiif`) or always from their files (`files`)."""

    def __init__(self, base_url: str, paint: str = "iiif"):
        self.base = base_url.rstrip("/")
        self.paint = paint

    def collection(self) -> str:
        return f"{self.base}/collection.json"

    def manifest(self, group: str) -> str:
        return f"{self.base}/manifests/{name_of(group)}.json"

    def canvas(self, group: str, image: str) -> str:
        return f"{self.base}/manifests/{name_of(group)}/canvas/{name_of(image)}"

    def page(self, group: str) -> str:
        return f"{self.base}/annotations/{name_of(group)}.json"

    def sources(self, manifest_url: str) -> str:
        return f"{self.base}/sources/{source_name(manifest_url)}.json"

    def image(self, path: str) -> str:
        return f"{self.base}/images/{quote(path)}"


def source_name(manifest_url: str) -> str:
    return hashlib.sha256(manifest_url.encode("utf-8")).hexdigest()[:16]


def text(value: str) -> dict:
    return {LANGUAGE: [value]}


def entry(label: str, value: str) -> dict:
    return {"label": text(label), "value": text(value)}


def image_body(member: Member, ids: Ids) -> dict:
    """What paints a member's canvas: its IIIF link (the region it names), else its file."""
    link = safe_link(member.link) if ids.paint == "iiif" else None
    if link:
        m = IMAGE_API.match(link)
        fmt = f".{m['format']}" if m else PurePosixPath(urlsplit(link).path).suffix.lower()
        url = link
    else:
        fmt, url = PurePosixPath(member.path).suffix.lower(), ids.image(member.path)
    return {
        "id": url,
        "type": "Image",
        "format": FORMATS.get(fmt, "image/jpeg"),
        "width": member.width,
        "height": member.height,
    }


def canvas(group: str, member: Member, ids: Ids, page: str) -> dict:
    """A member's canvas, painted with its image, with the group's linking annotations."""
    cid = ids.canvas(group, member.id)
    metadata = [entry("image", member.id)]
    if member.book:
        metadata.append(entry("book", member.book))
    if member.year:
        metadata.append(entry("year", member.year))
    out = {
        "id": cid,
        "type": "Canvas",
        "label": text(member.id),
        "width": member.width,
        "height": member.height,
        "metadata": metadata,
        "items": [
            {
                "id": f"{cid}/page",
                "type": "AnnotationPage",
                "items": [
                    {
                        "id": f"{cid}/page/image",
                        "type": "Annotation",
                        "motivation": "painting",
                        "body": image_body(member, ids),
                        "target": cid,
                    }
                ],
            }
        ],
        "annotations": [{"id": page, "type": "AnnotationPage"}],
    }
    if member.canvas:
        out["partOf"] = [{"id": member.manifest, "type": "Manifest"}]
        out["seeAlso"] = [{"id": member.canvas, "type": "Canvas"}]
    return out


def box(points, side: int, size: tuple[int, int]) -> str:
    """xywh of the inlier points of one side (0 or 1), each a share of the image's size."""
    w, h = size
    if not points:
        return f"0,0,{w},{h}"
    xs = [p[2 * side] * w for p in points]
    ys = [p[2 * side + 1] * h for p in points]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(w, int(max(xs)) + 1), min(h, int(max(ys)) + 1)
    return f"{x0},{y0},{max(1, x1 - x0)},{max(1, y1 - y0)}"


def regions(pair: dict, members: dict[str, Member], matches: Points) -> tuple[str, str]:
    """The overlap of a pair on each image: the box of its inliers, else the whole image."""
    a, b = members[pair["a"]], members[pair["b"]]
    points = (points_of(matches, a.id, b.id) or {}).get("points") or []
    return box(points, 0, (a.width, a.height)), box(points, 1, (b.width, b.height))


def describe(pair: dict) -> str:
    """A pair's figures, in words, for the annotation's textual body."""
    relation = pair.get("relation") or ("copy" if pair.get("inliers") is None else "unknown")
    words = [relation.replace("_", " ") + f": {pair['a']} and {pair['b']}"]
    words.append(f"score {pair['score']:.6f}")
    if pair.get("inliers") is not None:
        words.append(f"{pair['inliers']} inliers")
        words.append("mirrored" if pair.get("mirrored") else "not mirrored")
        for key in ("agreement", "contained", "coverage", "difference"):
            if pair.get(key) is not None:
                words.append(f"{key} {pair[key]:.4f}")
    return ", ".join(words)


def target(member: Member, xywh: str, home: dict[str, str], ids: Ids) -> str | dict:
    """Where a pair's annotation points on one side: the canvas of the member in its group,
    or, for an image in no group, its image."""
    if member.id in home:
        return f"{ids.canvas(home[member.id], member.id)}#xywh={xywh}"
    body = image_body(member, ids)
    return {
        "type": "SpecificResource",
        "source": {"id": body["id"], "type": "Image", "format": body["format"]},
        "selector": fragment(xywh),
    }


def fragment(xywh: str) -> dict:
    return {"type": "FragmentSelector", "conformsTo": MEDIA_FRAGMENTS, "value": f"xywh={xywh}"}


def linking(page: str, pair: dict, members: dict, matches: Points, home: dict, ids: Ids) -> dict:
    """One W3C linking annotation tying the two images of a pair, each at its overlap."""
    a, b = members[pair["a"]], members[pair["b"]]
    ra, rb = regions(pair, members, matches)
    return {
        "id": f"{page[: -len('.json')]}/{name_of(a.id)}--{name_of(b.id)}",
        "type": "Annotation",
        "motivation": "linking",
        "body": {"type": "TextualBody", "value": describe(pair), "format": "text/plain"},
        "target": [target(a, ra, home, ids), target(b, rb, home, ids)],
    }


def group_pairs(group: dict) -> list[dict]:
    """A group's copy pairs, then the pairs that only share a part with one of its members."""
    return list(group.get("edges", [])) + list(group.get("shared_parts", []))


def group_manifest(group: dict, members: dict, ids: Ids) -> dict:
    """One group as a Manifest: a canvas per member, its linking annotations referenced."""
    name = group["group"]
    page = ids.page(name)
    copies, parts = len(group.get("edges", [])), len(group.get("shared_parts", []))
    return {
        "@context": CONTEXT,
        "id": ids.manifest(name),
        "type": "Manifest",
        "label": text(f"Group {name}: {group['size']} copies of one illustration"),
        "summary": text(
            f"{group['size']} images that show the same picture; {copies} verified copy "
            f"pairs, {parts} pairs that only share a part with a member"
        ),
        "metadata": [
            entry("group", name),
            entry("images", str(group["size"])),
            entry("copy pairs", str(copies)),
            entry("pairs that share a part", str(parts)),
        ],
        "partOf": [{"id": ids.collection(), "type": "Collection"}],
        "items": [canvas(name, members[m["id"]], ids, page) for m in group["members"]],
        "annotations": [{"id": page, "type": "AnnotationPage"}],
    }


def annotation_page(group: dict, members: dict, matches: Points, home: dict, ids: Ids) -> dict:
    page = ids.page(group["group"])
    return {
        "@context": CONTEXT,
        "id": page,
        "type": "AnnotationPage",
        "items": [linking(page, p, members, matches, home, ids) for p in group_pairs(group)],
    }


def collection(groups: list[dict], ids: Ids, label: str) -> dict:
    return {
        "@context": CONTEXT,
        "id": ids.collection(),
        "type": "Collection",
        "label": text(label),
        "summary": text(f"{len(groups)} groups of reused illustrations, largest first"),
        "items": [
            {
                "id": ids.manifest(g["group"]),
                "type": "Manifest",
                "label": text(f"Group {g['group']}: {g['size']} copies"),
            }
            for g in groups
        ],
    }


def source_pages(groups: list[dict], members: dict, ids: Ids) -> dict[str, dict]:
    """Per source manifest, an AnnotationPage on its own canvases: where each of its
    illustrations is, and where else it is reused (the group's Manifest, the other copies)."""
    pages: dict[str, list] = {}
    for g in groups:
        ids_in = [m["id"] for m in g["members"]]
        for iid in ids_in:
            member = members[iid]
            if not member.canvas:
                continue
            others = [members[o] for o in ids_in if o != iid]
            where = "; ".join(f"{o.id} ({o.book or 'this collection'})" for o in others)
            page = ids.sources(member.manifest)
            pages.setdefault(member.manifest, []).append(
                {
                    "id": f"{page[: -len('.json')]}/{name_of(iid)}",
                    "type": "Annotation",
                    "motivation": ["commenting", "linking"],
                    "body": [
                        {
                            "type": "TextualBody",
                            "value": f"This illustration is reused in {len(others)} other "
                            f"images: {where}",
                            "format": "text/plain",
                            "language": LANGUAGE,
                        },
                        {
                            "id": ids.manifest(g["group"]),
                            "type": "Manifest",
                            "label": text(f"Group {g['group']}"),
                        },
                    ],
                    "target": {
                        "type": "SpecificResource",
                        "source": {
                            "id": member.canvas,
                            "type": "Canvas",
                            "partOf": [{"id": member.manifest, "type": "Manifest"}],
                        },
                        "selector": fragment(member.xywh) if member.xywh else None,
                    },
                }
            )
    out = {}
    for manifest_url, items in sorted(pages.items()):
        for item in items:
            if item["target"]["selector"] is None:
                del item["target"]["selector"]
        out[manifest_url] = {
            "@context": CONTEXT,
            "id": ids.sources(manifest_url),
            "type": "AnnotationPage",
            "label": text(f"Reused illustrations of {manifest_url}"),
            "items": sorted(items, key=lambda a: a["id"]),
        }
    return out


def pair_rows(groups: list[dict], members: dict, matches: Points) -> list[list]:
    """pairs.csv: a row per image of every pair, group by group."""
    rows = []
    for g in groups:
        for pair in group_pairs(g):
            ra, rb = regions(pair, members, matches)
            for one, other, overlap in ((pair["a"], pair["b"], ra), (pair["b"], pair["a"], rb)):
                m = members[one]
                region = overlap if not m.region else f"{m.region} ({overlap} of it)"
                figures = [pair.get(k) for k in FIGURES]
                rows.append(
                    [
                        g["group"],
                        f"{pair['a']}--{pair['b']}",
                        one,
                        other,
                        m.book,
                        m.source,
                        region,
                        m.year,
                        pair.get("relation") or "",
                        f"{pair['score']:.6f}",
                        *("" if v is None else str(v).lower() for v in figures),
                    ]
                )
    return rows


def members_of(index: list[dict], links: dict[str, dict]) -> dict[str, Member]:
    """Every indexed image as a Member, with its link row (iiif_url, manifest, canvas, xywh,
    year) where the IIIF CSV has one."""
    out = {}
    for row in index:
        link = links.get(row["id"], {})
        out[row["id"]] = Member(
            id=row["id"],
            path=row["path"],
            width=int(row["width"]),
            height=int(row["height"]),
            link=link.get("url") or None,
            manifest=link.get("manifest", ""),
            canvas=link.get("canvas", ""),
            xywh=link.get("xywh", ""),
            year=link.get("year", ""),
        )
    return out


def publish(
    groups: list[dict],
    members: dict[str, Member],
    matches: Points,
    base_url: str,
    label: str,
    paint: str = "iiif",
) -> dict[str, bytes]:
    """Every file of data/iiif, by its path there."""
    ids = Ids(base_url, paint)
    for g in groups:
        for image in [m["id"] for m in g["members"]] + [
            x for p in group_pairs(g) for x in (p["a"], p["b"])
        ]:
            if image not in members:
                raise UserError(
                    f"groups.json names image '{image}' that images.csv does not list; "
                    "rerun `dvc repro groups`"
                )
    home = {m["id"]: g["group"] for g in groups for m in g["members"]}
    files = {"collection.json": json_bytes(collection(groups, ids, label))}
    for g in groups:
        name = name_of(g["group"])
        files[f"manifests/{name}.json"] = json_bytes(group_manifest(g, members, ids))
        files[f"annotations/{name}.json"] = json_bytes(
            annotation_page(g, members, matches, home, ids)
        )
    for manifest_url, page in source_pages(groups, members, ids).items():
        files[f"sources/{source_name(manifest_url)}.json"] = json_bytes(page)
    files["pairs.csv"] = csv_bytes(PAIRS_HEADER, pair_rows(groups, members, matches))
    return files


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in sorted(files.items()):
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def content_state(manifest_id: str, canvas_id: str | None = None) -> str:
    """A IIIF Content State (API 1.0) opening a manifest (at a canvas), encoded for the
    `iiif-content` parameter: URI-encoded JSON, base64url, no padding."""
    if canvas_id:
        where = {
            "id": canvas_id,
            "type": "Canvas",
            "partOf": [{"id": manifest_id, "type": "Manifest"}],
        }
    else:
        where = {"id": manifest_id, "type": "Manifest"}
    state = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{manifest_id}#content-state",
        "type": "Annotation",
        "motivation": ["contentState"],
        "target": where,
    }
    raw = quote(json.dumps(state, separators=(",", ":")), safe="-_.!~*'()")
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode_content_state(encoded: str) -> dict:
    """The JSON of an encoded content state (the inverse of `content_state`)."""
    from urllib.parse import unquote

    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    return json.loads(unquote(raw))


def viewer_link(viewer_url: str, base_url: str, group: str) -> str:
    """The link that opens a group's Manifest in the viewer, by content state."""
    return f"{viewer_url}?iiif-content={content_state(Ids(base_url).manifest(group))}"


def summary(files: dict[str, bytes], groups: list[dict], folder: Path) -> str:
    pairs = sum(len(group_pairs(g)) for g in groups)
    sources = sum(1 for rel in files if rel.startswith("sources/"))
    size = sum(len(v) for v in files.values())
    return (
        f"publish: {len(groups)} manifests, {pairs} linking annotations, {sources} source "
        f"manifests annotated, {size / 1e3:.1f} kB in {folder}"
    )


def read_links(path, id_column: str, url_column: str) -> dict[str, dict]:
    """id -> its link row: url, and where the fetch stage recorded them manifest, canvas and
    xywh (the illustration on the source canvas); year where the CSV has a `year` column."""
    from ..files import read_csv, require_file

    rows = read_csv(require_file(path, "IIIF CSV", "set data.iiif_csv in params.yaml"))
    out = {}
    for row in rows:
        iid = (row.get(id_column) or "").strip()
        if iid:
            out[iid] = {
                "url": (row.get(url_column) or "").strip(),
                **{k: (row.get(k) or "").strip() for k in ("manifest", "canvas", "xywh", "year")},
            }
    return out
