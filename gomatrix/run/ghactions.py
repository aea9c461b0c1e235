"""GitHub Actions: log groups, error annotations and the job summary of a run.

Workflow commands are lines on stdout that the Actions runner reads; anywhere else they are noise,
so the writers here print nothing unless GITHUB_ACTIONS is "true". The escaping is the runner's
(actions/toolkit, packages/core/src/command.ts): a newline would end the command and '%' starts an
escape; in a property ':' would end the properties and ',' separate them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from gomatrix.core.kinds import FAILING_STATUSES
from gomatrix.plan.cases import Case

SUMMARY_LIMIT_BYTES = 1024 * 1024  # per step; above it the runner drops the step's whole summary
SUMMARY_CUT_NOTE = "\n\n*(cut here: a job summary holds at most 1 MiB; the whole report is report.md)*\n"


def under_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str = "", properties: Mapping[str, object] | None = None) -> str:
    """`::name key=value,key=value::message`; properties without a value are left out, as the toolkit does."""
    given = [f"{key}={escape_property(str(value))}" for key, value in (properties or {}).items()
             if value is not None and value != ""]
    return f"::{name}{' ' + ','.join(given) if given else ''}::{escape_data(message)}"


def error_command(file: str | None, title: str, message: str, line: int | None = None, *,
                  level: str = "error") -> str:
    """level: error, or notice (a failure the case expects: shown, but not as a fault)."""
    return workflow_command(level, message, {"file": file, "line": line, "title": title})


def _write(line: str, stream: TextIO | None) -> None:
    out = stream or sys.stdout  # looked up now: the progress display may have redirected sys.stdout
    out.write(line + "\n")
    out.flush()


@contextlib.contextmanager
def group(title: str, *, stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Fold what is printed inside into one collapsible section of the Actions log (groups do not nest)."""
    if not under_actions(environ):
        yield
        return
    _write(workflow_command("group", title), stream)
    try:
        yield
    finally:
        _write(workflow_command("endgroup"), stream)


def error_annotation(file: str | None, title: str, message: str, line: int | None = None, *, level: str = "error",
                     stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> None:
    """An error shown on the workflow run's page (and on the file, when the file is in the repository)."""
    if under_actions(environ):
        _write(error_command(file, title, message, line, level=level), stream)


def case_file(case: Case, cwd: Path | None = None) -> str | None:
    """The file an annotation of the case points at: its first Go file, relative to the working directory
    (under Actions the checkout, so GitHub can link it) when it is inside it; None without Go files."""
    if not case.go_files:
        return None
    path = case.path / case.go_files[0]
    base = (Path.cwd() if cwd is None else cwd).resolve()
    resolved = path.resolve()
    return resolved.relative_to(base).as_posix() if resolved.is_relative_to(base) else str(path)


def annotate_failed_cells(cells: Iterable[Mapping[str, Any]], cases: Sequence[Case], *,
                          stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> int:
    """An error annotation for every failed or timed-out cell of report.json, a notice for those whose
    case.yaml expects the failure (expected_failure); returns how many were written."""
    if not under_actions(environ):
        return 0
    by_name = {case.name: case for case in cases}
    written = 0
    for cell in cells:
        if cell["status"] not in FAILING_STATUSES:
            continue
        case = by_name.get(cell["case"])
        expected = cell.get("expected_failure")
        reason = cell.get("reason") or f"the cell ended {cell['status']} without a reason"
        error_annotation(case_file(case) if case is not None else None,
                         f"gomatrix: {cell['key']} {cell['status']}" + (" (expected)" if expected else ""),
                         f"{reason} (expected by case.yaml: {expected})" if expected else reason,
                         level="notice" if expected else "error", stream=stream, environ=environ)
        written += 1
    return written


def fit_summary(markdown: str, room_bytes: int) -> str:
    """markdown, ending in a newline, cut at a line with a note when it exceeds room_bytes (UTF-8)."""
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    encoded = text.encode("utf-8")
    if len(encoded) <= room_bytes:
        return text
    note_bytes = len(SUMMARY_CUT_NOTE.encode("utf-8"))
    if room_bytes < note_bytes:
        return ""
    keep = encoded[: room_bytes - note_bytes].decode("utf-8", errors="ignore")  # ignore: a character cut in two
    return keep[: keep.rfind("\n") + 1] + SUMMARY_CUT_NOTE


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to the file named by $GITHUB_STEP_SUMMARY (shown on the run's page); the file, or None when
    the variable is not set."""
    target = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    with path.open("a", encoding="utf-8") as summary:
        summary.write(fit_summary(markdown, SUMMARY_LIMIT_BYTES - used))
    return path
