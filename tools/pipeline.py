"""What `make all` (and the Qdrant-server and pull targets) decide, in one tested module.

    python -m tools.pipeline all [--weights W] [--model M]   # the whole pipeline
    python -m tools.pipeline pull-vectors         # pull only what the query side needs
    python -m tools.pipeline db up|down|status|logs [--url URL]

`make all` first checks params.yaml (`preflight`), then looks at this clone (`facts`), then
decides what to run (`decide`), then runs it (`execute`):
* nothing is written or handed to DVC before params.yaml (with a WEIGHTS= or MODEL= value) passes
  every check: each value, the weights file, and every output folder DVC would replace
  (which must be empty, this project's own, or recorded in dvc.lock);
* a WEIGHTS= or MODEL= value is written into params.yaml first, so dvc.lock records what ran;
* the sample collection is built when `data.images` points into it and it is not current;
* a Qdrant server that `qdrant.url` places on this machine is started (`db up`);
* a store that no longer holds what the ingest receipt records (a fresh clone, `make clean`,
  a wiped server, another revision's vectors) is reloaded; a store held by another process
  is reported and nothing runs;
* with the image folder here (or `data.fetch`, which brings it), `dvc repro`; without it,
  in a clone whose dvc.lock records that folder (one that pulled the vectors), only the
  stages that need no images, each where it is stale and has its inputs: never embed,
  verify or groups. An image folder that is neither here nor recorded (a misspelt
  `data.images`) is an error.
Every expected failure is one line and exit status 2 (`similar.errors`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from similar import parameters
from similar.errors import UserError, run
from similar.files import check_replaceable, read_text
from similar.receipt import check_receipt, read_receipt
from similar.settings import Settings
from similar.store import store_for

COMPOSE_FILE = "database/docker-compose.yml"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_SERVER = "http://127.0.0.1:6333"
READY_TIMEOUT = 90
# the stages that run without the image folder, in order
QUERY_SIDE = ("ingest", "bulk_query", "graph", "preview")
# what `make pull-vectors` fetches: the vectors the store is loaded from, what bulk_query
# multiplies, the PCA model and embedding identity that `make search` needs, the image index
QUERY_SIDE_OUTPUTS = ("vectors", "reduced", "pca", "image_index", "embed_identity")
DVC_FILE = Path("dvc.yaml")
LOCK_FILE = Path("dvc.lock")
BUILT_IN_WEIGHTS = ("imagenet", "random")


# ---------------------------------------------------------------- checks before anything runs


def _yaml_file(path: Path) -> dict:
    try:
        return yaml.safe_load(read_text(path)) or {} if path.is_file() else {}
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML; restore it (git checkout {path})") from None


def dvc_outputs(config: Settings) -> list[tuple[str, str]]:
    """(parameter, path) of every stage's outs in dvc.yaml, `${group.key}` taken from `config`."""
    outs = []
    for stage in (_yaml_file(DVC_FILE).get("stages") or {}).values():
        for out in stage.get("outs") or []:
            name = next(iter(out)) if isinstance(out, dict) else str(out)
            if name.startswith("${") and name.endswith("}"):
                group, _, key = name[2:-1].partition(".")
                value = getattr(getattr(config, group, None), key, None)
                if value is not None:
                    outs.append((name[2:-1], str(value)))
            else:
                outs.append((name, name))
    return outs


def recorded(kind: str, path: str) -> bool:
    """Whether dvc.lock records `path` among some stage's `kind` ("outs" or "deps")."""
    wanted = os.path.normpath(path)
    for stage in (_yaml_file(LOCK_FILE).get("stages") or {}).values():
        for entry in stage.get(kind) or []:
            if os.path.normpath(str(entry.get("path", ""))) == wanted:
                return True
    return False


def preflight(config: Settings) -> Settings:
    """Refuse, in one line, what a stage would refuse only after DVC removed its old outputs."""
    weights = config.embed.weights
    if weights not in BUILT_IN_WEIGHTS and not Path(weights).expanduser().is_file():
        raise UserError(
            f"params.yaml: 'embed.weights' {weights!r} is neither imagenet, random, "
            "nor an existing state-dict file"
        )
    for param, out in dvc_outputs(config):
        if Path(out).is_dir() and not recorded("outs", out):  # DVC would delete it first
            check_replaceable(out, param)
    return config


# ---------------------------------------------------------------- facts and decisions


@dataclass(frozen=True)
class Facts:
    """What `make all` needs to know about this clone before deciding."""

    uses_sample: bool
    sample_current: bool
    local_server: str  # qdrant.url when it names a server on this machine, else ""
    store: str  # "none" (nothing ingested yet), "ok", or "reload"
    images_present: bool
    fetches: bool = False  # data.fetch: the fetch stage brings the images
    images_recorded: bool = True  # dvc.lock records data.images (a clone that pulled)
    images: str = ""  # data.images, for the message when it is neither here nor recorded


def local_server_url(config: Settings) -> str:
    t = config.qdrant.target
    return t.url if t.kind == "server" and urlsplit(t.url).hostname in LOCAL_HOSTS else ""


def store_state(config: Settings) -> str:
    """Whether the store holds what the receipt records. A busy store is an error (StoreBusy),
    never a reason to reload."""
    if not config.paths.receipt.is_file() or not config.paths.vectors.is_file():
        return "none"
    receipt = read_receipt(config.paths)
    with store_for(config, receipt["collection"]) as store:
        try:
            check_receipt(receipt, store)
        except UserError as exc:
            if type(exc) is not UserError:  # StoreBusy and the like: not a mismatch
                raise
            print(
                f"the vector store does not hold what the ingest receipt records ({exc}): "
                "reloading it"
            )
            return "reload"
    return "ok"


def facts(config: Settings, server_state=store_state) -> Facts:
    from tools.sample import DEFAULT_OUT, is_current, uses_sample

    sample = uses_sample(config.data.images, DEFAULT_OUT)
    server = local_server_url(config)
    return Facts(
        uses_sample=sample,
        sample_current=sample and is_current(DEFAULT_OUT),
        local_server=server,
        # a local server must be up before its collection can be checked
        store="unknown" if server else server_state(config),
        images_present=Path(config.data.images).is_dir(),
        images_recorded=recorded("deps", str(config.data.images)),
        images=str(config.data.images),
        fetches=config.data.fetch,
    )


def decide(f: Facts) -> list[tuple]:
    """The steps of `make all`, in order, for these facts."""
    steps: list[tuple] = []
    if f.uses_sample and not f.sample_current:
        steps.append(("sample",))
    if not (f.images_present or f.uses_sample or f.fetches or f.images_recorded):
        raise UserError(
            f"{f.images}: image folder not found, and dvc.lock records no run on it; fix "
            "data.images in params.yaml (a clone without the images: `make pull-vectors`)"
        )
    if f.local_server:
        steps.append(("db_up", f.local_server))
        steps.append(("check_store",))
    elif f.store == "reload":
        steps.append(("reload_store",))
    if f.images_present or f.uses_sample or f.fetches:
        steps.append(("dvc", "repro"))
    else:
        # not a blanket `dvc repro --allow-missing`: verify and groups would then try to run
        # without the images they need
        steps.append(
            (
                "say",
                "no images here (data.images): running only the stages that need "
                "none (ingest, bulk_query, graph, preview), where they are stale",
            )
        )
        steps.append(("query_side",))
    return steps


# ---------------------------------------------------------------- running the steps


def sh(args: list[str], env: dict | None = None) -> None:
    print("+ " + " ".join(args), flush=True)
    proc = subprocess.run(args, env=env)
    if proc.returncode:
        raise SystemExit(proc.returncode)


def stale_with_inputs(stage: str) -> bool:
    out = subprocess.run(
        ["dvc", "status", "--json", stage], capture_output=True, text=True, check=True
    ).stdout
    entries = json.loads(out or "{}").get(stage, [])
    if not entries:
        return False
    deps = {path for e in entries if isinstance(e, dict) for path in e.get("changed deps", {})}
    return all(Path(p).exists() for p in deps)


def execute(steps: list[tuple]) -> None:
    for step in steps:
        kind = step[0]
        if kind == "say":
            print(step[1], flush=True)
        elif kind == "sample":
            from tools.sample import main as build_sample

            build_sample([])
        elif kind == "db_up":
            db("up", step[1])
        elif kind == "check_store":
            if store_state(parameters.load()) == "reload":
                sh(["dvc", "repro", "--single-item", "--force", "ingest"])
        elif kind == "reload_store":
            sh(["dvc", "repro", "--single-item", "--force", "ingest"])
        elif kind == "dvc":
            sh(list(step))
        elif kind == "query_side":
            for stage in QUERY_SIDE:
                if stale_with_inputs(stage):
                    sh(["dvc", "repro", "--single-item", "--force", stage])
        else:
            raise ValueError(step)


def make_all(weights: str, model: str = "") -> None:
    values = {key: v for key, v in (("embed.model", model), ("embed.weights", weights)) if v}
    if values:
        from tools.set_params import set_values

        changed = set_values(Path(parameters.PARAMS_FILE), values, check=preflight)
        if changed:
            print(f"params.yaml: set {', '.join(changed)}")
    execute(decide(facts(preflight(parameters.load()))))


# ---------------------------------------------------------------- the Qdrant server


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
    if not docker_available():
        raise UserError(
            f"db-{action}: no Docker engine is running on this machine (docker info "
            "failed); start Docker, or keep qdrant.url empty to use the embedded store"
        )
    if not url:
        url = local_server_url(parameters.load()) or DEFAULT_SERVER
    compose = ["docker", "compose", "-f", COMPOSE_FILE]
    env = compose_env(url)
    if action == "up":
        sh([*compose, "up", "-d"], env)
        wait_ready(url, READY_TIMEOUT)
    elif action == "down":
        sh([*compose, "down"], env)
    elif action == "status":
        sh([*compose, "ps"], env)
    elif action == "logs":
        sh([*compose, "logs", "--tail", "200", "qdrant"], env)


def pull_vectors() -> None:
    config = parameters.load()
    sh(["dvc", "pull", *(str(getattr(config.paths, key)) for key in QUERY_SIDE_OUTPUTS)])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("all")
    a.add_argument("--weights", default="")
    a.add_argument("--model", default="")
    sub.add_parser("pull-vectors")
    d = sub.add_parser("db")
    d.add_argument("action", choices=["up", "down", "status", "logs"])
    d.add_argument("--url", default="")
    args = ap.parse_args(argv)
    if args.command == "all":
        make_all(args.weights.strip(), args.model.strip())
    elif args.command == "pull-vectors":
        pull_vectors()
    else:
        db(args.action, args.url.strip())


if __name__ == "__main__":
    run(main)
