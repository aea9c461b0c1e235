"""gomatrix tasks for `invoke` in a checkout: the `gomatrix` command's tasks plus the developer's own
(bench, test, lint)."""

from __future__ import annotations

import os
import sys

from invoke.context import Context
from invoke.tasks import task

from gomatrix.cli import collection, print_line, user_errors, whole_number
from gomatrix.core.errors import ConfigError
from gomatrix.plan.config import split_list


@task(auto_shortflags=False, help={
    "image": "image template (default: the local registry's mirror, 127.0.0.1:5000/golang:{version})",
    "versions": "comma-separated Go versions of the seed matrix (default: 1.23.9,1.24.11)",
    "jobs": "parallel jobs to compare with --jobs 1 (default: the number of cores)",
    "only": "'scale' (merge, report and index of synthesized cells: no Docker) or 'docker' (default: both)",
    "sizes": "cell counts of the scale section (default: 100,1000,5000)"})
def bench(c: Context, image: str = "127.0.0.1:5000/golang:{version}", versions: str = "1.23.9,1.24.11",
          jobs: str = "", only: str = "", sizes: str = "") -> None:
    """Measure cold/warm runs, --jobs 1 vs N, full vs cross, overhead and memory, and the orchestrator at
    scale, into benchmarks/RESULTS.md."""
    from benchmarks.bench import run_bench
    from benchmarks.scale import SIZES, run_scale_bench

    def action() -> None:
        if only not in ("", "scale", "docker"):
            raise ConfigError(f"--only: {only!r} is not scale or docker", where="command line",
                              fix="Pass --only scale or --only docker (or neither for both).")
        if only != "scale":
            count = whole_number("jobs", jobs) if jobs else os.cpu_count() or 1
            run_bench(image=image, versions=split_list(versions), jobs=count, log=print_line)
        if only != "docker":
            counts = [whole_number("sizes", size) for size in split_list(sizes)] if sizes else list(SIZES)
            run_scale_bench(sizes=counts, log=print_line)

    user_errors(action)


@task
def test(c: Context) -> None:
    """Run the test suite (unit, lint, packaging, and Docker-backed integration tests)."""
    c.run(f"{sys.executable} -m pytest", pty=False)


@task
def lint(c: Context) -> None:
    """ruff and mypy --strict."""
    c.run(f"{sys.executable} -m ruff check .")
    c.run(f"{sys.executable} -m mypy")


ns = collection(bench, test, lint)
