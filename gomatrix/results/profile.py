"""Where each benchmark allocates: the hook's sites output (raw sites.txt), per source line.

A line is a line of the case (a module: of any of its packages). An allocation made inside a dependency or
the standard library is placed at the innermost frame in the case, with the function called there (the
callee: "strconv.AppendFloat called at parser.go:212").

The runtime profiles every allocation at MemProfileRate 1 except tiny pointer-free objects (< 16 B)
packed into a block that an earlier allocation started: those are counted (runtime/metrics
/gc/heap/tiny/allocs:objects) but carry no call stack. When exactly one line of the case allocates
16-byte blocks (the size the profile records a tiny block at), they can only be that line's and are
added to it; otherwise the benchmark says that they could not be placed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gomatrix.core.values import ALLOCATES_THRESHOLD, RUNTIME_ALLOCATIONS_PER_RUN, allocs_equal, fmt_allocs
from gomatrix.results.parse import PACKAGE_MARKER

SITES_TAG = "gomatrix-site"  # gomatrix-site-done, gomatrix-site-error (and the old per-line tag)
LINE_TAG = "gomatrix-line"
NO_CALLEE = "-"
TRUNCATED = "truncated-stack"  # the runtime keeps 32 frames of a stack: the case's frame lay deeper


@dataclass(frozen=True)
class LineAllocs:
    """Allocations of one benchmark's last timed run at one place: a line of the case, or a function."""

    where: str  # "file.go:12", or "func:<name>" when no frame of the stack is in the case
    allocs: int
    bytes: int
    size16: int  # allocations recorded at 16 bytes (tiny blocks among them)
    callee: str | None = None  # the function called at that line that allocated (None: the line itself)

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
    mem_allocs: int  # testing's own count of the same (profiled) run
    mem_bytes: int
    tiny_unprofiled: int


ProfileKey = tuple[str | None, str]  # (package, benchmark): package None in a case directory


def parse_sites(text: str) -> tuple[dict[ProfileKey, BenchmarkProfile], dict[ProfileKey, str]]:
    """({(package, benchmark): profile}, {(package, benchmark): error}) from the hook's lines, each after
    its package's "gomatrix-package: PATH" line in a module case."""
    lines: dict[ProfileKey, list[LineAllocs]] = {}
    profiles: dict[ProfileKey, BenchmarkProfile] = {}
    errors: dict[ProfileKey, str] = {}
    package: str | None = None
    for raw in text.splitlines():
        if raw.startswith(PACKAGE_MARKER):
            package = raw[len(PACKAGE_MARKER):].strip() or None
            continue
        parts = raw.split(maxsplit=7)
        if not parts:
            continue
        try:
            if parts[0] == LINE_TAG and len(parts) == 8:
                callee = None if parts[6] == NO_CALLEE else parts[6]
                lines.setdefault((package, parts[1]), []).append(
                    LineAllocs(parts[7].strip(), int(parts[3]), int(parts[4]), int(parts[5]), callee))
            elif parts[0] == SITES_TAG and len(parts) >= 7:  # before the hook: no callee
                where = raw.split(maxsplit=6)[6].strip()
                lines.setdefault((package, parts[1]), []).append(
                    LineAllocs(where, int(parts[3]), int(parts[4]), int(parts[5])))
            elif parts[0] == f"{SITES_TAG}-done" and len(parts) == 6 and int(parts[2]) > 0:
                key = (package, parts[1])
                profiles[key] = BenchmarkProfile(parts[1], int(parts[2]), tuple(lines.pop(key, [])), int(parts[3]),
                                                 int(parts[4]), int(parts[5]))
            elif parts[0] == f"{SITES_TAG}-error" and len(parts) >= 3:
                errors[(package, parts[1])] = " ".join(parts[2:])
        except ValueError:
            continue
    return profiles, errors


@dataclass(frozen=True)
class Callee:
    """Allocations made inside a function that a line of the case called (a dependency, the standard library)."""

    function: str
    allocs_per_op: float
    bytes_per_op: float


@dataclass(frozen=True)
class MeasuredLine:
    file: str
    line: int
    allocs_per_op: float
    bytes_per_op: float
    tiny_added: float  # allocs/op of unprofiled tiny objects added to this line (included above)
    callees: tuple[Callee, ...] = ()  # the part of the above made inside functions the line called


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


def _merge_lines(entries: list[LineAllocs]) -> dict[tuple[str, int], list[LineAllocs]]:
    by_line: dict[tuple[str, int], list[LineAllocs]] = {}
    for entry in entries:
        by_line.setdefault((str(entry.file), int(entry.line or 0)), []).append(entry)
    return by_line


def account(profile: BenchmarkProfile, exact_allocs_per_op: float | None,
            exact_iterations: int | None = None) -> Accounting:
    """Per-op allocations by line, and whether they add up: to the profiled run's own exact count (the same
    ops), and that count to the exact run's (exact_allocs_per_op: N may differ, see hook.go)."""
    n = profile.iterations
    case_lines = [entry for entry in profile.lines if entry.file is not None]
    by_line = _merge_lines(case_lines)
    # A line that allocates 16-byte blocks itself in a sizeable share of the ops (not a one-off runtime
    # allocation that happened to stop at a line of the case).
    tiny_lines = [key for key, entries in by_line.items()
                  if sum(e.size16 for e in entries) / n >= ALLOCATES_THRESHOLD]
    place = profile.tiny_unprofiled > 0 and len(tiny_lines) == 1
    measured = []
    for key, entries in sorted(by_line.items()):
        tiny_added = profile.tiny_unprofiled if place and key == tiny_lines[0] else 0
        callees: dict[str, list[int]] = {}
        for e in entries:
            if e.callee is not None:
                totals = callees.setdefault(e.callee, [0, 0])
                totals[0] += e.allocs
                totals[1] += e.bytes
        measured.append(MeasuredLine(
            key[0], key[1], (sum(e.allocs for e in entries) + tiny_added) / n, sum(e.bytes for e in entries) / n,
            tiny_added / n, tuple(Callee(name, a / n, b / n) for name, (a, b) in sorted(callees.items()))))
    elsewhere = tuple(Elsewhere(e.where.removeprefix("func:") + (" (call stack deeper than the 32 frames the "
                                                                  "runtime keeps)" if e.callee == TRUNCATED else ""),
                                e.allocs / n, e.bytes / n)
                      for e in profile.lines if e.file is None)
    tiny = profile.tiny_unprofiled / n
    total = sum(m.allocs_per_op for m in measured)
    own = profile.mem_allocs / n
    notes = []
    if profile.tiny_unprofiled and not place:
        where = ", ".join(f"{f}:{line}" for f, line in tiny_lines) or "no line of the case"
        notes.append(f"{fmt_allocs(tiny)} allocs/op are tiny objects packed into shared blocks, which the runtime "
                     f"does not profile one by one; they cannot be placed (16-byte allocations at: {where})")
    reference = exact_allocs_per_op
    # allocations package testing makes inside the timed ops (RunParallel's goroutines) are the benchmark's
    # too: placed, at testing's function, not at a line of the case
    by_testing = sum(e.allocs_per_op for e in elsewhere if e.function.startswith("testing."))
    adds_up = allocs_equal(total + by_testing, own)
    if not adds_up:
        outside = sum(e.allocs_per_op for e in elsewhere)
        where = f"; {fmt_allocs(outside)} allocs/op outside the case ({', '.join(e.function for e in elsewhere)})"
        notes.insert(0, f"the lines of the case account for {fmt_allocs(total)} of the "
                        f"{fmt_allocs(own)} allocs/op counted in the profiled run" + (where if outside else ""))
    # a run of few ops (under emulation) moves by a runtime allocation or two: the same count
    few = min(n, exact_iterations or n)
    if reference is not None and not allocs_equal(own, reference) and \
            abs(own - reference) * few > RUNTIME_ALLOCATIONS_PER_RUN:
        adds_up = False
        notes.append(f"the profiled run ({n} ops) counted {fmt_allocs(own)} allocs/op, the exact run "
                         f"{fmt_allocs(reference)}")
    return Accounting(n, tuple(measured), elsewhere, tiny, place, adds_up, "; ".join(notes) or None)
