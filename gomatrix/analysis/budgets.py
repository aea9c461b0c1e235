"""Allocation budgets checked against the exact counts of every cell: typed results for the report and the exit
status. A budget is judged only where an exact figure was measured; go test's truncated figures never decide."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gomatrix.analysis.evidence import Column
from gomatrix.plan.budgets import Budget


class BudgetStatus(enum.Enum):
    HOLDS = "holds"
    BROKEN = "broken"
    UNMEASURED = "unmeasured"  # no exact figure in that cell (the hook could not go into testing)


@dataclass(frozen=True)
class BudgetCheck:
    """One budget on one benchmark in one cell."""

    benchmark: str
    package: str | None
    column: str
    go_version: str
    arch: str
    status: BudgetStatus
    allocs_per_op: float | None  # exact, measured
    bytes_per_op: float | None
    broken_by: tuple[str, ...]  # "allocs/op", "B/op": which limits the figures break


@dataclass(frozen=True)
class BudgetResult:
    id: str  # the budget in words: benchmark regexp, package, limits, versions
    reason: str
    allocs_limit: str | None
    bytes_limit: str | None
    benchmarks: int  # distinct benchmarks it applies to
    checked: int  # benchmark x cell results judged
    broken: tuple[BudgetCheck, ...]
    unmeasured: int


def check_budgets(budgets: Sequence[Budget], benchmarks: Sequence[Mapping[str, Any]],
                  columns: Sequence[Column]) -> tuple[BudgetResult, ...]:
    """Each budget against the report's benchmark rows (name, package, results by column)."""
    by_id = {c.id: c for c in columns}
    out = []
    for budget in budgets:
        checks: list[BudgetCheck] = []
        names: set[tuple[str | None, str]] = set()
        for bench in benchmarks:
            for col, result in bench["results"].items():
                column = by_id.get(col)
                if column is None or not budget.applies(bench["name"], bench.get("package"), column.go_version):
                    continue
                names.add((bench.get("package"), bench["name"]))
                checks.append(_check(budget, bench, column, result))
        out.append(BudgetResult(
            budget.id, budget.reason, budget.allocs_per_op.text() if budget.allocs_per_op else None,
            budget.bytes_per_op.text() if budget.bytes_per_op else None, len(names),
            sum(1 for c in checks if c.status != BudgetStatus.UNMEASURED),
            tuple(c for c in checks if c.status == BudgetStatus.BROKEN),
            sum(1 for c in checks if c.status == BudgetStatus.UNMEASURED)))
    return tuple(out)


def _check(budget: Budget, bench: Mapping[str, Any], column: Column, result: Mapping[str, Any]) -> BudgetCheck:
    allocs, total_bytes = result.get("exact_allocs_per_op"), result.get("exact_bytes_per_op")
    broken: list[str] = []
    measured = True
    if budget.allocs_per_op is not None:
        if allocs is None:
            measured = False
        elif not budget.allocs_per_op.holds(float(allocs), tolerant=True):
            broken.append("allocs/op")
    if budget.bytes_per_op is not None:
        if total_bytes is None:
            measured = False
        elif not budget.bytes_per_op.holds(float(total_bytes), tolerant=False):
            broken.append("B/op")
    status = BudgetStatus.BROKEN if broken else BudgetStatus.HOLDS if measured else BudgetStatus.UNMEASURED
    return BudgetCheck(bench["name"], bench.get("package"), column.id, column.go_version, column.arch, status,
                       allocs, total_bytes, tuple(broken))
