"""IIIF and link helpers: the IIIF CSV, which URLs may become links, Image API thumbnails."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UserError
from ..files import cell, csv_records, require_file

LINKS_NAME = "iiif.csv"  # in paths.fetched: every link the fetch stage knows, manifests included
FAILED_NAME = "failed.csv"  # in paths.fetched: id, url, reason of what could not be fetched

# {scheme}://{server}{/prefix}/{identifier}/{region}/{size}/{rotation}/{quality}.{format}
IMAGE_API = re.compile(
    r"^(?P<base>https?://.+)/(?P<region>full|square|pct:[\d.,]+|\d+,\d+,\d+,\d+)/"
    r"(?P<size>[^/]+)/(?P<rotation>!?[\d.]+)/(?P<quality>[a-z]+)\.(?P<format>[a-z0-9]+)$"
)


def safe_link(url: str | None) -> str | None:
    """The URL if it is http(s), else None: nothing else may become a link on the page."""
    if not url or not isinstance(url, str):
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def thumbnail_url(url: str | None, size: int) -> str | None:
    """An IIIF Image API URL for the same region at most `size` pixels wide and high.

    Works for Image API 2 (`!w,h`) and 3 (`!w,h` too, both best-fit); None when `url`
    is not an Image API URL.
    """
    if not safe_link(url):
        return None
    m = IMAGE_API.match(url.strip())
    if not m:
        return None
    return f"{m['base']}/{m['region']}/!{size},{size}/{m['rotation']}/{m['quality']}.jpg"


def read_iiif_csv(
    path, id_column: str, url_column: str, written_here: bool = False
) -> dict[str, str | None]:
    """id -> URL from the IIIF CSV; missing columns or conflicting duplicate ids are UserErrors.
    Cells are read as written, but in a CSV this project wrote (`written_here`: the fetch
    stage's), where the leading `'` before a formula-like cell is its own (see `files.cell`)."""
    require_file(path, "IIIF CSV", "set data.iiif_csv in params.yaml")
    columns, rows = csv_records(path)
    unescaped = cell if written_here else str
    for key, col in (("id_column", id_column), ("url_column", url_column)):
        if col not in columns:
            raise UserError(
                f"{path}: no column '{col}' (attach_iiif.{key}); the file has "
                f"{', '.join(columns) or 'no header'}"
            )
    urls: dict[str, str | None] = {}
    for line, row in enumerate(rows, start=2):
        iid = unescaped((row[id_column] or "").strip())
        url = unescaped((row[url_column] or "").strip())
        if not iid:
            continue
        if iid in urls and urls[iid] != (url or None):
            raise UserError(f"{path}:{line}: id '{iid}' appears twice with different URLs")
        urls[iid] = url or None
    return urls


def links_csv(s) -> Path:
    """The IIIF links attach_iiif reads: those the fetch stage wrote (with the manifests'
    rows) when `data.fetch` is on, else `data.iiif_csv`."""
    return Path(s.paths.fetched) / LINKS_NAME if s.data.fetch else Path(s.data.iiif_csv)
