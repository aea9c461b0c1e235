"""Older cell and report documents in the current shape, in memory (files on disk are never rewritten):
each step of docs/SCHEMAS.md, for cells (read when merging) and reports (read as earlier runs)."""

from __future__ import annotations

from typing import Any

from gomatrix.results.coverage import covered

# Older schemas still read (schemas/<name>.v<N>.schema.json), migrated on read.
OLD_CELL_SCHEMAS = {1: "cell.v1", 2: "cell.v2"}
OLD_REPORT_SCHEMAS = {1: "report.v1", 2: "report.v2"}

# Builtins the compiler names as the subject of an allocating call ("append does not escape").
ALLOCATING_BUILTINS = frozenset({"append", "make", "new"})


def _cell_v2_parameter(escape: dict[str, Any]) -> bool:
    """A version 2 escape entry about a parameter ("b does not escape"): a plain name the compiler keeps
    on the stack, other than the builtins it reports calls of by name (append, make, new)."""
    subject = escape["subject"]
    return subject.isidentifier() and escape["verdict"] == "stack" and subject not in ALLOCATING_BUILTINS



def migrate_cell(doc: dict[str, Any]) -> dict[str, Any]:
    """An older cell document in the current schema (docs/SCHEMAS.md describes each step).

    1 -> 2: each benchmark gains exact (the exact totals), linked (its source ranges) and check (verdict
    against measurement); a version 1 file recorded none of them, so all three are null. The cell gains
    build_image (docker cross: the image that compiled it), null: version 1 compiled in the cell's image.
    2 -> 3: each benchmark gains profile (null: nothing was profiled) and loses check (the compiler's
    verdicts against the benchmark's allocations, which read silence as stack); the cell gains sites from
    its escapes (parameters left out; the subject stands for the source text; nothing measured).
    """
    if doc["schema_version"] == 1:
        doc = {**doc, "schema_version": 2, "build_image": None,
               "benchmarks": [{**b, "exact": None, "linked": None, "check": None} for b in doc["benchmarks"]]}
    if doc["schema_version"] == 2:
        lines_run = set().union(*(covered(b["linked"] or []) for b in doc["benchmarks"]))
        doc = {**doc, "schema_version": 3,
               "benchmarks": [{**{k: v for k, v in b.items() if k != "check"}, "profile": None}
                              for b in doc["benchmarks"]],
               "sites": [{"file": e["file"], "line": e["line"], "column": e["col"] or 1, "source": e["subject"],
                          "compiler": e["verdict"], "message": e["message"], "reason": e["reason"],
                          "covered": (e["file"], e["line"]) in lines_run, "inlined": False, "measured": []}
                         for e in doc["escapes"] if not _cell_v2_parameter(e)]}
    return doc


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
            for site in case["sites"] if not _report_v2_parameter(site)]} for case in doc["cases"]]
        since = [{"kind": "legacy", "text": text} for text in doc.get("since_previous", [])]
        doc = {**doc, "schema_version": 3, "cases": cases, "since_previous": since}
    return doc



def _report_v2_parameter(site: dict[str, Any]) -> bool:
    """A version 2 site that is a function's parameter ("b does not escape"): a plain name (not append,
    make or new) that no column put on the heap ("moved to heap: arr" and "x escapes to heap" are
    allocation sites). Version 3 leaves parameters out of the sites, so a migrated previous report must
    too, or each would read as a diagnostic that disappeared."""
    subject = str(site["subject"])
    return subject.isidentifier() and subject not in ALLOCATING_BUILTINS and \
        all(verdict["verdict"] != "heap" for verdict in site["verdicts"].values())
