"""The preview: offline HTML pages to review by eye, the neighbour lists and the groups of copies.

Thumbnails are small local JPEGs made here, so the page works from file:// with no
network (`preview.thumbnails: iiif` asks the IIIF server for them instead, falling back to
local ones for URLs that are not Image API URLs); every image links to its IIIF URL (only
http(s) URLs become links). The page is split into pages of `preview.per_page`
references; images load lazily. Next to each neighbour the reviewer marks match / not a
match (mouse or keys); marks live in the browser and export as a CSV that `data.groups`
accepts as ground truth. The groups pages show each group of copies (largest first) with
every member's book; the reviewer marks a member that does not belong, or confirms a
group, into the same marks, so corrections flow back into the next run's ground truth.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import jinja2
from PIL import Image

from .errors import warn
from .files import FORMULA_START, PLAIN_NUMBER, atomic_dir, read_csv, read_json, require_file
from .groups import read_groups_json
from .iiif import safe_link, thumbnail_url
from .images import open_rgb
from .publish import viewer_link
from .settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
THUMBS = "thumbs"
VIEWS = "views"  # larger images for the match view of verified pairs
VIEW_SIZE = 480


def thumb_name(image_id: str) -> str:
    """A file name safe for any id (ids may hold any character)."""
    return hashlib.sha1(image_id.encode("utf-8")).hexdigest()[:20] + ".jpg"


def make_thumbnail(source: Path, target: Path, size: int) -> bool:
    try:
        img, _ = open_rgb(source, max_pixels=1 << 31, draft_size=size)
    except ValueError:
        return False
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    img.save(target, "JPEG", quality=85, optimize=True)
    return True


def page_name(number: int, prefix: str = "") -> str:
    if not prefix:
        return "index.html" if number == 1 else f"page-{number}.html"
    return f"{prefix}.html" if number == 1 else f"{prefix}-{number}.html"


def book_of(path: str) -> str:
    """The folder an image lies in (its book, in a collection filed by book)."""
    return str(PurePosixPath(path).parent) if "/" in path else ""


PAIR_FIGURES = (
    "inliers",
    "verified",
    "mirrored",
    "relation",
    "agreement",
    "contained",
    "coverage",
    "inlier_ratio",
)


def card(item: dict, thumbs: dict[str, str], views: dict[str, str], books: dict[str, str]) -> dict:
    url = item.get("url")
    return {
        "id": item["id"],
        "url": safe_link(url),
        "unsafe_url": bool(url) and not safe_link(url),
        "thumb": thumbs.get(item["id"]),
        "view": views.get(item["id"]) or thumbs.get(item["id"]),
        "score": item.get("score"),
        **{key: item.get(key) for key in PAIR_FIGURES},
        "verified": bool(item.get("verified")),
        "mirrored": bool(item.get("mirrored")),
        "possible": bool(item.get("possible")),
        "book": books.get(item["id"], ""),
    }


def shown(n: dict, min_score: float) -> bool:
    return n.get("score") is None or n["score"] >= min_score or bool(n.get("verified"))


def build_pages(
    entries: list[dict],
    per_page: int,
    min_score: float,
    thumbs: dict[str, str],
    views: dict[str, str] | None = None,
    matches: dict | None = None,
    books: dict[str, str] | None = None,
):
    """Template context per page: references with their shown neighbours, and the matched
    points of the verified pairs among them."""
    views, matches, books = views or {}, matches or {}, books or {}
    total = max(1, -(-len(entries) // per_page))
    for number in range(1, total + 1):
        chunk = entries[(number - 1) * per_page : number * per_page]
        refs = [
            {
                "reference": card(e["reference"], thumbs, views, books),
                "neighbours": [
                    card(n, thumbs, views, books) for n in e["neighbours"] if shown(n, min_score)
                ],
                "hidden": sum(1 for n in e["neighbours"] if not shown(n, min_score)),
                "number": (number - 1) * per_page + i + 1,
                "mirador": e.get("mirador"),
            }
            for i, e in enumerate(chunk)
        ]
        page_matches = {
            e["reference"]["id"]: matches[e["reference"]["id"]]
            for e in chunk
            if e["reference"]["id"] in matches
        }
        yield number, total, refs, page_matches


def storage_key(entries: list[dict]) -> str:
    """Names this preview's marks in the browser: the same for every page and every rerun
    over the same references, different for another reference list."""
    refs = "\n".join(e["reference"]["id"] for e in entries)
    return hashlib.sha1(refs.encode("utf-8")).hexdigest()[:16]


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )


def render(
    entries: list[dict],
    out_dir: Path,
    per_page: int,
    min_score: float,
    thumbs: dict[str, str],
    title: str,
    views: dict[str, str] | None = None,
    matches: dict | None = None,
    books: dict[str, str] | None = None,
    view: str = "lists",
    nav: list | None = None,
    key: str | None = None,
) -> int:
    """Write the pages of one view ("lists": references and neighbours; "groups": groups and
    their members); `key` names the marks, so that both views share them."""
    template = environment().get_template("preview.html.j2")
    prefix = "" if view == "lists" else view
    pages = 0
    for number, total, refs, page_matches in build_pages(
        entries, per_page, min_score, thumbs, views, matches, books
    ):
        html = template.render(
            title=title,
            refs=refs,
            page=number,
            pages=total,
            page_names=[page_name(i, prefix) for i in range(1, total + 1)],
            references=len(entries),
            min_score=min_score,
            storage_key=key or storage_key(entries),
            matches=page_matches,
            view=view,
            nav=nav or [],
            formula_start=FORMULA_START.pattern,
            plain_number=PLAIN_NUMBER.pattern,
        )
        (out_dir / page_name(number, prefix)).write_text(html, encoding="utf-8")
        pages += 1
    return pages


def shown_ids(entries: list[dict], min_score: float) -> dict[str, str | None]:
    """id -> URL of every image the pages show."""
    urls = {}
    for e in entries:
        for item in [e["reference"], *(n for n in e["neighbours"] if shown(n, min_score))]:
            urls.setdefault(item["id"], item.get("url"))
    return urls


def group_entries(found: list[dict]) -> list[dict]:
    """groups.json as pages of entries: the group's name member first, then the others, each
    with the figures of its strongest copy pair in the group; then the possible members and
    the images that only share a part with a member, apart."""
    out = []
    for g in found:
        members = {m["id"]: m for m in g["members"]}
        head = members[g["group"]]
        best: dict[str, dict] = {}
        for e in g["edges"]:
            for x in (e["a"], e["b"]):
                if (e.get("inliers") or 0) > (best.get(x, {}).get("inliers") or 0):
                    best[x] = e
        outside = []
        for key in ("possible", "shared_parts"):
            for e in g.get(key, []):
                other = e["b"] if e["a"] in members else e["a"]
                outside.append(
                    {"id": other, "url": None, **figures(e), "possible": key == "possible"}
                )
        out.append(
            {
                "reference": {"id": head["id"], "url": head.get("url")},
                "neighbours": [
                    {"id": m["id"], "url": m.get("url"), **figures(best.get(m["id"], {}))}
                    for m in g["members"]
                    if m["id"] != g["group"]
                ]
                + outside,
            }
        )
    return out


def figures(edge: dict) -> dict:
    return {"score": None, **{k: edge.get(k) for k in PAIR_FIGURES}}


class Pictures:
    """Thumbnails and larger views of images: local JPEGs made once, or IIIF URLs."""

    def __init__(self, config: Settings, folder: Path, index: dict[str, str]):
        self.s = config
        self.folder = folder
        self.index = index
        self.missing = 0

    def make(self, urls: dict[str, str | None], size: int, sub: str) -> dict[str, str]:
        (self.folder / sub).mkdir(exist_ok=True)
        out = {}
        for iid, url in urls.items():
            remote = thumbnail_url(url, size) if self.s.preview.thumbnails == "iiif" else None
            name = thumb_name(iid)
            if remote:
                out[iid] = remote
            elif (self.folder / sub / name).is_file():
                out[iid] = f"{sub}/{name}"
            elif iid in self.index and make_thumbnail(
                self.s.data.images / self.index[iid], self.folder / sub / name, size
            ):
                out[iid] = f"{sub}/{name}"
            elif sub == THUMBS:
                self.missing += 1
        return out


def build_preview(config: Settings) -> None:
    options = config.preview
    entries = read_json(
        require_file(config.paths.verified, "verified neighbours", "run `dvc repro verify`")
    )
    matches = read_json(
        require_file(config.paths.matches, "matched points", "run `dvc repro verify`")
    )
    grouped = group_entries(read_groups_json(config.paths.groups_json))
    for entry in grouped:  # the group's Manifest in Mirador, by IIIF Content State
        entry["mirador"] = viewer_link(
            config.publish.viewer_url, config.publish.base_url, entry["reference"]["id"]
        )
    index = {
        r["id"]: r["path"]
        for r in read_csv(
            require_file(config.paths.image_index, "image index", "run `dvc repro embed`")
        )
    }
    books = {iid: book_of(path) for iid, path in index.items()}
    nav = [("lists", "index.html"), ("groups", "groups.html")]
    key = storage_key(entries)
    out = config.paths.preview
    with atomic_dir(out, "paths.preview") as tmp:
        pictures = Pictures(config, tmp, index)
        urls = shown_ids(entries, options.min_score)
        thumbs = pictures.make({**shown_ids(grouped, -1.0), **urls}, options.thumb_size, THUMBS)
        in_pairs = {i for ref, found in matches.items() for i in (ref, *found)}
        views = pictures.make({i: u for i, u in urls.items() if i in in_pairs}, VIEW_SIZE, VIEWS)
        pages = render(
            entries,
            tmp,
            options.per_page,
            options.min_score,
            thumbs,
            title=f"Similar images: {len(entries)} references",
            views=views,
            matches=matches,
            books=books,
            nav=nav,
            key=key,
        )
        group_pages = render(
            grouped,
            tmp,
            options.per_page,
            -1.0,
            thumbs,
            title=f"Groups of copies: {len(grouped)} groups",
            books=books,
            view="groups",
            nav=nav,
            key=key,
        )
    remote = sum(1 for t in thumbs.values() if not t.startswith(THUMBS))
    print(
        f"preview: {len(entries)} references on {pages} page(s), {len(grouped)} groups on "
        f"{group_pages} page(s), {len(thumbs) - remote} local and {remote} IIIF thumbnails "
        f"-> {out / 'index.html'}"
    )
    if pictures.missing:
        warn(
            f"{pictures.missing} images had no readable file under {config.data.images}; "
            "shown without thumbnail"
        )
