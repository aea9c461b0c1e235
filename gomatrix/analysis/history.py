"""Across runs: the previous run's report, what changed since it, and reports/index.md.

Run directories are named YYYY-MM-DD, or YYYY-MM-DD-N (N >= 2) for a further run that day, and
ordered by date then N. Only those holding a report.json that matches schemas/report.schema.json
count; anything else under the reports root (latest.md, a half-written run, a corrupt report) is
skipped.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from gomatrix.core.errors import GomatrixError
from gomatrix.core.files import read_entry, store_entry, touch_entry, write_atomic
from gomatrix.core.kinds import Status
from gomatrix.core.schemas import validate
from gomatrix.core.values import ALLOCATES_THRESHOLD, allocs_equal, fmt_allocs, md_text, snapped_allocs, version_key

INDEX_NAME = "index.md"
REASON_LIMIT = 160
STATUSES = tuple(Status)

_RUN_DIR = re.compile(r"(\d{4}-\d{2}-\d{2})(?:-([1-9]\d*))?")


class _InvalidReport(GomatrixError):
    title = "invalid report"


def run_dir_key(name: str) -> tuple[datetime.date, int] | None:
    """'2026-11-25' -> (date, 1), '2026-11-25-10' -> (date, 10); None for any other name."""
    match = _RUN_DIR.fullmatch(name)
    if match is None:
        return None
    try:
        day = datetime.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    number = int(match.group(2) or 1)
    if match.group(2) is not None and number < 2:
        return None
    return day, number


def run_dirs(reports_root: Path) -> list[Path]:
    """The run directories under reports_root, oldest first (whether or not they hold a report)."""
    if not reports_root.is_dir():
        return []
    found = []
    for path in reports_root.iterdir():
        key = run_dir_key(path.name)
        if key is not None and path.is_dir():
            found.append((key, path))
    return [path for _, path in sorted(found)]


def load_report(run_dir: Path) -> dict[str, Any] | None:
    """run_dir/report.json if it is readable JSON matching the report schema, else None."""
    path = run_dir / "report.json"
    try:
        return _parse_report(path.read_bytes(), path)
    except OSError:
        return None


def _parse_report(data: bytes, path: Path) -> dict[str, Any] | None:
    """A report.json's bytes, validated against its version's schema and migrated; None if invalid."""
    try:
        doc = json.loads(data.decode("utf-8"))
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        validate(doc, OLD_REPORT_SCHEMAS.get(version, "report") if isinstance(version, int) else "report",
                 where=str(path), error_cls=_InvalidReport)
    except (UnicodeDecodeError, json.JSONDecodeError, GomatrixError):
        return None
    return migrate_report(doc) if isinstance(doc, dict) else None


# Older report schemas still read (schemas/report.v<N>.schema.json), migrated on read.
OLD_REPORT_SCHEMAS = {1: "report.v1", 2: "report.v2"}


def migrate_report(doc: dict[str, Any]) -> dict[str, Any]:
    """An older report document in the shape the history reads (docs/SCHEMAS.md).

    1 -> 2: each benchmark result gains exact_allocs_per_op, exact_bytes_per_op, exact_iterations and
    check (all null: version 1 measured none of them); the report gains an empty disagreements list.
    2 -> 3 (what the history reads of it): sites become positions with per-column cells (the compiler's
    verdict; "stack (no diagnostic)" is none; nothing measured), and since_previous entries of text
    become {"kind": "legacy", "text": ...}.
    """
    if doc.get("schema_version") == 1:
        none = {"exact_allocs_per_op": None, "exact_bytes_per_op": None, "exact_iterations": None, "check": None}
        cases = [{**case, "benchmarks": [
            {**bench, "results": {col: {**result, **none} for col, result in bench["results"].items()}}
            for bench in case["benchmarks"]]} for case in doc["cases"]]
        doc = {**doc, "schema_version": 2, "cases": cases, "disagreements": []}
    if doc.get("schema_version") == 2:
        def cell(verdict: dict[str, Any]) -> dict[str, Any]:
            compiler = verdict["verdict"] if verdict["verdict"] in ("heap", "stack") else "none"
            return {"compiler": compiler, "message": verdict["message"], "reason": verdict.get("reason"),
                    "measured": None, "covered": False, "evidence": "no allocation profile"}
        cases = [{**case, "sites": [
            {"id": f"{site['file']}:{site['line']}", "file": site["file"], "line": site["line"], "column": 1,
             "source": site["subject"], "cells": {col: cell(v) for col, v in site["verdicts"].items()}}
            for site in case["sites"] if not _v2_parameter(site)]} for case in doc["cases"]]
        since = [{"kind": "legacy", "text": text} for text in doc.get("since_previous", [])]
        doc = {**doc, "schema_version": 3, "cases": cases, "since_previous": since}
    return doc


# Builtins the compiler names as the subject of an allocating call ("append does not escape").
_ALLOCATING_BUILTINS = frozenset({"append", "make", "new"})


def _v2_parameter(site: dict[str, Any]) -> bool:
    """A version 2 site that is a function's parameter ("b does not escape"): a plain name (not append,
    make or new) that no column put on the heap ("moved to heap: arr" and "x escapes to heap" are
    allocation sites). Version 3 leaves parameters out of the sites, so a migrated previous report must
    too, or each would read as a diagnostic that disappeared."""
    subject = str(site["subject"])
    return subject.isidentifier() and subject not in _ALLOCATING_BUILTINS and \
        all(verdict["verdict"] != "heap" for verdict in site["verdicts"].values())


def find_previous_report(reports_root: Path, current_run_dir: Path) -> dict[str, Any] | None:
    """The report of the newest run older than current_run_dir that has a valid report.json.

    When current_run_dir's name is not a run directory name, every run under reports_root other
    than current_run_dir itself counts as older.
    """
    current_key = run_dir_key(current_run_dir.name)
    current = _resolved(current_run_dir)
    for run_dir in reversed(run_dirs(reports_root)):
        key = run_dir_key(run_dir.name)
        assert key is not None
        if _resolved(run_dir) == current or (current_key is not None and key >= current_key):
            continue
        report = load_report(run_dir)
        if report is not None:
            return report
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


# ---------------------------------------------------------------- changes since the previous run


class SinceKind(enum.Enum):
    FIRST_RUN = "first-run"
    NONE = "none"
    NEW_VERSION = "new-version"
    DROPPED_VERSION = "dropped-version"
    NEW_ARCH = "new-arch"
    DROPPED_ARCH = "dropped-arch"
    NEW_CASE = "new-case"
    DROPPED_CASE = "dropped-case"
    NEW_CLAIM = "new-claim"
    DROPPED_CLAIM = "dropped-claim"
    FIRST_PROFILE = "first-profile"  # this run measures allocations per line, the previous one did not
    CELL_FAILING = "cell-failing"
    CELL_RECOVERED = "cell-recovered"
    CLAIM = "claim"  # a claim's verdict in a column
    SITE = "site"  # allocs/op measured at a line
    DIAGNOSTIC = "diagnostic"  # the compiler's verdict at a line
    ALLOCS = "allocs"  # a benchmark's allocs/op


@dataclass(frozen=True)
class SinceChange:
    """One entry of "changes since the previous run": data, rendered by gomatrix.analysis.markdown."""

    kind: SinceKind
    subject: str = ""
    columns: tuple[str, ...] = ()
    before: str = ""
    after: str = ""

    @property
    def is_change(self) -> bool:
        return self.kind not in (SinceKind.FIRST_RUN, SinceKind.NONE, SinceKind.FIRST_PROFILE)



def changes_since(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[SinceChange]:
    """What changed from the previous run's report to this one (a single FIRST_RUN or NONE entry when
    there is nothing to list)."""
    if previous is None:
        return [SinceChange(SinceKind.FIRST_RUN)]
    out: list[SinceChange] = []
    out += _column_changes(previous, current)
    out += _cell_changes(previous, current)
    out += _claim_changes(previous, current)
    out += _site_changes(previous, current)
    out += _allocs_changes(previous, current)
    if _profiled(current) and not _profiled(previous):
        out.append(SinceChange(SinceKind.FIRST_PROFILE))
    return out if any(change.is_change for change in out) else [SinceChange(SinceKind.NONE), *out]


def _profiled(report: dict[str, Any]) -> bool:
    return any(cell["measured"] is not None for case in report["cases"] for site in case.get("sites", [])
               for cell in site["cells"].values())


def _arches_by_version(report: dict[str, Any]) -> dict[str, list[str]]:
    by_version: dict[str, list[str]] = {}
    for column in report["columns"]:
        by_version.setdefault(column["go_version"], []).append(column["arch"])
    return by_version


def _column_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before, now = _arches_by_version(previous), _arches_by_version(current)
    out = [SinceChange(SinceKind.NEW_VERSION, v, tuple(sorted(now[v])))
           for v in sorted(now.keys() - before.keys(), key=version_key)]
    out += [SinceChange(SinceKind.DROPPED_VERSION, v, tuple(sorted(before[v])))
            for v in sorted(before.keys() - now.keys(), key=version_key)]
    arches_before = {a for arches in before.values() for a in arches}
    arches_now = {a for arches in now.values() for a in arches}
    out += [SinceChange(SinceKind.NEW_ARCH, arch) for arch in sorted(arches_now - arches_before)]
    out += [SinceChange(SinceKind.DROPPED_ARCH, arch) for arch in sorted(arches_before - arches_now)]
    cases_before = {case["name"] for case in previous["cases"]}
    cases_now = {case["name"] for case in current["cases"]}
    out += [SinceChange(SinceKind.NEW_CASE, name) for name in sorted(cases_now - cases_before)]
    out += [SinceChange(SinceKind.DROPPED_CASE, name) for name in sorted(cases_before - cases_now)]
    return out


def _shorten(text: str, limit: int = REASON_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _cell_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before = {(c["case"], c["column"]): c for c in previous["cells"]}
    failing, recovered = [], []
    for cell in current["cells"]:
        old = before.get((cell["case"], cell["column"]))
        if old is None or (old["status"] == Status.OK) == (cell["status"] == Status.OK):
            continue
        where = f"{cell['case']} on {cell['column']}"
        if cell["status"] != Status.OK:
            failing.append(SinceChange(SinceKind.CELL_FAILING, where, (cell["column"],), cell["status"],
                                       _shorten(cell["reason"])))
        else:
            recovered.append(SinceChange(SinceKind.CELL_RECOVERED, where, (cell["column"],), old["status"], Status.OK))
    return failing + recovered


def _order(report: dict[str, Any]) -> dict[str, int]:
    return {column["id"]: index for index, column in enumerate(report["columns"])}


def _grouped(kind: SinceKind, entries: Iterable[tuple[str, str, str, str]], order: dict[str, int]) -> list[SinceChange]:
    """(subject, column id, before, after) -> one entry per subject and change, listing its columns."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for subject, column, old, new in entries:
        groups.setdefault((subject, old, new), []).append(column)
    return [SinceChange(kind, subject, tuple(sorted(columns, key=lambda c: order.get(c, len(order)))), old, new)
            for (subject, old, new), columns in groups.items()]


def _cases(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["name"]: case for case in report["cases"]}


def _claim_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before = _cases(previous)
    entries = []
    added: list[SinceChange] = []
    for case in current["cases"]:
        if case["name"] not in before:
            continue  # a new case: its claims come with it
        old_claims = {claim["id"]: claim for claim in before[case["name"]].get("claims", [])}
        new_ids = {claim["id"] for claim in case["claims"]}
        added += [SinceChange(SinceKind.DROPPED_CLAIM, claim_id) for claim_id in sorted(old_claims.keys() - new_ids)]
        for claim in case["claims"]:
            old = old_claims.get(claim["id"])
            if old is None:
                added.append(SinceChange(SinceKind.NEW_CLAIM, claim["id"]))
                continue
            for column, value in claim["results"].items():
                old_value = old["results"].get(column)
                # None is "no result" (the cell did not run): the cell entries say that.
                if isinstance(value, bool) and isinstance(old_value, bool) and value != old_value:
                    entries.append((claim["id"], column, _holds(old_value), _holds(value)))
    return added + _grouped(SinceKind.CLAIM, entries, _order(current))


def _holds(value: bool) -> str:
    return "holds" if value else "fails"


Measurements = dict[str, float]  # benchmark -> allocs/op measured at a line


LineVerdicts = dict[tuple[str, int], dict[str, tuple[str, Measurements | None]]]


def _lines(report: dict[str, Any], case: str) -> tuple[LineVerdicts, set[str]]:
    """(file, line) -> column -> (the compiler's verdict there, allocs/op measured there per benchmark, or
    None without a profile), and the columns whose cell was profiled (a line without a site there
    allocated nothing measurable).

    Measurements below ALLOCATES_THRESHOLD are noise, not allocations (as in the report's own changes)."""
    out: LineVerdicts = {}
    profiled: set[str] = set()
    found = _cases(report).get(case, {})
    for site in found.get("sites", []):
        for column, cell in site["cells"].items():
            measured = cell["measured"]
            if measured is not None:
                profiled.add(column)
            verdict, sums = out.setdefault((site["file"], site["line"]), {}).get(column, ("none", None))
            if cell["compiler"] == "heap" or verdict == "none":
                verdict = cell["compiler"]
            if measured is not None:
                sums = dict(sums or {})
                for m in measured:
                    if m["allocs_per_op"] >= ALLOCATES_THRESHOLD:
                        sums[m["benchmark"]] = sums.get(m["benchmark"], 0.0) + m["allocs_per_op"]
            out[(site["file"], site["line"])][column] = (verdict, sums)
    # A case with no site in a column: its benchmarks say whether the cell was profiled.
    for bench in found.get("benchmarks", []):
        profiled |= {column for column, result in bench["results"].items()
                     if result is not None and result.get("profile_adds_up") is not None}
    return out, profiled


def _site_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    """Per line of a case, in columns ok in both runs: the compiler's verdict, and the allocs/op each
    benchmark allocates there when both runs measured it (a line a profiled run has no site at allocated
    nothing)."""
    ok_before = {(c["case"], c["column"]) for c in previous["cells"] if c["status"] == Status.OK}
    ok_now = {(c["case"], c["column"]) for c in current["cells"] if c["status"] == Status.OK}
    verdicts, measured = [], []
    for case in current["cases"]:
        name = case["name"]
        (before, profiled_before), (now, profiled_now) = _lines(previous, name), _lines(current, name)
        columns = [c["id"] for c in current["columns"] if (name, c["id"]) in ok_before and (name, c["id"]) in ok_now]
        for key in sorted(before.keys() | now.keys()):
            label = f"{name}/{key[0]}:{key[1]}"
            for column in columns:
                old = before.get(key, {}).get(column, ("none", {} if column in profiled_before else None))
                new = now.get(key, {}).get(column, ("none", {} if column in profiled_now else None))
                if old[0] != new[0]:
                    verdicts.append((label, column, old[0], new[0]))
                if old[1] is None or new[1] is None:
                    continue
                for bench in sorted(old[1].keys() | new[1].keys()):
                    was, now_value = old[1].get(bench, 0.0), new[1].get(bench, 0.0)
                    if not allocs_equal(was, now_value):
                        measured.append((f"{label} ({bench})", column, fmt_allocs(snapped_allocs(was)),
                                         fmt_allocs(snapped_allocs(now_value))))
    order = _order(current)
    return _grouped(SinceKind.SITE, measured, order) + _grouped(SinceKind.DIAGNOSTIC, verdicts, order)


def _allocs_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before = _cases(previous)
    entries = []
    for case in current["cases"]:
        old_benches = {b["name"]: b for b in before.get(case["name"], {}).get("benchmarks", [])}
        for bench in case["benchmarks"]:
            old = old_benches.get(bench["name"])
            if old is None:
                continue
            subject = f"{case['name']}/{bench['name']}"
            for column, result in bench["results"].items():
                old_result = old["results"].get(column) or {}
                exact_both = old_result.get("exact_allocs_per_op") is not None and \
                    result.get("exact_allocs_per_op") is not None
                # Compare like with like: exact counts when both runs have them, else go test's figure.
                key = "exact_allocs_per_op" if exact_both else "allocs_per_op"
                old_value, value = (snapped_allocs(r[key], r.get("exact_iterations") if exact_both else None)
                                    if r.get(key) is not None else None for r in (old_result, result))
                if old_value is not None and value is not None and not allocs_equal(old_value, value):
                    entries.append((subject, column, fmt_allocs(snapped_allocs(old_value)),
                                    fmt_allocs(snapped_allocs(value))))
    return _grouped(SinceKind.ALLOCS, entries, _order(current))


# ---------------------------------------------------------------- reports/index.md


def index_row(run_name: str, report: dict[str, Any]) -> list[str]:
    """The index.md row of one run, from its own report alone (so that it can be cached by the report)."""
    versions = sorted({c["go_version"] for c in report["columns"]}, key=version_key)
    arches = sorted({c["arch"] for c in report["columns"]})
    statuses = {status: 0 for status in STATUSES}
    for cell in report["cells"]:
        statuses[cell["status"]] = statuses.get(cell["status"], 0) + 1
    claims_changed = sum(1 for case in report["cases"] for claim in case["claims"]
                         if claim.get("flips") or claim.get("changes"))
    since = report.get("since_previous")
    # The report's own list, as its reader sees it; a dash for a first run or a report without one.
    legacy = ("First run: nothing to compare with.", "No changes.")
    kinds = [item.get("kind") for item in since or []]
    if not since or "first-run" in kinds or any(item.get("text") == legacy[0] for item in since):
        changed = "–"
    else:
        quiet = ("none", "first-run", "first-profile")  # entries that say there is nothing to list
        changed = str(len([item for item in since
                           if item.get("kind") not in quiet and item.get("text") not in legacy]))
    return [
        f"[{run_name}]({run_name}/report.md)",
        md_text(", ".join(versions)) or "–",
        ", ".join(arches) or "–",
        md_text(", ".join(case["name"] for case in report["cases"])) or "–",
        "/".join(str(statuses[s]) for s in STATUSES),
        str(claims_changed),
        changed,
    ]


# Part of every cached row's key: bump it when index_row's output changes.
INDEX_ROW_VERSION = "2"
INDEX_CACHE_KEEP_DAYS = 30  # cached rows not used for this long are removed when a new one is stored


def _cached_row(run_dir: Path, cache_dir: Path | None) -> list[str] | None:
    """index_row of run_dir's report, None when it has no valid one.

    Validating a report is the dear part (about 75 ms for 70 cells), and every run rewrites the index
    from every earlier run's report. With cache_dir the row (or "no valid report") is kept by a hash of
    the run's name and report.json's bytes, so a report is validated again only when it changes.
    """
    path = run_dir / "report.json"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if cache_dir is None:
        report = _parse_report(data, path)
        return index_row(run_dir.name, report) if report is not None else None
    digest = hashlib.sha256(f"{INDEX_ROW_VERSION}\0{run_dir.name}\0".encode() + data).hexdigest()
    entry = cache_dir / f"{digest}.json"
    cached = read_entry(entry)
    if cached is not None:
        try:
            row = json.loads(cached)["row"]
            if row is None or (isinstance(row, list) and len(row) == len(INDEX_HEADERS)
                               and all(isinstance(v, str) for v in row)):
                touch_entry(entry)
                return row
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            pass  # unreadable: work it out again
    report = _parse_report(data, path)
    row = index_row(run_dir.name, report) if report is not None else None
    store_entry(entry, json.dumps({"row": row}, ensure_ascii=False) + "\n", days=INDEX_CACHE_KEEP_DAYS)
    return row


def index_rows(reports_root: Path, cache_dir: Path | None = None) -> list[list[str]]:
    """One row per run with a valid report, newest first (the table of index.md)."""
    rows = [row for row in (_cached_row(run_dir, cache_dir) for run_dir in run_dirs(reports_root)) if row]
    rows.reverse()
    return rows


INDEX_HEADERS = ["run", "Go versions", "arches", "cases", "cells ok/failed/skipped/timeout", "claims changed",
                 "changed since previous"]


def write_index(reports_root: Path, cache_dir: Path | None = None) -> Path:
    """Write reports_root/index.md (atomically): every run with a valid report, newest first.

    cache_dir (if given) keeps each run's row between calls (see _cached_row)."""
    rows = index_rows(reports_root, cache_dir)
    lines = [
        "# gomatrix runs",
        "",
        "Every run with a valid report, newest first. *claims changed*: claims whose verdict differs between "
        "Go versions within that run; *changed since previous*: entries in its \"changes since the previous "
        "run\" list (– for the first run).",
        "",
    ]
    if rows:
        lines.append(tabulate(rows, headers=INDEX_HEADERS, tablefmt="github", disable_numparse=True))
    else:
        lines.append("No runs with a valid report yet.")
    path = reports_root / INDEX_NAME
    write_atomic(path, "\n".join(lines) + "\n")
    return path
