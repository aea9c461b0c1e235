"""Earlier runs under a reports directory: which directories are runs, their reports (validated, older
schemas migrated), and the previous run's report.

Run directories are named YYYY-MM-DD, or YYYY-MM-DD-N (N >= 2) for a further run that day, and
ordered by date then N. Only those holding a report.json that matches schemas/report.schema.json
count; anything else under the reports root (latest.md, a half-written run, a corrupt report) is
skipped.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from gomatrix.core.errors import GomatrixError
from gomatrix.core.files import read_entry, store_entry, touch_entry
from gomatrix.core.schemas import schema, validate
from gomatrix.results.migrate import OLD_REPORT_SCHEMAS, migrate_report

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


def load_report(run_dir: Path, *, valid_cache: Path | None = None) -> dict[str, Any] | None:
    """run_dir/report.json if it is readable JSON matching the report schema, else None."""
    path = run_dir / "report.json"
    try:
        return parse_report(path.read_bytes(), path, valid_cache=valid_cache)
    except OSError:
        return None


VALID_SUFFIX = ".valid"  # a cache entry: these bytes matched this schema
VALID_KEEP_DAYS = 30


@functools.cache
def _schema_digest(name: str) -> str:
    return hashlib.sha256(json.dumps(schema(name), sort_keys=True).encode()).hexdigest()


def _valid_entry(data: bytes, schema_name: str, valid_cache: Path) -> Path:
    digest = hashlib.sha256(f"{_schema_digest(schema_name)}\0".encode() + data).hexdigest()
    return valid_cache / f"{digest}{VALID_SUFFIX}"


def _schema_of(doc: Any) -> str:
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    return OLD_REPORT_SCHEMAS.get(version, "report") if isinstance(version, int) else "report"


def parse_report(data: bytes, path: Path, *, valid_cache: Path | None = None) -> dict[str, Any] | None:
    """A report.json's bytes, validated against its version's schema and migrated; None if invalid.

    Validating is the dear part for a large report. With valid_cache, bytes already validated against
    the same schema (remember_valid, or an earlier call) are not validated again."""
    try:
        doc = json.loads(data.decode("utf-8"))
        name = _schema_of(doc)
        entry = _valid_entry(data, name, valid_cache) if valid_cache is not None else None
        if entry is not None and read_entry(entry) is not None:
            touch_entry(entry)
        else:
            validate(doc, name, where=str(path), error_cls=_InvalidReport)
            if entry is not None:
                store_entry(entry, b"", days=VALID_KEEP_DAYS)
    except (UnicodeDecodeError, json.JSONDecodeError, GomatrixError):
        return None
    return migrate_report(doc) if isinstance(doc, dict) else None


def remember_valid(data: bytes, valid_cache: Path) -> None:
    """Note that these report.json bytes match the current report schema (the merge validated the
    document before writing them), for parse_report."""
    store_entry(_valid_entry(data, "report", valid_cache), b"", days=VALID_KEEP_DAYS)


def find_previous_report(reports_root: Path, current_run_dir: Path, *,
                         valid_cache: Path | None = None) -> dict[str, Any] | None:
    """The report of the newest run older than current_run_dir that has a valid report.json.

    When current_run_dir's name is not a run directory name, every run under reports_root other
    than current_run_dir itself counts as older. valid_cache: as for parse_report.
    """
    current_key = run_dir_key(current_run_dir.name)
    current = _resolved(current_run_dir)
    for run_dir in reversed(run_dirs(reports_root)):
        key = run_dir_key(run_dir.name)
        assert key is not None
        if _resolved(run_dir) == current or (current_key is not None and key >= current_key):
            continue
        report = load_report(run_dir, valid_cache=valid_cache)
        if report is not None:
            return report
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


