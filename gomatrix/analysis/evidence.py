"""From cell documents to evidence: sites matched across versions, one verdict per site and cell from
what was measured there, claims against their documented version ranges, and what changed.

Everything here is pure and typed; `gomatrix.analysis.document` turns it into the report document and
`gomatrix.analysis.markdown` into prose. The rule throughout: a verdict comes from what was measured at
a line. The compiler's words are kept beside it; where nothing was measured, nothing is inferred.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gomatrix.analysis.stats import bytes_equal
from gomatrix.core.kinds import Status
from gomatrix.core.values import (
    ALLOCATES_THRESHOLD,
    RUNTIME_ALLOCATIONS_PER_RUN,
    allocs_equal,
    column_id,
    in_version_range,
    snapped_allocs,
    version_key,
)
from gomatrix.plan.cases import Claim
from gomatrix.results.coverage import covered, lines_benchmarks_run
from gomatrix.results.sites import Compiler, Measured


class Evidence(enum.Enum):
    """One site in one cell: what was measured at its line, against what the compiler said."""

    HEAP = "heap (measured)"
    STACK = "stack (nothing measured)"
    SAYS_STACK_ALLOCATES = "compiler says does not escape, allocates"
    SAYS_HEAP_NOTHING = "compiler says heap, nothing measured"
    SILENT_ALLOCATES = "no diagnostic, allocates"
    IN_CALLEE = "allocates inside a function it calls"  # -m speaks of the callee's own lines, not of this call
    SILENT_NOTHING = "nothing measured, no diagnostic"
    OUT_OF_LINE = "nothing measured; -m's heap verdict is the out-of-line copy's (callers run it inlined)"
    NOT_RUN = "not measured: no benchmark runs this line"
    NO_PROFILE = "no allocation profile"

    @property
    def misleading(self) -> bool:
        """The compiler's words and the measurement disagree."""
        return self in (Evidence.SAYS_STACK_ALLOCATES, Evidence.SAYS_HEAP_NOTHING, Evidence.SILENT_ALLOCATES)


class Agreement(enum.Enum):
    """A claim's documented version range against the versions where it was measured to hold."""

    UNDATED = "undated"  # the claim names no version range
    AS_DOCUMENTED = "as documented"
    EARLIER = "holds earlier than documented"
    LATER = "holds only later than documented"
    DIFFERS = "differs from the documented range"


class ChangeKind(enum.Enum):
    SITE_ALLOCATIONS = "site allocations"  # what was measured at a site changed
    SITE_DIAGNOSTIC = "site diagnostic"  # only the compiler's words changed
    BENCHMARK_ALLOCS = "benchmark allocs/op"
    BENCHMARK_BYTES = "benchmark B/op"


@dataclass(frozen=True)
class Column:
    id: str
    go_version: str
    arch: str
    emulated: bool


@dataclass(frozen=True)
class SiteCell:
    compiler: Compiler
    message: str
    reason: str | None
    measured: tuple[Measured, ...] | None  # None: the cell has no allocation profile
    covered: bool
    evidence: Evidence
    inlined: bool = False  # the site's function is inlined into a caller of the case

    @property
    def allocs_per_op(self) -> float | None:
        return None if self.measured is None else sum(m.allocs_per_op for m in self.measured)

    @property
    def bytes_per_op(self) -> float | None:
        return None if self.measured is None else sum(m.bytes_per_op for m in self.measured)


@dataclass(frozen=True)
class Site:
    id: str  # file:line:column of the expression's start
    file: str
    line: int
    column: int
    source: str
    cells: Mapping[str, SiteCell]  # by column id (ok cells only)
    package: str | None = None  # module cases: the Go package of the file


@dataclass(frozen=True)
class Why:
    """What explains a claim's verdict in one column: the compiler's words and the measurement at a line."""

    column: str
    file: str
    line: int
    compiler: Compiler
    message: str
    reason: str | None
    allocs_per_op: float | None  # measured at that line (None: no profile)
    bytes_per_op: float | None
    benchmark_allocs: float | None = None  # a benchmark claim: its exact allocs/op


@dataclass(frozen=True)
class Run:
    """Versions first..last in which a value stayed the same."""

    first: str
    last: str
    value: Any


@dataclass(frozen=True)
class ArchRuns:
    arches: tuple[str, ...]
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Flip:
    """Where a claim's verdict changes, and why, in the first version after the change."""

    arches: tuple[str, ...]
    before: str  # last version of the previous verdict
    after: str  # first version of the new one
    holds: bool  # the new verdict
    why: Why | None


@dataclass(frozen=True)
class ClaimVerdict:
    id: str
    text: str
    kind: str  # "site" or "benchmark"
    subject: str  # file:line of a site claim, or the benchmark's name
    expected: str  # "heap", "stack", or an allocs/op range's text
    since: str | None
    until: str | None
    documented: str
    results: Mapping[str, bool | None]  # by column id
    why: Mapping[str, Why | None]  # by column id
    history: tuple[ArchRuns, ...]  # holds/fails runs, arches that share them grouped
    flips: tuple[Flip, ...]
    agreement: Agreement
    holds_in: Mapping[str, tuple[str, ...]]  # arch -> versions where it holds


@dataclass(frozen=True)
class Change:
    case: str
    kind: ChangeKind
    subject: str  # a site id or a benchmark name
    source: str  # the site's source text, or ""
    arches: tuple[str, ...]
    runs: tuple[Run, ...]
    # Allocation changes: whether -m said the same at every step (None: at some steps only).
    diagnostic_unchanged: bool | None
    at: tuple[str, ...] = ()  # the versions where it changed (diagnostic changes: with allocations unchanged)
    measured: bool = True  # False: no benchmark runs the site, only the compiler's words are known
    package: str | None = None  # module cases: the Go package of the site or benchmark


@dataclass(frozen=True)
class Disagreement:
    case: str
    site: str
    source: str
    evidence: Evidence
    message: str
    reason: str | None
    versions: tuple[str, ...]
    all_versions: tuple[str, ...]
    arches: tuple[str, ...]
    measured: tuple[Spread, ...]  # per benchmark, over those versions


@dataclass(frozen=True)
class Spread:
    benchmark: str
    low: float
    high: float


# ---------------------------------------------------------------- columns and cells


def cell_version(cell: Mapping[str, Any]) -> str:
    return str(cell["go_version"] or f"go{cell['planned']['version']}")


def columns_of(cells: Sequence[Mapping[str, Any]]) -> tuple[Column, ...]:
    seen: dict[str, Column] = {}
    for cell in sorted(cells, key=lambda c: (version_key(cell_version(c)), c["arch"])):
        col = column_id(cell_version(cell), cell["arch"])
        seen.setdefault(col, Column(col, cell_version(cell), cell["arch"], bool(cell["emulated"])))
    return tuple(seen.values())


def _has_profile(cell: Mapping[str, Any]) -> bool:
    return any(b.get("profile") and not b["profile"].get("error") for b in cell["benchmarks"])


def _covered_lines(cell: Mapping[str, Any]) -> set[tuple[str, int]]:
    """Lines a benchmark runs: linked to a timed loop, and executed by the coverage run where there was one."""
    return lines_benchmarks_run([item for bench in cell["benchmarks"] for item in bench.get("linked") or []],
                                cell.get("executed"))


def judge(compiler: Compiler, allocs: float | None, covered: bool, inlined: bool = False,
          in_callee: bool = False) -> Evidence:
    """The verdict of one site in one cell. Silence is never read as stack. in_callee: every allocation
    measured there was made inside a function the line calls (a dependency, the standard library)."""
    if allocs is None:
        return Evidence.NO_PROFILE
    if allocs >= ALLOCATES_THRESHOLD and in_callee and compiler == Compiler.NONE:
        return Evidence.IN_CALLEE
    if allocs >= ALLOCATES_THRESHOLD:
        return {Compiler.HEAP: Evidence.HEAP, Compiler.STACK: Evidence.SAYS_STACK_ALLOCATES,
                Compiler.NONE: Evidence.SILENT_ALLOCATES}[compiler]
    if not covered:
        return Evidence.NOT_RUN
    if inlined and compiler == Compiler.HEAP:  # the copy that runs said nothing: it stays on the stack there
        return Evidence.OUT_OF_LINE
    return {Compiler.HEAP: Evidence.SAYS_HEAP_NOTHING, Compiler.STACK: Evidence.STACK,
            Compiler.NONE: Evidence.SILENT_NOTHING}[compiler]


# ---------------------------------------------------------------- sites across cells


def _clusters(columns: Iterable[int]) -> list[list[int]]:
    """Columns of one line grouped when they lie within one character of the group's first: the same
    expression whose position moved by a character between versions."""
    groups: list[list[int]] = []
    for column in sorted(set(columns)):
        if groups and column - groups[-1][0] <= 1:
            groups[-1].append(column)
        else:
            groups.append([column])
    return groups


def case_sites(case_cells: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[Site, ...]:
    """The case's sites, each matched across every ok cell by its position (file, line, and the column of
    the expression's start, give or take one), not by the compiler's message."""
    ok = [(col, cell) for col, cell in case_cells if cell["status"] == Status.OK]
    by_line: dict[tuple[str, int], list[tuple[str, Mapping[str, Any]]]] = {}
    packages: dict[str, str] = {}  # module cases: file -> its package
    for col, cell in ok:
        for site in cell.get("sites", []):
            by_line.setdefault((site["file"], site["line"]), []).append((col, site))
            if site.get("package"):
                packages[site["file"]] = site["package"]
    sites: list[Site] = []
    # a module's sites package by package (case directories have none: by file and line)
    for (file, line), entries in sorted(by_line.items(), key=lambda item: (packages.get(item[0][0], ""), item[0])):
        groups = _clusters(site["column"] for _col, site in entries)
        members = [[(c, s) for c, s in entries if s["column"] in group] for group in groups]
        # A measured line without a diagnostic belongs to the line's one diagnosed expression.
        silent = [m for m in members if all(s["compiler"] == "none" for _c, s in m)]
        spoken = [m for m in members if m not in silent]
        if silent and len(spoken) == 1:
            members = [spoken[0] + [entry for m in silent for entry in m]]
        for group_entries in members:
            sites.append(dataclasses.replace(_site(file, line, group_entries, ok), package=packages.get(file)))
    return tuple(sites)


def _site(file: str, line: int, entries: list[tuple[str, Mapping[str, Any]]],
          ok: Sequence[tuple[str, Mapping[str, Any]]]) -> Site:
    spoken = [s for _c, s in entries if s["compiler"] != "none"] or [s for _c, s in entries]
    column = min(s["column"] for s in spoken)
    source = max((s["source"] for s in spoken if s["column"] == column), key=len)
    cells: dict[str, SiteCell] = {}
    for col, cell in ok:
        mine = [s for c, s in entries if c == col]
        profiled = _has_profile(cell)
        covered = (file, line) in _covered_lines(cell) or any(s["covered"] for s in mine)
        heap = [s for s in mine if s["compiler"] == "heap"]
        stack = [s for s in mine if s["compiler"] == "stack"]
        said = (heap or stack)[0] if heap or stack else None
        compiler = Compiler(said["compiler"]) if said else Compiler.NONE
        measured: tuple[Measured, ...] | None = None
        if profiled:
            measured = tuple(Measured(m["benchmark"], m["allocs_per_op"], m["bytes_per_op"],
                                      tuple(m.get("callees", ())), m.get("iterations")) for s in mine
                             for m in s["measured"])
        allocs = None if measured is None else sum(m.allocs_per_op for m in measured)
        inlined = any(s.get("inlined", False) for s in mine)
        cells[col] = SiteCell(compiler, said["message"] if said else "", said["reason"] if said else None,
                              measured, covered, judge(compiler, allocs, covered, inlined, _in_callee(measured)),
                              inlined)
    return Site(f"{file}:{line}:{column}", file, line, column, source, cells)


# ---------------------------------------------------------------- claims


def _in_callee(measured: Sequence[Measured] | None) -> bool:
    allocating = [m for m in measured or () if m.allocs_per_op >= ALLOCATES_THRESHOLD]
    return bool(allocating) and all(m.callees for m in allocating)


def _line_cell(sites: Sequence[Site], file: str, line: int, col: str) -> SiteCell | None:
    """Everything at one line in one column: the sites there merged (heap wins for the compiler)."""
    here = [s.cells[col] for s in sites if s.file == file and s.line == line and col in s.cells]
    if not here:
        return None
    said = next((c for c in here if c.compiler == Compiler.HEAP), None) or \
        next((c for c in here if c.compiler == Compiler.STACK), None) or here[0]
    measured = None if any(c.measured is None for c in here) else tuple(m for c in here for m in c.measured or ())
    allocs = None if measured is None else sum(m.allocs_per_op for m in measured)
    covered = any(c.covered for c in here)
    inlined = any(c.inlined for c in here)
    return SiteCell(said.compiler, said.message, said.reason, measured, covered,
                    judge(said.compiler, allocs, covered, inlined, _in_callee(measured)), inlined)


def _why(col: str, file: str, line: int, cell: SiteCell | None, benchmark_allocs: float | None = None) -> Why:
    if cell is None:
        return Why(col, file, line, Compiler.NONE, "", None, None, None, benchmark_allocs)
    return Why(col, file, line, cell.compiler, cell.message, cell.reason, cell.allocs_per_op, cell.bytes_per_op,
               benchmark_allocs)


def measured_allocs(result: Mapping[str, Any] | None) -> float | None:
    """The exact allocs/op when it was measured, else go test's (truncated) median."""
    if result is None:
        return None
    exact = result.get("exact_allocs_per_op")
    return float(exact) if exact is not None else result.get("allocs_per_op")


def counted_allocs(result: Mapping[str, Any] | None) -> float | None:
    """allocs/op as the count that claims and changes compare: the exact figure, snapped to a whole count
    within the tolerance or within a couple of runtime allocations of its whole timed run."""
    value = measured_allocs(result)
    if value is None or result is None:
        return value
    return snapped_allocs(value, result.get("exact_iterations") if result.get("exact_allocs_per_op") is not None
                          else None)


def _in_range(value: float, claim: Claim) -> bool:
    bounds = claim.allocs
    if bounds is None:
        return False
    low_ok = bounds.min is None or value >= bounds.min or allocs_equal(value, bounds.min)
    high_ok = bounds.max is None or value <= bounds.max or allocs_equal(value, bounds.max)
    return low_ok and high_ok


def _site_claim(claim: Claim, sites: Sequence[Site], col: str,
                cell: Mapping[str, Any]) -> tuple[bool | None, Why | None]:
    assert claim.site is not None
    here = _line_cell(sites, claim.site.file, claim.site.line, col)
    if here is None:  # no diagnostic and nothing measured at that line in this cell
        profiled, covered = _has_profile(cell), (claim.site.file, claim.site.line) in _covered_lines(cell)
        here = SiteCell(Compiler.NONE, "", None, () if profiled else None, covered,
                        judge(Compiler.NONE, 0.0 if profiled else None, covered))
    why = _why(col, claim.site.file, claim.site.line, here)
    if here.evidence == Evidence.NO_PROFILE or here.evidence == Evidence.NOT_RUN:
        # Nothing measured here: only the compiler's word is left, and silence says nothing.
        return (None if here.compiler == Compiler.NONE else here.compiler.value == claim.expect), why
    allocates = (here.allocs_per_op or 0.0) >= ALLOCATES_THRESHOLD
    return allocates == (claim.expect == "heap"), why


def _benchmark_claim(claim: Claim, case: Mapping[str, Any], sites: Sequence[Site],
                     col: str) -> tuple[bool | None, Why | None]:
    bench = next((b for b in case["benchmarks"] if b["name"] == claim.benchmark), None)
    value = counted_allocs(bench["results"].get(col)) if bench else None
    if value is None:
        return None, None
    # The line that explains the count: where this benchmark allocates most, else its first site.
    where = [(m.allocs_per_op, s) for s in sites if col in s.cells for m in s.cells[col].measured or ()
             if m.benchmark == claim.benchmark]
    site = max(where, key=lambda pair: pair[0])[1] if where else None
    if site is None:
        linked = covered((bench or {}).get("linked_ranges", []))
        site = next((s for s in sites if (s.file, s.line) in linked and col in s.cells), None)
    if site is None:
        return _in_range(value, claim), Why(col, "", 0, Compiler.NONE, "", None, None, None, value)
    here = _line_cell(sites, site.file, site.line, col)
    mine = None if here is None or here.measured is None else \
        [m for m in here.measured if m.benchmark == claim.benchmark]
    why = Why(col, site.file, site.line, here.compiler if here else Compiler.NONE, here.message if here else "",
              here.reason if here else None, None if mine is None else sum(m.allocs_per_op for m in mine),
              None if mine is None else sum(m.bytes_per_op for m in mine), value)
    return _in_range(value, claim), why


def _documented(claim: Claim, version: str) -> bool:
    return in_version_range(version, claim.since, claim.until)


def _agreement(claim: Claim, holds_in: Mapping[str, tuple[str, ...]],
               versions: Mapping[str, tuple[str, ...]]) -> Agreement:
    if claim.since is None and claim.until is None:
        return Agreement.UNDATED
    verdicts = set()
    for arch, measured in versions.items():
        documented = {v for v in measured if _documented(claim, v)}
        holds = set(holds_in.get(arch, ()))
        if holds == documented:
            verdicts.add(Agreement.AS_DOCUMENTED)
        elif documented < holds and all(version_key(v) < min(map(version_key, documented or holds))
                                        for v in holds - documented):
            verdicts.add(Agreement.EARLIER)
        elif holds < documented and all(version_key(v) < min(map(version_key, holds or documented))
                                        for v in documented - holds):
            verdicts.add(Agreement.LATER)
        else:
            verdicts.add(Agreement.DIFFERS)
    return verdicts.pop() if len(verdicts) == 1 else Agreement.DIFFERS


def grouped_runs(columns: Sequence[Column], values: Mapping[str, Any],
                 same: Any = None) -> tuple[ArchRuns, ...]:
    """Per arch, the runs of equal values over the versions (None values skipped); arches with the same
    runs are grouped. same(a, b) decides equality (default ==); a run keeps its first value."""
    equal = same or (lambda a, b: a == b)
    groups: list[tuple[list[str], list[Run]]] = []
    for arch in sorted({c.arch for c in columns}):
        runs: list[Run] = []
        for column in (c for c in columns if c.arch == arch):
            value = values.get(column.id)
            if value is None:
                continue
            if runs and equal(runs[-1].value, value):
                runs[-1] = Run(runs[-1].first, column.go_version, runs[-1].value)
            else:
                runs.append(Run(column.go_version, column.go_version, value))
        # Arches share a group when their runs cover the same versions with equal values (1.01 and 1.0
        # allocs/op are one count).
        def same_runs(other: list[Run], mine: list[Run] = runs) -> bool:
            return len(other) == len(mine) and all((a.first, a.last) == (b.first, b.last) and equal(a.value, b.value)
                                                   for a, b in zip(other, mine, strict=True))
        match = next((g for g in groups if same_runs(g[1])), None)
        if match is not None:
            match[0].append(arch)
        else:
            groups.append(([arch], runs))
    return tuple(ArchRuns(tuple(arches), tuple(runs)) for arches, runs in groups if runs)


def judge_claim(claim: Claim, case: Mapping[str, Any], sites: Sequence[Site], columns: Sequence[Column],
                cells: Mapping[str, Mapping[str, Any]]) -> ClaimVerdict:
    results: dict[str, bool | None] = {}
    why: dict[str, Why | None] = {}
    for column in columns:
        cell = cells.get(column.id)
        if cell is None or cell["status"] != Status.OK:
            results[column.id], why[column.id] = None, None
        elif claim.site is not None:
            results[column.id], why[column.id] = _site_claim(claim, sites, column.id, cell)
        else:
            results[column.id], why[column.id] = _benchmark_claim(claim, case, sites, column.id)
    history = grouped_runs(columns, results)
    flips = tuple(Flip(group.arches, previous.last, run.first, bool(run.value),
                       why.get(column_id(run.first, group.arches[0])))
                  for group in history for previous, run in zip(group.runs, group.runs[1:], strict=False))
    arches = sorted({c.arch for c in columns})
    holds_in = {arch: tuple(c.go_version for c in columns if c.arch == arch and results.get(c.id)) for arch in arches}
    measured_versions = {arch: tuple(c.go_version for c in columns if c.arch == arch and results.get(c.id) is not None)
                         for arch in arches}
    expected = claim.expect or (claim.allocs.text() if claim.allocs else "")
    subject = f"{claim.site.file}:{claim.site.line}" if claim.site else str(claim.benchmark)
    return ClaimVerdict(claim.id, claim.text, "site" if claim.site else "benchmark", subject, str(expected),
                        claim.since,
                        claim.until, claim.documented, results, why, history, flips,
                        _agreement(claim, holds_in, measured_versions), holds_in)


# ---------------------------------------------------------------- changes and disagreements


def _allocs_same(a: float, b: float) -> bool:
    return allocs_equal(snapped_allocs(a), snapped_allocs(b))


def _measured_key(cell: SiteCell) -> tuple[tuple[str, Figures], ...] | None:
    """Per benchmark that allocates at the site: its figures there (allocs/op snapped, and the profiled run's
    ops, so that the same allocations per run over other numbers of ops compare equal: same_per_run)."""
    if cell.measured is None:
        return None
    # snapped as a benchmark's count is: a runtime allocation or two in its whole run is the same count
    return tuple(sorted(((m.benchmark, Figures(snapped_allocs(m.allocs_per_op, m.iterations), m.bytes_per_op,
                                                m.iterations, m.allocs_per_op)) for m in cell.measured),
                        key=lambda p: p[0]))


def _allocating(figures: Figures | None) -> bool:
    return figures is not None and (figures.allocs_per_op or 0) >= ALLOCATES_THRESHOLD


def _same_measured(a: tuple[tuple[str, Figures], ...], b: tuple[tuple[str, Figures], ...]) -> bool:
    """The same allocations at a site: every benchmark that allocates there on either side allocates the same on
    the other (same_per_run included: 5 allocations per run over 188 ops and over 100 are 0.027 and 0.05)."""
    mine, theirs = dict(a), dict(b)
    for name in mine.keys() | theirs.keys():
        x, y = mine.get(name), theirs.get(name)
        if not (_allocating(x) or _allocating(y)):
            continue
        if x is None or y is None or not _same_allocs(x, y):
            return False
    return True


def site_changes(case: str, site: Site, columns: Sequence[Column]) -> list[Change]:
    """What changed at a site across versions: the measured allocations (with whether the compiler's words
    changed at the same step), and the compiler's words at steps where the allocations did not change
    ("diagnostic changed, allocations unchanged"), or where nothing is measured there at all."""
    measured = {col: _measured_key(cell) if cell.evidence not in (Evidence.NOT_RUN, Evidence.NO_PROFILE) else None
                for col, cell in site.cells.items()}
    # The compiler's verdict (heap, stack, none) with its message; a message reworded under the same
    # verdict (1024 * 64 printed as 65536) is not a change.
    words = {col: (cell.compiler.value, cell.message) for col, cell in site.cells.items()}
    verdicts = {col: verdict for col, (verdict, _message) in words.items()}
    out = []
    for group in grouped_runs(columns, measured, _same_measured):
        if len(group.runs) > 1:
            arch = group.arches[0]
            steps = list(zip(group.runs, group.runs[1:], strict=False))
            same = [verdicts.get(column_id(a.last, arch)) == verdicts.get(column_id(b.first, arch)) for a, b in steps]
            unchanged = True if all(same) else (False if not any(same) else None)
            runs = tuple(Run(run.first, run.last, tuple((name, figures.allocs_per_op) for name, figures in run.value
                                                        if _allocating(figures)))
                         for run in group.runs)
            out.append(Change(case, ChangeKind.SITE_ALLOCATIONS, site.id, site.source, group.arches, runs,
                              unchanged, tuple(b.first for _a, b in steps), True, site.package))
    for group in grouped_runs(columns, words, lambda a, b: a[0] == b[0]):
        if len(group.runs) < 2:
            continue
        arch = group.arches[0]
        steps = list(zip(group.runs, group.runs[1:], strict=False))
        before_after = [(measured.get(column_id(a.last, arch)), measured.get(column_id(b.first, arch)))
                        for a, b in steps]
        quiet = tuple(b.first for (_a, b), (old, new) in zip(steps, before_after, strict=True)
                      if old is not None and new is not None and _same_measured(old, new))
        if quiet:
            out.append(Change(case, ChangeKind.SITE_DIAGNOSTIC, site.id, site.source, group.arches, group.runs,
                              None, quiet, True, site.package))
        elif all(old is None and new is None for old, new in before_after):
            out.append(Change(case, ChangeKind.SITE_DIAGNOSTIC, site.id, site.source, group.arches, group.runs,
                              None, tuple(b.first for _a, b in steps), False, site.package))
    return out


@dataclass(frozen=True)
class Figures:
    """A benchmark's figures in one cell, as changes compare them: allocs/op (counted_allocs) and B/op, and,
    where they are exact, the ops of the exact run."""

    allocs_per_op: float | None
    bytes_per_op: float | None
    iterations: int | None  # None: go test's truncated figures
    exact_allocs_per_op: float | None = None  # as the exact run counted it (allocs_per_op may be snapped)

    @staticmethod
    def of(result: Mapping[str, Any]) -> Figures:
        exact = result.get("exact_allocs_per_op") is not None
        return Figures(counted_allocs(result),
                       result["exact_bytes_per_op"] if exact else result.get("bytes_per_op"),
                       result.get("exact_iterations") if exact else None,
                       result.get("exact_allocs_per_op"))

    @property
    def per_run(self) -> tuple[float, float] | None:
        """(allocations, bytes) over the whole run the figures come from; None without its ops."""
        if self.iterations is None or self.exact_allocs_per_op is None or self.bytes_per_op is None:
            return None
        return self.exact_allocs_per_op * self.iterations, self.bytes_per_op * self.iterations


def same_per_run(a: Figures, b: Figures) -> bool:
    """Two exact runs of different lengths that made the same allocations per run, their count within
    RUNTIME_ALLOCATIONS_PER_RUN and their bytes within 1 %: allocations made once per run (a pool or a cache
    refilled), spread over other numbers of ops. Not a change per op, whatever allocs/op says. Whole counts
    per op on both sides are per op (1 per op over 78 ops makes as many as 2 per op over 39)."""
    mine, theirs = a.per_run, b.per_run
    if mine is None or theirs is None or a.iterations == b.iterations or \
            (float(a.allocs_per_op or 0).is_integer() and float(b.allocs_per_op or 0).is_integer()):
        return False
    return abs(mine[0] - theirs[0]) <= RUNTIME_ALLOCATIONS_PER_RUN + 1e-6 and \
        abs(mine[1] - theirs[1]) <= 0.01 * max(mine[1], theirs[1])


def _same_allocs(a: Figures, b: Figures) -> bool:
    return a.allocs_per_op is not None and b.allocs_per_op is not None and \
        (_allocs_same(a.allocs_per_op, b.allocs_per_op) or same_per_run(a, b))


def _same_bytes(a: Figures, b: Figures) -> bool:
    return a.bytes_per_op is not None and b.bytes_per_op is not None and \
        (bytes_equal(a.bytes_per_op, b.bytes_per_op) or same_per_run(a, b))


def _as_values(runs: Sequence[Run], field: str) -> tuple[Run, ...]:
    return tuple(Run(run.first, run.last, getattr(run.value, field)) for run in runs)


def benchmark_changes(case: str, bench: Mapping[str, Any], columns: Sequence[Column],
                      sites: Sequence[Site]) -> list[Change]:
    """A benchmark's changes of allocs/op and of B/op across versions. Two exact runs that made the same
    allocations per run over other numbers of ops (same_per_run) are not a change."""
    figures = {col: Figures.of(result) for col, result in bench["results"].items()}
    lines = covered(bench.get("linked_ranges", []))
    mine = [s for s in sites if (s.file, s.line) in lines]

    def words(col: str) -> tuple[tuple[str, str, str], ...]:
        return tuple((s.id, s.cells[col].compiler.value, s.cells[col].message) for s in mine if col in s.cells)
    out = []
    allocs = {col: f for col, f in figures.items() if f.allocs_per_op is not None}
    for group in grouped_runs(columns, allocs, _same_allocs):
        if len(group.runs) > 1:
            arch = group.arches[0]
            unchanged = all(words(column_id(a.last, arch)) == words(column_id(b.first, arch))
                            for a, b in zip(group.runs, group.runs[1:], strict=False))
            out.append(Change(case, ChangeKind.BENCHMARK_ALLOCS, bench["name"], "", group.arches,
                              _as_values(group.runs, "allocs_per_op"), unchanged, package=bench.get("package")))
    byte_values = {col: f for col, f in figures.items() if f.bytes_per_op is not None}
    for group in grouped_runs(columns, byte_values, _same_bytes):
        if len(group.runs) > 1:
            out.append(Change(case, ChangeKind.BENCHMARK_BYTES, bench["name"], "", group.arches,
                              _as_values(group.runs, "bytes_per_op"), None, package=bench.get("package")))
    return out


def per_run_steps(bench: Mapping[str, Any], columns: Sequence[Column]) -> list[tuple[Column, Column, Figures,
                                                                                     Figures]]:
    """The steps between consecutive versions (per arch) where the benchmark's allocs/op or B/op differ only
    because its exact runs had other numbers of ops (same_per_run): (before, after) columns and figures."""
    figures = {col: Figures.of(result) for col, result in bench["results"].items()}
    out = []
    for arch in sorted({c.arch for c in columns}):
        mine = [c for c in columns if c.arch == arch and c.id in figures]
        for before, after in itertools.pairwise(mine):
            a, b = figures[before.id], figures[after.id]
            differ = not (a.allocs_per_op is not None and b.allocs_per_op is not None and
                          _allocs_same(a.allocs_per_op, b.allocs_per_op)) or \
                not (a.bytes_per_op is not None and b.bytes_per_op is not None and
                     bytes_equal(a.bytes_per_op, b.bytes_per_op))
            if differ and same_per_run(a, b):
                out.append((before, after, a, b))
    return out


def disagreements(case: str, site: Site, columns: Sequence[Column]) -> list[Disagreement]:
    """Where the compiler's words and the measurement at a site disagree, one entry per (verdict, message),
    with the versions per arch (arches with the same versions grouped)."""
    found: dict[tuple[Evidence, str, str | None], dict[str, list[str]]] = {}
    allocs: dict[tuple[Evidence, str, str | None], dict[str, list[float]]] = {}
    for column in columns:
        cell = site.cells.get(column.id)
        if cell is None or not cell.evidence.misleading:
            continue
        key = (cell.evidence, cell.message, cell.reason)
        found.setdefault(key, {}).setdefault(column.arch, []).append(column.go_version)
        for m in cell.measured or ():
            allocs.setdefault(key, {}).setdefault(m.benchmark, []).append(m.allocs_per_op)
    out = []
    for (evidence, message, reason), by_arch in found.items():
        grouped: dict[tuple[str, ...], list[str]] = {}
        for arch, arch_versions in sorted(by_arch.items()):
            grouped.setdefault(tuple(arch_versions), []).append(arch)
        for versions, arch_list in grouped.items():
            every = tuple(c.go_version for c in columns if c.arch == arch_list[0])
            spreads = tuple(Spread(name, min(values), max(values))
                            for name, values in sorted(allocs.get((evidence, message, reason), {}).items())
                            if max(values) >= ALLOCATES_THRESHOLD)
            out.append(Disagreement(case, site.id, site.source, evidence, message, reason, versions, every,
                                    tuple(arch_list), spreads))
    return out


def under_load(cells: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """Cell key -> whether its native benchmark step ran while another cell's step ran on the same machine
    (same clock); None when unknown (emulated, no bench step, or no clock recorded)."""
    by_clock: dict[str, list[tuple[float, float, str]]] = {}  # clock -> (start, end, cell key) of every step
    first_bench: dict[str, tuple[str, float, float]] = {}  # cell key -> clock, start, end of its first bench step
    for cell in cells:
        clock = cell["timings"].get("clock")
        for step in cell["timings"]["steps"]:
            if clock and step.get("start") is not None and step.get("end") is not None:
                start, end = float(step["start"]), float(step["end"])
                by_clock.setdefault(clock, []).append((start, end, cell["key"]))
                if step["name"] == "bench":
                    first_bench.setdefault(cell["key"], (clock, start, end))
    overlaps = {clock: _Overlaps(steps) for clock, steps in by_clock.items()}
    out: dict[str, bool | None] = {}
    for cell in cells:
        bench = first_bench.get(cell["key"])
        if cell["emulated"] or bench is None:
            out[cell["key"]] = None
            continue
        clock, start, end = bench
        out[cell["key"]] = overlaps[clock].latest_end(before=end, other_than=cell["key"]) > start
    return out


class _Overlaps:
    """Intervals sorted by start, with the latest end among those starting before a time, by whose interval
    it is and the latest of anyone else's: whether another cell's step overlaps a time span, in log time."""

    def __init__(self, intervals: Iterable[tuple[float, float, str]]) -> None:
        ordered = sorted(intervals, key=lambda interval: interval[0])
        self.starts = [start for start, _end, _key in ordered]
        # Per prefix: (latest end, its key, the latest end of any other key).
        self.prefix: list[tuple[float, str, float]] = []
        best, key, second = -math.inf, "", -math.inf
        for _start, end, owner in ordered:
            if owner == key:
                best = max(best, end)
            elif end > best:
                best, key, second = end, owner, best
            else:
                second = max(second, end)
            self.prefix.append((best, key, second))

    def latest_end(self, *, before: float, other_than: str) -> float:
        """The latest end of an interval that starts before `before` and is not other_than's."""
        count = bisect.bisect_left(self.starts, before)
        if not count:
            return -math.inf
        best, key, second = self.prefix[count - 1]
        return best if key != other_than else second
