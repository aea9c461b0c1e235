"""Deterministic tar layers: sorted entries, owner 0:0, one mtime, gzip without name or time.

The same entries give the same bytes (and so the same digests) on every run and every machine with the
same zlib.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gomatrix.core.errors import ImageError
from gomatrix.docker.registry import CHUNK

__all__ = ["BASE_MTIME", "GZIP_LEVEL", "Layer", "LayerEntry", "build_layer", "tree_entries"]

#: fixed mtime of the base layer's entries (2024-01-01T00:00:00Z); the Go layer uses Go's release time
BASE_MTIME = 1704067200
GZIP_LEVEL = 1


@dataclass(frozen=True)
class LayerEntry:
    """One tar entry of a layer: ``path`` is relative to / (no leading slash)."""

    path: str
    kind: Literal["dir", "file", "symlink"]
    mode: int
    source: Path | None = None  # a "file" read from disk ...
    data: bytes | None = None  # ... or given inline
    target: str = ""  # a "symlink"'s target


@dataclass(frozen=True)
class Layer:
    """A built layer: ``digest`` of the gzip blob, ``diff_id`` of the uncompressed tar."""

    path: Path
    digest: str
    diff_id: str
    size: int


class _HashingWriter:
    """Write-through file object that hashes and counts what passes through it."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b: bytes, /) -> int:
        self.sha.update(b)
        self.size += len(b)
        self._out.write(b)
        return len(b)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._out.flush()

    def read(self, size: int = -1, /) -> bytes:
        raise io.UnsupportedOperation("write-only")

    def seek(self, pos: int, /) -> int:
        raise io.UnsupportedOperation("write-only")

    def close(self) -> None:
        pass


def _sort_key(entry: LayerEntry) -> tuple[str, ...]:
    return tuple(entry.path.split("/"))


def build_layer(entries: Iterable[LayerEntry], dest: Path, *, mtime: int, compresslevel: int = GZIP_LEVEL) -> Layer:
    """Write a deterministic gzip'd tar layer to ``dest``.

    Entries are sorted (parents before children), owned by 0:0 with no user/group names, all with the
    same ``mtime``; the gzip header carries no name and no time. Identical input gives identical bytes.
    """
    ordered = sorted(entries, key=_sort_key)
    seen: set[str] = set()
    for e in ordered:
        if not e.path or e.path.startswith("/") or ".." in e.path.split("/"):
            raise ImageError(f"bad layer entry path {e.path!r}", where=str(dest))
        if e.path in seen:
            raise ImageError(f"duplicate layer entry {e.path!r}", where=str(dest))
        seen.add(e.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", compresslevel=compresslevel, fileobj=compressed, mtime=0) as gz:
                plain = _HashingWriter(gz)
                with tarfile.TarFile(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
                    for e in ordered:
                        _add_entry(tar, e, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        raise ImageError(f"could not write layer: {exc}", where=str(dest), fix="check free disk space") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return Layer(
        path=dest,
        digest="sha256:" + compressed.sha.hexdigest(),
        diff_id="sha256:" + plain.sha.hexdigest(),
        size=compressed.size,
    )


def _add_entry(tar: tarfile.TarFile, e: LayerEntry, mtime: int) -> None:
    ti = tarfile.TarInfo(e.path)
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mode = e.mode
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
    elif e.kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = e.target
        tar.addfile(ti)
    elif e.data is not None:
        ti.size = len(e.data)
        tar.addfile(ti, io.BytesIO(e.data))
    elif e.source is not None:
        with open(e.source, "rb") as f:
            ti.size = os.fstat(f.fileno()).st_size
            tar.addfile(ti, f)
    else:
        raise ImageError(f"file entry {e.path!r} has no content")


def _parent_dirs(path: str, mode: int = 0o755) -> list[LayerEntry]:
    parts = path.split("/")
    return [LayerEntry("/".join(parts[:i]), "dir", mode) for i in range(1, len(parts))]


def tree_entries(root: Path, prefix: str, *, skip: Callable[[str], bool] | None = None) -> list[LayerEntry]:
    """Entries for the directory tree ``root`` placed at ``prefix`` (plus ``prefix``'s parent dirs).

    Modes are normalised so the layer doesn't depend on the umask: dirs 0755, files 0755 if any exec bit
    is set, else 0644; symlinks are kept as symlinks. ``skip`` gets paths relative to ``root``.
    """
    out = [*_parent_dirs(prefix), LayerEntry(prefix, "dir", 0o755)]

    def walk(d: Path, rel: str) -> None:
        with os.scandir(d) as it:
            items = sorted(it, key=lambda x: x.name)
        for item in items:
            r = f"{rel}/{item.name}" if rel else item.name
            if skip is not None and skip(r):
                continue
            st = item.stat(follow_symlinks=False)
            p = f"{prefix}/{r}"
            if stat.S_ISLNK(st.st_mode):
                out.append(LayerEntry(p, "symlink", 0o777, target=os.readlink(item.path)))
            elif stat.S_ISDIR(st.st_mode):
                out.append(LayerEntry(p, "dir", 0o755))
                walk(Path(item.path), r)
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                out.append(LayerEntry(p, "file", mode, source=Path(item.path)))
            else:
                raise ImageError(f"unsupported file type at {item.path}", where=str(root))

    walk(root, "")
    return out
