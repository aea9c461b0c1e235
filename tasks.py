"""gomatrix tasks for `invoke` in a checkout: the `gomatrix` command's tasks plus the developer's own."""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.tasks import task

from gomatrix.cli import collection


@task
def test(c: Context) -> None:
    """Run the test suite (unit, lint, packaging, and Docker-backed integration tests)."""
    c.run(f"{sys.executable} -m pytest", pty=False)


@task
def lint(c: Context) -> None:
    """ruff and mypy --strict."""
    c.run(f"{sys.executable} -m ruff check .")
    c.run(f"{sys.executable} -m mypy")


ns = collection(test, lint)
