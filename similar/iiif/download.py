"""A polite HTTP client for IIIF servers: bounded requests per host, retries, strict answers.

Only http(s) URLs are opened, and a redirect may not leave them (nor go from https down to
http). At most `fetch.concurrency` requests run at once per host. A timeout, a 5xx (but 501)
or a 429 is retried after an exponential backoff, or after the server's `Retry-After` when
that is longer; a `Retry-After` past `MAX_WAIT` is a failure, not a wait. `fetch.timeout`
bounds a whole request (connecting, every header byte, the body), however slowly a server
dribbles. A body streams to a file on disk, never past `MAX_BODY`; what is read back into
memory is the caller's to bound (`Budget`). A host that cannot be connected to through every
retry is marked down, and its remaining requests fail at once. `stop()` ends every request
and wait within a moment (Ctrl-C). Every failure carries a stable reason for failed.csv.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

USER_AGENT = "similar-images/1 (finds reused illustrations; IIIF fetch stage)"
MAX_REDIRECTS = 5
MAX_BODY = 512 << 20
MAX_WAIT = 600.0  # a Retry-After longer than this is a failure: rerun later
CHUNK = 1 << 16


class Failure(Exception):
    """A request that did not give a usable answer; `str()` is its stable reason."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


class Stopped(Exception):
    """The client was stopped (Ctrl-C) while this request ran or waited."""


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, connect: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.connect = connect


@dataclass(frozen=True)
class Response:
    """A 200 answer whose body lies in a temporary file, removed when the `with` ends."""

    url: str  # after redirects
    content_type: str
    path: Path
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


class Budget:
    """Bytes held in memory at once, over all threads: `hold(n)` waits until n more fit (a
    request over the whole budget waits until it is alone)."""

    def __init__(self, total: int):
        self.total, self.held = total, 0
        self._free = threading.Condition()

    @contextlib.contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = max(0, min(int(size), self.total))
        with self._free:
            self._free.wait_for(lambda: self.held + size <= self.total)
            self.held += size
        try:
            yield
        finally:
            with self._free:
                self.held -= size
                self._free.notify_all()


class _Watch:
    """Cuts a connection at its deadline (a server may send one byte at a time), or at stop."""

    def __init__(self, seconds: float):
        self.sock: socket.socket | None = None  # http.client drops its own once a reply comes
        self.expired = self.stopped = False
        self._timer = threading.Timer(max(0.0, seconds), self.cut, kwargs={"expired": True})
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        self.sock = sock
        if self.expired or self.stopped:  # cut before the connection was made
            self.cut()

    def cut(self, expired: bool = False) -> None:
        self.expired = self.expired or expired
        self.stopped = self.stopped or not expired
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


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

    def __init__(
        self,
        concurrency: int,
        timeout: float,
        retries: int,
        backoff: float,
        sleep=None,
        spool: str | os.PathLike | None = None,
    ):
        self.concurrency, self.timeout = concurrency, timeout
        self.retries, self.backoff = retries, backoff
        self.spool = spool  # where bodies stream to (None: the system's temporary folder)
        self._stopped = threading.Event()
        self.sleep = sleep or self._pause
        self._open: set[_Watch] = set()
        self.requests = 0
        self.bytes = 0
        self.down: dict[str, str] = {}  # host -> why it is taken for down
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        """End every request and wait now; the requests raise Stopped."""
        self._stopped.set()
        with self._lock:
            for watch in list(self._open):
                watch.cut()

    def _pause(self, seconds: float) -> None:
        if self._stopped.wait(seconds):
            raise Stopped()

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
                wait = max(self.backoff * 2 ** (attempt - 1), last.retry_after or 0.0)
                if wait > MAX_WAIT:
                    why = f"asked to wait {wait:g}s, over {MAX_WAIT:g}s; rerun later"
                    raise Failure(f"{last}: {why}")
                self.sleep(wait)
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
        deadline = time.monotonic() + self.timeout
        for _hop in range(MAX_REDIRECTS + 1):
            if self._stopped.is_set():
                raise Stopped()
            parts = urlsplit(url)
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Retry(f"timed out ({self.timeout:g}s)")
            conn = kind(parts.hostname, parts.port, timeout=left)
            watch = _Watch(left)
            with self._lock:
                self._open.add(watch)
            try:
                answer = self._exchange(conn, url, parts, accept, watch)
            finally:
                watch.cancel()
                with self._lock:
                    self._open.discard(watch)
                conn.close()
            if isinstance(answer, Response):
                return answer
            url = answer  # a redirect
        raise Failure(f"more than {MAX_REDIRECTS} redirects")

    def _exchange(self, conn, url: str, parts, accept: str, watch: _Watch) -> Response | str:
        """One request on `conn`: the Response, or the URL a redirect points to."""
        try:
            conn.connect()
        except OSError as exc:
            if watch.expired or isinstance(exc, TimeoutError):
                raise _Retry(f"connection timed out ({self.timeout:g}s)", connect=True) from None
            why = exc.strerror or exc.__class__.__name__
            raise _Retry(f"cannot connect: {why}", connect=True) from None
        watch.attach(conn.sock)
        path = parts.path or "/"
        target = f"{path}?{parts.query}" if parts.query else path
        headers = {"User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "identity"}
        self._count(request=True)
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            status = response.status
            if status in (301, 302, 303, 307, 308):
                return self._redirect(url, response.getheader("Location"))
            if status == 429 or (500 <= status < 600 and status != 501):
                raise _Retry(f"HTTP {status}", retry_after(response.getheader("Retry-After")))
            if status != 200:
                raise Failure(f"HTTP {status}", status)
            content_type = (response.getheader("Content-Type") or "").split(";")[0]
            body, size = self._body(response, watch)
            return Response(url, content_type.strip().lower(), body, size)
        except (OSError, http.client.HTTPException) as exc:
            if watch.expired or isinstance(exc, TimeoutError):
                raise _Retry(f"timed out ({self.timeout:g}s)") from None
            if self._stopped.is_set():
                raise Stopped() from None
            raise _Retry(f"connection broken: {exc.__class__.__name__}") from None

    def _redirect(self, url: str, location: str | None) -> str:
        if not location:
            raise Failure("redirect without a Location")
        target = urljoin(url, location.strip())
        scheme = urlsplit(target).scheme.lower()
        if not http_scheme(target) or (urlsplit(url).scheme == "https" and scheme == "http"):
            raise Failure(f"refused: redirect to another scheme ({scheme or 'none'}:)")
        return target

    def _body(self, response: http.client.HTTPResponse, watch: _Watch) -> tuple[Path, int]:
        """The body streamed into a temporary file (removed on failure), and its size."""
        expected = response.getheader("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        if expected is not None and expected > MAX_BODY:
            raise Failure(f"too large: {expected} bytes")
        if self.spool is not None:
            Path(self.spool).mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".body-", suffix=".tmp", dir=self.spool)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := self._chunk(response, size):
                    out.write(chunk)
                    size += len(chunk)
                    self._count(len(chunk))
                    if size > MAX_BODY:
                        raise Failure(f"too large: over {MAX_BODY} bytes")
            if watch.expired:  # the cut connection read as the body's end
                raise _Retry(f"timed out ({self.timeout:g}s)")
            if self._stopped.is_set():
                raise Stopped()
            if expected is not None and size != expected:
                raise _Retry(f"truncated body: {size} of {expected} bytes")
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), size

    @staticmethod
    def _chunk(response: http.client.HTTPResponse, size: int) -> bytes:
        try:
            return response.read1(CHUNK)
        except http.client.IncompleteRead:
            raise _Retry(f"truncated body: {size} bytes, then the connection closed") from None
