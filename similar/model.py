"""The image model: img2vec_pytorch's networks and extraction layers, our weights and pooling.

We build the same torchvision network and hook the same layer img2vec_pytorch uses for
each model name, but load the weights ourselves (ImageNet from the torch cache, a local
state-dict file, or seeded random weights) and always average the layer's output over
its whole feature map. img2vec's single-image path returns only the top-left cell of
EfficientNet's map; this module is where that is fixed for every model.

Images arrive as uint8 pixels (N x 3 x S x S) and are scaled and normalised on the model's
device, in float32 exactly as img2vec's preprocessing does, so a batch crosses to the GPU
as a quarter of the bytes and the CPU does no float work per image.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from .errors import UserError
from .networks import NETWORKS

# bump when the pixels given to the model change: it invalidates the embed cache
PREPROCESS_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

LAYERS = {
    "avgpool": lambda m: m.avgpool,
    "classifier": lambda m: m.classifier[-2],
    "densenet": lambda m: m.features[-1],
    "features": lambda m: m.features,
}


@dataclass(frozen=True)
class ModelSpec:
    name: str = "efficientnet_b3"
    weights: str = "imagenet"  # imagenet | random | path to a state-dict file
    seed: int = 0
    image_size: int = 224

    def builder(self) -> str:
        if self.name not in NETWORKS:
            raise UserError(
                f"params.yaml: 'embed.model' {self.name!r} is not an img2vec model; "
                f"choose one of {', '.join(sorted(NETWORKS))}"
            )
        return NETWORKS[self.name][0]

    @property
    def dim(self) -> int:
        self.builder()
        return NETWORKS[self.name][2]


def imagenet_weights_file(builder: str) -> Path:
    """Where torch keeps the downloaded ImageNet weights for a torchvision builder."""
    url = torchvision.models.get_model_weights(builder).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def weights_identity(spec: ModelSpec) -> str:
    """A string that changes whenever the weights would: part of every vector's identity."""
    if spec.weights == "random":
        return f"random:{spec.seed}"
    if spec.weights == "imagenet":
        return f"imagenet:{imagenet_weights_file(spec.builder()).name}"
    from .files import sha256_file

    return f"file:{sha256_file(_weights_path(spec.weights))}"


def _weights_path(value: str) -> Path:
    p = Path(value).expanduser()
    if not p.is_file():
        raise UserError(
            f"params.yaml: 'embed.weights' {value!r} is neither imagenet, random, "
            "nor an existing state-dict file"
        )
    return p


def _imagenet_state(builder: str) -> dict:
    weights = torchvision.models.get_model_weights(builder).DEFAULT
    target = imagenet_weights_file(builder)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        # torch announces the download on stdout; held back so a failure prints one line only
        notice = io.StringIO()
        with contextlib.redirect_stdout(notice):
            state = torch.hub.load_state_dict_from_url(
                weights.url, progress=False, check_hash=True, weights_only=True
            )
        if notice.getvalue():
            print(f"embed: downloaded ImageNet weights to {target}", file=sys.stderr)
        return state
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise UserError(
            f"cannot get the ImageNet weights for {builder} ({exc.__class__.__name__}); "
            f"put the file {target.name} (from {weights.url}) at {target}, or set embed.weights "
            "to a local state-dict path, or run offline with embed.weights: random "
            "(make all WEIGHTS=random)"
        ) from None
    finally:
        socket.setdefaulttimeout(old_timeout)


def _file_state(value: str) -> dict:
    p = _weights_path(value)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"{p}: cannot load as a state dict with weights_only=True "
            f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{p}: expected a state dict (a mapping of tensor names to tensors)")
    return state


def build_network(spec: ModelSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The torchvision network with its weights loaded, in eval mode, and its extraction layer."""
    builder = spec.builder()
    torch.manual_seed(spec.seed)
    net = torchvision.models.get_model(builder, weights=None)
    if spec.weights == "imagenet":
        state = _imagenet_state(builder)
    elif spec.weights == "random":
        state = None
    else:
        state = _file_state(spec.weights)
    if state is not None:
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise UserError(
                f"embed.weights {spec.weights!r} does not fit model {spec.name}: "
                f"{str(exc).splitlines()[1].strip()[:200]}"
            ) from None
    net.eval()
    return net, LAYERS[NETWORKS[spec.name][1]](net)


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_device(value: str) -> torch.device:
    if value == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if value == "cuda" and not cuda_available():
        raise UserError(
            "params.yaml: 'embed.device' is cuda but no CUDA device is available; use auto or cpu"
        )
    return torch.device(value)


def to_pixels(img: Image.Image, image_size: int) -> np.ndarray:
    """img2vec's resize: RGB to an image_size square, as uint8 channels-first (3 x S x S)."""
    resized = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1))


def normalise_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to img2vec's input: scaled to [0,1], ImageNet-normalised, float32, on
    the pixels' device. The same float32 operations, in the same order, as img2vec."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.to(torch.float32) / 255.0 - mean) / std


def preprocess(img: Image.Image, image_size: int) -> torch.Tensor:
    """One image as the model's float input (3 x S x S): what a batch of its pixels becomes."""
    return normalise_pixels(torch.from_numpy(to_pixels(img, image_size))[None])[0]


class Embedder:
    """Turns batches of images into mean-pooled feature vectors.

    With `batch_size`, every forward pass has exactly that many images (a short batch is
    padded): kernels differ by batch shape, so a vector's bits must not depend on which
    other images shared its batch. The network's first pass happens on the first real
    batch: no test pass, and exactly one shape to warm up.
    """

    def __init__(
        self,
        spec: ModelSpec,
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int | None = None,
    ):
        self.spec = spec
        self.device = resolve_device(device)
        self.precision = precision
        self.batch_size = batch_size
        self.dim = spec.dim
        net, layer = build_network(spec)
        self.net = net.to(self.device).to(memory_format=torch.channels_last)
        self._captured: list[torch.Tensor] = []
        layer.register_forward_hook(lambda _m, _i, out: self._captured.append(out))

    def embed_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Vectors of uint8 pixels (N x 3 x S x S); the transfer overlaps earlier GPU work."""
        if pixels.device != self.device:
            pixels = pixels.to(self.device, non_blocking=True)
        return self(normalise_pixels(pixels))

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        """Vectors of a float batch as `preprocess` makes it (N x 3 x S x S)."""
        n = batch.shape[0]
        batch = batch.to(self.device)
        if self.batch_size and n < self.batch_size:
            pad = torch.zeros(
                (self.batch_size - n, *batch.shape[1:]), dtype=batch.dtype, device=batch.device
            )
            batch = torch.cat([batch, pad])
        batch = batch.contiguous(memory_format=torch.channels_last)
        self._captured.clear()
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
                    self.net(batch)
            else:
                self.net(batch)
            out = self._captured[-1].float()
            # pooled over the whole padded batch, then cut: the kernels see one shape only
            pooled = (out.mean(dim=(2, 3)) if out.ndim == 4 else out.flatten(1))[:n]
        return pooled.cpu().numpy().astype(np.float32, copy=False)
