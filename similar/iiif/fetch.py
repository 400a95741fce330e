"""The fetch stage's work: the images of the IIIF CSV and the manifests, into one folder.

Each image is asked for at `fetch.size`, its region kept. When the server refuses the size
(400; or 501, a level-0 server, whose other images are then asked for so at once), or the
link is no Image API URL, the link itself is asked for and the image is scaled here. Every
answer must be an image that decodes and is at most `embed.max_pixels`. What arrives is kept
in `.cache/fetch` by content, indexed by link and size, so a killed run resumes, a rerun
asks nothing, and a changed size refetches only what it changes. Bodies stream to disk; at
most `MEMORY` bytes of bodies and pixels are held at once, however many requests run. Ctrl-C
stops every request at once, keeping what was fetched. The folder gets
`<id>.<ext>` per image, `iiif.csv` (every link, the manifests' included, for attach_iiif)
and `failed.csv` (id, url, reason).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from itertools import zip_longest
from pathlib import Path

from PIL import Image

from .. import progress
from ..cache import ContentCache, content_hash
from ..errors import UserError, warn
from ..files import csv_bytes, require_file, text_lines
from ..vectors.images import open_rgb, too_large
from . import manifests
from .download import Budget, Client, Failure, Response, Stopped, host_of, http_scheme
from .links import FAILED_NAME, IMAGE_API, LINKS_NAME, read_iiif_csv

ACCEPT_IMAGE = "image/jpeg, image/png, image/webp, image/tiff, image/*;q=0.8"
ACCEPT_JSON = "application/ld+json, application/json;q=0.9"
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif"}
SOURCE = ("manifest", "canvas", "xywh")  # iiif.csv's columns after id and link
MAX_DOCUMENTS = 10000  # manifests and collections read from one list, at most
MEMORY = 1 << 30  # bytes of bodies and decoded pixels held at once, over every request
PIXEL_BYTES = 8  # held per pixel while an image is checked and scaled (RGB, copies)
CACHED_BYTES = 4  # held per pixel of a cached image while it is copied (its body, at most)
NAME_PART = re.compile(r"[^\x00-\x1f/\\:*?\"<>|]+")
NAME_BYTES = 200  # a part of an id longer than this (UTF-8) is named by a short form of it


@dataclass(frozen=True)
class Wanted:
    id: str
    link: str  # the IIIF link, as the CSV holds it or as built from a manifest
    manifest: str = ""  # from a manifest: which, the canvas, the box on it (publish reads them)
    canvas: str = ""
    xywh: str = ""


def sized(link: str, size: str) -> str | None:
    """The Image API URL of the same region at `size`; None when `link` is no such URL."""
    m = IMAGE_API.match(link.strip())
    if not m:
        return None
    return f"{m['base']}/{m['region']}/{size}/{m['rotation']}/{m['quality']}.{m['format']}"


def target_size(size: str, width: int, height: int) -> tuple[int, int] | None:
    """What an IIIF size asks of a width x height image, never larger; None: keep it."""
    if size in ("max", "full"):
        return None
    fit = size.startswith("!")
    w_text, h_text = size.lstrip("!").split(",")
    w_want = int(w_text) if w_text else None
    h_want = int(h_text) if h_text else None
    if fit or w_want is None or h_want is None:
        factors = [f for f in (w_want and w_want / width, h_want and h_want / height) if f]
        factor = min(factors)
        if factor >= 1:
            return None
        return max(1, round(width * factor)), max(1, round(height * factor))
    if w_want > width or h_want > height or (w_want, h_want) == (width, height):
        return None
    return w_want, h_want


def checked_image(body: bytes, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """The format and size of a body that decodes as an image; a Failure otherwise."""
    try:
        _, size = open_rgb(io.BytesIO(body), max_pixels)
        with Image.open(io.BytesIO(body)) as img:
            return img.format or "", size
    except ValueError as exc:
        raise Failure(str(exc)) from None


def scaled_here(body: bytes, size: str, max_pixels: int) -> tuple[bytes, str]:
    """The image scaled to `size` here (for servers that cannot scale), and its format."""
    img, (width, height) = open_rgb(io.BytesIO(body), max_pixels)
    with Image.open(io.BytesIO(body)) as original:
        fmt = original.format or ""
    target = target_size(size, width, height)
    if target is None and fmt in EXTENSIONS:
        return body, fmt
    if target is not None:
        img = img.resize(target, Image.Resampling.LANCZOS)
    return encoded(img, "JPEG" if fmt == "JPEG" else "PNG"), "JPEG" if fmt == "JPEG" else "PNG"


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def file_id(iid: str) -> str:
    """The id as its file can be named: itself, or, when a part is too long for a file name,
    that part cut short and a hash of the whole id (unique, the same every run)."""
    parts = iid.split("/")
    if all(len(p.encode("utf-8")) <= NAME_BYTES for p in parts):
        return iid
    digest = hashlib.sha256(iid.encode("utf-8")).hexdigest()[:16]
    short = [p.encode("utf-8")[:80].decode("utf-8", "ignore") + "~" + digest for p in parts]
    return "/".join(p if len(p.encode("utf-8")) <= NAME_BYTES else s for p, s in zip(parts, short))


def check_id(iid: str, id_from: str, where: str) -> None:
    """Refuse an id that cannot name a file in the folder such that embed gives it back."""
    parts = iid.split("/")
    if len(parts) > 1 and id_from != "relpath":
        raise UserError(
            f"{where}: id '{iid}' holds a '/'; set data.id_from: relpath, or rename the id"
        )
    if not all(NAME_PART.fullmatch(p) and not p.startswith(".") for p in parts):
        raise UserError(
            f"{where}: id '{iid}' cannot be a file name (empty part, leading dot, or one of "
            '\\ : * ? " < > |); rename it'
        )


class FetchCache:
    """Downloaded images by content, an index by link and size, and the manifests read."""

    def __init__(self, root: Path | None, size: str):
        self.objects = ContentCache(root, {"fetch": "objects"})
        self.index = ContentCache(root, {"fetch": "index", "size": size})
        self.documents = ContentCache(root, {"fetch": "manifests"})

    @staticmethod
    def key(url: str) -> str:
        return hashlib.sha256(url.encode("utf-8")).hexdigest()

    def lookup_entry(self, link: str) -> dict | None:
        raw = self.index.get_bytes(self.key(link))
        return json.loads(raw) if raw else None

    def body(self, entry: dict) -> bytes | None:
        body = self.objects.get_bytes(entry["sha256"])
        if body is None or content_hash(body) != entry["sha256"]:
            return None  # torn or missing: fetch again
        return body

    def store(self, link: str, body: bytes, entry: dict) -> None:
        self.objects.put_bytes(entry["sha256"], body)
        self.index.put_bytes(self.key(link), json.dumps(entry, sort_keys=True).encode())


class Fetcher:
    """Fetches wanted images into a folder through one client and one cache."""

    def __init__(self, s, client: Client, cache: FetchCache):
        self.size, self.max_pixels, self.id_from = s.fetch.size, s.embed.max_pixels, s.data.id_from
        self.client, self.cache = client, cache
        self.budget = Budget(MEMORY)
        self.cannot_scale: set[str] = set()  # hosts that refused a size: ask the link itself
        self.downloaded = self.reused = 0
        self._lock = threading.Lock()

    def document(self, url: str) -> list:
        """A collection's member URLs or a manifest's CanvasImages, the document read once
        (then from the cache); a Failure if it is unusable."""
        key = FetchCache.key(url)
        raw = self.cache.documents.get_bytes(key)
        fresh = raw is None
        if fresh:  # read alone, before any image: no other body is held meanwhile
            with self.client.get(url, ACCEPT_JSON) as response:
                raw = response.read()
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Failure("manifest: not JSON") from None
        except RecursionError:
            raise Failure("manifest: nested too deep to read") from None
        try:
            manifests.version(doc)
            found = (
                manifests.members(doc)
                if manifests.is_collection(doc)
                else manifests.canvas_images(url, doc)
            )
        except manifests.NotAManifest as exc:
            raise Failure(f"manifest: {exc}") from None
        if fresh:  # only a document read through is kept: a fixed one is asked for again
            self.cache.documents.put_bytes(key, raw)
        return found

    def from_manifests(self, urls: list[str], failed: list) -> list[Wanted]:
        """The images of the manifests (collections walked), in the list's order."""
        wanted, seen, queue = [], set(), list(urls)
        while queue and len(seen) < MAX_DOCUMENTS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            if not http_scheme(url):
                failed.append(("", url, "refused: not an http(s) URL"))
                warn(f"{url}: not an http(s) URL; refused, listed in failed.csv")
                continue
            try:
                found = self.document(url)
            except Failure as exc:
                failed.append(("", url, str(exc)))
                warn(f"{url}: {exc}; listed in failed.csv")
                continue
            for item in found:  # a collection's members, or a manifest's images
                if isinstance(item, str):
                    queue.append(item)
                else:
                    wanted.append(Wanted(item.id, item.link, item.manifest, item.canvas, item.xywh))
        if any(url not in seen for url in queue):
            warn(f"more than {MAX_DOCUMENTS} manifests and collections: the rest are not read")
        return wanted

    def obtain(self, w: Wanted, folder: Path) -> None:
        """Put one image into `folder` (from the cache, or fetched); a Failure if it cannot."""
        hit = self.cache.lookup_entry(w.link)
        if hit is not None:
            if reason := too_large((hit["width"], hit["height"]), self.max_pixels):
                raise Failure(reason)
            with self.budget.hold(hit["width"] * hit["height"] * CACHED_BYTES):
                body = self.cache.body(hit)
                if body is not None:
                    self._place(w, folder, hit, body)
            if body is not None:
                with self._lock:
                    self.reused += 1
                return
        with self._download(w.link) as (response, here):
            with self.budget.hold(response.size + pixels(response.path) * PIXEL_BYTES):
                entry, body = self._checked(response, here)
                self.cache.store(w.link, body, entry)
                self._place(w, folder, entry, body)
        with self._lock:
            self.downloaded += 1

    @staticmethod
    def _place(w: Wanted, folder: Path, entry: dict, body: bytes) -> None:
        target = folder / f"{w.id}{entry['extension']}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)

    @contextlib.contextmanager
    def _download(self, link: str) -> Iterator[tuple[Response, bool]]:
        """The answer for `link` at `fetch.size` (its body on disk), and whether the image
        must be scaled here."""
        request = sized(link, self.size)
        host = host_of(link)
        here = request is None or host in self.cannot_scale
        try:
            response = self.client.get(link if here else request, ACCEPT_IMAGE)
        except Failure as exc:
            if here or exc.status not in (400, 501):
                raise
            if exc.status == 501:  # the server does not scale at all; 400 may be this image
                self.cannot_scale.add(host)
            here = True
            response = self.client.get(link, ACCEPT_IMAGE)
        with response:
            if not response.content_type.startswith("image/"):
                kind = response.content_type or "missing"
                raise Failure(f"not an image: content type {kind}")
            yield response, here

    def _checked(self, response: Response, here: bool) -> tuple[dict, bytes]:
        """The cache entry and the bytes of an answer that is an image within the limits."""
        body = response.read()
        fmt, size = checked_image(body, self.max_pixels)
        if here or fmt not in EXTENSIONS:
            body, fmt = scaled_here(body, self.size if here else "max", self.max_pixels)
            fmt, size = checked_image(body, self.max_pixels)
        entry = {
            "sha256": content_hash(body),
            "extension": EXTENSIONS[fmt],
            "width": size[0],
            "height": size[1],
        }
        return entry, body


def pixels(path: Path) -> int:
    """The pixels an image file declares (its header only is read); 0 when it is none."""
    try:
        with warnings.catch_warnings():  # embed.max_pixels governs, not Pillow's bomb limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.width * img.height
    except (OSError, ValueError, Image.DecompressionBombError):
        return 0


def fair_order(wanted: list[Wanted]) -> list[Wanted]:
    """One image of each host in turn, so that every host's slots are kept busy."""
    by_host: dict[str, list[Wanted]] = defaultdict(list)
    for w in wanted:
        by_host[host_of(w.link)].append(w)
    return [w for turn in zip_longest(*by_host.values()) for w in turn if w is not None]


def wanted_images(s, fetcher: Fetcher, failed: list) -> list[Wanted]:
    """The images of the IIIF CSV, then those of the manifests; rows that cannot be fetched
    go to `failed` (id, url, reason) with a warning."""
    a = s.attach_iiif
    links = read_iiif_csv(s.data.iiif_csv, a.id_column, a.url_column)
    wanted, refused = [], []
    for iid, url in links.items():
        if url is None:
            failed.append((iid, "", f"no URL in {s.data.iiif_csv}"))
        elif not http_scheme(url):
            refused.append(iid)
            failed.append((iid, url, "refused: not an http(s) URL"))
        else:
            wanted.append(Wanted(iid, url))
    if len(failed) > len(refused):
        warn(f"{len(failed) - len(refused)} rows of {s.data.iiif_csv} have no URL; see failed.csv")
    if refused:
        warn(
            f"{len(refused)} URLs of {s.data.iiif_csv} are not http(s), never opened (first: "
            f"{refused[0]}); see failed.csv"
        )
    require_file(s.data.manifests, "manifest list", "create it, or set data.manifests")
    wanted += fetcher.from_manifests(text_lines(s.data.manifests), failed)
    chosen: dict[str, Wanted] = {}
    for w in wanted:
        if w.id in chosen and chosen[w.id].link != w.link:
            raise UserError(
                f"id '{w.id}' has two links ({chosen[w.id].link} and {w.link}); "
                f"rename one in {s.data.iiif_csv}"
            )
        check_id(w.id, s.data.id_from, str(s.data.iiif_csv))
        chosen[w.id] = w
    named = [replace(w, id=file_id(w.id)) for w in chosen.values()]  # its source kept
    if cut := [(w.id, n.id) for w, n in zip(chosen.values(), named) if w.id != n.id]:
        warn(
            f"{len(cut)} ids are too long for a file name; their images are named by a short "
            f"form (first: {cut[0][1]}), the id of the image from then on (see iiif.csv)"
        )
    return named


def fetch_collection(s, folder: Path) -> dict:
    """Fetch every wanted image into `folder` with its iiif.csv and failed.csv; the figures.
    A host that does not answer stops the run (UserError) once the others are done; what was
    fetched stays in the cache."""
    f = s.fetch
    spool = Path(s.paths.fetch_cache) / "partial" if s.paths.fetch_cache else None
    client = Client(f.concurrency, f.timeout, f.retries, f.backoff, spool=spool)
    fetcher = Fetcher(s, client, FetchCache(s.paths.fetch_cache, f.size))
    failed: list[tuple[str, str, str]] = []
    wanted = wanted_images(s, fetcher, failed)
    hosts = {host_of(w.link) for w in wanted}
    workers = max(1, min(64, f.concurrency * len(hosts)))
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        progress.bar(len(wanted), "fetch", "img") as bar,
    ):
        jobs = {pool.submit(fetcher.obtain, w, folder): w for w in fair_order(wanted)}
        try:
            for job in as_completed(jobs):
                w = jobs[job]
                try:
                    job.result()
                except Failure as exc:
                    failed.append((w.id, w.link, str(exc)))
                bar.update(1)
                bar.set_postfix(MB=f"{client.bytes / 1e6:.1f}", failed=len(failed), refresh=False)
        except (KeyboardInterrupt, Stopped):
            client.stop()  # every request and wait ends now; what is in the cache stays
            pool.shutdown(wait=False, cancel_futures=True)
            raise KeyboardInterrupt from None
    if client.down:
        host, why = sorted(client.down.items())[0]
        others = f" (and {len(client.down) - 1} other hosts)" if len(client.down) > 1 else ""
        raise UserError(
            f"{host}: the server does not answer ({why}){others}; the "
            f"{fetcher.downloaded + fetcher.reused} images fetched so far are kept in "
            f"{s.paths.fetch_cache}: rerun when it is back"
        )
    a = s.attach_iiif
    rows = sorted((w.id, w.link, w.manifest, w.canvas, w.xywh) for w in wanted)
    (folder / LINKS_NAME).write_bytes(csv_bytes([a.id_column, a.url_column, *SOURCE], rows))
    (folder / FAILED_NAME).write_bytes(csv_bytes(["id", "url", "reason"], sorted(failed)))
    return {
        "images": fetcher.downloaded + fetcher.reused,
        "wanted": len(wanted),
        "downloaded": fetcher.downloaded,
        "from_cache": fetcher.reused,
        "failed": len(failed),
        "requests": client.requests,
        "bytes": client.bytes,
    }


def empty_folder(s, folder: Path) -> None:
    """The folder of a run with `data.fetch: false`: no images, the two CSVs empty."""
    a = s.attach_iiif
    (folder / LINKS_NAME).write_bytes(csv_bytes([a.id_column, a.url_column, *SOURCE], []))
    (folder / FAILED_NAME).write_bytes(csv_bytes(["id", "url", "reason"], []))
