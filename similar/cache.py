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

A shared filesystem handles a million small files worst, so entries do not stay one file
each: at the end of a stage, `pack()` moves the loose entries of each of the 256 shards
(the key's first two hex digits) into one pack file, a run of entries followed by a sorted
index; a shard with more than MAX_PACKS packs has them merged into one. A million images
make a few thousand files. Packs are written like entries (a temporary file renamed into
place) and keep each entry's checksum: a damaged packed entry is warned about, computed
again as a loose entry, which is read first, and replaces it at the next packing. Packing
is safe beside other processes of the cache: at worst an entry is packed twice, or one
is lost and computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import UserError
from .files import write_entry

HEADER = np.dtype("<u4")  # vector entries: width, height, then the float32 vector
ENTRY_FORMAT = 2  # 2: every entry ends with CHECKSUM_BYTES of blake2b over its payload
CHECKSUM_BYTES = 8
PACK_MAGIC = b"SIMPACK1"  # a pack ends with its index's offset (uint64) and this
PACK_SUFFIX = ".pack"
MAX_PACKS = 8  # packs a shard may have before they are merged into one
INDEX = np.dtype([("key", "S32"), ("offset", "<u8"), ("length", "<u4")])


def canonical(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def settings_key(settings: dict | str) -> str:
    """The folder name of a cache's settings (a dict, or its `canonical` text)."""
    blob = settings if isinstance(settings, str) else canonical(settings)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def with_format(settings: dict | str) -> dict:
    """A cache's settings (a dict, or its `canonical` text) with the entry format they are
    stored in."""
    plain = json.loads(settings) if isinstance(settings, str) else settings
    return {**plain, "entry_format": ENTRY_FORMAT}


def folder_of(root: str | os.PathLike, settings: dict | str) -> Path:
    """The folder a ContentCache of these settings keeps its entries in under `root`."""
    return Path(root) / settings_key(with_format(settings))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=CHECKSUM_BYTES).digest()


class ContentCache:
    """Bytes per content hash, in one folder per settings; `root=None` keeps nothing."""

    suffix = ".bin"

    def __init__(self, root: str | os.PathLike | None, settings: dict | str):
        settings = with_format(settings)
        self.folder = folder_of(root, settings) if root else None
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
        """The payload stored under `key`, loose or packed; None when absent or damaged (then
        warned)."""
        if self.folder is None:
            return None
        try:
            raw = self._file(key).read_bytes()
            where = self._file(key)
        except FileNotFoundError:
            raw, where = self._packed(key)
            if raw is None:
                return None
        payload, tail = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
        if len(raw) < CHECKSUM_BYTES or checksum(payload) != tail:
            self.damaged(key, "its checksum does not match", where)
            return None
        return payload

    def damaged(self, key: str, why: str, where: Path | None = None) -> None:
        from .errors import warn

        if where is None or where == self._file(key):
            name = str(self._file(key))
        else:
            name = f"{key} in {where}"
        warn(f"cache entry {name} is damaged ({why}); computing it again")

    def _packs(self, shard: str) -> list[Pack]:
        """The shard's packs, newest first, their indexes read once per process."""
        if not hasattr(self, "_opened"):
            self._opened: dict[str, list[Pack]] = {}
        found = self._opened.get(shard)
        if found is None:
            found = []
            for path in sorted((self.folder / shard).glob(f"*{PACK_SUFFIX}"), reverse=True):
                pack = Pack.open(path)
                if pack is not None:
                    found.append(pack)
            self._opened[shard] = found
        return found

    def _packed(self, key: str) -> tuple[bytes | None, Path | None]:
        for pack in self._packs(key[:2]):
            raw = pack.get(key)
            if raw is not None:
                return raw, pack.path
        return None, None

    def pack(self) -> int:
        """Move every loose entry into its shard's pack; merge a shard's packs past
        MAX_PACKS. How many entries were packed."""
        if self.folder is None:
            return 0
        moved = 0
        for shard in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            loose = sorted(shard.glob(f"*{self.suffix}"))
            entries = {}
            for path in loose:
                try:
                    entries[path.name[: -len(self.suffix)]] = path.read_bytes()
                except FileNotFoundError:  # packed meanwhile by another process
                    continue
            if entries:
                write_pack(shard, entries)
                moved += len(entries)
                for path in loose:
                    path.unlink(missing_ok=True)
            packs = sorted(shard.glob(f"*{PACK_SUFFIX}"))
            if len(packs) > MAX_PACKS:
                merge_packs(shard, packs)
        if hasattr(self, "_opened"):
            self._opened.clear()
        return moved

    def put_bytes(self, key: str, payload: bytes) -> None:
        if self.folder is None:
            return
        target = self._file(key)
        target.parent.mkdir(exist_ok=True)
        write_entry(target, payload + checksum(payload))


class Pack:
    """One pack file's sorted index; its entries are read by offset. A pack is never changed
    once written (a merge writes another): an index read once stays true while the file is
    there."""

    def __init__(self, path: Path, index: np.ndarray):
        self.path = path
        self.index = index

    @classmethod
    def open(cls, path: Path) -> Pack | None:
        """The pack at `path`; None when it is gone or its tail is not a pack's (a damaged
        pack is ignored whole: its entries are computed again)."""
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                tail = 8 + len(PACK_MAGIC)
                if size < tail:
                    return None
                handle.seek(size - tail)
                end = handle.read(tail)
                start = int.from_bytes(end[:8], "little")
                length = size - tail - start
                if end[8:] != PACK_MAGIC or start > size - tail or length % INDEX.itemsize:
                    return None
                handle.seek(start)
                return cls(path, np.frombuffer(handle.read(length), dtype=INDEX))
        except FileNotFoundError:
            return None

    def find(self, key: str) -> tuple[int, int] | None:
        """(offset, length) of `key`'s entry, or None."""
        try:
            raw_key = bytes.fromhex(key)
        except ValueError:
            return None
        at = int(np.searchsorted(self.index["key"], raw_key))
        # numpy drops an S32 value's trailing zero bytes: compare as 32 bytes again
        if at == len(self.index) or self.index["key"][at].ljust(32, b"\0") != raw_key:
            return None
        return int(self.index["offset"][at]), int(self.index["length"][at])

    def get(self, key: str) -> bytes | None:
        found = self.find(key)
        if found is None:
            return None
        try:
            with open(self.path, "rb") as handle:
                return os.pread(handle.fileno(), found[1], found[0])
        except FileNotFoundError:  # merged away meanwhile: computed again
            return None


def write_pack(shard: Path, entries: dict[str, bytes]) -> Path:
    """A new pack of `entries` (key -> stored bytes, checksum included) in `shard`: written
    atomically, named so that a newer pack sorts after an older one."""
    keys = sorted(entries)
    index = np.zeros(len(keys), dtype=INDEX)
    chunks, offset = [], 0
    for row, key in zip(index, keys):
        data = entries[key]
        row["key"], row["offset"], row["length"] = bytes.fromhex(key), offset, len(data)
        chunks.append(data)
        offset += len(data)
    body = b"".join(chunks) + index.tobytes() + offset.to_bytes(8, "little") + PACK_MAGIC
    name = f"{time.time_ns():020d}-{hashlib.sha256(body).hexdigest()[:12]}{PACK_SUFFIX}"
    target = shard / name
    write_entry(target, body)
    return target


def merge_packs(shard: Path, packs: list[Path]) -> None:
    """One pack instead of `packs` (oldest first): the newest copy of each entry whose
    checksum holds."""
    entries: dict[str, bytes] = {}
    for path in packs:
        pack = Pack.open(path)
        if pack is None:
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for row in pack.index:
            start = int(row["offset"])
            raw = data[start : start + int(row["length"])]
            if (
                len(raw) >= CHECKSUM_BYTES
                and checksum(raw[:-CHECKSUM_BYTES]) == raw[-CHECKSUM_BYTES:]
            ):
                entries[row["key"].ljust(32, b"\0").hex()] = raw
    if entries:
        write_pack(shard, entries)
    for path in packs:
        path.unlink(missing_ok=True)


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


class PictureCache(ContentCache):
    """The picture found on one page (similar/vectors/pages.py): its box and vector, or that
    the image holds none."""

    suffix = ".pic"

    def __init__(self, root: str | os.PathLike | None, settings: dict, dim: int):
        super().__init__(root, settings)
        self.dim = dim

    def get(self, key: str) -> tuple[tuple[int, ...] | None, np.ndarray | None] | None:
        """(box, vector), (None, None) for an image without a picture, None when not looked
        at yet."""
        raw = self.get_bytes(key)
        if raw is None:
            return None
        if len(raw) not in (16, 16 + 4 * self.dim):
            self.damaged(key, f"{len(raw)} bytes, not 16 or {16 + 4 * self.dim}")
            return None
        box = tuple(int(v) for v in np.frombuffer(raw[:16], dtype=HEADER))
        if len(raw) == 16:
            return None, None
        vector = np.frombuffer(raw[16:], dtype="<f4").copy()
        if not np.isfinite(vector).all():
            self.damaged(key, "a NaN or infinite value")
            return None
        return box, vector

    def put(self, key: str, box: tuple[int, ...] | None, vector: np.ndarray | None) -> None:
        """Keep the picture's box and vector; `box` None: the image holds no picture."""
        if box is None:
            self.put_bytes(key, np.zeros(4, dtype=HEADER).tobytes())
            return
        self.put_bytes(
            key, np.asarray(box, dtype=HEADER).tobytes() + np.asarray(vector, "<f4").tobytes()
        )
