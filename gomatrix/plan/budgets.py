"""Allocation budgets: a library's promise about its benchmarks' exact allocs/op or B/op, on the Go versions it
names (matrix.yaml module entries' `budgets:`, a case.yaml's `budgets:`). Checked on every cell; a broken one
fails the run with its own exit status."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gomatrix.core.values import allocs_equal, in_version_range


@dataclass(frozen=True)
class Limit:
    """min <= value <= max (either may be open); allocs are compared within the exact-count tolerance."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float, *, tolerant: bool) -> bool:
        def close(bound: float) -> bool:
            return tolerant and allocs_equal(value, bound)
        return (self.min is None or value >= self.min or close(self.min)) and \
            (self.max is None or value <= self.max or close(self.max))

    def text(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min:g}" if self.min == self.max else f"{self.min:g}–{self.max:g}"
        if self.max is not None:
            return f"≤ {self.max:g}"
        return f"≥ {self.min:g}" if self.min is not None else "any"


@dataclass(frozen=True)
class Budget:
    benchmark: str  # a regexp matched against the whole name go test prints (BenchmarkParse/small)
    allocs_per_op: Limit | None = None
    bytes_per_op: Limit | None = None
    package: str | None = None  # a regexp matched against the whole import path (module cases)
    since: str | None = None
    until: str | None = None
    reason: str = ""

    def applies(self, benchmark: str, package: str | None, go_version: str) -> bool:
        return re.fullmatch(self.benchmark, benchmark) is not None and \
            (self.package is None or re.fullmatch(self.package, package or "") is not None) and \
            in_version_range(go_version, self.since, self.until)

    @property
    def id(self) -> str:
        limits = [f"allocs/op {self.allocs_per_op.text()}" if self.allocs_per_op else "",
                  f"B/op {self.bytes_per_op.text()}" if self.bytes_per_op else ""]
        scope = f" in {self.package}" if self.package else ""
        versions = (f" since {self.since}" if self.since else "") + (f" until {self.until}" if self.until else "")
        return f"{self.benchmark}{scope}: {', '.join(x for x in limits if x)}{versions}"


def parse_limit(value: Any) -> Limit | None:
    """A number (exactly that) or {min, max} (either may be left out)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return Limit(min=value.get("min"), max=value.get("max"))
    return Limit(min=float(value), max=float(value))


def parse_budgets(raw: Sequence[Any] | None) -> tuple[Budget, ...]:
    """Budgets as the schema (schemas/$defs/budget) validated them. Raises ValueError naming a regexp that
    does not compile."""
    out = []
    for entry in raw or ():
        for key in ("benchmark", "package"):
            if entry.get(key) is not None:
                try:
                    re.compile(entry[key])
                except re.error as exc:
                    raise ValueError(f"budget {key} {entry[key]!r} is not a regular expression: {exc}") from None
        since, until = entry.get("since"), entry.get("until")
        out.append(Budget(benchmark=entry["benchmark"], allocs_per_op=parse_limit(entry.get("allocs_per_op")),
                          bytes_per_op=parse_limit(entry.get("bytes_per_op")), package=entry.get("package"),
                          since=None if since is None else str(since).removeprefix("go"),
                          until=None if until is None else str(until).removeprefix("go"),
                          reason=str(entry.get("reason") or "")))
    return tuple(out)
