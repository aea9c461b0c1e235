"""The busybox base layer: Debian's static busybox read out of its .deb, one symlink per applet, and the
few files and directories a ``golang``-like image needs (/etc/passwd, /tmp, GOPATH /go, ...).
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import subprocess
import tarfile
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from gomatrix.core.errors import ImageError
from gomatrix.core.platform import host_arch
from gomatrix.core.text import Log, tail
from gomatrix.mirror.layers import LayerEntry

__all__ = [
    "GROUP",
    "NSSWITCH",
    "PASSWD",
    "base_applets",
    "base_layer_entries",
    "busybox_applets",
    "busybox_deb",
    "deb_version",
    "extract_deb_file",
]


def busybox_deb(cache_dir: Path, arch: str, log: Log = print) -> Path:
    """Debian's ``busybox-static`` deb for ``arch``, from ``<cache>/debs`` or ``apt-get download``."""
    debs = cache_dir / "debs"
    found = sorted(debs.glob(f"busybox-static_*_{arch}.deb"))
    if found:
        return found[-1]
    debs.mkdir(parents=True, exist_ok=True)
    fix = (
        f"{'dpkg --add-architecture arm64 && ' if arch != 'amd64' else ''}apt-get update && "
        f"(cd {debs} && apt-get download busybox-static:{arch}) -- or copy a busybox-static_*_{arch}.deb "
        f"from a Debian mirror into {debs}"
    )
    log(f"  downloading Debian's busybox-static:{arch} (apt-get download)")
    with tempfile.TemporaryDirectory(dir=debs, prefix=".apt-") as tmp:
        cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"busybox-static:{arch}"]
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageError(f"cannot run apt-get to fetch busybox-static:{arch}: {exc}", fix=fix) from exc
        got = sorted(Path(tmp).glob(f"busybox-static_*_{arch}.deb"))
        if proc.returncode != 0 or not got:
            output = tail(proc.stderr or proc.stdout, one_line=True)
            raise ImageError(
                f"could not download Debian's busybox-static for {arch}: {output}", where=" ".join(cmd), fix=fix
            )
        dest = debs / got[0].name
        os.replace(got[0], dest)
    return dest


def deb_version(deb: Path) -> str:
    """Version from a deb's file name (``busybox-static_1%3a1.35.0-4_amd64.deb`` -> ``1:1.35.0-4``)."""
    parts = deb.name.split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"


def extract_deb_file(deb: Path, member: str) -> bytes:
    """Read one file (e.g. ``bin/busybox``) from a .deb's data.tar.{xz,gz} without dpkg."""
    try:
        data = deb.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {deb}: {exc}") from exc
    if not data.startswith(b"!<arch>\n"):
        raise ImageError("not a Debian package (no ar header)", where=str(deb), fix=f"delete {deb} and rerun")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".xz"):
            body = lzma.decompress(body)
        elif name.endswith(".gz"):
            body = gzip.decompress(body)
        elif name != "data.tar":
            raise ImageError(
                f"unsupported deb compression {name}", where=str(deb), fix="use a Debian (xz/gz) busybox-static deb"
            )
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
            for ti in tar:
                if ti.name.removeprefix("./") == member and ti.isfile():
                    f = tar.extractfile(ti)
                    if f is not None:
                        return f.read()
        raise ImageError(f"{member} not found in package", where=str(deb), fix=f"delete {deb} and rerun")
    raise ImageError("no data.tar member in package", where=str(deb), fix=f"delete {deb} and rerun")


def busybox_applets(busybox: Path) -> list[str]:
    """Run ``busybox --list`` (the binary must be runnable here, natively or via binfmt/qemu)."""
    try:
        proc = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise ImageError(f"cannot run {busybox}: {exc}") from exc
    names = [n for n in proc.stdout.split() if n]
    if proc.returncode != 0 or "sh" not in names:
        raise ImageError(f"`{busybox} --list` failed: {tail(proc.stderr, one_line=True)}")
    for n in names:
        if "/" in n or n in (".", ".."):
            raise ImageError(f"odd applet name {n!r} from {busybox}")
    return sorted(set(names) - {"busybox"})


def base_applets(cache_dir: Path, arch: str, busybox: bytes, log: Log) -> list[str]:
    """Applet list from this busybox if it runs here, else from the host's busybox-static (same list)."""
    candidates = [(arch, busybox)]
    host = host_arch()
    if host != arch:
        candidates.append((host, b""))
    errors: list[str] = []
    for a, data in candidates:
        if not data:
            data = extract_deb_file(busybox_deb(cache_dir, a, log), "bin/busybox")
        with tempfile.TemporaryDirectory(prefix="gomatrix-busybox-") as tmp:
            exe = Path(tmp) / "busybox"
            exe.write_bytes(data)
            exe.chmod(0o755)
            try:
                return busybox_applets(exe)
            except ImageError as exc:
                errors.append(str(exc))
    raise ImageError(f"cannot list busybox applets: {'; '.join(errors)}")


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def base_layer_entries(busybox: bytes, applets: Sequence[str]) -> list[LayerEntry]:
    """The base rootfs: /bin/busybox + one symlink per applet, /usr/bin/env, /etc/{passwd,group},
    /tmp (1777), /root, the PATH dirs, and GOPATH /go{,/bin,/src} (1777, as the official image)."""
    e: list[LayerEntry] = [
        LayerEntry("bin", "dir", 0o755),
        LayerEntry("bin/busybox", "file", 0o755, data=busybox),
        LayerEntry("etc", "dir", 0o755),
        LayerEntry("etc/passwd", "file", 0o644, data=PASSWD.encode()),
        LayerEntry("etc/group", "file", 0o644, data=GROUP.encode()),
        LayerEntry("etc/nsswitch.conf", "file", 0o644, data=NSSWITCH.encode()),
        LayerEntry("go", "dir", 0o1777),
        LayerEntry("go/bin", "dir", 0o1777),
        LayerEntry("go/src", "dir", 0o1777),
        LayerEntry("root", "dir", 0o700),
        LayerEntry("sbin", "dir", 0o755),
        LayerEntry("tmp", "dir", 0o1777),
        LayerEntry("usr", "dir", 0o755),
        LayerEntry("usr/bin", "dir", 0o755),
        LayerEntry("usr/bin/env", "symlink", 0o777, target="/bin/busybox"),
        LayerEntry("usr/local", "dir", 0o755),
        LayerEntry("usr/local/bin", "dir", 0o755),
        LayerEntry("usr/local/sbin", "dir", 0o755),
        LayerEntry("usr/sbin", "dir", 0o755),
        LayerEntry("var", "dir", 0o755),
        LayerEntry("var/tmp", "dir", 0o1777),
    ]
    e += [LayerEntry(f"bin/{a}", "symlink", 0o777, target="busybox") for a in applets if a != "busybox"]
    return e
