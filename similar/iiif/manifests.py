"""IIIF Presentation manifests and collections, versions 2 and 3, to the images they show.

A canvas gives the image painted on it. A canvas whose embedded annotations mark regions
(`#xywh=` on the canvas) gives one image per region instead, cut by the image server. An
image's id comes from the manifest's URL and the canvas (and region), hashed, so it stays the
same however the manifest is reordered or relabelled. Its link is an Image API URL of the
region at the server's largest size, as the IIIF CSV would hold it.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

LARGEST_SIDE = 1 << 31  # pixels: a region or a size past this is no real image
XYWH = re.compile(
    r"xywh=(?:pixel:)?(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$"
)


class NotAManifest(ValueError):
    """The document is not a IIIF Presentation v2 or v3 manifest or collection."""


@dataclass(frozen=True)
class CanvasImage:
    id: str
    link: str
    manifest: str = ""  # where it was found: the manifest, the canvas, and its box on the
    canvas: str = ""  # canvas (canvas coordinates; empty where the canvas has no size)
    xywh: str = ""


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _ident(node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return str(node.get("id") or node.get("@id") or "")
    return ""


def version(doc) -> int:
    """2 or 3, from the context or the type; NotAManifest otherwise."""
    if not isinstance(doc, dict):
        raise NotAManifest("not a IIIF Presentation manifest (a JSON object is expected)")
    contexts = " ".join(str(c) for c in _as_list(doc.get("@context")))
    if "iiif.io/api/presentation/3" in contexts:
        return 3
    if "iiif.io/api/presentation/2" in contexts:
        return 2
    kind = doc.get("type") or doc.get("@type")
    if kind in ("sc:Manifest", "sc:Collection"):
        return 2
    if kind in ("Manifest", "Collection"):
        return 3
    raise NotAManifest("neither a IIIF Presentation v2 nor v3 manifest or collection")


def is_collection(doc) -> bool:
    return (doc.get("type") or doc.get("@type")) in ("Collection", "sc:Collection")


def members(doc) -> list[str]:
    """The URLs of a collection's manifests and sub-collections, in order."""
    if version(doc) == 3:
        nodes = _as_list(doc.get("items"))
    else:
        nodes = [
            *_as_list(doc.get("collections")),
            *_as_list(doc.get("manifests")),
            *_as_list(doc.get("members")),
        ]
    return [url for url in (_ident(n) for n in nodes) if url]


def _hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def image_id(manifest_url: str, canvas: str, region: str = "full") -> str:
    """The stable id of a canvas's image (or of a region of it)."""
    suffix = canvas if region == "full" else f"{canvas}#{region}"
    return f"iiif_{_hash(manifest_url, 8)}_{_hash(suffix, 10)}"


def _region(target, canvas: str, scale_x: float, scale_y: float) -> tuple[str, str] | None:
    """The image region that an annotation's target marks on `canvas`, and the box on the
    canvas itself; None when it marks none."""
    if isinstance(target, dict):
        source = _ident(target.get("source") or target.get("full"))
        selector = target.get("selector") or {}
        value = selector.get("value", "") if isinstance(selector, dict) else ""
        target = f"{source}#{value}" if source and value else source
    if not isinstance(target, str) or "#" not in target:
        return None
    base, fragment = target.split("#", 1)
    m = XYWH.search(fragment)
    if base != canvas or not m:
        return None
    x, y, w, h = (float(v) for v in m.groups())
    if max(x * scale_x, y * scale_y, w * scale_x, h * scale_y) >= LARGEST_SIDE:  # inf too
        raise NotAManifest(f"canvas {canvas}: a region {fragment[:40]} beyond any image")
    box = (round(x * scale_x), round(y * scale_y), round(w * scale_x), round(h * scale_y))
    if box[2] <= 0 or box[3] <= 0:
        return None
    return ",".join(str(v) for v in box), ",".join(f"{v:g}" for v in (x, y, w, h))


def _service(resource) -> tuple[str, int] | None:
    """The Image API service of a painted image: its base URL and Image API version."""
    for service in _as_list(resource.get("service")):
        if not isinstance(service, dict):
            continue
        base = _ident(service).rstrip("/")
        kind = f"{service.get('type', '')} {service.get('@type', '')} {service.get('profile', '')}"
        api = 3 if "ImageService3" in kind or "image/3" in kind else 2
        if base:
            return base, api
    return None


def _painted(canvas: dict, v: int) -> dict | None:
    """The first image painted on a canvas."""
    if v == 3:
        for page in _as_list(canvas.get("items")):
            for annotation in _as_list(page.get("items") if isinstance(page, dict) else None):
                if isinstance(annotation, dict) and annotation.get("motivation") == "painting":
                    body = _as_list(annotation.get("body"))
                    if body and isinstance(body[0], dict):
                        return body[0]
        return None
    for annotation in _as_list(canvas.get("images")):
        if isinstance(annotation, dict) and isinstance(annotation.get("resource"), dict):
            resource = annotation["resource"]
            # a region of another image (oa:SpecificResource): its whole image is painted
            return resource.get("full") if isinstance(resource.get("full"), dict) else resource
    return None


def _annotations(canvas: dict, v: int) -> list:
    """The targets of the annotations embedded in a canvas (not painting its image)."""
    pages = canvas.get("annotations") if v == 3 else canvas.get("otherContent")
    targets = []
    for page in _as_list(pages):
        if not isinstance(page, dict):
            continue
        for annotation in _as_list(page.get("items") if v == 3 else page.get("resources")):
            if isinstance(annotation, dict):
                targets.append(annotation.get("target") if v == 3 else annotation.get("on"))
    return targets


def canvas_images(manifest_url: str, doc) -> list[CanvasImage]:
    """The images of a manifest: one per canvas, or one per annotated region of a canvas."""
    v = version(doc)
    if v == 3:
        canvases = _as_list(doc.get("items"))
    else:
        sequences = _as_list(doc.get("sequences"))
        if not all(isinstance(s, dict) for s in sequences):
            raise NotAManifest("'sequences' holds something other than objects")
        canvases = [c for s in sequences for c in _as_list(s.get("canvases"))]
    images: list[CanvasImage] = []
    for canvas in canvases:
        if not isinstance(canvas, dict):
            continue
        canvas_id = _ident(canvas)
        resource = _painted(canvas, v)
        if not canvas_id or resource is None:
            continue
        service = _service(resource)
        whole = _whole(canvas)
        if service is None:
            if _ident(resource):
                images.append(
                    CanvasImage(
                        image_id(manifest_url, canvas_id),
                        _ident(resource),
                        manifest_url,
                        canvas_id,
                        whole,
                    )
                )
            continue
        base, api = service
        largest = "max" if api == 3 else "full"
        scale_x = _scale(resource.get("width"), canvas.get("width"))
        scale_y = _scale(resource.get("height"), canvas.get("height"))
        regions = [_region(t, canvas_id, scale_x, scale_y) for t in _annotations(canvas, v)]
        for region, xywh in [r for r in regions if r] or [("full", whole)]:
            images.append(
                CanvasImage(
                    image_id(manifest_url, canvas_id, region),
                    f"{base}/{region}/{largest}/0/default.jpg",
                    manifest_url,
                    canvas_id,
                    xywh,
                )
            )
    return images


def _whole(canvas: dict) -> str:
    """The box of a whole canvas, or empty when it states no size."""
    try:
        width, height = int(canvas.get("width")), int(canvas.get("height"))
    except (TypeError, ValueError, OverflowError):
        return ""
    return f"0,0,{width},{height}" if width > 0 and height > 0 else ""


def _scale(image_side, canvas_side) -> float:
    """The image's pixels per canvas unit on one side (1 when either side is not given)."""
    try:
        sides = (float(image_side), float(canvas_side)) if image_side and canvas_side else None
    except (TypeError, ValueError):
        return 1.0
    if sides is None or sides[1] == 0:
        return 1.0
    if not all(math.isfinite(side) and 0 < side < LARGEST_SIDE for side in sides):
        raise NotAManifest(f"a width or height of {image_side!r} / {canvas_side!r}")
    return sides[0] / sides[1]
