"""The package as users get it: sdist and wheel built, the wheel installed into a fresh venv, and the
`gomatrix` command run from an empty directory outside the checkout (host runner, real Go)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, only_run_dir

DATA = ("schemas", "cases")  # shipped under gomatrix/data/, from the top-level directories


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel, built as a release would be (python -m build: the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SetuptoolsDeprecationWarning" not in result.stdout + result.stderr  # e.g. the license table
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv (no system site-packages) with only the wheel and its dependencies."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    created = _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
    assert created.returncode == 0, created.stderr
    wheel = next(dist.glob("gomatrix-*.whl"))
    installed = _run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                     cwd=where.parent)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    yield where


def test_wheel_and_sdist_carry_the_one_copy_of_schemas_cases_and_matrix(dist: Path) -> None:
    with zipfile.ZipFile(next(dist.glob("gomatrix-*.whl"))) as wheel:
        _check_wheel(wheel)
    with tarfile.open(next(dist.glob("gomatrix-*.tar.gz"))) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"LICENSE", "gomatrix/data/schemas/cell.schema.json", "gomatrix/data/cases/array/array_test.go"} <= members


def _check_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for top in DATA:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file():
                member = f"gomatrix/data/{path.relative_to(ROOT)}"
                assert member in names, member
                assert wheel.read(member) == path.read_bytes(), member  # the same bytes, not a drifted copy
    assert wheel.read("gomatrix/data/matrix.yaml") == (ROOT / "matrix.yaml").read_bytes()
    assert "gomatrix/driver.sh" in names and "gomatrix/analysis/document.py" in names
    metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "gomatrix = gomatrix.cli:main" in entry_points


def test_installed_wheel_runs_from_an_empty_directory(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    script = venv / "bin" / "gomatrix"
    where = _run([str(venv / "bin" / "python"), "-c", "import gomatrix.core.resources as r; print(r.schema_dir())"],
                 cwd=work)
    assert where.returncode == 0 and where.stdout.startswith(str(venv)), where.stdout + where.stderr

    for args in (["--help"], ["matrix", "-h"]):
        shown = _run([str(script), *args], cwd=work)
        assert shown.returncode == 0 and "Usage: gomatrix" in shown.stdout, shown.stderr
    as_module = _run([str(venv / "bin" / "python"), "-m", "gomatrix", "--help"], cwd=work)
    assert as_module.returncode == 0 and "matrix" in as_module.stdout

    bad = _run([str(script), "matrix", "--jobs", "abc"], cwd=work)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "--jobs: 'abc' is not a whole number" in bad.stderr

    ran = _run([str(script), "matrix", "--runner", "host", "--versions", "1.24.11", "--arches", "amd64",
                "--cases", "array"], cwd=work)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    run_dir = only_run_dir(work / "reports")
    assert (run_dir / "report.md").is_file() and (work / "reports" / "latest.md").is_file()
    assert "array--go1.24.11--amd64: ok" in ran.stdout
    assert list(work.iterdir()) == [work / "reports"]  # nothing else written where the user stands


def test_a_failing_cell_makes_the_command_exit_9_and_name_it(venv: Path, tmp_path: Path) -> None:
    case = tmp_path / "mycases" / "broken"
    case.mkdir(parents=True)
    (case / "broken_test.go").write_text('package main\n\nimport "testing"\n\n'
                                         "func BenchmarkBroken(b *testing.B) { undefinedThing() }\n")
    (case / "main.go").write_text("package main\n\nfunc main() {}\n")
    script = venv / "bin" / "gomatrix"
    args = [str(script), "matrix", "--runner", "host", "--versions", "1.24.11", "--arches", "amd64",
            "--cases-dir", "mycases"]
    failed = _run(args, cwd=tmp_path)
    assert failed.returncode == 9, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    assert "gomatrix: cells failed: 1 cell(s) did not end ok: broken--go1.24.11--amd64 (failed:" in failed.stderr
    assert "undefined: undefinedThing" in failed.stderr
    accepted = _run([*args, "--accept-failures"], cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    (case / "case.yaml").write_text("expected_failures:\n  - since: '1.24'\n    reason: a fixture that never builds\n")
    expected = _run(args, cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    assert "broken--go1.24.11--amd64 failed, as its case expects: a fixture that never builds" in expected.stdout
