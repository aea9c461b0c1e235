"""Small value helpers shared by the analysis, the rendering and the history: typed values as JSON,
version order, number formats, and markdown escaping."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Below this many allocations per op a benchmark counts as allocating nothing: what remains is noise
# (a runtime background allocation, e.g. 1 in 100 ops of a 10 MiB array on go1.24.11) or amortised
# growth of a long-lived slice, not an allocation of the code under test.
ALLOCATES_THRESHOLD = 0.05

# Two exact allocs/op are the same count when within this: N differs between runs, and a run with a
# small N (100 ops of a 10 MiB array) can count one or two runtime allocations more.
ALLOCS_ABS_TOLERANCE = 0.02
ALLOCS_REL_TOLERANCE = 0.005
# ... and a figure this many allocations of the whole timed run away from a whole count per op is that
# count: emulated runs of a 10 MiB array time few ops, so one runtime allocation moves allocs/op by more
# than the tolerance above (README, "Exact counts", has the figures).
RUNTIME_ALLOCATIONS_PER_RUN = 2


def allocs_equal(a: float, b: float) -> bool:
    # 1e-9: 1.01 - 1.0 is 0.010000000000000009 in floating point
    return abs(a - b) <= max(ALLOCS_ABS_TOLERANCE, ALLOCS_REL_TOLERANCE * max(abs(a), abs(b))) + 1e-9



def to_json(value: Any) -> Any:
    """Dataclasses, enums, mappings and tuples as JSON values (enums by their value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def version_key(version: str) -> tuple[int, ...]:
    """'go1.24.11' / '1.24' -> (1, 24, 11) / (1, 24, -1) for ordering (a bare minor sorts first)."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:3]]
    while len(numbers) < 3:
        numbers.append(-1)
    return tuple(numbers)


def minor_key(version: str) -> tuple[int, int]:
    """'go1.24.11' -> (1, 24): a document's "from Go 1.24 on" covers every patch of that minor."""
    key = version_key(version)
    return key[0], key[1]


def in_version_range(version: str, since: str | None, until: str | None) -> bool:
    """since <= version <= until, where a bare minor bound ("1.25") covers all its patches; None is open."""
    def at_least(bound: str) -> bool:
        key = version_key(bound)
        return version_key(version) >= key if key[2] >= 0 else minor_key(version) >= key[:2]

    def at_most(bound: str) -> bool:
        key = version_key(bound)
        return version_key(version) <= key if key[2] >= 0 else minor_key(version) <= key[:2]
    return (since is None or at_least(since)) and (until is None or at_most(until))


def column_id(go_version: str, arch: str) -> str:
    return f"{go_version} {arch}"


def fmt_allocs(value: float | None) -> str:
    """Exact allocs/op to three decimals (2.997 stays 2.997); whole counts without decimals."""
    if value is None:
        return "?"
    if abs(value - round(value)) < 0.0005:
        return str(round(value))
    return f"{value:.3f}".rstrip("0")


def snapped_allocs(value: float, iterations: int | None = None) -> float:
    """A value within the tolerance of a whole count is that count (1.01 from GC noise is 1); with the
    run's iterations, also one within RUNTIME_ALLOCATIONS_PER_RUN allocations of the whole run (1 of 42)."""
    whole = float(round(value))
    if allocs_equal(value, whole):
        return whole
    if iterations and abs(value - whole) * iterations <= RUNTIME_ALLOCATIONS_PER_RUN + 1e-9:
        return whole
    return value


def fmt_bytes(value: float | None) -> str:
    """B/op as a reader wants it: 63 B, 1 KiB, 10 MiB (exact binary units when whole, else 3 digits)."""
    if value is None:
        return "?"
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            scaled = value / scale
            return f"{round(scaled)} {unit}" if abs(scaled - round(scaled)) < 0.0005 else f"{scaled:.4g} {unit}"
    return f"{round(value)} B" if abs(value - round(value)) < 0.05 else f"{value:.1f} B"


def fmt_number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def describe_versions(chosen: Sequence[str], versions: Sequence[str]) -> str:
    """'in every version', 'from go1.25.5', 'up to go1.24.11' or a list, of chosen among versions."""
    positions = sorted(versions.index(v) for v in chosen if v in versions)
    if not positions:
        return "in no version"
    if len(positions) == len(versions):
        return "in every version"
    contiguous = positions == list(range(positions[0], positions[-1] + 1))
    if contiguous and positions[-1] == len(versions) - 1:
        return f"from {versions[positions[0]]}"
    if contiguous and positions[0] == 0:
        return f"up to {versions[positions[-1]]}"
    if len(positions) == 1:
        return f"only on {versions[positions[0]]}"
    if contiguous:
        return f"in {versions[positions[0]]}–{versions[positions[-1]]}"
    return "in " + ", ".join(versions[p] for p in positions)


_MD_SPECIAL = re.compile(r"([\\|`*_\[\]<>#])")


def md_text(text: object) -> str:
    """Plain text safe inside a GFM table cell: one line, markdown and HTML characters escaped."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def md_code(text: object) -> str:
    """An inline code span that survives backticks and pipes in the text."""
    flat = " ".join(str(text).split()).replace("|", "¦")
    fence = "``" if "`" in flat else "`"
    return f"{fence} {flat} {fence}" if "`" in flat else f"`{flat}`"


def format_duration(ns: float | None) -> str:
    """12.3 ns, 250 µs, 5.09 ms: three significant digits, no exponent."""
    if ns is None:
        return "?"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{_three_digits(ns / scale)} {unit}"
    return f"{_three_digits(ns)} ns"


def _three_digits(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"
