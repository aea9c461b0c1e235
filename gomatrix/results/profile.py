"""Where each benchmark allocates: the generated sites test's output (raw sites.txt), per source line.

The runtime profiles every allocation at MemProfileRate 1 except tiny pointer-free objects (< 16 B)
packed into a block that an earlier allocation started: those are counted (runtime/metrics
/gc/heap/tiny/allocs:objects) but carry no call stack. When exactly one line of the case allocates
16-byte blocks (the size the profile records a tiny block at), they can only be that line's and are
added to it; otherwise the benchmark says that they could not be placed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gomatrix.core.values import ALLOCATES_THRESHOLD, allocs_equal, fmt_allocs
from gomatrix.results.exact import SITES_TAG


@dataclass(frozen=True)
class LineAllocs:
    """Allocations of one benchmark's last timed run at one place: a line of the case, or a function."""

    where: str  # "file.go:12", or "func:<name>" when no frame of the stack is in the case
    allocs: int
    bytes: int
    size16: int  # allocations recorded at 16 bytes (tiny blocks among them)

    @property
    def file(self) -> str | None:
        return None if self.where.startswith("func:") else self.where.rpartition(":")[0]

    @property
    def line(self) -> int | None:
        return None if self.where.startswith("func:") else int(self.where.rpartition(":")[2])


@dataclass(frozen=True)
class BenchmarkProfile:
    name: str
    iterations: int
    lines: tuple[LineAllocs, ...]
    mem_allocs: int  # testing.Benchmark's count for the same run
    mem_bytes: int
    tiny_unprofiled: int


def parse_sites(text: str) -> tuple[dict[str, BenchmarkProfile], dict[str, str]]:
    """({benchmark: profile}, {benchmark: error}) from the sites test's lines."""
    lines: dict[str, list[LineAllocs]] = {}
    profiles: dict[str, BenchmarkProfile] = {}
    errors: dict[str, str] = {}
    for raw in text.splitlines():
        parts = raw.split(maxsplit=6)
        if not parts:
            continue
        try:
            if parts[0] == SITES_TAG and len(parts) == 7:
                lines.setdefault(parts[1], []).append(
                    LineAllocs(parts[6].strip(), int(parts[3]), int(parts[4]), int(parts[5])))
            elif parts[0] == f"{SITES_TAG}-done" and len(parts) == 6 and int(parts[2]) > 0:
                name = parts[1]
                profiles[name] = BenchmarkProfile(name, int(parts[2]), tuple(lines.pop(name, [])), int(parts[3]),
                                                  int(parts[4]), int(parts[5]))
            elif parts[0] == f"{SITES_TAG}-error" and len(parts) >= 3:
                errors[parts[1]] = " ".join(parts[2:])
        except ValueError:
            continue
    return profiles, errors


@dataclass(frozen=True)
class MeasuredLine:
    file: str
    line: int
    allocs_per_op: float
    bytes_per_op: float
    tiny_added: float  # allocs/op of unprofiled tiny objects added to this line (included above)


@dataclass(frozen=True)
class Elsewhere:
    function: str
    allocs_per_op: float
    bytes_per_op: float


@dataclass(frozen=True)
class Accounting:
    """Per-op allocations of a benchmark by line of the case, and whether they add up to its exact count."""

    iterations: int
    lines: tuple[MeasuredLine, ...]
    elsewhere: tuple[Elsewhere, ...]
    tiny_unprofiled_per_op: float
    tiny_placed: bool
    adds_up: bool | None  # None: no exact count to compare with
    note: str | None  # why they do not add up


def account(profile: BenchmarkProfile, exact_allocs_per_op: float | None) -> Accounting:
    n = profile.iterations
    case_lines = [entry for entry in profile.lines if entry.file is not None]
    # A line that allocates 16-byte blocks in a sizeable share of the ops (not a one-off runtime allocation
    # that happened to stop at a line of the case).
    tiny_lines = [entry for entry in case_lines if entry.size16 / n >= ALLOCATES_THRESHOLD]
    place = profile.tiny_unprofiled > 0 and len(tiny_lines) == 1
    measured = tuple(sorted(
        (MeasuredLine(str(e.file), int(e.line or 0),
                      (e.allocs + (profile.tiny_unprofiled if place and e is tiny_lines[0] else 0)) / n, e.bytes / n,
                      profile.tiny_unprofiled / n if place and e is tiny_lines[0] else 0.0)
         for e in case_lines), key=lambda m: (m.file, m.line)))
    elsewhere = tuple(Elsewhere(e.where.removeprefix("func:"), e.allocs / n, e.bytes / n)
                      for e in profile.lines if e.file is None)
    tiny = profile.tiny_unprofiled / n
    total = sum(m.allocs_per_op for m in measured)
    notes = []
    if profile.tiny_unprofiled and not place:
        where = ", ".join(e.where for e in tiny_lines) or "no line of the case"
        notes.append(f"{fmt_allocs(tiny)} allocs/op are tiny objects packed into shared blocks, which the runtime "
                     f"does not profile one by one; they cannot be placed (16-byte allocations at: {where})")
    adds_up = None
    if exact_allocs_per_op is not None:
        adds_up = allocs_equal(total, exact_allocs_per_op)
        if not adds_up:
            outside = sum(e.allocs_per_op for e in elsewhere)
            where = f"; {fmt_allocs(outside)} allocs/op outside the case ({', '.join(e.function for e in elsewhere)})"
            notes.insert(0, f"the lines of the case account for {fmt_allocs(total)} of "
                            f"{fmt_allocs(exact_allocs_per_op)} allocs/op" + (where if outside else ""))
    return Accounting(n, measured, elsewhere, tiny, place, adds_up, "; ".join(notes) or None)
