"""Files that ship inside the package: the JSON Schemas, the driver, the default matrix and its cases.

In a checkout, gomatrix/data/ holds symlinks to the top-level schemas/, cases/ and matrix.yaml (the one
copy of each that users and editors read); a wheel carries the files themselves. Either way they are
found through importlib.resources, never relative to the current directory.
"""

from __future__ import annotations

import contextlib
from functools import cache
from importlib import resources
from pathlib import Path

# Keeps extracted copies alive for the process when the package is imported from a zip file.
_extracted = contextlib.ExitStack()


@cache
def data_path(*parts: str) -> Path:
    """A file or directory under gomatrix/data/ as a real path (cases are mounted into containers)."""
    return _extracted.enter_context(resources.as_file(resources.files("gomatrix").joinpath("data", *parts)))


def schema_dir() -> Path:
    return data_path("schemas")


def default_matrix() -> Path:
    """The matrix used when the current directory has no matrix.yaml (it names the packaged cases)."""
    return data_path("matrix.yaml")


def default_cases() -> Path:
    return data_path("cases")


def driver_script() -> bytes:
    """The in-cell steps (go version, go env, vet, -m=2, tests, benchmarks): the same for every runner."""
    return resources.files("gomatrix").joinpath("driver.sh").read_bytes()


def hook_go(name: str = "hook.go") -> bytes:
    """gomatrix's additions to packages testing (hook.go) and runtime (hook_runtime.go): driver.sh puts them into
    each cell's build through -overlay."""
    return resources.files("gomatrix").joinpath(name).read_bytes()
