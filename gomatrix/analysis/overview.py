"""The first screen of a report on many benchmarks: which benchmarks' exact allocs/op or B/op changed between Go
versions, each with the sites whose measured allocations for it changed at the same step and what `-m` said
there before and after; then how many benchmarks and sites there are and how many did not change, and which
differ only because their runs had other numbers of ops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gomatrix.analysis.evidence import Change, ChangeKind, Column, Run, Site, per_run_steps
from gomatrix.core.values import ALLOCATES_THRESHOLD, allocs_equal, column_id, snapped_allocs


@dataclass(frozen=True)
class SiteStep:
    """A site whose allocations for one benchmark changed between two versions, with -m's words at both."""

    site: str
    source: str
    before: float | None  # allocs/op measured there for the benchmark (None: no profile)
    after: float | None
    compiler_before: str  # heap, stack or none
    compiler_after: str
    message_before: str
    message_after: str
    callees: tuple[str, ...]  # functions called there inside which the allocations were made


@dataclass(frozen=True)
class BenchmarkStep:
    case: str
    package: str | None
    benchmark: str
    kind: ChangeKind  # allocs/op or B/op
    arches: tuple[str, ...]
    before: Run
    after: Run
    exact: bool  # both figures exact (the hook's totals); else go test's truncated ones
    sites: tuple[SiteStep, ...]


@dataclass(frozen=True)
class PerRunStep:
    """A benchmark whose allocs/op or B/op differ between two versions only because its exact runs had other
    numbers of ops: each run made the same allocations (evidence.same_per_run). Counted as unchanged."""

    case: str
    package: str | None
    benchmark: str
    arch: str
    before: str  # Go versions
    after: str
    allocs_per_run: float  # the exact run's count before (the one after is within a runtime allocation or two)
    bytes_per_run: float
    ops_before: int
    ops_after: int
    allocs_per_op_before: float
    allocs_per_op_after: float


@dataclass(frozen=True)
class Overview:
    benchmarks: int  # benchmark rows (package, name) over every case
    sites: int
    allocating_sites: int  # sites that allocate in some cell
    changed_benchmarks: int  # benchmarks with at least one step
    unchanged_benchmarks: int
    steps: tuple[BenchmarkStep, ...]
    per_run: tuple[PerRunStep, ...] = ()


def _measured_for(site: Site, col: str, benchmark: str) -> float | None:
    cell = site.cells.get(col)
    if cell is None or cell.measured is None:
        return None
    return sum(m.allocs_per_op for m in cell.measured if m.benchmark == benchmark)


def _site_steps(sites: Sequence[Site], benchmark: str, before: str, after: str) -> tuple[SiteStep, ...]:
    out = []
    for site in sites:
        old, new = _measured_for(site, before, benchmark), _measured_for(site, after, benchmark)
        if old is None or new is None or allocs_equal(snapped_allocs(old), snapped_allocs(new)) or \
                max(old, new) < ALLOCATES_THRESHOLD:
            continue
        a, b = site.cells[before], site.cells[after]
        callees = tuple(sorted({c for cell in (a, b) for m in cell.measured or () if m.benchmark == benchmark
                                for c in m.callees}))
        out.append(SiteStep(site.id, site.source, old, new, a.compiler.value, b.compiler.value, a.message,
                            b.message, callees))
    return tuple(sorted(out, key=lambda s: -abs((s.after or 0) - (s.before or 0))))


def overview(cases: Sequence[Mapping[str, Any]], sites_by_case: Mapping[str, Sequence[Site]],
             changes: Sequence[Change], columns: Sequence[Column]) -> Overview:
    """cases: the report's case documents (benchmarks with results); changes: every change across versions."""
    rows = {(case["name"], bench.get("package"), bench["name"]): bench
            for case in cases for bench in case["benchmarks"]}
    steps: list[BenchmarkStep] = []
    changed: set[tuple[str, str | None, str]] = set()
    for change in changes:
        if change.kind not in (ChangeKind.BENCHMARK_ALLOCS, ChangeKind.BENCHMARK_BYTES):
            continue
        key = (change.case, change.package, change.subject)
        bench = rows.get(key)
        if bench is None:
            continue
        changed.add(key)
        arch = change.arches[0]
        for before, after in zip(change.runs, change.runs[1:], strict=False):
            old_col, new_col = column_id(before.last, arch), column_id(after.first, arch)
            results = bench["results"]
            exact = all((results.get(col) or {}).get("exact_allocs_per_op") is not None for col in (old_col, new_col))
            label = _label(bench, cases, change.case)
            steps.append(BenchmarkStep(change.case, change.package, change.subject, change.kind, change.arches,
                                       before, after, exact,
                                       _site_steps(sites_by_case.get(change.case, ()), label, old_col, new_col)))
    all_sites = [site for sites in sites_by_case.values() for site in sites]
    allocating = sum(1 for site in all_sites if any(
        (cell.allocs_per_op or 0) >= ALLOCATES_THRESHOLD for cell in site.cells.values()))
    per_run = tuple(PerRunStep(case, package, name, before.arch, before.go_version, after.go_version,
                               *(a.per_run or (0.0, 0.0)), a.iterations or 0, b.iterations or 0,
                               a.exact_allocs_per_op or 0, b.exact_allocs_per_op or 0)
                    for (case, package, name), bench in rows.items()
                    for before, after, a, b in per_run_steps(bench, columns))
    return Overview(len(rows), len(all_sites), allocating, len(changed), len(rows) - len(changed), tuple(steps),
                    per_run)


def _label(bench: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], case: str) -> str:
    """The name a site's measurements use for a benchmark: a module's benchmark whose name two packages share
    carries its package (run/cellfile)."""
    package = bench.get("package")
    if package is None:
        return str(bench["name"])
    others = [b for c in cases if c["name"] == case for b in c["benchmarks"]
              if b["name"] == bench["name"] and b.get("package") != package]
    return f"{package}.{bench['name']}" if others else str(bench["name"])
