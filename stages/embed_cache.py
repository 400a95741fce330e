"""The per-image vector cache that makes `embed` incremental and resumable.

A vector is kept under the SHA-256 of the image file's bytes, in a folder named by a hash
of everything else that changes the vector's bits: model, weights, preprocessing,
precision, device type, batch size (the convolution kernels differ by batch shape) and
the torch version. The cache lives outside DVC's outputs (default `.cache/embed/`), so a
rerun keeps it; each entry is written atomically, so a killed run loses only its last batch.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

HEADER = np.dtype("<u4")  # width, height, then the float32 vector


def settings_key(settings: dict) -> str:
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class EmbedCache:
    def __init__(self, root: str | os.PathLike | None, settings: dict, dim: int):
        self.dim = dim
        self.folder = Path(root) / settings_key(settings) if root else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            about = self.folder / "settings.json"
            if not about.exists():
                about.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")

    def _file(self, content_hash: str) -> Path:
        return self.folder / content_hash[:2] / f"{content_hash}.vec"

    def get(self, content_hash: str) -> tuple[np.ndarray, tuple[int, int]] | None:
        if self.folder is None:
            return None
        try:
            raw = self._file(content_hash).read_bytes()
        except FileNotFoundError:
            return None
        if len(raw) != 8 + 4 * self.dim:  # torn or foreign entry: recompute
            return None
        w, h = np.frombuffer(raw[:8], dtype=HEADER)
        return np.frombuffer(raw[8:], dtype="<f4").copy(), (int(w), int(h))

    def put(self, content_hash: str, vector: np.ndarray, size: tuple[int, int]) -> None:
        if self.folder is None:
            return
        target = self._file(content_hash)
        target.parent.mkdir(exist_ok=True)
        payload = np.asarray(size, dtype=HEADER).tobytes() + np.asarray(vector, "<f4").tobytes()
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, target)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
