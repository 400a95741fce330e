"""Embedding at the speed of the device, tested on the CPU: compact uint8 batches, device-aware
defaults, no wasted start-up, and the batched JPEG decoder's CPU twin with its fallbacks."""

import io

import numpy as np
import pytest
import torch
from conftest import real_photo
from PIL import Image

from similar import parameters, settings
from similar.vectors import embedding, jpeg
from similar.vectors.images import ImageEntry
from similar.vectors.model import IMAGENET_MEAN, IMAGENET_STD, normalise_pixels, to_pixels


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_device_normalisation_is_bit_identical_to_img2vecs_float_preprocessing():
    img = real_photo("astronaut", size=None)
    resized = img.resize((64, 64), Image.Resampling.BILINEAR)
    arr = np.asarray(resized, dtype=np.float32) / 255.0  # the previous CPU-side preprocessing
    arr = (arr - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    expected = arr.transpose(2, 0, 1)
    got = normalise_pixels(torch.from_numpy(to_pixels(img, 64))[None])[0].numpy()
    np.testing.assert_array_equal(got, expected)


def plan(**embed):
    base = {
        "model": "efficientnet_b0",
        "weights": "random",
        "image_size": 64,
        "batch_size": 4,
        "num_workers": 0,
    }
    return embedding.plan(parameters.from_mapping({"embed": {**base, **embed}}).embed)


def test_auto_takes_todays_defaults_on_the_cpu():
    p = embedding.plan(parameters.defaults().embed)
    assert (p.device, p.batch_size, p.precision, p.num_workers, p.decoder) == (
        "cpu",
        4,
        "fp32",
        2,
        "pil",
    )


def test_auto_takes_the_gpu_defaults_where_cuda_is(monkeypatch):
    monkeypatch.setattr("similar.vectors.model.cuda_available", lambda: True)
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(16)))
    p = embedding.plan(parameters.defaults().embed)
    assert (p.device, p.batch_size, p.precision, p.num_workers) == ("cuda", 256, "bf16", 14)
    p = embedding.plan(
        parameters.from_mapping({"embed": {"batch_size": 64, "precision": "fp32"}}).embed
    )
    assert (p.batch_size, p.precision) == (64, "fp32")  # what params say wins


def test_identity_records_what_ran():
    ident = embedding.identity(plan())
    assert ident["device"] == "cpu" and ident["batch_size"] == 4 and ident["decoder"] == "pil"
    assert ident["weights_id"] == "random:0" and ident["torch"] == torch.__version__


def test_nvjpeg_needs_cuda():
    with pytest.raises(settings.UserError, match="nvjpeg needs a CUDA device"):
        plan(decoder="nvjpeg")


def test_the_model_is_not_run_before_the_first_batch():
    p = plan()
    embedder = embedding.make_embedder(p)
    calls = []
    embedder.net.register_forward_hook(lambda *a: calls.append(1))
    assert embedder.dim == 1280 and calls == []
    out = embedder.embed_pixels(torch.zeros((3, 3, 64, 64), dtype=torch.uint8))
    assert out.shape == (3, 1280) and calls == [1]


def entries_of(folder, names):
    return [ImageEntry(n.split(".")[0], n, folder / n) for n in names]


def test_workers_hand_over_one_uint8_tensor_per_batch(tmp_path):
    names = []
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket", "camera"]):
        real_photo(name, size=80).save(tmp_path / f"{i}.jpg")
        names.append(f"{i}.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    names.insert(2, "bad.jpg")
    p = plan()
    dataset = embedding.DecodedBatches(
        entries_of(tmp_path, names), p, embedding.Caches.of(None, p, 1280)
    )
    assert len(dataset) == 2
    first = dataset[0]
    assert first.pixels.dtype == torch.uint8 and first.pixels.shape == (3, 3, 64, 64)
    assert first.order == [0, 1, 3] and first.items[2].reason.startswith("cannot decode")
    assert dataset[1].pixels.shape == (2, 3, 64, 64)


def test_the_model_sees_a_halftone_descreened_and_any_other_picture_as_it_is(tmp_path):
    from similar.vectors.screen import descreened_for_embedding
    from tools import devset

    photo = real_photo("astronaut", size=None).convert("RGB").resize((480, 480))
    devset.halftone(photo, 5).save(tmp_path / "screened.png")
    photo.save(tmp_path / "photo.png")
    p = plan()
    names = ["screened.png", "photo.png"]
    batch = embedding.DecodedBatches(
        entries_of(tmp_path, names), p, embedding.Caches.of(None, p, 1280)
    )[0]
    for name, pixels in zip(names, batch.pixels.numpy()):
        with Image.open(tmp_path / name) as img:
            decoded = img.convert("RGB")
        smooth = descreened_for_embedding(decoded)
        assert (smooth is decoded) == (name == "photo.png")
        np.testing.assert_array_equal(pixels, to_pixels(smooth, p.spec.image_size))


def jpeg_bytes(img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def test_which_files_the_device_decoder_takes(tmp_path):
    photo = real_photo("astronaut", size=120)
    rotated = Image.Exif()
    rotated[0x0112] = 6
    big = 10**9
    assert jpeg.gpu_decodable(jpeg_bytes(photo), big)
    assert not jpeg.gpu_decodable(jpeg_bytes(photo, progressive=True), big)
    assert not jpeg.gpu_decodable(jpeg_bytes(photo.convert("CMYK")), big)
    assert not jpeg.gpu_decodable(jpeg_bytes(photo.convert("L")), big)
    assert not jpeg.gpu_decodable(jpeg_bytes(photo, exif=rotated.tobytes()), big)
    assert not jpeg.gpu_decodable(jpeg_bytes(photo), 100)  # over max_pixels: Pillow reports it
    png = io.BytesIO()
    photo.save(png, "PNG")
    assert not jpeg.gpu_decodable(png.getvalue(), big)
    assert not jpeg.gpu_decodable(b"\xff\xd8 broken", big)


def test_batched_decode_matches_pillow_closely():
    photo = real_photo("chelsea", size=None)
    data = jpeg_bytes(photo, quality=95)
    files = [torch.frombuffer(bytearray(data), dtype=torch.uint8)] * 2
    got = jpeg.decode_resize(files, 64, "cpu")
    assert got.shape == (2, 3, 64, 64) and got.dtype == torch.uint8
    pil = to_pixels(Image.open(io.BytesIO(data)).convert("RGB"), 64)
    assert np.abs(got[0].numpy().astype(int) - pil.astype(int)).mean() < 3


def test_a_mixed_folder_through_the_device_decoder_path(tmp_path):
    """The nvjpeg path run on the CPU: decodable JPEGs go to the batched decoder, everything
    else to Pillow, and every vector lands at its own image, close to the Pillow path's."""
    rotated = Image.Exif()
    rotated[0x0112] = 6
    files = {
        "a_baseline.jpg": jpeg_bytes(real_photo("astronaut", size=120), quality=95),
        "b_progressive.jpg": jpeg_bytes(real_photo("coffee", size=120), progressive=True),
        "c_cmyk.jpg": jpeg_bytes(real_photo("rocket", size=120).convert("CMYK")),
        "d_rotated.jpg": jpeg_bytes(real_photo("chelsea", size=120), exif=rotated.tobytes()),
        "e_broken.jpg": b"\xff\xd8\xff garbage",
        "f_baseline.jpg": jpeg_bytes(real_photo("camera", size=120), quality=95),
    }
    names = sorted(files)
    for n in names:
        (tmp_path / n).write_bytes(files[n])
    entries = entries_of(tmp_path, names)
    pil_plan = plan(batch_size=4)
    gpu_twin = embedding.EmbedPlan(**{**pil_plan.__dict__, "decoder": "nvjpeg"})
    embedder = embedding.make_embedder(pil_plan)

    def run(p):
        items = [
            it
            for b in embedding.embedded_batches(
                entries, p, embedder, embedding.Caches.of(None, p, 1280)
            )
            for it in b
        ]
        return {entries[it.index].relpath: it for it in items}

    pil, twin = run(pil_plan), run(gpu_twin)
    assert twin["e_broken.jpg"].reason and twin["e_broken.jpg"].vector is None
    for n in ("b_progressive.jpg", "c_cmyk.jpg", "d_rotated.jpg"):  # Pillow, as before
        np.testing.assert_array_equal(twin[n].vector, pil[n].vector)
        assert twin[n].size == pil[n].size
    for n in ("a_baseline.jpg", "f_baseline.jpg"):  # decoded in one batch on the device
        assert cosines(twin[n].vector[None], pil[n].vector[None])[0] > 0.99
        assert twin[n].size == (120, 120)
    others = [
        cosines(twin["a_baseline.jpg"].vector[None], pil[n].vector[None])[0]
        for n in ("b_progressive.jpg", "f_baseline.jpg")
    ]
    assert (
        max(others)
        < cosines(twin["a_baseline.jpg"].vector[None], pil["a_baseline.jpg"].vector[None])[0]
    )


def test_a_picture_on_a_page_gets_the_vector_of_the_picture_alone_and_is_cached(tmp_path):
    """The page's picture is embedded as the same pixels saved on their own would be (one
    pass of the batch's shape); a second run takes box and vector from the cache."""
    from similar.vectors import pages
    from tools import devset

    photos = {name: real_photo(name, size=120).convert("RGB") for name in ("coffee", "rocket")}
    page = devset.pasted(real_photo("astronaut", size=300).convert("RGB"), seed=2)
    page.save(tmp_path / "page.png")
    box = pages.picture_box(page)
    page.crop(box).save(tmp_path / "alone.png")
    for name, img in photos.items():
        img.save(tmp_path / f"{name}.png")
    names = ["coffee.png", "page.png", "rocket.png", "alone.png"]
    p = plan()
    embedder = embedding.make_embedder(p)

    def run(caches, workers=0):
        batches = embedding.embedded_batches(
            entries_of(tmp_path, names), p, embedder, caches, num_workers=workers
        )
        return [item for batch in batches for item in batch]

    caches = embedding.Caches.of(tmp_path / "cache", p, 1280)
    first = run(caches)
    assert [item.box for item in first] == [None, box, None, None]
    assert first[1].picture.tobytes() == first[3].vector.tobytes()
    again = run(embedding.Caches.of(tmp_path / "cache", p, 1280), workers=1)
    assert not any(item.fresh or item.searched for item in again)
    assert again[1].box == box and again[1].picture.tobytes() == first[1].picture.tobytes()
    p = plan(pictures=False)
    assert all(item.box is None for item in run(embedding.Caches.of(None, p, 1280)))
