"""A Go module as a case: matrix.yaml `cases:` mappings and --module (planning only, no Go run here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gomatrix.core.errors import CaseError, ConfigError
from gomatrix.plan.cases import load_cases, load_module, parse_go_mod, source_link
from gomatrix.plan.config import ModuleSpec, cli_overrides, load_config
from gomatrix.results.parse import package_sections, parse_bench, summarize

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
                                    "    bench: Encode|Decode\n  - module: /abs/other\n    source_url: x/{path}\n"
                                    "source_url: https://example.invalid/{commit}/{path}#L{line}\n")
    config = load_config(path, cwd=Path("/"))
    assert config.cases == ("makeslice",)
    url = "https://example.invalid/{commit}/{path}#L{line}"
    assert config.modules == (ModuleSpec(path=tmp_path / "mod", packages=("./codec/...",), bench="Encode|Decode",
                                         source_url=url),
                              ModuleSpec(path=Path("/abs/other"), source_url="x/{path}"))
    assert config.source_url == url


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


def test_a_module_case_links_its_lines_at_its_commit(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/m\n", encoding="utf-8")
    (tmp_path / "m_test.go").write_text("package m\n", encoding="utf-8")
    template = "https://example.invalid/m/blob/{commit}/{path}#L{line}"
    outside = load_module(ModuleSpec(path=tmp_path, source_url=template)).module
    assert outside is not None and (outside.commit, outside.source_url) == (None, None)  # no repository: no links
    plain = load_module(ModuleSpec(path=tmp_path, source_url="https://x.invalid/{path}#L{line}")).module
    assert plain is not None and plain.source_url == "https://x.invalid/{path}#L{line}"  # needs no commit
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "m"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    module = load_module(ModuleSpec(path=tmp_path, source_url=template)).module
    assert module is not None and module.commit == head
    assert module.source_url is not None
    assert source_link(module.source_url, "level/level.go", 12) == \
        f"https://example.invalid/m/blob/{head}/level/level.go#L12"
    assert module.package_of("level/level.go") == "example.com/m/level" and module.package_of("m.go") == "example.com/m"


def test_benchmarks_keep_the_package_of_their_test_binary() -> None:
    text = ("goos: linux\ngoarch: amd64\npkg: example.com/m\ncpu: x\n"
            "BenchmarkA-2   10   5.0 ns/op   8 B/op   1 allocs/op\nPASS\n"
            "goos: linux\ngoarch: amd64\npkg: example.com/m/sub\ncpu: x\n"
            "BenchmarkA-2   10   7.0 ns/op   0 B/op   0 allocs/op\nBenchmarkB-2   10   1.0 ns/op\nPASS\n")
    out = parse_bench(text)
    assert out.config["pkg"] == "example.com/m"
    assert [(s.package, s.name, s.allocs_per_op) for s in summarize(out.samples)] == [
        ("example.com/m", "BenchmarkA", 1.0), ("example.com/m/sub", "BenchmarkA", 0.0),
        ("example.com/m/sub", "BenchmarkB", None)]
    assert [s.package for s in summarize(parse_bench("BenchmarkA 10 1 ns/op\n").samples)] == [None]


def test_escape_output_splits_into_its_packages() -> None:
    text = ("gomatrix-package: example.com/m\n# example.com/m\n./m.go:3:6: can inline F\n"
            "gomatrix-package: example.com/m/sub\n# example.com/m/sub\nsub/s.go:4:2: moved to heap: n\n")
    assert package_sections(text) == [("example.com/m", "# example.com/m\n./m.go:3:6: can inline F"),
                                      ("example.com/m/sub", "# example.com/m/sub\nsub/s.go:4:2: moved to heap: n")]


def test_a_module_in_a_subdirectory_links_its_lines_from_the_repository_root(tmp_path: Path) -> None:
    """source_url's {path} is the file's path in the repository, where the module is one directory of it."""
    repo = tmp_path / "repo"
    module_root = repo / "libs" / "codec"
    (module_root / "level").mkdir(parents=True)
    (module_root / "go.mod").write_text("module example.com/codec\n", encoding="utf-8")
    (module_root / "level" / "level_test.go").write_text("package level\n", encoding="utf-8")
    (repo / "README").write_text("a repository holding a module in libs/codec\n", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "m"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    template = "https://example.invalid/repo/blob/{commit}/{path}#L{line}"
    module = load_module(ModuleSpec(path=module_root, source_url=template)).module
    assert module is not None and module.commit == head and module.source_url is not None
    assert source_link(module.source_url, "level/level_test.go", 3) == \
        f"https://example.invalid/repo/blob/{head}/libs/codec/level/level_test.go#L3"
    # the same through a symlinked path to the module, and for a template that needs no commit
    (tmp_path / "link").symlink_to(module_root)
    linked = load_module(ModuleSpec(path=tmp_path / "link", source_url="https://x.invalid/{path}#L{line}")).module
    assert linked is not None and linked.source_url is not None
    assert source_link(linked.source_url, "level/level_test.go", 3) == \
        "https://x.invalid/libs/codec/level/level_test.go#L3"
