"""Fuzzing the config and case loaders: any input gives a valid config (case) or ConfigError (CaseError),
never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gomatrix.core.errors import CaseError, ConfigError
from gomatrix.plan.cases import load_case
from gomatrix.plan.config import DEFAULTS, MatrixConfig, load_config

MATRIX_KEYS = [*DEFAULTS, "versions", "arches", "benchtime", "count", "memory", "pids", "cpus", "versoins"]
CASE_KEYS = ["title", "source", "claims", "id", "text", "site", "file", "line", "expect", "benchmark",
             "allocs_per_op", "claim"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["1.24.11", "1.24", "amd64", "arm64", "all", "stack",
                                                           "heap", "200ms", "2g", "{version}", "x.go",
                                                           "BenchmarkX", "group", "docker"]))


def structures(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=8)), inner, max_size=5)), max_leaves=20)


def yamlish(keys: list[str]) -> st.SearchStrategy[str]:
    """Mostly YAML documents of the right vocabulary, some arbitrary text (broken YAML, tabs, NULs)."""
    dumped = structures(keys).map(lambda doc: yaml.safe_dump(doc, allow_unicode=True))
    mangled = st.tuples(dumped, st.integers(0, 200), st.sampled_from(["", ":", "\t", "- ", "{", "&a *b", "\x00",
                                                                     "\n  ", "!!python/object:x {}"]))
    return st.one_of(dumped, st.text(max_size=200),
                     mangled.map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]))


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(yamlish(MATRIX_KEYS))
def test_any_matrix_file_is_a_config_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            config = load_config(path, cwd=Path(tmp))
        except ConfigError as exc:
            assert exc.exit_code == 2 and exc.what
        else:
            assert isinstance(config, MatrixConfig) and config.versions and config.arches


@FUZZ
@given(yamlish(CASE_KEYS))
def test_any_case_yaml_is_a_case_or_a_case_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "fuzzed"
        case.mkdir()
        (case / "x.go").write_text("package main\n\nfunc main() {}\n")
        (case / "case.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            loaded = load_case(case)
        except CaseError as exc:
            assert exc.exit_code == 3 and exc.what
        else:
            assert loaded.name == "fuzzed" and loaded.go_files == ("x.go",)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_are_a_config_or_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.yaml"
        path.write_bytes(data)
        try:
            load_config(path, cwd=Path(tmp))
        except ConfigError as exc:
            assert exc.exit_code == 2 and exc.what
