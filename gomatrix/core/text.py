"""Small text helpers shared by every layer: the logging callback type and the tail of a command's output."""

from __future__ import annotations

from collections.abc import Callable

Log = Callable[[str], None]  # where progress and notes go: print, a Progress, or a test's list.append


def tail(text: str | None, lines: int = 6, *, one_line: bool = False) -> str:
    """The last lines of a command's output, for an error message: as lines, or (one_line) joined by " | "
    without blank lines and pip's WARNING lines, "(no output)" when nothing is left."""
    if not one_line:
        return "\n".join((text or "").strip().splitlines()[-lines:])
    rows = [r for r in (text or "").strip().splitlines() if r.strip() and not r.startswith("WARNING")]
    return " | ".join(rows[-lines:]) if rows else "(no output)"
