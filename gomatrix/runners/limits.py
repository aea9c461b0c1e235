"""A host cell's limits: memory, processes and CPU, the same `limits:` the Docker runner gives its
containers.

Each cell gets its own control group when this process may create them: cgroup v2 (the unified
hierarchy) or cgroup v1 (the memory, pids and cpu hierarchies). Otherwise per-process rlimits, which
are weaker: memory is capped as address space (RLIMIT_DATA does not stop Go: its heap is mapped over
address space reserved beforehand, which the kernel does not count again), RLIMIT_NPROC counts every
process of the user (and is not enforced for root), and CPU is capped as seconds of CPU time, not as
a rate. Which one a cell had is recorded in the cell.

A cell's processes enter its group before anything of the cell runs: the command is started through
a small Python program that writes its own pid into the group (and sets the rlimits), then execs.
After the cell every process left in the group is killed and the group removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gomatrix.core.kinds import LimitsBy

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT_GROUP = "gomatrix"
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
# rlimits: address space a Go process reserves without using it, added to the memory limit (a go1.24
# compile shows 1.2 GB of virtual memory for a small package).
GO_ADDRESS_SPACE_HEADROOM = 1 << 30

# Started with the cell's command as argv: enter the groups, set the rlimits, exec the command.
_ENTER = """
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for procs in spec["procs"]:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execvp(sys.argv[2], sys.argv[2:])
"""


def memory_bytes(text: str) -> int:
    """Docker's memory syntax (matrix.yaml `limits.memory`: 512m, 2g, 1048576) in bytes."""
    match = re.fullmatch(r"([0-9]+)([bkmg]?)", text)
    if match is None:
        raise ValueError(f"not a memory size: {text!r}")
    number, unit = match.groups()
    return int(number) * int(1024 ** "bkmg".index(unit or "b"))


@dataclass(frozen=True)
class LimitValues:
    memory_bytes: int
    pids: int
    cpus: float
    cpu_seconds: int  # rlimits only: CPU time a cell may use (its timeout at its CPU rate)


class CellLimits(Protocol):
    by: LimitsBy

    def command(self, argv: list[str]) -> list[str]:
        """argv started inside the limits."""

    def oom_kills(self) -> int:
        """How many processes the kernel killed for memory in this cell so far (0 if it cannot tell)."""

    def release(self) -> None:
        """Kill every process still in the cell's group and remove the group."""


def _enter(procs: list[Path], rlimits: dict[str, int], argv: list[str]) -> list[str]:
    spec = json.dumps({"procs": [str(p) for p in procs], "rlimits": rlimits})
    return [sys.executable, "-I", "-S", "-c", _ENTER, spec, *argv]


def _count(path: Path, key: str) -> int:
    """`key N` from a flat keyed file such as memory.events (v2) or memory.oom_control (v1)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _kill_members(procs_files: list[Path], attempts: int = 100) -> None:
    """SIGKILL every pid in the groups until they are empty (a process may fork meanwhile)."""
    for _ in range(attempts):
        pids: set[int] = set()
        for procs in procs_files:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _remove(group: Path, attempts: int = 50) -> None:
    for _ in range(attempts):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY while the last killed processes exit
            time.sleep(0.02)


class _CgroupV2:
    by = LimitsBy.CGROUP_V2

    def __init__(self, group: Path, values: LimitValues) -> None:
        self._group = group
        group.mkdir()
        try:
            (group / "memory.max").write_text(str(values.memory_bytes))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")  # no swap: over the limit means out of memory
            (group / "pids.max").write_text(str(values.pids))
            (group / "cpu.max").write_text(f"{round(values.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        except OSError:
            self.release()
            raise

    def command(self, argv: list[str]) -> list[str]:
        return _enter([self._group / "cgroup.procs"], {}, argv)

    def oom_kills(self) -> int:
        return _count(self._group / "memory.events", "oom_kill")

    def release(self) -> None:
        with contextlib.suppress(OSError):
            (self._group / "cgroup.kill").write_text("1")
        _kill_members([self._group / "cgroup.procs"])
        _remove(self._group)


class _CgroupV1:
    by = LimitsBy.CGROUP_V1

    def __init__(self, groups: dict[str, Path], values: LimitValues) -> None:
        self._groups = groups
        try:
            for group in groups.values():
                group.mkdir()
            memory = groups["memory"]
            (memory / "memory.limit_in_bytes").write_text(str(values.memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting is on: no swap either
                (memory / "memory.memsw.limit_in_bytes").write_text(str(values.memory_bytes))
            (groups["pids"] / "pids.max").write_text(str(values.pids))
            (groups["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (groups["cpu"] / "cpu.cfs_quota_us").write_text(str(round(values.cpus * CPU_PERIOD_US)))
        except OSError:
            self.release()
            raise

    def command(self, argv: list[str]) -> list[str]:
        return _enter([group / "cgroup.procs" for group in self._groups.values()], {}, argv)

    def oom_kills(self) -> int:
        return _count(self._groups["memory"] / "memory.oom_control", "oom_kill")

    def release(self) -> None:
        _kill_members([group / "cgroup.procs" for group in self._groups.values()])
        for group in self._groups.values():
            _remove(group)


class _Rlimits:
    by = LimitsBy.RLIMITS

    def __init__(self, values: LimitValues) -> None:
        self._rlimits = {"RLIMIT_AS": values.memory_bytes + GO_ADDRESS_SPACE_HEADROOM, "RLIMIT_NPROC": values.pids,
                         "RLIMIT_CPU": values.cpu_seconds}

    def command(self, argv: list[str]) -> list[str]:
        return _enter([], self._rlimits, argv)

    def oom_kills(self) -> int:
        return 0

    def release(self) -> None:
        pass  # nothing to remove; the runner kills the cell's session


class LimitsFactory:
    """Chooses, once per run, how cells are limited here, and makes each cell's limits."""

    def __init__(self, values: LimitValues, *, root: Path = CGROUP_ROOT, run_id: str = "") -> None:
        self.values = values
        self._root = root
        self._run_id = run_id or str(os.getpid())
        self.by, self.why_not_cgroups = self._detect()
        self._made = 0

    def _v2_ready(self) -> str | None:
        """None when cell groups can be made in the unified hierarchy, else why not."""
        controllers = (self._root / "cgroup.controllers").read_text().split()
        missing = {"memory", "pids", "cpu"} - set(controllers)
        if missing:
            return f"the cgroup v2 hierarchy at {self._root} lacks the {', '.join(sorted(missing))} controller(s)"
        parent = self._root / PARENT_GROUP
        try:
            (self._root / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        except OSError as exc:
            return f"cannot create control groups under {self._root} ({exc.strerror})"
        return None

    def _v1_ready(self) -> str | None:
        for controller in V1_CONTROLLERS:
            hierarchy = self._root / controller
            if not (hierarchy / "cgroup.procs").exists():
                return f"no cgroup v1 {controller} hierarchy at {hierarchy}"
            try:
                (hierarchy / PARENT_GROUP).mkdir(exist_ok=True)
            except OSError as exc:
                return f"cannot create control groups under {hierarchy} ({exc.strerror})"
        return None

    def _detect(self) -> tuple[LimitsBy, str]:
        if (self._root / "cgroup.controllers").exists():
            problem = self._v2_ready()
            return (LimitsBy.CGROUP_V2, "") if problem is None else (LimitsBy.RLIMITS, problem)
        problem = self._v1_ready()
        return (LimitsBy.CGROUP_V1, "") if problem is None else (LimitsBy.RLIMITS, problem)

    def for_cell(self, name: str) -> CellLimits:
        """Limits for one cell; a group that cannot be made costs the cell its cgroup, not the cell."""
        self._made += 1
        leaf = f"{self._run_id}-{self._made}-{name}"[:200]
        try:
            if self.by == LimitsBy.CGROUP_V2:
                return _CgroupV2(self._root / PARENT_GROUP / leaf, self.values)
            if self.by == LimitsBy.CGROUP_V1:
                return _CgroupV1({c: self._root / c / PARENT_GROUP / leaf for c in V1_CONTROLLERS}, self.values)
        except OSError:
            pass
        return _Rlimits(self.values)
