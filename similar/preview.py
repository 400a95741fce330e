"""The preview: offline HTML pages to review by eye, the neighbour lists and the groups of copies.

Thumbnails are small local JPEGs made here, so the pages work from file:// with no network
(`preview.thumbnails: iiif` asks the IIIF server for them instead, falling back to local ones
for URLs that are not Image API URLs); every image links to its IIIF URL, or else to its file.
Every checked pair shown carries a badge that opens its evidence: both pictures, the matched
points, the region they cover outlined in each, and that pair's figures. The groups pages
show each group's members (ordered by the date of their book), then its possible members,
then the pictures that share a part with a named member; marks say which relation they
judged (`copy` or `shares_part`) and export as a CSV that `data.groups` accepts as ground
truth. An overview page counts the groups each pair of books shares; a search (by id or
book, its index loaded on demand) and a book filter sit on every page.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath

import jinja2
from PIL import Image

from .errors import UserError, warn
from .files import FORMULA_START, PLAIN_NUMBER, atomic_dir, read_csv, read_json, require_file
from .groups.grouping import read_groups_json
from .iiif.links import safe_link, thumbnail_url
from .iiif.publish import viewer_link
from .settings import Settings
from .vectors.images import open_rgb
from .verification.points import Points, points_of, read_points

TEMPLATES = Path(__file__).parent / "templates"
ASSETS = ("preview.css", "preview.js")  # shared by every page, so each page stays light
THUMBS = "thumbs"
VIEWS = "views"  # larger images for the evidence of a pair
VIEW_SIZE = 480
FIND_INDEX = "find.js"
OVERVIEW = "overview.html"
OVERVIEW_LISTS = "overview.js"
MAX_POINTS = 80
EVIDENCE = "evidence"  # one script per page: its pairs' points, loaded when a badge opens
NOT_FIGURES = {"a", "b", "id", "url", "book", "possible", "member"}


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


def read_years(path: Path | None) -> dict[str, int]:
    """book -> year from the optional `preview.years` CSV (columns book,year)."""
    if path is None:
        return {}
    rows = read_csv(require_file(path, "book years", "set preview.years to a CSV book,year or ''"))
    if rows and not {"book", "year"} <= set(rows[0]):
        raise UserError(f"{path}: expected columns book,year (preview.years)")
    years = {}
    for r in rows:
        if not r["year"].strip().lstrip("-").isdigit():
            raise UserError(f"{path}: year {r['year']!r} of book {r['book']!r} is not a year")
        years[r["book"]] = int(r["year"])
    return years


def pair_figures(pair: dict) -> dict:
    """The figures a checked pair carries, whatever the verifier writes: every plain value
    but the ids."""
    return {
        k: v
        for k, v in pair.items()
        if k not in NOT_FIGURES and v is not None and isinstance(v, (int, float, str, bool))
    }


def part_id(pair: dict, a: str, b: str) -> str:
    """The id of the picture that lies in the other as a part of it (`part`: "a" or "b" of
    the checked pair: groups.json's a and b, or a verified list's reference and
    neighbour, which the badge shows as a and b)."""
    first, second = (pair["a"], pair["b"]) if "a" in pair and "b" in pair else (a, b)
    return first if pair["part"] == "a" else second


class Evidence:
    """The pairs a page shows with a badge: their matched points and figures, per page."""

    def __init__(
        self, matches: Points, unsure_inliers: int, pictures: dict[str, str] | None = None
    ):
        self.matches = matches
        self.unsure_inliers = unsure_inliers
        self.pictures = pictures or {}  # id -> the larger view (or the thumbnail)
        self.page: dict[str, dict] = {}
        self.views: dict[str, str] = {}

    def badge(self, a: str, b: str, pair: dict, label: str = "") -> dict | None:
        """A badge for a checked pair (None for an unchecked or unverified one)."""
        relation = pair.get("relation")
        if relation not in ("copy", "shares_part"):
            return None
        found = points_of(self.matches, a, b) or {}
        figures = pair_figures(pair)
        if figures.get("part"):
            figures["part"] = part_id(pair, a, b)
        kept = found.get("points", [])
        self.page.setdefault(a, {})[b] = {
            "points": shown_points(kept),
            "matched": len(kept),
            "mirrored": bool(found.get("mirrored", pair.get("mirrored"))),
            "figures": figures,
        }
        for x in (a, b):
            self.views[x] = self.pictures.get(x, "")
        inliers = pair.get("inliers") or 0
        return {
            "a": a,
            "b": b,
            "relation": relation,
            "inliers": inliers,
            "mirrored": bool(pair.get("mirrored")),
            "unsure": inliers <= self.unsure_inliers,
            "label": label,
        }

    def take(self) -> dict:
        """The page's evidence: pairs (a -> b -> points, mirrored, figures) and views."""
        page = {"pairs": self.page, "views": dict(sorted(self.views.items()))}
        self.page, self.views = {}, {}
        return page


def shown_points(points: list) -> list:
    """At most MAX_POINTS of a pair's matched points, evenly spread, to 3 decimals (under a
    pixel of the larger view)."""
    step = max(1, -(-len(points) // MAX_POINTS))
    return [[round(v, 3) for v in p] for p in points[::step]]


def checked_ids(entries: list[dict], found: list[dict]) -> set[str]:
    """Every image of a checked pair that a page shows with a badge."""
    ids = set()
    for e in entries:
        for n in e["neighbours"]:
            if n.get("relation") in ("copy", "shares_part"):
                ids.update((e["reference"]["id"], n["id"]))
    for g in found:
        for key in ("edges", "possible", "shared_parts"):
            for e in g.get(key, []):
                ids.update((e["a"], e["b"]))
    return ids


def card(item: dict, thumbs: dict[str, str], books: dict[str, str], full: dict[str, str]) -> dict:
    url = item.get("url")
    return {
        "id": item["id"],
        "url": safe_link(url) or full.get(item["id"]),
        "iiif": bool(safe_link(url)),
        "unsafe_url": bool(url) and not safe_link(url),
        "thumb": thumbs.get(item["id"]),
        "score": item.get("score"),
        "book": books.get(item["id"], ""),
    }


def shown(n: dict, min_score: float) -> bool:
    return n.get("score") is None or n["score"] >= min_score or bool(n.get("verified"))


class Context:
    """What every page needs to draw an image: thumbnails, links, books and years."""

    def __init__(self, thumbs=None, books=None, full=None, years=None, evidence=None, viewer=None):
        self.thumbs = thumbs or {}
        self.books = books or {}
        self.full = full or {}
        self.years = years or {}
        self.evidence = evidence or Evidence({}, 0)
        self.viewer = viewer  # a group's id -> its link in Mirador, or None

    def card(self, item: dict) -> dict:
        return card(item, self.thumbs, self.books, self.full)

    def date_key(self, iid: str) -> tuple:
        book = self.books.get(iid, "")
        return (self.years.get(book, 10**6), book, iid)


def list_pages(entries: list[dict], per_page: int, min_score: float, unverified: int, ctx):
    """Template context per lists page: each reference, its checked neighbours and the first
    `unverified` others; the rest folded away."""
    total = max(1, -(-len(entries) // per_page))
    for number in range(1, total + 1):
        chunk = entries[(number - 1) * per_page : number * per_page]
        refs = []
        for i, e in enumerate(chunk):
            ref = e["reference"]["id"]
            visible = [n for n in e["neighbours"] if shown(n, min_score)]
            checked = [n for n in visible if n.get("relation") in ("copy", "shares_part")]
            rest = [n for n in visible if n.get("relation") not in ("copy", "shares_part")]
            cards = [
                {
                    **ctx.card(n),
                    "badge": ctx.evidence.badge(ref, n["id"], n),
                    "inliers": n.get("inliers"),
                }
                for n in checked + rest[:unverified]
            ]
            refs.append(
                {
                    "reference": ctx.card(e["reference"]),
                    "neighbours": cards,
                    "folded": [
                        {**ctx.card(n), "inliers": n.get("inliers")} for n in rest[unverified:]
                    ],
                    "hidden": len(e["neighbours"]) - len(visible),
                    "number": (number - 1) * per_page + i + 1,
                }
            )
        yield number, total, refs, ctx.evidence.take()


def group_card(g: dict, number: int, ctx: Context) -> dict:
    """One group as the page shows it: its members by date, each with the badge of one named
    pair and of each member it only shares a part with (crops of two places of one picture,
    joined through the whole); its possible members; the pictures outside it sharing a part
    with a member, once each."""
    head = g["group"]
    members = {m["id"]: m for m in g["members"]}
    pairs: dict[str, list[dict]] = {}
    for e in g.get("edges", []):
        pairs.setdefault(e["a"], []).append(e)
        pairs.setdefault(e["b"], []).append(e)

    def strongest(iid: str) -> dict | None:
        mine = pairs.get(iid, [])
        with_head = [e for e in mine if head in (e["a"], e["b"])]
        return max(with_head or mine, key=lambda e: e.get("inliers") or 0, default=None)

    within: dict[str, list[dict]] = {}  # a member -> its shared-part pairs with members
    for e in g.get("shared_parts", []):
        if e["a"] in members and e["b"] in members:
            within.setdefault(e["a"], []).append(e)
            within.setdefault(e["b"], []).append(e)

    def parts_badges(iid: str) -> list[dict]:
        es = sorted(within.get(iid, []), key=lambda e: (-(e.get("inliers") or 0), e["a"], e["b"]))
        others = [e["b"] if e["a"] == iid else e["a"] for e in es]
        badges = [ctx.evidence.badge(other, iid, e, other) for e, other in zip(es, others)]
        return [b for b in badges if b]

    shown_members = []
    for iid in sorted((m for m in members if m != head), key=ctx.date_key):
        e = strongest(iid)
        badge = None
        if e is not None:
            other = e["b"] if e["a"] == iid else e["a"]
            badge = ctx.evidence.badge(other, iid, e, other)
        shown_members.append(
            {
                **ctx.card(members[iid]),
                "reference": head,
                "badge": badge,
                "parts": parts_badges(iid),
            }
        )

    def outside(key: str) -> list[dict]:
        """The pictures outside the group in `key`'s pairs with a member (two members that
        share a part are shown on their own cards, not here)."""
        found: dict[str, list[dict]] = {}
        for e in g.get(key, []):
            if e["a"] in members and e["b"] in members:
                continue
            other, member = (e["b"], e["a"]) if e["a"] in members else (e["a"], e["b"])
            found.setdefault(other, []).append({**e, "member": member})
        cards = []
        for iid in sorted(found, key=ctx.date_key):
            es = sorted(found[iid], key=lambda e: (-(e.get("inliers") or 0), e["member"]))
            badges = [ctx.evidence.badge(e["member"], iid, e, e["member"]) for e in es]
            cards.append(
                {
                    **ctx.card({"id": iid, "url": None}),
                    "reference": es[0]["member"],
                    "with": [e["member"] for e in es],
                    "badges": [b for b in badges if b],
                }
            )
        return cards

    books: dict[str, int] = {}
    for iid in members:
        book = ctx.books.get(iid, "")
        books[book] = books.get(book, 0) + 1
    return {
        "number": number,
        "id": head,
        "head": ctx.card(members[head]),
        "size": len(members),
        "books": [
            {"book": b, "year": ctx.years.get(b), "count": books[b]}
            for b in sorted(books, key=lambda b: (ctx.years.get(b, 10**6), b))
        ],
        "members": shown_members,
        "possible": outside("possible"),
        "shared": outside("shared_parts"),
        "mirador": ctx.viewer(head) if ctx.viewer else None,
    }


def group_pages(found: list[dict], per_page: int, ctx: Context):
    total = max(1, -(-len(found) // per_page))
    for number in range(1, total + 1):
        chunk = found[(number - 1) * per_page : number * per_page]
        cards = [group_card(g, (number - 1) * per_page + i + 1, ctx) for i, g in enumerate(chunk)]
        yield number, total, cards, ctx.evidence.take()


def group_anchor(number: int, per_page: int) -> str:
    return f"{page_name(1 + (number - 1) // per_page, 'groups')}#g-{number}"


def book_matrix(found: list[dict], books: dict[str, str], years: dict[str, int], per_page: int):
    """The overview: books (by year, then name), and for each pair of books the groups whose
    members lie in both (on the diagonal: groups with two members or more in that book)."""
    cells: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for number, g in enumerate(found, start=1):
        counts: dict[str, int] = {}
        for m in g["members"]:
            book = books.get(m["id"], "")
            counts[book] = counts.get(book, 0) + 1
        for x in counts:
            for y in counts:
                if x != y or counts[x] > 1:
                    cells.setdefault((x, y), []).append((number, g["group"]))
    order = sorted({x for x, _ in cells}, key=lambda b: (years.get(b, 10**6), b))
    index = {b: i for i, b in enumerate(order)}
    rows = [
        {
            "book": x,
            "year": years.get(x),
            "cells": [len(cells.get((x, y), [])) for y in order],
        }
        for x in order
    ]
    lists = {
        f"pair-{index[x]}-{index[y]}": {
            "x": x,
            "y": y,
            "groups": [[group_anchor(n, per_page), gid] for n, gid in groups],
        }
        for (x, y), groups in sorted(cells.items(), key=lambda c: (index[c[0][0]], index[c[0][1]]))
        if index[x] <= index[y]
    }
    return order, rows, lists


def find_index(entries: list[dict], found: list[dict], books, per_page: int) -> list[list]:
    """The search's index: id, book, where it is on the lists pages and on the groups pages."""
    lists: dict[str, str] = {}
    for i, e in enumerate(entries, start=1):
        href = f"{page_name(1 + (i - 1) // per_page)}#ref-{i}"
        lists.setdefault(e["reference"]["id"], href)
    for i, e in enumerate(entries, start=1):
        for n in e["neighbours"]:
            lists.setdefault(n["id"], f"{page_name(1 + (i - 1) // per_page)}#ref-{i}")
    grouped: dict[str, str] = {}
    for number, g in enumerate(found, start=1):
        for m in g["members"]:
            grouped.setdefault(m["id"], group_anchor(number, per_page))
    for number, g in enumerate(found, start=1):
        for key in ("possible", "shared_parts"):
            for e in g.get(key, []):
                for x in (e["a"], e["b"]):
                    grouped.setdefault(x, group_anchor(number, per_page))
    ids = sorted(set(lists) | set(grouped))
    return [[i, books.get(i, ""), lists.get(i, ""), grouped.get(i, "")] for i in ids]


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
        trim_blocks=True,
        lstrip_blocks=True,
    )


def common(title: str, key: str, books: list[str], nav: list) -> dict:
    return {
        "title": title,
        "storage_key": key,
        "books": books,
        "nav": nav,
        "formula_start": FORMULA_START.pattern,
        "plain_number": PLAIN_NUMBER.pattern,
    }


def write_assets(out_dir: Path) -> None:
    for name in ASSETS:
        shutil.copyfile(TEMPLATES / name, out_dir / name)


def render(
    entries: list[dict],
    out_dir: Path,
    per_page: int,
    min_score: float,
    thumbs: dict[str, str],
    title: str,
    *,
    unverified: int = 3,
    ctx: Context | None = None,
    nav: list | None = None,
    key: str | None = None,
) -> int:
    """Write the lists pages (references and their neighbours) and the shared assets; `key`
    names the marks, so that every view shares them."""
    ctx = ctx or Context(thumbs=thumbs, evidence=Evidence({}, 0, thumbs))
    write_assets(out_dir)
    template = environment().get_template("lists.html.j2")
    books = sorted(set(ctx.books.values()) - {""})
    base = common(title, key or storage_key(entries), books, nav or [])
    pages = 0
    for number, total, refs, evidence in list_pages(entries, per_page, min_score, unverified, ctx):
        html = template.render(
            **base,
            view="lists",
            refs=refs,
            page=number,
            pages=total,
            page_names=[page_name(i) for i in range(1, total + 1)],
            references=len(entries),
            min_score=min_score,
            evidence=write_evidence(out_dir, page_name(number), evidence),
        )
        (out_dir / page_name(number)).write_text(html, encoding="utf-8")
        pages += 1
    return pages


def render_groups(found, out_dir: Path, per_page: int, title: str, ctx: Context, nav, key) -> int:
    """Write the groups pages."""
    template = environment().get_template("groups.html.j2")
    books = sorted(set(ctx.books.values()) - {""})
    base = common(title, key, books, nav)
    pages = 0
    for number, total, cards, evidence in group_pages(found, per_page, ctx):
        html = template.render(
            **base,
            view="groups",
            groups=cards,
            page=number,
            pages=total,
            page_names=[page_name(i, "groups") for i in range(1, total + 1)],
            references=len(found),
            evidence=write_evidence(out_dir, page_name(number, "groups"), evidence),
        )
        (out_dir / page_name(number, "groups")).write_text(html, encoding="utf-8")
        pages += 1
    return pages


def render_overview(found, out_dir: Path, per_page: int, ctx: Context, nav, key) -> None:
    """The overview page; the groups behind each cell are a script it loads on a click."""
    order, rows, lists = book_matrix(found, ctx.books, ctx.years, per_page)
    script(out_dir / OVERVIEW_LISTS, "SIMILAR_PAIRS", lists)
    html = (
        environment()
        .get_template("overview.html.j2")
        .render(
            **common(f"Books by books: {len(order)} books", key, order, nav),
            view="overview",
            evidence="",
            order=[{"book": b, "year": ctx.years.get(b)} for b in order],
            rows=rows,
            lists=OVERVIEW_LISTS,
            groups=len(found),
        )
    )
    (out_dir / OVERVIEW).write_text(html, encoding="utf-8")


def script(target: Path, name: str, data) -> None:
    """A script setting window.<name>: what a page loads on demand (works from file://,
    where a page cannot fetch JSON). ASCII only, so no character ends the script early."""
    body = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    target.write_text(f"window.{name}={body};\n", encoding="utf-8")


def write_find_index(out_dir: Path, rows: list[list]) -> None:
    script(out_dir / FIND_INDEX, "SIMILAR_FIND", rows)


def write_evidence(out_dir: Path, page: str, evidence: dict) -> str:
    """The page's evidence script; its path, relative to the page."""
    (out_dir / EVIDENCE).mkdir(exist_ok=True)
    name = f"{EVIDENCE}/{page.removesuffix('.html')}.js"
    script(out_dir / name, "SIMILAR_EVIDENCE", evidence)
    return name


def shown_ids(entries: list[dict], min_score: float) -> dict[str, str | None]:
    """id -> URL of every image the lists pages show."""
    urls = {}
    for e in entries:
        for item in [e["reference"], *(n for n in e["neighbours"] if shown(n, min_score))]:
            urls.setdefault(item["id"], item.get("url"))
    return urls


def group_ids(found: list[dict]) -> dict[str, str | None]:
    """id -> URL of every image the groups pages show."""
    urls = {}
    for g in found:
        for m in g["members"]:
            urls.setdefault(m["id"], m.get("url"))
        for key in ("possible", "shared_parts"):
            for e in g.get(key, []):
                for x in (e["a"], e["b"]):
                    urls.setdefault(x, None)
    return urls


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
        for iid, url in sorted(urls.items()):
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


def full_links(index: dict[str, str], images: Path, out: Path) -> dict[str, str]:
    """id -> the image file, relative to the preview folder (the link where no IIIF URL is)."""
    base = os.path.relpath(images, out)
    return {
        iid: PurePosixPath(Path(base).as_posix(), path).as_posix() for iid, path in index.items()
    }


def build_preview(config: Settings) -> None:
    options = config.preview
    entries = read_json(
        require_file(config.paths.verified, "verified neighbours", "run `dvc repro verify`")
    )
    require_file(config.paths.matches, "matched points", "run `dvc repro verify`")
    matches = read_points(config.paths)
    found = read_groups_json(config.paths.groups_json)
    rows = read_csv(require_file(config.paths.image_index, "image index", "run `dvc repro embed`"))
    index = {r["id"]: r["path"] for r in rows}
    books = {iid: book_of(path) for iid, path in index.items()}
    years = read_years(options.years)
    nav = [("lists", "index.html"), ("groups", "groups.html"), ("overview", OVERVIEW)]
    key = storage_key(entries)
    out = config.paths.preview
    with atomic_dir(out, "paths.preview") as tmp:
        pictures = Pictures(config, tmp, index)
        urls = {**group_ids(found), **shown_ids(entries, options.min_score)}
        thumbs = pictures.make(urls, options.thumb_size, THUMBS)
        views = pictures.make(
            {i: urls.get(i) for i in checked_ids(entries, found)}, VIEW_SIZE, VIEWS
        )
        evidence = Evidence(matches, options.unsure_inliers, {**thumbs, **views})
        ctx = Context(
            thumbs,
            books,
            full_links(index, config.data.images, out),
            years,
            evidence,
            lambda group: viewer_link(
                config.publish.viewer_url, config.publish.base_url, group
            ),  # the group's Manifest in Mirador, by IIIF Content State
        )
        pages = render(
            entries,
            tmp,
            options.per_page,
            options.min_score,
            thumbs,
            title=f"Similar images: {len(entries)} references",
            unverified=options.unverified,
            ctx=ctx,
            nav=nav,
            key=key,
        )
        groups = render_groups(
            found, tmp, options.per_page, f"Groups of copies: {len(found)} groups", ctx, nav, key
        )
        render_overview(found, tmp, options.per_page, ctx, nav, key)
        write_find_index(tmp, find_index(entries, found, books, options.per_page))
    remote = sum(1 for t in thumbs.values() if not t.startswith(THUMBS))
    print(
        f"preview: {len(entries)} references on {pages} page(s), {len(found)} groups on "
        f"{groups} page(s), {len(thumbs) - remote} local and {remote} IIIF thumbnails "
        f"-> {out / 'index.html'}"
    )
    if pictures.missing:
        warn(
            f"{pictures.missing} images had no readable file under {config.data.images}; "
            "shown without thumbnail"
        )
