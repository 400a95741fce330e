"""The model: img2vec's networks and layers, our weights loading, and whole-map mean pooling."""

import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from conftest import real_photo
from img2vec_pytorch.img_to_vec import Img2Vec

from similar.errors import UserError
from similar.vectors.model import (
    UNIT_NORMALISATION,
    Embedder,
    ModelSpec,
    build_network,
    normalise_pixels,
    preprocess,
    weights_identity,
)


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def batch_of(n=2, size=64):
    return torch.stack(
        [preprocess(real_photo(name, size=None), size) for name in ("astronaut", "coffee")[:n]]
    )


def test_vectors_are_mean_over_whole_feature_map():
    spec = ModelSpec("efficientnet_b0", "random", seed=3, image_size=64)
    emb = Embedder(spec)
    x = batch_of()
    reference = torchvision.models.efficientnet_b0(weights=None)
    reference.load_state_dict(emb.net.state_dict())
    reference.eval()
    with torch.no_grad():
        fmap = reference.features(x)
    assert fmap.shape[2:] == (2, 2)  # a real map, not 1x1: pooling matters
    expected = fmap.mean(dim=(2, 3)).numpy()
    got = emb(x)
    # random-weight features are ~1e-15: compare directions, never magnitudes
    assert cosines(got, expected).min() > 0.99999
    corner = fmap[:, :, 0, 0].numpy()  # what img2vec 1.0.2's single-image path returned
    assert cosines(got, corner).max() < 0.99


def test_same_vectors_as_img2vec_batch_path_with_same_weights():
    spec = ModelSpec("efficientnet_b0", "random", seed=1, image_size=224)
    emb = Embedder(spec)
    i2v = Img2Vec.__new__(Img2Vec)  # skip __init__: it would download weights
    i2v.device, i2v.model_name, i2v.layer_output_size = torch.device("cpu"), "efficientnet_b0", 1280
    i2v.model, i2v.extraction_layer = build_network(spec)
    from torchvision.transforms import v2

    i2v.transforms = v2.Compose(
        [
            v2.ToImage(),
            v2.ToDtype(torch.float, scale=True),
            v2.Resize((224, 224)),
            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    imgs = [real_photo("astronaut", size=None), real_photo("coffee", size=None)]
    theirs = i2v.get_vec(imgs)
    ours = emb(torch.stack([preprocess(im, 224) for im in imgs]))
    assert cosines(ours, theirs).min() > 0.99  # differences: PIL vs tensor resize only


@pytest.mark.parametrize(
    "name,dim", [("efficientnet_b0", 1280), ("resnet18", 512), ("resnet", 512)]
)
def test_dimension_follows_model(name, dim):
    expected = {**Img2Vec.EFFICIENTNET_OUTPUT_SIZES, **Img2Vec.RESNET_OUTPUT_SIZES, "resnet": 512}[
        name
    ]
    assert Embedder(ModelSpec(name, "random", image_size=64)).dim == expected == dim


def test_random_weights_are_seeded():
    a = Embedder(ModelSpec("efficientnet_b0", "random", seed=5, image_size=64))(batch_of())
    b = Embedder(ModelSpec("efficientnet_b0", "random", seed=5, image_size=64))(batch_of())
    c = Embedder(ModelSpec("efficientnet_b0", "random", seed=6, image_size=64))(batch_of())
    np.testing.assert_array_equal(a, b)
    assert cosines(a, c).max() < 0.99


def test_weights_file_loads_through_the_same_path(tmp_path):
    net, _ = build_network(ModelSpec("efficientnet_b0", "random", seed=9))
    f = tmp_path / "w.pth"
    torch.save(net.state_dict(), f)
    from_file = Embedder(ModelSpec("efficientnet_b0", str(f), seed=0, image_size=64))(batch_of())
    seeded = Embedder(ModelSpec("efficientnet_b0", "random", seed=9, image_size=64))(batch_of())
    np.testing.assert_array_equal(from_file, seeded)
    assert weights_identity(ModelSpec("efficientnet_b0", str(f))).startswith("file:")


def test_weights_file_errors(tmp_path):
    with pytest.raises(UserError, match="neither imagenet, random, nor an existing"):
        build_network(ModelSpec("efficientnet_b0", str(tmp_path / "missing.pth")))
    other, _ = build_network(ModelSpec("resnet18", "random"))
    torch.save(other.state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(UserError, match="does not fit embed.model efficientnet_b0"):
        build_network(ModelSpec("efficientnet_b0", str(tmp_path / "resnet.pth")))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(UserError, match="weights_only=True"):
        build_network(ModelSpec("efficientnet_b0", str(tmp_path / "evil.pth")))


def test_unknown_model_is_user_error():
    with pytest.raises(UserError, match="not a known model"):
        build_network(ModelSpec("vit_b_16", "random"))


def test_imagenet_unavailable_names_file_and_ways_out(monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserError) as err:
        build_network(ModelSpec("efficientnet_b3", "imagenet"))
    msg = str(err.value)
    assert "efficientnet_b3_rwightman" in msg and ".pth" in msg
    assert "embed.weights: random" in msg and "local state-dict path" in msg
    assert "MODEL=efficientnet_lite0" in msg  # real weights that need no network come first


# ---------------------------------------------------------------- EfficientNet-Lite


def lite_pixels(size=64):
    photos = [real_photo(name, size=size) for name in ("astronaut", "coffee")]
    return torch.from_numpy(np.stack([np.asarray(p).transpose(2, 0, 1) for p in photos]))


def test_lite_vectors_are_mean_of_its_last_feature_map_in_unit_scale():
    emb = Embedder(ModelSpec("efficientnet_lite0", "random", seed=2, image_size=64))
    pixels = lite_pixels()
    x = (pixels.float() - 127.0) / 128.0  # TF-Lite's [-1, 1]
    assert torch.equal(normalise_pixels(pixels, UNIT_NORMALISATION), x)
    with torch.no_grad():
        fmap = emb.net.extract_features(x)
    assert fmap.shape[1:] == (1280, 2, 2)
    got = emb.embed_pixels(pixels)
    assert got.shape == (2, 1280) and emb.dim == 1280
    np.testing.assert_allclose(got, fmap.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)


def test_lite_imagenet_weights_come_from_the_package_never_the_network(monkeypatch, tmp_path):
    def no_download(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = ModelSpec("efficientnet_lite0", "imagenet", image_size=64)
    emb = Embedder(spec)
    assert not (tmp_path / "torch").exists()
    assert weights_identity(spec) == "imagenet:efficientnet-lite0-57934424.pth"
    random = Embedder(ModelSpec("efficientnet_lite0", "random", image_size=64))
    assert cosines(emb.embed_pixels(lite_pixels()), random.embed_pixels(lite_pixels())).max() < 0.9


def test_lite_random_is_seeded_and_a_file_loads_like_the_package(tmp_path):
    a = Embedder(ModelSpec("efficientnet_lite0", "random", seed=4, image_size=64))
    b = Embedder(ModelSpec("efficientnet_lite0", "random", seed=4, image_size=64))
    np.testing.assert_array_equal(a.embed_pixels(lite_pixels()), b.embed_pixels(lite_pixels()))
    net, _ = build_network(ModelSpec("efficientnet_lite0", "imagenet"))
    f = tmp_path / "lite0.pth"
    torch.save(net.state_dict(), f)
    from_file = Embedder(ModelSpec("efficientnet_lite0", str(f), image_size=64))
    packaged = Embedder(ModelSpec("efficientnet_lite0", "imagenet", image_size=64))
    np.testing.assert_array_equal(
        from_file.embed_pixels(lite_pixels()), packaged.embed_pixels(lite_pixels())
    )
    assert weights_identity(from_file.spec).startswith("file:")


@pytest.mark.parametrize(
    "saved,loaded",
    [
        ("efficientnet_lite0", "efficientnet_b3"),
        ("efficientnet_b3", "efficientnet_lite0"),
        ("efficientnet_lite0", "efficientnet_lite1"),
    ],
)
def test_weights_of_another_model_are_one_line_naming_file_and_model(tmp_path, saved, loaded):
    net, _ = build_network(ModelSpec(saved, "random"))
    f = tmp_path / f"{saved}.pth"
    torch.save(net.state_dict(), f)
    with pytest.raises(UserError) as err:
        build_network(ModelSpec(loaded, str(f)))
    msg = str(err.value)
    assert len(msg.splitlines()) == 1 and len(msg) < 400
    assert str(f) in msg and f"embed.model {loaded}" in msg
