"""What a module case's cell is given, and what its cached result depends on, for real.

A cell gets only what its build needs: the module without its VCS directory, and a module cache holding
the extracted modules and, under cache/download, the go.mod and .ziphash files the go command reads offline
(no zips, no .info, lock or list files); a benchmark of the module itself looks. The result cache keys on
the dependencies the module resolved to, not only on the module's files: the same files with a dependency
that resolves to other content run again."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, load_cells, only_run_dir
from tests.goproxy import build_proxy, go_sum_lines, write_module

GIVEN_TEST_GO = '''package given

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"example.com/dep"
)

var sink string

// BenchmarkGiven fails when the cell holds more than the build needs: the module's VCS directory, or module
// cache files besides the extracted modules and the go.mod and .ziphash files under cache/download.
func BenchmarkGiven(b *testing.B) {
	var extra []string
	for _, vcs := range []string{".git", ".hg", ".svn", ".bzr"} {
		if _, err := os.Stat(vcs); err == nil {
			extra = append(extra, vcs)
		}
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		b.Fatal("no GOMODCACHE: the module cache was not given")
	}
	walked := filepath.WalkDir(filepath.Join(cache, "cache"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(path, ".mod") && !strings.HasSuffix(path, ".ziphash") {
			extra = append(extra, strings.TrimPrefix(path, cache+"/"))
		}
		return nil
	})
	if walked != nil {
		b.Fatal(walked)
	}
	if _, err := os.Stat(filepath.Join(cache, "example.com", "dep@v1.0.0", "dep.go")); err != nil {
		b.Fatal("the extracted dependency is missing: ", err)
	}
	if len(extra) > 0 {
		b.Fatalf("the cell holds more than the build needs: %s", strings.Join(extra, " "))
	}
	for i := 0; i < b.N; i++ {
		sink = dep.Concat("a", "b")
	}
}
'''
DEP_ALLOCATING = '''package dep

// Concat joins a and b with a slash: the result escapes to the heap.
func Concat(a, b string) string {
	return a + "/" + b
}
'''
DEP_NOT_ALLOCATING = '''package dep

// Concat keeps a: nothing is allocated.
func Concat(a, b string) string {
	return a
}
'''
JOIN_TEST_GO = '''package join

import (
	"testing"

	"example.com/dep"
)

var sink string

func BenchmarkJoin(b *testing.B) {
	parts := []string{"a", "b", "c"}
	for i := 0; i < b.N; i++ {
		s := ""
		for _, p := range parts {
			s = dep.Concat(s, p)
		}
		sink = s
	}
}
'''
ARGS = ("--versions", "1.24.11", "--arches", "amd64", "--benchtime", "20x", "--count", "1")


@dataclass(frozen=True)
class Inputs:
    proxy: str  # example.com/dep v1.0.0 allocating, v1.0.1 allocating nothing
    other_proxy: str  # example.com/dep v1.0.0 with other content: allocating nothing
    sources: Path  # the proxy's module sources
    given: Path  # example.com/given, in a git repository: its benchmark checks what the cell holds
    unpinned: Path  # example.com/join without go.sum: its dependency's content is whatever the proxy serves


def _proxy(where: Path, versions: dict[str, str]) -> str:
    for version, dep_go in versions.items():
        write_module(where / "sources" / "example.com" / f"dep@{version}", "example.com/dep", "1.21",
                     {"dep.go": dep_go})
    return build_proxy(where / "sources", where / "proxy")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    where = tmp_path_factory.mktemp("module-inputs")
    proxy = _proxy(where / "one", {"v1.0.0": DEP_ALLOCATING, "v1.0.1": DEP_NOT_ALLOCATING})
    other = _proxy(where / "other", {"v1.0.0": DEP_NOT_ALLOCATING})
    given = write_module(where / "given", "example.com/given", "1.21", {"given_test.go": GIVEN_TEST_GO},
                         requires={"example.com/dep": "v1.0.0"})
    (given / "go.sum").write_text("".join(f"{line}\n" for line in go_sum_lines(where / "one" / "sources")
                                          if " v1.0.0" in line))
    git = ["git", "-c", "user.name=gomatrix tests", "-c", "user.email=tests@gomatrix.invalid", "-C", str(given)]
    subprocess.run(["git", "init", "-q", str(given)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "given"], check=True)
    unpinned = write_module(where / "join", "example.com/join", "1.21", {"join_test.go": JOIN_TEST_GO},
                            requires={"example.com/dep": "v1.0.0"})
    return Inputs(proxy, other, where / "one" / "sources", given, unpinned)


def _env(proxy: str) -> dict[str, str]:
    return {"GOPROXY": proxy, "GOFLAGS": "-mod=mod", "GONOSUMDB": "example.com"}


def _given_cell(out: Path) -> dict[str, Any]:
    cell = load_cells(only_run_dir(out))["given--go1.24.11--amd64"]
    raw = only_run_dir(out) / "raw" / cell["key"]
    bench = (raw / "bench.txt").read_text() if (raw / "bench.txt").is_file() else ""
    assert cell["status"] == "ok", f"{cell['reason']}\n{bench[-2000:]}"
    assert [b["name"] for b in cell["benchmarks"]] == ["BenchmarkGiven"]
    return cell


def test_a_host_cell_gets_only_the_extracted_modules_and_what_go_reads_offline(inputs: Inputs,
                                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("matrix", "--module", str(inputs.given), "--runner", "host", *ARGS, "--force", "--out", str(out),
                    env=_env(inputs.proxy))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _given_cell(out)["sandbox"]["tool"] is not None


@pytest.mark.docker
def test_a_container_gets_only_the_extracted_modules_and_no_git(inputs: Inputs, registry_images: str,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("matrix", "--module", str(inputs.given), "--runner", "docker", "--image", registry_images, *ARGS,
                    "--force", "--out", str(out), env=_env(inputs.proxy))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _given_cell(out)["runner"] == "docker"


def _join(out: Path, proxy: str, unpinned: Path) -> dict[str, Any]:
    result = invoke("matrix", "--module", str(unpinned), "--runner", "host", *ARGS, "--out", str(out),
                    env=_env(proxy))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cell = load_cells(only_run_dir(out))["join--go1.24.11--amd64"]
    assert cell["status"] == "ok", cell["reason"]
    return cell


def test_the_same_module_files_with_other_dependencies_run_again(inputs: Inputs, tmp_path: Path) -> None:
    """The module pins nothing in a go.sum: a proxy serving other content for example.com/dep v1.0.0 gives
    other dependencies, so the cell runs again instead of replaying the result of the first ones; the
    first ones again are a cache hit."""
    first = _join(tmp_path / "first", inputs.proxy, inputs.unpinned)
    assert first["benchmarks"][0]["allocs_per_op"] >= 2
    other = _join(tmp_path / "other", inputs.other_proxy, inputs.unpinned)
    assert other["cache"]["hit"] is False and other["cache"]["key"] != first["cache"]["key"]
    assert other["benchmarks"][0]["allocs_per_op"] == 0
    again = _join(tmp_path / "again", inputs.proxy, inputs.unpinned)
    assert again["cache"] == {"key": first["cache"]["key"], "hit": True}
    assert not (inputs.unpinned / "go.sum").exists()  # the module itself is never written to


def test_a_changed_dependency_version_runs_again(inputs: Inputs, tmp_path: Path) -> None:
    """go.mod and go.sum moved to another version of the dependency: the cell runs again."""
    module = tmp_path / "join"
    shutil.copytree(inputs.unpinned, module)
    sums = go_sum_lines(inputs.sources)
    (module / "go.sum").write_text("".join(f"{line}\n" for line in sums if " v1.0.0" in line))
    first = _join(tmp_path / "first", inputs.proxy, module)
    assert first["benchmarks"][0]["allocs_per_op"] >= 2
    (module / "go.mod").write_text((module / "go.mod").read_text().replace("v1.0.0", "v1.0.1"))
    (module / "go.sum").write_text("".join(f"{line}\n" for line in sums if " v1.0.1" in line))
    second = _join(tmp_path / "second", inputs.proxy, module)
    assert second["cache"]["hit"] is False and second["benchmarks"][0]["allocs_per_op"] == 0
