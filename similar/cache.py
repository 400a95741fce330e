"""Content-addressed caches of per-image results, outside DVC's outputs.

An entry is kept under the SHA-256 of the image file's bytes, in a folder named by a hash
of every setting that changes the result (for vectors: model, weights, preprocessing,
precision, device, batch shape, torch version; for local features: the detector and its
limits). Adding images, or resuming a killed run, therefore computes only what is missing,
and a changed setting never reads another setting's results. Each entry is written
atomically (a temporary file renamed into place), so a killed run loses at most the entry it
was writing, and many processes or cluster workers may fill one cache at once. Each entry
ends with a checksum of its payload: a damaged entry is computed again, with a warning
naming it, never read as a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import UserError
from .files import write_entry

HEADER = np.dtype("<u4")  # vector entries: width, height, then the float32 vector
ENTRY_FORMAT = 2  # 2: every entry ends with CHECKSUM_BYTES of blake2b over its payload
CHECKSUM_BYTES = 8


def canonical(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def settings_key(settings: dict | str) -> str:
    """The folder name of a cache's settings (a dict, or its `canonical` text)."""
    blob = settings if isinstance(settings, str) else canonical(settings)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=CHECKSUM_BYTES).digest()


class ContentCache:
    """Bytes per content hash, in one folder per settings; `root=None` keeps nothing."""

    suffix = ".bin"

    def __init__(self, root: str | os.PathLike | None, settings: dict | str):
        plain = json.loads(settings) if isinstance(settings, str) else settings
        settings = {**plain, "entry_format": ENTRY_FORMAT}
        self.folder = Path(root) / settings_key(settings) if root else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            about = self.folder / "settings.json"
            if not about.exists():
                write_entry(about, (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode())

    def check_writable(self, parameter: str) -> None:
        """A UserError naming the folder when entries cannot be written there (read-only
        mount, wrong owner): checked once, before any worker starts."""
        if self.folder is None:
            return
        try:
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".probe-", suffix=".tmp")
            os.close(fd)
            os.remove(probe)
        except OSError as exc:
            raise UserError(
                f"{self.folder}: the cache folder is not writable ({exc.strerror}); fix its "
                f'mode, or point {parameter} at a writable folder ("" disables the cache)'
            ) from None

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def get_bytes(self, key: str) -> bytes | None:
        """The payload stored under `key`; None when absent or damaged (then warned)."""
        if self.folder is None:
            return None
        try:
            raw = self._file(key).read_bytes()
        except FileNotFoundError:
            return None
        payload, tail = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
        if len(raw) < CHECKSUM_BYTES or checksum(payload) != tail:
            self.damaged(key, "its checksum does not match")
            return None
        return payload

    def damaged(self, key: str, why: str) -> None:
        from .errors import warn

        warn(f"cache entry {self._file(key)} is damaged ({why}); computing it again")

    def put_bytes(self, key: str, payload: bytes) -> None:
        if self.folder is None:
            return
        target = self._file(key)
        target.parent.mkdir(exist_ok=True)
        write_entry(target, payload + checksum(payload))


class EmbedCache(ContentCache):
    """One image's vector and its displayed size."""

    suffix = ".vec"

    def __init__(self, root: str | os.PathLike | None, settings: dict, dim: int):
        super().__init__(root, settings)
        self.dim = dim

    def get(self, key: str) -> tuple[np.ndarray, tuple[int, int]] | None:
        raw = self.get_bytes(key)
        if raw is None:
            return None
        if len(raw) != 8 + 4 * self.dim:
            self.damaged(key, f"{len(raw)} bytes, not {8 + 4 * self.dim}")
            return None
        w, h = np.frombuffer(raw[:8], dtype=HEADER)
        vector = np.frombuffer(raw[8:], dtype="<f4").copy()
        if not np.isfinite(vector).all():
            self.damaged(key, "a NaN or infinite value")
            return None
        return vector, (int(w), int(h))

    def put(self, key: str, vector: np.ndarray, size: tuple[int, int]) -> None:
        self.put_bytes(
            key, np.asarray(size, dtype=HEADER).tobytes() + np.asarray(vector, "<f4").tobytes()
        )
