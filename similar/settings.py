"""Every parameter of params.yaml, declared once: frozen, typed settings, one dataclass a group.

Each field is declared with `param()`: its default, its bounds or choices, and one line that
says what it does. This module is the only place those live: the reference in
docs/parameters.md and the comments in params.yaml are generated from it
(`python -m tools.params_doc`), and a test keeps both current. `similar.parameters` reads
params.yaml into these declarations.

A leaf: it imports nothing of the library but `errors` (itself a leaf), so a change in any
other module never reruns every stage. It owns the names a choice may take where a registry
elsewhere implements them (`VERIFY_METHODS`, `MODEL_NAMES`, `SCHEDULER_KINDS`); a test
checks that each registry's keys equal them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import UserError, shown

AUTO = "auto"
Auto = Literal["auto"]

# verify.method: the verification registry's names (similar/verification/registry.py)
VERIFY_METHODS = ("sift", "none")

# embed.model: img2vec_pytorch's names and EfficientNet-Lite's (similar/vectors/networks.py)
MODEL_NAMES = (
    "resnet",
    *(f"resnet{n}" for n in (18, 34, 50, 101, 152)),
    "alexnet",
    "vgg",
    *(f"vgg{n}" for n in (11, 13, 16, 19)),
    "densenet",
    *(f"densenet{n}" for n in (121, 161, 169, 201)),
    *(f"efficientnet_b{n}" for n in range(8)),
    *(f"efficientnet_lite{n}" for n in range(3)),
)

# compute.scheduler's kinds: the compute registry's names (similar/compute.py)
SCHEDULER_KINDS = ("pool", "local", "cluster")
SCHEDULER_KEY = "compute.scheduler"


def param(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | None = None,
    kind: type | str | None = None,
    empty: bool = False,
    auto: bool = False,
    check: Callable[[str, Any], Any] | None = None,
    results: bool = True,
):
    """A field of a settings group. `kind` defaults to the default's type; `auto` also accepts
    the word auto (resolved later, by the code that knows the machine); `empty` lets a string
    or path be empty; `check(key, value)` may refuse or convert the value. `results=False`
    says where or how fast work runs, never what it writes: no stage reruns when it changes."""
    meta = {
        "results": results,
        "doc": doc,
        "lo": lo,
        "hi": hi,
        "choices": choices,
        "empty": empty,
        "auto": auto,
        "check": check,
        "kind": kind or ("path" if isinstance(default, Path) else type(default)),
    }
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------- checks of single values


@dataclass(frozen=True)
class StoreTarget:
    """Where the vectors live, from `qdrant.url`: the embedded Qdrant Edge (`edge`), a Qdrant
    server or cluster (`server`, an http(s) URL), or qdrant-client's local mode (`local`)."""

    kind: str
    url: str = ""
    location: str = ""  # local mode's folder

    @staticmethod
    def parse(url: str) -> StoreTarget:
        url = (url or "").strip()
        if not url:
            return StoreTarget("edge")
        if url.startswith("local:"):
            return StoreTarget("local", url, url[len("local:") :] or ".")
        if re.match(r"https?://[^/\s]+", url):
            return StoreTarget("server", url.rstrip("/"))
        raise UserError(
            f"params.yaml: 'qdrant.url' {shown(url)} must be empty (embedded Qdrant Edge), "
            "http(s)://host:port, or local:<dir>"
        )

    def describe(self, collection: str, edge_root: Path) -> str:
        if self.kind == "edge":
            return f"Qdrant Edge at {edge_root / collection}"
        return f"{self.url} ({collection})"


def _store_url(key: str, value: str) -> str:
    StoreTarget.parse(value)
    return value


def _collection_name(key: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise UserError(
            f"params.yaml: '{key}' {shown(value)} is not a valid collection name "
            "(letters, digits, _ . -)"
        )
    return value


def scheduler_kind(spec: str, key: str = SCHEDULER_KEY) -> tuple[str, str]:
    """(kind, its argument) of a scheduler's spelling: one of `SCHEDULER_KINDS`."""
    spec = (spec or "").strip()
    if not spec:
        return "pool", ""
    if spec.startswith("local:"):
        count = spec[len("local:") :]
        if not count.isdigit() or not 1 <= int(count) <= 1024:
            raise UserError(
                f"params.yaml: '{key}' {shown(spec)}: local:N needs a number of workers, "
                "e.g. local:4"
            )
        return "local", count
    if spec.startswith(("tcp://", "tls://")):
        check_address(spec, key)
        return "cluster", spec
    raise UserError(
        f"params.yaml: '{key}' {shown(spec)} must be empty (a process pool here), local:N (a "
        "Dask cluster of N workers here) or tcp://host:port (an existing Dask scheduler)"
    )


def check_address(spec: str, key: str = SCHEDULER_KEY) -> None:
    """A cluster address is tcp:// or tls:// then host:port, nothing else."""

    try:
        parts = urlsplit(spec)
        port = parts.port
    except ValueError:
        port = None
    rest = spec.split("://", 1)[1]
    if port is None or not parts.hostname or any(c.isspace() or c in "/?#@" for c in rest):
        raise UserError(
            f"params.yaml: '{key}' {shown(spec)} is not a scheduler's address: write it "
            "tcp://host:port, e.g. tcp://head:8786"
        )


def _scheduler(key: str, value: str) -> str:
    scheduler_kind(value, key)
    return value


def _model_name(key: str, value: str) -> str:
    if value not in MODEL_NAMES:
        raise UserError(
            f"params.yaml: '{key}' {shown(value)} is not a known model; "
            f"choose one of {', '.join(sorted(MODEL_NAMES))}"
        )
    return value


# ---------------------------------------------------------------- the groups


@dataclass(frozen=True)
class DataSettings:
    images: Path = param(
        Path("data/sample/images"), "the collection: a folder, searched recursively"
    )
    patterns: tuple = param(
        (
            *("*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.bmp", "*.gif", "*.webp"),
            *("*.jp2", "*.j2k", "*.ppm", "*.pgm", "*.pbm", "*.pnm"),
        ),
        "file name patterns of images (case-insensitive); one pattern may be a plain string",
        kind="patterns",
    )
    id_from: str = param(
        "stem",
        "image id: file name without extension, or path without it",
        choices=("stem", "relpath"),
    )
    iiif_csv: Path = param(Path("data/sample/iiif.csv"), "CSV of image id -> IIIF URL")
    fetch: bool = param(
        False,
        "bring the images from their IIIF links first (stage fetch; data.images must then be "
        "paths.fetched)",
    )
    manifests: Path = param(
        Path("data/manifests.txt"),
        "IIIF Presentation manifest or collection URLs (v2, v3), one per line, for fetch",
    )
    queries: Path = param(Path("data/sample/queries.txt"), "reference image ids, one per line")
    groups: Path = param(
        Path("data/sample/groups.csv"),
        "ground truth for the metrics: id,group or the preview's review marks",
    )


def _iiif_size(key: str, value: str) -> str:
    if not re.fullmatch(r"max|full|!\d+,\d+|\d+,|,\d+|\d+,\d+", value) or re.search(
        r"(^|[!,])0+(,|$)", value
    ):
        raise UserError(
            f"params.yaml: '{key}' {shown(value)} is not an IIIF size; use !w,h (fit inside), "
            "w,h, w, ,h, max or full"
        )
    return value


@dataclass(frozen=True)
class FetchSettings:
    size: str = param(
        "!1024,1024",
        "IIIF size asked for: !w,h w,h w, ,h max full (region kept); scaled here where the "
        "server cannot",
        check=_iiif_size,
    )
    concurrency: int = param(4, "requests in parallel per host", lo=1, hi=64)
    timeout: float = param(
        30.0, "seconds a request may take before it is retried", lo=0.1, hi=3600.0
    )
    retries: int = param(4, "tries after the first on a timeout, a 5xx or a 429", lo=0, hi=20)
    backoff: float = param(
        1.0,
        "seconds before the first retry, doubled each time (a longer Retry-After wins)",
        lo=0.0,
        hi=600.0,
    )


@dataclass(frozen=True)
class EmbedSettings:
    model: str = param(
        "efficientnet_b3",
        "an img2vec_pytorch model name, or efficientnet_lite0/1/2 (weights installed with them)",
        check=_model_name,
    )
    weights: str = param(
        "imagenet",
        "imagenet (downloaded once; for Lite, the file its package ships), random (seeded), "
        "or a state-dict file",
    )
    seed: int = param(0, "seed of the random weights", lo=0, hi=2**32 - 1)
    device: str = param(
        "auto", "where the model runs (auto: CUDA when present)", choices=("auto", "cpu", "cuda")
    )
    precision: str = param(
        "auto",
        "fp32, or bf16 autocast (auto: bf16 on a GPU, fp32 on the CPU)",
        choices=("auto", "fp32", "bf16"),
    )
    image_size: int = param(224, "images are resized to this square", lo=32, hi=2048)
    batch_size: int | Auto = param(
        "auto",
        "images per forward pass (auto: 256 on a GPU, 4 on the CPU)",
        lo=1,
        hi=4096,
        kind=int,
        auto=True,
    )
    num_workers: int | Auto = param(
        "auto",
        "decoding processes beside the model (auto: 2 on the CPU, all cores but two beside a GPU)",
        lo=0,
        hi=256,
        kind=int,
        auto=True,
        results=False,
    )
    draft: bool = param(True, "decode large JPEGs at reduced scale (never below image_size)")
    pictures: bool = param(
        True,
        "also embed the picture printed on a page of type on its own (found by the rows of "
        "type above and below it), so that the page finds the picture's other copies",
    )
    max_pixels: int = param(
        178956970, "larger images are skipped as decompression bombs", lo=1, hi=2**40
    )
    decoder: str = param(
        "auto",
        "JPEG decoding: pil (in the workers) or nvjpeg (batched on the GPU; auto: pil)",
        choices=("auto", "pil", "nvjpeg"),
    )


@dataclass(frozen=True)
class ReduceSettings:
    n_components: int = param(
        256, "PCA dimensions; at most min(images, model dimension)", lo=1, hi=8192
    )
    whiten: bool = param(False, "PCA whitening")
    seed: int = param(0, "seed of the sample for knn_preservation@10", lo=0, hi=2**32 - 1)


@dataclass(frozen=True)
class AttachIiifSettings:
    id_column: str = param("id", "image id column of the IIIF CSV")
    url_column: str = param("iiif_url", "URL column of the IIIF CSV")
    on_missing: str = param(
        "warn", "images without a row in the IIIF CSV: warn or stop", choices=("warn", "error")
    )


@dataclass(frozen=True)
class QdrantSettings:
    url: str = param(
        "",
        "empty: embedded Qdrant Edge; http(s)://host:port: a server; local:<dir>",
        empty=True,
        check=_store_url,
    )
    collection: str = param("onit", "collection name", check=_collection_name)
    batch_size: int = param(512, "points per upsert call", lo=1, hi=100000)
    distance: str = param(
        "cosine",
        "cosine, or dot (suits unit-length or whitened vectors)",
        choices=("cosine", "dot"),
    )
    hnsw_above: int = param(
        1000000, "build the HNSW index from this many points; below, exact search", lo=0, hi=2**40
    )
    hnsw_m: int = param(16, "HNSW graph: edges per node", lo=2, hi=256)
    hnsw_ef_construct: int = param(100, "HNSW graph: candidates while building", lo=4, hi=10000)
    on_disk: bool = param(False, "keep vectors on disk (memory-mapped) instead of in RAM")
    shard_number: int = param(1, "server or cluster: shards of the collection", lo=1, hi=1000)
    replication_factor: int = param(1, "server or cluster: copies of each shard", lo=1, hi=100)
    lock_timeout: float = param(
        10.0,
        "seconds to wait for another process holding the embedded store",
        lo=0.0,
        hi=86400.0,
        results=False,
    )

    @property
    def target(self) -> StoreTarget:
        return StoreTarget.parse(self.url)


@dataclass(frozen=True)
class BulkQuerySettings:
    references: str = param(
        "file", "file: the ids in data.queries; all: every image", choices=("file", "all")
    )
    limit: int = param(50, "neighbours per reference", lo=1, hi=10000)
    batch_size: int = param(64, "references per search call", lo=1, hi=100000)
    exact: bool | Auto = param(
        "auto",
        "auto: HNSW when ingest built the index, else exact",
        choices=("auto", True, False),
        kind="choice",
    )
    hnsw_ef: int = param(
        128, "HNSW search breadth (higher: better recall, slower)", lo=1, hi=100000
    )
    engine: str = param(
        "product",
        "exact search: product (of the references and the vectors) or "
        "store (ask Qdrant); HNSW always asks Qdrant",
        choices=("product", "store"),
    )


@dataclass(frozen=True)
class GraphSettings:
    k: int = param(20, "neighbours of every image in the kNN graph", lo=1, hi=1000)
    device: str = param(
        "auto", "where the products run (auto: CUDA when present)", choices=("auto", "cpu", "cuda")
    )
    engine: str = param(
        "auto",
        "faiss (CPU heaps over symmetric blocks) or torch (topk per block); "
        "auto: torch on a GPU, else faiss",
        choices=("auto", "faiss", "torch"),
    )
    block: int = param(
        4096, "rows per block of the product (memory grows with block x N)", lo=64, hi=65536
    )
    method: str = param(
        "auto",
        "exact (every pair of images compared: quadratic) or approximate (faiss IVF: only "
        "the images of the nearest lists; recall measured in docs/performance.md); "
        "auto: approximate from graph.approximate_from images on",
        choices=("auto", "exact", "approximate"),
    )
    approximate_from: int = param(
        250000,
        "with graph.method auto, collections of this many images or more get the "
        "approximate graph (0: never)",
        lo=0,
        hi=10**12,
    )
    probes: int = param(
        8,
        "approximate graph: k-means lists searched per image, of about 4 sqrt(N) "
        "(higher: better recall, slower)",
        lo=1,
        hi=1000000,
    )


@dataclass(frozen=True)
class VerifySettings:
    method: str = param(
        "sift",
        "sift: verify by local features and RANSAC; none: pass the CNN ranking through",
        choices=VERIFY_METHODS,
    )
    top: int = param(
        100,
        "candidates verified per reference (past bulk_query.limit: more from the exact product)",
        lo=1,
        hi=10000,
    )
    max_side: int = param(
        512, "images are described at most this many pixels wide or high", lo=64, hi=4096
    )
    features: int = param(1000, "strongest SIFT keypoints kept per image", lo=16, hi=20000)
    enlarge_to: int = param(
        0,
        "a picture whose longer side is under this many pixels (a small icon, a flag, a "
        "thumbnail) is enlarged to it before it is described, for more keypoints; 0: never",
        lo=0,
        hi=4096,
    )
    ratio: float = param(
        0.8, "Lowe's ratio test: best match closer than this share of the second", lo=0.1, hi=1.0
    )
    min_inliers: int = param(
        15, "RANSAC inliers a copy needs at least (the copy inlier floor)", lo=3, hi=10000
    )
    min_small_inliers: int = param(
        5,
        "inliers enough for a copy when the image with fewer keypoints has few (a small icon, "
        "a flag): at least this many and min_inlier_share of its keypoints, never more than "
        "min_inliers, and pictures that agree in 75% of their cells and keep their colours; "
        "0: min_inliers for every pair",
        lo=0,
        hi=10000,
    )
    min_inlier_share: float = param(
        0.3,
        "with min_small_inliers: the share of the fewer keypoints that a copy needs as inliers",
        lo=0.0,
        hi=1.0,
    )
    min_part_inliers: int = param(
        15,
        "RANSAC inliers a pair that is not a copy needs to be reported as sharing a part; "
        "fewer: no finding",
        lo=3,
        hi=10000,
    )
    min_agreement: float = param(
        0.6,
        "a verified pair is a copy when its aligned pictures agree in at least this share of "
        "their overlap; below, it only shares a part (a border, a typeface, a figure)",
        lo=0.0,
        hi=1.0,
    )
    min_overlap: float = param(
        0.85,
        "and when their overlap holds at least this share of one of the two pictures; below, "
        "it only shares a part (two crops of one scene, two tiles of one texture)",
        lo=0.0,
        hi=1.0,
    )
    max_difference: float = param(
        0.0,
        "and when at most this share of their overlap's drawn cells holds strokes that the "
        "other picture lacks (a different card, letter or pictogram in one frame)",
        lo=0.0,
        hi=1.0,
    )
    mirror: bool = param(True, "also try the mirrored image (reversed copies)")
    transform: str = param(
        "affine",
        "what RANSAC fits: similarity (crop, scale, rotation), affine (also a change of "
        "aspect: stretched, re-engraved) or homography (also photographed at an angle)",
        choices=("similarity", "affine", "homography"),
    )
    prefilter: int = param(
        6,
        "a pair is checked only with this many ratio-test matches among the strongest 256 "
        "keypoints, either orientation (0: check every pair)",
        lo=0,
        hi=256,
    )
    products: str = param(
        "auto",
        "engine of the descriptor products: torch (its int8 product, the fastest; each process "
        "checking pairs imports torch), numpy (float32); both give the same matches; auto: "
        "torch where it is installed",
        choices=("auto", "numpy", "torch"),
    )
    workers: int | Auto = param(
        "auto",
        "processes checking pairs on the default scheduler (auto: by the work, up to one a core)",
        lo=1,
        hi=256,
        kind=int,
        auto=True,
        results=False,
    )


@dataclass(frozen=True)
class GroupsSettings:
    k: int = param(
        20,
        "candidate edges: each image's first k graph neighbours (at most graph.k)",
        lo=1,
        hi=1000,
    )
    min_score: float = param(
        -1.0,
        "candidate edges: at least this score (-1: every one of the k, whatever the sign of "
        "a centred cosine)",
        lo=-1.0,
        hi=1.0,
    )
    mutual: bool = param(False, "candidate edges: only pairs in each other's lists")
    verify: bool = param(
        True, "keep a candidate edge only when the verifier confirms it (verify.* as in verify)"
    )
    join: str = param(
        "two",
        "two: two groups join only when two verified copy pairs link them (one for two lone "
        "images), an image joins a group with two, or with one where it is a copy of "
        "nothing outside the group, and a group of crops joins, on one pair, the group whose "
        "picture they lie in where they lie in nothing else; one: connected components (one "
        "pair chains)",
        choices=("two", "one"),
    )
    apart: str = param(
        "parts",
        "which images whose own checked pair only shares a part never share a group: parts, "
        "those that draw different things where they overlap while a third picture is a "
        "copy of a part of each (a crop of the figure two queens of one deck share); all, every "
        "such pair; none, no pair (a group its checks contradict stays whole and lists the "
        "pair among its shared parts)",
        choices=("parts", "all", "none"),
    )


@dataclass(frozen=True)
class ComputeSettings:
    scheduler: str = param(
        "",
        'where per-image and per-pair work runs: "" a process pool here, local:N a Dask '
        "cluster of N workers here, tcp://host:8786 an existing Dask cluster",
        empty=True,
        check=_scheduler,
        results=False,
    )


@dataclass(frozen=True)
class PreviewSettings:
    thumbnails: str = param(
        "local",
        "local: small JPEGs made here; iiif: from the IIIF server",
        choices=("local", "iiif"),
    )
    thumb_size: int = param(160, "longest side of thumbnails, pixels", lo=16, hi=2048)
    per_page: int = param(25, "references per HTML page", lo=1, hi=10000)
    min_score: float = param(-1.0, "hide neighbours scoring below this", lo=-1.0, hi=1.0)
    unverified: int = param(
        3,
        "the lists show every checked pair and this many unverified neighbours; the rest fold away",
        lo=0,
        hi=10000,
    )
    unsure_inliers: int = param(
        12, "a checked pair with at most this many inliers is flagged unsure", lo=0, hi=100000
    )
    years: Path | None = param(
        None,
        'optional CSV book,year (book: an image folder) dating the groups\' books ("" none)',
        empty=True,
        kind="path",
    )


def _base_url(key: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UserError(
            f"params.yaml: '{key}' {value!r} must be an http(s) URL such as "
            "http://127.0.0.1:8642/iiif (no query, no fragment)"
        )
    return value.rstrip("/")


@dataclass(frozen=True)
class PublishSettings:
    base_url: str = param(
        "http://127.0.0.1:8642/iiif",
        "where data/iiif will be served: every id of the published IIIF is under it (make view "
        "serves the default)",
        check=_base_url,
    )
    viewer_url: str = param(
        "http://127.0.0.1:8642/mirador.html",
        "the Mirador page that the preview's per-group links open (with iiif-content=)",
        check=_base_url,
    )
    label: str = param("Reused illustrations", "the label of the published Collection")
    paint: str = param(
        "iiif",
        "iiif: paint each canvas from the image's IIIF link where it has one (the region it "
        "names); files: always from the image files (links that do not resolve, as the "
        "sample's)",
        choices=("iiif", "files"),
    )


@dataclass(frozen=True)
class PathSettings:
    fetched: Path = param(
        Path("data/fetched"), "fetch: the images, their iiif.csv and failed.csv (data.fetch)"
    )
    fetch_cache: Path | None = param(
        Path(".cache/fetch"),
        'downloaded images and manifests by URL and size ("" disables)',
        empty=True,
    )
    embeddings: Path = param(Path("data/embeddings/vectors.npy"), "embed: N x D float32 vectors")
    image_index: Path = param(
        Path("data/embeddings/images.csv"), "embed: id, path, width, height, sha256"
    )
    failed: Path = param(Path("data/embeddings/failed.csv"), "embed: images that could not be read")
    pictures: Path = param(
        Path("data/embeddings/pictures.npz"),
        "embed: pictures found on pages of type (page id, box, vector)",
    )
    embed_identity: Path = param(
        Path("data/embeddings/identity.json"),
        "embed: what made the vectors (make search must match it)",
    )
    embed_cache: Path | None = param(
        Path(".cache/embed"), 'per-image vector cache outside DVC ("" disables)', empty=True
    )
    embed_metrics: Path = param(Path("metrics/embed.json"), "embed metrics")
    reduced: Path = param(Path("data/reduced/vectors.npy"), "reduce: N x k vectors")
    pca: Path = param(Path("data/reduced/pca.npz"), "reduce: the PCA model")
    reduced_pictures: Path = param(
        Path("data/reduced/pictures.npz"), "reduce: the pictures found on pages, projected"
    )
    reduce_metrics: Path = param(Path("metrics/reduce.json"), "reduce metrics")
    variance_plot: Path = param(Path("plots/explained_variance.csv"), "reduce plot")
    vectors: Path = param(
        Path("data/vectors/vectors.jsonl"), "attach_iiif: id, url, vector per line"
    )
    attach_metrics: Path = param(Path("metrics/attach_iiif.json"), "attach_iiif metrics")
    store: Path = param(Path("data/qdrant"), "the embedded store's folder")
    receipt: Path = param(Path("data/ingest/receipt.json"), "ingest: what was loaded")
    ingest_metrics: Path = param(Path("metrics/ingest.json"), "ingest metrics")
    neighbours: Path = param(
        Path("data/neighbours/neighbours.json"), "bulk_query: the neighbour lists"
    )
    query_metrics: Path = param(Path("metrics/bulk_query.json"), "bulk_query metrics")
    scores_plot: Path = param(Path("plots/scores.csv"), "bulk_query plot")
    recall_plot: Path = param(Path("plots/recall.csv"), "bulk_query plot")
    graph: Path = param(Path("data/graph/knn.npz"), "graph: ids, neighbours, scores of every image")
    graph_metrics: Path = param(Path("metrics/graph.json"), "graph metrics")
    feature_cache: Path | None = param(
        Path(".cache/features"), 'per-image local features outside DVC ("" disables)', empty=True
    )
    verified: Path = param(
        Path("data/verified/neighbours.json"), "verify: re-ranked neighbour lists"
    )
    matches: Path = param(
        Path("data/verified/matches.json"), "verify: matched points of verified pairs"
    )
    verify_metrics: Path = param(Path("metrics/verify.json"), "verify metrics")
    groups_csv: Path = param(Path("data/groups/groups.csv"), "groups: id,group of grouped images")
    groups_json: Path = param(Path("data/groups/groups.json"), "groups: members and verified edges")
    group_points: Path = param(
        Path("data/groups/points.json"), "groups: matched points of the pairs groups.json lists"
    )
    groups_metrics: Path = param(Path("metrics/groups.json"), "groups metrics")
    groups_plot: Path = param(
        Path("plots/groups_threshold.csv"), "groups plot: precision and recall against min_score"
    )
    preview: Path = param(Path("data/preview"), "preview: the HTML pages")
    iiif: Path = param(
        Path("data/iiif"), "publish: the IIIF Collection, Manifests, annotations and pairs.csv"
    )
    reports: Path = param(Path("reports"), "timings and reports (not DVC metrics)")


@dataclass(frozen=True)
class Settings:
    data: DataSettings
    fetch: FetchSettings
    embed: EmbedSettings
    reduce: ReduceSettings
    attach_iiif: AttachIiifSettings
    qdrant: QdrantSettings
    bulk_query: BulkQuerySettings
    graph: GraphSettings
    verify: VerifySettings
    groups: GroupsSettings
    compute: ComputeSettings
    preview: PreviewSettings
    publish: PublishSettings
    paths: PathSettings
    source: str = "params.yaml"


# the parameter groups in params.yaml order, from the fields of Settings
GROUPS: dict[str, type] = {
    f.name: globals()[f.type] for f in dataclasses.fields(Settings) if f.name != "source"
}
