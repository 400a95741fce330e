"""Batched JPEG decoding on the model's device (nvjpeg on a GPU), for `embed.decoder: nvjpeg`.

Only what nvjpeg decodes exactly as a viewer shows it goes this way: baseline (not
progressive) three-channel JPEGs with no EXIF rotation, within `embed.max_pixels`. Every
other file (PNG, TIFF, CMYK or greyscale JPEG, progressive, rotated, broken) is decoded by
Pillow in the workers as usual. The same code runs on the CPU, which is how it is tested.
"""

from __future__ import annotations

import io
import warnings

import torch
from PIL import Image

from .images import ORIENTATION_TAG, too_large


def _header(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(data))


def gpu_decodable(data: bytes, max_pixels: int) -> bool:
    """Whether the device decoder gives exactly the image a viewer shows (header read only)."""
    if data[:2] != b"\xff\xd8":
        return False
    try:
        with _header(data) as img:
            if (
                img.format != "JPEG"
                or img.mode != "RGB"
                or img.info.get("progressive")
                or img.info.get("progression")
                or too_large(img.size, max_pixels)
            ):
                return False
            return img.getexif().get(ORIENTATION_TAG, 1) == 1
    except Exception:  # anything Pillow cannot even read the header of: Pillow reports it
        return False


def size_of(data: bytes) -> tuple[int, int]:
    with _header(data) as img:
        return img.size


def decode_resize(
    files: list[torch.Tensor], image_size: int, device: torch.device | str
) -> torch.Tensor:
    """uint8 pixels (N x 3 x S x S) on `device` from raw JPEG files (1-D uint8 tensors):
    decoded in one batched call, then resized with antialiasing, as Pillow's bilinear does."""
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    decoded = decode_jpeg(files, mode=ImageReadMode.RGB, device=device)
    out = torch.empty((len(files), 3, image_size, image_size), dtype=torch.uint8, device=device)
    for i, img in enumerate(decoded):
        resized = torch.nn.functional.interpolate(
            img[None].to(torch.float32),
            size=(image_size, image_size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        out[i] = resized[0].round_().clamp_(0, 255).to(torch.uint8)
    return out
