"""Exact allocation counts of every benchmark go test reports, and the source scan that links a benchmark
to the lines it runs.

`go test -benchmem` prints allocs/op as total allocations / N, truncated to an integer, so 2.997 prints as
2. gomatrix/hook.go, put into the cell's own build of package testing by driver.sh (go test -overlay; the
toolchain and the case stay untouched), writes testing's own totals of each benchmark's final timed run by
the name go test prints: sub-benchmarks (b.Run, nested), b.Loop, external test packages and module packages
alike, on every Go version whose testing/benchmark.go has the six places it hooks.

The source scan is line based and expects gofmt'd code (a top-level func ends at the first line that is
exactly "}"), which every gofmt'd file satisfies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.core.resources import hook_go
from gomatrix.results.parse import PACKAGE_MARKER

HOOK_FILE = "gomatrix_hook.go"  # its name inside package testing (the overlay adds it there)
RUNTIME_HOOK_FILE = "gomatrix_runtime.go"  # inside package runtime: the tiny allocator's switch
LINE_TAG = "gomatrix-exact"


def hook_source() -> bytes:
    return hook_go()


def hook_files() -> dict[str, bytes]:
    """The files driver.sh looks for in ROOT/hook/."""
    return {HOOK_FILE: hook_go(), RUNTIME_HOOK_FILE: hook_go("hook_runtime.go")}


def hook_version() -> str:
    """Part of the result-cache key: a changed hook measures differently."""
    digest = hashlib.sha256()
    for name, content in sorted(hook_files().items()):
        digest.update(name.encode() + b"\0" + content)
    return digest.hexdigest()[:16]


def write_hook(cell_root: Path) -> None:
    """cell_root/hook/<the hook files>, where driver.sh looks for them."""
    (cell_root / "hook").mkdir(parents=True, exist_ok=True)
    for name, content in hook_files().items():
        (cell_root / "hook" / name).write_bytes(content)


_FUNC = re.compile(r"^func\s+(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*[\[(]")


@dataclass(frozen=True)
class Function:
    name: str
    file: str
    first_line: int
    last_line: int
    body: str


def functions(file: str, text: str) -> list[Function]:
    """Top-level functions and methods of one gofmt'd Go file, with their line ranges."""
    out: list[Function] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FUNC.match(lines[index])
        if not match:
            index += 1
            continue
        first = index
        if lines[index].rstrip().endswith("}"):  # a one-line func
            last = index
        else:
            last = next((i for i in range(index + 1, len(lines)) if lines[i].rstrip() == "}"), len(lines) - 1)
        out.append(Function(match.group(1), file, first + 1, last + 1, "\n".join(lines[first:last + 1])))
        index = last + 1
    return out


@dataclass(frozen=True)
class ExactCount:
    name: str
    iterations: int
    allocs: int
    bytes: int
    ns: int

    @property
    def allocs_per_op(self) -> float:
        return self.allocs / self.iterations

    @property
    def bytes_per_op(self) -> float:
        return self.bytes / self.iterations


def parse_exact(text: str) -> dict[tuple[str | None, str], ExactCount]:
    """{(package, benchmark): totals} from the hook's lines: gomatrix-exact NAME N ALLOCS BYTES NS [STARTS
    [RUNS]] (the last one of a name wins), each after its package's "gomatrix-package: PATH" line in a module case
    (package None in a case directory)."""
    out: dict[tuple[str | None, str], ExactCount] = {}
    package: str | None = None
    for line in text.splitlines():
        if line.startswith(PACKAGE_MARKER):
            package = line[len(PACKAGE_MARKER):].strip() or None
            continue
        parts = line.split()
        if len(parts) not in (6, 7, 8) or parts[0] != LINE_TAG:
            continue
        try:
            iterations, allocs, total_bytes, ns = (int(p) for p in parts[2:6])
        except ValueError:
            continue
        if iterations > 0:
            out[(package, parts[1])] = ExactCount(parts[1], iterations, allocs, total_bytes, ns)
    return out


def case_functions(sources: Mapping[str, str]) -> list[Function]:
    """Every top-level function of the case's files."""
    return [f for name, text in sorted(sources.items()) for f in functions(name, text)]


# The loop a benchmark times: for i := 0; i < b.N; i++ {, for b.Loop() {, for pb.Next() { (RunParallel).
_TIMED_LOOP = re.compile(r"^\s*for\b.*(?:\bb\.N\b|\.Loop\(\)|\.Next\(\)).*\{\s*$")


def timed_loops(func: Function) -> list[tuple[int, int]]:
    """(first, last) lines of the loops in a gofmt'd Benchmark function that its timed ops run; what lies
    outside them is setup (measured by nothing: testing times the loop). Empty when it has none of its own
    (it hands b to a helper that loops)."""
    lines = func.body.splitlines()
    out: list[tuple[int, int]] = []
    for index, line in enumerate(lines):
        number = func.first_line + index
        if not _TIMED_LOOP.match(line) or any(first <= number <= last for first, last in out):
            continue
        indent = len(line) - len(line.lstrip())
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith("}")
                    and len(lines[j]) - len(lines[j].lstrip()) == indent), len(lines) - 1)
        out.append((number, func.first_line + end))
    return out


def top_function(benchmark: str) -> str:
    """The Benchmark function a (sub-)benchmark runs in: BenchmarkParse/small/n=1 -> BenchmarkParse."""
    return benchmark.split("/", 1)[0]


def linked_ranges(benchmark: str, funcs: list[Function], files: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Line ranges whose allocation sites belong to the benchmark: its Benchmark function (a sub-benchmark's
    is the top-level one that calls b.Run) and, transitively, the functions it calls by name (inlined helpers
    report their sites at their own lines). files: a module's package (its files): the Benchmark function is
    looked up there, and only plain calls of functions of that package are followed (a method call, x.Log(,
    or another package's function could be any of several of that name)."""
    by_name: dict[str, list[Function]] = {}
    for func in funcs:
        by_name.setdefault(func.name, []).append(func)
    start = [f for f in by_name.get(top_function(benchmark), [])
             if f.file.endswith("_test.go") and (files is None or f.file in files)]
    seen: set[tuple[str, int]] = set()
    order: list[tuple[Function, int, int]] = []
    pending = list(start)
    while pending:
        func = pending.pop(0)
        if (func.file, func.first_line) in seen:
            continue
        seen.add((func.file, func.first_line))
        # a Benchmark function's timed loops only (its setup is never measured); another function whole
        loops = timed_loops(func) if func in start else []
        spans = loops or [(func.first_line, func.last_line)]
        order += [(func, first, last) for first, last in spans]
        lines = func.body.splitlines()
        body = "\n".join(line for first, last in spans
                         for line in lines[first - func.first_line + (0 if loops else 1):last - func.first_line + 1])
        for name, candidates in by_name.items():
            if files is not None:
                candidates = [c for c in candidates if c.file in files]
                if candidates and name != func.name and re.search(rf"(?<![.\w]){re.escape(name)}\s*\(", body):
                    pending.extend(candidates)
            elif name != func.name and re.search(rf"\b{re.escape(name)}\s*\(", body):
                pending.extend(candidates)
    return [{"file": f.file, "function": f.name, "first_line": first, "last_line": last} for f, first, last in order]
