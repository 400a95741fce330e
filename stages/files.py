"""Atomic file output and the small readers/writers stages share.

Everything a stage writes goes to a temporary name beside the target and is renamed
into place only when complete, so an interrupted run never leaves a half-written file
that DVC or the next stage could mistake for a result.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

import numpy as np
import orjson

from .config import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp's 0600 is not what users expect
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces `target` only if the block succeeds."""
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    with atomic_path(target) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder; it replaces folder `target` whole on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: str | os.PathLike, data, indent: int | None = 2) -> None:
    """Write JSON deterministically (sorted keys off: callers control key order)."""
    with atomic_open(target) as fh:
        json.dump(data, fh, indent=indent, ensure_ascii=False, allow_nan=False)
        fh.write("\n")


def write_csv(target: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with atomic_open(target) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(source: str | os.PathLike) -> list[dict[str, str]]:
    with open(source, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def read_json(source: str | os.PathLike):
    with open(source, encoding="utf-8") as fh:
        return json.load(fh)


def sha256_file(source: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class NpyRowWriter:
    """Stream float32 rows of a fixed width to a .npy file without holding them in memory.

    Rows go to a raw temporary file; `close()` writes the .npy header for the final row
    count, appends the rows and renames the result onto the target. `abort()` (or an
    exception inside a `with` block) leaves the target untouched.
    """

    def __init__(self, target: str | os.PathLike, width: int | None = None):
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.width = width
        self.rows = 0
        self._raw = tempfile.NamedTemporaryFile(
            prefix=f".{self.target.name}.", suffix=".raw.tmp", dir=self.target.parent, delete=False)

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 2:
            raise ValueError("expected a 2-D block of rows")
        if self.width is None:
            self.width = block.shape[1]
        elif block.shape[1] != self.width:
            raise ValueError(f"row width {block.shape[1]} != {self.width}")
        self._raw.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> None:
        self._raw.close()
        try:
            with atomic_open(self.target, "wb") as out:
                header = {"descr": "<f4", "fortran_order": False,
                          "shape": (self.rows, self.width or 0)}
                np.lib.format.write_array_header_1_0(out, header)
                with open(self._raw.name, "rb") as raw:
                    shutil.copyfileobj(raw, out, 1 << 20)
        finally:
            os.unlink(self._raw.name)

    def abort(self) -> None:
        self._raw.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._raw.name)

    def __enter__(self) -> "NpyRowWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def text_lines(source: str | os.PathLike) -> list[str]:
    """Non-empty, non-comment lines of a text file, stripped."""
    with open(source, encoding="utf-8-sig") as fh:
        return [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]


def read_vector_batches(path, batch_size: int) -> Iterator[tuple[list[str], np.ndarray, list]]:
    """Stream (ids, vectors, urls) batches from a vectors.jsonl file."""
    ids, vecs, urls = [], [], []
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            try:
                obj = orjson.loads(line)
                ids.append(obj["id"])
                vecs.append(obj["vector"])
                urls.append(obj.get("url"))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{line_no}: not a vector record ({exc}); "
                                    "rerun `dvc repro -f attach_iiif`") from None
            if len(ids) == batch_size:
                yield ids, np.asarray(vecs, dtype=np.float32), urls
                ids, vecs, urls = [], [], []
    if ids:
        yield ids, np.asarray(vecs, dtype=np.float32), urls
