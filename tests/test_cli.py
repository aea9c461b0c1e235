"""The command line as a user meets it: help, usage errors (exit 2, one paragraph), the plan, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gomatrix.core.kinds import Status
from gomatrix.core.resources import default_cases, default_matrix, schema_dir
from gomatrix.core.schemas import defaults, schema
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.config import CLI_OPTIONS, DEFAULTS
from gomatrix.run.matrix import CellFailure, RunSummary
from tests.conftest import ROOT, invoke


def gomatrix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m gomatrix ...` from cwd, as a user outside the checkout runs it."""
    return subprocess.run([sys.executable, "-m", "gomatrix", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def one_paragraph_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = result.stderr.strip()
    assert text.startswith("gomatrix: ") and "\n" not in text, text
    return text


def test_packaged_data_is_the_checkouts_one_copy() -> None:
    # In a checkout gomatrix/data/ links to the top-level files: one source of truth, nothing to drift.
    assert schema_dir().resolve() == (ROOT / "schemas").resolve()
    assert default_cases().resolve() == (ROOT / "cases").resolve()
    assert default_matrix().resolve() == (ROOT / "matrix.yaml").resolve()


def test_the_schema_defaults_are_the_built_in_defaults() -> None:
    from_schema = defaults(schema("matrix"))
    assert {k: v for k, v in from_schema.items() if k not in ("versions", "arches")} == DEFAULTS
    # every command-line option sets a key the schema knows
    for path in CLI_OPTIONS.values():
        node = schema("matrix")
        for key in path:
            node = node["properties"][key]
        assert "description" in node, path


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["matrix", "-h"], ["matrix", "--help"], ["merge", "-h"],
                                  ["versions", "-h"], ["nightly", "--help"], ["--version"]])
def test_help_and_version_work_everywhere(args: list[str], tmp_path: Path) -> None:
    result = gomatrix(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if args == ["--version"]:
        assert result.stdout.startswith("gomatrix 0.")
    elif args[0] == "matrix":
        # defaults and choices are in the help, and no automatic short flags collide with -h
        text = " ".join(result.stdout.split())  # help is wrapped to the terminal
        assert "(default: 200ms)" in text and "one of: auto, full, cross (default: auto)" not in text
        assert "or cell (one container per cell); one of: group, cell" not in text  # choices once
        assert "--runner=STRING auto: Docker" in text and "(default: auto)" in text
        assert "--shard" in text and "-h," not in text and "-r," not in text and "-u," not in text
    else:
        assert "Usage: gomatrix" in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["matrix", "--jobs", "abc"], "--jobs: 'abc' is not a whole number (in command line)"),
    (["matrix", "--count", "0"], "--count: 0 is less than the minimum of 1"),
    (["matrix", "--runner", "dockr"], "--runner: 'dockr' is not a choice; did you mean 'docker'? "
                                      "(choices: auto, docker, host) (in command line)"),
    (["matrix", "--arches", "amd64,x86"], "--arches: 'x86' is not a choice (choices: amd64, arm64)"),
    (["matrix", "--verisons", "1.24"], "No idea what '--verisons' is! (did you mean '--versions'?)"),
    (["matrx"], "No idea what 'matrx' is! (did you mean 'matrix'?)"),
    (["matrix", "--json"], "--json goes with --dry-run"),
    (["matrix", "--shard", "4/3"], "bad shard '4/3'"),
    (["matrix", "--benchtime", "fast"], "--benchtime: 'fast' does not match"),
    (["merge", "no-such-run"], "no such directory: no-such-run (in command line (merge))"),
])
def test_usage_errors_are_one_paragraph_with_exit_2(args: list[str], expected: str, tmp_path: Path) -> None:
    text = one_paragraph_error(gomatrix(*args, cwd=tmp_path), 2)
    assert expected in text


def test_a_bad_matrix_file_is_blamed_on_the_file_not_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "matrix.yaml").write_text("versions: ['1.24']\narches: [amd64]\nrunner: dockr\n")
    text = one_paragraph_error(gomatrix("matrix", "--dry-run", cwd=tmp_path), 2)
    assert "at $.runner: 'dockr' is not a choice; did you mean 'docker'?" in text
    assert "(in matrix.yaml)" in text


def test_dry_run_outside_a_checkout_plans_the_packaged_default(tmp_path: Path) -> None:
    result = gomatrix("matrix", "--dry-run", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["source"] == str(default_matrix())
    assert plan["cases"] == [case.name for case in discover_cases(default_cases())]
    assert plan["out"] == str(tmp_path.resolve() / "reports")  # where the user stands
    assert len(plan["cells"]) == len(plan["versions"]) * len(plan["arches"]) * len(plan["cases"])
    first = plan["cells"][0]
    assert first["image"] == f"golang:{first['version']}" and first["platform"] == f"linux/{first['arch']}"
    assert not (tmp_path / "reports").exists()  # a dry run writes nothing


def test_dry_run_with_a_shard_and_a_local_matrix(tmp_path: Path) -> None:
    (tmp_path / "matrix.yaml").write_text(f"versions: ['1.23.9', '1.24.11']\narches: [amd64, arm64]\n"
                                          f"cases_dir: {default_cases()}\n")
    whole = json.loads(gomatrix("matrix", "--dry-run", "--json", cwd=tmp_path).stdout)
    parts = [json.loads(gomatrix("matrix", "--dry-run", "--json", "--shard", f"{i}/2", cwd=tmp_path).stdout)
             for i in (1, 2)]
    assert whole["source"] == "matrix.yaml"
    assert sorted(c["key"] for p in parts for c in p["cells"]) == sorted(c["key"] for c in whole["cells"])
    assert [p["shard"] for p in parts] == ["1/2", "2/2"]
    table = gomatrix("matrix", "--dry-run", cwd=tmp_path)
    assert table.returncode == 0 and f"gomatrix: {len(whole['cells'])} cells (matrix.yaml), runner auto" in table.stdout


def test_invoke_in_the_checkout_has_the_same_tasks_and_the_developers_own() -> None:
    listed = invoke("--list").stdout
    for name in ("matrix", "merge", "nightly", "versions", "clean", "bench", "images.mirror", "cases.extract",
                 "test", "lint"):
        assert f"  {name} " in listed
    result = invoke("matrix", "--jobs", "abc")
    assert result.returncode == 2 and "--jobs: 'abc' is not a whole number" in result.stderr


def test_failures_that_a_case_expects_do_not_fail_the_run(tmp_path: Path) -> None:
    case = tmp_path / "cases" / "rangeint"
    case.mkdir(parents=True)
    (case / "main.go").write_text("package main\n\nfunc main() {}\n")
    (case / "case.yaml").write_text("expected_failures:\n  - until: '1.21'\n    reason: range over int needs go1.22\n")
    loaded = discover_cases(tmp_path / "cases")[0]
    assert loaded.expected_failure("go1.21.13") == "range over int needs go1.22"
    assert loaded.expected_failure("go1.22.10") is None
    summary = RunSummary(tmp_path, tmp_path / "report.md", {Status.FAILED: 2},
                         failures=(CellFailure("rangeint--go1.21.13--amd64", "failed", "x", "range over int"),
                                   CellFailure("other--go1.22.10--amd64", "timeout", "y", None)))
    assert [f.key for f in summary.unexpected_failures] == ["other--go1.22.10--amd64"]

