"""reports/index.md: one row per run, newest first, each row cached by a hash of its report.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from gomatrix.analysis.runs import parse_report, run_dirs
from gomatrix.core.files import read_entry, store_entry, touch_entry, write_atomic
from gomatrix.core.kinds import status_counts
from gomatrix.core.values import md_text, version_key

INDEX_NAME = "index.md"


def index_row(run_name: str, report: dict[str, Any]) -> list[str]:
    """The index.md row of one run, from its own report alone (so that it can be cached by the report)."""
    versions = sorted({c["go_version"] for c in report["columns"]}, key=version_key)
    arches = sorted({c["arch"] for c in report["columns"]})
    statuses = status_counts(report["cells"])
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
        "/".join(str(n) for n in statuses.values()),
        str(claims_changed),
        changed,
    ]


# Part of every cached row's key: bump it when index_row's output changes.
INDEX_ROW_VERSION = "2"
INDEX_CACHE_KEEP_DAYS = 30  # cached rows not used for this long are removed when a new one is stored


def _cached_row(run_dir: Path, cache_dir: Path | None, valid_cache: Path | None = None) -> list[str] | None:
    """index_row of run_dir's report, None when it has no valid one.

    Validating a report is the dear part (benchmarks/RESULTS.md), and every run rewrites the index
    from every earlier run's report. With cache_dir the row (or "no valid report") is kept by a hash of
    the run's name and report.json's bytes, so a report is validated again only when it changes.
    valid_cache: reports known to be valid (gomatrix.analysis.runs.parse_report), e.g. the one just merged.
    """
    path = run_dir / "report.json"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if cache_dir is None:
        report = parse_report(data, path, valid_cache=valid_cache)
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
    report = parse_report(data, path, valid_cache=valid_cache)
    row = index_row(run_dir.name, report) if report is not None else None
    store_entry(entry, json.dumps({"row": row}, ensure_ascii=False) + "\n", days=INDEX_CACHE_KEEP_DAYS)
    return row


def index_rows(reports_root: Path, cache_dir: Path | None = None,
               valid_cache: Path | None = None) -> list[list[str]]:
    """One row per run with a valid report, newest first (the table of index.md)."""
    rows = [row for row in (_cached_row(run_dir, cache_dir, valid_cache) for run_dir in run_dirs(reports_root))
            if row]
    rows.reverse()
    return rows


INDEX_HEADERS = ["run", "Go versions", "arches", "cases", "cells ok/failed/skipped/timeout", "claims changed",
                 "changed since previous"]


def write_index(reports_root: Path, cache_dir: Path | None = None, valid_cache: Path | None = None) -> Path:
    """Write reports_root/index.md (atomically): every run with a valid report, newest first.

    cache_dir (if given) keeps each run's row between calls, valid_cache knows reports already
    validated (see _cached_row)."""
    rows = index_rows(reports_root, cache_dir, valid_cache)
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
