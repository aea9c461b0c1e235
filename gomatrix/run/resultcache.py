"""Incremental result cache: a cell whose inputs did not change is reused instead of run.

The key covers everything that decides a cell's result: what the runner says (image id or
toolchain hash, strategy, limits, and for a module case the dependencies it resolved to: each module
version and the hash of its content, or vendor/modules.txt), the arch, the case's files (a module's
without its VCS directory), the benchmark settings, the
driver and the generator of the exact-count test files. Only results that a rerun would reproduce
are stored: ok cells and compile failures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gomatrix.core.kinds import LimitsBy, Status, Strategy
from gomatrix.core.resources import driver_script
from gomatrix.core.text import Log
from gomatrix.docker.engine import ImageInfo
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import BenchSettings
from gomatrix.results.exact import hook_version
from gomatrix.runners.base import CellOutcome, SandboxInfo
from gomatrix.runners.modcache import VCS_DIRS
from gomatrix.toolchains.providers import Toolchain

CACHE_FORMAT = "1"


def case_digest(case_path: Path) -> str:
    """sha256 over the case's files (names and contents); case.yaml does not change a result, nor does a VCS
    directory (.git: cells never get it)."""
    digest = hashlib.sha256()
    files = []
    for directory, dirs, names in os.walk(case_path):
        dirs[:] = [name for name in dirs if name not in VCS_DIRS]
        files += [Path(directory) / name for name in names if name != "case.yaml" and name not in VCS_DIRS]
    for path in sorted(p for p in files if p.is_file()):
        digest.update(str(path.relative_to(case_path)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cell_cache_key(cell: Cell, runner_inputs: dict[str, str], bench: BenchSettings) -> str:
    inputs = {
        "format": CACHE_FORMAT,
        "runner": runner_inputs,
        "arch": cell.arch,
        "case": case_digest(cell.case.path),
        "benchtime": bench.benchtime,
        "count": bench.count,
        "timings": bench.timings.value,
        "driver": hashlib.sha256(driver_script()).hexdigest(),
        "hook": hook_version(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def cacheable(outcome: CellOutcome) -> bool:
    """Only results a rerun reproduces: ok cells, and cases that do not compile on that version."""
    return outcome.status == Status.OK or (outcome.status == Status.FAILED and outcome.compile_failure)


class ResultCache:
    """cache_root/results/<key[:2]>/<key>/{outcome.json, raw/}; entries are written atomically."""

    def __init__(self, root: Path, log: Log | None = None) -> None:
        self.root = root
        self._log = log

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str, raw_dir: Path) -> CellOutcome | None:
        """The stored outcome (its raw files copied into raw_dir), or None."""
        entry = self._entry(key)
        try:
            text = (entry / "outcome.json").read_text(encoding="utf-8")
        except OSError:
            return None  # not cached (or being replaced by another run right now)
        try:
            outcome = _outcome_from_json(json.loads(text))
            shutil.copytree(entry / "raw", raw_dir, dirs_exist_ok=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A damaged entry (a crash, a full disk, a hand edit) costs a rerun, never the run: the
            # cell runs again and its result replaces the entry.
            if self._log is not None:
                self._log(f"gomatrix: result cache entry {entry} is unreadable ({type(exc).__name__}: {exc}); "
                          "the cell runs again")
            return None
        return outcome

    def store(self, key: str, outcome: CellOutcome, raw_dir: Path) -> None:
        entry = self._entry(key)
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=entry.parent))
        shutil.copytree(raw_dir, staging / "raw")
        (staging / "outcome.json").write_text(json.dumps(_outcome_to_json(outcome), indent=1), encoding="utf-8")
        try:
            staging.rename(entry)
        except OSError:  # a parallel run stored it first: theirs is as good
            shutil.rmtree(staging, ignore_errors=True)


def _outcome_to_json(outcome: CellOutcome) -> dict[str, Any]:
    data = asdict(outcome)
    if outcome.toolchain is not None:
        data["toolchain"]["goroot"] = str(outcome.toolchain.goroot)
    return data


def _outcome_from_json(data: dict[str, Any]) -> CellOutcome:
    image = ImageInfo(**data["image"]) if data.get("image") else None
    build_image = ImageInfo(**data["build_image"]) if data.get("build_image") else None
    toolchain = None
    if data.get("toolchain"):
        raw = dict(data["toolchain"])
        raw["goroot"] = Path(raw["goroot"])
        toolchain = Toolchain(**raw)
    sandbox = data.get("sandbox")
    return CellOutcome(**{**data, "image": image, "build_image": build_image, "toolchain": toolchain,
                          "status": Status(data["status"]), "strategy": Strategy(data.get("strategy", "native")),
                          "sandbox": SandboxInfo(sandbox["tool"], LimitsBy(sandbox["limits"])) if sandbox else None})
