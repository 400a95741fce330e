"""The fetch stage against hostile servers on 127.0.0.1: endless bodies (memory stays bounded),
headers sent one byte at a time (the timeout bounds the whole request), a huge Retry-After,
and Ctrl-C in the middle of a long fetch (it stops at once, keeping what was fetched)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import test_fetch
from conftest import interruptible, run_stage
from iiif_server import LocalServer, scripted_server
from test_fetch import failed_rows, jpeg, v3_manifest

from similar.iiif.download import Budget, Client, Failure
from similar.iiif.fetch import FetchCache, file_id
from similar.iiif.links import read_iiif_csv

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
LIMIT = 30.0  # seconds any connection of these servers lives, at most
fetching = test_fetch.fetching  # the fixture: a project set to fetch from the links it writes


class Hostile:
    """A threaded server on 127.0.0.1 whose every answer is `behaviour(handler, path)`."""

    def __init__(self, behaviour):
        self.stopping = threading.Event()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 (the stdlib's name)
                outer.requests += 1
                try:
                    behaviour(self, self.path, outer.stopping)
                except OSError:
                    pass  # the client hung up: what these tests want

            def log_message(self, *args):
                pass

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def endless(handler, path, stopping) -> None:
    """200 image/jpeg and a body that never ends (until the client hangs up)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.end_headers()
    block = b"\xff" * (1 << 18)
    until = time.monotonic() + LIMIT
    while not stopping.is_set() and time.monotonic() < until:
        handler.wfile.write(block)


def dribble(handler, path, stopping) -> None:
    """A status line and headers, one byte every 0.2 s, never finished."""
    until = time.monotonic() + LIMIT
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Padding: " + b"x" * 10000:
        if stopping.wait(0.2) or time.monotonic() > until:
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def fetch_project(project, links: dict[str, str], **fetch) -> None:
    project.values["data"].update(fetch=True, images="data/fetched", manifests="manifests.txt")
    project.values["fetch"].update({"retries": 0, "backoff": 0.01, **fetch})
    project.write()
    (project.root / "manifests.txt").write_text("")
    rows = "".join(f"{i},{u}\n" for i, u in links.items())
    (project.root / "iiif.csv").write_text("id,iiif_url\n" + rows)


def start_fetch(project) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stages.fetch"],
        cwd=project.root,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    """(exit status, stderr) of a process started by start_fetch."""
    proc.wait()
    return proc.returncode, proc.stderr.read()


# the stage run with its peak RSS (VmHWM: this process's own, after exec) written at exit
MEASURED = """import atexit, runpy, sys
def peak():
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
    open(sys.argv[1], "w").write(line.split()[1])
atexit.register(peak)
runpy.run_module("stages.fetch", run_name="__main__")
"""


def peak_of_fetch(project) -> tuple[int, int, str]:
    """(exit status, peak RSS in MiB, stderr) of the fetch stage."""
    out = project.root / "peak.txt"
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED, str(out)],
        cwd=project.root,
        env=ENV,
        capture_output=True,
        text=True,
    )
    return proc.returncode, int(out.read_text()) // 1024, proc.stderr


def test_the_budget_never_holds_more_than_its_total():
    budget, peak, lock = Budget(100), [0], threading.Lock()

    def hold(size):
        with budget.hold(size):
            with lock:
                peak[0] = max(peak[0], budget.held)
            time.sleep(0.01)

    threads = [threading.Thread(target=hold, args=(size,)) for size in [30, 60, 90, 500] * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert 90 <= peak[0] <= 100 and budget.held == 0


@pytest.mark.slow
@pytest.mark.parametrize("ports,links", [(4, 16), (1, 8)])
def test_endless_bodies_stream_to_disk_and_memory_stays_bounded(project, ports, links):
    servers = [Hostile(endless) for _ in range(ports)]
    try:
        fetch_project(
            project,
            {
                f"e{i}": f"{servers[i % ports].url}/e{i}/full/max/0/default.jpg"
                for i in range(links)
            },
            timeout=1.0,
            concurrency=links,
        )
        code, peak_mib, err = peak_of_fetch(project)
    finally:
        for server in servers:
            server.stop()
    assert code == 0, err
    rows = (project.root / "data/fetched/failed.csv").read_text().splitlines()
    reasons = ("timed out (1s)", "too large: over")
    assert len(rows) == links + 1 and all(any(w in r for w in reasons) for r in rows[1:]), rows
    received_mib = json.loads((project.root / "reports/fetch.json").read_text())["bytes"] >> 20
    print(
        f"{links} endless bodies on {ports} ports: {received_mib} MiB received, peak {peak_mib} MiB"
    )
    assert peak_mib < 400, (peak_mib, received_mib)  # far below what was received
    assert received_mib > 2 * peak_mib, (peak_mib, received_mib)
    assert not list((project.root / ".cache/fetch/partial").iterdir())  # no body left on disk


def test_headers_sent_one_byte_at_a_time_time_out_with_the_whole_request():
    server = Hostile(dribble)
    try:
        client = Client(4, 1.5, 0, 0.01)
        started = time.monotonic()
        with pytest.raises(Failure, match=r"timed out \(1.5s\) after 1 tries"):
            client.get(f"{server.url}/slow.jpg", "image/*")
        took = time.monotonic() - started
    finally:
        server.stop()
    assert 1.4 < took < 3.0, took


def test_a_retry_after_past_the_cap_is_a_failure_not_a_wait():
    def busy(handler, path, stopping):
        handler.send_response(429)
        handler.send_header("Retry-After", "100000")
        handler.end_headers()

    server = Hostile(busy)
    try:
        client = Client(4, 2.0, 3, 0.01)
        started = time.monotonic()
        with pytest.raises(Failure, match=r"HTTP 429: asked to wait 100000s, over 600s; rerun"):
            client.get(f"{server.url}/a.jpg", "image/*")
    finally:
        server.stop()
    assert time.monotonic() - started < 2.0 and server.requests == 1


@pytest.mark.slow
@pytest.mark.parametrize("hang", [dribble, "retry-after"])
def test_ctrl_c_stops_a_long_fetch_at_once_keeping_what_was_fetched(project, hang):
    """3,000 wanted images: 3 arrive, then every request hangs (or waits on Retry-After)."""
    body = jpeg()

    def answer(handler, path, stopping):
        if path.startswith("/good"):
            handler.send_response(200)
            handler.send_header("Content-Type", "image/jpeg")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        elif hang == "retry-after":
            handler.send_response(503)
            handler.send_header("Retry-After", "500")
            handler.end_headers()
        else:
            hang(handler, path, stopping)

    server = Hostile(answer)
    good = {f"g{i}": f"{server.url}/good{i}/full/max/0/default.jpg" for i in range(3)}
    slow = {f"s{i}": f"{server.url}/slow{i}/full/max/0/default.jpg" for i in range(2997)}
    try:
        fetch_project(project, {**good, **slow}, timeout=600.0, retries=3, concurrency=4)
        proc = start_fetch(project)
        cache = FetchCache(project.root / ".cache/fetch", project.values["fetch"]["size"])
        deadline = time.monotonic() + 60
        while any(cache.lookup_entry(link) is None for link in good.values()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        time.sleep(1.0)  # every worker is now inside a hanging request or a wait
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code, err = finish(proc)
        took = time.monotonic() - sent
    finally:
        server.stop()
    assert code == 130 and err.strip() == "error: interrupted", err
    assert took < 2.0, took
    assert server.requests < 100  # the queued downloads were dropped, not run
    assert all(cache.lookup_entry(link) for link in good.values())  # kept for the rerun
    assert not (project.root / "data/fetched").exists()
    assert not list((project.root / ".cache/fetch/partial").iterdir())


# ---------------------------------------------------------------- documents and ids


def hostile_manifests(service: str) -> dict[str, bytes]:
    """Path -> body: one good manifest, and one of each kind of bad document."""
    good = v3_manifest(service, 1, {})
    infinite = json.dumps(v3_manifest(service, 1, {})).replace('"width": 400', '"width": Infinity')
    nan = json.dumps(v3_manifest(service, 1, {})).replace('"height": 100', '"height": NaN')
    digits = json.dumps(v3_manifest(service, 1, {0: [f"{'9' * 400},0,10,10"]}))
    v2 = {"@context": "http://iiif.io/api/presentation/2/context.json", "@type": "sc:Manifest"}
    return {
        "/good": json.dumps(good).encode(),
        "/deep": b"[" * 100000 + b"]" * 100000,
        "/deep-object": b'{"a":' * 100000 + b"1" + b"}" * 100000,
        "/infinity": infinite.encode(),
        "/nan": nan.encode(),
        "/sequences": json.dumps({**v2, "sequences": ["not a sequence"]}).encode(),
        "/xywh": digits.encode(),
    }


def test_one_bad_document_is_a_row_of_failed_csv_and_the_rest_is_fetched(fetching):
    body = jpeg()
    pages: dict[str, bytes] = {}

    def answer(path, n):
        if path in pages:
            return 200, {"Content-Type": "application/json"}, pages[path]
        if path.startswith("/img/"):
            return 200, {"Content-Type": "image/jpeg"}, body
        return 404, {}, b""

    server = scripted_server(answer)
    pages.update(hostile_manifests(f"{server.url}/img"))
    try:
        fetching.links({}, [f"{server.url}{p}" for p in pages])
        run_stage("fetch")
    finally:
        server.stop()
    rows = failed_rows(fetching)
    reasons = {url.rsplit("/", 1)[1]: why for url, (_, why) in rows.items()}
    assert reasons == {
        "deep": "manifest: nested too deep to read",
        "deep-object": "manifest: nested too deep to read",
        "infinity": "manifest: a width or height of inf / 200",
        "nan": "manifest: a width or height of 200 / nan",
        "sequences": "manifest: 'sequences' holds something other than objects",
        "xywh": reasons["xywh"],
    }
    assert reasons["xywh"].startswith(
        "manifest: canvas https://example.org/book/canvas/0: a region"
    )
    fetched = [p.name for p in (fetching.root / "data/fetched").glob("*.jpg")]
    assert len(fetched) == 1  # the good manifest's image
    cache = FetchCache(fetching.root / ".cache/fetch", fetching.values["fetch"]["size"])
    kept = {p for p in pages if cache.documents.get_bytes(FetchCache.key(f"{server.url}{p}"))}
    assert kept == {"/good"}  # a bad document is asked for again next run


def test_a_csv_cell_over_128_kib_is_read(fetching):
    long_id = "x" * 200_000
    server = scripted_server(lambda path, n: (200, {"Content-Type": "image/jpeg"}, jpeg()))
    try:
        fetching.links({long_id: f"{server.url}/a.jpg", "short": f"{server.url}/b.jpg"})
        run_stage("fetch")
    finally:
        server.stop()
    names = sorted(p.name for p in (fetching.root / "data/fetched").glob("*.jpg"))
    assert len(names) == 2 and "short.jpg" in names


def test_a_300_character_id_gets_a_short_file_name_and_the_fetch_goes_on(fetching, capsys):
    long_id = "Bibliothèque-" + "très-long-" * 29  # 300 characters, more bytes
    server = scripted_server(lambda path, n: (200, {"Content-Type": "image/jpeg"}, jpeg()))
    try:
        fetching.links({long_id: f"{server.url}/a.jpg", "short": f"{server.url}/b.jpg"})
        run_stage("fetch")
    finally:
        server.stop()
    names = sorted(p.stem for p in (fetching.root / "data/fetched").glob("*.jpg"))
    assert len(names) == 2 and "short" in names
    (short,) = [n for n in names if n != "short"]
    assert short.startswith("Bibliothèque-très-long-") and len(short.encode()) <= 100
    assert short == file_id(long_id)  # the same every run
    links = read_iiif_csv(fetching.root / "data/fetched/iiif.csv", "id", "iiif_url", True)
    assert links == {short: f"{server.url}/a.jpg", "short": f"{server.url}/b.jpg"}
    assert "1 ids are too long for a file name" in capsys.readouterr().err


def bomb_png(side: int) -> bytes:
    """A PNG header declaring side x side pixels (no pixel data: only the header is read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_a_30000_pixel_bomb_is_refused_in_one_row(fetching, capfd):
    bodies = {"/bomb.png": bomb_png(30000), "/big.png": bomb_png(12000)}  # over Pillow's limit
    server = scripted_server(lambda path, n: (200, {"Content-Type": "image/png"}, bodies[path]))
    try:
        fetching.links({"bomb": f"{server.url}/bomb.png", "big": f"{server.url}/big.png"})
        run_stage("fetch")
    finally:
        server.stop()
    rows = failed_rows(fetching)
    assert rows["bomb"][1].startswith("too large: 30000x30000 pixels exceeds")
    assert rows["big"][1].startswith("cannot decode")  # a header, no pixels
    err = capfd.readouterr().err
    assert "Warning" not in err and "Traceback" not in err, err
