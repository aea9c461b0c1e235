"""Modules for the module-case tests: a synthetic one whose dependency comes from a test-made GOPROXY, its
vendored copy, one whose go.mod needs go1.24, and the real fixture (go-kit/log with go-logfmt/logfmt)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT
from tests.goproxy import build_proxy, find_go, go_env, go_sum_lines, write_module

FIXTURES = ROOT / "tests" / "fixtures" / "modules"
GOKITLOG = FIXTURES / "gokitlog"
GOKITLOG_DEPS = FIXTURES / "deps"

DEP_GO = '''package dep

// Concat joins a and b with a slash: the result escapes to the heap.
func Concat(a, b string) string {
	return a + "/" + b
}
'''
APP_GO = '''package app

import "example.com/dep"

// Join joins parts through the dependency.
func Join(parts []string) string {
	s := ""
	for _, p := range parts {
		s = dep.Concat(s, p)
	}
	return s
}
'''
APP_TEST_GO = '''package app

import "testing"

var sink string

func BenchmarkJoin(b *testing.B) {
	parts := []string{"a", "b", "c"}
	for i := 0; i < b.N; i++ {
		sink = Join(parts)
	}
}
'''
BOX_GO = '''package box

// Box returns a pointer to a copy of n: n moves to the heap.
func Box(n int) *int {
	return &n
}
'''
BOX_TEST_GO = '''package box_test

import (
	"testing"

	"example.com/app/box"
)

var sink *int

func BenchmarkBox(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sink = box.Box(i)
	}
}
'''
NEW_TEST_GO = '''package newgo

import "testing"

var sink []byte

func BenchmarkLoop(b *testing.B) {
	for b.Loop() { // testing.B.Loop is new in go1.24
		sink = make([]byte, 64)
	}
}
'''


@dataclass(frozen=True)
class Modules:
    proxy_dir: Path  # the GOPROXY directory (file:// URL: proxy)
    proxy: str
    app: Path  # example.com/app: needs example.com/dep v1.0.0 from the proxy; packages app and app/box
    vendored: Path  # the same with vendor/
    newgo: Path  # go 1.24, no dependencies
    gokitlog: Path  # the real fixture, in a git repository of its own; its dependency is in the proxy too
    gokitlog_commit: str  # that repository's HEAD


def make_modules(where: Path) -> Modules:
    sources = where / "sources"
    write_module(sources / "example.com" / "dep@v1.0.0", "example.com/dep", "1.21", {"dep.go": DEP_GO})
    shutil.copytree(GOKITLOG_DEPS / "github.com", sources / "github.com")
    proxy = build_proxy(sources, where / "proxy")
    app = write_module(where / "app", "example.com/app", "1.21",
                       {"app.go": APP_GO, "app_test.go": APP_TEST_GO, "box/box.go": BOX_GO,
                        "box/box_test.go": BOX_TEST_GO}, requires={"example.com/dep": "v1.0.0"})
    (app / "go.sum").write_text("".join(f"{line}\n" for line in go_sum_lines(sources)
                                                     if line.startswith("example.com/")))
    vendored = where / "appvendored"
    shutil.copytree(app, vendored)
    go = find_go("1.24.11")
    subprocess.run([str(go), "mod", "vendor"], cwd=vendored, check=True, capture_output=True,
                   env=go_env(gopath=where / "gopath", gocache=where / "gocache", goproxy=proxy))
    assert (vendored / "vendor" / "modules.txt").is_file()
    newgo = write_module(where / "newgo", "example.com/newgo", "1.24", {"new_test.go": NEW_TEST_GO})
    gokitlog = where / "gokitlog"
    shutil.copytree(GOKITLOG, gokitlog)
    git = ["git", "-c", "user.name=gomatrix tests", "-c", "user.email=tests@gomatrix.invalid", "-C", str(gokitlog)]
    subprocess.run(["git", "init", "-q", str(gokitlog)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "go-kit/log v0.2.1 (trimmed)"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return Modules(where / "proxy", proxy, app, vendored, newgo, gokitlog, commit)
