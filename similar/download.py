"""A polite HTTP client for IIIF servers: bounded requests per host, retries, strict answers.

Only http(s) URLs are opened, and a redirect may not leave them (nor go from https down to
http). At most `fetch.concurrency` requests run at once per host. A timeout, a 5xx (but 501)
or a 429 is retried after an exponential backoff, or after the server's `Retry-After` when
that is longer. A host that cannot be connected to through every retry is marked down, and
its remaining requests fail at once. Every failure carries a stable reason for failed.csv.
"""

from __future__ import annotations

import email.utils
import http.client
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

USER_AGENT = "similar-images/1 (finds reused illustrations; IIIF fetch stage)"
MAX_REDIRECTS = 5
MAX_BODY = 512 << 20
MAX_WAIT = 600.0  # a Retry-After longer than this is not waited for in full
CHUNK = 1 << 16


class Failure(Exception):
    """A request that did not give a usable answer; `str()` is its stable reason."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, connect: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.connect = connect


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    content_type: str
    body: bytes


def http_scheme(url: str) -> str | None:
    """The URL's scheme when it is http or https, else None (never opened)."""
    scheme = urlsplit(url).scheme.lower()
    return scheme if scheme in ("http", "https") and urlsplit(url).hostname else None


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Client:
    """GET with the politeness rules above; counts requests and bytes, thread-safe."""

    def __init__(self, concurrency: int, timeout: float, retries: int, backoff: float, sleep=None):
        self.concurrency, self.timeout = concurrency, timeout
        self.retries, self.backoff = retries, backoff
        self.sleep = sleep or time.sleep
        self.requests = 0
        self.bytes = 0
        self.down: dict[str, str] = {}  # host -> why it is taken for down
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self.concurrency))

    def get(self, url: str, accept: str) -> Response:
        """The 200 answer to GET `url`, or a Failure."""
        if not http_scheme(url):
            raise Failure(f"refused: not an http(s) URL ({urlsplit(url).scheme or 'no'} scheme)")
        host = host_of(url)
        last: _Retry | None = None
        for attempt in range(self.retries + 1):
            if host in self.down:
                raise Failure(f"host {host} does not answer: {self.down[host]}")
            if attempt:
                wait = self.backoff * 2 ** (attempt - 1)
                self.sleep(min(MAX_WAIT, max(wait, last.retry_after or 0.0)))
            try:
                with self._slot(host):
                    return self._once(url, accept)
            except _Retry as exc:
                last = exc
        tries = f"after {self.retries + 1} tries"
        if last.connect:
            with self._lock:
                self.down.setdefault(host, str(last))
        raise Failure(f"{last} {tries}")

    def _count(self, body_bytes: int = 0, request: bool = False) -> None:
        with self._lock:
            self.requests += int(request)
            self.bytes += body_bytes

    def _once(self, url: str, accept: str) -> Response:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = kind(parts.hostname, parts.port, timeout=self.timeout)
            try:
                try:
                    conn.connect()
                except TimeoutError:
                    raise _Retry(
                        f"connection timed out ({self.timeout:g}s)", connect=True
                    ) from None
                except OSError as exc:
                    why = exc.strerror or exc.__class__.__name__
                    raise _Retry(f"cannot connect: {why}", connect=True) from None
                path = parts.path or "/"
                target = f"{path}?{parts.query}" if parts.query else path
                headers = {
                    "User-Agent": USER_AGENT,
                    "Accept": accept,
                    "Accept-Encoding": "identity",
                }
                self._count(request=True)
                try:
                    conn.request("GET", target, headers=headers)
                    response = conn.getresponse()
                    status = response.status
                    if status in (301, 302, 303, 307, 308):
                        url = self._redirect(url, response.getheader("Location"))
                        continue
                    if status == 429 or (500 <= status < 600 and status != 501):
                        raise _Retry(
                            f"HTTP {status}", retry_after(response.getheader("Retry-After"))
                        )
                    if status != 200:
                        raise Failure(f"HTTP {status}", status)
                    content_type = (response.getheader("Content-Type") or "").split(";")[0]
                    return Response(url, content_type.strip().lower(), self._body(response))
                except TimeoutError:
                    raise _Retry(f"timed out ({self.timeout:g}s)") from None
                except (http.client.HTTPException, ConnectionError) as exc:
                    raise _Retry(f"connection broken: {exc.__class__.__name__}") from None
            finally:
                conn.close()
        raise Failure(f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, url: str, location: str | None) -> str:
        if not location:
            raise Failure("redirect without a Location")
        target = urljoin(url, location.strip())
        scheme = urlsplit(target).scheme.lower()
        if not http_scheme(target) or (urlsplit(url).scheme == "https" and scheme == "http"):
            raise Failure(f"refused: redirect to another scheme ({scheme or 'none'}:)")
        return target

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        expected = response.getheader("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        if expected is not None and expected > MAX_BODY:
            raise Failure(f"too large: {expected} bytes")
        deadline = time.monotonic() + self.timeout
        chunks, size = [], 0
        while True:
            try:
                chunk = response.read1(CHUNK)
            except http.client.IncompleteRead:
                raise _Retry(f"truncated body: {size} bytes, then the connection closed") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            self._count(len(chunk))
            if size > MAX_BODY:
                raise Failure(f"too large: over {MAX_BODY} bytes")
            if time.monotonic() > deadline:
                raise _Retry(f"timed out ({self.timeout:g}s) reading the body")
        if expected is not None and size != expected:
            raise _Retry(f"truncated body: {size} of {expected} bytes")
        return b"".join(chunks)
