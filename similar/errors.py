"""The one error convention of every entry point: a user's mistake is one line and exit 2.

Stages and tools run their `main` through `run()`. A `UserError` (bad parameter, missing
file, busy store) and the operating system's refusals (permission, full disk, read-only
file system, a name it will not create) end as one line on stderr naming the file, what
failed and the fix, with exit status 2, instead of a traceback. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

EXIT_USER = 2
SHOWN_CHARS = 80  # the most of a user's value a message repeats


def shown(value: Any) -> str:
    """A user's value as a message repeats it: its repr, cut to `SHOWN_CHARS` characters."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


class UserError(Exception):
    """An expected failure with a message that tells the user what to fix."""


class StoreBusy(UserError):
    """The vector store is held by another process: wait, never reload or repair it."""


# what the user can do about each refusal of the operating system
_OS_FIXES = {
    errno.EACCES: "permission denied; check the folder's owner and mode (or `chattr -i`)",
    errno.EPERM: "operation not permitted; check the folder's owner and mode (or `chattr -i`)",
    errno.ENOSPC: "no space left on the device; free some space, or point paths.* elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space, or point paths.* elsewhere",
    errno.EROFS: "read-only file system; point paths.* at a writable folder",
    errno.ENAMETOOLONG: "the name is too long for this file system; shorten the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; fix the path in params.yaml",
    errno.EEXIST: "a file stands where a folder is needed; fix the path in params.yaml",
    errno.EISDIR: "this is a folder, a file was expected; fix the path in params.yaml",
    errno.EINVAL: "the file system refuses this name; choose another path",
    errno.EMFILE: "too many open files; raise `ulimit -n`",
    errno.EIO: "input/output error: the disk or the network share failed",
}


def os_error_message(exc: OSError) -> str | None:
    """One line for an OSError the user can fix, or None when it is not one of those."""
    fix = _OS_FIXES.get(exc.errno)
    if fix is None:
        return None
    where = exc.filename if exc.filename is not None else "?"
    return f"{os.fsdecode(where)}: {fix}"


def not_utf8(path: Any, exc: UnicodeDecodeError) -> UserError:
    """The error for a text file that is not UTF-8, with the byte offset of the first bad byte."""
    return UserError(
        f"{path}: not UTF-8 (byte {exc.start}: 0x{exc.object[exc.start]:02x}); "
        "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    )


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER)


def run(main: Callable[[], Any]) -> None:
    """Run an entry point's main; expected failures become one line on stderr and exit 2."""
    try:
        main()
    except UserError as exc:
        fail(str(exc))
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        message = os_error_message(exc)
        if message is None:
            raise
        fail(message)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
