"""IIIF and link helpers: which URLs may become links, and Image API thumbnail URLs."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

# {scheme}://{server}{/prefix}/{identifier}/{region}/{size}/{rotation}/{quality}.{format}
IMAGE_API = re.compile(
    r"^(?P<base>https?://.+)/(?P<region>full|square|pct:[\d.,]+|\d+,\d+,\d+,\d+)/"
    r"(?P<size>[^/]+)/(?P<rotation>!?[\d.]+)/(?P<quality>[a-z]+)\.(?P<format>[a-z0-9]+)$")


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
