"""A Go module as a case: matrix.yaml `cases:` mappings and --module (planning only, no Go run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomatrix.core.errors import CaseError, ConfigError
from gomatrix.plan.cases import load_cases, load_module, parse_go_mod
from gomatrix.plan.config import ModuleSpec, cli_overrides, load_config

ROOT = Path(__file__).resolve().parent.parent
GOKITLOG = ROOT / "tests" / "fixtures" / "modules" / "gokitlog"


def write(directory: Path, text: str) -> Path:
    path = directory / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cases_may_be_names_and_modules_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", f"versions: ['1.24.11']\narches: [amd64]\ncases_dir: {ROOT / 'cases'}\n"
                                    "cases:\n  - makeslice\n  - module: ../mod\n    packages: [./codec/...]\n"
                                    "    bench: Encode|Decode\n  - module: /abs/other\n"
                                    "source_url: https://example.invalid/{commit}/{path}#L{line}\n")
    config = load_config(path, cwd=Path("/"))
    assert config.cases == ("makeslice",)
    assert config.modules == (ModuleSpec(path=tmp_path / "mod", packages=("./codec/...",), bench="Encode|Decode"),
                              ModuleSpec(path=Path("/abs/other"), packages=("./...",), bench="."))
    assert config.source_url == "https://example.invalid/{commit}/{path}#L{line}"


def test_an_unknown_key_of_a_module_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, "versions: ['1.24.11']\narches: [amd64]\ncases:\n  - module: x\n    pakages: [./...]\n")
    with pytest.raises(ConfigError, match=r"at \$\.cases\[0\]: unknown key 'pakages': did you mean 'packages'\?"):
        load_config(path)
    path = write(tmp_path, "versions: ['1.24.11']\narches: [amd64]\ncases:\n  - module: x\n    bench: ''\n")
    with pytest.raises(ConfigError, match=r"at \$\.cases\[0\]\.bench"):
        load_config(path)


def test_module_option_replaces_the_file_cases_or_joins_the_named_ones(tmp_path: Path) -> None:
    config = load_config(ROOT / "matrix.yaml", cli_overrides(module="tests/fixtures/modules/gokitlog"), cwd=ROOT)
    assert config.cases == ()
    assert config.modules == (ModuleSpec(path=GOKITLOG),)
    assert [case.name for case in load_cases(config)] == ["gokitlog"]
    config = load_config(ROOT / "matrix.yaml", cli_overrides(module=str(GOKITLOG), cases="makeslice"), cwd=tmp_path)
    assert config.cases == ("makeslice",)
    assert [case.name for case in load_cases(config)] == ["makeslice", "gokitlog"]
    with pytest.raises(ConfigError, match="--cases all goes with --module"):
        cli_overrides(module=str(GOKITLOG), cases="all")


def test_a_module_case_knows_its_root_packages_filter_and_go_mod() -> None:
    case = load_module(ModuleSpec(path=GOKITLOG, packages=("./...",), bench="Logfmt"))
    assert case.name == "gokitlog"
    assert case.path == GOKITLOG
    assert case.module is not None
    assert (case.module.module_path, case.module.go, case.module.toolchain) == ("github.com/go-kit/log", "1.17", None)
    assert case.module.packages == ("./...",) and case.module.bench == "Logfmt"
    assert case.module.requires and not case.module.vendored
    assert "value.go" in case.go_files and "level/level.go" in case.go_files
    assert not any(name.startswith("vendor/") for name in case.go_files)


def test_go_mod_lines_are_read_and_a_toolchain_line_recorded(tmp_path: Path) -> None:
    assert parse_go_mod('module "example.com/m" // c\n\ngo 1.24.0\ntoolchain go1.25.5\nrequire (\n  a v1\n)\n') == {
        "module": "example.com/m", "go": "1.24.0", "toolchain": "go1.25.5"}
    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.24\n\ntoolchain go1.25.5\n", encoding="utf-8")
    (tmp_path / "m_test.go").write_text("package m\n", encoding="utf-8")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "modules.txt").write_text("", encoding="utf-8")
    case = load_module(ModuleSpec(path=tmp_path))
    assert case.module is not None
    assert (case.module.go, case.module.toolchain, case.module.vendored, case.module.requires) == (
        "1.24", "go1.25.5", True, False)


def test_a_directory_that_is_no_module_is_a_case_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"holds no go\.mod"):
        load_module(ModuleSpec(path=tmp_path))
    (tmp_path / "go.mod").write_text("module example.com/m\n", encoding="utf-8")
    (tmp_path / "m.go").write_text("package m\n", encoding="utf-8")
    with pytest.raises(CaseError, match=r"no _test\.go files"):
        load_module(ModuleSpec(path=tmp_path))


def test_a_module_named_like_a_case_directory_is_refused(tmp_path: Path) -> None:
    module = tmp_path / "makeslice"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/m\n", encoding="utf-8")
    (module / "m_test.go").write_text("package m\n", encoding="utf-8")
    config = load_config(ROOT / "matrix.yaml", cli_overrides(module=str(module), cases="makeslice"), cwd=tmp_path)
    with pytest.raises(CaseError, match="two cases are named 'makeslice'"):
        load_cases(config)
