"""The image model: img2vec_pytorch's networks and extraction layers, our weights and pooling.

We build the same torchvision network and hook the same layer img2vec_pytorch uses for
each model name, but load the weights ourselves (ImageNet from the torch cache, a local
state-dict file, or seeded random weights) and always average the layer's output over
its whole feature map. img2vec's single-image path returns only the top-left cell of
EfficientNet's map; this module is where that is fixed for every model.
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
from typing import Callable

import numpy as np
import torch
import torchvision
from PIL import Image

from .config import UserError

# bump when preprocess() changes what it produces: it invalidates the embed cache
PREPROCESS_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _avgpool(m):
    return m.avgpool


def _classifier(m):
    return m.classifier[-2]


def _densenet(m):
    return m.features[-1]


def _efficientnet(m):
    return m.features


# img2vec_pytorch model name -> (torchvision builder, img2vec's default extraction layer)
MODELS: dict[str, tuple[str, Callable]] = {
    "resnet": ("resnet18", _avgpool),
    **{f"resnet{n}": (f"resnet{n}", _avgpool) for n in (18, 34, 50, 101, 152)},
    "alexnet": ("alexnet", _classifier),
    "vgg": ("vgg11_bn", _classifier),
    **{f"vgg{n}": (f"vgg{n}_bn", _classifier) for n in (11, 13, 16, 19)},
    "densenet": ("densenet121", _densenet),
    **{f"densenet{n}": (f"densenet{n}", _densenet) for n in (121, 161, 169, 201)},
    **{f"efficientnet_b{n}": (f"efficientnet_b{n}", _efficientnet) for n in range(8)},
}

@dataclass(frozen=True)
class ModelSpec:
    name: str = "efficientnet_b3"
    weights: str = "imagenet"  # imagenet | random | path to a state-dict file
    seed: int = 0
    image_size: int = 224

    def builder(self) -> str:
        if self.name not in MODELS:
            raise UserError(f"params.yaml: 'embed.model' {self.name!r} is not an img2vec model; "
                            f"choose one of {', '.join(sorted(MODELS))}")
        return MODELS[self.name][0]


def imagenet_weights_file(builder: str) -> Path:
    """Where torch keeps the downloaded ImageNet weights for a torchvision builder."""
    url = torchvision.models.get_model_weights(builder).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def weights_identity(spec: ModelSpec) -> str:
    """A string that changes whenever the weights would: part of every cache key."""
    if spec.weights == "random":
        return f"random:{spec.seed}"
    if spec.weights == "imagenet":
        return f"imagenet:{imagenet_weights_file(spec.builder()).name}"
    from .files import sha256_file
    return f"file:{sha256_file(_weights_path(spec.weights))}"


def _weights_path(value: str) -> Path:
    p = Path(value).expanduser()
    if not p.is_file():
        raise UserError(f"params.yaml: 'embed.weights' {value!r} is neither imagenet, random, "
                        "nor an existing state-dict file")
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
                weights.url, progress=False, check_hash=True, weights_only=True)
        if notice.getvalue():
            print(f"embed: downloaded ImageNet weights to {target}", file=sys.stderr)
        return state
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise UserError(
            f"cannot get the ImageNet weights for {builder} ({exc.__class__.__name__}); "
            f"put the file {target.name} (from {weights.url}) at {target}, or set embed.weights "
            "to a local state-dict path, or run offline with embed.weights: random "
            "(make all WEIGHTS=random)") from None
    finally:
        socket.setdefaulttimeout(old_timeout)


def _file_state(value: str) -> dict:
    p = _weights_path(value)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{p}: cannot load as a state dict with weights_only=True "
                        f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
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
            raise UserError(f"embed.weights {spec.weights!r} does not fit model {spec.name}: "
                            f"{str(exc).splitlines()[1].strip()[:200]}") from None
    net.eval()
    return net, MODELS[spec.name][1](net)


def resolve_device(value: str) -> torch.device:
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cuda" and not torch.cuda.is_available():
        raise UserError("params.yaml: 'embed.device' is cuda but no CUDA device is available; "
                        "use auto or cpu")
    return torch.device(value)


def preprocess(img: Image.Image, image_size: int) -> torch.Tensor:
    """img2vec's preprocessing: RGB resized to a square, scaled to [0,1], ImageNet-normalised."""
    resized = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    arr = np.asarray(resized, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class Embedder:
    """Turns a batch of preprocessed images into mean-pooled feature vectors."""

    def __init__(self, spec: ModelSpec, device: str = "cpu", precision: str = "fp32"):
        self.spec = spec
        self.device = resolve_device(device)
        self.precision = precision
        net, layer = build_network(spec)
        self.net = net.to(self.device).to(memory_format=torch.channels_last)
        self._captured: list[torch.Tensor] = []
        layer.register_forward_hook(lambda _m, _i, out: self._captured.append(out))
        self.dim = self(torch.zeros(1, 3, spec.image_size, spec.image_size)).shape[1]

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        self._captured.clear()
        with torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
                    self.net(batch)
            else:
                self.net(batch)
            out = self._captured[-1].float()
            pooled = out.mean(dim=(2, 3)) if out.ndim == 4 else out.flatten(1)
        return pooled.cpu().numpy().astype(np.float32, copy=False)
