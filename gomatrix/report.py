"""Reporting is pure: cell documents -> report document -> markdown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tabulate import tabulate

from gomatrix.cases import Case
from gomatrix.exact import AGREES, HEAP_BUT_NONE, STACK_BUT_ALLOCATES, allocs_equal
from gomatrix.stats import bytes_equal, compare

REPORT_SCHEMA_VERSION = 2
NO_DIAGNOSTIC = "stack (no diagnostic)"


def version_key(version: str) -> tuple[int, ...]:
    """'go1.24.11' / '1.24' -> (1, 24, 11) / (1, 24, -1) for ordering (a bare minor sorts first)."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:3]]
    while len(numbers) < 3:
        numbers.append(-1)
    return tuple(numbers)


def column_id(go_version: str, arch: str) -> str:
    return f"{go_version} {arch}"


def _cell_version(cell: dict[str, Any]) -> str:
    return str(cell["go_version"] or f"go{cell['planned']['version']}")


def base_verdict(verdict: str) -> str:
    """stack or heap: "stack (no diagnostic)" is on the stack."""
    return "stack" if verdict == NO_DIAGNOSTIC else verdict


def _sites(case_cells: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per allocation site (file, line, subject); a cell that ran but printed nothing for a
    site that other versions report is on the stack there: -m reports every heap allocation."""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for col, cell in case_cells:
        for esc in cell["escapes"]:
            key = (esc["file"], esc["line"], esc["subject"])
            row = rows.setdefault(key, {"file": esc["file"], "line": esc["line"], "subject": esc["subject"],
                                        "verdicts": {}})
            previous = row["verdicts"].get(col)
            # Inlining can report the same site twice; heap wins (it is the allocation).
            if previous is None or esc["verdict"] == "heap":
                row["verdicts"][col] = {"verdict": esc["verdict"], "message": esc["message"],
                                        "reason": esc.get("reason")}
    for row in rows.values():
        for col, cell in case_cells:
            if cell["status"] == "ok" and col not in row["verdicts"]:
                row["verdicts"][col] = {"verdict": NO_DIAGNOSTIC, "message": "", "reason": None}
    return [rows[k] for k in sorted(rows)]


def _benchmarks(case_cells: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for col, cell in case_cells:
        for bench in cell["benchmarks"]:
            row = rows.setdefault(bench["name"], {"name": bench["name"], "results": {}})
            ns = [s["ns_per_op"] for s in bench["samples"] if s["ns_per_op"] is not None]
            exact = bench.get("exact")
            row["results"][col] = {
                "allocs_per_op": bench["allocs_per_op"],
                "exact_allocs_per_op": exact["allocs_per_op"] if exact else None,
                "exact_bytes_per_op": exact["bytes_per_op"] if exact else None,
                "exact_iterations": exact["iterations"] if exact else None,
                "check": bench.get("check"),
                "bytes_per_op": bench["bytes_per_op"],
                "ns_per_op": bench["ns_per_op"],
                "ns_range": [min(ns), max(ns)] if ns else None,
                "ns_samples": ns,
                "samples": len(bench["samples"]),
                "emulated": cell["emulated"],
                "ns_vs_previous": None,
            }
    return list(rows.values())


def _claim_results(claim: Any, case_cells: list[tuple[str, dict[str, Any]]], sites: list[dict[str, Any]],
                   benchmarks: list[dict[str, Any]]) -> dict[str, bool | None]:
    results: dict[str, bool | None] = {}
    for col, cell in case_cells:
        if cell["status"] != "ok":
            results[col] = None
            continue
        if claim.site is not None:
            verdicts = [s["verdicts"].get(col, {}).get("verdict") for s in sites
                        if s["file"] == claim.site.file and s["line"] == claim.site.line]
            # No heap message at that line means nothing there went to the heap.
            verdict = "heap" if "heap" in verdicts else "stack"
            results[col] = verdict == claim.expect
        else:
            bench = next((b for b in benchmarks if b["name"] == claim.benchmark), None)
            value = measured_allocs(bench["results"].get(col)) if bench else None
            results[col] = None if value is None else allocs_equal(value, float(claim.allocs_per_op or 0))
    return results


def _segments(series: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """[(version, value)] in version order -> [(value, first version, last version)] runs."""
    runs: list[tuple[str, str, str]] = []
    for version, value in series:
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1], version)
        else:
            runs.append((value, version, version))
    return runs


def describe_runs(runs: Sequence[tuple[str, str, str]]) -> str:
    """'stack up to go1.23.9, heap from go1.24.11' style text."""
    parts = []
    for index, (value, first, last) in enumerate(runs):
        if index == 0:
            parts.append(f"{value} up to {last}")
        elif index == len(runs) - 1:
            parts.append(f"{value} from {first}")
        else:
            parts.append(f"{value} in {first}" if first == last else f"{value} in {first}–{last}")
    return ", ".join(parts)


def _series(columns: list[dict[str, Any]], arch: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["go_version"], str(values[c["id"]])) for c in columns
            if c["arch"] == arch and values.get(c["id"]) is not None]


def _changes(case_name: str, columns: list[dict[str, Any]], arches: list[str], label: str,
             values: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """One change entry per distinct history, naming the arches that share it."""
    by_text: dict[str, list[str]] = {}
    for arch in arches:
        runs = _segments(_series(columns, arch, values))
        if len(runs) > 1:
            by_text.setdefault(describe_runs(runs), []).append(arch)
    return [{"case": case_name, "kind": kind, "subject": label, "arches": arch_list, "text": text}
            for text, arch_list in by_text.items()]


def measured_allocs(result: dict[str, Any] | None) -> float | None:
    """The exact allocs/op when it was measured, else go test's (truncated) median."""
    if result is None:
        return None
    exact = result.get("exact_allocs_per_op")
    return float(exact) if exact is not None else result.get("allocs_per_op")


def fmt_allocs(value: float | None) -> str:
    """Exact allocs/op to three decimals (2.997 stays 2.997); whole counts without decimals."""
    if value is None:
        return "?"
    if abs(value - round(value)) < 0.0005:
        return str(round(value))
    return f"{value:.3f}".rstrip("0")


def snapped_allocs(value: float) -> float:
    """A value within the tolerance of a whole count is that count (1.01 from GC noise is 1)."""
    whole = float(round(value))
    return whole if allocs_equal(value, whole) else value


def _allocs_labels(columns: list[dict[str, Any]], bench: dict[str, Any]) -> dict[str, str | None]:
    """allocs/op per column as labels; values within the tolerance of their run share one label, so an
    exact 2.997 against 2.996 (a different N) is not a change."""
    labels: dict[str, str | None] = {}
    for arch in {c["arch"] for c in columns}:
        anchor: float | None = None
        for column in (c for c in columns if c["arch"] == arch):
            value = measured_allocs(bench["results"].get(column["id"]))
            if value is None:
                labels[column["id"]] = None
                continue
            value = snapped_allocs(value)
            if anchor is None or not allocs_equal(anchor, value):
                anchor = value
            labels[column["id"]] = f"{fmt_allocs(anchor)} allocs/op"
    return labels


def _bytes_labels(columns: list[dict[str, Any]], bench: dict[str, Any]) -> dict[str, str | None]:
    """B/op per column as labels in which values within the tolerance of their run share one label."""
    labels: dict[str, str | None] = {}
    for arch in {c["arch"] for c in columns}:
        anchor: float | None = None
        for column in (c for c in columns if c["arch"] == arch):
            value = bench["results"].get(column["id"], {}).get("bytes_per_op")
            if value is None:
                labels[column["id"]] = None
                continue
            if anchor is None or not bytes_equal(anchor, value):
                anchor = value
            labels[column["id"]] = f"{_fmt_number(anchor)} B/op"
    return labels


def _compare_ns(columns: list[dict[str, Any]], bench: dict[str, Any]) -> None:
    """ns/op of each native column against the previous version's on the same arch (never emulated)."""
    for arch in {c["arch"] for c in columns}:
        previous: dict[str, Any] | None = None
        for column in (c for c in columns if c["arch"] == arch and not c["emulated"]):
            result = bench["results"].get(column["id"])
            if result is None:
                continue
            if previous is not None:
                comparison = compare(previous["result"]["ns_samples"], result["ns_samples"])
                if comparison is not None:
                    result["ns_vs_previous"] = {"previous": previous["id"], "delta_pct": comparison.delta_pct,
                                                "p_value": comparison.p_value,
                                                "significant": comparison.significant}
            previous = {"id": column["id"], "result": result}


def _fmt_number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def build_report(cells: Iterable[dict[str, Any]], cases: Sequence[Case], *, generated_at: str,
                 title: str = "gomatrix report") -> dict[str, Any]:
    """Merge cell documents into one report document (validated by schemas/report.schema.json)."""
    cell_list = sorted(cells, key=lambda c: (version_key(_cell_version(c)), c["arch"], c["case"]))
    columns: list[dict[str, Any]] = []
    seen_cols: set[str] = set()
    for cell in cell_list:
        col = column_id(_cell_version(cell), cell["arch"])
        if col not in seen_cols:
            seen_cols.add(col)
            columns.append({"id": col, "go_version": _cell_version(cell), "arch": cell["arch"],
                            "emulated": cell["emulated"]})
    arches = sorted({c["arch"] for c in columns})
    case_by_name = {c.name: c for c in cases}
    case_names = sorted({c["case"] for c in cell_list}, key=lambda n: (n not in case_by_name, n))
    report_cases = []
    changes: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    for name in case_names:
        case_cells = [(column_id(_cell_version(c), c["arch"]), c) for c in cell_list if c["case"] == name]
        sites = _sites(case_cells)
        benchmarks = _benchmarks(case_cells)
        meta = case_by_name.get(name)
        claims = []
        for claim in meta.claims if meta else ():
            results = _claim_results(claim, case_cells, sites, benchmarks)
            texts = {k: (None if v is None else ("holds" if v else "fails")) for k, v in results.items()}
            claim_changes = _changes(name, columns, arches, claim.id, texts, "claim")
            claims.append({"id": claim.id, "text": claim.text, "results": results,
                           "changes": [c["text"] + f" ({', '.join(c['arches'])})" for c in claim_changes]})
            changes.extend(claim_changes)
        for site in sites:
            values = {k: base_verdict(v["verdict"]) for k, v in site["verdicts"].items()}
            label = f"{site['file']}:{site['line']} {site['subject']}"
            changes.extend(_changes(name, columns, arches, label, values, "escape"))
        for bench in benchmarks:
            changes.extend(_changes(name, columns, arches, bench["name"], _allocs_labels(columns, bench), "allocs"))
            disagreements.extend(_disagreements(name, columns, arches, bench))
            changes.extend(_changes(name, columns, arches, bench["name"], _bytes_labels(columns, bench), "bytes"))
            _compare_ns(columns, bench)
        report_cases.append({
            "name": name,
            "title": meta.title if meta else name,
            "source": meta.source if meta else "",
            "benchmarks": benchmarks,
            "sites": sites,
            "claims": claims,
        })
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": title,
        "generated_at": generated_at,
        "columns": columns,
        "cells": [
            {"key": c["key"], "case": c["case"], "column": column_id(_cell_version(c), c["arch"]),
             "go_version": c["go_version"], "arch": c["arch"], "status": c["status"], "reason": c["reason"],
             "runner": c["runner"], "emulated": c["emulated"],
             "image": (c["image"] or {}).get("ref") or (c.get("toolchain") or {}).get("source"),
             "digest": (c["image"] or {}).get("digest") or (c.get("toolchain") or {}).get("sha256"),
             "total_s": c["timings"]["total_s"]}
            for c in cell_list
        ],
        "cases": report_cases,
        "changes": [c for c in changes if c["kind"] != "claim"],
        "disagreements": disagreements,
    }


def describe_versions(chosen: Sequence[str], versions: Sequence[str]) -> str:
    """'in every version', 'from go1.25.5', 'up to go1.24.11' or a list, of chosen among versions."""
    positions = sorted(versions.index(v) for v in chosen if v in versions)
    if len(positions) == len(versions):
        return "in every version"
    contiguous = positions == list(range(positions[0], positions[-1] + 1)) if positions else False
    if contiguous and positions[-1] == len(versions) - 1:
        return f"from {versions[positions[0]]}"
    if contiguous and positions[0] == 0:
        return f"up to {versions[positions[-1]]}"
    return "in " + ", ".join(versions[p] for p in positions)


def _site_words(check: dict[str, Any]) -> str:
    if not check["sites"]:
        return "the compiler printed nothing about an allocation in it"
    said = []
    for site in check["sites"]:
        reason = f" ({site['reason']})" if site.get("reason") else ""
        said.append(f"{site['file']}:{site['line']} \"{site['message']}\"{reason}")
    return "the compiler said " + "; ".join(said)


def _disagreements(case_name: str, columns: list[dict[str, Any]], arches: list[str],
                   bench: dict[str, Any]) -> list[dict[str, Any]]:
    """Versions and arches where the compiler's verdict and the measurement disagree, one entry per
    (verdict, what the compiler said), naming the arches that share the same versions."""
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    measured: dict[tuple[str, str], list[float]] = {}
    for column in columns:
        result = bench["results"].get(column["id"])
        check = (result or {}).get("check")
        if not check or check["verdict"] == AGREES:
            continue
        key = (check["verdict"], _site_words(check))
        grouped.setdefault(key, {}).setdefault(column["arch"], []).append(column["go_version"])
        measured.setdefault(key, []).append(check["allocs_per_op"])
    out = []
    for (verdict, words), by_arch in grouped.items():
        by_versions: dict[str, list[str]] = {}
        for arch in arches:
            if arch in by_arch:
                versions = sorted({c["go_version"] for c in columns if c["arch"] == arch}, key=version_key)
                by_versions.setdefault(describe_versions(by_arch[arch], versions), []).append(arch)
        values = measured[(verdict, words)]
        low, high = min(values), max(values)
        allocs = fmt_allocs(low) if allocs_equal(low, high) else f"{fmt_allocs(low)}–{fmt_allocs(high)}"
        for when, arch_list in by_versions.items():
            out.append({"case": case_name, "benchmark": bench["name"], "verdict": verdict, "when": when,
                        "arches": arch_list, "allocs_per_op": allocs, "compiler": words})
    return out


# ---------------------------------------------------------------- markdown

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


def _header(columns: list[dict[str, Any]]) -> list[str]:
    return [f"{c['go_version']} {c['arch']}" + (" †" if c["emulated"] else "") for c in columns]


def _status_of(report: dict[str, Any], case: str, col: str) -> str:
    for cell in report["cells"]:
        if cell["case"] == case and cell["column"] == col:
            return str(cell["status"])
    return "not run"


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


def _delta_text(delta_pct: float) -> str:
    """+12.3%, or ×4200 when the median grew by orders of magnitude (a new heap allocation)."""
    if delta_pct >= 900:
        return f"×{1 + delta_pct / 100:.3g}".replace("e+0", "e").replace("e+", "e")
    return f"{delta_pct:+.1f}%"


def _bench_cell(result: dict[str, Any] | None, status: str) -> str:
    if result is None:
        return status if status != "ok" else "–"
    ns_text = format_duration(result["ns_per_op"])
    if result["emulated"]:
        ns_text += " †"
    elif result.get("ns_range") and result["samples"] > 1:
        low, high = result["ns_range"]
        ns_text += f" [{format_duration(low)}–{format_duration(high)}]"
    versus = result.get("ns_vs_previous")
    if versus:
        ns_text += f" {_delta_text(versus['delta_pct'])}" if versus["significant"] else " ~"
    exact_bytes = result.get("exact_bytes_per_op")
    bytes_text = _fmt_number(round(exact_bytes, 1) if exact_bytes is not None else result["bytes_per_op"])
    return f"**{fmt_allocs(measured_allocs(result))}** allocs · {bytes_text} B · {ns_text}"


_CHECK_MARKS = {STACK_BUT_ALLOCATES: "⚠️ says stack, allocates", HEAP_BUT_NONE: "⚠️ says heap, allocates nothing"}


def _check_cell(result: dict[str, Any] | None, status: str) -> str:
    check = (result or {}).get("check")
    if check is None:
        return status if status != "ok" else "–"
    if check["verdict"] == AGREES:
        # agrees: heap sites and allocations, or neither
        return "✓ heap" if any(site["verdict"] == "heap" for site in check["sites"]) else "✓ no allocation"
    return f"**{_CHECK_MARKS[check['verdict']]} {fmt_allocs(check['allocs_per_op'])}**"


def _benchmark_table(report: dict[str, Any], case: dict[str, Any], header: list[str],
                     cell: Callable[[dict[str, Any] | None, str], str]) -> str:
    """Rows: the case's benchmarks; columns: version x arch; each cell drawn by `cell` from its result."""
    rows = [[md_code(b["name"]),
             *[cell(b["results"].get(col["id"]), _status_of(report, case["name"], col["id"]))
               for col in report["columns"]]]
            for b in case["benchmarks"]]
    return str(tabulate(rows, headers=["benchmark", *header], tablefmt="github"))


def render_markdown(report: dict[str, Any], *, link_prefix: str = "") -> str:
    """The report as GitHub-flavoured markdown (tables by tabulate); link_prefix goes before relative links
    (plots) when the markdown is placed elsewhere than the run directory (reports/latest.md)."""
    columns = report["columns"]
    cells = report["cells"]
    statuses: dict[str, int] = {}
    for cell in cells:
        statuses[cell["status"]] = statuses.get(cell["status"], 0) + 1
    versions = sorted({c["go_version"] for c in columns}, key=version_key)
    arches = sorted({c["arch"] for c in columns})
    emulated = sorted({c["arch"] for c in columns if c["emulated"]})
    out = [f"# {md_text(report['title'])}", ""]
    out.append(f"Generated {report['generated_at']} · {len(cells)} cells: "
               + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
               + f" · Go {', '.join(versions)} · {', '.join(arches)}"
               + (f" · † {', '.join(emulated)} ran under QEMU emulation: its ns/op is not a CPU measurement"
                  if emulated else ""))
    out.append("")
    header = _header(columns)

    claim_rows = []
    claim_changes = []
    for case in report["cases"]:
        for claim in case["claims"]:
            marks = []
            for col in columns:
                value = claim["results"].get(col["id"])
                marks.append("–" if value is None else ("✅" if value else "❌"))
            claim_rows.append([md_text(case["name"]), f"{md_text(claim['text'])} ({md_code(claim['id'])})",
                               *marks])
            for change in claim["changes"]:
                claim_changes.append(f"- {md_code(claim['id'])}: {md_text(change)}")
    if claim_rows:
        out += ["## Claims", "",
                "Each claim of the source document, per Go version and architecture: ✅ holds, ❌ does not, "
                "– no result (the cell did not run).", ""]
        out.append(tabulate(claim_rows, headers=["case", "claim", *header], tablefmt="github"))
        out.append("")
        out += ["Where a claim's verdict changed:", ""]
        out += claim_changes or ["- No claim changed across the versions in this report."]
        out.append("")

    if "since_previous" in report:
        out += ["## Changes since the previous run", ""]
        out += [f"- {line}" for line in report["since_previous"]]
        out.append("")

    out += ["## What changed across versions", ""]
    if report["changes"]:
        for change in report["changes"]:
            out.append(f"- {md_text(change['case'])}, {md_code(change['subject'])}: {md_text(change['text'])} "
                       f"({', '.join(change['arches'])})")
    else:
        out.append("- Nothing: every escape verdict and allocs/op is the same in every version.")
    out.append("")

    out += ["## Where the compiler's words mislead", "",
            "Each benchmark's allocation sites (its own function and the case's functions it calls) as "
            "`-gcflags=-m=2` judged them, against the allocations measured exactly (testing.Benchmark: "
            "total allocations / N). Where they disagree, trust the measurement.", ""]
    if report.get("disagreements"):
        for item in report["disagreements"]:
            out.append(f"- **{md_text(item['verdict'])}**: {md_text(item['case'])}, {md_code(item['benchmark'])} "
                       f"{md_text(item['when'])} ({', '.join(item['arches'])}): {item['allocs_per_op']} allocs/op "
                       f"measured; {md_text(item['compiler'])}.")
    else:
        out.append("- Nowhere: in every cell the compiler's verdicts agree with the measured allocations.")
    out.append("")

    for case in report["cases"]:
        out += [f"## Case {md_code(case['name'])}: {md_text(case['title'])}", ""]
        if case["source"]:
            out += [f"Source: {md_text(case['source'])}", ""]
        plot = report.get("plots", {}).get(case["name"])
        if plot:
            out += [f"![allocs/op, B/op and ns/op of {md_text(case['name'])} across Go versions]"
                    f"({link_prefix}{plot})", ""]
        if case["benchmarks"]:
            out += ["### Benchmarks", "",
                    "allocs/op and B/op exact (total / N of one testing.Benchmark run; go test -benchmem's "
                    "median where that is missing) · ns/op median [min–max] over the samples. ns/op is "
                    "compared with the previous version on the same native arch (Mann-Whitney U, α = 0.05): "
                    "\"~\" not significant, else the change of the median; † emulated, not compared.", ""]
            out += [_benchmark_table(report, case, header, _bench_cell), ""]
            out += ["### Compiler vs measurement", "",
                    "✓ the escape verdicts of the benchmark's sites agree with what it allocates; ⚠️ they do "
                    "not (with the measured allocs/op).", ""]
            out += [_benchmark_table(report, case, header, _check_cell), ""]
        if case["sites"]:
            out += ["### Escape analysis", "",
                    "Verdict of `-gcflags=-m=2` per allocation site, with the compiler's reason for heap "
                    "allocations; \"stack (no diagnostic)\": the compiler printed nothing there, which it does "
                    "for a variable that stays on the stack.", ""]
            rows = []
            for site in case["sites"]:
                row = [f"{md_code(site['file'] + ':' + str(site['line']))} {md_code(site['subject'])}"]
                for col in columns:
                    verdict = site["verdicts"].get(col["id"])
                    if verdict:
                        reason = f" ({verdict['reason']})" if verdict.get("reason") else ""
                        row.append(md_text(verdict["verdict"] + reason))
                    else:
                        row.append(_status_of(report, case["name"], col["id"]).replace("ok", "–"))
                rows.append(row)
            out += [tabulate(rows, headers=["site", *header], tablefmt="github"), ""]

    out += ["## Cells", ""]
    rows = [[md_code(c["key"]), c["status"], md_text(c["go_version"] or "–"), c["arch"],
             c["runner"] + (" (emulated)" if c["emulated"] else ""), md_text(c["image"] or "–"),
             f"{c['total_s']:.1f}", md_text(c["reason"][:300])]
            for c in cells]
    headers = ["cell", "status", "Go", "arch", "runner", "image or toolchain", "seconds", "reason"]
    out += [tabulate(rows, headers=headers, tablefmt="github"), ""]
    return "\n".join(out)
