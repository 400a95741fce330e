"""Atomic file output and the small readers and writers that stages share.

Everything a stage writes goes to a temporary name beside the target and is renamed into
place only when complete, so an interrupted run never leaves a half-written file that DVC
or the next stage could mistake for a result. Temporary names start with a dot and end in
`.tmp` (git ignores them) and carry the writing process's id: a later run removes those
whose process is gone, so a `kill -9` leaves nothing behind for long. A folder is replaced
only when it is this project's own (empty, or holding the marker file written with it).
Text inputs must be UTF-8; anything else is one error line with the byte offset. CSV cells
that a spreadsheet would run as a formula are written with a leading `'`, which the reader
takes off again, so every id round-trips exactly.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from .errors import UserError, not_utf8

_UMASK = os.umask(0)
os.umask(_UMASK)
# written into every folder that atomic_dir publishes: only such a folder is ever replaced
OWN_MARKER = ".similar-output"
# a cell starting so is a formula to a spreadsheet; a plain number (-0.5) is not
FORMULA_START = re.compile(r"[=+\-@'\t\r]")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# a CSV cell may be this long (the csv module's own limit, 128 KiB, is a traceback)
CSV_CELL_BYTES = 64 << 20
csv.field_size_limit(CSV_CELL_BYTES)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def remove_stale_temps(folder: Path, name: str) -> None:
    """Remove `.NAME.<pid>.*.tmp` files and folders left by processes that no longer run."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\..*\.tmp$")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


def _prepare(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent, target.name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    _prepare(target)
    fd, tmp = tempfile.mkstemp(
        prefix=temp_prefix(target), suffix=suffix + ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp's 0600 is not what users expect
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(target)  # a failed write() names no file
        raise
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


def check_replaceable(target: str | os.PathLike, param: str, marker: str = OWN_MARKER) -> None:
    """Refuse (UserError naming `param`) to replace a folder this project did not write: one
    that is not empty and holds no `marker` file."""
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise UserError(
            f"{target}: '{param}' names a file, not an output folder; "
            "point it at a new or empty folder"
        )
    if (target / marker).is_file() or not any(target.iterdir()):
        return
    raise UserError(
        f"{target}: '{param}' names a folder that this project did not write (no "
        f"{marker} in it), and it would be replaced; point it at a new or empty folder"
    )


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, param: str) -> Iterator[Path]:
    """Yield an empty temporary folder; it replaces folder `target` whole on success, and only
    when `target` is this project's own output (see check_replaceable; `param` names it)."""
    target = Path(target)
    check_replaceable(target, param)
    _prepare(target)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        (tmp / OWN_MARKER).write_text(
            "written by similar-images; the next run replaces this whole folder\n"
        )
        os.chmod(tmp, 0o777 & ~_UMASK)
        check_replaceable(target, param)  # nothing else moved in meanwhile
        if target.exists():
            old = target.with_name(f"{temp_prefix(target)}old.tmp")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Staging:
    """Outputs written to temporary files and published together: every target is renamed
    into place only after all of them were written, so a stage's outputs change together
    or not at all (a failure leaves the previous ones as they were)."""

    def __init__(self):
        self._pending: list[tuple[Path, Path]] = []
        self.last: Path | None = None  # the target staged most recently

    def path(self, target: str | os.PathLike, suffix: str = "") -> Path:
        """A temporary path that becomes `target` when the staging succeeds."""
        target = Path(target)
        _prepare(target)
        fd, tmp = tempfile.mkstemp(
            prefix=temp_prefix(target), suffix=suffix + ".tmp", dir=target.parent
        )
        os.close(fd)
        self._pending.append((Path(tmp), target))
        self.last = target
        return Path(tmp)

    def write_bytes(self, target: str | os.PathLike, data: bytes) -> None:
        self.path(target).write_bytes(data)

    def publish(self) -> None:
        for tmp, _target in self._pending:
            os.chmod(tmp, 0o666 & ~_UMASK)
        for tmp, target in self._pending:
            os.replace(tmp, target)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._pending.clear()


@contextlib.contextmanager
def staged_outputs() -> Iterator[Staging]:
    staging = Staging()
    try:
        yield staging
        staging.publish()
    except OSError as exc:
        if exc.filename is None and staging.last is not None:
            exc.filename = str(staging.last)  # a failed write() names no file: the one open
        raise
    finally:
        staging.discard()


def write_entry(target: Path, payload: bytes) -> None:
    """Write one cache entry atomically, with the umask's mode; a failure leaves no temporary
    file behind and names the entry."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if exc.filename is None:
            exc.filename = str(target)
        raise


def json_bytes(data, indent: int | None = 2) -> bytes:
    return (json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_json(target: str | os.PathLike, data, indent: int | None = 2) -> None:
    """Write JSON deterministically (sorted keys off: callers control key order)."""
    write_bytes(target, json_bytes(data, indent))


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_open(target, "wb") as fh:
        fh.write(data)


def neutralise(value):
    """A cell safe to open in a spreadsheet: text it would run as a formula gets a leading `'`
    (numbers, and text that is a plain number, stay as they are); `cell()` undoes it."""
    if isinstance(value, str) and FORMULA_START.match(value) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def cell(text: str) -> str:
    """A cell as read from a CSV, without the `'` that `neutralise()` put before it."""
    return text[1:] if text[:1] == "'" and FORMULA_START.match(text, 1) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """CSV text, every cell neutralised; `read_csv` reads back exactly what was given."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise(name) for name in header])
    writer.writerows([neutralise(value) for value in row] for row in rows)
    return buf.getvalue().encode("utf-8")


def write_csv(target: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    write_bytes(target, csv_bytes(header, rows))


def read_text(source: str | os.PathLike) -> str:
    """A UTF-8 text file (a BOM is dropped); another encoding is one UserError with the offset."""
    data = Path(source).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(source, exc) from None


def csv_records(source: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (dicts of cells as they stand) of a UTF-8 CSV; one that the
    csv module cannot read is a UserError naming the line."""
    return text_records(read_text(source), str(source))


def text_records(text: str, source: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of CSV text read from `source` (named in the error)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as exc:
        line = reader.line_num + 1  # the row being read when it failed
        raise UserError(f"{source}:{line}: not a readable CSV row ({exc})") from None


def read_csv(source: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV as dicts, each cell as `csv_bytes` was given it (see `cell`)."""
    return parse_csv(read_text(source), str(source))


def parse_csv(text: str, source: str = "the CSV") -> list[dict[str, str]]:
    """Rows of CSV text as dicts, each cell as `csv_bytes` was given it (see `cell`)."""
    _, rows = text_records(text, source)
    return [{cell(k): cell(v or "") for k, v in row.items() if k is not None} for row in rows]


def read_json(source: str | os.PathLike):
    try:
        return json.loads(read_text(source))
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{source}: not valid JSON (line {exc.lineno}: {exc.msg}); "
            "rerun the stage that writes it"
        ) from None


def text_lines(source: str | os.PathLike) -> list[str]:
    """Non-empty, non-comment lines of a UTF-8 text file, stripped."""
    return [
        ln.strip()
        for ln in read_text(source).splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]


def sha256_file(source: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def require_file(p: str | os.PathLike, what: str, fix: str) -> Path:
    p = Path(p)
    if not p.is_file():
        raise UserError(f"{p}: {what} not found; {fix}")
    return p


class NpyRowWriter:
    """Stream float32 rows of a fixed width to a .npy file without holding them in memory.

    Rows go to a raw temporary file; `close()` writes the .npy header for the final row
    count, appends the rows and renames the result onto the target. `abort()` (or an
    exception inside a `with` block) leaves the target untouched.
    """

    def __init__(self, target: str | os.PathLike, width: int | None = None):
        self.target = Path(target)
        _prepare(self.target)
        self.width = width
        self.rows = 0
        self._done = False
        self._raw = tempfile.NamedTemporaryFile(
            prefix=temp_prefix(self.target), suffix=".raw.tmp", dir=self.target.parent, delete=False
        )

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
        """Publish the rows onto the target."""
        if self._done:
            return
        self._raw.close()
        self._done = True
        try:
            with atomic_open(self.target, "wb") as out:
                self._copy_into(out)
        finally:
            os.unlink(self._raw.name)

    def finish_into(self, staging: Staging) -> Path:
        """Write the complete .npy into `staging`, to be published with the stage's other
        outputs; returns the temporary file, readable until then."""
        self._raw.close()
        self._done = True
        try:
            tmp = staging.path(self.target)
            with open(tmp, "wb") as out:
                self._copy_into(out)
        finally:
            os.unlink(self._raw.name)
        return tmp

    def _copy_into(self, out) -> None:
        header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.width or 0)}
        np.lib.format.write_array_header_1_0(out, header)
        with open(self._raw.name, "rb") as raw:
            shutil.copyfileobj(raw, out, 1 << 20)

    def abort(self) -> None:
        self._raw.close()
        self._done = True
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._raw.name)

    def __enter__(self) -> NpyRowWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


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
                raise UserError(
                    f"{path}:{line_no}: not a vector record ({exc}); "
                    "rerun `dvc repro -f attach_iiif`"
                ) from None
            if len(ids) == batch_size:
                yield ids, np.asarray(vecs, dtype=np.float32), urls
                ids, vecs, urls = [], [], []
    if ids:
        yield ids, np.asarray(vecs, dtype=np.float32), urls


def read_ids_urls(path) -> tuple[list[str], list[str | None]]:
    """Ids and URLs of vectors.jsonl in file order, without parsing the vectors (the store's
    records are `{"id", "url", "vector"}` in that order; anything else is parsed whole)."""
    ids, urls = [], []
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            cut = line.find(b',"vector":')
            try:
                obj = orjson.loads(line[:cut] + b"}" if cut > 0 else line)
                ids.append(obj["id"])
                urls.append(obj.get("url"))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(
                    f"{path}:{line_no}: not a vector record ({exc}); "
                    "rerun `dvc repro -f attach_iiif`"
                ) from None
    return ids, urls


def write_vector_records(target, index: list[dict], vectors: np.ndarray, urls: dict) -> None:
    """vectors.jsonl: `{"id", "url", "vector"}` per line, in images.csv order (what
    `read_vector_batches` and `read_ids_urls` read), read from `vectors` in blocks."""
    block_rows = 4096
    with open(target, "wb") as fh:
        for start in range(0, len(index), block_rows):
            block = np.array(vectors[start : start + block_rows], dtype=np.float32)
            for row, vector in zip(index[start : start + block_rows], block):
                # orjson writes float32 as its shortest exact decimal: compact and lossless
                record = {"id": row["id"], "url": urls.get(row["id"]), "vector": vector}
                fh.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))
                fh.write(b"\n")
