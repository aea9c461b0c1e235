"""Can this machine run binaries of another architecture? (QEMU user emulation via binfmt_misc.)"""

from __future__ import annotations

import platform
from pathlib import Path

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
_QEMU_NAMES = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}
_MACHINE_TO_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

INSTALL_HINT = (
    "install and register QEMU user emulation: apt-get install qemu-user-static binfmt-support; "
    "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc (if not mounted); "
    "update-binfmts --enable {name}"
)


def goarch_of(machine: str) -> str:
    """A machine name as uname or the Docker daemon says it (x86_64, aarch64) -> its GOARCH."""
    return _MACHINE_TO_GOARCH.get(machine, machine)


def host_arch() -> str:
    return goarch_of(platform.machine())


def qemu_name(target: str) -> str | None:
    return _QEMU_NAMES.get(target)


def emulation_problem(target: str, native: str, binfmt_dir: Path | None = None, *,
                      for_containers: bool = True) -> str | None:
    """None if target binaries can run here (natively or emulated), else why not and the fix.

    Containers need the F (fix-binary) flag: the interpreter is opened at registration,
    so it works inside a container's filesystem too; host processes do not.
    """
    if target == native:
        return None
    name = _QEMU_NAMES.get(target)
    if name is None:
        return f"no emulator is known for {target}"
    hint = INSTALL_HINT.format(name=name)
    entry = (binfmt_dir or BINFMT_DIR) / name
    try:
        text = entry.read_text(encoding="utf-8")
    except OSError:
        return f"{target} binaries cannot run on this {native} machine: binfmt_misc has no {name} entry; {hint}"
    lines = text.splitlines()
    if not lines or lines[0].strip() != "enabled":
        return f"the {name} binfmt entry is disabled; {hint}"
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if for_containers and "F" not in flags:
        return (f"the {name} binfmt entry lacks the F flag, so containers cannot use it; "
                "reinstall qemu-user-static (Debian registers it with F)")
    return None
