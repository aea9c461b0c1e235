"""The report document (schemas/report.schema.json): cell documents in, evidence out, as JSON values.

Pure: the same cells and cases give the same document. Its plots and its comparison with the previous
run are empty here: the caller draws them from this document (they need files and history) and adds
them to a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gomatrix import __version__
from gomatrix.analysis.budgets import check_budgets
from gomatrix.analysis.evidence import (
    Column,
    benchmark_changes,
    case_sites,
    cell_version,
    columns_of,
    disagreements,
    judge_claim,
    site_changes,
    under_load,
)
from gomatrix.analysis.overview import overview
from gomatrix.analysis.stats import compare
from gomatrix.core.kinds import FAILING_STATUSES
from gomatrix.core.values import column_id, to_json, version_key
from gomatrix.plan.cases import Case

REPORT_SCHEMA_VERSION = 3


def _linked(case_cells: Sequence[tuple[str, Mapping[str, Any]]], name: str) -> list[dict[str, Any]]:
    ranges: dict[tuple[str, int, int], dict[str, Any]] = {}
    for _col, cell in case_cells:
        for bench in cell["benchmarks"]:
            if bench["name"] == name:
                for item in bench.get("linked") or []:
                    ranges.setdefault((item["file"], item["first_line"], item["last_line"]), dict(item))
    return [ranges[k] for k in sorted(ranges)]


def _benchmarks(case_cells: Sequence[tuple[str, Mapping[str, Any]]], loaded: Mapping[str, bool | None],
                columns: Sequence[Column]) -> list[dict[str, Any]]:
    # by (package, name): module cases run one binary per package; a name matched across versions is one row
    rows: dict[tuple[str | None, str], dict[str, dict[str, Any]]] = {}
    for col, cell in case_cells:
        for bench in cell["benchmarks"]:
            row = (bench.get("package"), bench["name"])
            ns = [s["ns_per_op"] for s in bench["samples"] if s["ns_per_op"] is not None]
            exact = bench.get("exact")
            profile = bench.get("profile")
            rows.setdefault(row, {})[col] = {
                "allocs_per_op": bench["allocs_per_op"],
                "exact_allocs_per_op": exact["allocs_per_op"] if exact else None,
                "exact_bytes_per_op": exact["bytes_per_op"] if exact else None,
                "exact_iterations": exact["iterations"] if exact else None,
                "allocs_exact": exact is not None,
                "bytes_per_op": bench["bytes_per_op"],
                "ns_per_op": bench["ns_per_op"],
                "ns_range": [min(ns), max(ns)] if ns else None,
                "ns_samples": ns,
                "samples": len(bench["samples"]),
                "emulated": cell["emulated"],
                "under_load": loaded.get(cell["key"]),
                "profile_adds_up": profile.get("adds_up") if profile else None,
                "profile_note": (profile.get("note") or profile.get("error")) if profile else None,
                "ns_vs_previous": _ns_vs_previous(rows.get(row, {}), columns, col, ns,
                                                  loaded.get(cell["key"]), cell["emulated"]),
            }
    return [{"name": name, "linked_ranges": _linked(case_cells, name), "results": results,
             **({"package": package} if package else {})}
            for (package, name), results in rows.items()]


def _json_without_package(values: Iterable[Any]) -> list[Any]:
    """Sites and changes as JSON; "package" only where there is one (module cases): case directories' reports
    stay as they were."""
    out = []
    for value in to_json(list(values)):
        if value.get("package") is None:
            value.pop("package", None)
        out.append(value)
    return out


def _module_doc(cells: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """A module case's path and link template, from its newest cell that has them."""
    for _col, cell in reversed(cells):
        module = cell.get("module")
        if module:
            return {"module": {"path": module["path"], "source_url": module.get("source_url")}}
    return {}


def _ns_vs_previous(earlier: Mapping[str, Mapping[str, Any]], columns: Sequence[Column], col: str,
                    ns: list[float], loaded: bool | None, emulated: bool) -> dict[str, Any] | None:
    """ns/op against the previous version on the same native arch; never emulated, never under load."""
    if emulated or loaded:
        return None
    column = next(c for c in columns if c.id == col)
    before = [c for c in columns if c.arch == column.arch and not c.emulated
              and version_key(c.go_version) < version_key(column.go_version) and c.id in earlier]
    if not before:
        return None
    previous = earlier[before[-1].id]
    if previous["emulated"] or previous["under_load"]:
        return None
    comparison = compare(previous["ns_samples"], ns)
    if comparison is None:
        return None
    return {"previous": before[-1].id, "delta_pct": comparison.delta_pct, "p_value": comparison.p_value,
            "significant": comparison.significant}


def environment(cells: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where and how the numbers were taken: CPUs, cores, jobs, GOMAXPROCS, benchtime, count, version."""
    def distinct(values: Iterable[Any]) -> list[Any]:
        return sorted({v for v in values if v is not None}, key=str)
    native = [c for c in cells if not c["emulated"]]
    return {
        "cpus": distinct(c["settings"].get("cpu") for c in native),
        "cores": distinct(c["settings"].get("cores") for c in cells),
        "jobs": distinct(c["settings"].get("jobs") for c in cells),
        "gomaxprocs": distinct((b["procs"] or 1) for c in cells for b in c["benchmarks"]),
        "benchtime": distinct(c["settings"]["benchtime"] for c in cells),
        "count": distinct(c["settings"]["count"] for c in cells),
        "runners": distinct(c["runner"] for c in cells),
        "gomatrix_version": __version__,
        "timed_cells": sum(1 for c in cells if any(b["samples"] for b in c["benchmarks"])),
        "without_exact": [{"key": c["key"], "why": c["hook"]["why"] or ""} for c in cells
                          if c.get("hook") and not c["hook"]["applied"]],
    }


def build_report(cells: Iterable[Mapping[str, Any]], cases: Sequence[Case], *, generated_at: str,
                 title: str = "gomatrix report") -> dict[str, Any]:
    """Merge cell documents into one report document."""
    cell_list = sorted(cells, key=lambda c: (version_key(cell_version(c)), c["arch"], c["case"]))
    columns = columns_of(cell_list)
    loaded = under_load(cell_list)
    case_by_name = {c.name: c for c in cases}
    case_names = sorted({c["case"] for c in cell_list}, key=lambda n: (n not in case_by_name, n))
    report_cases = []
    changes: list[Any] = []
    misleading: list[Any] = []
    sites_by_case: dict[str, Sequence[Any]] = {}
    by_case: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for c in cell_list:
        by_case.setdefault(c["case"], []).append((column_id(cell_version(c), c["arch"]), c))
    for name in case_names:
        case_cells = by_case[name]
        by_column = dict(case_cells)
        sites = case_sites(case_cells)
        sites_by_case[name] = sites
        benchmarks = _benchmarks(case_cells, loaded, columns)
        meta = case_by_name.get(name)
        case_doc = {"name": name, "benchmarks": benchmarks}
        claims = [judge_claim(claim, case_doc, sites, columns, by_column) for claim in (meta.claims if meta else ())]
        for site in sites:
            changes += site_changes(name, site, columns)
            misleading += disagreements(name, site, columns)
        for bench in benchmarks:
            changes += benchmark_changes(name, bench, columns, sites)
        report_cases.append({
            "name": name,
            "title": meta.title if meta else name,
            "source": meta.source if meta else "",
            "benchmarks": benchmarks,
            "sites": _json_without_package(sites),
            **_module_doc(case_cells),
            "claims": to_json(claims),
            **({"budgets": to_json(check_budgets(meta.budgets, benchmarks, columns))} if meta and meta.budgets else {}),
        })
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": title,
        "generated_at": generated_at,
        "environment": environment(cell_list),
        "columns": to_json(columns),
        "cells": [
            {"key": c["key"], "case": c["case"], "column": column_id(cell_version(c), c["arch"]),
             "go_version": c["go_version"], "arch": c["arch"], "status": c["status"], "reason": c["reason"],
             "runner": c["runner"], "emulated": c["emulated"], "under_load": loaded.get(c["key"]),
             "cached": bool((c.get("cache") or {}).get("hit")),
             "image": (c["image"] or {}).get("ref") or (c.get("toolchain") or {}).get("source"),
             "digest": (c["image"] or {}).get("digest") or (c.get("toolchain") or {}).get("sha256"),
             "total_s": c["timings"]["total_s"],
             "expected_failure": (case_by_name[c["case"]].expected_failure(c["go_version"] or cell_version(c))
                                  if c["status"] in FAILING_STATUSES and c["case"] in case_by_name else None)}
            for c in cell_list
        ],
        "cases": report_cases,
        "changes": _json_without_package(changes),
        "overview": to_json(overview(report_cases, sites_by_case, changes, columns)),
        "disagreements": to_json(misleading),
        "plots": {},
        "since_previous": [],
    }
