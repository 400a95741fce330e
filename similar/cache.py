"""Content-addressed caches of per-image results, outside DVC's outputs.

An entry is kept under the SHA-256 of the image file's bytes, in a folder named by a hash
of every setting that changes the result (for vectors: model, weights, preprocessing,
precision, device, batch shape, torch version; for local features: the detector and its
limits). Adding images, or resuming a killed run, therefore computes only what is missing,
and a changed setting never reads another setting's results. Each entry is written
atomically, so a killed run loses at most the entry it was writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

HEADER = np.dtype("<u4")  # vector entries: width, height, then the float32 vector


def canonical(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def settings_key(settings: dict | str) -> str:
    """The folder name of a cache's settings (a dict, or its `canonical` text)."""
    blob = settings if isinstance(settings, str) else canonical(settings)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ContentCache:
    """Bytes per content hash, in one folder per settings; `root=None` keeps nothing."""

    suffix = ".bin"

    def __init__(self, root: str | os.PathLike | None, settings: dict | str):
        self.folder = Path(root) / settings_key(settings) if root else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            about = self.folder / "settings.json"
            if not about.exists():
                plain = json.loads(settings) if isinstance(settings, str) else settings
                about.write_text(json.dumps(plain, indent=2, sort_keys=True) + "\n")

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def get_bytes(self, key: str) -> bytes | None:
        if self.folder is None:
            return None
        try:
            return self._file(key).read_bytes()
        except FileNotFoundError:
            return None

    def put_bytes(self, key: str, payload: bytes) -> None:
        if self.folder is None:
            return
        target = self._file(key)
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, target)


class EmbedCache(ContentCache):
    """One image's vector and its displayed size."""

    suffix = ".vec"

    def __init__(self, root: str | os.PathLike | None, settings: dict, dim: int):
        super().__init__(root, settings)
        self.dim = dim

    def get(self, key: str) -> tuple[np.ndarray, tuple[int, int]] | None:
        raw = self.get_bytes(key)
        if raw is None or len(raw) != 8 + 4 * self.dim:  # torn or foreign entry: recompute
            return None
        w, h = np.frombuffer(raw[:8], dtype=HEADER)
        return np.frombuffer(raw[8:], dtype="<f4").copy(), (int(w), int(h))

    def put(self, key: str, vector: np.ndarray, size: tuple[int, int]) -> None:
        self.put_bytes(
            key, np.asarray(size, dtype=HEADER).tobytes() + np.asarray(vector, "<f4").tobytes()
        )
