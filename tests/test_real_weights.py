"""The packaged ImageNet weights are real: they name what scikit-image's photographs show."""

import numpy as np
import pytest
import torch
import torchvision
from conftest import real_photo

from similar.vectors.model import Embedder, ModelSpec

# what each photograph shows, as ImageNet class names; one of them must be in the top 5
EXPECTED = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"missile", "projectile", "space shuttle"},
}
CATEGORIES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.mark.parametrize(
    "model", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
)
def test_top5_names_what_the_photo_shows(model):
    emb = Embedder(ModelSpec(model, "imagenet"))
    pixels = torch.from_numpy(
        np.stack([np.asarray(real_photo(name, size=224)).transpose(2, 0, 1) for name in EXPECTED])
    )
    # the vector we store is exactly what the network's own classifier reads
    vectors = torch.from_numpy(emb.embed_pixels(pixels))
    with torch.no_grad():
        logits = emb.net._fc(vectors)
    for name, row in zip(EXPECTED, logits):
        top5 = {CATEGORIES[i] for i in row.topk(5).indices}
        assert top5 & EXPECTED[name], f"{model} on {name}: {sorted(top5)}"
