"""Parsers shared by every runner: Go benchmark output and -gcflags=-m escape diagnostics."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

# "BenchmarkName-8   1000   12.5 ns/op   0 B/op   0 allocs/op" (the -procs suffix is absent at GOMAXPROCS=1)
_BENCH_LINE = re.compile(r"^(Benchmark\S*?)(?:-(\d+))?\s+(\d+)\s+(.*)$")
# "key: value" configuration lines (goos, goarch, pkg, cpu) as benchstat reads them
_CONFIG_LINE = re.compile(r"^([a-z][^\s:A-Z]*):\s*(.*)$")
# "./file.go:12:7: message" (col optional; compiler positions)
_DIAG_LINE = re.compile(r"^(?:\./)?([^\s:][^:]*\.go):(\d+)(?::(\d+))?: (.*)$")

_UNITS = {"ns/op": "ns_per_op", "B/op": "bytes_per_op", "allocs/op": "allocs_per_op"}


@dataclass(frozen=True)
class BenchSample:
    name: str
    procs: int | None
    iterations: int
    ns_per_op: float | None
    bytes_per_op: float | None
    allocs_per_op: float | None
    package: str | None = None  # the test binary's "pkg:" line (module cases run one binary per package)


@dataclass(frozen=True)
class BenchOutput:
    config: dict[str, str]
    samples: tuple[BenchSample, ...]


@dataclass(frozen=True)
class BenchmarkSummary:
    """All samples of one benchmark, with medians."""

    name: str
    procs: int | None
    allocs_per_op: float | None
    bytes_per_op: float | None
    ns_per_op: float | None
    samples: tuple[BenchSample, ...] = field(repr=False)
    package: str | None = None


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    col: int | None
    message: str


@dataclass(frozen=True)
class EscapeSite:
    file: str
    line: int
    col: int | None
    message: str
    subject: str  # the variable or expression the message is about
    verdict: str  # "heap" | "stack"
    reason: str | None = None  # -m=2: why it went to the heap ("too large for stack", "non-constant size")


def parse_bench(text: str) -> BenchOutput:
    """Benchmark lines (every sample kept) and the key: value configuration lines before them."""
    config: dict[str, str] = {}
    samples: list[BenchSample] = []
    package: str | None = None
    for raw_line in text.splitlines():
        line = raw_line.rstrip()
        match = _BENCH_LINE.match(line)
        if match:
            values: dict[str, float] = {}
            fields = match.group(4).split()
            # value unit pairs; anything unparsable ends the pairs (e.g. a trailing log line)
            for value, unit in zip(fields[0::2], fields[1::2], strict=False):
                try:
                    number = float(value)
                except ValueError:
                    break
                if unit in _UNITS:
                    values[_UNITS[unit]] = number
            if "ns_per_op" not in values:
                continue  # e.g. "BenchmarkX-2   --- FAIL" or a name printed by the benchmark itself
            samples.append(BenchSample(
                name=match.group(1),
                procs=int(match.group(2)) if match.group(2) else None,
                iterations=int(match.group(3)),
                ns_per_op=values.get("ns_per_op"),
                bytes_per_op=values.get("bytes_per_op"),
                allocs_per_op=values.get("allocs_per_op"),
                package=package,
            ))
            continue
        config_match = _CONFIG_LINE.match(line)
        if config_match and config_match.group(1) == "pkg":
            package = config_match.group(2).strip() or None
        if config_match and not samples:
            config[config_match.group(1)] = config_match.group(2)
    return BenchOutput(config=config, samples=tuple(samples))


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(samples: Iterable[BenchSample]) -> list[BenchmarkSummary]:
    """Group samples by package and benchmark name, in first-seen order."""
    groups: dict[tuple[str | None, str], list[BenchSample]] = {}
    for sample in samples:
        groups.setdefault((sample.package, sample.name), []).append(sample)
    return [
        BenchmarkSummary(
            name=name,
            package=package,
            procs=group[0].procs,
            allocs_per_op=_median(s.allocs_per_op for s in group),
            bytes_per_op=_median(s.bytes_per_op for s in group),
            ns_per_op=_median(s.ns_per_op for s in group),
            samples=tuple(group),
        )
        for (package, name), group in groups.items()
    ]


PACKAGE_MARKER = "gomatrix-package: "


def package_sections(text: str) -> list[tuple[str, str]]:
    """A module case's escape.txt split into (import path, that package's compiler output); driver.sh
    writes a "gomatrix-package: PATH" line before each package's compile."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(PACKAGE_MARKER):
            sections.append((line[len(PACKAGE_MARKER):].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return [(package, "\n".join(lines)) for package, lines in sections]


def parse_diagnostics(text: str) -> list[Diagnostic]:
    """Every file:line[:col]: message line of compiler output."""
    out = []
    for line in text.splitlines():
        match = _DIAG_LINE.match(line.rstrip())
        if match:
            col = match.group(3)
            out.append(Diagnostic(match.group(1), int(match.group(2)), int(col) if col else None,
                                  match.group(4)))
    return out


def classify(message: str) -> tuple[str, str] | None:
    """(subject, verdict) for an allocation-site message, None for other diagnostics."""
    text = message.rstrip(":").strip()
    if text.startswith("moved to heap: "):
        return text[len("moved to heap: "):], "heap"
    if text.endswith(" escapes to heap"):
        return text[: -len(" escapes to heap")], "heap"
    if text.endswith(" does not escape"):
        return text[: -len(" does not escape")], "stack"
    return None


_FLOW_REASON = re.compile(r"^\s+from .* \(([^()]+)\) at \S+$")


def parse_escapes(text: str, case_files: Iterable[str]) -> list[EscapeSite]:
    """Allocation sites with their verdict, only in the case's own files (not _testmain.go etc.).

    With -m=2 a heap site is printed twice ("x escapes to heap:" opening its flow lines, then
    "moved to heap: x"): it is kept once, with the flow's reasons; -m=1 output works the same.
    """
    wanted = set(case_files)
    reasons: dict[tuple[str, int, int | None], list[str]] = {}
    sites: dict[tuple[str, int, int | None, str, str], EscapeSite] = {}
    for diag in parse_diagnostics(text):
        if diag.file not in wanted:
            continue
        position = (diag.file, diag.line, diag.col)
        flow = _FLOW_REASON.match(diag.message)
        if flow:
            found = reasons.setdefault(position, [])
            if flow.group(1) not in found:
                found.append(flow.group(1))
            continue
        classified = classify(diag.message)
        if classified is None:
            continue
        subject, verdict = classified
        key = (*position, subject, verdict)
        message = diag.message.rstrip(":").strip()
        previous = sites.get(key)
        if previous is None or previous.message.endswith(" escapes to heap"):  # prefer the final wording
            sites[key] = EscapeSite(diag.file, diag.line, diag.col, message, subject, verdict)
    return [
        EscapeSite(s.file, s.line, s.col, s.message, s.subject, s.verdict,
                   "; ".join(reasons[(s.file, s.line, s.col)]) if s.verdict == "heap"
                   and (s.file, s.line, s.col) in reasons else None)
        for s in sites.values()
    ]


def inlined_calls(text: str, case_files: Iterable[str]) -> dict[tuple[str, int, int], str]:
    """(file, line, col) -> the function inlined there ("inlining call to newPoint"; a method's name
    without its receiver), in the case's own files. The compiler reports the allocation sites of an
    inlined body at the call's position."""
    wanted = set(case_files)
    out: dict[tuple[str, int, int], str] = {}
    for diag in parse_diagnostics(text):
        if diag.file in wanted and diag.col is not None and diag.message.startswith("inlining call to "):
            name = diag.message[len("inlining call to "):].strip()
            # a method without its receiver; a function without its package (an external test package calls
            # the package's functions qualified: shapes.New)
            short = name.rpartition(").")[2] if ")." in name else name.rpartition(".")[2]
            out[(diag.file, diag.line, diag.col)] = short
    return out


_NOTES = ("can inline", "cannot inline", "inlining call", "skip inlining", "leaking param", "parameter ",
          "leaking closure", "mark escaped content", "func literal does not escape")


def compiler_errors(text: str, case_files: Iterable[str], limit: int = 8) -> str:
    """The compiler's error lines (not -m diagnostics) for a failure reason."""
    wanted = set(case_files)
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith(("# ", "<autogenerated>")):
            continue
        match = _DIAG_LINE.match(line)
        if match:
            message = match.group(4)
            if (match.group(1) not in wanted or classify(message) is not None or message.startswith(_NOTES)
                    or message[:1].isspace()):  # -m=2 flow lines
                continue
        lines.append(line)
    return "\n".join(lines[:limit])
