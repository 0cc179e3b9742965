"""Files: what a path is when it is not a regular file (said without blocking), and atomic writes
(a file under its final name is always complete)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Iterator

from .errors import InputError

_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def file_problem(path: str | os.PathLike, expected: str) -> str | None:
    """Why `path` is not a regular file to read ("does not exist", "is a named pipe, not <expected>"...),
    or None. It only stats: opening a named pipe would block until something writes to it."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            return f"points to {os.path.realpath(path)}, which does not exist"
        return "does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for is_kind, name in _NOT_REGULAR if is_kind(mode)), "a special file")
    return f"is {kind}, not {expected}"


def require_file(path: str | os.PathLike, what: str, expected: str, hint: str = "") -> Path:
    """`path` if it is a regular file, else InputError "<what> <path> <problem><hint>"."""
    problem = file_problem(path, expected)
    if problem:
        raise InputError(f"{what} {path} {problem}{hint}")
    return Path(path)


# temporary files being written now; a terminated worker removes them (engine.worker)
PARTIAL_FILES: set[Path] = set()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; when the block ends without an error it
    replaces `path` in one step, otherwise it is removed and `path` stays as it was. Write through
    an open file handle where a library would add its own suffix (numpy's savez adds .npz)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    PARTIAL_FILES.add(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        PARTIAL_FILES.discard(tmp)
        tmp.unlink(missing_ok=True)


def remove_partial_files() -> None:
    for tmp in list(PARTIAL_FILES):
        with contextlib.suppress(OSError):
            tmp.unlink()
        PARTIAL_FILES.discard(tmp)
