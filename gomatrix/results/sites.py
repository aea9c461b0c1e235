"""A cell's allocation sites: places in the case's source, with what the compiler said and what was
measured there.

A site is a position (file, line, column) and the source text found there. The compiler's verdict is
heap ("escapes to heap", "moved to heap"), stack ("does not escape") or none (it printed nothing
about that place); measured is what the allocation profile counted at that line, per benchmark.
Parameters (b *testing.B) are not allocation sites and are left out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from gomatrix.core.values import ALLOCATES_THRESHOLD
from gomatrix.results.exact import Function
from gomatrix.results.parse import EscapeSite
from gomatrix.results.profile import Accounting
from gomatrix.results.source import (
    ALLOCATING,
    allocating_column,
    callee_column,
    expression_at,
    expression_start,
    is_parameter,
)


class Compiler(enum.Enum):
    HEAP = "heap"
    STACK = "stack"
    NONE = "none"


@dataclass(frozen=True)
class Measured:
    benchmark: str
    allocs_per_op: float
    bytes_per_op: float
    callees: tuple[str, ...] = ()  # functions called at the line inside which they were made (none: the line)
    iterations: int | None = None  # ops of the profiled run (None: a cell written before it was recorded)


@dataclass(frozen=True)
class CellSite:
    file: str
    line: int
    column: int
    source: str
    compiler: Compiler
    message: str
    reason: str | None
    measured: tuple[Measured, ...]
    covered: bool  # a benchmark's own function, or a function of the case it calls, holds this line
    inlined: bool = False  # the line's function is inlined into a caller somewhere in the case



def _line_text(sources: Mapping[str, str], file: str, line: int) -> str:
    lines = sources.get(file, "").splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def fold_inlined(escapes: Sequence[EscapeSite], inlined: Mapping[tuple[str, int, int], str],
                 functions: Sequence[Function]) -> tuple[list[EscapeSite], set[tuple[str, int]]]:
    """The compiler reports the allocation sites of a body inlined into a caller at the call's position;
    the profile places those allocations at the body's own lines. A diagnostic at an inlined call of a
    function of the case is therefore moved to that function's diagnostic about the same expression:
    the inlined copies are what callers run, so their verdict (heap if any copy's) replaces the
    out-of-line copy's, whose words are kept in the message.

    Returns the escapes and the (file, line)s of functions that are inlined somewhere: there a verdict
    without an inlined copy speaks of the out-of-line copy only."""
    by_name: dict[str, list[Function]] = {}
    for func in functions:
        by_name.setdefault(func.name, []).append(func)
    copies: dict[int, list[EscapeSite]] = {}
    kept: list[EscapeSite] = []
    for esc in escapes:
        callee = inlined.get((esc.file, esc.line, esc.col or 0))
        target = next((index for index, other in enumerate(escapes) for func in by_name.get(callee or "", [])
                       if other.file == func.file and func.first_line <= other.line <= func.last_line
                       and other.subject == esc.subject), None)
        if target is None:
            kept.append(esc)
        else:
            copies.setdefault(target, []).append(esc)
    out = []
    for index, esc in enumerate(escapes):
        if esc not in kept:
            continue
        found = copies.get(index)
        if found:
            chosen = next((c for c in found if c.verdict == "heap"), found[0])
            where = f"inlined at {chosen.file}:{chosen.line}"
            message = chosen.message if chosen.verdict == esc.verdict else \
                f"{chosen.message} ({where}; out of line: {esc.message})"
            esc = EscapeSite(esc.file, esc.line, esc.col, message, esc.subject, chosen.verdict,
                             chosen.reason if chosen.verdict == "heap" else None)
        out.append(esc)
    bodies = {(func.file, line) for callee in set(inlined.values()) for func in by_name.get(callee, [])
              for line in range(func.first_line, func.last_line + 1)}
    return out, bodies


def cell_sites(escapes: Iterable[EscapeSite], accounts: Mapping[str, Accounting], sources: Mapping[str, str],
               covered_lines: AbstractSet[tuple[str, int]], inlined_bodies: AbstractSet[tuple[str, int]] = frozenset()
               ) -> list[CellSite]:
    """The cell's sites: every allocation diagnostic of the compiler in the case's files (one per position;
    heap wins when inlining reports a place twice) and every measured line, in source order.

    A line's measured allocations go to its heap site, else its first site, else a site of their own at
    the line's allocating expression (the profile resolves lines, not columns).
    """
    by_position: dict[tuple[str, int, int], EscapeSite] = {}
    for esc in escapes:
        text = _line_text(sources, esc.file, esc.line)
        column = expression_start(text, esc.col) if esc.col else allocating_column(text)
        if is_parameter(text, column, esc.subject):
            continue
        key = (esc.file, esc.line, column)
        if key not in by_position or esc.verdict == "heap":
            by_position[key] = esc
    measured_by_line: dict[tuple[str, int], list[Measured]] = {}
    for name, accounting in accounts.items():
        for entry in accounting.lines:
            if entry.allocs_per_op > 0 and (entry.allocs_per_op >= ALLOCATES_THRESHOLD or any(
                    p[:2] == (entry.file, entry.line) for p in by_position)):
                measured_by_line.setdefault((entry.file, entry.line), []).append(
                    Measured(name, entry.allocs_per_op, entry.bytes_per_op,
                             tuple(c.function for c in entry.callees if c.allocs_per_op > 0), accounting.iterations))
    positions = sorted(by_position)
    owner: dict[tuple[str, int], tuple[str, int, int]] = {}
    for line_key in measured_by_line:
        on_line = [p for p in positions if p[:2] == line_key]
        heap = [p for p in on_line if by_position[p].verdict == "heap"]
        if heap or on_line:
            owner[line_key] = (heap or on_line)[0]
    out = []
    for position in positions:
        esc = by_position[position]
        file, line, column = position
        measured = measured_by_line.get((file, line), []) if owner.get((file, line)) == position else []
        out.append(CellSite(file, line, column, expression_at(_line_text(sources, file, line), column),
                            Compiler(esc.verdict), esc.message, esc.reason, tuple(measured),
                            (file, line) in covered_lines, (file, line) in inlined_bodies))
    for (file, line), measured in measured_by_line.items():
        if (file, line) in owner:
            continue
        text = _line_text(sources, file, line)
        # The call inside which the allocations were made, when every benchmark's were made in one function the
        # line calls; else the allocating expression when the line has one, else the statement (return s: a
        # slice moved to the heap as it is returned).
        callees = {c for m in measured for c in m.callees}
        own = any(not m.callees for m in measured)
        called_at = callee_column(text, next(iter(callees))) if len(callees) == 1 and not own else None
        column = called_at or allocating_column(text)
        source = expression_at(text, column) if called_at or ALLOCATING.search(text) else text.strip()
        out.append(CellSite(file, line, column, source, Compiler.NONE, "", None, tuple(measured), True,
                            (file, line) in inlined_bodies))
    return sorted(out, key=lambda s: (s.file, s.line, s.column))
