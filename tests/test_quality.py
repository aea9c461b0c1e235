"""Lint, types and layers are part of the test suite: ruff, mypy --strict and import-linter must be clean."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_hold_and_nothing_imports_in_a_cycle() -> None:
    # contracts in pyproject.toml ([tool.importlinter]); docs/ARCHITECTURE.md explains the layers
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gomatrix is layered KEPT" in result.stdout and "no import cycles inside a layer KEPT" in result.stdout
