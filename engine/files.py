"""Atomic file writes: a file under its final name is always complete."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

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
