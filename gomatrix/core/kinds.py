"""The closed sets of values the tool passes around, as enums. They are StrEnums: a member is its
JSON and YAML value ("ok", "cross"), so cell files, reports and matrix.yaml read and write them as
before, and nothing compares bare strings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How a cell ended."""

    OK = "ok"
    FAILED = "failed"  # the case does not compile, a benchmark failed, or the sandbox stopped it
    SKIPPED = "skipped"  # nothing to run it with here (no image, toolchain or emulation); the reason says why
    TIMEOUT = "timeout"


# The statuses that fail a run unless the case expects them (case.yaml expected_failures).
FAILING_STATUSES = (Status.FAILED, Status.TIMEOUT)


def status_counts(cells: Iterable[Mapping[str, Any]]) -> dict[Status, int]:
    """How many cells (cell or report documents) ended how: every status, in Status order, 0 included."""
    counts = dict.fromkeys(Status, 0)
    for cell in cells:
        counts[Status(cell["status"])] += 1
    return counts


class Strategy(StrEnum):
    """How a cell's arch is run on this machine."""

    NATIVE = "native"
    CROSS = "cross"  # the native toolchain compiles; QEMU runs only the test binary
    FULL = "full"  # the arch's own toolchain runs under QEMU


class Timings(StrEnum):
    """matrix.yaml's bench.timings: which cells spend count x benchtime on timed samples (ns/op). The
    allocation facts (exact counts, per-line profiles) come from one untimed run per benchmark either way."""

    NATIVE = "native"  # native cells only: emulated ns/op is never compared
    OFF = "off"
    ALL = "all"

    def timed(self, emulated: bool) -> bool:
        return self == Timings.ALL or (self == Timings.NATIVE and not emulated)


class RunnerChoice(StrEnum):
    """matrix.yaml's runner; a runner's own name is DOCKER or HOST."""

    AUTO = "auto"
    DOCKER = "docker"
    HOST = "host"


class Emulation(StrEnum):
    """matrix.yaml's emulation: how a foreign arch runs (AUTO picks CROSS)."""

    AUTO = "auto"
    FULL = "full"
    CROSS = "cross"


class Isolation(StrEnum):
    """matrix.yaml's isolation for the Docker runner: one container per image and platform, or per cell."""

    GROUP = "group"
    CELL = "cell"


class LimitsBy(StrEnum):
    """What enforces a host cell's memory, process and CPU limits."""

    CGROUP_V2 = "cgroup-v2"
    CGROUP_V1 = "cgroup-v1"
    RLIMITS = "rlimits"  # per-process: address space, RLIMIT_NPROC, CPU seconds (see runners/limits.py)


class Arch(StrEnum):
    AMD64 = "amd64"
    ARM64 = "arm64"
