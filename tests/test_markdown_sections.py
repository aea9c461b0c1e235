"""The report's sections come in the order the module docstring promises, and a section with nothing to
say leaves no heading behind: checked on the published report of 2026-11-30."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from markdown_it import MarkdownIt

from gomatrix.analysis.markdown import render_markdown
from tests.recorded import ROOT


@cache
def _published() -> dict[str, Any]:
    report: dict[str, Any] = json.loads((ROOT / "reports" / "2026-11-30" / "report.json").read_text())
    return report


def _headings(markdown: str) -> list[str]:
    """The text of every heading (#, ##) as a reader sees it: escapes undone, code spans as their text."""
    tokens = MarkdownIt().parse(markdown)
    return ["".join(child.content for child in tokens[i + 1].children or [])
            for i, token in enumerate(tokens) if token.type == "heading_open"]


def _case_headings(report: dict[str, Any]) -> list[str]:
    return [f"Case {case['name']}: {case['title']}" for case in report["cases"]]


def test_sections_come_first_screen_first_and_bulky_tables_last() -> None:
    report = _published()
    markdown = render_markdown(report)
    assert _headings(markdown) == [
        report["title"],
        "Do the claims still hold?",
        "Changes since the previous run",
        "What changed across versions",
        "Where the compiler's words mislead",
        "Claims in detail",
        *_case_headings(report),
        "Cells",
    ]
    # The environment belongs to the first screen: right after the claims, before any change.
    assert markdown.index("## Do the claims still hold?") < markdown.index("**Measured on**") \
        < markdown.index("## Changes since the previous run")


def test_a_report_without_claims_or_previous_run_has_no_empty_sections() -> None:
    report = copy.deepcopy(_published())
    for case in report["cases"]:
        case["claims"] = []
    del report["since_previous"]
    assert _headings(render_markdown(report)) == [
        report["title"],
        "What changed across versions",
        "Where the compiler's words mislead",
        *_case_headings(report),
        "Cells",
    ]


def test_sections_are_separated_by_exactly_one_blank_line() -> None:
    report = copy.deepcopy(_published())
    report["cells"][0]["status"] = "failed"  # adds the list of cells that did not end ok
    for candidate in (_published(), report):
        markdown = render_markdown(candidate)
        assert "\n\n\n" not in markdown
        assert markdown.endswith("</details>\n")
