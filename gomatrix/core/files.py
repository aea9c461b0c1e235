"""Files: one way to write them atomically (a crash leaves the old file or the new one, never half
of one), and one way to read a raw output that may be missing."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write data (str as UTF-8) through a temp file in the same directory, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide reports from a web server
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on directory for as long as the block runs (flock on the directory itself: no
    lock file is left in it): runs that finish at the same moment update the shared files there
    (index.md, latest.md) one after the other."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_json_atomic(doc: Any, path: Path) -> None:
    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def read_or_empty(path: Path) -> str:
    """A raw output's text, "" when it does not exist (a step that never ran); bad bytes replaced."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# Cache entries (plots, index rows): files named by a hash of what they hold. A use touches an
# entry; storing one removes those of its kind unused for `days`. A cache that cannot be read or
# written only costs the work it would have saved: these never raise OSError.


def read_entry(path: Path) -> bytes | None:
    """A cache entry's bytes, None when there is none (or it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def touch_entry(path: Path) -> None:
    """Mark an entry as used, so that store_entry keeps it."""
    with contextlib.suppress(OSError):
        os.utime(path)


def store_entry(path: Path, data: bytes | str, *, days: int) -> None:
    """Store an entry atomically, then remove the entries beside it with its suffix unused for days
    (never this one; one that another process removed or refreshed meanwhile is left alone)."""
    try:
        write_atomic(path, data)
    except OSError:
        return
    cutoff = time.time() - days * 86400
    for entry in path.parent.glob(f"*{path.suffix}"):
        try:
            if entry != path and entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            continue
