"""The Qdrant container of `make db-up|db-down|db-status|db-logs` (database/docker-compose.yml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from similar import parameters
from similar.errors import UserError
from similar.settings import Settings
from tools.shell import sh

COMPOSE_FILE = "database/docker-compose.yml"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_SERVER = "http://127.0.0.1:6333"
READY_TIMEOUT = 90
ACTIONS = {
    "up": ["up", "-d"],
    "down": ["down"],
    "status": ["ps"],
    "logs": ["logs", "--tail", "200", "qdrant"],
}


def local_server_url(config: Settings) -> str:
    """qdrant.url when it names a server on this machine, else ""."""
    t = config.qdrant.target
    return t.url if t.kind == "server" and urlsplit(t.url).hostname in LOCAL_HOSTS else ""


def docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def ready(url: str, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(url.rstrip("/") + "/readyz")
    key = os.environ.get("QDRANT_API_KEY")
    if key:
        request.add_header("api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(url):
            print(f"Qdrant at {url} is ready")
            return
        time.sleep(1)
    raise UserError(
        f"Qdrant at {url} did not answer ready within {timeout:.0f}s; see `make db-logs`"
    )


def compose_env(url: str) -> dict:
    """The environment of `docker compose`: the port qdrant.url names, and the API key only
    when one is set (an empty key must never reach Qdrant)."""
    env = dict(os.environ)
    env["QDRANT_PORT"] = str(urlsplit(url).port or 6333)
    if env.get("QDRANT_API_KEY"):
        env["QDRANT__SERVICE__API_KEY"] = env["QDRANT_API_KEY"]
    return env


def db(action: str, url: str = "") -> None:
    """`docker compose` `action` (up, down, status, logs) on the server at `url`
    (default: qdrant.url when local, else 127.0.0.1:6333); up waits until it is ready."""
    if not docker_available():
        raise UserError(
            f"db-{action}: no Docker engine is running on this machine (docker info "
            "failed); start Docker, or keep qdrant.url empty to use the embedded store"
        )
    if not url:
        url = local_server_url(parameters.load()) or DEFAULT_SERVER
    sh(["docker", "compose", "-f", COMPOSE_FILE, *ACTIONS[action]], compose_env(url))
    if action == "up":
        wait_ready(url, READY_TIMEOUT)
