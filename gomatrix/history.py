"""Across runs: the previous run's report, what changed since it, and reports/index.md.

Run directories are named YYYY-MM-DD, or YYYY-MM-DD-N (N >= 2) for a further run that day, and
ordered by date then N. Only those holding a report.json that matches schemas/report.schema.json
count; anything else under the reports root (latest.md, a half-written run, a corrupt report) is
skipped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tabulate import tabulate

from gomatrix.errors import GomatrixError
from gomatrix.exact import allocs_equal
from gomatrix.files import read_entry, store_entry, touch_entry, write_atomic
from gomatrix.report import base_verdict, fmt_allocs, md_code, md_text, snapped_allocs, version_key
from gomatrix.schemas import validate

FIRST_RUN = "First run: nothing to compare with."
NO_CHANGES = "No changes."
SENTINELS = (FIRST_RUN, NO_CHANGES)
INDEX_NAME = "index.md"
REASON_LIMIT = 160
STATUSES = ("ok", "failed", "skipped", "timeout")

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
OLD_REPORT_SCHEMAS = {1: "report.v1"}


def migrate_report(doc: dict[str, Any]) -> dict[str, Any]:
    """An older report document in the current schema (docs/SCHEMAS.md).

    1 -> 2: each benchmark result gains exact_allocs_per_op, exact_bytes_per_op, exact_iterations and
    check (all null: version 1 measured none of them); the report gains an empty disagreements list.
    """
    if doc.get("schema_version") == 1:
        none = {"exact_allocs_per_op": None, "exact_bytes_per_op": None, "exact_iterations": None, "check": None}
        cases = [{**case, "benchmarks": [
            {**bench, "results": {col: {**result, **none} for col, result in bench["results"].items()}}
            for bench in case["benchmarks"]]} for case in doc["cases"]]
        doc = {**doc, "schema_version": 2, "cases": cases, "disagreements": []}
    return doc


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


def changes_since(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Markdown bullet texts (without "- ") saying what changed from the previous run's report."""
    if previous is None:
        return [FIRST_RUN]
    out: list[str] = []
    out += _column_changes(previous, current)
    out += _cell_changes(previous, current)
    out += _claim_changes(previous, current)
    out += _escape_changes(previous, current)
    out += _allocs_changes(previous, current)
    return out or [NO_CHANGES]


def _arches_by_version(report: dict[str, Any]) -> dict[str, list[str]]:
    by_version: dict[str, list[str]] = {}
    for column in report["columns"]:
        by_version.setdefault(column["go_version"], []).append(column["arch"])
    return by_version


def _column_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    before, now = _arches_by_version(previous), _arches_by_version(current)
    out = []
    for version in sorted(now.keys() - before.keys(), key=version_key):
        out.append(f"New Go version {md_text(version)} ({', '.join(sorted(now[version]))})")
    for version in sorted(before.keys() - now.keys(), key=version_key):
        out.append(f"Go version {md_text(version)} is no longer in the matrix (was: "
                   f"{', '.join(sorted(before[version]))})")
    arches_before = {a for arches in before.values() for a in arches}
    arches_now = {a for arches in now.values() for a in arches}
    out += [f"New architecture {md_text(arch)}" for arch in sorted(arches_now - arches_before)]
    out += [f"Architecture {md_text(arch)} is no longer in the matrix" for arch in sorted(arches_before - arches_now)]
    cases_before = {case["name"] for case in previous["cases"]}
    cases_now = {case["name"] for case in current["cases"]}
    out += [f"New case {md_code(name)}" for name in sorted(cases_now - cases_before)]
    out += [f"Case {md_code(name)} is no longer in the matrix" for name in sorted(cases_before - cases_now)]
    return out


def _shorten(text: str, limit: int = REASON_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _cell_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    before = {(c["case"], c["column"]): c for c in previous["cells"]}
    failing, recovered = [], []
    for cell in current["cells"]:
        old = before.get((cell["case"], cell["column"]))
        if old is None or (old["status"] == "ok") == (cell["status"] == "ok"):
            continue
        where = f"{md_text(cell['case'])} on {md_text(cell['column'])}"
        if cell["status"] != "ok":
            reason = f": {md_text(_shorten(cell['reason']))}" if cell["reason"].strip() else ""
            failing.append(f"Cell {where} is now {cell['status']} (was ok){reason}")
        else:
            recovered.append(f"Cell {where} is ok again (was {old['status']})")
    return failing + recovered


def _order(report: dict[str, Any]) -> dict[str, int]:
    return {column["id"]: index for index, column in enumerate(report["columns"])}


def _grouped(entries: Iterable[tuple[str, str, str, str]], order: dict[str, int]) -> list[str]:
    """(subject text, column id, before, after) -> one bullet per subject and change, listing its columns."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for subject, column, old, new in entries:
        groups.setdefault((subject, old, new), []).append(column)
    out = []
    for (subject, old, new), columns in groups.items():
        columns.sort(key=lambda c: order.get(c, len(order)))
        out.append(f"{subject} on {', '.join(md_text(c) for c in columns)}: {old} → {new}")
    return out


def _cases(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["name"]: case for case in report["cases"]}


def _claim_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    before = _cases(previous)
    entries = []
    for case in current["cases"]:
        old_claims = {claim["id"]: claim for claim in before.get(case["name"], {}).get("claims", [])}
        for claim in case["claims"]:
            old = old_claims.get(claim["id"])
            if old is None:
                continue
            for column, value in claim["results"].items():
                old_value = old["results"].get(column)
                # None is "no result" (the cell did not run): the cell bullets say that.
                if isinstance(value, bool) and isinstance(old_value, bool) and value != old_value:
                    entries.append((f"claim {md_code(claim['id'])}", column, _holds(old_value), _holds(value)))
    return _grouped(entries, _order(current))


def _holds(value: bool) -> str:
    return "holds" if value else "fails"


def _site_verdicts(report: dict[str, Any], case: str) -> dict[tuple[str, int, str], dict[str, str]]:
    sites = _cases(report).get(case, {}).get("sites", [])
    return {(s["file"], s["line"], s["subject"]): {col: base_verdict(v["verdict"]) for col, v in s["verdicts"].items()}
            for s in sites}


def _escape_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """A site that one report lists and the other does not was on the stack in the other's ok cells:
    -m prints every heap allocation and nothing for a variable that stays on the stack."""
    ok_before = {(c["case"], c["column"]) for c in previous["cells"] if c["status"] == "ok"}
    ok_now = {(c["case"], c["column"]) for c in current["cells"] if c["status"] == "ok"}
    entries = []
    for case in current["cases"]:
        name = case["name"]
        before, now = _site_verdicts(previous, name), _site_verdicts(current, name)
        columns = [c["id"] for c in current["columns"] if (name, c["id"]) in ok_before and (name, c["id"]) in ok_now]
        for key in sorted(before.keys() | now.keys()):
            file, line, subject = key
            label = f"escape of {md_code(subject)} at {md_code(f'{file}:{line}')} ({md_text(name)})"
            for column in columns:
                old = before.get(key, {}).get(column, "stack")
                new = now.get(key, {}).get(column, "stack")
                if old != new:
                    entries.append((label, column, old, new))
    return _grouped(entries, _order(current))


def _allocs_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    before = _cases(previous)
    entries = []
    for case in current["cases"]:
        old_benches = {b["name"]: b for b in before.get(case["name"], {}).get("benchmarks", [])}
        for bench in case["benchmarks"]:
            old = old_benches.get(bench["name"])
            if old is None:
                continue
            subject = f"allocs/op of {md_code(bench['name'])} ({md_text(case['name'])})"
            for column, result in bench["results"].items():
                old_result = old["results"].get(column) or {}
                exact_both = old_result.get("exact_allocs_per_op") is not None and \
                    result.get("exact_allocs_per_op") is not None
                # Compare like with like: exact counts when both runs have them, else go test's figure.
                key = "exact_allocs_per_op" if exact_both else "allocs_per_op"
                old_value, value = old_result.get(key), result.get(key)
                if old_value is not None and value is not None and not allocs_equal(old_value, value):
                    entries.append((subject, column, fmt_allocs(snapped_allocs(old_value)),
                                    fmt_allocs(snapped_allocs(value))))
    return _grouped(entries, _order(current))


# ---------------------------------------------------------------- reports/index.md


def index_row(run_name: str, report: dict[str, Any]) -> list[str]:
    """The index.md row of one run, from its own report alone (so that it can be cached by the report)."""
    versions = sorted({c["go_version"] for c in report["columns"]}, key=version_key)
    arches = sorted({c["arch"] for c in report["columns"]})
    statuses = {status: 0 for status in STATUSES}
    for cell in report["cells"]:
        statuses[cell["status"]] = statuses.get(cell["status"], 0) + 1
    claims_changed = sum(1 for case in report["cases"] for claim in case["claims"] if claim["changes"])
    since = report.get("since_previous")
    # The report's own list, as its reader sees it; a dash for a first run or a report without one.
    changed = "–" if since is None or FIRST_RUN in since else str(len([c for c in since if c not in SENTINELS]))
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
INDEX_ROW_VERSION = "1"
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
