"""The img2vec_pytorch model names: which torchvision network each builds, which layer it
reads, and how long the vector is. Plain data, so settings can check a name without torch."""

from __future__ import annotations

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
MODEL_NAMES = tuple(NETWORKS)
