"""`invoke nightly`: resolve versions, run (reusing unchanged cells), merge, compare with the previous
report, publish under reports/, and exit with CHANGES_EXIT_CODE when something changed (for alerting)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gomatrix.analysis.markdown import since_text
from gomatrix.core.kinds import RunnerChoice
from gomatrix.core.text import Log
from gomatrix.plan.config import MatrixConfig
from gomatrix.toolchains.versions import resolve_versions

CHANGES_EXIT_CODE = 10  # `invoke nightly` exits with it when the report lists changes since the last run


@dataclass(frozen=True)
class NightlyResult:
    run_dir: Path
    changes: list[str]  # "changes since the previous run" in words (empty: none)


def resolved_config(config: MatrixConfig, log: Log) -> MatrixConfig:
    """The matrix with each minor replaced by the newest patch the image registry has (docker runs);
    as written when the registry cannot be read or the host runner resolves versions itself."""
    if config.runner == RunnerChoice.HOST:
        return config
    versions = []
    for resolution in resolve_versions(config.image, config.versions, config.arches):
        log(f"gomatrix nightly: go{resolution.spec} -> {resolution.ref} ({resolution.note})")
        versions.append(resolution.version)
    return dataclasses.replace(config, versions=tuple(dict.fromkeys(versions)))


def run_nightly(config: MatrixConfig, *, log: Log,
                run_matrix: Callable[[MatrixConfig], Path]) -> NightlyResult:
    """One nightly round; run_matrix runs a configuration and returns its run directory."""
    run_dir = run_matrix(resolved_config(config, log))
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    changes = [since_text(item) for item in report.get("since_previous", [])
               if item.get("kind") not in ("first-run", "none", "first-profile")]
    if changes:
        log(f"gomatrix nightly: {len(changes)} change(s) since the previous run:")
        for line in changes:
            log(f"  - {line}")
    else:
        log("gomatrix nightly: no changes since the previous run")
    return NightlyResult(run_dir=run_dir, changes=changes)
