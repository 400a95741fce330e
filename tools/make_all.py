"""`make all`: check params.yaml, look at this clone, decide the steps, run them.

* nothing is written or handed to DVC before params.yaml (with a WEIGHTS= or MODEL= value)
  passes every check: each value, the weights file, and every output folder DVC would
  replace (which must be empty, this project's own, or recorded in dvc.lock);
* a WEIGHTS= or MODEL= value is written into params.yaml first, so dvc.lock records what
  ran; a MODEL= whose package ships its ImageNet weights also sets `embed.weights:
  imagenet`, unless WEIGHTS= is given too;
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

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from similar import parameters
from similar.errors import UserError
from similar.search.receipt import check_receipt, read_receipt
from similar.search.store import store_for
from similar.settings import Settings
from similar.vectors.networks import LITE_NETWORKS
from tools.preflight import preflight, recorded
from tools.qdrant_server import db, local_server_url
from tools.shell import sh

# the stages that run without the image folder, in order
QUERY_SIDE = ("ingest", "bulk_query", "graph", "preview")
REPRO_INGEST = ["dvc", "repro", "--single-item", "--force", "ingest"]


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class Facts:
    """What `make all` needs to know about this clone before deciding."""

    uses_sample: bool
    sample_current: bool
    local_server: str  # qdrant.url when it names a server on this machine, else ""
    store: str  # "none" (nothing ingested yet), "ok", "reload", or "unknown" (server not up)
    images_present: bool
    fetches: bool = False  # data.fetch: the fetch stage brings the images
    images_recorded: bool = True  # dvc.lock records data.images (a clone that pulled)
    images: str = ""  # data.images, for the message when it is neither here nor recorded
    missing_inputs: tuple[tuple[str, str], ...] = ()  # (parameter, path) of absent inputs


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
        missing_inputs=missing_inputs(config, DEFAULT_OUT if sample else None),
    )


def missing_inputs(config: Settings, sample: Path | None) -> tuple[tuple[str, str], ...]:
    """The input parameters of dvc.yaml that name no file (beside the sample, which is built
    first when it is used)."""
    inputs = (("data.iiif_csv", config.data.iiif_csv), ("data.manifests", config.data.manifests))
    return tuple(
        (param, str(path))
        for param, path in inputs
        if not Path(path).is_file() and not (sample and Path(path).is_relative_to(sample))
    )


INPUT_FIXES = {
    "data.iiif_csv": "write the CSV of IIIF links (id,iiif_url), or, for a collection "
    "without IIIF, set data.iiif_csv: data/no-links.csv",
    "data.manifests": "create it (one manifest URL per line; it may be empty), or restore "
    "data/manifests.txt",
}


# ---------------------------------------------------------------- steps


class Step(Protocol):
    def run(self) -> None: ...


@dataclass(frozen=True)
class Say:
    """Print a line."""

    text: str

    def run(self) -> None:
        print(self.text, flush=True)


@dataclass(frozen=True)
class BuildSample:
    """Build the sample collection under data/sample."""

    def run(self) -> None:
        from tools.sample.__main__ import main as build_sample

        build_sample([])


@dataclass(frozen=True)
class StartServer:
    """Start the local Qdrant server and wait until it is ready."""

    url: str

    def run(self) -> None:
        db("up", self.url)


@dataclass(frozen=True)
class ReloadStore:
    """Load the vectors into the store again."""

    def run(self) -> None:
        sh(REPRO_INGEST)


@dataclass(frozen=True)
class CheckStore:
    """Reload the store if the (now running) server does not hold the receipt's vectors."""

    def run(self) -> None:
        if store_state(parameters.load()) == "reload":
            sh(REPRO_INGEST)


@dataclass(frozen=True)
class Repro:
    """`dvc repro`: every stage that is stale."""

    def run(self) -> None:
        sh(["dvc", "repro"])


@dataclass(frozen=True)
class QuerySide:
    """The stages that need no images, each where it is stale and has its inputs."""

    stages: tuple[str, ...] = QUERY_SIDE

    def run(self) -> None:
        for stage in self.stages:
            if stale_with_inputs(stage):
                sh(["dvc", "repro", "--single-item", "--force", stage])


def stale_with_inputs(stage: str) -> bool:
    out = subprocess.run(
        ["dvc", "status", "--json", stage], capture_output=True, text=True, check=True
    ).stdout
    entries = json.loads(out or "{}").get(stage, [])
    if not entries:
        return False
    deps = {path for e in entries if isinstance(e, dict) for path in e.get("changed deps", {})}
    return all(Path(p).exists() for p in deps)


def decide(f: Facts) -> list[Step]:
    """The steps of `make all`, in order, for these facts."""
    steps: list[Step] = []
    if f.uses_sample and not f.sample_current:
        steps.append(BuildSample())
    if not (f.images_present or f.uses_sample or f.fetches or f.images_recorded):
        raise UserError(
            f"{f.images}: image folder not found, and dvc.lock records no run on it; fix "
            "data.images in params.yaml (a clone without the images: `make pull-vectors`)"
        )
    if f.local_server:
        steps += [StartServer(f.local_server), CheckStore()]
    elif f.store == "reload":
        steps.append(ReloadStore())
    if f.images_present or f.uses_sample or f.fetches:
        if f.missing_inputs:  # `dvc repro` would blame the fetch stage
            param, path = f.missing_inputs[0]
            raise UserError(f"{path}: '{param}' names no file; {INPUT_FIXES[param]}")
        steps.append(Repro())
    else:
        # not a blanket `dvc repro --allow-missing`: verify and groups would then try to run
        # without the images they need
        steps.append(
            Say(
                "no images here (data.images): running only the stages that need "
                "none (ingest, bulk_query, graph, preview), where they are stale"
            )
        )
        steps.append(QuerySide())
    return steps


def execute(steps: list[Step]) -> None:
    for step in steps:
        step.run()


# ---------------------------------------------------------------- WEIGHTS= and MODEL=


def chosen_values(weights: str, model: str) -> dict:
    """{dotted key: value} that WEIGHTS= and MODEL= write: a model whose package ships its
    ImageNet weights comes with them, unless WEIGHTS= says otherwise."""
    values = {}
    if model:
        values["embed.model"] = model
    if weights:
        values["embed.weights"] = weights
    elif model in LITE_NETWORKS:
        values["embed.weights"] = "imagenet"
    return values


def kept_note(config: Settings, values: dict) -> str:
    """One line naming the embed.model and embed.weights this run keeps from params.yaml."""
    kept = [
        f"{key}={getattr(config.embed, key.split('.')[1])!r}"
        for key in ("embed.model", "embed.weights")
        if key not in values
    ]
    if not kept:
        return ""
    return (
        f"params.yaml: keeps {', '.join(kept)} (what MODEL= or WEIGHTS= set stays "
        "for later runs until one of them changes it)"
    )


def write_choices(weights: str, model: str) -> list[str]:
    """Write WEIGHTS= and MODEL= into params.yaml (after every check); returns the lines that
    say what was set and what stays."""
    values = chosen_values(weights, model)
    if not values:
        return []
    from tools.set_params import set_values

    changed = set_values(Path(parameters.PARAMS_FILE), values, check=preflight)
    lines = [f"params.yaml: set {', '.join(changed)}"] if changed else []
    if model in LITE_NETWORKS and not weights:
        lines.append(
            f"params.yaml: {model} ships its ImageNet weights, so embed.weights is imagenet "
            "(WEIGHTS=random with MODEL= keeps random ones)"
        )
    note = kept_note(parameters.load(), values)
    return lines + ([note] if note else [])


def make_all(weights: str, model: str = "") -> None:
    for line in write_choices(weights, model):
        print(line, flush=True)
    execute(decide(facts(preflight(parameters.load()))))
