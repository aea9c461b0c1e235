"""GitHub Actions output: workflow commands (escaping, groups, annotations) and the job summary, alone and
as run_matrix writes them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gomatrix.core.kinds import RunnerChoice, Status, Strategy
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import load_config
from gomatrix.run import ghactions
from gomatrix.run import matrix as app
from gomatrix.runners.base import CellOutcome, utc_now
from tests.conftest import ROOT

ACTIONS = {"GITHUB_ACTIONS": "true"}


def test_message_escaping() -> None:
    assert ghactions.escape_data("100% of 3 cells") == "100%25 of 3 cells"
    assert ghactions.escape_data("exit status 2\r\nmain.go:12: undefined: x") == (
        "exit status 2%0D%0Amain.go:12: undefined: x")  # ':' and ',' mean nothing in a message
    assert ghactions.escape_data("already %0A escaped") == "already %250A escaped"  # stays as written


def test_property_escaping() -> None:
    assert ghactions.escape_property("gomatrix: array--go1.24.11--amd64 failed") == (
        "gomatrix%3A array--go1.24.11--amd64 failed")
    assert ghactions.escape_property("cases/a,b/c.go") == "cases/a%2Cb/c.go"
    assert ghactions.escape_property("50%: a\nb, c\r") == "50%25%3A a%0Ab%2C c%0D"


def test_error_command_lines() -> None:
    assert ghactions.error_command("cases/array/array.go", "gomatrix: array--go1.24.11--amd64 failed",
                                   "does not compile:\nmain.go:3: x, y declared and not used", line=3) == (
        "::error file=cases/array/array.go,line=3,title=gomatrix%3A array--go1.24.11--amd64 failed"
        "::does not compile:%0Amain.go:3: x, y declared and not used")
    # without a file or line those properties are left out, not written empty
    assert ghactions.error_command(None, "t", "100%") == "::error title=t::100%25"
    assert ghactions.workflow_command("endgroup") == "::endgroup::"


def test_groups_only_under_actions() -> None:
    out = io.StringIO()
    with ghactions.group("gomatrix: run 12 cells\nsecond line", stream=out, environ=ACTIONS):
        out.write("inside\n")
    assert out.getvalue() == "::group::gomatrix: run 12 cells%0Asecond line\ninside\n::endgroup::\n"
    for environ in ({}, {"GITHUB_ACTIONS": "false"}, {"CI": "true"}):
        quiet = io.StringIO()
        with ghactions.group("gomatrix: run 12 cells", stream=quiet, environ=environ):
            quiet.write("inside\n")
        assert quiet.getvalue() == "inside\n"


def test_a_group_ends_when_its_body_raises() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), ghactions.group("merge", stream=out, environ=ACTIONS):
        raise RuntimeError("merge failed")
    assert out.getvalue() == "::group::merge\n::endgroup::\n"


def test_groups_write_to_stdout_by_default(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with ghactions.group("prepare"):
        print("pulling")
    ghactions.error_annotation("a.go", "t", "m", line=2)
    assert capsys.readouterr().out == "::group::prepare\npulling\n::endgroup::\n::error file=a.go,line=2,title=t::m\n"
    monkeypatch.delenv("GITHUB_ACTIONS")
    ghactions.error_annotation("a.go", "t", "m")
    assert capsys.readouterr().out == ""


def test_annotations_point_at_the_cases_first_go_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # as in a workflow: the checkout is the working directory
    cases = discover_cases(ROOT / "cases", ("array", "makevar"))
    def cell(key: str, status: str, reason: str) -> dict[str, str]:
        case, version, _arch = key.split("--")
        return {"key": key, "case": case, "go_version": version, "status": status, "reason": reason}
    cells = [
        cell("array--go1.24.11--amd64", "failed", "exit status 1, see log"),
        cell("array--go1.24.11--arm64", "ok", ""),
        cell("makevar--go1.23.9--arm64", "timeout", ""),
        cell("gone--go1.24.11--amd64", "failed", "a: b"),
        cell("makevar--go1.24.11--amd64", "skipped", "not on arm64"),
    ]
    out = io.StringIO()
    assert ghactions.annotate_failed_cells(cells, cases, stream=out, environ=ACTIONS) == 3
    assert out.getvalue().splitlines() == [
        "::error file=cases/array/array.go,title=gomatrix%3A array--go1.24.11--amd64 failed::exit status 1, see log",
        "::error file=cases/makevar/makevar.go,title=gomatrix%3A makevar--go1.23.9--arm64 timeout"
        "::the cell ended timeout without a reason",
        "::error title=gomatrix%3A gone--go1.24.11--amd64 failed::a: b",  # a case no longer there: no file
    ]
    assert ghactions.annotate_failed_cells(cells, cases, stream=io.StringIO(), environ={}) == 0


def test_a_failure_the_case_expects_is_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case_dir = tmp_path / "cases" / "rangeint"
    case_dir.mkdir(parents=True)
    (case_dir / "main.go").write_text("package main\n\nfunc main() {}\n")
    monkeypatch.chdir(tmp_path)
    # as report.json has them: the merge asked the case.yaml (expected_failures) for each failed cell
    cells = [{"key": f"rangeint--go{v}--amd64", "case": "rangeint", "go_version": f"go{v}", "status": "failed",
              "reason": "undefined", "expected_failure": expected}
             for v, expected in (("1.21.13", "range over int"), ("1.22.10", None))]
    out = io.StringIO()
    assert ghactions.annotate_failed_cells(cells, discover_cases(tmp_path / "cases"), stream=out, environ=ACTIONS) == 2
    assert out.getvalue().splitlines() == [
        "::notice file=cases/rangeint/main.go,title=gomatrix%3A rangeint--go1.21.13--amd64 failed (expected)"
        "::undefined (expected by case.yaml: range over int)",
        "::error file=cases/rangeint/main.go,title=gomatrix%3A rangeint--go1.22.10--amd64 failed::undefined",
    ]


def test_case_file_is_relative_to_the_working_directory_when_inside_it(tmp_path: Path) -> None:
    array = discover_cases(ROOT / "cases", ("array",))[0]
    assert ghactions.case_file(array, cwd=ROOT) == "cases/array/array.go"
    assert ghactions.case_file(array, cwd=ROOT / "cases") == "array/array.go"
    assert ghactions.case_file(array, cwd=tmp_path) == str(ROOT / "cases" / "array" / "array.go")


def test_step_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("## from an earlier step\n", encoding="utf-8")
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert ghactions.append_step_summary("# gomatrix report\n\n| a | b |\n|---|---|\n", environ) == summary
    assert ghactions.append_step_summary("no newline at the end", environ) == summary
    assert summary.read_text(encoding="utf-8") == (
        "## from an earlier step\n# gomatrix report\n\n| a | b |\n|---|---|\nno newline at the end\n")


def test_no_step_summary_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert ghactions.append_step_summary("# report\n") is None
    assert ghactions.append_step_summary("# report\n", {"GITHUB_STEP_SUMMARY": ""}) is None
    assert list(tmp_path.iterdir()) == []


def test_a_summary_too_big_for_the_runner_is_cut_at_a_line() -> None:
    markdown = "".join(f"| row {n} | é |\n" for n in range(1000))
    cut = ghactions.fit_summary(markdown, 1000)
    assert len(cut.encode("utf-8")) <= 1000
    assert cut.endswith(ghactions.SUMMARY_CUT_NOTE)
    kept = cut.removesuffix(ghactions.SUMMARY_CUT_NOTE)
    assert kept.endswith(" |\n") and markdown.startswith(kept)
    assert ghactions.fit_summary(markdown, len(markdown.encode("utf-8"))) == markdown
    assert ghactions.fit_summary(markdown, 10) == ""


class _FailingOneCell:
    """A runner whose array cell fails at once and whose other cells are skipped."""

    name = "host"

    def __init__(self) -> None:
        self.prepared: list[str] = []

    def prepare(self, cells: list[Cell]) -> None:
        self.prepared = [cell.key for cell in cells]
        print("preparing toolchains")

    def strategy(self, cell: Cell) -> str:
        return "native"

    def group_key(self, cell: Cell) -> str:
        return cell.key

    def cache_inputs(self, cell: Cell) -> dict[str, str] | None:
        return None

    def run_group(self, cells: list[Cell], raw_dirs: list[Path]) -> list[CellOutcome]:
        return [CellOutcome(status=Status.FAILED if cell.case.name == "array" else Status.SKIPPED,
                            reason="does not compile: 100%\narray.go:3: x, y unused" if cell.case.name == "array"
                            else "not wanted here", runner=RunnerChoice.HOST, emulated=False, image=None, total_s=0.1,
                            started_at=utc_now(), strategy=Strategy.NATIVE) for cell in cells]

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def _run_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[app.RunSummary, _FailingOneCell]:
    runner = _FailingOneCell()
    monkeypatch.setattr(app, "select_runner", lambda *args, **kwargs: runner)
    monkeypatch.chdir(ROOT)  # as in a workflow: the checkout is the working directory
    config = load_config(None, {"versions": ["1.24.11"], "arches": ["amd64"], "cases": ["array", "makevar"],
                                "out": str(tmp_path / "reports"), "result_cache": False, "jobs": 2})
    return app.run_matrix(config, log=lambda line: print(line, flush=True)), runner


def test_run_matrix_under_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    summary_file = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    result, runner = _run_matrix(tmp_path, monkeypatch)
    lines = capsys.readouterr().out.splitlines()
    assert runner.prepared == ["array--go1.24.11--amd64", "makevar--go1.24.11--amd64"]

    def group(title: str) -> list[str]:
        start = lines.index(f"::group::{title}")
        return lines[start + 1: lines.index("::endgroup::", start)]

    assert group("gomatrix: prepare the host runner for 2 cells") == ["preparing toolchains"]
    ran = group("gomatrix: run 2 cells")
    assert "[0/2] array--go1.24.11--amd64: running" in ran  # plain lines: Actions is no terminal
    failed = "array--go1.24.11--amd64: failed in 0.1 s: does not compile: 100% array.go:3: x, y unused"
    assert f"[1/2] {failed}" in ran or f"[2/2] {failed}" in ran  # two jobs: either cell may finish first
    assert ran[-1].startswith("[2/2] finished in ")
    assert "::group::gomatrix: merge the cells and write the report" in lines
    errors = [line for line in lines if line.startswith("::error")]
    assert errors == ["::error file=cases/array/array.go,title=gomatrix%3A array--go1.24.11--amd64 failed"
                      "::does not compile: 100%25%0Aarray.go:3: x, y unused"]
    assert lines.index(errors[0]) > lines.index("::group::gomatrix: merge the cells and write the report")
    assert summary_file.read_text(encoding="utf-8") == result.report_md.read_text(encoding="utf-8")
    assert not any("\x1b" in line for line in lines)


def test_run_matrix_elsewhere_prints_no_workflow_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result, _runner = _run_matrix(tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert result.statuses == {"failed": 1, "skipped": 1}
    assert not [line for line in out.splitlines() if line.startswith("::")]  # no group, endgroup, error
    assert "preparing toolchains" in out and "[2/2] finished in " in out
