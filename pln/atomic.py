"""Replacing a file atomically: readers see the old bytes or the new ones, never a mix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = False, min_mtime: int = 0
) -> None:
    """Write `data` to a temp file beside `path`, then rename it over `path`.

    `fsync` makes the bytes durable before the rename (state files); `min_mtime` gives the new
    file at least that mtime (HTTP dates have one-second resolution). Raises OSError.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if min_mtime and int(os.stat(tmp).st_mtime) < min_mtime:
            os.utime(tmp, (min_mtime, min_mtime))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_version(path: Path) -> tuple[int, int, int] | None:
    """What changes whenever the file is written again, in place or by a rename over it
    (mtime, size, inode); None when it is not there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
