"""Which lines the benchmarks ran: the go coverprofile of a build with coverage counters (driver.sh's cover
step, every benchmark for 100 ops), as line ranges of the case's files.

A line counts as run by a benchmark only where the coverage run executed it *and* the source scan links it
to a benchmark's timed loop (results/exact.linked_ranges): the coverage run also executes setup code and
the scan also links error branches that never run; neither alone may turn silence into "nothing measured".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# "github.com/x/y/file.go:12.34,15.2 3 1": file, start line, end line, statements, count
_BLOCK = re.compile(r"^(.+\.go):(\d+)\.\d+,(\d+)\.\d+ \d+ (\d+)$")

Ranges = dict[str, list[tuple[int, int]]]


def parse_coverage(text: str, import_path: str) -> Ranges:
    """{file relative to the case or module root: [(first, last) line ranges executed]} from coverprofile
    text (several profiles one after the other are fine), for every file the build instrumented (an empty
    list: none of it ran); files outside import_path are left out. go test instruments no _test.go file."""
    prefix = import_path.rstrip("/") + "/"
    out: dict[str, set[tuple[int, int]]] = {}
    for line in text.splitlines():
        match = _BLOCK.match(line.strip())
        if not match or not match.group(1).startswith(prefix):
            continue
        ran = out.setdefault(match.group(1)[len(prefix):], set())
        if int(match.group(4)) > 0:
            ran.add((int(match.group(2)), int(match.group(3))))
    return {file: _merged(ranges) for file, ranges in sorted(out.items())}


def covered(ranges: Iterable[Mapping[str, object]]) -> set[tuple[str, int]]:
    """(file, line) pairs inside linked function ranges (exact.linked_ranges items)."""
    out: set[tuple[str, int]] = set()
    for item in ranges:
        first, last = int(str(item["first_line"])), int(str(item["last_line"]))
        out.update((str(item["file"]), line) for line in range(first, last + 1))
    return out


def run_lines(linked: set[tuple[str, int]], executed: Mapping[str, Iterable[Iterable[int]]]) -> set[tuple[str, int]]:
    """The linked lines that ran: in an instrumented file, those the coverage run executed; in a file it did
    not instrument (a _test.go file), every linked line."""
    ran = executed_lines(executed)
    return {(file, line) for file, line in linked if file not in executed or (file, line) in ran}


def lines_benchmarks_run(linked: Iterable[Mapping[str, object]],
                         executed: Mapping[str, Iterable[Iterable[int]]] | None) -> set[tuple[str, int]]:
    """The lines a cell's benchmarks ran: inside the ranges linked to their timed loops (linked_ranges items)
    and, where there was a coverage run (executed, from parse_coverage), executed by it."""
    lines = covered(linked)
    return lines if executed is None else run_lines(lines, executed)


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def executed_lines(ranges: Mapping[str, Iterable[Iterable[int]]]) -> set[tuple[str, int]]:
    return {(file, line) for file, spans in ranges.items() for first, last in spans
            for line in range(int(first), int(last) + 1)}
