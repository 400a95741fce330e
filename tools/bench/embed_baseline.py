"""The approach `make bench` compares the embed stage against: the original research loop.

One PIL image at a time through `Img2Vec.get_vec`, exactly as the original scripts did,
with the weights loaded from a local file instead of downloaded. Besides what the loop
returned (img2vec 1.0.2's top-left cell of EfficientNet's map), the same forward pass
also yields the mean-pooled reference vector, used to check our vectors' accuracy.

    python -m tools.bench.embed_baseline IMAGES WEIGHTS MODEL OUT.npz [--device cuda] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torchvision
from img2vec_pytorch.img_to_vec import Img2Vec
from PIL import Image
from torchvision.transforms import v2

from similar.vectors.model import LAYERS
from similar.vectors.networks import NETWORKS


def img2vec_with_weights(model: str, weights_file: str, device: str = "cpu") -> Img2Vec:
    """An Img2Vec as its __init__ builds it, but with weights from a file (no download)."""
    builder, layer, _ = NETWORKS[model]
    net = torchvision.models.get_model(builder, weights=None)
    net.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    i2v = Img2Vec.__new__(Img2Vec)
    i2v.device = torch.device(device)
    i2v.model_name = model
    i2v.layer_output_size = {
        **Img2Vec.EFFICIENTNET_OUTPUT_SIZES,
        **Img2Vec.RESNET_OUTPUT_SIZES,
        **Img2Vec.DENSENET_OUTPUT_SIZE,
    }[model]
    i2v.model = net.to(i2v.device).eval()
    i2v.extraction_layer = LAYERS[layer](i2v.model)
    i2v.transforms = v2.Compose(
        [
            v2.ToImage(),
            v2.ToDtype(torch.float, scale=True),
            v2.Resize((224, 224)),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    return i2v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images")
    ap.add_argument("weights")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    i2v = img2vec_with_weights(args.model, args.weights, args.device)
    maps = []
    i2v.extraction_layer.register_forward_hook(lambda _m, _i, o: maps.append(o.detach()))
    files = sorted(Path(args.images).glob("*.jpg"))
    files = files[: args.limit] if args.limit else files
    returned, reference = [], []
    for f in files:
        img = Image.open(f).convert("RGB")
        returned.append(np.asarray(i2v.get_vec(img), dtype=np.float32).ravel())
        reference.append(maps.pop().mean(dim=(2, 3))[0].float().cpu().numpy())
    np.savez(args.out, returned=np.stack(returned), reference=np.stack(reference))


if __name__ == "__main__":
    main()
